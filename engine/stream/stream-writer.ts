/**
 * Writes the stream chunks workers send, in self-tuning batches (see Batcher), one batch at a time so
 * each attempt's chunks commit in the order they were put. After a batch: its chunks are acknowledged
 * to their workers, handed to this engine's hub (live subscribers), announced to other engines by
 * NOTIFY, and task runs holding more than the retention bound are trimmed.
 *
 * Trimming waits for a quarter of the bound to pile up beyond it, so a task streaming small chunks
 * costs one trim per that many bytes, not one per batch.
 */
import { Batcher } from '../batcher.ts';
import type { Driver } from '../db/driver.ts';
import type { EngineEvents } from '../engine-events.ts';
import { writeWithRetry } from '../db/write-retry.ts';
import type { Logger } from '../log.ts';
import { isStorableTime } from '../sql/rows.ts';
import { taskStreamAppend, taskStreamNotify, taskStreamTrim, type StoredStreamChunk, type StreamChunkToStore } from '../sql/task-stream.ts';
import type { StreamMessage } from '../../shared/protocol.ts';
import { wireChunkBytes, wireChunkProblem } from '../../shared/stream.ts';
import { CleaverError, toError } from '../../shared/errors.ts';
import { validateJson } from '../../shared/payload.ts';

/** NOTIFY payloads are limited to 8000 bytes. */
const MAX_NOTIFY_BYTES = 7_900;

interface Item {
  chunk: StreamChunkToStore;
  /** Called once the chunk is stored, or given up on. */
  done(): void;
}

export class StreamWriter {
  private readonly batcher: Batcher<Item>;
  /** Chunks received but not yet written, per attempt, and who waits for them to be. */
  private readonly pending = new Map<string, { count: number; waiters: Array<() => void> }>();
  private stopped = false;

  constructor(
    private readonly o: {
      driver: Driver;
      log: Logger;
      retentionBytes: number;
      maxChunkBytes: number;
      /** Engine id for NOTIFY cleaver_stream, or null without LISTEN/NOTIFY. */
      notifyFrom: string | null;
      /** Told `streams.stored` after each batch commits. */
      events: EngineEvents;
    },
  ) {
    this.batcher = new Batcher({ flush: (items) => this.flush(items), maxInFlight: 1, maxBatch: 2000 });
  }

  /** Queues a chunk; throws BAD_PAYLOAD, saying why, for one that cannot be stored. */
  append(message: StreamMessage, done: () => void): void {
    const problem = wireChunkProblem(message, this.o.maxChunkBytes);
    if (problem) throw new CleaverError('BAD_PAYLOAD', problem);
    const data = message.kind === 'json' ? JSON.stringify(validateJson(message.data, 'stream.data')) : (message.data as string);
    const chunk: StreamChunkToStore = {
      taskRunId: message.taskRunId,
      attempt: message.attempt,
      seq: message.seq,
      kind: message.kind,
      data,
      bytes: wireChunkBytes(message),
      // A clock that cannot be stored would make the whole batch unwritable: the engine's own time instead.
      at: isStorableTime(message.at) ? message.at : Date.now(),
    };
    const key = `${chunk.taskRunId}:${chunk.attempt}`;
    const entry = this.pending.get(key);
    if (entry) entry.count++;
    else this.pending.set(key, { count: 1, waiters: [] });
    this.batcher.add({ chunk, done });
  }

  /**
   * Resolves once every chunk of this attempt received so far is written; null when none is pending.
   * An attempt's outcome waits for it, so whoever sees the run end finds all its chunks stored.
   */
  written(taskRunId: string, attempt: number): Promise<void> | null {
    const entry = this.pending.get(`${taskRunId}:${attempt}`);
    if (!entry) return null;
    return new Promise((resolve) => entry.waiters.push(resolve));
  }

  get size(): number {
    return this.batcher.size;
  }

  drain(): Promise<void> {
    return this.batcher.idle();
  }

  /** Stops retrying (the engine is shutting down for good). */
  stop(): void {
    this.stopped = true;
  }

  private async flush(items: Item[]): Promise<void> {
    let stored: StoredStreamChunk[] = [];
    try {
      stored = await this.retry('stream chunks', () => taskStreamAppend(this.o.driver.relaxed, { chunks: items.map((i) => i.chunk) }));
    } catch (e: unknown) {
      this.log('stream chunks dropped', e, items.length);
    }
    for (const item of items) {
      item.done();
      const key = `${item.chunk.taskRunId}:${item.chunk.attempt}`;
      const entry = this.pending.get(key)!;
      if (--entry.count > 0) continue;
      this.pending.delete(key);
      for (const resolve of entry.waiters) resolve();
    }
    if (stored.length === 0) return;
    this.o.events.emit('streams.stored', { chunks: stored });
    await Promise.all([this.notify(stored), this.trim(stored)]);
  }

  private async notify(stored: StoredStreamChunk[]): Promise<void> {
    if (this.o.notifyFrom === null) return;
    const prefix = `${this.o.notifyFrom}:`;
    const payloads: string[] = [];
    let current = '';
    for (const runId of new Set(stored.map((c) => c.runId))) {
      if (current.length > 0 && prefix.length + current.length + runId.length + 1 > MAX_NOTIFY_BYTES) {
        payloads.push(prefix + current);
        current = '';
      }
      current = current.length > 0 ? `${current},${runId}` : runId;
    }
    payloads.push(prefix + current);
    // Lost, the other engines' subscribers still get these chunks: with the next notification, or at the run's end.
    await taskStreamNotify(this.o.driver.relaxed, { payloads }).catch((e: unknown) => this.log('telling other engines about stream chunks failed', e));
  }

  private async trim(stored: StoredStreamChunk[]): Promise<void> {
    const over = this.o.retentionBytes + Math.ceil(this.o.retentionBytes / 4);
    const taskRunIds = [...new Set(stored.filter((c) => c.keptBytes > over).map((c) => c.taskRunId))];
    if (taskRunIds.length === 0) return;
    // Left for the next batch if it fails: the bound is exceeded a little longer, nothing is lost.
    await this.retry('stream trim', () => taskStreamTrim(this.o.driver.relaxed, { taskRunIds, retentionBytes: this.o.retentionBytes })).catch((e: unknown) =>
      this.log('trimming streams failed', e),
    );
  }

  private retry<T>(what: string, write: () => Promise<T>): Promise<T> {
    return writeWithRetry(what, write, { log: this.o.log, stopped: () => this.stopped });
  }

  private log(message: string, e: unknown, chunks?: number): void {
    this.o.log.warn(message, { error: toError(e).message, chunks });
  }
}
