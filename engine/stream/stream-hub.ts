/**
 * Live delivery of runs' streams to subscribers on this engine (docs/streaming.md).
 *
 * One follower per run that has subscribers. Chunks reach it two ways: stored by this engine (handed
 * over after their commit), or stored by another engine sharing the database (its NOTIFY names the run,
 * and the follower reads the table after the last positions it handed out). A chunk stored here whose
 * seq does not follow the follower's last one for that attempt is read from the table instead, so a
 * worker moving between engines leaves no hole.
 *
 * A new subscriber is registered before it reads what is kept, so a chunk committed after that read
 * began is handed to it live, and one committed before is in the read: nothing falls between the two.
 * Its cursor (per task run, the last (attempt, seq) given) skips what it got both ways.
 *
 * Each subscriber has a bounded queue. Its transport is written to only while the transport holds
 * less than SINK_HIGH_WATER unsent; beyond that events wait in the queue, and live chunks that do not
 * fit are dropped for that subscriber alone, which then gets a `dropped` event saying how many. Nothing
 * here ever waits on a subscriber: the writer and the worker go on.
 */
import type { Driver } from '../db/driver.ts';
import type { Logger } from '../log.ts';
import { taskStreamRead, taskStreamRunState, type StoredStreamChunk } from '../sql/task-stream.ts';
import type { RunStatus } from '../../shared/types.ts';
import {
  streamCursorAdvance,
  streamPositionCheck,
  type StreamChunkEvent,
  type StreamCursor,
  type StreamEvent,
  type StreamSink,
  type StreamSubscriptions,
} from '../../shared/stream.ts';
import { CleaverError, toError } from '../../shared/errors.ts';

/** A read of the table returns at most this much (the rest is read next). */
export const STREAM_PAGE = { maxBytes: 256 * 1024, maxChunks: 2000 };
/** What a transport may hold unsent before a subscriber's events wait in its own queue. */
const SINK_HIGH_WATER = 256 * 1024;
/** Events go out in messages of about this size. */
const MESSAGE_BYTES = 256 * 1024;
/** How often a backed-up transport is looked at again. */
const SINK_RETRY_MS = 25;
/** A failed read of the table is tried again after this. */
const READ_RETRY_MS = 500;
/** A subscriber's replay is read again at most this often when live chunks overflowed meanwhile. */
const MAX_REPLAY_ROUNDS = 4;

export interface StreamHubOptions {
  driver: Driver;
  log: Logger;
  /** Told to subscribers when older chunks were cut. */
  retentionBytes: number;
  /** A subscriber's queue holds at most this many bytes of chunks (default 1 MiB). */
  subscriberBufferBytes: number;
  /** Resolves with the run's final status once it has ended (rejects when it never will be known here). */
  runEnded(runId: string): Promise<RunStatus>;
}

interface Follower {
  runId: string;
  subscriptions: Set<Subscription>;
  /** Chunks up to these positions have been handed to the subscriptions. */
  cursor: StreamCursor;
  reading: Promise<void> | null;
  readAgain: boolean;
  ended: RunStatus | null;
}

export class StreamHub implements StreamSubscriptions {
  private readonly followers = new Map<string, Follower>();
  private closed = false;

  constructor(private readonly o: StreamHubOptions) {}

  async subscribe(params: { runId: string; after?: StreamCursor }, sink: StreamSink): Promise<() => void> {
    if (this.closed) throw new CleaverError('SHUTTING_DOWN', 'the engine is shutting down; subscribe on another engine');
    const state = await taskStreamRunState(this.o.driver, { runId: params.runId });
    if (!state) throw new CleaverError('NOT_FOUND', `no run with id ${params.runId}`);
    const follower = this.follow(params.runId);
    const subscription = new Subscription({ sink, cursor: { ...params.after }, bufferBytes: this.o.subscriberBufferBytes, onClosed: (s) => this.unfollow(follower, s) });
    follower.subscriptions.add(subscription);
    for (const cut of state.cuts) {
      if (!params.after?.[cut.taskRunId]) subscription.enqueue({ type: 'cut', ...cut, retentionBytes: this.o.retentionBytes });
    }
    void this.replay(follower, subscription);
    return () => subscription.close();
  }

