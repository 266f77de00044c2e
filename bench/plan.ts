/** What a benchmark run measures: the two profiles and the list of measurements each implies. */
import type { FigureDef } from './results.ts';
import type { SystemUnderTest } from './systems/system.ts';
import { DAG_SHAPES, type DagShape } from './systems/system.ts';
import { bulkEnqueue } from './workloads/bulk-enqueue.ts';
import { burnDown } from './workloads/burn-down.ts';
import { dagLatency } from './workloads/dag.ts';
import { lightLatency } from './workloads/light-latency.ts';
import { openLoop } from './workloads/open-loop.ts';
import { singleEnqueue } from './workloads/single-enqueue.ts';

export interface Profile {
  /** Repetitions of every measurement, except those `repsFor` names. */
  reps: number;
  /** Fewer repetitions for the long measurements (by id prefix), to fit the time budget; one shows no range. */
  repsFor: Record<string, number>;
  /** Measurement id prefixes this profile runs (all when absent). */
  measurements?: string[];
  bulkEnqueue: { tasks: number; batches: number[]; warmupBatches: number; callTimeoutMs: number };
  singleEnqueue: { tasks: number; inFlight: number[]; warmup: number; callTimeoutMs: number };
  /** Tasks per concurrency: the issue's 100,000 at 100; fewer at 10, where every system is several times slower. */
  burnDown: { tasks: Record<number, number>; chunk: number; pollIntervalMs: number; drainTimeoutMs: number; chunkTimeoutMs: number };
  latency: { warmup: number; runs: number; slots: number; runTimeoutMs: number };
  openLoop: { ratePerSecond: number; durationMs: number; warmupMs: number; slots: number; backlogPollMs: number; maxOutstanding: number; drainTimeoutMs: number };
  dag: { warmup: number; runs: number; slots: number; runTimeoutMs: number };
}

/**
 * Budgets on this 2-core machine: quick about 2 minutes (one size of each kind of workload), full about
 * 15 minutes on a quiet machine (the enqueue measurements three times, light load twice, the long ones once).
 */
export const PROFILES: Record<'quick' | 'full', Profile> = {
  quick: {
    reps: 1,
    repsFor: {},
    measurements: ['bulk-enqueue/1000', 'single-enqueue/16', 'burn-down/100', 'light-latency', 'open-loop', 'dag-chain'],
    bulkEnqueue: { tasks: 5_000, batches: [1_000], warmupBatches: 1, callTimeoutMs: 60_000 },
    singleEnqueue: { tasks: 500, inFlight: [16], warmup: 50, callTimeoutMs: 10_000 },
    burnDown: { tasks: { 100: 10_000 }, chunk: 5_000, pollIntervalMs: 20, drainTimeoutMs: 60_000, chunkTimeoutMs: 60_000 },
    latency: { warmup: 20, runs: 100, slots: 100, runTimeoutMs: 10_000 },
    openLoop: { ratePerSecond: 1_000, durationMs: 2_000, warmupMs: 500, slots: 100, backlogPollMs: 250, maxOutstanding: 256, drainTimeoutMs: 30_000 },
    dag: { warmup: 3, runs: 10, slots: 100, runTimeoutMs: 10_000 },
  },
  full: {
    reps: 3,
    repsFor: { 'light-latency': 2, 'burn-down': 1, 'open-loop': 1, 'dag-': 1 },
    bulkEnqueue: { tasks: 20_000, batches: [100, 1_000], warmupBatches: 3, callTimeoutMs: 60_000 },
    singleEnqueue: { tasks: 1_000, inFlight: [1, 16], warmup: 100, callTimeoutMs: 10_000 },
    burnDown: { tasks: { 100: 100_000, 10: 20_000 }, chunk: 5_000, pollIntervalMs: 20, drainTimeoutMs: 300_000, chunkTimeoutMs: 60_000 },
    latency: { warmup: 100, runs: 1_000, slots: 100, runTimeoutMs: 10_000 },
    openLoop: { ratePerSecond: 1_000, durationMs: 30_000, warmupMs: 2_000, slots: 100, backlogPollMs: 250, maxOutstanding: 256, drainTimeoutMs: 60_000 },
    dag: { warmup: 10, runs: 100, slots: 100, runTimeoutMs: 10_000 },
  },
};

/** One workload with its parameters; each repetition runs it against a freshly set-up system. */
export interface Measurement {
  /** e.g. "burn-down/100"; `--only system/workload` matches its prefix. */
  id: string;
  label: string;
  figures: FigureDef[];
  /** Why `sut` does not run it, or null. */
  skip(sut: SystemUnderTest): string | null;
  /** Runs one repetition: everything measured, its figures, and one line for the progress output. */
  run(sut: SystemUnderTest): Promise<{ result: unknown; values: Record<string, number | null>; line: string }>;
}

const count = (n: number) => n.toLocaleString('en-US');
const systemSkip = (workload: string) => (sut: SystemUnderTest) => sut.skips?.[workload] ?? null;
const ms = (key: string, label: string): FigureDef => ({ key, label, unit: 'ms', better: 'lower' });
const rate = (key: string, label: string): FigureDef => ({ key, label, unit: 'tasks/s', better: 'higher' });

