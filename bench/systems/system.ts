/**
 * What the workloads need from a system under test. One module per system (cleaver.ts, graphile-worker.ts,
 * pg-boss.ts, bullmq.ts) implements it, so every workload runs unchanged against each of them and their
 * figures come from the same code path.
 *
 * Every system runs the same task: `noop`, no retries, whose handler (in a worker process separate from
 * the producer, which is the benchmark process) reads `epochMs() - input.sentAt` as its first action
 * and records it in the worker's histogram (bench/lib/worker-tally.ts), unless `input.warmup`.
 */
import type { RunCount, RunCountParams, RunListPage, RunListParams } from 'cleaver-sdk';
import type { LatencySummary } from '../lib/stats.ts';

export interface SystemUnderTest {
  /** Short id used in tables and results, e.g. "cleaver-pg". */
  readonly id: string;
  /** One line for humans, e.g. "Cleaver 0.1.0 on Postgres 15.2". */
  readonly label: string;
  /** Versions and durability settings that explain the figures; stored in the results file. */
  describe(): Promise<Record<string, string>>;
  /**
   * Brings up fresh, empty state (a new schema or data dir, a new engine) and leaves the system able to
   * accept `noop` enqueues while no worker is connected.
   */
  setup(): Promise<void>;
  /**
   * Starts a worker process with `slots` concurrency; resolves once it reports itself ready. With
   * `expect`, the worker also reports when its handler has run that many times (see BenchWorker).
   */
  startWorker(options: { slots: number; expect?: number }): Promise<BenchWorker>;
  /**
   * Enqueues one noop with `input` and resolves once the system has recorded it finished (and that has
   * reached the producer); the handler's enqueue→start reading goes to the worker's report.
   */
  runAndWait(input: { sentAt: number; warmup: boolean }): Promise<void>;
  /** Enqueues one noop with `input` and returns as soon as it is stored (the system's single-job API). */
  enqueueOne(input: { sentAt: number; warmup?: boolean }): Promise<void>;
  /** Enqueues `count` noops with the system's bulk API and returns as soon as they are stored. */
  enqueueMany(count: number): Promise<void>;
  /** Tasks the system itself reports as not finished yet (queued, claimed or running). */
  unfinished(): Promise<number>;
  /** Workers the system sees connected, or null when it cannot tell. */
  connectedWorkers(): Promise<number | null>;
  /** Checks the final state of every task enqueued with enqueueMany since setup. */
  verifyEnqueued(): Promise<{ succeeded: number; notSucceeded: number; firstProblem: string | null }>;
  /**
   * Resident memory (bytes) of the process that holds the queue's state in memory — Cleaver's engine,
   * with any process it starts — or absent when the system has no such process of its own (the peers
   * are libraries over Postgres or Redis).
   */
  engineRssBytes?(): Promise<number>;
  /**
   * DAG workloads (bench/workloads/dag.ts). A system without it is skipped for those workloads.
   */
  readonly dag?: DagSupport;
  /** Burn-downs with something in the way (bench/workloads/burn-down.ts); a system skips each it lacks. */
  readonly burnDownVariants?: BurnDownVariants;
  /** The run list at scale (bench/workloads/run-list.ts): Cleaver's own, no peer has one to compare. */
  readonly runList?: RunListSupport;
  /** Workloads (their ids in bench/plan.ts) this system cannot run meaningfully, each with the reason the report prints. */
  readonly skips?: Readonly<Record<string, string>>;
  /** Stops every process of this setup and removes its state; safe after a failed or partial setup. */
  teardown(): Promise<void>;
  /** Releases what all setups share (templates, caches); called once, at the end of the benchmark. */
  dispose(): Promise<void>;
}

export interface BenchWorker {
  /** performance.now() in the benchmark process when the worker's `ready` line was read. */
  readonly readyAt: number;
  /** Rejects if the worker process exits before stop() is called. */
  readonly died: Promise<never>;
  /** Resolves (with performance.now() here) once the handler has run `expect` times; never without `expect`. */
  readonly allExecuted: Promise<number>;
  /** Drains the worker (running tasks finish and are acknowledged), ends the process, returns its counts. */
  stop(): Promise<WorkerReport>;
}

/** What a worker process counted, sent on its last line. */
export interface WorkerReport {
  /** Handler invocations. */
  executed: number;
  /** Distinct task ids among them: fewer than `executed` means some task ran twice. */
  distinct: number;
  /** Invocations that were a retry (attempt > 1). */
  retried: number;
  /** Worker-clock milliseconds from calling start() to the last handler invocation (null if none ran). */
  startToLastMs: number | null;
  /** enqueue→start over the tasks that carried `sentAt` and not `warmup` (null if none did). */
  startLatencyMs: LatencySummary | null;
  /** Readings among them below zero: a cross-process clock disagreement. */
  negativeStartLatencies: number;
}

/** What a burn-down preloads and drains: the system's plain noop (the system itself), or a variant's. */
export type BurnDownTarget = Pick<SystemUnderTest, 'enqueueMany' | 'startWorker'>;

/**
 * What a system offers for the burn-down variants, each measured against the same system's plain
 * burn-down in the same run; a system skips each it lacks. Those that put flow control in front of the
 * noop return its BurnDownTarget: an enqueue of the noop declared with the key or limit (its runs
 * counted in verifyEnqueued) and a worker that offers that declaration, not the plain noop.
 */
export interface BurnDownVariants {
  /**
   * Queues `count` runs of a task no benchmark worker offers (so they stay queued for the whole
   * measurement), through the system's bulk API; they are left out of verifyEnqueued.
   */
  backlog?(count: number): Promise<void>;
  /**
   * The noop behind one concurrency key admitting `maxRuns` runs of a key at once, its runs spread over
   * `keys` keys in turn (the i-th enqueued gets key i % keys).
   */
  keyed?(options: { keys: number; maxRuns: number }): Promise<BurnDownTarget>;
  /** The noop behind a rate limit of `perMinute` units a minute, each run taking one; the limit made first. */
  rateLimited?(options: { perMinute: number }): Promise<BurnDownTarget>;
}

/** What the run-list workload needs: the system's history loaded in bulk, and its list and count as a console asks. */
export interface RunListSupport {
  /**
   * Writes `runs` runs (and their task runs) straight into the database, as one month of history
   * (bench/lib/run-list-data.ts), and refreshes the planner's statistics; the engine is stopped around it
   * if it must be. Resolves with what was loaded.
   */
  load(options: { runs: number; endMs: number; spanMs: number }): Promise<{ loadMs: number; sizes: Record<string, string> }>;
  list(params: RunListParams): Promise<RunListPage>;
  count(params: RunCountParams): Promise<RunCount>;
}

export type DagShape = 'chain' | 'diamond';

export const DAG_SHAPES: Record<DagShape, { label: string; tasks: number }> = {
  chain: { label: '5-step chain', tasks: 5 },
  diamond: { label: '1→8→1 diamond', tasks: 10 },
};

export interface DagSupport {
  /** How the system expresses the DAG (native flows, or chaining/counters the harness emulates), for the results file. */
  readonly how: Record<DagShape, string>;
  /**
   * Starts one DAG of `shape` whose first step carries `sentAt`, and resolves when the system has recorded
   * its last step finished and that has reached the producer. A worker from startWorker runs its steps.
   */
  run(shape: DagShape, input: { sentAt: number; warmup: boolean }): Promise<void>;
}
