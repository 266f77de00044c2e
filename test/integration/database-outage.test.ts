// The database drops every connection of the engine mid-run (as in a Postgres restart): the engine
// reconnects, keeps what it had accepted, and every run still completes.
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { DATABASE_URL, describePg, dropSchema, freshSchemaName, openTestPgDriver } from '../driver/drivers.ts';
import { Engine } from '../../engine/engine.ts';
import { silentLogger } from '../../engine/log.ts';
import type { Driver } from '../../engine/db/driver.ts';
import { Cleaver } from '../../sdk/index.ts';
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
    worker = spawnWorker({ dir, tasks: ['slow'], slots: 20 });
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

  it('completes every run when all of its connections are terminated mid-run', async () => {
    const refs = await cleaver.ref<{ ms: number }, unknown>('slow').runManyNoWait(Array.from({ length: 100 }, () => ({ ms: 50 })));
    await waitFor('some tasks to finish', () => executions(dir).filter((e) => e.phase === 'end').length >= 10);
    const admin = new pg.Client({ connectionString: DATABASE_URL });
    await admin.connect();
    try {
      const killed = await admin.query(
        `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name LIKE $1 AND pid <> pg_backend_pid()`,
        [`${applicationName}%`],
      );
      expect(killed.rowCount).toBeGreaterThan(0);
    } finally {
      await admin.end();
    }
    const outputs = await Promise.all(refs.map((r) => r.result()));
    expect(outputs).toHaveLength(100);
    const ended = new Set(executions(dir).filter((e) => e.phase === 'end').map((e) => e.taskRunId));
    expect(ended.size).toBe(100);
  }, 60_000);
});
