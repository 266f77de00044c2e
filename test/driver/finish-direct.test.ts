// A finish that assigns the workflow children it releases to slots reserved for them (the finish
// statement's `direct` shape), against both drivers: what it writes is what the assign statement writes,
// the payload carries the outputs the same statement stored, the lease fences it, a worker gone since the
// reservation gets nothing, and a retry of a finish whose reply was lost finds what its first try assigned.
import { randomBytes, randomUUID } from 'node:crypto';
import { beforeEach, expect, it } from 'vitest';
import { claim as claimTasks, forEachDriver, TEST_ENGINE_ID } from './drivers.ts';
import type { Driver, Queryable, Sql } from '../../engine/db/driver.ts';
import { toDatabaseError } from '../../engine/db/database-error.ts';
import { uuidv7 } from '../../engine/ids.ts';
import { AttemptWriter } from '../../engine/attempt-writer.ts';
import { createEngineEvents } from '../../engine/engine-events.ts';
import { silentLogger } from '../../engine/log.ts';
import type { ReleasedReservation } from '../../engine/scheduler/scheduler.ts';
import { workflowRegister } from '../../engine/sql/workflow-register.ts';
import { runTrigger } from '../../engine/sql/run-trigger.ts';
import { schedulerLeaseAcquire } from '../../engine/sql/scheduler-lease.ts';
import { taskAssignedList, type Assigned } from '../../engine/sql/task-assign.ts';
import { taskFinish, taskFinishEarlierAssigned, type FinishResult, type ReleasedSlots } from '../../engine/sql/task-finish.ts';
import { workerSetStatus, workerUpsert } from '../../engine/sql/worker.ts';
import { workflowActions } from '../../shared/workflow-definition.ts';
import type { AssignedTask } from '../../shared/protocol.ts';
import type { Json, WorkflowDefinition, WorkflowTaskDefinition } from '../../shared/types.ts';

const POLICY = { retries: 0, backoff: null, executionTimeoutMs: 60_000, scheduleTimeoutMs: 300_000, defaultPriority: 1 } as const;

function node(name: string, parents: string[] = []): WorkflowTaskDefinition {
  return { name, parents, ...POLICY };
}

function ok(task: AssignedTask, output: Json) {
  return { taskRunId: task.taskRunId, attempt: task.attempt, ok: true, output, action: task.action };
}

const ADMIN_SHUTDOWN = { code: '57P01', severity: 'FATAL', message: 'terminating connection due to administrator command' };

