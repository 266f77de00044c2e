// A trigger whose database connection fails is retried inside the engine, and a retry never creates a
// run twice — including when the failed try had committed (only its reply was lost) and had assigned
// task runs directly to a worker. Faults are injected around the real statements, on both drivers.
import { randomUUID } from 'node:crypto';
import { beforeEach, expect, it } from 'vitest';
import { forEachDriver } from './drivers.ts';
import type { Driver, Queryable, Sql } from '../../engine/db/driver.ts';
import { DatabaseUnreachableError, toDatabaseError } from '../../engine/db/database-error.ts';
import { createEngineEvents } from '../../engine/engine-events.ts';
import { silentLogger } from '../../engine/log.ts';
import type { DirectReservation } from '../../engine/scheduler/scheduler.ts';
import { workflowRegister } from '../../engine/sql/workflow-register.ts';
import { TriggerService } from '../../engine/trigger-service.ts';
import type { AssignedTask } from '../../shared/protocol.ts';
import { CleaverError } from '../../shared/errors.ts';

/** What the trigger statement does on its next tries: run, or fail in one of the ways a connection fails. */
type Fault = 'ok' | 'commit-then-drop' | 'drop' | 'refused';

const ADMIN_SHUTDOWN = { code: '57P01', severity: 'FATAL', message: 'terminating connection due to administrator command' };

