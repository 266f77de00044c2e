/**
 * Writes what happens to attempts — starts, outcomes (from workers or from the engine's own verdicts),
 * and task logs — in self-tuning batches (see Batcher). Starts are held for START_DELAY_MS first: an
 * outcome arriving in that time replaces its start, so a short task costs one write, not two, and a
 * long one shows as running a few milliseconds late (its lease already runs from the claim).
 *
 * Nothing accepted is dropped: if the database is unreachable the batch is kept and retried with
 * backoff; if one item's data is what the database refuses, the batch is split so that only that item
 * is affected, and an output that cannot be stored becomes a failure of that attempt. Log lines past
 * their task run's cap are counted and not stored, by design (taskLogInsert).
 */
import { Batcher } from './batcher.ts';
import type { Driver } from './db/driver.ts';
import { isDataError } from './db/sql-state.ts';
import { writeWithRetry } from './db/write-retry.ts';
import type { EngineEvents } from './engine-events.ts';
import type { Logger } from './log.ts';
import type { ReleasedReservation } from './scheduler/scheduler.ts';
import type { Assigned } from './sql/task-assign.ts';
import { nothingFinished, taskFinish, taskFinishEarlierAssigned, type AttemptOutcome, type FinishResult } from './sql/task-finish.ts';
import { taskLogInsert, type LogLineToStore } from './sql/task-log.ts';
import { taskStart } from './sql/task-start.ts';
import { toError } from '../shared/errors.ts';
import { isWorkflowAction } from '../shared/workflow-definition.ts';

/** Told, after the write, whether an outcome was recorded or refused (superseded attempt). */
export type OutcomeAck = (accepted: boolean, reason?: string) => void;

type WriteItem =
  | { kind: 'start'; taskRunId: string; attempt: number; startedAt: number; workerId: string | null }
  | { kind: 'finish'; outcome: AttemptOutcome; ack?: OutcomeAck };

const START_DELAY_MS = 50;

export class AttemptWriter {
  private readonly batcher: Batcher<WriteItem>;
  /**
   * Log lines have a batcher of their own, one flush at a time: batches then commit in the order the
   * lines came, so ids (and the cap, which keeps a task run's first lines) follow the order written.
   */
  private readonly logBatcher: Batcher<LogLineToStore>;
  private readonly heldStarts = new Map<string, Extract<WriteItem, { kind: 'start' }>>();
  private startTimer: NodeJS.Timeout | null = null;
  private readonly driver: Driver;
  private readonly log: Logger;
  private readonly events: EngineEvents;
  private readonly notifyFrom: string | null;
  private readonly logCap: { maxLines: number; maxBytes: number };
  private readonly reserveReleased: (parents: readonly string[]) => ReleasedReservation | null;
  private stopped = false;

  constructor(options: {
    driver: Driver;
    log: Logger;
    /** Told `tasks.finished` after each committed finish, then `tasks.queued` for what it queued. */
    events: EngineEvents;
    /** Engine id: NOTIFY other engines of workflow tasks queued by a finish. */
    notifyFrom: string | null;
    /** What is kept of each task run's log (docs/logs.md#the-cap). */
    logCap: { maxLines: number; maxBytes: number };
    /**
     * Reserves free local slots for the children a batch's successes may release, so that the finish
     * assigns them itself (Scheduler.reserveReleased); none by default.
     */
    reserveReleased?: (parents: readonly string[]) => ReleasedReservation | null;
  }) {
    this.reserveReleased = options.reserveReleased ?? (() => null);
    this.driver = options.driver;
    this.log = options.log;
    this.events = options.events;
    this.notifyFrom = options.notifyFrom;
    this.logCap = options.logCap;
    // One flush in flight: what arrives meanwhile goes out together in the next. A slot is refilled when
    // its result arrives, not when it is written, so nothing waits for these writes but the run's end;
    // two in flight made statements half the size for no gain in latency (measured, burn-down at 10
    // slots: 3,480 → 4,290 tasks/s on Postgres, 1,810 → 2,020 on PGlite; at 100 slots 10,740 → 12,670;
    // light load, the open loop and DAG chains unchanged or better).
    this.batcher = new Batcher({ flush: (items) => this.flush(items), maxInFlight: 1, maxBatch: 2000 });
    this.logBatcher = new Batcher({ flush: (lines) => this.guard('task logs', () => this.writeLogs(lines)), maxInFlight: 1, maxBatch: 2000 });
  }

