/** What a benchmark run measures: the two profiles and the list of measurements each implies. */
import type { FigureDef } from './results.ts';
import type { BurnDownVariants, SystemUnderTest } from './systems/system.ts';
import { DAG_SHAPES, type DagShape } from './systems/system.ts';
import { bulkEnqueue } from './workloads/bulk-enqueue.ts';
import { backlogVariant, burnDown, keyedVariant, rateLimitedVariant, type BurnDownOptions, type BurnDownResult, type BurnDownVariant } from './workloads/burn-down.ts';
import { dagLatency } from './workloads/dag.ts';
import { lightLatency } from './workloads/light-latency.ts';
import { openLoop, type OpenLoopOptions, type OpenLoopResult } from './workloads/open-loop.ts';
import { RUN_LIST_CASES, runListMeasure, type RunListOptions } from './workloads/run-list.ts';
import { singleEnqueue } from './workloads/single-enqueue.ts';

export interface Profile {
  /** Repetitions of every measurement, except those `repsFor` names. */
  reps: number;
  /** Fewer repetitions for the long measurements (by id prefix), to fit the time budget; one shows no range. */
  repsFor: Record<string, number>;
  /**
   * Measurement id prefixes this profile runs by default (all when absent); `--only` with a workload
   * may pick any other measurement the profile sizes.
   */
  measurements?: string[];
  bulkEnqueue: { tasks: number; batches: number[]; warmupBatches: number; callTimeoutMs: number };
  singleEnqueue: { tasks: number; inFlight: number[]; warmup: number; callTimeoutMs: number };
  /** Tasks per concurrency. */
  burnDown: { tasks: Record<number, number>; chunk: number; pollIntervalMs: number; drainTimeoutMs: number; chunkTimeoutMs: number };
  /** The burn-down at `slots` (its size from `burnDown.tasks`) behind `tasks` runs of another task, queued `chunk` per call. */
  backlog: { tasks: number; slots: number; chunk: number };
  /**
   * The burn-down at `slots` (its size from `burnDown.tasks`) of a noop behind a concurrency key (`keys`
   * keys, `maxRuns` each) and, separately, behind a rate limit of `rateLimitPerMinute`.
   */
  flowControl: { slots: number; keys: number; maxRuns: number; rateLimitPerMinute: number };
  latency: { warmup: number; runs: number; slots: number; runTimeoutMs: number };
  openLoop: OpenLoopOptions;
  /** The long open loop whose figure is the engine's memory over it. */
  soak: OpenLoopOptions;
  dag: { warmup: number; runs: number; slots: number; runTimeoutMs: number };
  /** The run list at scale: measured only when --only names it (loading a million runs takes minutes). */
  runList: RunListOptions;
}

/**
 * 100 keys of 5 admit up to 500 runs at once, more than the 100 slots: in a steady drain the key never
 * binds, so the figure is the cost of the machinery. The rate limit is far above any drain's rate, so
 * it is the cost of the check, not a throttle.
 */
const FLOW_CONTROL: Profile['flowControl'] = { slots: 100, keys: 100, maxRuns: 5, rateLimitPerMinute: 10_000_000 };

/**
 * The issue's sizes: a million runs on Postgres, a hundred thousand on PGlite; 50 queries of 3 pages of
 * 100 per filter, with the count the console shows (upTo 10,000, and 1,000 with a search). On this
 * machine the load takes ~2 minutes on Postgres and ~2 on PGlite, the queries ~1 minute each.
 */
const RUN_LIST: RunListOptions = {
  runs: { 'cleaver-pg': 1_000_000, 'cleaver-pglite': 100_000 },
  queries: 50,
  pages: 3,
  pageSize: 100,
  countUpTo: 10_000,
  searchCountUpTo: 1_000,
};

