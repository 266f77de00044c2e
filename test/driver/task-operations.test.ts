// The hot-path SQL operations, against both drivers: claim order and exclusivity, attempt fencing,
// the retry policy, timeouts and worker liveness.
import { randomUUID } from 'node:crypto';
import { beforeEach, expect, it } from 'vitest';
import { TEST_ENGINE_ID, claim, forEachDriver } from './drivers.ts';
import { SUSPECT_AFTER_LOSSES, taskAssign, taskQueueWindowList, workerCapacityList } from '../../engine/sql/task-assign.ts';
import { schedulerLeaseAcquire } from '../../engine/sql/scheduler-lease.ts';
import type { Driver } from '../../engine/db/driver.ts';
import { uuidv7 } from '../../engine/ids.ts';
import { workflowRegister } from '../../engine/sql/workflow-register.ts';
import { runTrigger } from '../../engine/sql/run-trigger.ts';
import { MAX_FREE_WORKER_LOST_RETRIES, taskFinish, type AttemptOutcome } from '../../engine/sql/task-finish.ts';
import { taskStart } from '../../engine/sql/task-start.ts';
import { taskLeaseExpiredList, taskLeaseRefresh, taskScheduleExpiredList } from '../../engine/sql/task-lease.ts';
import { taskOrphanedList, workerHeartbeat, workerReapStale, workerSetStatus, workerUpsert } from '../../engine/sql/worker.ts';
import { runOutcomeList } from '../../engine/sql/run-read.ts';
import { runDetailsGet } from '../../engine/sql/run-details.ts';
import type { TaskDefinition } from '../../shared/types.ts';

/** The accepted outcomes of a finish, as most of these tests look at them. */
async function finish(db: Driver, params: { outcomes: AttemptOutcome[] }) {
  return (await taskFinish(db, params)).attempts;
}