  /** A worker reports it started an attempt; recorded only while that worker holds the attempt. */
  start(start: { taskRunId: string; attempt: number; startedAt: number; workerId: string | null }): void {
    this.heldStarts.set(`${start.taskRunId}:${start.attempt}`, { kind: 'start', ...start });
    this.startTimer ??= setTimeout(() => this.releaseStarts(), START_DELAY_MS);
  }

  finish(outcome: AttemptOutcome, ack?: OutcomeAck): void {
    this.heldStarts.delete(`${outcome.taskRunId}:${outcome.attempt}`);
    this.batcher.add({ kind: 'finish', outcome, ack });
  }

  /**
   * Ends attempts whose worker is gone (WORKER_LOST: retried, free up to an allowance, see
   * MAX_FREE_WORKER_LOST_RETRIES). With `lostSession`, only while that session is still the worker's.
   */
  finishLost(
    attempts: ReadonlyArray<{ taskRunId: string; attempt: number; lostSession?: AttemptOutcome['lostSession'] }>,
    why: string,
  ): void {
    this.finishMany(
      attempts.map((a) => ({
        taskRunId: a.taskRunId,
        attempt: a.attempt,
        ok: false,
        reason: 'WORKER_LOST',
        error: { message: why, name: 'WorkerLost' },
        lostSession: a.lostSession ?? null,
      })),
    );
  }

  finishMany(outcomes: AttemptOutcome[]): void {
    for (const o of outcomes) this.heldStarts.delete(`${o.taskRunId}:${o.attempt}`);
    this.batcher.addMany(outcomes.map((outcome) => ({ kind: 'finish' as const, outcome })));
  }

  private releaseStarts(): void {
    if (this.startTimer) clearTimeout(this.startTimer);
    this.startTimer = null;
    if (this.heldStarts.size === 0) return;
    const starts = [...this.heldStarts.values()];
    this.heldStarts.clear();
    this.batcher.addMany(starts);
  }

  appendLog(line: LogLineToStore): void {
    this.logBatcher.add(line);
  }

  get pending(): number {
    return this.batcher.size + this.logBatcher.size;
  }

  /** Waits until everything handed over so far is written. */
  async drain(): Promise<void> {
    this.releaseStarts();
    await Promise.all([this.batcher.idle(), this.logBatcher.idle()]);
  }

  /** Stops retrying after the current attempt (used when the engine shuts down for good). */
  stop(): void {
    this.stopped = true;
  }

  private async flush(items: WriteItem[]): Promise<void> {
    const finishes: Array<Extract<WriteItem, { kind: 'finish' }>> = [];
    const startsByKey = new Map<string, Extract<WriteItem, { kind: 'start' }>>();
    for (const item of items) {
      if (item.kind === 'finish') finishes.push(item);
      else startsByKey.set(`${item.taskRunId}:${item.attempt}`, item);
    }
    for (const f of finishes) startsByKey.delete(`${f.outcome.taskRunId}:${f.outcome.attempt}`);
    const starts = [...startsByKey.values()];
    await Promise.all([
      starts.length > 0 ? this.guard('task starts', () => this.withRetry('task starts', () => taskStart(this.driver.relaxed, { starts }))) : undefined,
      finishes.length > 0 ? this.guard('attempt outcomes', () => this.writeFinishes(finishes)) : undefined,
    ]);
  }

  /** Only reached when the engine is stopping (retries end) or on a bug: say so, never reject the batcher. */
  private async guard(what: string, write: () => Promise<unknown>): Promise<void> {
    try {
      await write();
    } catch (e: unknown) {
      this.log.error(`writing ${what} failed`, { error: toError(e).message });
    }
  }