export function measurements(profile: Profile): Measurement[] {
  const p = profile;
  const all: Measurement[] = [
    ...p.bulkEnqueue.batches.map((batch): Measurement => ({
      id: `bulk-enqueue/${batch}`,
      label: `bulk enqueue, batches of ${count(batch)}`,
      figures: [rate('tasksPerSecond', 'tasks/s')],
      skip: systemSkip('bulk-enqueue'),
      run: async (sut) => {
        const result = await bulkEnqueue(sut, { ...p.bulkEnqueue, batch });
        return { result, values: { tasksPerSecond: result.tasksPerSecond }, line: `${count(result.tasksPerSecond)} tasks/s` };
      },
    })),
    ...p.singleEnqueue.inFlight.map((inFlight): Measurement => ({
      id: `single-enqueue/${inFlight}`,
      label: `single enqueue, ${inFlight} in flight`,
      figures: [rate('enqueuesPerSecond', 'enqueues/s'), ms('p50', 'p50 ms'), ms('p99', 'p99 ms')],
      skip: systemSkip('single-enqueue'),
      run: async (sut) => {
        const result = await singleEnqueue(sut, { ...p.singleEnqueue, inFlight });
        const l = result.latencyMs;
        return { result, values: { enqueuesPerSecond: result.enqueuesPerSecond, p50: l.p50, p99: l.p99 }, line: `${count(result.enqueuesPerSecond)} enqueues/s, p50 ${l.p50} p99 ${l.p99} ms` };
      },
    })),
    ...Object.entries(p.burnDown.tasks).sort(([a], [b]) => Number(b) - Number(a)).map(([slotsKey, tasks]): Measurement => ({
      id: `burn-down/${slotsKey}`,
      label: `burn-down ${count(tasks)} tasks, concurrency ${slotsKey}`,
      figures: [rate('tasksPerSecond', 'tasks/s')],
      skip: systemSkip('burn-down'),
      run: async (sut) => {
        const result = await burnDown(sut, { ...p.burnDown, tasks, slots: Number(slotsKey) });
        const window = Math.round(result.durationMs - result.durationLowerBoundMs);
        return { result, values: { tasksPerSecond: result.tasksPerSecond }, line: `${count(result.tasksPerSecond)} tasks/s (drained in ${(result.durationMs / 1000).toFixed(2)} s, end within the last ${window} ms; preload ${count(result.preloadTasksPerSecond)} tasks/s)` };
      },
    })),
    {
      id: 'light-latency',
      label: `light load (${count(p.latency.runs)} sequential)`,
      figures: [ms('startP50', 'enqueue→start p50 ms'), ms('startP99', 'enqueue→start p99 ms'), ms('doneP50', 'enqueue→done p50 ms'), ms('doneP99', 'enqueue→done p99 ms')],
      skip: systemSkip('light-latency'),
      run: async (sut) => {
        const result = await lightLatency(sut, p.latency);
        const s = result.enqueueToStartMs;
        const d = result.enqueueToDoneMs;
        const anomalies = result.clockAnomalies > 0 ? `  WARNING: ${result.clockAnomalies} negative cross-process readings` : '';
        return { result, values: { startP50: s.p50, startP99: s.p99, doneP50: d.p50, doneP99: d.p99 }, line: `start p50 ${s.p50} p99 ${s.p99} ms · done p50 ${d.p50} p99 ${d.p99} ms${anomalies}` };
      },
    },
    {
      id: 'open-loop',
      label: `open loop ${count(p.openLoop.ratePerSecond)}/s for ${p.openLoop.durationMs / 1000} s`,
      // A system that dropped enqueues (it did not keep up with the offered rate) had less to start and to
      // hold in its backlog: its latency and backlog are shown but not compared.
      figures: [
        rate('achieved', 'enqueues/s achieved'),
        { ...ms('startP50', 'enqueue→start p50 ms'), comparableIf: 'keptUp' },
        { ...ms('startP99', 'enqueue→start p99 ms'), comparableIf: 'keptUp' },
        { key: 'maxBacklog', label: 'max backlog', unit: 'tasks', better: 'lower', comparableIf: 'keptUp' },
        { key: 'rssGrowth', label: 'engine RSS growth', unit: '%', better: 'lower' },
      ],
      skip: systemSkip('open-loop'),
      run: async (sut) => {
        const result = await openLoop(sut, p.openLoop);
        const s = result.enqueueToStartMs;
        const rss = result.engineRssGrowthPercent === null ? '' : `, engine RSS ${result.engineRssStartMiB} → ${result.engineRssEndMiB} MiB (${result.engineRssGrowthPercent}%)`;
        return {
          result,
          values: { achieved: result.achievedRatePerSecond, keptUp: result.lateEnqueues === 0 ? 1 : 0, startP50: s.p50, startP99: s.p99, maxBacklog: result.maxBacklog, rssGrowth: result.engineRssGrowthPercent },
          line: `${count(result.achievedRatePerSecond)}/s achieved${result.lateEnqueues > 0 ? ` (${count(result.lateEnqueues)} enqueues dropped: ${p.openLoop.maxOutstanding} already in flight)` : ''}, start p50 ${s.p50} p99 ${s.p99} ms, max backlog ${count(result.maxBacklog)}${rss}`,
        };
      },
    },
    ...(Object.keys(DAG_SHAPES) as DagShape[]).map((shape): Measurement => ({
      id: `dag-${shape}`,
      label: `${DAG_SHAPES[shape].label} (${count(p.dag.runs)} sequential)`,
      figures: [ms('doneP50', 'enqueue→done p50 ms'), ms('doneP99', 'enqueue→done p99 ms')],
      skip: (sut) => (sut.dag ? systemSkip(`dag-${shape}`)(sut) : 'no DAG support yet (SystemUnderTest.dag)'),
      run: async (sut) => {
        const result = await dagLatency(sut, { ...p.dag, shape });
        const d = result.enqueueToDoneMs;
        return { result, values: { doneP50: d.p50, doneP99: d.p99 }, line: `done p50 ${d.p50} p99 ${d.p99} ms` };
      },
    })),
  ];
  return p.measurements ? all.filter((m) => p.measurements!.some((id) => m.id === id || m.id.startsWith(`${id}/`))) : all;
}
