/**
 * Creates runs. Concurrent trigger requests for the same workflow are merged into one insert (see Batcher),
 * and right after the insert commits, this engine's claim loop is woken so a free worker gets the task
 * with no polling wait; other engines are woken by the NOTIFY sent in the same statement.
 */
import { Batcher } from './batcher.ts';
import type { Driver, Queryable } from './db/driver.ts';
import { DatabaseUnreachableError, databaseErrorReason, isTransientDatabaseError } from './db/database-error.ts';
import type { EngineEvents, EnqueuedTaskRun } from './engine-events.ts';
import { isDataError } from './db/sql-state.ts';
import { uuidv7 } from './ids.ts';
import type { DirectReservation } from './scheduler/scheduler.ts';
import { runTrigger, runTriggerEarlierFind, type DirectlyAssigned, type RunToCreate } from './sql/run-trigger.ts';
import type { AssignedTask, TriggerItem } from '../shared/protocol.ts';
import type { TriggerKind } from '../shared/types.ts';
import { CleaverError, toError, unknownWorkflowError } from '../shared/errors.ts';
import { validateJson, validateMetadata } from '../shared/payload.ts';

/** Transient database errors are retried with backoff from RETRY_INITIAL_MS up to RETRY_MAX_MS apart. */
const RETRY_INITIAL_MS = 50;
const RETRY_MAX_MS = 1_000;
const DEFAULT_RETRY_BUDGET_MS = 10_000;

interface PendingTrigger {
  workflow: string;
  runs: RunToCreate[];
  resolve(runIds: string[]): void;
  reject(error: Error): void;
}

/** Checks trigger items (nothing is created if one is bad) and gives each run its ids. */
export function runsToCreate(
  items: readonly TriggerItem[],
  options: { triggerKind: TriggerKind; parent?: { taskRunId: string } | null; eventId?: string | null },
): RunToCreate[] {
  const keys = new Set<string>();
  return items.map((item, i) => {
    const where = items.length > 1 ? `items[${i}]` : 'trigger';
    if (item === null || typeof item !== 'object') throw new CleaverError('BAD_PAYLOAD', `${where} must be an object with an input`);
    if (!('input' in item) || item.input === undefined) throw new CleaverError('BAD_PAYLOAD', `${where}.input is missing; pass {} for no input`);
    const priority = item.priority ?? null;
    if (priority !== null && (!Number.isInteger(priority) || priority < 1 || priority > 3)) {
      throw new CleaverError('BAD_PAYLOAD', `${where}.priority must be 1, 2 or 3`);
    }
    let parent: RunToCreate['parent'] = null;
    if (options.parent) {
      const key = item.key ?? `#${i}`;
      if (typeof key !== 'string' || key.length === 0 || key.length > 500) throw new CleaverError('BAD_PAYLOAD', `${where}.key must be a string of 1 to 500 characters`);
      if (keys.has(key)) throw new CleaverError('BAD_PAYLOAD', `${where}.key ${JSON.stringify(key)} is used twice; each child of a task run needs its own key`);
      keys.add(key);
      parent = { taskRunId: options.parent.taskRunId, key };
    } else if (item.key !== undefined) {
      throw new CleaverError('BAD_PAYLOAD', `${where}.key is only for child runs (ctx.runChild)`);
    }
    return {
      runId: uuidv7(),
      taskRunId: uuidv7(),
      input: validateJson(item.input, `${where}.input`),
      metadata: validateMetadata(item.metadata, `${where}.metadata`),
      priority,
      triggerKind: options.triggerKind,
      parent,
      eventId: options.eventId ?? null,
    };
  });
}

export class TriggerService {
  private readonly batcher: Batcher<PendingTrigger>;
  private readonly events: EngineEvents;
  private readonly notifyFrom: string | null;
  private readonly insertInto: Queryable;
  private readonly reserve: (action: string, count: number) => DirectReservation | null;
  private readonly retryBudgetMs: number;
  /** Names seen to be standalone tasks (a name keeps its kind): their triggers use the statement's shorter shape. */
  private readonly standalone = new Set<string>();