  /**
   * A batch of standalone tasks' outcomes is written with the finish statement's shorter shape; what
   * that shape did not finish (superseded attempts, or a hint that was wrong) goes through the full
   * shape next, which finishes it or refuses it for good. Each shape is its own write, retried alone.
   *
   * Before a full one, slots are reserved for the children its successes may release, and the finish
   * assigns those it releases there; the reservation is given back on every path (deliver, fenced,
   * release). A try after one that failed may follow a try that committed and lost its reply: the
   * children that try assigned, pushed by nobody, are read back and delivered under the same
   * reservation (their slots are still held), as a trigger finds its earlier runs.
   */
  private async writeFinishes(items: Array<Extract<WriteItem, { kind: 'finish' }>>, full = false): Promise<void> {
    const standaloneOnly = !full && items.every((i) => i.outcome.action !== undefined && !isWorkflowAction(i.outcome.action));
    const parents = standaloneOnly ? [] : items.filter((i) => i.outcome.ok && i.outcome.action !== undefined && isWorkflowAction(i.outcome.action));
    const reservation = parents.length > 0 ? this.reserveReleased(parents.map((i) => i.outcome.action!)) : null;
    let finished: FinishResult;
    let tries = 0;
    let earlier: Assigned[] = [];
    try {
      finished = await this.withRetry('attempt outcomes', async () => {
        tries++;
        const result = await taskFinish(this.driver.relaxed, { outcomes: items.map((i) => i.outcome), notifyFrom: this.notifyFrom, standaloneOnly, direct: reservation });
        // Even when this try was fenced: what an earlier one assigned was written while the lease was held.
        if (tries > 1 && reservation) {
          const here = new Set(result.assigned.map((a) => a.task.taskRunId));
          const found = await taskFinishEarlierAssigned(this.driver.relaxed, { parentTaskRunIds: parents.map((i) => i.outcome.taskRunId), slots: reservation.slots });
          earlier = found.filter((a) => !here.has(a.task.taskRunId));
        }
        return result;
      });
    } catch (e: unknown) {
      reservation?.release();
      if (!isDataError(e)) throw e;
      if (items.length > 1) {
        for (const item of items) await this.writeFinishes([item], full);
        return;
      }
      finished = await this.writeUnstorable(items[0]!, toError(e));
    }
    if (reservation) {
      if (!finished.fenced) reservation.deliver(finished.assigned);
      if (earlier.length > 0) reservation.deliver(earlier, { found: true });
      if (finished.fenced) reservation.fenced();
    }
    const accepted = new Set(finished.attempts.map((f) => `${f.taskRunId}:${f.attempt}`));
    const rest: typeof items = [];
    for (const item of items) {
      const ok = accepted.has(`${item.outcome.taskRunId}:${item.outcome.attempt}`);
      if (!ok && standaloneOnly) rest.push(item);
      else item.ack?.(ok, ok ? undefined : 'attempt is no longer current (superseded, timed out or already finished)');
    }
    if (finished.attempts.length > 0) this.finished(finished);
    if (rest.length > 0) await this.writeFinishes(rest, true);
  }

  /** In this order: the scheduler must learn of ended task runs (their keys free) before it is woken for their retries. */
  private finished(finished: FinishResult): void {
    this.events.emit('tasks.finished', finished);
    const retries = [];
    for (const f of finished.attempts) if (f.status === 'queued') retries.push({ action: f.action, delayMs: f.retryDelayMs });
    if (retries.length > 0 || finished.queued.length > 0) this.events.emit('tasks.queued', { retries, rows: finished.queued });
  }

  /** The database refused this one outcome's data: record the attempt as failed, saying why. */
  private async writeUnstorable(item: Extract<WriteItem, { kind: 'finish' }>, error: Error): Promise<FinishResult> {
    this.log.warn('attempt outcome refused by the database', { taskRun: item.outcome.taskRunId, error: error.message });
    const replacement: AttemptOutcome = {
      taskRunId: item.outcome.taskRunId,
      attempt: item.outcome.attempt,
      ok: false,
      reason: 'ERROR',
      nonRetryable: true,
      error: { message: `the engine could not store this attempt's result: ${error.message}`, name: 'CleaverError' },
      startedAt: item.outcome.startedAt,
      finishedAt: item.outcome.finishedAt,
    };
    try {
      return await this.withRetry('attempt outcome', () => taskFinish(this.driver.relaxed, { outcomes: [replacement], notifyFrom: this.notifyFrom }));
    } catch (e: unknown) {
      this.log.error('attempt outcome could not be written', { taskRun: item.outcome.taskRunId, error: toError(e).message });
      return nothingFinished();
    }
  }

  private async writeLogs(items: LogLineToStore[]): Promise<void> {
    try {
      await this.withRetry('task logs', () => taskLogInsert(this.driver.relaxed, { lines: items, ...this.logCap }));
    } catch (e: unknown) {
      if (items.length > 1 && isDataError(e)) {
        for (const item of items) await this.writeLogs([item]);
        return;
      }
      this.log.warn('task log line dropped', { taskRun: items[0]?.taskRunId, error: toError(e).message });
    }
  }

  private withRetry<T>(what: string, write: () => Promise<T>): Promise<T> {
    return writeWithRetry(what, write, { log: this.log, stopped: () => this.stopped });
  }
}
