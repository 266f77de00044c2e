/**
 * Creates runs. Concurrent trigger requests for the same task are merged into one insert (see Batcher),
 * and right after the insert commits, this engine's claim loop is woken so a free worker gets the task
 * with no polling wait; other engines are woken by the NOTIFY sent in the same statement.
 */
import { Batcher } from './batcher.ts';
import type { Driver, Queryable } from './db/driver.ts';
import { isDataError } from './db/sql-state.ts';
import { uuidv7 } from './ids.ts';
import type { DirectReservation } from './scheduler/claim-loop.ts';
import { runTrigger, type RunToCreate } from './sql/run-trigger.ts';
import type { AssignedTask, TriggerItem } from '../shared/protocol.ts';
import { CleaverError, toError } from '../shared/errors.ts';
import { validateJson, validateMetadata } from '../shared/payload.ts';

interface PendingTrigger {
  task: string;
  runs: RunToCreate[];
  resolve(runIds: string[]): void;
  reject(error: Error): void;
}

export class TriggerService {
  private readonly batcher: Batcher<PendingTrigger>;
  private readonly onQueued: (action: string) => void;
  private readonly notifyFrom: string | null;
  private readonly insertInto: Queryable;
  private readonly reserve: (action: string, count: number) => DirectReservation | null;

  constructor(options: {
    driver: Driver;
    engineId: string;
    onQueued: (action: string) => void;
    /** Offers a local worker to assign new task runs to in the insert itself (ClaimLoop.reserve). */
    reserve: (action: string, count: number) => DirectReservation | null;
    /**
     * Acknowledge a trigger before its insert is flushed to the WAL. Faster, but a crash of the
     * database server can lose the last acknowledged triggers; off by default.
     */
    relaxedCommit?: boolean;
  }) {
    this.reserve = options.reserve;
    this.insertInto = options.relaxedCommit ? options.driver.relaxed : options.driver;
    this.onQueued = options.onQueued;
    this.notifyFrom = options.driver.capabilities.listenNotify ? options.engineId : null;
    this.batcher = new Batcher({
      flush: (items) => this.flush(items),
      maxInFlight: options.driver.capabilities.multiEngine ? 4 : 1,
      maxBatch: 5000,
    });
  }

  /** Validates every item first (nothing is inserted if one is bad), then creates one run per item. */
  trigger(task: string, items: readonly TriggerItem[]): Promise<string[]> {
    const runs: RunToCreate[] = items.map((item, i) => {
      const where = items.length > 1 ? `items[${i}]` : 'trigger';
      if (item === null || typeof item !== 'object') throw new CleaverError('BAD_PAYLOAD', `${where} must be an object with an input`);
      if (!('input' in item) || item.input === undefined) throw new CleaverError('BAD_PAYLOAD', `${where}.input is missing; pass {} for no input`);
      const priority = item.priority ?? null;
      if (priority !== null && (!Number.isInteger(priority) || priority < 1 || priority > 3)) {
        throw new CleaverError('BAD_PAYLOAD', `${where}.priority must be 1, 2 or 3`);
      }
      return {
        runId: uuidv7(),
        taskRunId: uuidv7(),
        input: validateJson(item.input, `${where}.input`),
        metadata: validateMetadata(item.metadata, `${where}.metadata`),
        priority,
      };
    });
    return new Promise((resolve, reject) => this.batcher.add({ task, runs, resolve, reject }));
  }

  private async flush(pending: PendingTrigger[]): Promise<void> {
    const byTask = new Map<string, PendingTrigger[]>();
    for (const p of pending) {
      const group = byTask.get(p.task);
      if (group) group.push(p);
      else byTask.set(p.task, [p]);
    }
    await Promise.all([...byTask].map(([task, group]) => this.insert(task, group)));
  }

  private async insert(task: string, group: PendingTrigger[]): Promise<void> {
    const runs = group.flatMap((p) => p.runs);
    // For a standalone task the workflow name is its action.
    const reservation = this.reserve(task, runs.length);
    try {
      const created = await runTrigger(this.insertInto, {
        workflowName: task,
        runs,
        triggerKind: 'manual',
        notifyFrom: this.notifyFrom,
        assignTo: reservation ? { workerId: reservation.workerId, count: reservation.count } : null,
      });
      if (!created) {
        reservation?.release();
        const error = new CleaverError('UNKNOWN_TASK', `no task named ${JSON.stringify(task)} is registered; start a worker that declares it, or check the name`);
        for (const p of group) p.reject(error);
        return;
      }
      if (reservation) {
        const byId = new Map(runs.map((r) => [r.taskRunId, r]));
        const assigned: AssignedTask[] = created.assigned.map((a) => {
          const run = byId.get(a.taskRunId)!;
          return { taskRunId: a.taskRunId, runId: run.runId, attempt: a.attempt, action: created.action, input: run.input, metadata: run.metadata, timeoutMs: a.timeoutMs };
        });
        reservation.deliver(assigned);
      }
      if (created.assigned.length < runs.length) this.onQueued(created.action);
      for (const p of group) p.resolve(p.runs.map((r) => r.runId));
    } catch (e: unknown) {
      reservation?.release();
      // A merged batch fails as a whole; retry its requests one by one so only a bad one fails.
      if (group.length > 1 && isDataError(e)) {
        for (const p of group) await this.insert(task, [p]);
        return;
      }
      const error = e instanceof CleaverError ? e : new CleaverError('DATABASE', toError(e).message, { cause: e });
      for (const p of group) p.reject(error);
    }
  }
}
