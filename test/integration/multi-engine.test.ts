// Several engines on one Postgres: a run triggered through one engine is pushed to a worker of another
// by NOTIFY (the poll fallback is set far beyond the test's timeout), and every run is claimed once.
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { DATABASE_URL, describePg, freshSchemaName, dropSchema, openTestPgDriver } from '../driver/drivers.ts';
import { Engine } from '../../engine/engine.ts';
import { silentLogger } from '../../engine/log.ts';
import type { Driver } from '../../engine/db/driver.ts';
import { Cleaver } from '../../sdk/index.ts';
import { FAST, executions, kill, removeDir, spawnWorker, tempDir, type WorkerProcess } from './harness.ts';

// Postgres only: PGlite is one process by design.
describePg('several engines on one database [pg]', () => {
  let dir: string;
  let schema: string;
  const drivers: Driver[] = [];
  const engines: Engine[] = [];
  const workers: WorkerProcess[] = [];
  let viaB: Cleaver;

  beforeAll(async () => {
    dir = tempDir();
    schema = freshSchemaName('multi');
    // C neither decides (A started first and holds the scheduler lease) nor has workers, like B.
    for (const name of ['a', 'b', 'c']) {
      const driver = await openTestPgDriver({ schema });
      drivers.push(driver);
      const engine = new Engine({ driver, socketPath: join(dir, `${name}.sock`), log: silentLogger, ...FAST, pollIntervalMs: 10 * 60_000 });
      await engine.start();
      engines.push(engine);
    }
    // Workers attach to engine A only; producers talk to engine B only.
    for (let i = 0; i < 2; i++) {
      const worker = spawnWorker({ dir, tasks: ['echo'], address: `unix://${join(dir, 'a.sock')}` });
      workers.push(worker);
      await worker.ready;
    }
    viaB = Cleaver.connect({ address: `unix://${join(dir, 'b.sock')}` });
  });

  afterAll(async () => {
    await viaB?.close();
    for (const w of workers) await kill(w);
    for (const e of engines) await e.stop();
    for (const d of drivers) await d.close();
    await dropSchema(DATABASE_URL, schema);
    removeDir(dir);
  });

  it('wakes the engine that has the workers by NOTIFY, and runs each task once', async () => {
    const echo = viaB.ref('echo');
    expect(await echo.run({ first: true })).toMatchObject({ input: { first: true } });
    const refs = await echo.runManyNoWait(Array.from({ length: 200 }, (_, i) => ({ i })));
    const outputs = await Promise.all(refs.map((r) => r.result()));
    expect(outputs.map((o) => (o as { input: { i: number } }).input.i)).toEqual(Array.from({ length: 200 }, (_, i) => i));
    const runs = executions(dir).filter((e) => e.task === 'echo');
    expect(new Set(runs.map((e) => e.taskRunId)).size).toBe(runs.length);
  });

  it('does not let engines that do not decide echo each other\'s queue notifications', async () => {
    const ours = new Set<string>(engines.map((e) => e.id));
    let heard = 0;
    const listener = await openTestPgDriver({ schema });
    const unlisten = await listener.listen('cleaver_task_queued', (payload) => {
      if (ours.has(payload.slice(0, payload.indexOf(':')))) heard++;
    });
    try {
      await viaB.ref('echo').run({ once: true });
      await new Promise((r) => setTimeout(r, 1_500));
      // B's insert announces it once (B does not decide); an echo between B and C would not stop.
      expect(heard).toBeGreaterThanOrEqual(1);
      expect(heard).toBeLessThan(10);
    } finally {
      await unlisten();
      await listener.close();
    }
  });
});