/** The driver with the trigger statement's outcome scripted, one fault per try ('ok' once the script ends). */
function faulty(real: Driver, script: Fault[]): Driver {
  const run = async (db: Queryable, sql: Sql, params?: readonly unknown[]) => {
    if (typeof sql === 'string' || sql.name !== 'cleaver_run_trigger') return db.query(sql, params);
    const fault = script.shift() ?? 'ok';
    if (fault === 'refused') throw new DatabaseUnreachableError(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' }));
    if (fault === 'drop') throw toDatabaseError(ADMIN_SHUTDOWN);
    const result = await db.query(sql, params);
    if (fault === 'commit-then-drop') throw toDatabaseError(ADMIN_SHUTDOWN);
    return result;
  };
  return {
    kind: real.kind,
    capabilities: real.capabilities,
    description: real.description,
    query: ((sql: Sql, params?: readonly unknown[]) => run(real, sql, params)) as Driver['query'],
    relaxed: { query: ((sql: Sql, params?: readonly unknown[]) => run(real.relaxed, sql, params)) as Queryable['query'] },
    transaction: (fn) => real.transaction(fn),
    withAdvisoryLock: (key, fn) => real.withAdvisoryLock(key, fn),
    listen: (channel, onPayload) => real.listen(channel, onPayload),
    close: async () => undefined,
  };
}

forEachDriver('trigger retry', (getDriver) => {
  let db: Driver;
  let action: string;
  let reservation: { delivered: AssignedTask[][]; released: number; offered: DirectReservation | null };
  let queued: string[];

  beforeEach(async () => {
    db = getDriver();
    action = `t-${randomUUID().slice(0, 8)}`;
    await workflowRegister(db, {
      definition: { kind: 'task', task: { name: action, retries: 0, backoff: null, executionTimeoutMs: 60_000, scheduleTimeoutMs: 300_000, defaultPriority: 1 } },
    });
    queued = [];
    reservation = { delivered: [], released: 0, offered: null };
  });

  /** A trigger service over the scripted driver, with one worker offering `slots` for direct assignment. */
  function service(script: Fault[], options: { slots?: number; retryBudgetMs?: number } = {}): { triggers: TriggerService; workerId: string } {
    const workerId = randomUUID();
    const events = createEngineEvents({ log: silentLogger });
    // Each emit's queues, once each (what the scheduler is told to read again).
    events.on('tasks.queued', ({ rows, actions }) => queued.push(...new Set([...(rows ?? []).map((r) => r.action), ...(actions ?? [])])));
    const triggers = new TriggerService({
      driver: faulty(db, script),
      engineId: randomUUID(),
      events,
      reserve: (_action, count) => {
        if (!options.slots) return null;
        reservation.offered = {
          workerId,
          count: Math.min(count, options.slots),
          release: () => void reservation.released++,
          deliver: (tasks) => void reservation.delivered.push(tasks),
        };
        return reservation.offered;
      },
      retryBudgetMs: options.retryBudgetMs,
    });
    return { triggers, workerId };
  }

  async function runsOf(): Promise<Array<{ id: string; status: string; attempt: number; worker_id: string | null }>> {
    const { rows } = await db.query<{ id: string; status: string; attempt: number; worker_id: string | null }>(
      `SELECT r.id, t.status, t.attempt, t.worker_id FROM run r JOIN task_run t ON t.run_id = r.id WHERE r.workflow_name = $1 ORDER BY r.id`,
      [action],
    );
    return rows;
  }

  it('a try that committed but lost its reply is not created again, and its direct assignments are delivered', async () => {
    const { triggers, workerId } = service(['commit-then-drop'], { slots: 2 });
    const runIds = await triggers.trigger(action, [{ input: { i: 0 } }, { input: { i: 1 } }, { input: { i: 2 } }]);
    const rows = await runsOf();
    expect(rows.map((r) => r.id)).toEqual([...runIds].sort());
    expect(rows.filter((r) => r.status === 'assigned').every((r) => r.worker_id === workerId && r.attempt === 1)).toBe(true);
    expect(rows.filter((r) => r.status === 'assigned')).toHaveLength(2);
    // Both attempts the first try assigned reach the worker once, with their inputs; the third is queued.
    expect(reservation.delivered).toHaveLength(1);
    expect(reservation.delivered[0]!.map((t) => [t.attempt, t.action, (t.input as { i: number }).i]).sort()).toEqual([
      [1, action, 0],
      [1, action, 1],
    ]);
    expect(queued).toContain(action);
  });

  it('a try that failed before committing is retried without direct assignment', async () => {
    const { triggers } = service(['drop', 'refused'], { slots: 5 });
    const runIds = await triggers.trigger(action, [{ input: {} }, { input: {} }]);
    const rows = await runsOf();
    expect(rows.map((r) => r.id)).toEqual([...runIds].sort());
    expect(rows.map((r) => r.status)).toEqual(['queued', 'queued']);
    expect(reservation.delivered).toEqual([[]]);
    expect(queued).toEqual([action]);
  });

  it('fails UNAVAILABLE, saying no run was created, when the database stays unreachable', async () => {
    const { triggers } = service(Array<Fault>(100).fill('refused'), { slots: 1, retryBudgetMs: 300 });
    const error = await triggers.trigger(action, [{ input: {} }]).then(() => undefined, (e: unknown) => e);
    expect(error).toBeInstanceOf(CleaverError);
    expect((error as CleaverError).code).toBe('UNAVAILABLE');
    expect((error as CleaverError).message).toMatch(/no run was created: trigger again/);
    expect((error as CleaverError).message).not.toMatch(/SQLSTATE/);
    expect(await runsOf()).toEqual([]);
    expect(reservation.released).toBe(1);
    expect(reservation.delivered).toEqual([]);
  });

  it('fails UNAVAILABLE, saying the run may exist, when a dropped try was followed by an outage', async () => {
    const { triggers } = service(['drop', ...Array<Fault>(100).fill('refused')], { retryBudgetMs: 300 });
    const error = await triggers.trigger(action, [{ input: {} }]).then(() => undefined, (e: unknown) => e);
    expect((error as CleaverError).code).toBe('UNAVAILABLE');
    expect((error as CleaverError).message).toMatch(/may exist \(run ids [0-9a-f-]{36}\): look them up/);
    expect((error as CleaverError).message).not.toMatch(/SQLSTATE/);
  });

  it('does not retry an error about the statement itself', async () => {
    const { triggers } = service([]);
    const error = await triggers.trigger(`missing-${action}`, [{ input: {} }]).then(() => undefined, (e: unknown) => e);
    expect((error as CleaverError).code).toBe('UNKNOWN_TASK');
  });
});
