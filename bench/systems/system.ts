/**
 * What the workloads need from a system under test. One module per system (cleaver.ts today;
 * graphile-worker, pg-boss and BullMQ later) implements it, so every workload runs unchanged against
 * each of them and their figures come from the same code path.
 *
 * Every system runs the same task: `noop`, no retries, whose handler (in a separate worker process)
 * computes `epochMs() - input.sentAt` as its first action and returns it as `startLatencyMs`.
 */

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
  /** Enqueues one noop with `{ sentAt }` and resolves when it has finished, with the handler's measurement. */
  runAndWait(sentAt: number): Promise<{ startLatencyMs: number }>;
  /** Enqueues `count` noops with the system's bulk API and returns as soon as they are stored. */
  enqueueMany(count: number): Promise<void>;
  /** Tasks the system itself reports as not finished yet (queued, claimed or running). */
  unfinished(): Promise<number>;
  /** Workers the system sees connected, or null when it cannot tell. */
  connectedWorkers(): Promise<number | null>;
  /** Checks the final state of every task enqueued with enqueueMany since setup. */
  verifyEnqueued(): Promise<{ succeeded: number; notSucceeded: number; firstProblem: string | null }>;
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
}