  constructor(options: {
    driver: Driver;
    engineId: string;
    /**
     * Told `tasks.queued` (the rows the insert queued, and the actions an earlier try of it may have
     * queued) and `runs.created` (`created` counts those the insert made).
     */
    events: EngineEvents;
    /** Offers a local worker to assign new task runs to in the insert itself (Scheduler.reserve). */
    reserve: (action: string, count: number) => DirectReservation | null;
    /**
     * Acknowledge a trigger before its insert is flushed to the WAL. Faster, but a crash of the
     * database server can lose the last acknowledged triggers; off by default.
     */
    relaxedCommit?: boolean;
    /** How long a trigger keeps retrying while the database is unreachable before failing UNAVAILABLE (default 10 s). */
    retryBudgetMs?: number;
  }) {
    this.retryBudgetMs = options.retryBudgetMs ?? DEFAULT_RETRY_BUDGET_MS;
    this.reserve = options.reserve;
    this.insertInto = options.relaxedCommit ? options.driver.relaxed : options.driver;
    this.events = options.events;
    this.notifyFrom = options.driver.capabilities.listenNotify ? options.engineId : null;
    this.batcher = new Batcher({
      flush: (items) => this.flush(items),
      maxInFlight: options.driver.capabilities.multiEngine ? 4 : 1,
      maxBatch: 5000,
    });
  }

  /**
   * Creates one run of `workflow` per item (a child run of `parent` when given); resolves with the run
   * ids in item order. A child key seen before under the same parent returns the run created then.
   */
  trigger(workflow: string, items: readonly TriggerItem[], options: { parent?: { taskRunId: string } | null } = {}): Promise<string[]> {
    const runs = runsToCreate(items, { triggerKind: options.parent ? 'child' : 'manual', parent: options.parent });
    return new Promise((resolve, reject) => this.batcher.add({ workflow, runs, resolve, reject }));
  }

  private async flush(pending: PendingTrigger[]): Promise<void> {
    const byWorkflow = new Map<string, PendingTrigger[]>();
    for (const p of pending) {
      const group = byWorkflow.get(p.workflow);
      if (group) group.push(p);
      else byWorkflow.set(p.workflow, [p]);
    }
    await Promise.all([...byWorkflow].map(([workflow, group]) => this.insert(workflow, group)));
  }

  private async insert(workflow: string, group: PendingTrigger[]): Promise<void> {
    const runs = group.flatMap((p) => p.runs);
    // Two requests spawning the same child key in one statement would both be answered with the id of
    // a run only one of them inserted; such requests go one after the other, so the second finds it.
    const childKeys = runs.filter((r) => r.parent).map((r) => `${r.parent!.taskRunId}/${r.parent!.key}`);
    if (group.length > 1 && new Set(childKeys).size !== childKeys.length) {
      for (const p of group) await this.insert(workflow, [p]);
      return;
    }
    // Direct assignment is for standalone tasks, whose action is the workflow name (no worker offers a
    // workflow's name as an action). Not for children: their metadata is inherited in the insert.
    const reservation = runs.some((r) => r.parent) ? null : this.reserve(workflow, runs.length);
    let created: Created | null;
    try {
      created = await this.insertRetrying(workflow, runs, reservation);
    } catch (e: unknown) {
      reservation?.release();
      // A merged batch fails as a whole; retry its requests one by one so only a bad one fails.
      if (group.length > 1 && isDataError(e)) {
        for (const p of group) await this.insert(workflow, [p]);
        return;
      }
      const error = e instanceof CleaverError ? e : new CleaverError('DATABASE', toError(e).message, { cause: e });
      for (const p of group) p.reject(error);
      return;
    }
    if (!created) {
      reservation?.release();
      const error = unknownWorkflowError(workflow);
      for (const p of group) p.reject(error);
      return;
    }
    if (reservation) {
      const byId = new Map(runs.map((r) => [r.taskRunId, r]));
      const assigned: AssignedTask[] = created.assigned.map((a) => {
        const run = byId.get(a.taskRunId)!;
        return { taskRunId: a.taskRunId, runId: run.runId, attempt: a.attempt, action: workflow, input: run.input, metadata: run.metadata, timeoutMs: a.timeoutMs };
      });
      reservation.deliver(assigned);
    }
    if (created.queued.length > 0 || created.earlierQueuedActions.length > 0) {
      this.events.emit('tasks.queued', { rows: created.queued, actions: created.earlierQueuedActions });
    }
    this.events.emit('runs.created', { runIds: created.runIds, created: [{ workflowName: workflow, ...created.created }] });
    let at = 0;
    for (const p of group) {
      p.resolve(created.runIds.slice(at, at + p.runs.length));
      at += p.runs.length;
    }
  }