/**
 * Budgets on this 2-core machine: quick about 3 minutes (one size of each kind of workload), full about
 * 40 minutes on a quiet machine (the enqueue measurements three times, light load twice, the long ones
 * once; of it, the 5-minute engine-memory loop 11 minutes and the burn-downs at concurrency 10 about 8).
 * The flow-control burn-downs run in full only (quick: with --only, 10-30 s each): at the third to sixth
 * of the plain burn-down's rate a first quick run read, they add about 10 minutes to the full run.
 */
export const PROFILES: Record<'quick' | 'full', Profile> = {
  quick: {
    reps: 1,
    repsFor: {},
    measurements: ['bulk-enqueue/1000', 'single-enqueue/16', 'burn-down/100', 'burn-down-backlog/100', 'light-latency', 'open-loop', 'dag-chain'],
    bulkEnqueue: { tasks: 5_000, batches: [1_000], warmupBatches: 1, callTimeoutMs: 60_000 },
    singleEnqueue: { tasks: 500, inFlight: [16], warmup: 50, callTimeoutMs: 10_000 },
    burnDown: { tasks: { 100: 10_000, 10: 10_000 }, chunk: 5_000, pollIntervalMs: 20, drainTimeoutMs: 60_000, chunkTimeoutMs: 60_000 },
    backlog: { tasks: 50_000, slots: 100, chunk: 25_000 },
    flowControl: FLOW_CONTROL,
    latency: { warmup: 20, runs: 100, slots: 100, runTimeoutMs: 10_000 },
    openLoop: { ratePerSecond: 1_000, durationMs: 2_000, warmupMs: 500, slots: 100, backlogPollMs: 250, maxOutstanding: 256, drainTimeoutMs: 30_000, rssSampleMs: 1_000 },
    soak: { ratePerSecond: 1_000, durationMs: 20_000, warmupMs: 2_000, slots: 100, backlogPollMs: 250, maxOutstanding: 256, drainTimeoutMs: 30_000, rssSampleMs: 1_000 },
    dag: { warmup: 3, runs: 10, slots: 100, runTimeoutMs: 10_000 },
    runList: RUN_LIST,
  },
  full: {
    reps: 3,
    repsFor: { 'light-latency': 2, 'burn-down': 1, 'open-loop': 1, 'engine-memory': 1, 'dag-': 1, 'run-list': 1 },
    bulkEnqueue: { tasks: 20_000, batches: [100, 1_000], warmupBatches: 3, callTimeoutMs: 60_000 },
    singleEnqueue: { tasks: 1_000, inFlight: [1, 16], warmup: 100, callTimeoutMs: 10_000 },
    // 100,000 at concurrency 10 too, as the issue asks: at 20,000 the fastest systems drained in about a
    // second, the worker's start-up a large part of it. The slowest (PGlite, ~400 tasks/s) take ~4 minutes.
    burnDown: { tasks: { 100: 100_000, 10: 100_000 }, chunk: 5_000, pollIntervalMs: 20, drainTimeoutMs: 600_000, chunkTimeoutMs: 60_000 },
    backlog: { tasks: 1_000_000, slots: 100, chunk: 20_000 },
    flowControl: FLOW_CONTROL,
    latency: { warmup: 100, runs: 1_000, slots: 100, runTimeoutMs: 10_000 },
    openLoop: { ratePerSecond: 1_000, durationMs: 30_000, warmupMs: 2_000, slots: 100, backlogPollMs: 250, maxOutstanding: 256, drainTimeoutMs: 60_000, rssSampleMs: 1_000 },
    // Ten seconds of warm-up so the start reading is after the engine's first surge of allocation.
    soak: { ratePerSecond: 1_000, durationMs: 300_000, warmupMs: 10_000, slots: 100, backlogPollMs: 1_000, maxOutstanding: 256, drainTimeoutMs: 60_000, rssSampleMs: 5_000 },
    dag: { warmup: 10, runs: 100, slots: 100, runTimeoutMs: 10_000 },
    runList: RUN_LIST,
  },
};