  /** Chunks this engine stored, after their commit. */
  stored(chunks: readonly StoredStreamChunk[]): void {
    const byRun = new Map<string, StreamChunkEvent[]>();
    for (const chunk of chunks) {
      if (!this.followers.has(chunk.runId)) continue;
      const list = byRun.get(chunk.runId);
      if (list) list.push(chunk);
      else byRun.set(chunk.runId, [chunk]);
    }
    for (const [runId, list] of byRun) {
      const follower = this.followers.get(runId)!;
      if (follows(follower.cursor, list)) this.fanOut(follower, list);
      else void this.catchUp(follower);
    }
  }

  /** Another engine stored chunks of these runs (its NOTIFY); all followed runs when `runIds` is null. */
  storedElsewhere(runIds: readonly string[] | null): void {
    for (const runId of runIds ?? [...this.followers.keys()]) {
      const follower = this.followers.get(runId);
      if (follower) void this.catchUp(follower);
    }
  }

  get subscriberCount(): number {
    let count = 0;
    for (const f of this.followers.values()) count += f.subscriptions.size;
    return count;
  }

  /** Engine shutdown: subscriptions stop without an end (clients resubscribe on another engine). */
  close(): void {
    this.closed = true;
    for (const follower of [...this.followers.values()]) for (const s of [...follower.subscriptions]) s.close();
    this.followers.clear();
  }

  private follow(runId: string): Follower {
    let follower = this.followers.get(runId);
    if (follower) return follower;
    follower = { runId, subscriptions: new Set(), cursor: {}, reading: null, readAgain: false, ended: null };
    this.followers.set(runId, follower);
    const f = follower;
    this.o.runEnded(runId).then(
      (status) => void this.onEnded(f, status),
      // Only when the engine stops (the run was found above): its subscribers resubscribe elsewhere.
      () => {
        for (const s of [...f.subscriptions]) s.close();
      },
    );
    return follower;
  }

  private unfollow(follower: Follower, subscription: Subscription): void {
    follower.subscriptions.delete(subscription);
    if (follower.subscriptions.size === 0 && this.followers.get(follower.runId) === follower) this.followers.delete(follower.runId);
  }

  /** What is kept, page after page as the subscriber takes it; then the live chunks held meanwhile. */
  private async replay(follower: Follower, s: Subscription): Promise<void> {
    for (let round = 1; ; round++) {
      s.liveOverflowed = false;
      const complete = await this.readAll(follower, s.cursor, async (chunks) => {
        for (const chunk of chunks) s.deliver(chunk, 'replay');
        await s.replayRoom();
        return !s.closed;
      });
      if (!complete) return;
      // Live chunks overflowed the subscriber's holding space while it read: they are in the table.
      if (!s.liveOverflowed || round >= MAX_REPLAY_ROUNDS) break;
    }
    s.goLive();
    // Alone, it has seen everything up to its cursor: the follower need not read that again.
    if (follower.subscriptions.size === 1) mergeCursor(follower.cursor, s.cursor);
    if (follower.ended) {
      // The follower's last read (onEnded) may still be handing out chunks: `end` goes after them.
      await follower.reading;
      s.end(follower.ended);
    }
  }

  private async onEnded(follower: Follower, status: RunStatus): Promise<void> {
    follower.ended = status;
    // An attempt's outcome is written after its chunks, so everything the run streamed is in the table now.
    await this.catchUp(follower);
    for (const s of follower.subscriptions) if (s.live) s.end(status);
  }

  /** Reads the table after the follower's cursor until it is through (again if told meanwhile). */
  private catchUp(follower: Follower): Promise<void> {
    if (follower.reading) {
      follower.readAgain = true;
      return follower.reading;
    }
    follower.reading = (async () => {
      do {
        follower.readAgain = false;
        await this.readAll(follower, follower.cursor, (chunks) => {
          this.fanOut(follower, chunks);
          return true;
        });
      } while (follower.readAgain && follower.subscriptions.size > 0);
    })().finally(() => {
      follower.reading = null;
    });
    return follower.reading;
  }

