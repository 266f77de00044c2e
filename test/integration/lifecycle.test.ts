// Task lifecycle end to end, with real worker processes over the local socket, on both drivers.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { forEachDriver } from '../driver/drivers.ts';
import { TaskRunError, CleaverError } from '../../sdk/index.ts';
import type { Engine } from '../../engine/engine.ts';
import { runDetailsGet } from '../../engine/sql/run-details.ts';
import { taskLogList } from '../../engine/sql/task-log.ts';
import type { Cleaver } from '../../sdk/index.ts';
import { client, executions, kill, removeDir, spawnWorker, startEngine, tempDir, useEngineAndWorker, waitFor } from './harness.ts';

forEachDriver('task lifecycle', (getDriver) => {
  const ctx = useEngineAndWorker(getDriver, ['echo', 'flaky', 'fatal', 'hang', 'refresh']);
  let dir: string;
  let cleaver: Cleaver;
  beforeAll(() => {
    ({ dir, cleaver } = ctx);
  });

  const task = (name: string) => cleaver.ref(name);

  it('runs a task and returns its output, with metadata visible in ctx', async () => {
    const out = await task('echo').run({ hello: 'world' }, { metadata: { tenant: 't1' } });
    expect(out).toEqual({ input: { hello: 'world' }, attempt: 1, metadata: { tenant: 't1' } });
  });

  it('runNoWait returns a reference whose result() resolves later; runMany inserts in bulk', async () => {
    const ref = await task('echo').runNoWait({ n: 1 });
    expect(ref.runId).toMatch(/^[0-9a-f-]{36}$/);
    expect(await ref.result()).toMatchObject({ input: { n: 1 } });
    const many = await task('echo').runMany(Array.from({ length: 50 }, (_, i) => ({ i })));
    expect(many.map((m) => (m as { input: { i: number } }).input.i)).toEqual(Array.from({ length: 50 }, (_, i) => i));
  });

  it('retries a failing task with exponential backoff until it succeeds', async () => {
    const ref = await task('flaky').runNoWait({ succeedOn: 3 });
    expect(await ref.result()).toEqual({ attempt: 3 });
    const tries = executions(dir).filter((e) => e.task === 'flaky');
    const mine = tries.filter((e) => e.taskRunId === tries.at(-1)!.taskRunId);
    expect(mine.map((e) => e.attempt)).toEqual([1, 2, 3]);
    // factor 2, maxSeconds 1: both waits are min(1 s, 2^n s) = 1 s.
    expect(mine[1]!.at - mine[0]!.at).toBeGreaterThanOrEqual(900);
    expect(mine[2]!.at - mine[1]!.at).toBeGreaterThanOrEqual(900);
  });

  it('fails the run with the task error once retries are exhausted', async () => {
    const error = await task('flaky').run({ succeedOn: 99 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TaskRunError);
    expect((error as TaskRunError).message).toBe('flaky failure on attempt 4');
    expect((error as TaskRunError).failureReason).toBe('ERROR');
  }, 20_000);

  it('NonRetryableError skips the remaining retries', async () => {
    const before = executions(dir).filter((e) => e.task === 'fatal').length;
    const error = await task('fatal').run({}).catch((e: unknown) => e);
    expect((error as TaskRunError).message).toBe('this cannot work, do not retry');
    expect((error as TaskRunError).failureReason).toBe('NON_RETRYABLE');
    expect(executions(dir).filter((e) => e.task === 'fatal').length).toBe(before + 1);
  });

  it('an attempt running past executionTimeout is aborted and retried, then the run fails', async () => {
    const error = await task('hang').run({}).catch((e: unknown) => e);
    expect((error as TaskRunError).failureReason).toBe('EXECUTION_TIMEOUT');
    const runs = executions(dir).filter((e) => e.task === 'hang');
    const last = runs.at(-1)!.taskRunId;
    const mine = runs.filter((e) => e.taskRunId === last);
    // Each attempt records its start and then its abort (the signal fired): two attempts, both aborted.
    expect(mine.filter((e) => e.aborted === undefined).map((e) => e.attempt)).toEqual([1, 2]);
    expect(mine.filter((e) => e.aborted !== undefined)).toHaveLength(2);
  });

  it('ctx.refreshTimeout extends a running attempt past its original timeout; ctx.log lines are kept', async () => {
    const ref = await task('refresh').runNoWait({});
    expect(await ref.result()).toEqual({ ok: true });
    const details = await runDetailsGet(getDriver(), { runId: ref.runId });
    expect(details!.run.status).toBe('succeeded');
    const [taskRun] = details!.taskRuns;
    expect(taskRun).toMatchObject({ status: 'succeeded', attempt: 1 });
    expect(details!.attempts).toMatchObject([{ attempt: 1, status: 'succeeded' }]);
    await waitFor('the log line to be written', async () => (await taskLogList(getDriver(), { taskRunId: taskRun!.id, limit: 10 })).length > 0);
    expect(await taskLogList(getDriver(), { taskRunId: taskRun!.id, limit: 10 })).toMatchObject([
      { attempt: 1, level: 'warn', message: 'survived past the original timeout' },
    ]);
  });

  it('refuses an unknown task name with a clear error', async () => {
    const error = await task('no-such-task').run({}).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CleaverError);
    expect((error as CleaverError).code).toBe('UNKNOWN_TASK');
    expect((error as CleaverError).message).toMatch(/no workflow or task named "no-such-task" is registered/);
  });

  it('refuses input that is not JSON before sending it', async () => {
    await expect(task('echo').run({ bad: 'a\u0000b' })).rejects.toThrow(/input\.bad contains a NUL character/);
    await expect(task('echo').run({ when: new Date() } as never)).rejects.toThrow(/is a Date/);
  });

  it('a run still queued after scheduleTimeout fails with SCHEDULE_TIMEOUT', async () => {
    // Register the task with a worker that then goes away, so nothing can run it.
    const registrar = spawnWorker({ dir, tasks: ['unschedulable'] });
    await registrar.ready;
    await kill(registrar);
    const error = await task('unschedulable').run({}).catch((e: unknown) => e);
    expect((error as TaskRunError).failureReason).toBe('SCHEDULE_TIMEOUT');
    expect((error as TaskRunError).message).toMatch(/still queued after its scheduleTimeout of 300 ms/);
  });
});