/** One workload with its parameters; each repetition runs it against a freshly set-up system. */
export interface Measurement {
  /** e.g. "burn-down/100"; `--only system/workload` matches its prefix. */
  id: string;
  label: string;
  figures: FigureDef[];
  /**
   * The measurement this one is a variant of (e.g. burn-down behind a backlog of the plain burn-down):
   * the report gives each system's ratio to its own figure there, in the same run.
   */
  baseline?: string;
  /** Why `sut` does not run it, or null. */
  skip(sut: SystemUnderTest): string | null;
  /** Runs one repetition: everything measured, its figures, and one line for the progress output. */
  run(sut: SystemUnderTest): Promise<Measured<unknown>>;
  /** Measured only when --only names its workload, in any profile. */
  namedOnly?: boolean;
}

/** A measurement in the plan, and whether the profile runs it without `--only` naming its workload. */
export type PlannedMeasurement = Measurement & { byDefault: boolean };

interface Measured<R> {
  result: R;
  values: Record<string, number | null>;
  line: string;
}

const count = (n: number) => n.toLocaleString('en-US');
const systemSkip = (workload: string) => (sut: SystemUnderTest) => sut.skips?.[workload] ?? null;
const duration = (ms: number) => (ms >= 60_000 && ms % 60_000 === 0 ? `${ms / 60_000} min` : `${ms / 1000} s`);
const ms = (key: string, label: string): FigureDef => ({ key, label, unit: 'ms', better: 'lower' });
const mib = (key: string, label: string): FigureDef => ({ key, label, unit: 'MiB', better: 'lower' });
const percent = (key: string, label: string): FigureDef => ({ key, label, unit: '%', better: 'lower' });
const rate = (key: string, label: string): FigureDef => ({ key, label, unit: 'tasks/s', better: 'higher' });

