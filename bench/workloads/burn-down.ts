/**
 * Burn-down throughput: a backlog of no-op tasks is stored while no worker is connected, then ONE worker
 * process drains it. The clock runs from the moment the benchmark reads the worker's `ready` line to
 * the first status poll that finds nothing queued, claimed or running — so every result is written
 * back, not just executed. Polls are `pollIntervalMs` apart: the end is known to within one interval
 * plus one status round trip, and the reported figure takes the late edge (it never flatters).
 *
 * Polling starts only once the worker says its handler has run once per task: the drain cannot end
 * sooner (every task needs at least one execution), and polling all along would slow what it measures —
 * the status count grows with the backlog (~15 ms at 50,000 tasks on PGlite), and on PGlite it holds
 * the engine's only connection meanwhile. Measured on PGlite, 50,000 tasks, slots 100: 2,000-3,000
 * tasks/s polling throughout against 3,200-4,300 polling only at the end.
 *
 * A variant (`BurnDownOptions.variant`) is the same drain with something in its way, prepared on the
 * fresh system before the preload: a backlog of another task that no worker offers, which must stay
 * queued, all of it, while the burn-down's own tasks drain; or flow control in front of the noop (a
 * concurrency key, a rate limit), for which the variant hands back its own target — the noop declared
 * with the key or limit, its own enqueue and worker — the drain and every check unchanged.
 */
import { StepTimeoutError, sleep, withTimeout } from '../lib/deadline.ts';
import { round2 } from '../lib/stats.ts';
import type { BenchWorker, BurnDownTarget, BurnDownVariants, SystemUnderTest } from '../systems/system.ts';

export interface BurnDownVariant {
  /** For the results: what is in the way, e.g. "1,000,000 runs of another task queued". */
  description: string;
  /**
   * Runs on the fresh system before the preload. `untouched`: how many tasks it left unfinished that
   * are not the burn-down's (they count in `unfinished()` and must all be there at the end).
   */
  prepare(sut: SystemUnderTest): Promise<{ target: BurnDownTarget; untouched: number; prepareMs: number }>;
}

export interface BurnDownOptions {
  tasks: number;
  /** Tasks per bulk enqueue call. */
  chunk: number;
  slots: number;
  pollIntervalMs: number;
  /** Deadline for the drain, from `ready`. */
  drainTimeoutMs: number;
  /** Deadline for one bulk enqueue call. */
  chunkTimeoutMs: number;
  variant?: BurnDownVariant;
}

export interface BurnDownResult {
  tasks: number;
  slots: number;
  /** Throughput over [ready, first empty poll]: the headline figure. */
  tasksPerSecond: number;
  durationMs: number;
  /**
   * The drain certainly took longer than this: the last poll that still saw work was sent here (or, if
   * the first poll found it done, the worker had just reported its last first-execution).
   */
  durationLowerBoundMs: number;
  polls: number;
  pollIntervalMs: number;
  /** From `ready` to the worker's last first-execution, when polling began. */
  allExecutedMs: number;
  /** The worker's own clock from calling start() to its last handler call (excludes the last result write). */
  workerStartToLastMs: number | null;
  preloadMs: number;
  preloadTasksPerSecond: number;
  /** The variant's description, its preparation time and the other tasks it left unfinished (all still there at the end); null for a plain burn-down. */
  variant: { description: string; prepareMs: number; untouched: number } | null;
  /** How long the status poll that found the drain done took: the figure's end includes it. */
  lastPollMs: number;
}

/**
 * `count` runs of another task, one no benchmark worker offers, queued through the system's bulk API in
 * calls of `chunk` before the preload (older than every task of the burn-down, as a real backlog would be).
 */
export function backlogVariant(options: { count: number; chunk: number; chunkTimeoutMs: number }): BurnDownVariant {
  return {
    description: `${options.count.toLocaleString('en-US')} runs of another task queued`,
    prepare: async (sut) => {
      const backlog = sut.burnDownVariants?.backlog;
      if (!backlog) throw new Error(`${sut.id} has no backlog variant (SystemUnderTest.burnDownVariants.backlog)`);
      const began = performance.now();
      for (let done = 0, call = 1; done < options.count; call++) {
        const count = Math.min(options.chunk, options.count - done);
        await withTimeout(`${sut.id} burn-down: queuing the backlog, call ${call} (${count} runs)`, options.chunkTimeoutMs, backlog(count));
        done += count;
      }
      return { target: sut, untouched: options.count, prepareMs: performance.now() - began };
    },
  };
}

/**
 * The noop behind one concurrency key, runs spread over `keys` keys with at most `maxRuns` of a key
 * running at once. With keys × maxRuns above the worker's slots the key never binds in a steady drain:
 * what it measures is the cost of evaluating and holding keys, not waiting on them.
 */
export function keyedVariant(options: { keys: number; maxRuns: number }): BurnDownVariant {
  return flowControlVariant({
    description: `noop behind a concurrency key (${options.keys.toLocaleString('en-US')} keys, maxRuns ${options.maxRuns})`,
    method: 'keyed',
    target: (variants) => variants.keyed?.(options),
  });
}

/** The noop behind a rate limit of `perMinute` a minute, one unit a run: far above the drain's rate, it measures the check, not a throttle. */
export function rateLimitedVariant(options: { perMinute: number }): BurnDownVariant {
  return flowControlVariant({
    description: `noop behind a rate limit (${options.perMinute.toLocaleString('en-US')} a minute)`,
    method: 'rateLimited',
    target: (variants) => variants.rateLimited?.(options),
  });
}

