// The scheduler lease against both drivers: one holder at a time, renewal keeps the epoch, expiry hands
// it over with a new epoch, and the fence refuses a deposed holder's writes — also one that is in flight
// while the takeover happens (Postgres: two connections).
import { randomUUID } from 'node:crypto';
import { beforeEach, expect, it } from 'vitest';
import { forEachDriver } from './drivers.ts';
import type { Driver } from '../../engine/db/driver.ts';
import { silentLogger } from '../../engine/log.ts';
import { schedulerLeaseAcquire, schedulerLeaseFence, schedulerLeaseList, schedulerLeaseRelease } from '../../engine/sql/scheduler-lease.ts';
import { SchedulerLease } from '../../engine/scheduler/scheduler-lease.ts';
import { currentSchema, schemaLockKey } from '../../engine/sql/migrate.ts';

const FENCE = `SELECT ${schedulerLeaseFence('0', '$1::uuid', '$2::bigint')} AS ok`;

forEachDriver('scheduler lease', (getDriver, kind) => {
  let db: Driver;
  const a = randomUUID();
  const b = randomUUID();
  const expire = () => db.query(`UPDATE scheduler_lease SET expires_at = now() - interval '1 second' WHERE partition = 0`);
  const fenced = async (engineId: string, epoch: number) => (await db.query<{ ok: boolean }>(FENCE, [engineId, epoch])).rows[0]!.ok;

  beforeEach(async () => {
    db = getDriver();
    await db.query(`UPDATE scheduler_lease SET holder = NULL, expires_at = '-infinity' WHERE partition = 0`);
  });

  it('grants the lease to one engine, renews it at the same epoch, and hands it over with a new one once it expires', async () => {
    const first = await schedulerLeaseAcquire(db, { partition: 0, engineId: a, ttlMs: 60_000 });
    expect(first).not.toBeNull();
    expect(await schedulerLeaseAcquire(db, { partition: 0, engineId: b, ttlMs: 60_000 })).toBeNull();
    expect(await schedulerLeaseAcquire(db, { partition: 0, engineId: a, ttlMs: 60_000 })).toEqual(first);
    expect((await schedulerLeaseList(db))[0]).toMatchObject({ partition: 0, holder: a, epoch: first!.epoch });
    expect(await fenced(a, first!.epoch)).toBe(true);

    await expire();
    expect((await schedulerLeaseList(db))[0]).toMatchObject({ holder: null, expiresAt: null });
    const taken = await schedulerLeaseAcquire(db, { partition: 0, engineId: b, ttlMs: 60_000 });
    expect(taken).toEqual({ epoch: first!.epoch + 1 });
    // The deposed holder: refused, and its writes fenced off.
    expect(await schedulerLeaseAcquire(db, { partition: 0, engineId: a, ttlMs: 60_000 })).toBeNull();
    expect(await fenced(a, first!.epoch)).toBe(false);
    expect(await fenced(b, taken!.epoch)).toBe(true);
    // A release hands it over at once, never with an old epoch.
    expect(await schedulerLeaseRelease(db, { partition: 0, engineId: a, epoch: first!.epoch })).toBe(false);
    expect(await schedulerLeaseRelease(db, { partition: 0, engineId: b, epoch: taken!.epoch })).toBe(true);
    expect(await schedulerLeaseAcquire(db, { partition: 0, engineId: a, ttlMs: 60_000 })).toEqual({ epoch: taken!.epoch + 1 });
    expect(await fenced(b, taken!.epoch)).toBe(false);
  });

  // PGlite has one connection: its statements cannot overlap, so there is nothing to race.
  it.skipIf(kind !== 'pg')('makes a takeover wait for a write in flight under the old epoch, which therefore lands first', async () => {
    const held = (await schedulerLeaseAcquire(db, { partition: 0, engineId: a, ttlMs: 60_000 }))!;
    await expire();
    let tookOverAt = 0;
    let committedAt = 0;
    await db.transaction(async (tx) => {
      expect((await tx.query<{ ok: boolean }>(FENCE, [a, held.epoch])).rows[0]!.ok).toBe(true);
      const takeover = schedulerLeaseAcquire(db, { partition: 0, engineId: b, ttlMs: 60_000 }).then((g) => {
        tookOverAt = Date.now();
        return g;
      });
      await new Promise((r) => setTimeout(r, 200));
      expect(tookOverAt).toBe(0);
      committedAt = Date.now();
      void takeover;
    });
    await new Promise((r) => setTimeout(r, 100));
    expect(tookOverAt).toBeGreaterThanOrEqual(committedAt);
    expect((await schedulerLeaseList(db))[0]).toMatchObject({ holder: b, epoch: held.epoch + 1 });
  });

  it('moves to the other engine within its ttl when the holder goes silent, and tells each what it holds', async () => {
    const events: string[] = [];
    const leaseOf = (engineId: string, name: string) =>
      new SchedulerLease({ driver: db, engineId, log: silentLogger, ttlMs: 400, acquired: (epoch) => events.push(`${name} acquired ${epoch}`), lost: () => events.push(`${name} lost`) });
    const silent = leaseOf(a, 'a');
    await silent.tick(); // holds it, then renews no more (as if SIGKILLed)
    const heldAt = Date.now();
    const epoch = silent.epoch!;
    expect(epoch).not.toBeNull();
    const other = leaseOf(b, 'b');
    await other.start();
    while (other.epoch === null) await new Promise((r) => setTimeout(r, 20));
    const tookMs = Date.now() - heldAt;
    // Soon after the lease ran out (a renewal interval, with room for a loaded machine) — or, on Postgres,
    // at once: a holder that renews no more holds no advisory lock either (it never took one here), so
    // the other engine takes the lease over by the lock.
    if (kind === 'pglite') expect(tookMs).toBeGreaterThanOrEqual(300);
    expect(tookMs).toBeLessThan(2_000);
    expect(other.epoch).toBe(epoch + 1);
    await silent.tick(); // the old holder hears it is deposed
    expect(silent.epoch).toBeNull();
    await other.stop(); // a clean stop gives it back at once
    await silent.tick();
    expect(silent.epoch).toBe(epoch + 2);
    expect(events).toEqual([`a acquired ${epoch}`, `b acquired ${epoch + 1}`, 'a lost', 'b lost', `a acquired ${epoch + 2}`]);
    await silent.stop();
  });

  // A holder killed outright (here: its lock's backend terminated) is replaced at once, not after its
  // ttl: the next engine gets the advisory lock its session held and takes the lease over by it.
  it.skipIf(kind !== 'pg')('hands the lease over within moments when the holder\'s session dies, long before the ttl', async () => {
    const lease = (engineId: string) => new SchedulerLease({ driver: db, engineId, log: silentLogger, ttlMs: 60_000, lockCheckMs: 50, acquired: () => undefined, lost: () => undefined });
    const first = lease(a);
    const second = lease(b);
    await first.start();
    await second.start();
    expect(first.epoch).not.toBeNull();
    expect(second.epoch).toBeNull();
    const key = schemaLockKey('scheduler:0', await currentSchema(db));
    const locks = await db.query<{ pid: number; classid: number; objid: number }>(
      `SELECT pid, classid::int8 AS classid, objid::int8 AS objid FROM pg_locks WHERE locktype = 'advisory' AND granted`,
    );
    const holder = locks.rows.find((l) => BigInt.asIntN(64, (BigInt(l.classid) << 32n) | BigInt(l.objid)) === key);
    expect(holder).toBeDefined();
    const killedAt = Date.now();
    await db.query('SELECT pg_terminate_backend($1)', [holder!.pid]);
    while (second.epoch === null && Date.now() - killedAt < 10_000) await new Promise((r) => setTimeout(r, 20));
    expect(second.epoch).toBe(first.epoch! + 1);
    expect(Date.now() - killedAt).toBeLessThan(5_000); // the ttl is a minute
    await first.tick();
    expect(first.epoch).toBeNull();
    await second.stop();
    await first.stop();
  });
});