/** Every measurement the profile sizes; `byDefault` for those it runs without `--only` naming them. */
export function measurements(profile: Profile): PlannedMeasurement[] {
  const p = profile;
  const fc = p.flowControl;
  /**
   * A burn-down at `slots` with `variant` in its way, against the same system's plain burn-down at
   * `slots` in the same run: the question is whether the variant slows Cleaver's own queue down, not
   * how it compares with a peer, so a system without the variant (`has`) is skipped with `why`.
   */
  const burnDownVariant = (options: { workload: string; slots: number; label: (plain: string) => string; has: keyof BurnDownVariants; why: string; variant: BurnDownVariant }): Measurement => {
    const tasks = p.burnDown.tasks[options.slots];
    if (tasks === undefined) throw new Error(`profile: ${options.workload} at slots ${options.slots} has no burn-down size in burnDown.tasks`);
    return {
      id: `${options.workload}/${options.slots}`,
      label: options.label(burnDownLabel(tasks, options.slots)),
      figures: [rate('tasksPerSecond', 'tasks/s')],
      baseline: `burn-down/${options.slots}`,
      skip: (sut) => systemSkip(options.workload)(sut) ?? (sut.burnDownVariants?.[options.has] ? null : options.why),
      run: async (sut) => burnDownMeasured(sut, { ...p.burnDown, tasks, slots: options.slots, variant: options.variant }),
    };
  };
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
      label: burnDownLabel(tasks, Number(slotsKey)),
      figures: [rate('tasksPerSecond', 'tasks/s')],
      skip: systemSkip('burn-down'),
      run: async (sut) => burnDownMeasured(sut, { ...p.burnDown, tasks, slots: Number(slotsKey) }),
    })),
    burnDownVariant({
      workload: 'burn-down-backlog',
      slots: p.backlog.slots,
      label: (plain) => `${plain}, ${count(p.backlog.tasks)} of another task queued`,
      has: 'backlog',
      why: 'Cleaver only: whether a deep backlog of work no worker offers slows its queue, against its own plain burn-down',
      variant: backlogVariant({ count: p.backlog.tasks, chunk: p.backlog.chunk, chunkTimeoutMs: p.burnDown.chunkTimeoutMs }),
    }),
    burnDownVariant({
      workload: 'burn-down-keyed',
      slots: fc.slots,
      label: (plain) => `${plain}, concurrency key (${count(fc.keys)} keys × maxRuns ${fc.maxRuns} = ${count(fc.keys * fc.maxRuns)} > ${fc.slots} slots: never binds)`,
      has: 'keyed',
      why: 'Cleaver only: the cost of its concurrency keys, against its own plain burn-down',
      variant: keyedVariant({ keys: fc.keys, maxRuns: fc.maxRuns }),
    }),
    burnDownVariant({
      workload: 'burn-down-rate-limited',
      slots: fc.slots,
      label: (plain) => `${plain}, rate limit (${count(fc.rateLimitPerMinute)}/min: never binds)`,
      has: 'rateLimited',
      why: 'Cleaver only: the cost of its rate-limit check, against its own plain burn-down',
      variant: rateLimitedVariant({ perMinute: fc.rateLimitPerMinute }),
    }),
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
      label: `open loop ${count(p.openLoop.ratePerSecond)}/s for ${duration(p.openLoop.durationMs)}`,
      figures: openLoopFigures,
      skip: systemSkip('open-loop'),
      run: async (sut) => openLoopMeasured(sut, p.openLoop),
    },
    {
      id: 'engine-memory',
      label: `engine memory, open loop ${count(p.soak.ratePerSecond)}/s for ${duration(p.soak.durationMs)}`,
      figures: [
        mib('rssStart', 'RSS at start MiB'),
        mib('rssEnd', 'RSS at end MiB'),
        mib('rssPeak', 'RSS peak MiB'),
        percent('rssGrowth', 'RSS growth'),
        percent('rssSecondHalfGrowth', 'RSS growth over the second half'),
        ...openLoopFigures.filter((f) => f.key !== 'maxBacklog'),
      ],
      skip: (sut) => systemSkip('engine-memory')(sut) ?? (sut.engineRssBytes ? null : 'no engine process of its own (SystemUnderTest.engineRssBytes)'),
      run: async (sut) => {
        const measured = await openLoopMeasured(sut, p.soak);
        const m = measured.result.engineMemory;
        if (!m) throw new Error(`${sut.id} engine memory: no engine RSS was sampled`);
        return {
          ...measured,
          values: { ...measured.values, rssStart: m.startMiB, rssEnd: m.endMiB, rssPeak: m.peakMiB, rssGrowth: m.growthPercent, rssSecondHalfGrowth: m.secondHalfGrowthPercent },
          line: `engine RSS ${m.startMiB} → ${m.endMiB} MiB (${m.growthPercent}%; second half ${m.secondHalfGrowthPercent}%), peak ${m.peakMiB} MiB; ${measured.line}`,
        };
      },
    },
    ...(Object.keys(DAG_SHAPES) as DagShape[]).map((shape): Measurement => ({
      id: `dag-${shape}`,
      label: `${DAG_SHAPES[shape].label} (${count(p.dag.runs)} sequential)`,
      figures: [ms('doneP50', 'enqueue→done p50 ms'), ms('doneP99', 'enqueue→done p99 ms')],
      skip: (sut) => systemSkip(`dag-${shape}`)(sut) ?? (sut.dag ? null : 'no DAG support yet (SystemUnderTest.dag)'),
      run: async (sut) => {
        const result = await dagLatency(sut, { ...p.dag, shape });
        const d = result.enqueueToDoneMs;
        return { result, values: { doneP50: d.p50, doneP99: d.p99 }, line: `done p50 ${d.p50} p99 ${d.p99} ms` };
      },
    })),
    {
      id: 'run-list',
      label: `run list, ${p.runList.queries} queries × ${p.runList.pages} pages of ${p.runList.pageSize} per filter`,
      figures: RUN_LIST_CASES.flatMap((c) => [ms(`${c.id}.p50`, `${c.label} · list p50 ms`), ms(`${c.id}.p95`, `${c.label} · list p95 ms`), ms(`${c.id}.countP95`, `${c.label} · count p95 ms`)]),
      namedOnly: true,
      skip: (sut) =>
        systemSkip('run-list')(sut) ??
        (!sut.runList ? 'Cleaver only: its run list at scale; no peer has one to compare' : p.runList.runs[sut.id] === undefined ? 'measured on cleaver-pg and cleaver-pglite' : null),
      run: async (sut) => {
        const result = await runListMeasure(sut, p.runList);
        const values: Record<string, number> = {};
        for (const c of result.cases) Object.assign(values, { [`${c.id}.p50`]: c.listMs.p50, [`${c.id}.p95`]: c.listMs.p95, [`${c.id}.countP95`]: c.countMs.p95 });
        const worst = result.cases.reduce((a, b) => (b.listMs.p95 > a.listMs.p95 ? b : a));
        const sizes = Object.entries(result.sizes).map(([table, size]) => `${table} ${size}`).join(', ');
        return { result, values, line: `loaded ${count(result.runs)} runs in ${(result.loadMs / 1000).toFixed(0)} s (${sizes}); list p95 worst ${worst.listMs.p95} ms (${worst.label})` };
      },
    },
  ];
  return all.map((m) => ({ ...m, byDefault: !m.namedOnly && (!p.measurements || p.measurements.some((id) => m.id === id || m.id.startsWith(`${id}/`))) }));
}

