// Workflow runs through the SQL operations, against both drivers: DAG progression (outputs passed on,
// fan-in queued once, also under concurrent finishers), failure (descendants cancelled, on-failure hook),
// on-success hooks, retries, cancellation, replay, child-run keys, versions and schedule timeouts.
import { randomBytes, randomUUID } from 'node:crypto';
import { beforeEach, expect, it } from 'vitest';
import { claim as claimTasks, forEachDriver } from './drivers.ts';
import type { Driver } from '../../engine/db/driver.ts';
import { uuidv7 } from '../../engine/ids.ts';
import { workflowRegister } from '../../engine/sql/workflow-register.ts';
import { runTrigger } from '../../engine/sql/run-trigger.ts';
import { nothingFinished, taskFinish, type AttemptOutcome, type FinishResult } from '../../engine/sql/task-finish.ts';
import { taskStart } from '../../engine/sql/task-start.ts';
import { taskScheduleExpiredList } from '../../engine/sql/task-lease.ts';
import { runCancel } from '../../engine/sql/run-cancel.ts';
import { runReplay, runReplaySkips } from '../../engine/sql/run-replay.ts';
import { runOutcomeList } from '../../engine/sql/run-read.ts';
import { runDetailsGet } from '../../engine/sql/run-details.ts';
import { workerUpsert } from '../../engine/sql/worker.ts';
import { AttemptWriter } from '../../engine/attempt-writer.ts';
import { createEngineEvents } from '../../engine/engine-events.ts';
import { silentLogger } from '../../engine/log.ts';
import { workflowActions } from '../../shared/workflow-definition.ts';
import { CleaverError } from '../../shared/errors.ts';
import type { AssignedTask } from '../../shared/protocol.ts';
import type { TaskRunRecord } from '../../shared/admin-api.ts';
import type { Json, TaskDefinition, WorkflowDefinition, WorkflowTaskDefinition } from '../../shared/types.ts';

const POLICY: Omit<TaskDefinition, 'name'> = { retries: 0, backoff: null, executionTimeoutMs: 60_000, scheduleTimeoutMs: 300_000, defaultPriority: 1 };

function node(name: string, parents: string[] = [], policy: Partial<TaskDefinition> = {}): WorkflowTaskDefinition {
  return { name, parents, ...POLICY, ...policy };
}

function hookDefinition(name: string, policy: Partial<TaskDefinition> = {}): TaskDefinition {
  return { name, ...POLICY, ...policy };
}

/** a → (b, c) → d */
function diamondTasks(policy: Partial<Record<'a' | 'b' | 'c' | 'd', Partial<TaskDefinition>>> = {}): WorkflowTaskDefinition[] {
  return [node('a', [], policy.a), node('b', ['a'], policy.b), node('c', ['a'], policy.c), node('d', ['b', 'c'], policy.d)];
}

function unique(label: string): string {
  return `${label}-${randomBytes(4).toString('hex')}`;
}

function ok(task: AssignedTask, output: Json): AttemptOutcome {
  return { taskRunId: task.taskRunId, attempt: task.attempt, ok: true, output };
}

function fail(task: AssignedTask, message: string): AttemptOutcome {
  return { taskRunId: task.taskRunId, attempt: task.attempt, ok: false, error: { message } };
}

/** The task name of a claimed workflow task ('<workflow>:<task>'). */
function taskNameOf(task: AssignedTask): string {
  return task.action.slice(task.action.indexOf(':') + 1);
}