  /**
   * Runs the insert, trying again while the database is unreachable or restarting, for up to
   * retryBudgetMs. Safe because run ids were fixed before the first try: runTrigger skips runs that
   * exist, so a try that committed but lost its reply is not created twice. Only the first try assigns
   * directly; when a later one finds the runs already there, the attempts that first try assigned are
   * found and returned to be delivered under the same reservation (its worker's slots are still held),
   * so none waits for a lease to expire and none is charged to the task's retries.
   */
  private async insertRetrying(workflow: string, runs: RunToCreate[], reservation: DirectReservation | null): Promise<Created | null> {
    const deadline = Date.now() + this.retryBudgetMs;
    let delayMs = RETRY_INITIAL_MS;
    let maybeCommitted = false;
    for (let attempt = 1; ; attempt++) {
      try {
        const assignTo = attempt === 1 && reservation ? { workerId: reservation.workerId, count: reservation.count } : null;
        const created = await runTrigger(this.insertInto, { workflowName: workflow, runs, notifyFrom: this.notifyFrom, assignTo, standalone: this.standalone.has(workflow) });
        if (!created) return null;
        if (created.kind === 'task' && this.standalone.size < 10_000) this.standalone.add(workflow);
        if (created.preexisting.length === 0) return { runIds: created.runIds, queued: created.queued, earlierQueuedActions: [], assigned: created.assigned, created: created.created };
        const earlier = await runTriggerEarlierFind(this.insertInto, { runIds: created.preexisting, workerId: reservation?.workerId ?? null });
        return { runIds: created.runIds, queued: created.queued, earlierQueuedActions: earlier.queuedActions, assigned: earlier.assigned, created: created.created };
      } catch (e: unknown) {
        if (!isTransientDatabaseError(e)) throw e;
        maybeCommitted ||= !(e instanceof DatabaseUnreachableError);
        if (Date.now() + delayMs > deadline) throw unavailableError({ cause: e, maybeCommitted, runIds: runs.map((r) => r.runId), retriedMs: this.retryBudgetMs });
        await new Promise((resolve) => setTimeout(resolve, delayMs));
        delayMs = Math.min(delayMs * 2, RETRY_MAX_MS);
      }
    }
  }
}

/** What an insert made: the rows it queued itself, and the actions an earlier try of it may have queued. */
type Created = { runIds: string[]; queued: EnqueuedTaskRun[]; earlierQueuedActions: string[]; assigned: DirectlyAssigned[]; created: { runs: number; taskRuns: number } };

function unavailableError(o: { cause: unknown; maybeCommitted: boolean; runIds: string[]; retriedMs: number }): CleaverError {
  const why = `the database was unreachable for ${Math.round(o.retriedMs / 1000)} s (${databaseErrorReason(o.cause)})`;
  const message = o.maybeCommitted
    ? `${why}; the connection dropped while the runs were being created, so they may exist (run ids ${o.runIds.slice(0, 3).join(', ')}${o.runIds.length > 3 ? ', …' : ''}): look them up before triggering again`
    : `${why}; no run was created: trigger again once the database is back`;
  return new CleaverError('UNAVAILABLE', message, { cause: o.cause });
}
