/**
 * Light-load latency: one task outstanding at a time, so the figures are the engine's own path —
 * trigger, insert, claim, push, start, result, completion — with no queueing behind other tasks.
 *
 * enqueue→start is read by the handler (its first action) against `sentAt` taken in the producer just
 * before the trigger: a cross-process reading, on one machine's clock (bench/lib/clock.ts).
 * enqueue→done is read by the producer when run() resolves: one process, one clock.
 */
import { epochMs } from '../lib/clock.ts';
import { withTimeout } from '../lib/deadline.ts';
import { summarizeLatency, type LatencySummary } from '../lib/stats.ts';
import type { SystemUnderTest } from '../systems/system.ts';

export interface LightLatencyOptions {
  /** Runs first, not recorded: JIT, connection pools and caches warm up. */
  warmup: number;
  /** Recorded runs. */
  runs: number;
  /** The worker's slots (only one task is ever outstanding). */
  slots: number;
  /** Deadline for one run, start to finish. */
  runTimeoutMs: number;
}

export interface LightLatencyResult {
  warmup: number;
  runs: number;
  slots: number;
  enqueueToStartMs: LatencySummary;
  enqueueToDoneMs: LatencySummary;
  /** Runs whose cross-process start reading was negative or above enqueue→done: a clock problem, if any. */
  clockAnomalies: number;
  /** Wall time of the recorded runs. */
  elapsedMs: number;
}

export async function lightLatency(sut: SystemUnderTest, options: LightLatencyOptions): Promise<LightLatencyResult> {
  const worker = await sut.startWorker({ slots: options.slots });
  const toStart: number[] = [];
  const toDone: number[] = [];
  let clockAnomalies = 0;
  let recordedFrom = 0;
  const total = options.warmup + options.runs;
  for (let i = 0; i < total; i++) {
    if (i === options.warmup) recordedFrom = performance.now();
    const sentAt = epochMs();
    const phase = i < options.warmup ? `warm-up run ${i + 1}/${options.warmup}` : `run ${i - options.warmup + 1}/${options.runs}`;
    const { startLatencyMs } = await withTimeout(`${sut.id} light latency ${phase}`, options.runTimeoutMs, Promise.race([sut.runAndWait(sentAt), worker.died]));
    const doneMs = epochMs() - sentAt;
    if (i < options.warmup) continue;
    if (startLatencyMs < 0 || startLatencyMs > doneMs) clockAnomalies++;
    toStart.push(startLatencyMs);
    toDone.push(doneMs);
  }
  const elapsedMs = performance.now() - recordedFrom;
  const report = await worker.stop();
  if (report.executed !== total || report.distinct !== total || report.retried !== 0) {
    throw new Error(`${sut.id} light latency: the worker ran ${report.executed} handlers for ${report.distinct} distinct tasks (${report.retried} retries); expected exactly ${total} tasks, each once`);
  }
  return {
    warmup: options.warmup,
    runs: options.runs,
    slots: options.slots,
    enqueueToStartMs: summarizeLatency(toStart),
    enqueueToDoneMs: summarizeLatency(toDone),
    clockAnomalies,
    elapsedMs: Math.round(elapsedMs),
  };
}