forEachDriver('workflow operations', (getDriver, kind) => {
  let db: Driver;
  let workerId: string;

  beforeEach(async () => {
    db = getDriver();
    workerId = randomUUID();
    await workerUpsert(db, { id: workerId, sessionId: randomUUID(), name: 'w', engineId: randomUUID(), actions: [], slots: 100, labels: {}, address: 'test' });
  });

  /** Registers a workflow under a fresh name; returns its definition (with that name). */
  async function register(tasks: WorkflowTaskDefinition[], options: Partial<WorkflowDefinition> = {}): Promise<WorkflowDefinition> {
    const workflow: WorkflowDefinition = { name: unique('wf'), description: null, versionLabel: null, events: [], tasks, onFailure: null, onSuccess: null, ...options };
    const registered = await workflowRegister(db, { definition: { kind: 'workflow', workflow } });
    expect(registered.created).toBe(true);
    return workflow;
  }

  async function trigger(
    workflowName: string,
    options: { input?: Json; metadata?: Record<string, string>; parent?: { taskRunId: string; key: string } } = {},
  ): Promise<{ runId: string; queuedActions: string[]; version: number }> {
    const created = await runTrigger(db, {
      workflowName,
      runs: [{ runId: uuidv7(), taskRunId: uuidv7(), input: options.input ?? {}, metadata: options.metadata ?? {}, priority: null, triggerKind: options.parent ? 'child' : 'manual', parent: options.parent ?? null }],
      notifyFrom: null,
    });
    expect(created, `trigger ${workflowName}`).not.toBeNull();
    return { runId: created!.runIds[0]!, queuedActions: created!.queuedActions, version: created!.version };
  }

  /** Claims every claimable task run of the workflow, by task name. */
  async function claim(workflow: WorkflowDefinition): Promise<Record<string, AssignedTask>> {
    const claimed = await claimTasks(db, { workerId, actions: workflowActions(workflow), limit: 100 });
    const byName: Record<string, AssignedTask> = {};
    for (const task of claimed) {
      expect(byName[taskNameOf(task)], `${task.action} claimed twice`).toBeUndefined();
      byName[taskNameOf(task)] = task;
    }
    return byName;
  }

  async function taskRuns(runId: string): Promise<Record<string, TaskRunRecord>> {
    const details = await runDetailsGet(db, { runId });
    return Object.fromEntries(details!.taskRuns.map((t) => [t.taskName, t]));
  }

  async function statuses(runId: string): Promise<Record<string, string>> {
    return Object.fromEntries(Object.entries(await taskRuns(runId)).map(([name, t]) => [name, t.status]));
  }

  /** The run's counters and state, which the admin records do not show. */
  async function runState(runId: string) {
    const result = await db.query<{ status: string; tasks_remaining: number; tasks_failed: number; hook: string | null; workflow_version: number }>(
      `SELECT status, tasks_remaining, tasks_failed, hook, workflow_version FROM run WHERE id = $1`,
      [runId],
    );
    return result.rows[0]!;
  }

  async function pendingParents(runId: string, taskName: string): Promise<number> {
    const result = await db.query<{ pending_parents: number }>(`SELECT pending_parents FROM task_run WHERE run_id = $1 AND task_name = $2`, [runId, taskName]);
    return result.rows[0]!.pending_parents;
  }

  function endedRuns(result: FinishResult, runId: string) {
    return result.runs.filter((r) => r.runId === runId);
  }

  /** Triggers a diamond run and finishes a with { a: 1 }; returns b and c claimed. */
  async function diamondPastA(workflow: WorkflowDefinition, options: Parameters<typeof trigger>[1] = {}) {
    const { runId } = await trigger(workflow.name, options);
    const { a } = await claim(workflow);
    await taskFinish(db, { outcomes: [ok(a!, { a: 1 })] });
    const { b, c } = await claim(workflow);
    expect(b && c, 'b and c claimable once a succeeded').toBeTruthy();
    return { runId, a: a!, b: b!, c: c! };
  }

  it("leaves a workflow's task runs to the full finish when the standalone shape is asked for them", async () => {
    const wf = await register(diamondTasks());
    const { runId } = await trigger(wf.name);
    const { a } = await claim(wf);
    // A wrong hint finishes nothing: the task run stays assigned and its children pending.
    const lean = await taskFinish(db, { outcomes: [ok(a!, { from: 'a' })], standaloneOnly: true });
    expect(lean).toEqual(nothingFinished());
    expect(await statuses(runId)).toEqual({ a: 'assigned', b: 'pending', c: 'pending', d: 'pending' });
    // The full shape then finishes it as always.
    const done = await taskFinish(db, { outcomes: [ok(a!, { from: 'a' })] });
    expect(done.attempts).toHaveLength(1);
    expect(await statuses(runId)).toEqual({ a: 'succeeded', b: 'queued', c: 'queued', d: 'pending' });
  });

  it('finishes a workflow task hinted standalone through the full shape, once, when the writer writes it', async () => {
    const wf = await register(diamondTasks());
    const { runId } = await trigger(wf.name);
    const { a } = await claim(wf);
    const events = createEngineEvents({ log: silentLogger });
    const finished: FinishResult[] = [];
    events.on('tasks.finished', (f) => finished.push(f));
    const writer = new AttemptWriter({ driver: db, log: silentLogger, events, notifyFrom: null, logCap: { maxLines: 100, maxBytes: 100_000 } });
    try {
      const acked = new Promise<[boolean, string | undefined]>((resolve) => writer.finish({ ...ok(a!, { from: 'a' }), action: 'a-standalone-task' }, (accepted, reason) => resolve([accepted, reason])));
      expect(await acked).toEqual([true, undefined]);
      await writer.drain();
    } finally {
      writer.stop();
    }
    expect(await statuses(runId)).toEqual({ a: 'succeeded', b: 'queued', c: 'queued', d: 'pending' });
    // Told once, by the full shape, with the children it queued.
    expect(finished.map((f) => [f.attempts.map((x) => x.taskRunId), f.queued.length])).toEqual([[[a!.taskRunId], 2]]);
  });
  it('passes outputs down a diamond, queues the fan-in once, and ends the run with every output', async () => {
    const wf = await register(diamondTasks());
    const action = (t: string) => `${wf.name}:${t}`;
    const { runId, queuedActions } = await trigger(wf.name, { input: { x: 1 } });
    expect(queuedActions).toEqual([action('a')]);
    expect(await statuses(runId)).toEqual({ a: 'queued', b: 'pending', c: 'pending', d: 'pending' });
    expect(await runState(runId)).toMatchObject({ status: 'queued', tasks_remaining: 4 });

    const first = await claim(wf);
    expect(Object.keys(first)).toEqual(['a']);
    expect(first.a).toMatchObject({ runId, attempt: 1, input: { x: 1 } });

    const afterA = await taskFinish(db, { outcomes: [ok(first.a!, { a: 'A' })] });
    expect(afterA.queuedActions.sort()).toEqual([action('b'), action('c')]);
    // The task runs it queued, as the scheduler takes them into its window.
    expect(afterA.queued.map((q) => q.action).sort()).toEqual([action('b'), action('c')]);
    expect(afterA.queued.every((q) => typeof q.taskRunId === 'string' && q.priority === 1)).toBe(true);
    expect(afterA.runs).toEqual([]);
    expect(await statuses(runId)).toEqual({ a: 'succeeded', b: 'queued', c: 'queued', d: 'pending' });
    expect(await runState(runId)).toMatchObject({ status: 'running', tasks_remaining: 3 });

    const second = await claim(wf);
    expect(Object.keys(second).sort()).toEqual(['b', 'c']);
    expect(second.b!.parents).toEqual({ a: { a: 'A' } });
    expect(second.c!.parents).toEqual({ a: { a: 'A' } });
    expect(second.b!.input).toEqual({ x: 1 });

    // Both parents of d in one batch: d loses both pending parents in one update and is queued once.
    const afterBC = await taskFinish(db, { outcomes: [ok(second.b!, 'B'), ok(second.c!, 'C')] });
    expect(afterBC.queuedActions).toEqual([action('d')]);
    expect(afterBC.runs).toEqual([]);
    expect(await pendingParents(runId, 'd')).toBe(0);
    expect(await statuses(runId)).toEqual({ a: 'succeeded', b: 'succeeded', c: 'succeeded', d: 'queued' });

    const third = await claim(wf);
    expect(Object.keys(third)).toEqual(['d']);
    expect(third.d!.parents).toEqual({ b: 'B', c: 'C' });

    const afterD = await taskFinish(db, { outcomes: [ok(third.d!, { done: true })] });
    expect(afterD.queuedActions).toEqual([]);
    expect(afterD.runs).toEqual([{ runId, workflowName: wf.name, kind: 'workflow', status: 'succeeded', output: null, error: null, failureReason: null }]);
    expect(await runState(runId)).toMatchObject({ status: 'succeeded', tasks_remaining: 0, tasks_failed: 0 });

    const { outcomes } = await runOutcomeList(db, { runIds: [runId] });
    expect(outcomes).toEqual([{ runId, status: 'succeeded', output: { a: { a: 'A' }, b: 'B', c: 'C', d: { done: true } }, error: null, failureReason: null }]);
    expect(await claim(wf)).toEqual({});
  });

  it('queues the fan-in once and ends the run once when parents finish in concurrent statements', async () => {
    const diamond = await register(diamondTasks());
    // Two roots and nothing after them: the statements finishing them race to end the run.
    const pair = await register([node('b'), node('c')]);
    const rounds = kind === 'pg' ? 10 : 2;
    for (let round = 0; round < rounds; round++) {
      const { runId, b, c } = await diamondPastA(diamond);
      const results = await Promise.all([taskFinish(db, { outcomes: [ok(b, `B${round}`)] }), taskFinish(db, { outcomes: [ok(c, `C${round}`)] })]);
      expect(results.every((r) => r.attempts.length === 1), `round ${round}: both outcomes accepted`).toBe(true);
      expect(results.filter((r) => r.queuedActions.includes(`${diamond.name}:d`)), `round ${round}: d queued by exactly one statement`).toHaveLength(1);
      expect(await pendingParents(runId, 'd')).toBe(0);
      const { d } = await claim(diamond);
      expect(d!.parents).toEqual({ b: `B${round}`, c: `C${round}` });
      const done = await taskFinish(db, { outcomes: [ok(d!, 'D')] });
      expect(endedRuns(done, runId)).toHaveLength(1);
      expect(await runState(runId)).toMatchObject({ status: 'succeeded', tasks_remaining: 0 });

      const pairRun = (await trigger(pair.name)).runId;
      const roots = await claim(pair);
      const ends = await Promise.all([taskFinish(db, { outcomes: [ok(roots.b!, 1)] }), taskFinish(db, { outcomes: [ok(roots.c!, 2)] })]);
      expect(ends.flatMap((r) => endedRuns(r, pairRun)), `round ${round}: the run ended by exactly one statement`).toEqual([
        { runId: pairRun, workflowName: pair.name, kind: 'workflow', status: 'succeeded', output: null, error: null, failureReason: null },
      ]);
      expect(await runState(pairRun)).toMatchObject({ status: 'succeeded', tasks_remaining: 0 });
      expect((await runOutcomeList(db, { runIds: [pairRun] })).outcomes[0]!.output).toEqual({ b: 1, c: 2 });
    }
  });

  it('ends the run once when one parent fails and the other succeeds in concurrent statements', async () => {
    const wf = await register(diamondTasks());
    const rounds = kind === 'pg' ? 10 : 2;
    for (let round = 0; round < rounds; round++) {
      const { runId, b, c } = await diamondPastA(wf);
      const results = await Promise.all([taskFinish(db, { outcomes: [fail(b, 'b broke')] }), taskFinish(db, { outcomes: [ok(c, 'C')] })]);
      expect(results.flatMap((r) => r.queuedActions), `round ${round}: d is never queued`).toEqual([]);
      expect(results.flatMap((r) => endedRuns(r, runId)).map((r) => r.status), `round ${round}`).toEqual(['failed']);
      expect(await statuses(runId)).toEqual({ a: 'succeeded', b: 'failed', c: 'succeeded', d: 'cancelled' });
      expect(await runState(runId)).toMatchObject({ status: 'failed', tasks_remaining: 0, tasks_failed: 1 });
    }
  });

  it('cancels the descendants of a failed task, lets its siblings finish, and fails the run when they have', async () => {
    const wf = await register(diamondTasks());
    const { runId, b, c } = await diamondPastA(wf);

    const afterB = await taskFinish(db, { outcomes: [fail(b, 'b broke')] });
    expect(afterB.attempts).toMatchObject([{ taskRunId: b.taskRunId, status: 'failed', failureReason: 'ERROR' }]);
    expect(afterB.runs).toEqual([]);
    const runs = await taskRuns(runId);
    expect(runs.d).toMatchObject({ status: 'cancelled', failureReason: 'UPSTREAM_FAILED', error: { message: 'not run: task b did not succeed' } });
    expect(runs.c!.status).toBe('assigned');
    // Still going: c has not ended.
    expect(await runState(runId)).toMatchObject({ status: 'running', tasks_remaining: 1, tasks_failed: 1 });
    expect((await runOutcomeList(db, { runIds: [runId] })).outcomes).toEqual([]);
    expect(await claim(wf)).toEqual({});

    const afterC = await taskFinish(db, { outcomes: [ok(c, 'C')] });
    expect(afterC.attempts[0]!.status).toBe('succeeded');
    expect(afterC.queuedActions).toEqual([]);
    expect(afterC.runs).toMatchObject([{ runId, status: 'failed', error: { message: 'b broke' }, failureReason: 'ERROR' }]);
    const { outcomes } = await runOutcomeList(db, { runIds: [runId] });
    expect(outcomes[0]).toMatchObject({ status: 'failed', error: { message: 'b broke' }, failureReason: 'ERROR' });
    expect(await statuses(runId)).toEqual({ a: 'succeeded', b: 'failed', c: 'succeeded', d: 'cancelled' });
  });

  it('runs the on-failure hook once the rest has ended, with the failures, and fails the run after it even when it succeeds', async () => {
    const wf = await register(diamondTasks(), { onFailure: hookDefinition('cleanup') });
    const { runId, b, c } = await diamondPastA(wf);

    const afterB = await taskFinish(db, { outcomes: [fail(b, 'b broke')] });
    expect(afterB.queuedActions).toEqual([]);
    expect(Object.keys(await taskRuns(runId)).sort()).toEqual(['a', 'b', 'c', 'd']);

    const afterC = await taskFinish(db, { outcomes: [ok(c, 'C')] });
    expect(afterC.runs).toEqual([]);
    expect(afterC.queuedActions).toEqual([`${wf.name}:cleanup`]);
    expect((await taskRuns(runId)).cleanup).toMatchObject({ kind: 'on_failure', status: 'queued' });
    expect(await runState(runId)).toMatchObject({ status: 'running', hook: 'on_failure', tasks_remaining: 1 });

    const { cleanup } = await claim(wf);
    expect(cleanup!.failures).toEqual([{ taskName: 'b', taskRunId: b.taskRunId, failureReason: 'ERROR', error: { message: 'b broke' } }]);
    expect(cleanup!.parents).toEqual({ a: { a: 1 }, c: 'C' });

    const afterHook = await taskFinish(db, { outcomes: [ok(cleanup!, 'cleaned')] });
    expect(afterHook.runs).toMatchObject([{ runId, status: 'failed', error: { message: 'b broke' } }]);
    expect(afterHook.queuedActions).toEqual([]);
    expect(await runState(runId)).toMatchObject({ status: 'failed', tasks_remaining: 0, tasks_failed: 1, hook: 'on_failure' });
  });

  it('fails the run after a failing on-failure hook, keeping the task error', async () => {
    const wf = await register([node('a')], { onFailure: hookDefinition('cleanup') });
    const { runId } = await trigger(wf.name);
    const { a } = await claim(wf);
    await taskFinish(db, { outcomes: [fail(a!, 'a broke')] });
    const { cleanup } = await claim(wf);
    const afterHook = await taskFinish(db, { outcomes: [fail(cleanup!, 'cleanup broke')] });
    expect(afterHook.runs).toMatchObject([{ runId, status: 'failed', error: { message: 'a broke' } }]);
    // A failing on-failure hook does not count as one more failed task.
    expect(await runState(runId)).toMatchObject({ status: 'failed', tasks_failed: 1 });
  });

  it('runs the on-success hook at the end; the run succeeds after it does, and fails if it fails', async () => {
    const wf = await register(diamondTasks(), { onSuccess: hookDefinition('notify') });
    for (const hookSucceeds of [true, false]) {
      const { runId, b, c } = await diamondPastA(wf);
      await taskFinish(db, { outcomes: [ok(b, 'B'), ok(c, 'C')] });
      const { d } = await claim(wf);
      const afterD = await taskFinish(db, { outcomes: [ok(d!, 'D')] });
      expect(afterD.runs).toEqual([]);
      expect(afterD.queuedActions).toEqual([`${wf.name}:notify`]);
      expect(await runState(runId)).toMatchObject({ status: 'running', hook: 'on_success', tasks_remaining: 1 });

      const { notify } = await claim(wf);
      expect(notify!.failures).toEqual([]);
      expect(notify!.parents).toEqual({ a: { a: 1 }, b: 'B', c: 'C', d: 'D' });
      const afterHook = await taskFinish(db, { outcomes: [hookSucceeds ? ok(notify!, 'sent') : fail(notify!, 'mail down')] });
      if (hookSucceeds) {
        expect(afterHook.runs).toMatchObject([{ runId, status: 'succeeded', error: null }]);
        // The run's output is its tasks', not the hook's.
        expect((await runOutcomeList(db, { runIds: [runId] })).outcomes[0]!.output).toEqual({ a: { a: 1 }, b: 'B', c: 'C', d: 'D' });
      } else {
        expect(afterHook.runs).toMatchObject([{ runId, status: 'failed', error: { message: 'mail down' }, failureReason: 'ERROR' }]);
      }
    }
  });

  it('cancels a child of a failed and a succeeded parent finished in one batch, and ends the run', async () => {
    const wf = await register(diamondTasks());
    const { runId, b, c } = await diamondPastA(wf);
    const result = await taskFinish(db, { outcomes: [fail(b, 'b broke'), ok(c, 'C')] });
    expect(result.queuedActions).toEqual([]);
    expect(result.runs).toMatchObject([{ runId, status: 'failed', error: { message: 'b broke' } }]);
    const runs = await taskRuns(runId);
    expect(runs.d).toMatchObject({ status: 'cancelled', failureReason: 'UPSTREAM_FAILED' });
    expect(await runState(runId)).toMatchObject({ status: 'failed', tasks_remaining: 0, tasks_failed: 1 });
  });

  it('retries a failing DAG task without touching its descendants', async () => {
    const wf = await register(diamondTasks({ b: { retries: 1 } }));
    const { runId, b, c } = await diamondPastA(wf);
    const retry = await taskFinish(db, { outcomes: [fail(b, 'flaky')] });
    expect(retry.attempts).toMatchObject([{ status: 'queued', retryDelayMs: 0 }]);
    expect(retry.runs).toEqual([]);
    expect(await statuses(runId)).toEqual({ a: 'succeeded', b: 'queued', c: 'assigned', d: 'pending' });
    expect(await pendingParents(runId, 'd')).toBe(2);
    expect(await runState(runId)).toMatchObject({ status: 'running', tasks_remaining: 3, tasks_failed: 0 });

    const { b: again } = await claim(wf);
    expect(again!.attempt).toBe(2);
    await taskFinish(db, { outcomes: [ok(again!, 'B'), ok(c, 'C')] });
    const { d } = await claim(wf);
    expect(d!.parents).toEqual({ b: 'B', c: 'C' });
  });

  it('cancels a run with a running task: every open task run ends, the attempt is recorded, a late result is refused', async () => {
    const wf = await register(diamondTasks());
    const { runId } = await trigger(wf.name);
    const { a } = await claim(wf);
    expect(await taskStart(db, { starts: [{ taskRunId: a!.taskRunId, attempt: 1, startedAt: Date.now(), workerId: null }] })).toBe(1);

    const cancelled = await runCancel(db, { runIds: [runId] });
    // Every task run of the diamond had not ended: all four end with the run.
    expect(cancelled).toEqual({
      cancelled: [runId],
      active: [{ taskRunId: a!.taskRunId, attempt: 1, workerId }],
      ended: [{ runId, workflowName: wf.name, status: 'cancelled', taskRuns: 4 }],
    });
    const runs = await taskRuns(runId);
    for (const name of ['a', 'b', 'c', 'd']) expect(runs[name], name).toMatchObject({ status: 'cancelled', failureReason: 'CANCELLED' });
    const details = await runDetailsGet(db, { runId });
    expect(details!.attempts).toMatchObject([{ taskRunId: a!.taskRunId, attempt: 1, status: 'cancelled', failureReason: 'CANCELLED', workerId }]);
    expect(details!.run).toMatchObject({ status: 'cancelled', failureReason: 'CANCELLED' });
    expect(await runState(runId)).toMatchObject({ status: 'cancelled', tasks_remaining: 0 });

    const late = await taskFinish(db, { outcomes: [ok(a!, 'too late')] });
    expect(late).toEqual(nothingFinished());
    expect((await taskRuns(runId)).a!.output).toBeNull();
    expect(await claim(wf)).toEqual({});
    expect((await runOutcomeList(db, { runIds: [runId] })).outcomes).toMatchObject([{ status: 'cancelled', failureReason: 'CANCELLED' }]);

    // An ended run is left alone.
    expect(await runCancel(db, { runIds: [runId] })).toEqual({ cancelled: [], active: [], ended: [] });
    const done = await register([node('only')]);
    const { runId: doneRun } = await trigger(done.name);
    await taskFinish(db, { outcomes: [ok((await claim(done)).only!, 1)] });
    expect(await runCancel(db, { runIds: [doneRun] })).toEqual({ cancelled: [], active: [], ended: [] });
    expect(await runState(doneRun)).toMatchObject({ status: 'succeeded' });
  });

  it('cancels a run while an attempt of it finishes in a concurrent statement', async () => {
    const wf = await register(diamondTasks());
    const rounds = kind === 'pg' ? 10 : 2;
    for (let round = 0; round < rounds; round++) {
      const { runId } = await trigger(wf.name);
      const { a } = await claim(wf);
      const [cancelled, finished] = await Promise.all([runCancel(db, { runIds: [runId] }), taskFinish(db, { outcomes: [ok(a!, 'A')] })]);
      expect(cancelled.cancelled, `round ${round}`).toEqual([runId]);
      // Whichever came first, the run ends cancelled with nothing left to run.
      const states = await statuses(runId);
      expect(states.a, `round ${round}`).toBe(finished.attempts.length === 1 ? 'succeeded' : 'cancelled');
      expect([states.b, states.c, states.d], `round ${round}`).toEqual(['cancelled', 'cancelled', 'cancelled']);
      expect(await runState(runId)).toMatchObject({ status: 'cancelled', tasks_remaining: 0 });
      expect(await claim(wf)).toEqual({});
    }
  });

  it('replays a failed run from the tasks that did not succeed, keeping the others and numbering attempts on', async () => {
    const wf = await register(diamondTasks());
    const action = (t: string) => `${wf.name}:${t}`;
    const { runId, b, c } = await diamondPastA(wf);
    await taskFinish(db, { outcomes: [fail(b, 'b broke'), ok(c, 'C')] });
    expect(await statuses(runId)).toEqual({ a: 'succeeded', b: 'failed', c: 'succeeded', d: 'cancelled' });

    const before = await db.query<{ replayed_at: Date | null; now: Date }>(`SELECT replayed_at, now() FROM run WHERE id = $1`, [runId]);
    expect(before.rows[0]!.replayed_at).toBeNull();
    const replayed = await runReplay(db, { runIds: [runId], fromTask: null, notifyFrom: null });
    expect(replayed).toEqual({ replayed: [runId], queuedActions: [action('b')] });
    expect(await statuses(runId)).toEqual({ a: 'succeeded', b: 'queued', c: 'succeeded', d: 'pending' });
    // When the current try began: the console counts the run's duration from here.
    const after = await db.query<{ replayed_at: Date | null }>(`SELECT replayed_at FROM run WHERE id = $1`, [runId]);
    expect(after.rows[0]!.replayed_at!.getTime()).toBeGreaterThanOrEqual(before.rows[0]!.now.getTime());
    // A run still going, one without the named task, one with nothing left to run, one that does not exist.
    const { runId: fresh } = await trigger(wf.name);
    const missing = '01a2b3c4-0000-7000-8000-0000000000ff';
    expect(await runReplaySkips(db, { runIds: [runId, fresh, missing], fromTask: null })).toEqual([
      { runId, reason: 'not-ended', status: 'queued' },
      { runId: fresh, reason: 'not-ended', status: 'queued' },
      { runId: missing, reason: 'not-found' },
    ]);
    await db.query(`UPDATE run SET status = 'succeeded' WHERE id = $1`, [fresh]);
    expect(await runReplaySkips(db, { runIds: [fresh], fromTask: null })).toEqual([{ runId: fresh, reason: 'nothing-to-replay', status: 'succeeded' }]);
    expect(await runReplaySkips(db, { runIds: [fresh], fromTask: 'nope' })).toEqual([{ runId: fresh, reason: 'no-such-task', status: 'succeeded' }]);
    expect(await pendingParents(runId, 'd')).toBe(1);
    expect(await runState(runId)).toMatchObject({ status: 'queued', tasks_remaining: 2, tasks_failed: 0, hook: null });
    const runs = await taskRuns(runId);
    expect(runs.a!.output).toEqual({ a: 1 });
    expect(runs.c!.output).toBe('C');
    expect(runs.b).toMatchObject({ error: null, failureReason: null, output: null });

    const { b: again } = await claim(wf);
    expect(again!.attempt).toBe(2);
    expect(again!.parents).toEqual({ a: { a: 1 } });
    const afterB = await taskFinish(db, { outcomes: [ok(again!, 'B')] });
    expect(afterB.queuedActions).toEqual([action('d')]);
    const { d } = await claim(wf);
    expect(d!.parents).toEqual({ b: 'B', c: 'C' });
    const done = await taskFinish(db, { outcomes: [ok(d!, 'D')] });
    expect(done.runs).toMatchObject([{ runId, status: 'succeeded', error: null }]);
    expect((await runOutcomeList(db, { runIds: [runId] })).outcomes[0]).toMatchObject({ status: 'succeeded', output: { a: { a: 1 }, b: 'B', c: 'C', d: 'D' }, error: null });
    // History keeps every try: a and c once, b twice, d once.
    const attempts = (await runDetailsGet(db, { runId }))!.attempts;
    const names = new Map(Object.values(await taskRuns(runId)).map((t) => [t.id, t.taskName]));
    expect(attempts.map((x) => [names.get(x.taskRunId), x.attempt, x.status]).sort()).toEqual(
      [['a', 1, 'succeeded'], ['b', 1, 'failed'], ['b', 2, 'succeeded'], ['c', 1, 'succeeded'], ['d', 1, 'succeeded']].sort(),
    );
  });

  it('gives a replayed task a fresh retry budget', async () => {
    const wf = await register([node('a', [], { retries: 1 })]);
    const { runId } = await trigger(wf.name);
    for (const attempt of [1, 2]) {
      const { a } = await claim(wf);
      expect(a!.attempt).toBe(attempt);
      const result = await taskFinish(db, { outcomes: [fail(a!, `fail ${attempt}`)] });
      expect(result.attempts[0]!.status).toBe(attempt === 1 ? 'queued' : 'failed');
    }
    await runReplay(db, { runIds: [runId], fromTask: null, notifyFrom: null });
    const { a: third } = await claim(wf);
    expect(third!.attempt).toBe(3);
    // Two attempts were spent before the replay; the budget of two starts again here.
    expect((await taskFinish(db, { outcomes: [fail(third!, 'fail 3')] })).attempts[0]!.status).toBe('queued');
    const { a: fourth } = await claim(wf);
    expect(fourth!.attempt).toBe(4);
    expect((await taskFinish(db, { outcomes: [fail(fourth!, 'fail 4')] })).attempts[0]!.status).toBe('failed');
    expect(await runState(runId)).toMatchObject({ status: 'failed' });
  });

  it('replays a succeeded run from a named task with everything downstream of it, and leaves running runs alone', async () => {
    const wf = await register([...diamondTasks(), node('side')]);
    const { runId } = await trigger(wf.name);
    const roots = await claim(wf);
    expect(Object.keys(roots).sort()).toEqual(['a', 'side']);
    await taskFinish(db, { outcomes: [ok(roots.a!, { a: 1 }), ok(roots.side!, 'S')] });
    const { b, c } = await claim(wf);
    await taskFinish(db, { outcomes: [ok(b!, 'B'), ok(c!, 'C')] });
    const { d } = await claim(wf);

    // Still running: nothing is replayed.
    expect(await runReplay(db, { runIds: [runId], fromTask: 'a', notifyFrom: null })).toEqual({ replayed: [], queuedActions: [] });
    expect(await statuses(runId)).toMatchObject({ a: 'succeeded', d: 'assigned' });

    await taskFinish(db, { outcomes: [ok(d!, 'D')] });
    expect(await runState(runId)).toMatchObject({ status: 'succeeded' });

    const replayed = await runReplay(db, { runIds: [runId], fromTask: 'a', notifyFrom: null });
    expect(replayed).toEqual({ replayed: [runId], queuedActions: [`${wf.name}:a`] });
    expect(await statuses(runId)).toEqual({ a: 'queued', b: 'pending', c: 'pending', d: 'pending', side: 'succeeded' });
    expect(await pendingParents(runId, 'b')).toBe(1);
    expect(await pendingParents(runId, 'd')).toBe(2);
    expect(await runState(runId)).toMatchObject({ status: 'queued', tasks_remaining: 4 });

    const { a } = await claim(wf);
    expect(a!.attempt).toBe(2);
    await taskFinish(db, { outcomes: [ok(a!, 'A2')] });
    const second = await claim(wf);
    expect(second.b!.parents).toEqual({ a: 'A2' });
    await taskFinish(db, { outcomes: [ok(second.b!, 'B2'), ok(second.c!, 'C2')] });
    const { d: d2 } = await claim(wf);
    const done = await taskFinish(db, { outcomes: [ok(d2!, 'D2')] });
    expect(done.runs).toMatchObject([{ runId, status: 'succeeded' }]);
    expect((await runOutcomeList(db, { runIds: [runId] })).outcomes[0]!.output).toEqual({ a: 'A2', b: 'B2', c: 'C2', d: 'D2', side: 'S' });
  });

  it('runs the on-failure hook again when a replayed run fails again', async () => {
    const wf = await register(diamondTasks(), { onFailure: hookDefinition('cleanup') });
    const { runId, b, c } = await diamondPastA(wf);
    await taskFinish(db, { outcomes: [fail(b, 'first')] });
    await taskFinish(db, { outcomes: [ok(c, 'C')] });
    const { cleanup } = await claim(wf);
    expect(cleanup!.attempt).toBe(1);
    await taskFinish(db, { outcomes: [ok(cleanup!, 'cleaned once')] });
    expect(await runState(runId)).toMatchObject({ status: 'failed' });

    await runReplay(db, { runIds: [runId], fromTask: null, notifyFrom: null });
    // The hook is not part of the replay: it stays as it was until the run ends again.
    expect(await statuses(runId)).toEqual({ a: 'succeeded', b: 'queued', c: 'succeeded', d: 'pending', cleanup: 'succeeded' });
    const { b: again } = await claim(wf);
    const second = await taskFinish(db, { outcomes: [fail(again!, 'second')] });
    expect(second.runs).toEqual([]);
    expect(second.queuedActions).toEqual([`${wf.name}:cleanup`]);
    const runs = await taskRuns(runId);
    expect(runs.cleanup).toMatchObject({ status: 'queued', output: null });
    expect(runs.d).toMatchObject({ status: 'cancelled', failureReason: 'UPSTREAM_FAILED' });

    const { cleanup: hookAgain } = await claim(wf);
    expect(hookAgain!.attempt).toBe(2);
    expect(hookAgain!.failures).toEqual([{ taskName: 'b', taskRunId: b.taskRunId, failureReason: 'ERROR', error: { message: 'second' } }]);
    const end = await taskFinish(db, { outcomes: [ok(hookAgain!, 'cleaned twice')] });
    expect(end.runs).toMatchObject([{ runId, status: 'failed', error: { message: 'second' } }]);
    const hookRows = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM task_run WHERE run_id = $1 AND kind = 'on_failure'`, [runId]);
    expect(hookRows.rows[0]!.n).toBe(1);
  });

  it('runs a hook again afresh after a replay: a new retry budget, the free allowance for lost workers included', async () => {
    const wf = await register(diamondTasks(), { onFailure: hookDefinition('cleanup') });
    const { runId, b, c } = await diamondPastA(wf);
    await taskFinish(db, { outcomes: [fail(b, 'first'), ok(c, 'C')] });
    const { cleanup } = await claim(wf);
    // The hook's worker is lost once (a free loss), then it succeeds on its second attempt.
    const lost = await taskFinish(db, { outcomes: [{ taskRunId: cleanup!.taskRunId, attempt: cleanup!.attempt, ok: false, reason: 'WORKER_LOST', error: { message: 'lost' } }] });
    expect(lost.attempts[0]!.status).toBe('queued');
    const { cleanup: second } = await claim(wf);
    await taskFinish(db, { outcomes: [ok(second!, 'cleaned')] });
    const hookRow = async () =>
      (await db.query<{ status: string; attempt: number; attempt_offset: number; worker_lost_count: number; worker_id: string | null }>(
        `SELECT status, attempt, attempt_offset, worker_lost_count, worker_id FROM task_run WHERE run_id = $1 AND kind = 'on_failure'`,
        [runId],
      )).rows[0]!;
    expect(await hookRow()).toMatchObject({ status: 'succeeded', attempt: 2, worker_lost_count: 1 });

    await runReplay(db, { runIds: [runId], fromTask: null, notifyFrom: null });
    const { b: again } = await claim(wf);
    await taskFinish(db, { outcomes: [fail(again!, 'second')] });
    expect(await hookRow()).toEqual({ status: 'queued', attempt: 2, attempt_offset: 2, worker_lost_count: 0, worker_id: null });
  });

  it('finds a child run by its key instead of creating it again, and passes the parent run metadata on', async () => {
    const parentWf = await register([node('spawner')]);
    const { runId: parentRun } = await trigger(parentWf.name, { metadata: { tenant: 't1', region: 'eu' } });
    const { spawner } = await claim(parentWf);
    const child = await register([node('work')]);

    const parent = { taskRunId: spawner!.taskRunId, key: '0' };
    const first = await trigger(child.name, { parent, metadata: { region: 'us', own: 'x' } });
    const second = await trigger(child.name, { parent, metadata: { region: 'us', own: 'x' } });
    expect(second.runId).toBe(first.runId);
    expect(second.queuedActions).toEqual([]);
    const other = await trigger(child.name, { parent: { ...parent, key: '1' } });
    expect(other.runId).not.toBe(first.runId);

    const children = await db.query<{ id: string; child_key: string }>(`SELECT id, child_key FROM run WHERE parent_task_run_id = $1 ORDER BY child_key`, [spawner!.taskRunId]);
    expect(children.rows).toEqual([{ id: first.runId, child_key: '0' }, { id: other.runId, child_key: '1' }]);
    const taskRunCount = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM task_run WHERE run_id = $1`, [first.runId]);
    expect(taskRunCount.rows[0]!.n).toBe(1);

    const details = await runDetailsGet(db, { runId: first.runId });
    expect(details!.run).toMatchObject({ triggerKind: 'child', parentTaskRunId: spawner!.taskRunId, parentRunId: parentRun, childKey: '0', metadata: { tenant: 't1', region: 'us', own: 'x' } });
    expect(details!.parent).toEqual({ runId: parentRun, taskRunId: spawner!.taskRunId, taskName: 'spawner', workflowName: parentWf.name, status: 'queued' });
    expect((await runDetailsGet(db, { runId: other.runId }))!.run.metadata).toEqual({ tenant: 't1', region: 'eu' });
    expect((await runDetailsGet(db, { runId: parentRun }))!.childCounts).toMatchObject({ total: 2, byStatus: { queued: 2 } });
  });

  it('creates a keyed child once when two attempts of its parent ask for it at the same time', async () => {
    const parentWf = await register([node('spawner')]);
    await trigger(parentWf.name);
    const { spawner } = await claim(parentWf);
    const child = await register([node('work')]);
    const parent = { taskRunId: spawner!.taskRunId, key: 'k' };
    const rounds = kind === 'pg' ? 10 : 2;
    for (let round = 0; round < rounds; round++) {
      const keyed = { ...parent, key: `k${round}` };
      const [one, two] = await Promise.all([trigger(child.name, { parent: keyed }), trigger(child.name, { parent: keyed })]);
      const rows = await db.query<{ id: string }>(`SELECT id FROM run WHERE parent_task_run_id = $1 AND child_key = $2`, [keyed.taskRunId, keyed.key]);
      expect(rows.rows, `round ${round}`).toHaveLength(1);
      // Both callers are told the one run that exists.
      expect([one.runId, two.runId], `round ${round}`).toEqual([rows.rows[0]!.id, rows.rows[0]!.id]);
    }
  });

  it('creates a child once when one batch names its key twice', async () => {
    const parentWf = await register([node('spawner')]);
    await trigger(parentWf.name);
    const { spawner } = await claim(parentWf);
    const child = await register([node('work')]);
    const parent = { taskRunId: spawner!.taskRunId, key: 'same' };
    const runs = [0, 1].map((i) => ({ runId: uuidv7(), taskRunId: uuidv7(), input: { i }, metadata: {}, priority: null, triggerKind: 'child' as const, parent }));
    const created = await runTrigger(db, { workflowName: child.name, runs, notifyFrom: null });
    const rows = await db.query<{ id: string }>(`SELECT id FROM run WHERE parent_task_run_id = $1`, [spawner!.taskRunId]);
    expect(rows.rows).toHaveLength(1);
    expect(created!.runIds).toEqual([rows.rows[0]!.id, rows.rows[0]!.id]);
  });

  it('keeps the version a run was created with when the workflow changes', async () => {
    const v1 = await register([node('a'), node('b', ['a'])], { onFailure: hookDefinition('cleanup') });
    const { runId: oldRun, version } = await trigger(v1.name);
    expect(version).toBe(1);

    const same = await workflowRegister(db, { definition: { kind: 'workflow', workflow: { ...v1 } } });
    expect(same).toEqual({ name: v1.name, version: 1, created: false });

    const v2: WorkflowDefinition = { ...v1, tasks: [node('a'), node('b', ['a'], { retries: 2 })], onFailure: null };
    expect(await workflowRegister(db, { definition: { kind: 'workflow', workflow: v2 } })).toEqual({ name: v1.name, version: 2, created: true });
    const { runId: newRun, version: newVersion } = await trigger(v1.name);
    expect(newVersion).toBe(2);

    expect((await runDetailsGet(db, { runId: oldRun }))!.run.workflowVersion).toBe(1);
    expect((await runDetailsGet(db, { runId: newRun }))!.run.workflowVersion).toBe(2);
    expect((await taskRuns(oldRun)).b!.maxAttempts).toBe(1);
    expect((await taskRuns(newRun)).b!.maxAttempts).toBe(3);

    // The old run goes on under version 1: b fails for good at once and version 1's hook runs.
    const roots = await claimTasks(db, { workerId, actions: [`${v1.name}:a`], limit: 10 });
    const oldA = roots.find((t) => t.runId === oldRun)!;
    await taskFinish(db, { outcomes: roots.map((t) => ok(t, 1)) });
    const second = await claimTasks(db, { workerId, actions: [`${v1.name}:b`], limit: 10 });
    expect(second.map((t) => t.runId).sort()).toEqual([oldRun, newRun].sort());
    const oldB = second.find((t) => t.runId === oldRun)!;
    expect(oldA.attempt).toBe(1);
    const failed = await taskFinish(db, { outcomes: [fail(oldB, 'old b broke')] });
    expect(failed.attempts[0]!.status).toBe('failed');
    expect(failed.queuedActions).toEqual([`${v1.name}:cleanup`]);
    // Under version 2 the same failure is retried: the new run's b has its own policy.
    const newB = second.find((t) => t.runId === newRun)!;
    expect((await taskFinish(db, { outcomes: [fail(newB, 'new b broke')] })).attempts[0]!.status).toBe('queued');

    // A worker still running the old definition registers it: found, not added; latest stays 2.
    const old = await workflowRegister(db, { definition: { kind: 'workflow', workflow: v1 } });
    expect(old).toEqual({ name: v1.name, version: 1, created: false });
    expect((await trigger(v1.name)).version).toBe(2);
  });

  it('refuses to register a workflow under the name of a standalone task, and the reverse', async () => {
    const name = unique('taken');
    await workflowRegister(db, { definition: { kind: 'task', task: { name, ...POLICY } } });
    const workflow: WorkflowDefinition = { name, description: null, versionLabel: null, events: [], tasks: [node('a')], onFailure: null, onSuccess: null };
    const error = await workflowRegister(db, { definition: { kind: 'workflow', workflow } }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(CleaverError);
    expect((error as CleaverError).code).toBe('BAD_REQUEST');
    expect((error as CleaverError).message).toMatch(/already registered as a standalone task/);

    const wf = await register([node('a')]);
    await expect(workflowRegister(db, { definition: { kind: 'task', task: { name: wf.name, ...POLICY } } })).rejects.toThrow(/already registered as a workflow/);
  });

  it('fails a DAG task that waited past its schedule deadline and cancels its descendants', async () => {
    const wf = await register(diamondTasks());
    const { runId } = await trigger(wf.name);
    const { a } = await claim(wf);
    await taskFinish(db, { outcomes: [ok(a!, 'A')] });
    const runs = await taskRuns(runId);
    // b went pending → queued when a succeeded; nobody claims it before its deadline.
    await db.query(`UPDATE task_run SET schedule_deadline = now() - interval '1 second' WHERE id = $1`, [runs.b!.id]);
    const expired = (await taskScheduleExpiredList(db, { limit: 1000 })).filter((e) => e.taskRunId === runs.b!.id);
    expect(expired).toEqual([{ taskRunId: runs.b!.id, attempt: 0, action: `${wf.name}:b`, timeoutMs: POLICY.scheduleTimeoutMs }]);

    // A queued task run whose deadline has not passed is not timed out.
    const early = await taskFinish(db, { outcomes: [{ taskRunId: runs.c!.id, attempt: 0, ok: false, reason: 'SCHEDULE_TIMEOUT', error: { message: 'not yet' } }] });
    expect(early.attempts).toEqual([]);

    const timedOut = await taskFinish(db, { outcomes: [{ taskRunId: runs.b!.id, attempt: 0, ok: false, reason: 'SCHEDULE_TIMEOUT', error: { message: 'never picked up' } }] });
    expect(timedOut.attempts).toMatchObject([{ status: 'failed', failureReason: 'SCHEDULE_TIMEOUT' }]);
    expect(await statuses(runId)).toEqual({ a: 'succeeded', b: 'failed', c: 'queued', d: 'cancelled' });
    expect((await taskRuns(runId)).d!.failureReason).toBe('UPSTREAM_FAILED');
    // It never ran, so it has no attempt row.
    expect((await runDetailsGet(db, { runId }))!.attempts.filter((x) => x.taskRunId === runs.b!.id)).toEqual([]);
    expect(await runState(runId)).toMatchObject({ status: 'running', tasks_remaining: 1, tasks_failed: 1 });

    const { c } = await claim(wf);
    const end = await taskFinish(db, { outcomes: [ok(c!, 'C')] });
    expect(end.runs).toMatchObject([{ runId, status: 'failed', failureReason: 'SCHEDULE_TIMEOUT', error: { message: 'never picked up' } }]);
  });
});