const burnDownLabel = (tasks: number, slots: number) => `burn-down ${count(tasks)} tasks, concurrency ${slots}`;

async function burnDownMeasured(sut: SystemUnderTest, options: BurnDownOptions): Promise<Measured<BurnDownResult>> {
  const result = await burnDown(sut, options);
  const window = Math.round(result.durationMs - result.durationLowerBoundMs);
  const variant = result.variant ? `; ${result.variant.description} in ${(result.variant.prepareMs / 1000).toFixed(1)} s` : '';
  return {
    result,
    values: { tasksPerSecond: result.tasksPerSecond },
    line: `${count(result.tasksPerSecond)} tasks/s (drained in ${(result.durationMs / 1000).toFixed(2)} s, end within the last ${window} ms; preload ${count(result.preloadTasksPerSecond)} tasks/s${variant})`,
  };
}

// A system that dropped enqueues (it did not keep up with the offered rate) had less to start and to
// hold in its backlog: its latency and backlog are shown but not compared.
const openLoopFigures: FigureDef[] = [
  rate('achieved', 'enqueues/s achieved'),
  { ...ms('startP50', 'enqueue→start p50 ms'), comparableIf: 'keptUp' },
  { ...ms('startP99', 'enqueue→start p99 ms'), comparableIf: 'keptUp' },
  { key: 'maxBacklog', label: 'max backlog', unit: 'tasks', better: 'lower', comparableIf: 'keptUp' },
];

async function openLoopMeasured(sut: SystemUnderTest, options: OpenLoopOptions): Promise<Measured<OpenLoopResult>> {
  const result = await openLoop(sut, options);
  const s = result.enqueueToStartMs;
  return {
    result,
    values: { achieved: result.achievedRatePerSecond, keptUp: result.lateEnqueues === 0 ? 1 : 0, startP50: s.p50, startP99: s.p99, maxBacklog: result.maxBacklog },
    line: `${count(result.achievedRatePerSecond)}/s achieved${result.lateEnqueues > 0 ? ` (${count(result.lateEnqueues)} enqueues dropped: ${options.maxOutstanding} already in flight)` : ''}, start p50 ${s.p50} p99 ${s.p99} ms, max backlog ${count(result.maxBacklog)}`,
  };
}