forEachDriver('finish with direct assignment', (getDriver) => {
  let db: Driver;
  let workerId: string;
  let sessionId: string;

  beforeEach(async () => {
    db = getDriver();
    workerId = randomUUID();
    sessionId = randomUUID();
    await workerUpsert(db, { id: workerId, sessionId, name: 'w', engineId: TEST_ENGINE_ID, actions: [], slots: 100, labels: {}, address: 'test' });
  });

  async function register(tasks: WorkflowTaskDefinition[]): Promise<WorkflowDefinition> {
    const workflow: WorkflowDefinition = { name: `wf-${randomBytes(4).toString('hex')}`, description: null, versionLabel: null, events: [], tasks, onFailure: null, onSuccess: null };
    await workflowRegister(db, { definition: { kind: 'workflow', workflow } });
    return workflow;
  }

  async function trigger(workflowName: string, input: Json = {}): Promise<string> {
    const created = await runTrigger(db, { workflowName, runs: [{ runId: uuidv7(), taskRunId: uuidv7(), input, metadata: { m: 'x' }, priority: null, triggerKind: 'manual' }], notifyFrom: null });
    return created!.runIds[0]!;
  }

  async function claim(workflow: WorkflowDefinition): Promise<Record<string, AssignedTask>> {
    const claimed = await claimTasks(db, { workerId, actions: workflowActions(workflow), limit: 100 });
    return Object.fromEntries(claimed.map((t) => [t.action.slice(t.action.indexOf(':') + 1), t]));
  }

  /** Slots on the test worker under the lease the tests decide with (claim takes it for TEST_ENGINE_ID). */
  async function slots(workflow: WorkflowDefinition, counts: Record<string, number>, o: { epoch?: number; worker?: string } = {}): Promise<ReleasedSlots> {
    const grant = await schedulerLeaseAcquire(db, { partition: 0, engineId: TEST_ENGINE_ID, ttlMs: 3_600_000 });
    return {
      engineId: TEST_ENGINE_ID,
      epoch: o.epoch ?? grant!.epoch,
      slots: Object.entries(counts).map(([task, count]) => ({ action: `${workflow.name}:${task}`, workerId: o.worker ?? workerId, count })),
    };
  }

  async function rows(runId: string) {
    const result = await db.query<{ task_name: string; status: string; attempt: number; worker_id: string | null; assigned: boolean; timeout_ok: boolean; started_at: unknown; keys: unknown }>(
      `SELECT task_name, status, attempt, worker_id, assigned_at IS NOT NULL AS assigned,
              timeout_at IS NOT NULL AND timeout_at > now() + interval '50 seconds' AS timeout_ok, started_at, concurrency_keys AS keys
         FROM task_run WHERE run_id = $1`,
      [runId],
    );
    return Object.fromEntries(result.rows.map((r) => [r.task_name, r]));
  }

  const names = (result: FinishResult) => result.assigned.map((a) => a.task.action.slice(a.task.action.indexOf(':') + 1)).sort();

  it('assigns a released child to its reserved slot with every column an assignment sets, and sends it what the assign statement would', async () => {
    const wf = await register([node('a'), node('b', ['a'])]);
    const runId = await trigger(wf.name, { x: 1 });
    const { a } = await claim(wf);
    const result = await taskFinish(db, { outcomes: [ok(a!, { a: 'A' })], direct: await slots(wf, { b: 1 }) });
    expect(result.fenced).toBe(false);
    expect(result.queued).toEqual([]);
    expect(result.queuedActions).toEqual([]);
    expect(names(result)).toEqual(['b']);
    const b = await rows(runId);
    expect(b.b).toMatchObject({ status: 'assigned', attempt: 1, worker_id: workerId, assigned: true, timeout_ok: true, started_at: null, keys: null });
    // The payload is the assign statement's, with the output this same statement stored.
    const [sent] = result.assigned;
    expect(sent!.task).toMatchObject({ runId, attempt: 1, input: { x: 1 }, metadata: { m: 'x' }, parents: { a: { a: 'A' } }, timeoutMs: 60_000 });
    expect(sent!.workerId).toBe(workerId);
    expect(sent!.suspect).toBe(false);
    expect(await taskAssignedList(db, { workerIds: [workerId] })).toEqual(result.assigned);
  });

  it('assigns up to the reserved count, best first, and queues the rest and the children of actions not reserved', async () => {
    const wf = await register([node('a'), node('b', ['a']), node('c', ['a']), node('d', ['a'])]);
    const runs = [await trigger(wf.name), await trigger(wf.name)];
    const claimed = await claimTasks(db, { workerId, actions: workflowActions(wf), limit: 100 });
    expect(claimed).toHaveLength(2);
    const result = await taskFinish(db, { outcomes: claimed.map((t) => ok(t, 1)), direct: await slots(wf, { b: 1, c: 2 }) });
    // b of one run (the older), c of both; d is not reserved.
    expect(names(result)).toEqual(['b', 'c', 'c']);
    expect(result.assigned.find((x) => x.task.action.endsWith(':b'))!.task.runId).toBe(runs[0]);
    expect(result.queued.map((q) => q.action.slice(q.action.indexOf(':') + 1)).sort()).toEqual(['b', 'd', 'd']);
    expect(result.queuedActions.sort()).toEqual([`${wf.name}:b`, `${wf.name}:d`]);
  });

  it('gives a fan-in child the outputs of parents finished before and in the same statement', async () => {
    const wf = await register([node('a'), node('b', ['a']), node('c', ['a']), node('d', ['b', 'c']), node('e', ['b', 'c'])]);
    const runId = await trigger(wf.name);
    const { a } = await claim(wf);
    await taskFinish(db, { outcomes: [ok(a!, 'A')] });
    const { b, c } = await claim(wf);
    // c finishes first (d and e still wait for b), then b, releasing both.
    const first = await taskFinish(db, { outcomes: [ok(c!, 'C')], direct: await slots(wf, { d: 1, e: 1 }) });
    expect(first.assigned).toEqual([]);
    const second = await taskFinish(db, { outcomes: [ok(b!, { b: 'B' })], direct: await slots(wf, { d: 1, e: 1 }) });
    expect(names(second)).toEqual(['d', 'e']);
    for (const x of second.assigned) expect(x.task.parents).toEqual({ b: { b: 'B' }, c: 'C' });
    expect(await taskAssignedList(db, { workerIds: [workerId] })).toEqual(expect.arrayContaining(second.assigned));
    // Both parents in one batch: the outputs of both come from the statement's own rows.
    const run2 = await trigger(wf.name);
    const { a: a2 } = await claim(wf);
    await taskFinish(db, { outcomes: [ok(a2!, 'A')] });
    const { b: b2, c: c2 } = await claim(wf);
    const both = await taskFinish(db, { outcomes: [ok(b2!, 'B2'), ok(c2!, 'C2')], direct: await slots(wf, { d: 2, e: 2 }) });
    // One slot per child: d and e of run2 are released once each.
    expect(names(both)).toEqual(['d', 'e']);
    for (const x of both.assigned) expect(x.task).toMatchObject({ runId: run2, parents: { b: 'B2', c: 'C2' } });
    expect((await rows(runId)).d!.status).toBe('assigned');
  });

  it('assigns nothing when the lease is not held at the epoch it was reserved under, and says it was fenced', async () => {
    const wf = await register([node('a'), node('b', ['a'])]);
    const runId = await trigger(wf.name);
    const { a } = await claim(wf);
    const direct = await slots(wf, { b: 1 });
    const result = await taskFinish(db, { outcomes: [ok(a!, 1)], direct: { ...direct, epoch: direct.epoch - 1 } });
    expect(result.fenced).toBe(true);
    expect(result.assigned).toEqual([]);
    // The finish itself is written: the child is queued as without a reservation.
    expect(result.attempts).toHaveLength(1);
    expect(result.queued.map((q) => q.action)).toEqual([`${wf.name}:b`]);
    expect((await rows(runId)).b).toMatchObject({ status: 'queued', attempt: 0, worker_id: null });
  });

  it('assigns nothing to a worker seen gone since the reservation', async () => {
    const wf = await register([node('a'), node('b', ['a'])]);
    const runId = await trigger(wf.name);
    const { a } = await claim(wf);
    const direct = await slots(wf, { b: 1 });
    await workerSetStatus(db, { sessionId, status: 'disconnected' });
    const result = await taskFinish(db, { outcomes: [ok(a!, 1)], direct });
    expect(result.fenced).toBe(false);
    expect(result.assigned).toEqual([]);
    expect((await rows(runId)).b).toMatchObject({ status: 'queued', worker_id: null });
  });

  it('finds, after a retry, the children its first try assigned and nobody was sent', async () => {
    const wf = await register([node('a'), node('b', ['a'])]);
    const runId = await trigger(wf.name);
    const { a } = await claim(wf);
    const direct = await slots(wf, { b: 1 });
    const first = await taskFinish(db, { outcomes: [ok(a!, 'A')], direct });
    // The try again accepts nothing (its attempt has ended) and assigns nothing more.
    const again = await taskFinish(db, { outcomes: [ok(a!, 'A')], direct });
    expect(again.attempts).toEqual([]);
    expect(again.assigned).toEqual([]);
    const found = await taskFinishEarlierAssigned(db, { parentTaskRunIds: [a!.taskRunId], slots: direct.slots });
    expect(found).toEqual(first.assigned);
    // Once it started it is not an undelivered assignment any more.
    await db.query(`UPDATE task_run SET status = 'running', started_at = now() WHERE run_id = $1 AND task_name = 'b'`, [runId]);
    expect(await taskFinishEarlierAssigned(db, { parentTaskRunIds: [a!.taskRunId], slots: direct.slots })).toEqual([]);
  });

  it('delivers, through the writer, what a finish that committed but lost its reply assigned', async () => {
    const wf = await register([node('a'), node('b', ['a'])]);
    const runId = await trigger(wf.name);
    const { a } = await claim(wf);
    const direct = await slots(wf, { b: 1 });
    const delivered: Array<{ assigned: readonly Assigned[]; found: boolean }> = [];
    let released = 0;
    const reservation: ReleasedReservation = {
      ...direct,
      release: () => void released++,
      deliver: (assigned, options) => void delivered.push({ assigned, found: options?.found === true }),
      fenced: () => expect.unreachable('not fenced'),
    };
    // The finish commits, then its connection drops before the reply.
    let dropped = false;
    const run = async (q: Queryable, sql: Sql, params?: readonly unknown[]) => {
      const result = await q.query(sql, params);
      if (typeof sql !== 'string' && sql.name === 'cleaver_task_finish_direct' && !dropped) {
        dropped = true;
        throw toDatabaseError(ADMIN_SHUTDOWN);
      }
      return result;
    };
    const faulty: Driver = { ...db, query: ((sql: Sql, params?: readonly unknown[]) => run(db, sql, params)) as Driver['query'], relaxed: { query: ((sql: Sql, params?: readonly unknown[]) => run(db.relaxed, sql, params)) as Queryable['query'] } };
    const writer = new AttemptWriter({ driver: faulty, log: silentLogger, events: createEngineEvents({ log: silentLogger }), notifyFrom: null, logCap: { maxLines: 10, maxBytes: 10_000 }, reserveReleased: () => reservation });
    try {
      writer.finish(ok(a!, 'A'));
      await writer.drain();
    } finally {
      writer.stop();
    }
    expect(dropped).toBe(true);
    expect(released).toBe(0);
    // The retry assigned nothing (delivered empty), and the first try's child is found and delivered once.
    expect(delivered.map((d) => [d.found, d.assigned.map((x) => x.task.action)])).toEqual([
      [false, []],
      [true, [`${wf.name}:b`]],
    ]);
    expect(delivered[1]!.assigned[0]!.task).toMatchObject({ runId, attempt: 1, parents: { a: 'A' } });
    expect((await rows(runId)).b).toMatchObject({ status: 'assigned', worker_id: workerId });
  });
});