function flowControlVariant(options: {
  description: string;
  method: 'keyed' | 'rateLimited';
  /** The system's target for the variant, or undefined when it has none. */
  target: (variants: BurnDownVariants) => Promise<BurnDownTarget> | undefined;
}): BurnDownVariant {
  return {
    description: options.description,
    prepare: async (sut) => {
      const began = performance.now();
      const target = sut.burnDownVariants && options.target(sut.burnDownVariants);
      if (!target) throw new Error(`${sut.id} has no ${options.method} variant (SystemUnderTest.burnDownVariants.${options.method})`);
      return { target: await target, untouched: 0, prepareMs: performance.now() - began };
    },
  };
}

export async function burnDown(sut: SystemUnderTest, options: BurnDownOptions): Promise<BurnDownResult> {
  const connected = await sut.connectedWorkers();
  if (connected !== null && connected > 0) throw new Error(`${sut.id} burn-down: ${connected} worker(s) connected before the preload; the backlog must be stored with none`);
  const before = await sut.unfinished();
  if (before !== 0) throw new Error(`${sut.id} burn-down: ${before} tasks unfinished before the preload; setup must start empty`);
  const prepared = options.variant ? await options.variant.prepare(sut) : { target: sut, untouched: 0, prepareMs: 0 };
  const { target, untouched } = prepared;
  let worker: BenchWorker | null = null;
  /** The burn-down's own unfinished tasks; fails if any of the variant's untouched ones went missing. */
  const ownUnfinished = async (): Promise<number> => {
    const unfinished = await Promise.race([sut.unfinished(), ...(worker ? [worker.died] : [])]);
    if (unfinished < untouched) throw new Error(`${sut.id} burn-down: ${unfinished} tasks unfinished, fewer than the ${untouched} the variant left queued: some of them ended`);
    return unfinished - untouched;
  };

  const preloadStart = performance.now();
  for (let done = 0, chunk = 1; done < options.tasks; chunk++) {
    const count = Math.min(options.chunk, options.tasks - done);
    await withTimeout(`${sut.id} burn-down: preloading chunk ${chunk} (${count} tasks)`, options.chunkTimeoutMs, target.enqueueMany(count));
    done += count;
  }
  const preloadMs = performance.now() - preloadStart;
  const queued = await ownUnfinished();
  if (queued !== options.tasks) throw new Error(`${sut.id} burn-down: ${options.tasks} tasks preloaded but ${queued} reported unfinished`);

  worker = await target.startWorker({ slots: options.slots, expect: options.tasks });
  const started = worker;
  const start = started.readyAt;
  const drainDeadline = start + options.drainTimeoutMs;
  const stalled = async (): Promise<never> => {
    const unfinished = await withTimeout(`${sut.id} burn-down: status after the drain deadline`, 10_000, ownUnfinished()).catch(() => 'an unknown number of');
    throw new Error(`${sut.id} burn-down: ${unfinished} of ${options.tasks} tasks still unfinished ${Math.round(options.drainTimeoutMs / 1000)} s after the worker was ready`);
  };
  let allExecutedAt: number;
  try {
    allExecutedAt = await withTimeout(`${sut.id} burn-down: executing every task`, options.drainTimeoutMs, Promise.race([started.allExecuted, started.died]));
  } catch (e: unknown) {
    if (e instanceof StepTimeoutError) await stalled();
    throw e;
  }
  let polls = 0;
  let lastBusyPollSentAt = allExecutedAt;
  let end: number;
  let lastPollMs: number;
  for (;;) {
    const sentAt = performance.now();
    const unfinished = await withTimeout(`${sut.id} burn-down: status poll`, 10_000, ownUnfinished());
    polls++;
    if (unfinished === 0) {
      end = performance.now();
      lastPollMs = end - sentAt;
      break;
    }
    lastBusyPollSentAt = sentAt;
    if (performance.now() > drainDeadline) await stalled();
    await sleep(Math.max(0, sentAt + options.pollIntervalMs - performance.now()));
  }

  const report = await started.stop();
  const left = await ownUnfinished();
  if (left !== 0) throw new Error(`${sut.id} burn-down: ${left} tasks unfinished after the drain had ended`);
  if (report.executed !== options.tasks || report.distinct !== options.tasks || report.retried !== 0) {
    throw new Error(`${sut.id} burn-down: the worker ran ${report.executed} handlers for ${report.distinct} distinct tasks (${report.retried} retries); expected exactly ${options.tasks} tasks, each once`);
  }
  const verified = await withTimeout(`${sut.id} burn-down: checking every run's outcome`, 120_000, sut.verifyEnqueued());
  if (verified.succeeded !== options.tasks || verified.notSucceeded !== 0) {
    throw new Error(`${sut.id} burn-down: ${verified.succeeded} of ${options.tasks} runs succeeded, ${verified.notSucceeded} did not${verified.firstProblem ? ` (first: ${verified.firstProblem})` : ''}`);
  }

  const durationMs = end - start;
  return {
    tasks: options.tasks,
    slots: options.slots,
    tasksPerSecond: Math.round(options.tasks / (durationMs / 1000)),
    durationMs: round2(durationMs),
    durationLowerBoundMs: round2(lastBusyPollSentAt - start),
    polls,
    pollIntervalMs: options.pollIntervalMs,
    allExecutedMs: round2(allExecutedAt - start),
    workerStartToLastMs: report.startToLastMs === null ? null : round2(report.startToLastMs),
    preloadMs: round2(preloadMs),
    preloadTasksPerSecond: Math.round(options.tasks / (preloadMs / 1000)),
    variant: options.variant ? { description: options.variant.description, prepareMs: round2(prepared.prepareMs), untouched } : null,
    lastPollMs: round2(lastPollMs),
  };
}
