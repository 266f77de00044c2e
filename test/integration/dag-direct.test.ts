// A workflow's children assigned by the finish that releases them (Scheduler.reserveReleased and the
// finish statement's direct shape), end to end with real worker processes on both drivers: the steps
// after the root reach their worker without an assign statement; a worker gone before the push leaves
// its children orphaned and run elsewhere; a finish that finds the lease taken assigns nothing and the
// engine decides again from the database; and an engine SIGKILLed between that finish's commit and the
// push loses nothing and runs nothing twice. Executions are counted in the workers' log.
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { dropSchema, forEachDriver, forEachDriverKind, freshSchemaName } from '../driver/drivers.ts';
import type { Driver, QueryResult, Queryable, Sql } from '../../engine/db/driver.ts';
import type { Engine } from '../../engine/engine.ts';
import type { Cleaver } from '../../sdk/index.ts';
import { client, executions, kill, removeDir, ROOT, spawnChild, spawnEngine, spawnWorker, startEngine, tempDir, waitFor, type WorkerProcess } from './harness.ts';

type Hook = (o: { name: string; params: readonly unknown[] | undefined; result?: QueryResult<Record<string, unknown>> }) => Promise<void> | void;

/** The driver, with `before` and `after` called around each named statement. */
function watched(real: Driver, hooks: { before?: Hook; after?: Hook }): Driver {
  const wrap = (db: Queryable) =>
    (async (sql: Sql, params?: readonly unknown[]) => {
      const name = typeof sql === 'string' ? '' : sql.name;
      await hooks.before?.({ name, params });
      const result = await db.query(sql, params);
      await hooks.after?.({ name, params, result });
      return result;
    }) as Queryable['query'];
  return {
    kind: real.kind,
    capabilities: real.capabilities,
    description: real.description,
    query: wrap(real),
    relaxed: { query: wrap(real.relaxed) },
    transaction: (fn) => real.transaction(fn),
    withAdvisoryLock: (key, fn) => real.withAdvisoryLock(key, fn),
    listen: (channel, onPayload, options) => real.listen(channel, onPayload, options),
    close: async () => undefined,
  };
}

type Row = { action: string; id: string };
const assignedBy = (result: QueryResult<Record<string, unknown>> | undefined): Row[] => {
  const row = result?.rows[0] as { assigned?: Row[] | null } | undefined;
  return row?.assigned ?? [];
};

/** Diamond (test/integration/fixtures/worker.ts): a → (b, c) → d → e. */
const TASKS = ['a', 'b', 'c', 'd', 'e'];

forEachDriver('DAG children assigned by their finish', (getDriver) => {
  let dir: string;
  let engine: Engine;
  let cleaver: Cleaver;
  const workers: WorkerProcess[] = [];
  let hooks: { before?: Hook; after?: Hook } = {};

  beforeAll(async () => {
    dir = tempDir();
    // No poll: what the scheduler reads again is only what something told it, so whether a step is
    // assigned by its finish does not depend on where a poll happened to fall. No maintenance either:
    // the sweep of lost workers' attempts would race the path under test (it recovers them too).
    engine = await startEngine(
      watched(getDriver(), { before: (o) => hooks.before?.(o), after: (o) => hooks.after?.(o) }),
      dir,
      { pollIntervalMs: 600_000, maintenanceIntervalMs: 600_000 },
    );
    cleaver = client(dir);
  });

  afterEach(async () => {
    hooks = {};
    for (const w of workers.splice(0)) await kill(w);
  });

  afterAll(async () => {
    await cleaver?.close();
    await engine?.stop();
    removeDir(dir);
  });

  async function worker(): Promise<WorkerProcess> {
    const w = spawnWorker({ dir, tasks: ['diamond'], slots: 10 });
    workers.push(w);
    await w.ready;
    return w;
  }

  const ran = (runTaskIds: Set<string>) => executions(dir).filter((e) => runTaskIds.has(e.taskRunId));
  const taskRunIds = async (runId: string) => new Set((await cleaver.runs.get(runId)).taskRuns.map((t) => t.id));

  it('assigns every step after the root in the finish that releases it: no assign statement takes one', async () => {
    await worker();
    const diamond = cleaver.ref<{ n: number }, Record<string, { v: number }>>('diamond');
    await diamond.run({ n: 1 }); // the windows and definitions are read by now
    const byAssign: string[] = [];
    const byFinish: string[] = [];
    hooks.after = ({ name, result }) => {
      if (name.startsWith('cleaver_task_assign') && !name.startsWith('cleaver_task_assigned')) byAssign.push(...(result!.rows as Row[]).map((r) => r.action));
      if (name === 'cleaver_task_finish_direct') byFinish.push(...assignedBy(result).map((r) => r.action));
    };
    for (let n = 2; n <= 4; n++) expect((await diamond.run({ n })).e!.v).toBe((3 * n + 1) * 10);
    expect(byAssign.filter((a) => a !== 'diamond:a')).toEqual([]);
    expect(byFinish.sort()).toEqual(['b', 'c', 'd', 'e'].flatMap((t) => Array(3).fill(`diamond:${t}`)));
  });

  it('ends as lost the children assigned to a worker that went away before their push, and runs them on another', async () => {
    const first = await worker();
    let orphanedOn: string | null = null;
    hooks.after = async ({ name, result }) => {
      if (name !== 'cleaver_task_finish_direct' || orphanedOn || assignedBy(result).length === 0) return;
      // Committed, not yet pushed: the worker dies now, and the engine has seen it go before the push.
      const workerId = (result!.rows[0] as { assigned: Array<{ worker_id: string }> }).assigned[0]!.worker_id;
      orphanedOn = workerId;
      await kill(first);
      await waitFor('the engine to see the worker gone', async () => {
        const r = await getDriver().query<{ status: string }>(`SELECT status FROM worker WHERE id = $1`, [workerId]);
        return r.rows[0]?.status === 'disconnected';
      });
    };
    const ref = await cleaver.ref<{ n: number }, Record<string, { v: number }>>('diamond').runNoWait({ n: 3 });
    await waitFor('the finish of a to assign its children', () => orphanedOn !== null);
    await worker();
    expect((await ref.result()).e!.v).toBe(100);
    const details = await cleaver.runs.get(ref.runId);
    const lost = details.attempts.filter((a) => a.failureReason === 'WORKER_LOST');
    expect(lost.length).toBeGreaterThan(0);
    for (const a of lost) expect(a.error?.message).toMatch(/disconnected while the task was being assigned/);
    // Nothing ran twice: every task once, the orphaned ones only after they were given again.
    const counts = ran(await taskRunIds(ref.runId)).map((e) => e.task);
    expect(counts.sort()).toEqual(TASKS.map((t) => `diamond:${t}`));
  });

  it('assigns nothing when the lease was taken before the finish, and decides the children again from the database', async () => {
    await worker();
    let fenced = 0;
    hooks.before = async ({ name }) => {
      if (name !== 'cleaver_task_finish_direct' || fenced > 0) return;
      // Someone held the lease in between: the reservation's epoch is no longer the lease's.
      await getDriver().query(`UPDATE scheduler_lease SET epoch = epoch + 1 WHERE partition = 0`);
    };
    hooks.after = ({ name, result }) => {
      if (name !== 'cleaver_task_finish_direct' || fenced > 0) return;
      expect((result!.rows[0] as { held: boolean }).held).toBe(false);
      expect(assignedBy(result)).toEqual([]);
      fenced++;
    };
    const ref = await cleaver.ref<{ n: number }, Record<string, { v: number }>>('diamond').runNoWait({ n: 3 });
    expect((await ref.result()).e!.v).toBe(100);
    expect(fenced).toBe(1);
    const counts = ran(await taskRunIds(ref.runId)).map((e) => e.task);
    expect(counts.sort()).toEqual(TASKS.map((t) => `diamond:${t}`));
    // The engine took the lease back (at the new epoch) and assigns directly again.
    const again = await cleaver.ref<{ n: number }, Record<string, { v: number }>>('diamond').run({ n: 1 });
    expect(again.e!.v).toBe(40);
  });
});