forEachDriver('task operations', (getDriver, kind) => {
  let db: Driver;
  let action: string;
  let workerId: string;
  let sessionId: string;

  async function define(task: Partial<TaskDefinition> = {}): Promise<void> {
    await workflowRegister(db, {
      definition: {
        kind: 'task',
        task: { name: action, retries: 2, backoff: null, executionTimeoutMs: 60_000, scheduleTimeoutMs: 300_000, defaultPriority: 1, ...task },
      },
    });
  }

  async function trigger(count = 1, priority: number | null = null): Promise<string[]> {
    const runs = Array.from({ length: count }, (_, i) => ({ runId: uuidv7(), taskRunId: uuidv7(), input: { i }, metadata: { n: String(i) }, priority, triggerKind: 'manual' as const }));
    const created = await runTrigger(db, { workflowName: action, runs, notifyFrom: null });
    expect(created?.kind).toBe('task');
    return runs.map((r) => r.taskRunId);
  }

  async function newWorker(): Promise<{ id: string; sessionId: string }> {
    const w = { id: randomUUID(), sessionId: randomUUID() };
    await workerUpsert(db, { ...w, name: 'w', engineId: randomUUID(), actions: [action], slots: 10, labels: {}, address: 'test' });
    return w;
  }

  beforeEach(async () => {
    db = getDriver();
    action = `a-${randomUUID().slice(0, 8)}`;
    ({ id: workerId, sessionId } = await newWorker());
  });

  it('claims oldest first within a priority, higher priority first, no more than asked', async () => {
    await define();
    const low = await trigger(3);
    const high = await trigger(1, 3);
    const claimed = await claim(db, { workerId, actions: [action, 'unrelated'], limit: 3 });
    expect(claimed.map((c) => c.taskRunId)).toEqual([high[0], low[0], low[1]]);
    expect(claimed.every((c) => c.attempt === 1)).toBe(true);
    expect(claimed[1]).toMatchObject({ input: { i: 0 }, metadata: { n: '0' }, timeoutMs: 60_000, action });
    expect(await claim(db, { workerId, actions: [action], limit: 10 })).toHaveLength(1);
    expect(await claim(db, { workerId, actions: [action], limit: 10 })).toHaveLength(0);
  });

  it("creates the same rows with the trigger statement's standalone shape as with the full one", async () => {
    await define({ retries: 3, backoff: { factor: 2, maxSeconds: 30 }, defaultPriority: 2 });
    const rows = async (standalone: boolean, assign: boolean) => {
      const runs = [0, 1].map((i) => ({ runId: uuidv7(), taskRunId: uuidv7(), input: { i }, metadata: { n: String(i) }, priority: i === 0 ? null : 3, triggerKind: 'manual' as const }));
      const created = await runTrigger(db, { workflowName: action, runs, notifyFrom: null, standalone, assignTo: assign ? { workerId, count: 1 } : null });
      expect(created).toMatchObject({ kind: 'task', runIds: runs.map((r) => r.runId), preexisting: [], created: { runs: 2, taskRuns: 2 } });
      const read = await db.query<Record<string, unknown>>(
        `SELECT r.workflow_name, r.workflow_version, r.kind AS run_kind, r.status AS run_status, r.input, r.metadata, r.trigger_kind,
                r.tasks_remaining, r.has_on_failure, r.has_on_success, r.search_doc::text AS search_doc,
                t.task_name, t.action, t.kind, t.status, t.priority, t.parents, t.ancestors, t.pending_parents, t.max_attempts,
                t.backoff_factor, t.backoff_max_seconds, t.execution_timeout_ms, t.schedule_timeout_ms, t.attempt,
                t.worker_id, t.assigned_at IS NOT NULL AS assigned, t.timeout_at IS NOT NULL AS leased,
                t.schedule_deadline > now() + interval '299 seconds' AS deadline
           FROM run r JOIN task_run t ON t.run_id = r.id WHERE r.id = ANY($1::uuid[]) ORDER BY r.id`,
        [runs.map((r) => r.runId)],
      );
      return { rows: read.rows, queued: created!.queued.map((q) => q.priority), assigned: created!.assigned.map((a) => a.attempt) };
    };
    for (const assign of [false, true]) {
      const full = await rows(false, assign);
      const short = await rows(true, assign);
      expect(short).toEqual(full);
      expect(full.rows).toHaveLength(2);
    }
  });

  it('gives a workflow named to the standalone shape its full trigger', async () => {
    const name = `wf-${action}`;
    await workflowRegister(db, {
      definition: {
        kind: 'workflow',
        workflow: {
          name,
          description: null,
          versionLabel: null,
          events: [],
          tasks: [{ name: 'one', parents: [], ancestors: [], retries: 0, backoff: null, executionTimeoutMs: 60_000, scheduleTimeoutMs: 300_000, defaultPriority: 1 }],
          onFailure: null,
          onSuccess: null,
        } as never,
      },
    });
    const runs = [{ runId: uuidv7(), taskRunId: uuidv7(), input: {}, metadata: {}, priority: null, triggerKind: 'manual' as const }];
    const created = await runTrigger(db, { workflowName: name, runs, notifyFrom: null, standalone: true });
    expect(created).toMatchObject({ kind: 'workflow', runIds: [runs[0]!.runId], created: { runs: 1, taskRuns: 1 } });
    expect(created!.queuedActions).toEqual([`${name}:one`]);
    expect(await runTrigger(db, { workflowName: `missing-${action}`, runs: [{ ...runs[0]!, runId: uuidv7() }], notifyFrom: null, standalone: true })).toBeNull();
  });

  it('refuses to trigger an unknown workflow and inserts nothing', async () => {
    const created = await runTrigger(db, { workflowName: `missing-${action}`, runs: [{ runId: uuidv7(), taskRunId: uuidv7(), input: {}, metadata: {}, priority: null, triggerKind: 'manual' }], notifyFrom: null });
    expect(created).toBeNull();
  });

  it('registering an unchanged definition keeps the version; a changed one makes the next', async () => {
    await define();
    const same = await workflowRegister(db, { definition: { kind: 'task', task: { name: action, retries: 2, backoff: null, executionTimeoutMs: 60_000, scheduleTimeoutMs: 300_000, defaultPriority: 1 } } });
    expect(same).toMatchObject({ version: 1, created: false });
    const [before] = await trigger(1);
    await define({ retries: 7 });
    const [after] = await trigger(1);
    const rows = await db.query<{ id: string; max_attempts: number }>(`SELECT id, max_attempts FROM task_run WHERE id = ANY($1::uuid[])`, [[before, after]]);
    const byId = Object.fromEntries(rows.rows.map((r) => [r.id, r.max_attempts]));
    expect(byId[before!]).toBe(3);
    expect(byId[after!]).toBe(8);
  });

  it('fences outcomes by attempt: a superseded or repeated outcome is refused', async () => {
    await define();
    const [id] = await trigger(1);
    const [first] = await claim(db, { workerId, actions: [action], limit: 1 });
    // Attempt 1 fails and is retried at once (no backoff): attempt 2 is claimed.
    const failed = await finish(db, { outcomes: [{ taskRunId: id!, attempt: 1, ok: false, error: { message: 'boom' } }] });
    expect(failed[0]).toMatchObject({ status: 'queued', retryDelayMs: 0 });
    const [second] = await claim(db, { workerId, actions: [action], limit: 1 });
    expect(second!.attempt).toBe(2);
    // A late success from attempt 1 must not overwrite attempt 2.
    expect(await finish(db, { outcomes: [{ taskRunId: id!, attempt: first!.attempt, ok: true, output: 'late' }] })).toEqual([]);
    const done = await finish(db, { outcomes: [{ taskRunId: id!, attempt: 2, ok: true, output: { fresh: true } }] });
    expect(done[0]).toMatchObject({ status: 'succeeded', output: { fresh: true } });
    expect(await finish(db, { outcomes: [{ taskRunId: id!, attempt: 2, ok: false, error: { message: 'again' } }] })).toEqual([]);
    const details = await runDetailsGet(db, { runId: second!.runId });
    expect(details!.run).toMatchObject({ status: 'succeeded', output: { fresh: true } });
    expect(details!.attempts.map((a) => [a.attempt, a.status, a.error?.message ?? null])).toEqual([
      [1, 'failed', 'boom'],
      [2, 'succeeded', null],
    ]);
    expect(details!.attempts.every((a) => a.workerId === workerId)).toBe(true);
  });

  it('finishes standalone task runs through the shorter shape exactly as through the full one', async () => {
    await define({ retries: 1 });
    // The same five outcomes (a success, a retried failure, a failure that is not retried, a
    // cancellation, a superseded attempt) through each shape, on task runs of their own.
    async function through(standaloneOnly: boolean) {
      const ids = await trigger(5);
      await claim(db, { workerId, actions: [action], limit: 5 });
      const [ok, retried, fatal, cancelled, stale] = ids as [string, string, string, string, string];
      const result = await taskFinish(db, {
        standaloneOnly,
        outcomes: [
          { taskRunId: ok, attempt: 1, ok: true, output: { n: 1 }, action },
          { taskRunId: retried, attempt: 1, ok: false, error: { message: 'again' }, action },
          { taskRunId: fatal, attempt: 1, ok: false, nonRetryable: true, error: { message: 'never' }, action },
          { taskRunId: cancelled, attempt: 1, ok: false, reason: 'CANCELLED', error: { message: 'stop' }, action },
          { taskRunId: stale, attempt: 2, ok: true, output: 'late', action },
        ],
      });
      const by = new Map(result.attempts.map((a) => [a.taskRunId, a]));
      const attempts = ids.map((id) => {
        const a = by.get(id);
        return a ? [a.status, a.retryDelayMs, a.output, a.error?.message ?? null, a.failureReason, a.queuedMs !== null, a.ranMs !== null] : null;
      });
      const runs = await Promise.all(ids.map(async (id) => {
        const details = await runDetailsGet(db, { runId: (await db.query<{ run_id: string }>('SELECT run_id FROM task_run WHERE id = $1', [id])).rows[0]!.run_id });
        return [details!.run.status, details!.run.output, details!.run.error?.message ?? null, details!.attempts.map((x) => [x.attempt, x.status])];
      }));
      const endedRuns = result.runs.map((r) => [ids.indexOf(ids.find((id) => by.get(id)?.runId === r.runId)!), r.status, r.output, r.failureReason]);
      return { attempts, runs, endedRuns, queued: result.queued, hooks: result.hooksStarted };
    }
    const full = await through(false);
    expect(full.attempts.filter((a) => a !== null)).toHaveLength(4);
    expect(full.attempts[4]).toBeNull();
    expect(await through(true)).toEqual(full);
  });

  it('applies backoff: a retry is not claimable before its delay, then it is', async () => {
    await define({ backoff: { factor: 2, maxSeconds: 1 } });
    const [id] = await trigger(1);
    await claim(db, { workerId, actions: [action], limit: 1 });
    const [retry] = await finish(db, { outcomes: [{ taskRunId: id!, attempt: 1, ok: false, error: { message: 'x' } }] });
    expect(retry).toMatchObject({ status: 'queued', retryDelayMs: 1000 });
    expect(await claim(db, { workerId, actions: [action], limit: 1 })).toEqual([]);
    await db.query(`UPDATE task_run SET available_at = now() - interval '1 ms' WHERE id = $1`, [id]);
    expect(await claim(db, { workerId, actions: [action], limit: 1 })).toHaveLength(1);
  });

  it('fails for good when retries are exhausted or the error is non-retryable', async () => {
    await define({ retries: 1 });
    const [a, b] = await trigger(2);
    await claim(db, { workerId, actions: [action], limit: 2 });
    const out = await finish(db, {
      outcomes: [
        { taskRunId: a!, attempt: 1, ok: false, error: { message: 'retry me' } },
        { taskRunId: b!, attempt: 1, ok: false, nonRetryable: true, error: { message: 'never' } },
      ],
    });
    expect(Object.fromEntries(out.map((o) => [o.taskRunId, o.status]))).toEqual({ [a!]: 'queued', [b!]: 'failed' });
    expect(out.find((o) => o.taskRunId === b)!.failureReason).toBe('NON_RETRYABLE');
    await claim(db, { workerId, actions: [action], limit: 2 });
    const last = await finish(db, { outcomes: [{ taskRunId: a!, attempt: 2, ok: false, error: { message: 'still broken' } }] });
    expect(last[0]).toMatchObject({ status: 'failed', failureReason: 'ERROR', error: { message: 'still broken' } });
    const { outcomes } = await runOutcomeList(db, { runIds: out.map((o) => o.runId) });
    expect(outcomes.every((o) => o.status === 'failed')).toBe(true);
  });

  it('does not charge attempts lost with their worker to the retry budget', async () => {
    await define({ retries: 0 });
    const [id] = await trigger(1);
    await claim(db, { workerId, actions: [action], limit: 1 });
    const lost = await finish(db, { outcomes: [{ taskRunId: id!, attempt: 1, ok: false, reason: 'WORKER_LOST', error: { message: 'gone' } }] });
    expect(lost[0]).toMatchObject({ status: 'queued', retryDelayMs: 0 });
    const [again] = await claim(db, { workerId, actions: [action], limit: 1 });
    expect(again!.attempt).toBe(2);
    const failed = await finish(db, { outcomes: [{ taskRunId: id!, attempt: 2, ok: false, error: { message: 'real failure' } }] });
    expect(failed[0]!.status).toBe('failed');
  });

  it('marks attempts running, and a refreshed lease survives the start report', async () => {
    await define({ executionTimeoutMs: 50 });
    const [id] = await trigger(1);
    await claim(db, { workerId, actions: [action], limit: 1 });
    const other = randomUUID();
    // Another worker can neither extend nor start an attempt it does not hold.
    expect(await taskLeaseRefresh(db, { taskRunId: id!, attempt: 1, ms: 60_000, workerId: other })).toBe(false);
    expect(await taskStart(db, { starts: [{ taskRunId: id!, attempt: 1, startedAt: Date.now(), workerId: other }] })).toBe(0);
    expect(await taskLeaseRefresh(db, { taskRunId: id!, attempt: 1, ms: 60_000, workerId })).toBe(true);
    expect(await taskStart(db, { starts: [{ taskRunId: id!, attempt: 1, startedAt: Date.now(), workerId }] })).toBe(1);
    expect(await taskStart(db, { starts: [{ taskRunId: id!, attempt: 9, startedAt: Date.now(), workerId }] })).toBe(0);
    await new Promise((r) => setTimeout(r, 80));
    expect((await taskLeaseExpiredList(db, { limit: 100 })).some((a) => a.taskRunId === id)).toBe(false);
    expect(await taskLeaseRefresh(db, { taskRunId: id!, attempt: 2, ms: 10, workerId })).toBe(false);
  });

  it('lists attempts whose lease ran out', async () => {
    await define({ executionTimeoutMs: 1 });
    const [id] = await trigger(1);
    await claim(db, { workerId, actions: [action], limit: 1 });
    await new Promise((r) => setTimeout(r, 20));
    expect(await taskLeaseExpiredList(db, { limit: 1000 })).toContainEqual({ taskRunId: id, attempt: 1, workerId });
  });

  it('fails queued task runs past their schedule deadline, and never claims them', async () => {
    await define({ scheduleTimeoutMs: 1 });
    const [id] = await trigger(1);
    await new Promise((r) => setTimeout(r, 20));
    expect(await claim(db, { workerId, actions: [action], limit: 1 })).toEqual([]);
    const expired = await taskScheduleExpiredList(db, { limit: 1000 });
    expect(expired.map((f) => f.taskRunId)).toContain(id);
    const failed = await finish(db, {
      outcomes: expired.map((e) => ({ taskRunId: e.taskRunId, attempt: e.attempt, ok: false, reason: 'SCHEDULE_TIMEOUT', error: { message: 'late' } })),
    });
    const { outcomes: [outcome] } = await runOutcomeList(db, { runIds: [failed.find((f) => f.taskRunId === id)!.runId] });
    expect(outcome).toMatchObject({ status: 'failed', failureReason: 'SCHEDULE_TIMEOUT' });
  });

  it('accepts an outcome only from the worker holding the attempt, and a lost verdict only for its current session', async () => {
    await define({ retries: 5 });
    const [id] = await trigger(1);
    await claim(db, { workerId, actions: [action], limit: 1 });
    const other = await newWorker();
    // Another worker's result for this attempt is refused and changes nothing.
    expect(await finish(db, { outcomes: [{ taskRunId: id!, attempt: 1, ok: true, output: 'forged', workerId: other.id }] })).toEqual([]);
    // The worker reconnected (a new session): a verdict about its old session is refused...
    const newer = randomUUID();
    await workerUpsert(db, { id: workerId, sessionId: newer, name: 'w', engineId: randomUUID(), actions: [action], slots: 10, labels: {}, address: 'test' });
    expect(await finish(db, { outcomes: [{ taskRunId: id!, attempt: 1, ok: false, reason: 'WORKER_LOST', lostSession: { sessionId } }] })).toEqual([]);
    // ...and so is the liveness sweep's while the worker is connected.
    expect(await finish(db, { outcomes: [{ taskRunId: id!, attempt: 1, ok: false, reason: 'WORKER_LOST', lostSession: { sessionId: newer, orphan: true } }] })).toEqual([]);
    // The owner's own result is accepted.
    const done = await finish(db, { outcomes: [{ taskRunId: id!, attempt: 1, ok: true, output: 'real', workerId }] });
    expect(done).toMatchObject([{ taskRunId: id, status: 'succeeded', output: 'real' }]);
  });

  it('charges losses past the free allowance to the retries, so a task that kills its worker ends', async () => {
    await define({ retries: 1, backoff: { factor: 2, maxSeconds: 30 } });
    const [id] = await trigger(1);
    let last;
    for (let attempt = 1; ; attempt++) {
      await db.query(`UPDATE task_run SET available_at = now() WHERE id = $1`, [id]);
      const claimed = await claim(db, { workerId, actions: [action], limit: 1 });
      expect(claimed.map((c) => c.attempt)).toEqual([attempt]);
      [last] = await finish(db, { outcomes: [{ taskRunId: id!, attempt, ok: false, reason: 'WORKER_LOST', error: { message: 'worker gone' }, lostSession: { sessionId } }] });
      if (last!.status !== 'queued') break;
      expect(attempt).toBeLessThan(50);
      // Free losses come back at once; charged ones wait their backoff.
      expect(last!.retryDelayMs).toBe(attempt <= MAX_FREE_WORKER_LOST_RETRIES ? 0 : 2000);
    }
    // 5 free losses, then the first attempt and its one retry.
    expect(last).toMatchObject({ status: 'failed', attempt: MAX_FREE_WORKER_LOST_RETRIES + 2, failureReason: 'WORKER_LOST' });
    expect(last!.error!.message).toMatch(/^lost with its worker on attempt 7, after 5 free retries of lost attempts .*\(worker gone\)$/);
  });

  it('reads suspects (lost with their worker twice) as such, and assigns nothing without the lease', async () => {
    await define();
    const [plain, s1, s2] = await trigger(3);
    await db.query(`UPDATE task_run SET worker_lost_count = $2, attempt = 2 WHERE id = ANY($1::uuid[])`, [[s1, s2], SUSPECT_AFTER_LOSSES]);
    const window = await taskQueueWindowList(db, { actions: [action], limit: 10 });
    expect(window.map((c) => [c.taskRunId, c.suspect])).toEqual([[plain, false], [s1, true], [s2, true]]);
    const assignments = window.map((c) => ({ taskRunId: c.taskRunId, workerId }));
    // Another engine holds the lease: nothing is written.
    await db.query(`UPDATE scheduler_lease SET holder = $1, epoch = epoch + 1, expires_at = now() + interval '1 hour' WHERE partition = 0`, [randomUUID()]);
    expect(await taskAssign(db, { engineId: TEST_ENGINE_ID, epoch: 1, assignments, notify: false })).toEqual({ assigned: [], fenced: true });
    expect(await taskQueueWindowList(db, { actions: [action], limit: 10 })).toHaveLength(3);
    await db.query(`UPDATE scheduler_lease SET expires_at = '-infinity' WHERE partition = 0`);
    const grant = (await schedulerLeaseAcquire(db, { partition: 0, engineId: TEST_ENGINE_ID, ttlMs: 60_000 }))!;
    const { assigned, fenced } = await taskAssign(db, { engineId: TEST_ENGINE_ID, epoch: grant.epoch, assignments, notify: false });
    expect(fenced).toBe(false);
    expect(assigned.map((a) => [a.task.taskRunId, a.task.attempt, a.suspect, a.workerId])).toEqual([
      [plain, 1, false, workerId],
      [s1, 3, true, workerId],
      [s2, 3, true, workerId],
    ]);
    // Already assigned: skipped, not assigned twice.
    expect((await taskAssign(db, { engineId: TEST_ENGINE_ID, epoch: grant.epoch, assignments, notify: false })).assigned).toEqual([]);
    // What the holder sees of this worker when it is attached to another engine.
    const capacity = await workerCapacityList(db, { exceptEngineId: TEST_ENGINE_ID, staleMs: 60_000 });
    expect(capacity.find((w) => w.workerId === workerId)).toMatchObject({ busy: 3, holdsSuspect: true, actions: [action] });
  });

  it('finds the attempts of disconnected or stale workers, and a heartbeat revives a live session', async () => {
    await define();
    const [id] = await trigger(1);
    await claim(db, { workerId, actions: [action], limit: 1 });
    expect((await taskOrphanedList(db, { limit: 1000 })).some((a) => a.taskRunId === id)).toBe(false);
    await workerSetStatus(db, { sessionId, status: 'disconnected' });
    expect(await taskOrphanedList(db, { limit: 1000 })).toContainEqual({ taskRunId: id, attempt: 1, workerId, sessionId });
    await workerHeartbeat(db, { sessionIds: [sessionId] });
    expect((await taskOrphanedList(db, { limit: 1000 })).some((a) => a.taskRunId === id)).toBe(false);
    // A stale heartbeat is reaped; an old session's status change does not touch a newer session.
    await db.query(`UPDATE worker SET last_heartbeat_at = now() - interval '1 hour' WHERE id = $1`, [workerId]);
    expect(await workerReapStale(db, { staleMs: 60_000 })).toContain(workerId);
    const newer = randomUUID();
    await workerUpsert(db, { id: workerId, sessionId: newer, name: 'w', engineId: randomUUID(), actions: [action], slots: 10, labels: {}, address: 'test' });
    await workerSetStatus(db, { sessionId, status: 'disconnected' });
    expect((await taskOrphanedList(db, { limit: 1000 })).some((a) => a.taskRunId === id)).toBe(false);
  });

  if (kind === 'pg') {
    it('concurrent assignment writes over the same candidates never hand a task run to two workers', async () => {
      await define();
      const ids = await trigger(200);
      const others = await Promise.all(Array.from({ length: 4 }, () => newWorker()));
      // Four writers decide from the same queue at once (as a holder's overlapping passes could): each
      // task run goes to exactly one of them; the others' writes skip it.
      const rounds = await Promise.all(
        others.map(async (w) => {
          const got: string[] = [];
          for (let i = 0; i < 40; i++) got.push(...(await claim(db, { workerId: w.id, actions: [action], limit: 7 })).map((c) => c.taskRunId));
          return got;
        }),
      );
      const all = rounds.flat();
      expect(new Set(all).size).toBe(all.length);
      expect(all.sort()).toEqual([...ids].sort());
    });
  }
});