  /**
   * Pages of the run's chunks after `cursor` (which `take` advances) to `take`, until none is left or
   * `take` says stop. Failed reads are tried again while anyone follows the run. Resolves false when stopped.
   */
  private async readAll(follower: Follower, cursor: StreamCursor, take: (chunks: StreamChunkEvent[]) => boolean | Promise<boolean>): Promise<boolean> {
    for (;;) {
      if (this.closed || follower.subscriptions.size === 0) return false;
      let page: { chunks: StreamChunkEvent[]; more: boolean };
      try {
        page = await taskStreamRead(this.o.driver, { runId: follower.runId, after: { ...cursor }, ...STREAM_PAGE });
      } catch (e: unknown) {
        this.o.log.warn('reading a run stream failed; trying again', { run: follower.runId, error: toError(e).message });
        await new Promise((resolve) => setTimeout(resolve, READ_RETRY_MS).unref());
        continue;
      }
      if (page.chunks.length > 0 && !(await take(page.chunks))) return false;
      if (!page.more) return true;
    }
  }

  private fanOut(follower: Follower, chunks: readonly StreamChunkEvent[]): void {
    for (const chunk of chunks) {
      if (streamPositionCheck(follower.cursor, chunk).duplicate) continue;
      streamCursorAdvance(follower.cursor, chunk);
      for (const s of follower.subscriptions) s.accept(chunk);
    }
  }
}

/** Whether these chunks (of one run, in order) continue the cursor's attempts without a hole. */
function follows(cursor: StreamCursor, chunks: readonly StreamChunkEvent[]): boolean {
  const seen: StreamCursor = {};
  for (const c of chunks) {
    const last = seen[c.taskRunId] ?? cursor[c.taskRunId];
    const next = last ? (c.attempt === last[0] ? c.seq === last[1] + 1 || c.seq <= last[1] : c.attempt < last[0] || c.seq === 1) : c.seq === 1;
    if (!next) return false;
    if (!last || c.attempt > last[0] || (c.attempt === last[0] && c.seq > last[1])) seen[c.taskRunId] = [c.attempt, c.seq];
  }
  return true;
}

function mergeCursor(into: StreamCursor, from: StreamCursor): void {
  for (const [taskRunId, [attempt, seq]] of Object.entries(from)) {
    if (!streamPositionCheck(into, { taskRunId, attempt, seq }).duplicate) into[taskRunId] = [attempt, seq];
  }
}

/** The bytes an event counts for in a queue (chunks by their size, plus a little for the rest). */
function eventBytes(event: StreamEvent): number {
  return event.type === 'chunk' ? event.bytes + 128 : 64;
}

/** One subscriber: its cursor, its bounded queue and its transport. */
class Subscription {
  closed = false;
  liveOverflowed = false;
  private phase: 'replay' | 'live' = 'replay';
  readonly cursor: StreamCursor;
  private readonly sink: StreamSink;
  private readonly bufferBytes: number;
  private readonly onClosed: (s: Subscription) => void;
  /** Live chunks that came while the replay was read. */
  private held: StreamChunkEvent[] = [];
  private heldBytes = 0;
  private queue: StreamEvent[] = [];
  private queuedBytes = 0;
  private dropped = 0;
  private ending = false;
  private flushScheduled = false;
  private retryTimer: NodeJS.Timeout | null = null;
  private roomWaiters: Array<() => void> = [];

  constructor(options: { sink: StreamSink; cursor: StreamCursor; bufferBytes: number; onClosed: (s: Subscription) => void }) {
    this.sink = options.sink;
    this.cursor = options.cursor;
    this.bufferBytes = options.bufferBytes;
    this.onClosed = options.onClosed;
  }

  get live(): boolean {
    return this.phase === 'live';
  }