forEachDriverKind('engine SIGKILLed between a direct finish and its push', (kind, databaseUrl) => {
  let dir: string;
  let schema: string;
  let cleaver: Cleaver | undefined;

  beforeAll(() => {
    dir = tempDir();
    schema = freshSchemaName('direct');
  });

  afterAll(async () => {
    await cleaver?.close();
    if (kind === 'pg') await dropSchema(databaseUrl!, schema);
    removeDir(dir);
  });

  it('loses no step and runs none twice: the children it assigned are recovered when the worker comes back', async () => {
    const env = { ...process.env, CLEAVER_SOCKET: join(dir, 'engine.sock'), CLEAVER_DATA_DIR: join(dir, 'data'), ...(kind === 'pg' ? { CLEAVER_DATABASE_URL: databaseUrl!, CLEAVER_DATABASE_SCHEMA: schema } : {}) };
    const dying = spawnChild(['--import', 'tsx', join(ROOT, 'test/integration/fixtures/engine-killed-after-direct-finish.ts')], { env, readyLine: 'engine ready\n', what: 'engine' });
    await dying.ready;
    const worker = spawnWorker({ dir, tasks: ['diamond'], slots: 10 });
    try {
      await worker.ready;
      cleaver = client(dir);
      const ref = await cleaver.ref<{ n: number }, Record<string, { v: number }>>('diamond').runNoWait({ n: 3 });
      // The first direct finish (a's, assigning b and c) kills it.
      expect(await dying.exited).toBeNull();
      expect(dying.child.signalCode).toBe('SIGKILL');
      const args = kind === 'pg' ? ['--database-url', databaseUrl!, '--schema', schema] : ['--data-dir', join(dir, 'data')];
      const second = spawnEngine({ dir, args });
      try {
        await second.ready;
        expect((await ref.result()).e!.v).toBe(100);
        const details = await cleaver.runs.get(ref.runId);
        expect(details.run.status).toBe('succeeded');
        // b and c were assigned by the finish that committed as the engine died, and never pushed: their
        // first attempts were given up as lost (free) when the worker came back without them.
        const lost = details.attempts.filter((a) => a.failureReason === 'WORKER_LOST');
        const names = new Map(details.taskRuns.map((t) => [t.id, t.taskName]));
        expect(lost.map((a) => names.get(a.taskRunId)).sort()).toEqual(['b', 'c']);
        const ids = new Set(details.taskRuns.map((t) => t.id));
        const counts = executions(dir).filter((e) => ids.has(e.taskRunId)).map((e) => e.task);
        expect(counts.sort()).toEqual(TASKS.map((t) => `diamond:${t}`));
      } finally {
        await kill(second, 'SIGTERM');
      }
    } finally {
      await kill(worker);
    }
  }, 60_000);
});
