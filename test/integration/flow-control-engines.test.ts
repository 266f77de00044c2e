// Flow control across engines (Postgres): two `cleaver serve` processes on one database, a worker on
// each, sharing concurrency keys and a rate limit, and the scheduler lease holder SIGKILLed mid-run.
// Audited from the attempts the database recorded: no key over maxRuns, no rate window over its
// limit, every run done, and the lease moved to the survivor within 5 s.
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { DATABASE_URL, describePg, dropSchema, freshSchemaName, openTestPgDriver } from '../driver/drivers.ts';
import type { Driver } from '../../engine/db/driver.ts';
import { Cleaver } from '../../sdk/index.ts';
import { kill, removeDir, spawnEngine, spawnWorker, tempDir, waitFor, type EngineProcess, type WorkerProcess } from './harness.ts';

describePg('flow control across engines [pg]', () => {
  let dirA: string;
  let dirB: string;
  let schema: string;
  let db: Driver;
  const children: Array<EngineProcess | WorkerProcess> = [];
  let viaB: Cleaver;
  const address = (dir: string) => `unix://${join(dir, 'engine.sock')}`;

  beforeAll(async () => {
    dirA = tempDir();
    dirB = tempDir();
    schema = freshSchemaName('flow');
    const args = ['--database-url', DATABASE_URL, '--schema', schema];
    const a = spawnEngine({ dir: dirA, args });
    children.push(a);
    await a.ready;
    const b = spawnEngine({ dir: dirB, args });
    children.push(b);
    await b.ready;
    db = await openTestPgDriver({ schema });
    viaB = Cleaver.connect({ address: address(dirB) });
    await viaB.rateLimits.upsert({ key: 'flow-test-api', limit: 20, duration: 'second' });
    // One worker on each engine; each moves to the other engine when its own goes away.
    for (const [dir, other] of [[dirA, dirB], [dirB, dirA]] as const) {
      const worker = spawnWorker({ dir, tasks: ['keyed', 'limited'], slots: 10, address: `${address(dir)},${address(other)}` });
      children.push(worker);
      await worker.ready;
    }
  }, 60_000);

  afterAll(async () => {
    await viaB?.close();
    for (const c of children.reverse()) await kill(c);
    await db?.close();
    await dropSchema(DATABASE_URL, schema);
    removeDir(dirA);
    removeDir(dirB);
  });

  it('keeps every key at or under maxRuns and every rate window at or under its limit while the lease holder is killed', async () => {
    const holder = async () => (await db.query<{ holder: string | null }>(`SELECT holder::text FROM scheduler_lease WHERE partition = 0`)).rows[0]?.holder ?? null;
    const first = await holder();
    expect(first).not.toBeNull();
    const keyedRuns = await viaB.ref('keyed').runManyNoWait(Array.from({ length: 240 }, (_, i) => ({ key: `k${i % 8}`, ms: 40 })));
    const limitedRuns = await viaB.ref('limited').runManyNoWait(Array.from({ length: 60 }, () => ({})));
    await waitFor('some keyed runs to finish', async () => Number((await db.query<{ n: string }>(`SELECT count(*) AS n FROM attempt`)).rows[0]!.n) >= 40);
    // Engine A started first and holds the lease: kill it mid-run.
    const killedAt = Date.now();
    await kill(children[0] as EngineProcess);
    const next = await waitFor('another engine to take the lease', async () => {
      const h = await holder();
      return h !== null && h !== first ? h : undefined;
    }, 10_000);
    const failoverMs = Date.now() - killedAt;
    expect(next).not.toBe(first);
    expect(failoverMs).toBeLessThan(5_000);

    const outcomes = await Promise.all([...keyedRuns, ...limitedRuns].map((r) => r.result().then(() => 'ok', (e: Error) => e.message)));
    expect(outcomes.filter((o) => o !== 'ok')).toEqual([]);

    const keyed = await db.query<{ key: string; start: number; end: number }>(
      `SELECT r.input ->> 'key' AS key, extract(epoch FROM a.assigned_at) * 1000 AS start, extract(epoch FROM a.finished_at) * 1000 AS end
         FROM attempt a JOIN task_run t ON t.id = a.task_run_id JOIN run r ON r.id = t.run_id WHERE t.action = 'keyed' AND a.status = 'succeeded'`,
    );
    expect(keyed.rows).toHaveLength(240);
    for (const key of new Set(keyed.rows.map((r) => r.key))) {
      const events = keyed.rows.filter((r) => r.key === key).flatMap((r) => [[Number(r.start), 1], [Number(r.end), -1]] as const);
      events.sort((x, y) => x[0] - y[0] || x[1] - y[1]);
      let running = 0;
      let most = 0;
      for (const [, d] of events) most = Math.max(most, (running += d));
      expect({ key, most: Math.min(most, 3) }).toEqual({ key, most });
    }
    const starts = (await db.query<{ at: number }>(
      `SELECT extract(epoch FROM a.assigned_at) * 1000 AS at FROM attempt a JOIN task_run t ON t.id = a.task_run_id WHERE t.action = 'limited'`,
    )).rows.map((r) => Number(r.at));
    expect(starts.length).toBeGreaterThanOrEqual(60);
    for (const s of starts) expect(starts.filter((x) => x >= s && x < s + 1_000).length).toBeLessThanOrEqual(20);
    console.log(`flow control across engines: lease moved in ${failoverMs} ms`);
  }, 90_000);
});
