/**
 * Single enqueue: `tasks` noops through the system's one-job API, `inFlight` calls outstanding at a time
 * (a new call as soon as one returns), with no worker connected. Each call's latency — from the call to
 * its return, i.e. the job stored — goes into a histogram; enqueues/s is tasks over the wall time. The
 * first `warmup` calls are not recorded.
 */
import { withTimeout } from '../lib/deadline.ts';
import { LatencyHistogram } from '../lib/histogram.ts';
import { round2, type LatencySummary } from '../lib/stats.ts';
import { epochMs } from '../lib/clock.ts';
import type { SystemUnderTest } from '../systems/system.ts';

export interface SingleEnqueueOptions {
  tasks: number;
  inFlight: number;
  warmup: number;
  callTimeoutMs: number;
}

export interface SingleEnqueueResult {
  tasks: number;
  inFlight: number;
  enqueuesPerSecond: number;
  latencyMs: LatencySummary;
  elapsedMs: number;
}

export async function singleEnqueue(sut: SystemUnderTest, options: SingleEnqueueOptions): Promise<SingleEnqueueResult> {
  const call = (i: number) => withTimeout(`${sut.id} single enqueue: call ${i + 1}`, options.callTimeoutMs, sut.enqueueOne({ sentAt: epochMs() }));
  await runWithConcurrency(options.warmup, options.inFlight, call);
  const latency = new LatencyHistogram();
  const start = performance.now();
  await runWithConcurrency(options.tasks, options.inFlight, async (i) => {
    const began = performance.now();
    await call(options.warmup + i);
    latency.record(performance.now() - began);
  });
  const elapsedMs = performance.now() - start;
  return { tasks: options.tasks, inFlight: options.inFlight, enqueuesPerSecond: Math.round(options.tasks / (elapsedMs / 1000)), latencyMs: latency.summary()!, elapsedMs: round2(elapsedMs) };
}

/** Runs `task(0..count-1)` with at most `concurrency` outstanding; the first failure rejects. */
async function runWithConcurrency(count: number, concurrency: number, task: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (next < count) await task(next++);
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, lane));
}
