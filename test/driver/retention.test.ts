// Retention through its SQL and its maintenance service, against both drivers: what goes (runs that
// ended before the age, with their task runs, attempts and logs; events whose runs are gone), what
// stays (recent runs, runs not ended, children of runs that stay), batches bounded by their limit,
// and, on Postgres, sweeps that skip what others hold and run side by side.
import { randomUUID } from 'node:crypto';
import { beforeEach, expect, it } from 'vitest';
import { claim, forEachDriver } from './drivers.ts';
import type { Driver } from '../../engine/db/driver.ts';
import { uuidv7 } from '../../engine/ids.ts';
import { silentLogger } from '../../engine/log.ts';
import { Retention } from '../../engine/maintenance/retention.ts';
import { eventInsert } from '../../engine/sql/event.ts';
import { retentionEventsDelete, retentionRunsDelete, type RetentionBatchParams } from '../../engine/sql/retention.ts';
import { runTrigger } from '../../engine/sql/run-trigger.ts';
import { taskFinish } from '../../engine/sql/task-finish.ts';
import { taskLogInsert } from '../../engine/sql/task-log.ts';
import { workerUpsert } from '../../engine/sql/worker.ts';
import { workflowRegister } from '../../engine/sql/workflow-register.ts';
import type { AssignedTask } from '../../shared/protocol.ts';
import type { WorkflowTaskDefinition } from '../../shared/types.ts';

const DAY = 86_400_000;
const POLICY = { retries: 0, backoff: null, executionTimeoutMs: 60_000, scheduleTimeoutMs: 300_000, defaultPriority: 1 };

interface Started {
  runId: string;
  taskRunId: string;
}

