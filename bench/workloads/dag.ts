/**
 * DAG latency at light load: one DAG outstanding at a time — a 5-step chain or a 1→8→1 diamond of
 * no-op steps — from just before the producer starts it to the producer learning its last step
 * finished (enqueue→done, one process, one clock). Each system expresses the DAG its own way
 * (SystemUnderTest.dag; the emulations are stated there and in docs/benchmarks.md); a system without
 * `dag` is skipped.
 */
import { epochMs } from '../lib/clock.ts';
import { withTimeout } from '../lib/deadline.ts';
import { LatencyHistogram } from '../lib/histogram.ts';
import type { LatencySummary } from '../lib/stats.ts';
import type { DagShape, SystemUnderTest } from '../systems/system.ts';

export interface DagOptions {
  shape: DagShape;
  warmup: number;
  runs: number;
  slots: number;
  runTimeoutMs: number;
}

export interface DagResult {
  shape: DagShape;
  runs: number;
  enqueueToDoneMs: LatencySummary;
  how: string;
}

export async function dagLatency(sut: SystemUnderTest, options: DagOptions): Promise<DagResult> {
  const dag = sut.dag;
  if (!dag) throw new Error(`${sut.id} has no DAG support (SystemUnderTest.dag)`);
  const worker = await sut.startWorker({ slots: options.slots });
  const toDone = new LatencyHistogram();
  for (let i = 0; i < options.warmup + options.runs; i++) {
    const warmup = i < options.warmup;
    const sentAt = epochMs();
    await withTimeout(`${sut.id} ${options.shape} run ${i + 1}`, options.runTimeoutMs, Promise.race([dag.run(options.shape, { sentAt, warmup }), worker.died]));
    if (!warmup) toDone.record(epochMs() - sentAt);
  }
  await worker.stop();
  return { shape: options.shape, runs: options.runs, enqueueToDoneMs: toDone.summary()!, how: dag.how[options.shape] };
}
