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
 */
import { StepTimeoutError, sleep, withTimeout } from '../lib/deadline.ts';
import { round2 } from '../lib/stats.ts';
import type { SystemUnderTest } from '../systems/system.ts';

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
}

export async function burnDown(sut: SystemUnderTest, options: BurnDownOptions): Promise<BurnDownResult> {
  const connected = await sut.connectedWorkers();
  if (connected !== null && connected > 0) throw new Error(`${sut.id} burn-down: ${connected} worker(s) connected before the preload; the backlog must be stored with none`);
  const before = await sut.unfinished();
  if (before !== 0) throw new Error(`${sut.id} burn-down: ${before} tasks unfinished before the preload; setup must start empty`);

  const preloadStart = performance.now();
  for (let done = 0, chunk = 1; done < options.tasks; chunk++) {
    const count = Math.min(options.chunk, options.tasks - done);
    await withTimeout(`${sut.id} burn-down: preloading chunk ${chunk} (${count} tasks)`, options.chunkTimeoutMs, sut.enqueueMany(count));
    done += count;
  }
  const preloadMs = performance.now() - preloadStart;
  const queued = await sut.unfinished();
  if (queued !== options.tasks) throw new Error(`${sut.id} burn-down: ${options.tasks} tasks preloaded but ${queued} reported unfinished`);

  const worker = await sut.startWorker({ slots: options.slots, expect: options.tasks });
  const start = worker.readyAt;
  const drainDeadline = start + options.drainTimeoutMs;
  const stalled = async (): Promise<never> => {
    const unfinished = await withTimeout(`${sut.id} burn-down: status after the drain deadline`, 10_000, sut.unfinished()).catch(() => 'an unknown number of');
    throw new Error(`${sut.id} burn-down: ${unfinished} of ${options.tasks} tasks still unfinished ${Math.round(options.drainTimeoutMs / 1000)} s after the worker was ready`);
  };
  let allExecutedAt: number;
  try {
    allExecutedAt = await withTimeout(`${sut.id} burn-down: executing every task`, options.drainTimeoutMs, Promise.race([worker.allExecuted, worker.died]));
  } catch (e: unknown) {
    if (e instanceof StepTimeoutError) await stalled();
    throw e;
  }
  let polls = 0;
  let lastBusyPollSentAt = allExecutedAt;
  let end: number;
  for (;;) {
    const sentAt = performance.now();
    const unfinished = await withTimeout(`${sut.id} burn-down: status poll`, 10_000, Promise.race([sut.unfinished(), worker.died]));
    polls++;
    if (unfinished === 0) {
      end = performance.now();
      break;
    }
    lastBusyPollSentAt = sentAt;
    if (performance.now() > drainDeadline) await stalled();
    await sleep(Math.max(0, sentAt + options.pollIntervalMs - performance.now()));
  }

  const report = await worker.stop();
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
  };
}