forEachDriver('retention', (getDriver, kind) => {
  let db: Driver;
  let workerId: string;

  beforeEach(async () => {
    db = getDriver();
    // Sweeps read the whole table: each test starts from an empty one.
    for (const table of ['task_log', 'attempt', 'task_run', 'run', 'event']) await db.query(`DELETE FROM ${table}`);
    workerId = randomUUID();
    await workerUpsert(db, { id: workerId, sessionId: randomUUID(), name: 'w', engineId: randomUUID(), actions: [], slots: 1000, labels: {}, address: 'test' });
  });

  async function defineTask(options: { retries?: number } = {}): Promise<string> {
    const name = `t-${randomUUID().slice(0, 8)}`;
    await workflowRegister(db, { definition: { kind: 'task', task: { name, ...POLICY, ...options } } });
    return name;
  }

  async function trigger(
    workflowName: string,
    options: { count?: number; parent?: { taskRunId: string; key: string }; eventId?: string } = {},
  ): Promise<Started[]> {
    const runs = Array.from({ length: options.count ?? 1 }, () => ({
      runId: uuidv7(),
      taskRunId: uuidv7(),
      input: {},
      metadata: {},
      priority: null,
      triggerKind: options.parent ? ('child' as const) : options.eventId ? ('event' as const) : ('manual' as const),
      parent: options.parent ?? null,
      eventId: options.eventId ?? null,
    }));
    const created = await runTrigger(db, { workflowName, runs, notifyFrom: null });
    expect(created?.runIds).toHaveLength(runs.length);
    return runs.map((r) => ({ runId: r.runId, taskRunId: r.taskRunId }));
  }

  async function claimAll(action: string): Promise<AssignedTask[]> {
    return claim(db, { workerId, actions: [action], limit: 1000 });
  }

  async function finishAll(tasks: AssignedTask[], ok = true): Promise<void> {
    await taskFinish(db, { outcomes: tasks.map((t) => ({ taskRunId: t.taskRunId, attempt: t.attempt, ok, output: ok ? {} : undefined, error: ok ? undefined : { message: 'no' } })) });
  }

  /** Triggers `count` runs of `action` and runs them to their end. */
  async function ended(action: string, count = 1): Promise<Started[]> {
    const runs = await trigger(action, { count });
    await finishAll(await claimAll(action));
    return runs;
  }

  /** Moves runs (and events) back in time, as if they had been created and had ended `ms` earlier. */
  async function backdate(ids: { runs?: Started[]; events?: string[] }, ms: number): Promise<void> {
    const by = `$2::float8 * interval '1 millisecond'`;
    await db.query(`UPDATE run SET created_at = created_at - ${by}, finished_at = finished_at - ${by} WHERE id = ANY($1::uuid[])`, [(ids.runs ?? []).map((r) => r.runId), ms]);
    await db.query(`UPDATE event SET created_at = created_at - ${by} WHERE id = ANY($1::uuid[])`, [ids.events ?? [], ms]);
  }

  /** Whole sweeps of runs, then events, batch after batch until each reaches its end. */
  async function sweep(options: { limit?: number; on?: Driver } = {}): Promise<{ runs: number; events: number; batches: number }> {
    const on = options.on ?? db;
    const totals = { runs: 0, events: 0, batches: 0 };
    for (const phase of ['runs', 'events'] as const) {
      let params: RetentionBatchParams = { ageMs: DAY, limit: options.limit ?? 100, after: null };
      for (;;) {
        const batch = phase === 'runs' ? await retentionRunsDelete(on, params) : await retentionEventsDelete(on, params);
        totals[phase] += batch.deleted;
        totals.batches++;
        if (!batch.next) break;
        params = { ...params, after: batch.next };
      }
    }
    return totals;
  }

  async function runsLeft(runs: Started[]): Promise<string[]> {
    const result = await db.query<{ id: string }>(`SELECT id FROM run WHERE id = ANY($1::uuid[]) ORDER BY id`, [runs.map((r) => r.runId)]);
    return result.rows.map((r) => r.id);
  }

  async function rowsOf(taskRunIds: string[]): Promise<{ taskRuns: number; attempts: number; logs: number; logTotals: number }> {
    const count = async (sql: string) => Number((await db.query<{ n: string }>(sql, [taskRunIds])).rows[0]!.n);
    return {
      taskRuns: await count(`SELECT count(*) AS n FROM task_run WHERE id = ANY($1::uuid[])`),
      attempts: await count(`SELECT count(*) AS n FROM attempt WHERE task_run_id = ANY($1::uuid[])`),
      logs: await count(`SELECT count(*) AS n FROM task_log WHERE task_run_id = ANY($1::uuid[])`),
      logTotals: await count(`SELECT count(*) AS n FROM task_log_total WHERE task_run_id = ANY($1::uuid[])`),
    };
  }

  async function log(taskRunId: string, attempt: number, message: string): Promise<void> {
    await taskLogInsert(db, { lines: [{ taskRunId, attempt, level: 'info', message, at: Date.now() }] });
  }

  it('deletes runs that ended before the age with their task runs, attempts and logs, and keeps recent runs and runs not ended', async () => {
    const flaky = await defineTask({ retries: 1 });
    const [old] = await trigger(flaky);
    const [first] = await claimAll(flaky);
    await log(old!.taskRunId, 1, 'try 1');
    await finishAll([first!], false);
    const [second] = await claimAll(flaky);
    await log(old!.taskRunId, 2, 'try 2');
    await finishAll([second!]);
    expect(await rowsOf([old!.taskRunId])).toEqual({ taskRuns: 1, attempts: 2, logs: 2, logTotals: 1 });

    const action = await defineTask();
    const [oldFailed] = await trigger(action);
    await finishAll(await claimAll(action), false);
    const [recent] = await ended(action);
    await log(recent!.taskRunId, 1, 'recent');
    const [running] = await trigger(action);
    await claimAll(action);
    await log(running!.taskRunId, 1, 'still going');
    const idle = await defineTask();
    const [queued] = await trigger(idle);
    await backdate({ runs: [old!, oldFailed!, running!, queued!] }, 2 * DAY);

    expect(await sweep()).toMatchObject({ runs: 2 });
    expect(await runsLeft([old!, oldFailed!, recent!, running!, queued!])).toEqual([recent!.runId, running!.runId, queued!.runId].sort());
    expect(await rowsOf([old!.taskRunId, oldFailed!.taskRunId])).toEqual({ taskRuns: 0, attempts: 0, logs: 0, logTotals: 0 });
    expect(await rowsOf([recent!.taskRunId])).toEqual({ taskRuns: 1, attempts: 1, logs: 1, logTotals: 1 });
    expect(await rowsOf([running!.taskRunId, queued!.taskRunId])).toEqual({ taskRuns: 2, attempts: 0, logs: 1, logTotals: 1 });
  });

  it('reads at most its limit per batch and goes on from where the last batch stopped, past runs that stay', async () => {
    const idle = await defineTask();
    const live = await trigger(idle, { count: 3 });
    const action = await defineTask();
    const old = await ended(action, 7);
    await backdate({ runs: [...live, ...old] }, 2 * DAY);

    const params: RetentionBatchParams = { ageMs: DAY, limit: 3, after: null };
    const first = await retentionRunsDelete(db, params);
    // The oldest three have not ended: the batch deletes nothing but moves the sweep past them.
    expect(first).toMatchObject({ scanned: 3, deleted: 0 });
    expect(first.next).not.toBeNull();
    const deleted: number[] = [];
    let next = first.next;
    while (next) {
      const batch = await retentionRunsDelete(db, { ...params, after: next });
      expect(batch.scanned).toBeLessThanOrEqual(3);
      deleted.push(batch.deleted);
      next = batch.next;
    }
    expect(deleted).toEqual([3, 3, 1]);
    expect(await runsLeft([...live, ...old])).toEqual(live.map((r) => r.runId).sort());
  });

  it("keeps a finished child while its parent's run stays, and deletes the family with the parent's run", async () => {
    const action = await defineTask();
    const [parent] = await trigger(action);
    const [parentTask] = await claimAll(action);
    const [child] = await trigger(action, { parent: { taskRunId: parent!.taskRunId, key: 'child' } });
    const [childTask] = await claimAll(action);
    const [grandchild] = await trigger(action, { parent: { taskRunId: child!.taskRunId, key: 'grandchild' } });
    await finishAll(await claimAll(action));
    await finishAll([childTask!]);
    await backdate({ runs: [parent!, child!, grandchild!] }, 2 * DAY);
    const family = [parent!, child!, grandchild!];

    // The parent task is still running: it may look its children up by key again.
    expect(await sweep()).toMatchObject({ runs: 0 });
    await finishAll([parentTask!]);
    // The parent's run ended just now: it stays, and with it the children its replay would find.
    expect(await sweep()).toMatchObject({ runs: 0 });
    expect(await runsLeft(family)).toHaveLength(3);

    await backdate({ runs: [parent!] }, 2 * DAY);
    const batch = await retentionRunsDelete(db, { ageMs: DAY, limit: 10, after: null });
    expect(batch).toMatchObject({ deleted: 3, taskRuns: 3 });
    expect(await runsLeft(family)).toEqual([]);
  });

  it("deletes a child in a later batch than its parent's run when a batch holds one run", async () => {
    const action = await defineTask();
    const [parent] = await trigger(action);
    const [parentTask] = await claimAll(action);
    const [child] = await trigger(action, { parent: { taskRunId: parent!.taskRunId, key: 'k' } });
    await finishAll(await claimAll(action));
    await finishAll([parentTask!]);
    await backdate({ runs: [parent!, child!] }, 2 * DAY);

    const first = await retentionRunsDelete(db, { ageMs: DAY, limit: 1, after: null });
    expect(first).toMatchObject({ deleted: 1 });
    expect(await runsLeft([parent!, child!])).toEqual([child!.runId]);
    const second = await retentionRunsDelete(db, { ageMs: DAY, limit: 1, after: first.next });
    expect(second).toMatchObject({ deleted: 1 });
    expect(await runsLeft([child!])).toEqual([]);
  });

  it('deletes a failed workflow run with the tasks its failure cancelled', async () => {
    const name = `wf-${randomUUID().slice(0, 8)}`;
    const tasks: WorkflowTaskDefinition[] = [{ name: 'a', parents: [], ...POLICY }, { name: 'b', parents: ['a'], ...POLICY }];
    await workflowRegister(db, { definition: { kind: 'workflow', workflow: { name, description: null, versionLabel: null, events: [], tasks, onFailure: null, onSuccess: null } } });
    const [run] = await trigger(name);
    await finishAll(await claimAll(`${name}:a`), false);
    const statuses = await db.query<{ status: string }>(`SELECT status FROM task_run WHERE run_id = $1 ORDER BY task_name`, [run!.runId]);
    expect(statuses.rows.map((r) => r.status)).toEqual(['failed', 'cancelled']);
    await backdate({ runs: [run!] }, 2 * DAY);

    expect(await sweep()).toMatchObject({ runs: 1 });
    expect(await db.query(`SELECT 1 FROM task_run WHERE run_id = $1`, [run!.runId])).toMatchObject({ rowCount: 0 });
  });

  it('deletes old events once no run refers to them, and keeps recent ones and those a run still refers to', async () => {
    const events = { unmatched: uuidv7(), ended: uuidv7(), live: uuidv7(), recent: uuidv7() };
    await eventInsert(db, { events: Object.values(events).map((id) => ({ id, key: 'order:placed', payload: {}, metadata: {} })) });
    const action = await defineTask();
    const [endedRun] = await trigger(action, { eventId: events.ended });
    await finishAll(await claimAll(action));
    const idle = await defineTask();
    const [liveRun] = await trigger(idle, { eventId: events.live });
    await backdate({ runs: [endedRun!, liveRun!], events: [events.unmatched, events.ended, events.live] }, 2 * DAY);

    // Runs are swept first, so the event whose runs went in this sweep goes in it too.
    expect(await sweep()).toMatchObject({ runs: 1, events: 2 });
    const left = await db.query<{ id: string }>(`SELECT id FROM event ORDER BY id`);
    expect(left.rows.map((r) => r.id)).toEqual([events.live, events.recent].sort());
  });

  it('the service works a backlog off in passes of bounded batches, then waits for the next sweep', async () => {
    const action = await defineTask();
    const old = await ended(action, 25);
    await backdate({ runs: old }, 2 * DAY);
    const service = new Retention({ driver: db, log: silentLogger, ageMs: DAY, sweepEveryMs: 3_600_000, batch: 10, batchesPerPass: 2 });

    await service.runOnce();
    expect(await runsLeft(old)).toHaveLength(5);
    await service.runOnce();
    expect(await runsLeft(old)).toHaveLength(0);
    // That sweep is done; the next starts an hour after it began.
    const later = await ended(action);
    await backdate({ runs: later }, 2 * DAY);
    await service.runOnce();
    expect(await runsLeft(later)).toHaveLength(1);
  });

  it.skipIf(kind !== 'pg')('skips runs another transaction holds, as a replay does, and deletes them in a later sweep', async () => {
    const action = await defineTask();
    const [byTask, byRun, free] = await ended(action, 3);
    await backdate({ runs: [byTask!, byRun!, free!] }, 2 * DAY);
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let held!: () => void;
    const holding = new Promise<void>((resolve) => (held = resolve));
    const holder = db.transaction(async (tx) => {
      // A replay locks the task rows it resets; an outcome or a cancel can hold a run row.
      await tx.query(`SELECT 1 FROM task_run WHERE id = $1 FOR UPDATE`, [byTask!.taskRunId]);
      await tx.query(`SELECT 1 FROM run WHERE id = $1 FOR UPDATE`, [byRun!.runId]);
      held();
      await released;
    });
    await holding;
    try {
      expect(await sweep()).toMatchObject({ runs: 1 });
      expect(await runsLeft([byTask!, byRun!, free!])).toEqual([byTask!.runId, byRun!.runId].sort());
    } finally {
      release();
      await holder;
    }
    expect(await sweep()).toMatchObject({ runs: 2 });
  });

  it.skipIf(kind !== 'pg')('two sweeps at once delete every run once between them and fail neither', async () => {
    const action = await defineTask();
    const old = await ended(action, 300);
    await backdate({ runs: old }, 2 * DAY);
    const [a, b] = await Promise.all([sweep({ limit: 20 }), sweep({ limit: 20 })]);
    expect(a.runs + b.runs).toBe(300);
    expect(await runsLeft(old)).toEqual([]);
  });
});
