/**
 * Light-load latency: one task outstanding at a time, so the figures are the system's own path —
 * enqueue, insert, claim, push or fetch, start, result, completion — with no queueing behind other tasks.
 *
 * enqueue→start is read by the handler (its first action) against `sentAt` taken in the producer just
 * before the enqueue: a cross-process reading, on one machine's clock (bench/lib/clock.ts), kept in the
 * worker's histogram. enqueue→done is read by the producer when it learns the task finished: one
 * process, one clock.
 */
import { epochMs } from '../lib/clock.ts';
import { withTimeout } from '../lib/deadline.ts';
import { LatencyHistogram } from '../lib/histogram.ts';
import type { LatencySummary } from '../lib/stats.ts';
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
  /** Start readings below zero: a cross-process clock problem, if any. */
  clockAnomalies: number;
  /** Wall time of the recorded runs. */
  elapsedMs: number;
}

export async function lightLatency(sut: SystemUnderTest, options: LightLatencyOptions): Promise<LightLatencyResult> {
  const worker = await sut.startWorker({ slots: options.slots });
  const toDone = new LatencyHistogram();
  let recordedFrom = 0;
  const total = options.warmup + options.runs;
  for (let i = 0; i < total; i++) {
    const warmup = i < options.warmup;
    if (i === options.warmup) recordedFrom = performance.now();
    const sentAt = epochMs();
    const phase = warmup ? `warm-up run ${i + 1}/${options.warmup}` : `run ${i - options.warmup + 1}/${options.runs}`;
    await withTimeout(`${sut.id} light latency ${phase}`, options.runTimeoutMs, Promise.race([sut.runAndWait({ sentAt, warmup }), worker.died]));
    if (!warmup) toDone.record(epochMs() - sentAt);
  }
  const elapsedMs = performance.now() - recordedFrom;
  const report = await worker.stop();
  if (report.executed !== total || report.distinct !== total || report.retried !== 0) {
    throw new Error(`${sut.id} light latency: the worker ran ${report.executed} handlers for ${report.distinct} distinct tasks (${report.retried} retries); expected exactly ${total} tasks, each once`);
  }
  if (!report.startLatencyMs || report.startLatencyMs.samples !== options.runs) throw new Error(`${sut.id} light latency: the worker recorded ${report.startLatencyMs?.samples ?? 0} start readings, expected ${options.runs}`);
  return {
    warmup: options.warmup,
    runs: options.runs,
    slots: options.slots,
    enqueueToStartMs: report.startLatencyMs,
    enqueueToDoneMs: toDone.summary()!,
    clockAnomalies: report.negativeStartLatencies,
    elapsedMs: Math.round(elapsedMs),
  };
}