  /** A live chunk: held while the replay is read, else delivered (dropped when the queue is full). */
  accept(chunk: StreamChunkEvent): void {
    if (this.closed) return;
    if (this.phase === 'live') {
      this.deliver(chunk, 'live');
      return;
    }
    if (this.heldBytes + chunk.bytes > this.bufferBytes) {
      this.liveOverflowed = true;
      this.held = [];
      this.heldBytes = 0;
      return;
    }
    this.held.push(chunk);
    this.heldBytes += chunk.bytes;
  }

  goLive(): void {
    this.phase = 'live';
    const held = this.held;
    this.held = [];
    this.heldBytes = 0;
    // Held within the bound already: queued like the replay they complete, not dropped a second time.
    for (const chunk of held) this.deliver(chunk, 'replay');
  }

  /** Replayed chunks always queue (the replay waits for room); live ones that do not fit are dropped. */
  deliver(chunk: StreamChunkEvent, mode: 'replay' | 'live'): void {
    const { duplicate, missed } = streamPositionCheck(this.cursor, chunk);
    if (duplicate || this.closed || this.ending) return;
    streamCursorAdvance(this.cursor, chunk);
    this.dropped += missed;
    if (mode === 'live' && eventBytes(chunk) > this.liveRoom()) {
      this.dropped++;
      return;
    }
    if (this.dropped > 0) {
      this.enqueue({ type: 'dropped', chunks: this.dropped });
      this.dropped = 0;
    }
    this.enqueue(chunk);
  }

  /**
   * What a live chunk may take: the queue's room plus what the transport may still take before this
   * tick's flush. A transport that drained since it was last found backed up is written to first.
   */
  private liveRoom(): number {
    const backlog = this.sink.backlog();
    if (this.retryTimer && backlog <= SINK_HIGH_WATER) {
      clearTimeout(this.retryTimer);
      this.flush();
    }
    return this.bufferBytes + Math.max(0, SINK_HIGH_WATER - this.sink.backlog()) - this.queuedBytes;
  }

  enqueue(event: StreamEvent): void {
    this.queue.push(event);
    this.queuedBytes += eventBytes(event);
    this.scheduleFlush();
  }

  /** The run ended: `end` follows whatever is queued, then the subscription is done. */
  end(status: RunStatus): void {
    if (this.closed || this.ending) return;
    if (this.dropped > 0) this.enqueue({ type: 'dropped', chunks: this.dropped });
    this.dropped = 0;
    this.ending = true;
    this.enqueue({ type: 'end', status });
  }

  /** Resolves once the queue is at most half full (or the subscription closed). */
  replayRoom(): Promise<void> {
    if (this.closed || this.queuedBytes <= this.bufferBytes / 2) return Promise.resolve();
    return new Promise((resolve) => this.roomWaiters.push(resolve));
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.queue = [];
    this.held = [];
    this.wakeRoomWaiters();
    this.onClosed(this);
  }

  private scheduleFlush(): void {
    if (this.flushScheduled || this.retryTimer) return;
    this.flushScheduled = true;
    queueMicrotask(() => {
      this.flushScheduled = false;
      this.flush();
    });
  }

  private flush(): void {
    this.retryTimer = null;
    if (this.closed) return;
    while (this.queue.length > 0) {
      if (this.sink.backlog() > SINK_HIGH_WATER) {
        this.retryTimer = setTimeout(() => this.flush(), SINK_RETRY_MS);
        this.retryTimer.unref();
        break;
      }
      let count = 0;
      let bytes = 0;
      while (count < this.queue.length && (count === 0 || bytes < MESSAGE_BYTES)) bytes += eventBytes(this.queue[count++]!);
      const batch = this.queue.splice(0, count);
      this.queuedBytes -= bytes;
      try {
        this.sink.push(batch);
      } catch {
        // A transport that cannot take more (its connection went away) ends the subscription.
        this.close();
        return;
      }
    }
    if (this.queuedBytes <= this.bufferBytes / 2) this.wakeRoomWaiters();
    if (this.ending && this.queue.length === 0) this.close();
  }

  private wakeRoomWaiters(): void {
    const waiters = this.roomWaiters;
    this.roomWaiters = [];
    for (const resolve of waiters) resolve();
  }
}
