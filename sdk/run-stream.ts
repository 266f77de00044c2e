/**
 * Following a run's stream from the SDK: `cleaver.runs.stream(runId)` is an async iterator over the
 * chunks its tasks put (each tagged with its task), ending when the run ends.
 *
 * The engine first sends what it kept, then live chunks. The iterator keeps a cursor (per task run,
 * the last chunk given), so after a dropped connection it resubscribes — to the same engine or
 * another — from where it was: nothing twice, and nothing missed that the engine still keeps.
 * A consumer that does not keep up does not hold anything up: past `bufferBytes` the iterator drops
 * live chunks and says how many with a `dropped` event.
 */
import type { EngineConnection } from './engine-connection.ts';
import { decodeStreamChunk, type RunStreamChunk } from './stream-chunk.ts';
import type { EngineMessage } from '../shared/protocol.ts';
import type { RunStatus } from '../shared/types.ts';
import { streamCursorAdvance, streamPositionCheck, type StreamCursor, type StreamEvent } from '../shared/stream.ts';
import { CleaverError, toError } from '../shared/errors.ts';

/** What the iterator yields: chunks, and notices of chunks not given (cut by the engine, or dropped). */
export type RunStreamEvent = RunStreamChunk | Extract<StreamEvent, { type: 'cut' }> | Extract<StreamEvent, { type: 'dropped' }>;

export interface RunStreamOptions {
  /**
   * How many bytes of chunks the iterator holds for a consumer that is slower than the task (default
   * 1 MiB). Beyond it, chunks are dropped and a `dropped` event says how many.
   */
  bufferBytes?: number;
}

const DEFAULT_BUFFER_BYTES = 1024 * 1024;

export class RunStream implements AsyncIterableIterator<RunStreamEvent> {
  readonly runId: string;
  /** The run's final status once the stream has ended; null until then. */
  status: RunStatus | null = null;
  /** Per task run, the last chunk given (what a resubscription starts after). */
  readonly cursor: StreamCursor = {};
  private readonly bufferBytes: number;
  private readonly onClose: (stream: RunStream) => void;
  private queue: RunStreamEvent[] = [];
  private queuedBytes = 0;
  private dropped = 0;
  private readonly cutsSeen = new Set<string>();
  private failure: Error | null = null;
  private finished = false;
  private waiting: { resolve(result: IteratorResult<RunStreamEvent>): void; reject(error: Error): void } | null = null;

  constructor(options: { runId: string; bufferBytes: number; onClose: (stream: RunStream) => void }) {
    this.runId = options.runId;
    this.bufferBytes = options.bufferBytes;
    this.onClose = options.onClose;
  }

  get ended(): boolean {
    return this.finished || this.failure !== null;
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  next(): Promise<IteratorResult<RunStreamEvent>> {
    const event = this.queue.shift();
    if (event) {
      this.queuedBytes -= event.type === 'chunk' ? event.bytes : 0;
      return Promise.resolve({ value: event, done: false });
    }
    if (this.failure) return Promise.reject(this.failure);
    if (this.finished) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve, reject) => (this.waiting = { resolve, reject }));
  }

  /** Stops following (a `break` out of `for await` calls this). */
  return(): Promise<IteratorResult<RunStreamEvent>> {
    this.close();
    return Promise.resolve({ value: undefined, done: true });
  }

  close(): void {
    if (this.ended) return;
    this.finished = true;
    this.queue = [];
    this.onClose(this);
    this.wake();
  }

  /** Events from the engine, in order. */
  receive(events: readonly StreamEvent[]): void {
    if (this.ended) return;
    for (const event of events) {
      if (event.type === 'chunk') {
        const { duplicate, missed } = streamPositionCheck(this.cursor, event);
        if (duplicate) continue;
        streamCursorAdvance(this.cursor, event);
        this.dropped += missed;
        if (this.queuedBytes + event.bytes > this.bufferBytes) {
          this.dropped++;
          continue;
        }
        this.flushDropped();
        this.queue.push(decodeStreamChunk(event));
        this.queuedBytes += event.bytes;
      } else if (event.type === 'dropped') {
        this.dropped += event.chunks;
      } else if (event.type === 'cut') {
        if (this.cutsSeen.has(event.taskRunId)) continue;
        this.cutsSeen.add(event.taskRunId);
        this.queue.push(event);
      } else {
        this.flushDropped();
        this.status = event.status;
        this.finished = true;
        this.onClose(this);
      }
    }
    this.wake();
  }

  fail(error: Error): void {
    if (this.ended) return;
    this.failure = error;
    this.onClose(this);
    this.wake();
  }

  private flushDropped(): void {
    if (this.dropped === 0) return;
    this.queue.push({ type: 'dropped', chunks: this.dropped });
    this.dropped = 0;
  }

  private wake(): void {
    const waiting = this.waiting;
    if (!waiting) return;
    this.waiting = null;
    const event = this.queue.shift();
    if (event) {
      this.queuedBytes -= event.type === 'chunk' ? event.bytes : 0;
      waiting.resolve({ value: event, done: false });
    } else if (this.failure) waiting.reject(this.failure);
    else if (this.finished) waiting.resolve({ value: undefined, done: true });
    else this.waiting = waiting;
  }
}

/** A client's stream subscriptions over its one connection. */
export class StreamSubscriber {
  private readonly streams = new Map<number, RunStream>();
  private nextSubscription = 1;

  constructor(private readonly connection: () => EngineConnection) {}

  open(runId: string, options: RunStreamOptions = {}): RunStream {
    if (typeof runId !== 'string' || runId.length === 0) throw new CleaverError('BAD_REQUEST', 'runs.stream: pass the id of a run');
    const bufferBytes = options.bufferBytes ?? DEFAULT_BUFFER_BYTES;
    if (!Number.isSafeInteger(bufferBytes) || bufferBytes < 1) throw new CleaverError('BAD_REQUEST', 'runs.stream: bufferBytes must be a positive integer');
    const subscription = this.nextSubscription++;
    const stream = new RunStream({
      runId,
      bufferBytes,
      onClose: (s) => {
        if (this.streams.get(subscription) !== s) return;
        this.streams.delete(subscription);
        if (!s.status && this.connection().connected) this.connection().send({ t: 'stream_unsubscribe', subscription });
      },
    });
    this.streams.set(subscription, stream);
    this.subscribe(subscription, stream);
    return stream;
  }

  /** Routes the connection's stream_events; false for anything else. */
  onMessage(message: EngineMessage): boolean {
    if (message.t !== 'stream_events') return false;
    this.streams.get(message.subscription)?.receive(message.events);
    return true;
  }

  /** The connection dropped, and with it the engine's side of every subscription: resume each after its cursor. */
  resume(): void {
    for (const [subscription, stream] of this.streams) this.subscribe(subscription, stream);
  }

  /** The client is closing: every stream fails with `error`. */
  closeAll(error: Error): void {
    for (const stream of [...this.streams.values()]) stream.fail(error);
  }

  private subscribe(subscription: number, stream: RunStream): void {
    const after = Object.keys(stream.cursor).length > 0 ? { ...stream.cursor } : undefined;
    this.connection()
      .request({ t: 'stream_subscribe', subscription, runId: stream.runId, ...(after ? { after } : {}) }, { repeatable: true })
      .catch((e: unknown) => stream.fail(toError(e)));
  }
}