forEachDriver('worker loss and drain', (getDriver) => {
  let dir: string;
  let engine: Engine;
  let cleaver: Cleaver;

  beforeAll(async () => {
    dir = tempDir();
    engine = await startEngine(getDriver(), dir);
    cleaver = client(dir);
  });

  afterAll(async () => {
    await cleaver?.close();
    await engine?.stop();
    removeDir(dir);
  });

  it('SIGKILL of a worker mid-task: the task completes on another worker', async () => {
    const first = spawnWorker({ dir, tasks: ['slow'] });
    await first.ready;
    const ref = await cleaver.ref<{ ms: number }, { pid: number }>('slow').runNoWait({ ms: 1500 });
    await waitFor('the first worker to start the task', () => executions(dir).some((e) => e.pid === first.child.pid && e.phase === 'start'));
    await kill(first);
    const second = spawnWorker({ dir, tasks: ['slow'] });
    try {
      await second.ready;
      const out = (await ref.result()) as { pid: number };
      expect(out.pid).toBe(second.child.pid);
      const starts = executions(dir).filter((e) => e.task === 'slow' && e.phase === 'start');
      expect(starts.map((e) => e.pid)).toEqual([first.child.pid, second.child.pid]);
    } finally {
      await kill(second);
    }
  });

  it('a worker that stops heartbeating (SIGSTOP) loses its attempt, which completes on another worker', async () => {
    const frozen = spawnWorker({ dir, tasks: ['slow'] });
    await frozen.ready;
    const ref = await cleaver.ref<{ ms: number }, { pid: number }>('slow').runNoWait({ ms: 800 });
    await waitFor('the task to start', () => executions(dir).some((e) => e.pid === frozen.child.pid && e.phase === 'start'));
    frozen.child.kill('SIGSTOP');
    const other = spawnWorker({ dir, tasks: ['slow'] });
    try {
      await other.ready;
      expect(await ref.result()).toMatchObject({ pid: other.child.pid });
    } finally {
      frozen.child.kill('SIGCONT');
      await kill(frozen);
      await kill(other);
    }
  });

  it('SIGTERM drains a worker: its running task finishes, nothing new starts, it exits 0', async () => {
    const w = spawnWorker({ dir, tasks: ['slow'] });
    await w.ready;
    const slow = cleaver.ref<{ ms: number }, { pid: number }>('slow');
    const running = await slow.runNoWait({ ms: 800 });
    await waitFor('the task to start', () => executions(dir).some((e) => e.pid === w.child.pid && e.phase === 'start'));
    w.child.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 100));
    const queuedAfter = await slow.runNoWait({ ms: 10 });
    expect(await running.result()).toMatchObject({ pid: w.child.pid });
    expect(await w.exited).toBe(0);
    expect(executions(dir).filter((e) => e.pid === w.child.pid && e.phase === 'start')).toHaveLength(1);
    // The run triggered during the drain waits for another worker.
    const next = spawnWorker({ dir, tasks: ['slow'] });
    try {
      await next.ready;
      expect(await queuedAfter.result()).toMatchObject({ pid: next.child.pid });
    } finally {
      await kill(next);
    }
  });
});
