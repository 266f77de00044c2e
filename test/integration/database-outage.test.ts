// The database drops every connection of the engine mid-run (as in a Postgres restart): the engine
// reconnects, keeps what it had accepted, and every run still completes; triggers during a storm of
// dropped connections are retried inside the engine and create each run exactly once.
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { DATABASE_URL, describePg, dropSchema, freshSchemaName, openTestPgDriver } from '../driver/drivers.ts';
import { Engine } from '../../engine/engine.ts';
import { silentLogger } from '../../engine/log.ts';
import type { Driver } from '../../engine/db/driver.ts';
import { Cleaver } from '../../sdk/index.ts';
import { CleaverError } from '../../shared/errors.ts';
import { FAST, executions, kill, removeDir, spawnWorker, tempDir, waitFor, type WorkerProcess } from './harness.ts';

describePg('database outage [pg]', () => {
  const applicationName = `cleaver-outage-${process.pid}`;
  let dir: string;
  let schema: string;
  let driver: Driver;
  let engine: Engine;
  let worker: WorkerProcess;
  let cleaver: Cleaver;

  beforeAll(async () => {
    dir = tempDir();
    schema = freshSchemaName('outage');
    driver = await openTestPgDriver({ schema, applicationName, onBackgroundError: () => undefined });
    engine = new Engine({ driver, socketPath: join(dir, 'engine.sock'), log: silentLogger, ...FAST });
    await engine.start();
    worker = spawnWorker({ dir, tasks: ['slow', 'echo'], slots: 20 });
    await worker.ready;
    cleaver = Cleaver.connect({ address: `unix://${join(dir, 'engine.sock')}` });
  });

  afterAll(async () => {
    await cleaver?.close();
    if (worker) await kill(worker);
    await engine?.stop();
    await driver?.close();
    await dropSchema(DATABASE_URL, schema);
    removeDir(dir);
  });

  /** Terminates every backend of the engine (its pool, relaxed pool and LISTEN connection); returns how many. */
  async function terminateEngineBackends(admin: pg.Client): Promise<number> {
    const killed = await admin.query(
      `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name LIKE $1 AND pid <> pg_backend_pid()`,
      [`${applicationName}%`],
    );
    return killed.rowCount ?? 0;
  }

  it('completes every run when all of its connections are terminated mid-run', async () => {
    const refs = await cleaver.ref<{ ms: number }, unknown>('slow').runManyNoWait(Array.from({ length: 100 }, () => ({ ms: 50 })));
    await waitFor('some tasks to finish', () => executions(dir).filter((e) => e.phase === 'end').length >= 10);
    const admin = new pg.Client({ connectionString: DATABASE_URL });
    await admin.connect();
    try {
      expect(await terminateEngineBackends(admin)).toBeGreaterThan(0);
    } finally {
      await admin.end();
    }
    const outputs = await Promise.all(refs.map((r) => r.result()));
    expect(outputs).toHaveLength(100);
    const ended = new Set(executions(dir).filter((e) => e.phase === 'end').map((e) => e.taskRunId));
    expect(ended.size).toBe(100);
  }, 60_000);

  it('creates each run of a trigger exactly once while its connections are terminated again and again', async () => {
    const echo = cleaver.ref<{ i: number }, { input: { i: number } }>('echo');
    const admin = new pg.Client({ connectionString: DATABASE_URL });
    await admin.connect();
    let storming = true;
    let terminations = 0;
    const storm = (async () => {
      while (storming) {
        terminations += await terminateEngineBackends(admin);
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    // Singles and small batches at a steady pace for 3 s, so inserts, direct assignments and claims
    // are all in flight when connections die.
    const acknowledged: Array<{ i: number; ref: Awaited<ReturnType<typeof echo.runNoWait>> }> = [];
    const refused: unknown[] = [];
    const triggers: Array<Promise<void>> = [];
    let next = 0;
    const until = Date.now() + 3_000;
    while (Date.now() < until) {
      const inputs = Array.from({ length: next % 3 === 0 ? 4 : 1 }, () => ({ i: next++ }));
      triggers.push(
        echo.runManyNoWait(inputs).then(
          (refs) => refs.forEach((ref, k) => acknowledged.push({ i: inputs[k]!.i, ref })),
          (e: unknown) => void refused.push(e),
        ),
      );
      await new Promise((r) => setTimeout(r, 5));
    }
    await Promise.all(triggers);
    storming = false;
    await storm;
    await admin.end();
    console.log(`trigger storm: ${next} runs triggered, ${acknowledged.length} acknowledged, ${refused.length} refused, ${terminations} backends terminated`);
    expect(terminations).toBeGreaterThan(20);
    // Before, a trigger whose connection died was refused with a raw SQLSTATE 57P01. Now the engine
    // retries it; the database is up between kills, so nearly all get through, and one that runs out
    // of retries is refused as the retryable UNAVAILABLE, saying whether its runs may exist.
    for (const e of refused) {
      expect(e).toBeInstanceOf(CleaverError);
      expect(`${(e as CleaverError).code}: ${(e as CleaverError).message}`).toMatch(/^UNAVAILABLE: the database was unreachable .*(no run was created|may exist)/);
    }
    expect(acknowledged.length).toBeGreaterThan(next * 0.9);
    // Every acknowledged run exists once; beyond them only runs of refusals that said they may exist.
    const runIds = acknowledged.map((a) => a.ref.runId);
    const { rows } = await driver.query<{ id: string }>(`SELECT id FROM run WHERE workflow_name = 'echo'`);
    const stored = new Set(rows.map((r) => r.id));
    expect(runIds.filter((id) => !stored.has(id))).toEqual([]);
    expect(rows.length - runIds.length).toBeLessThanOrEqual(next - acknowledged.length);
    const outputs = await Promise.all(acknowledged.map((a) => a.ref.result()));
    expect(outputs.map((o) => o.input.i)).toEqual(acknowledged.map((a) => a.i));
  }, 60_000);
});
