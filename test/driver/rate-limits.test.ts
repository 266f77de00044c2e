// Rate-limit keys in the database, against both drivers: defining and changing a static key keeps the
// scheduler's window, a dynamic key becomes static, lists are by key and searchable, and every change
// is announced on cleaver_rate_limit when (and only when) it commits.
import { randomBytes } from 'node:crypto';
import { beforeEach, expect, it, vi } from 'vitest';
import { forEachDriver } from './drivers.ts';
import type { Driver } from '../../engine/db/driver.ts';
import { consume, createWindow } from '../../engine/scheduler/rate-window.ts';
import { rateLimitDelete, rateLimitGet, rateLimitList, rateLimitUpsert } from '../../engine/sql/rate-limit.ts';

/** A key prefix no other test of the shared database uses (lists are searched by it). */
function prefix(): string {
  return `rl-${randomBytes(4).toString('hex')}`;
}

forEachDriver('rate-limit keys', (getDriver, kind) => {
  let db: Driver;

  beforeEach(() => {
    db = getDriver();
  });

  async function setState(key: string, state: unknown): Promise<void> {
    await db.query(`UPDATE rate_limit SET state = $2::jsonb WHERE key = $1`, [key, JSON.stringify(state)]);
  }

  it('defines a static key, and changes its limit and duration without touching its window', async () => {
    const key = `${prefix()}:openai`;
    const created = await rateLimitUpsert(db, { key, limit: 100, duration: 'minute', notify: false });
    expect(created).toMatchObject({ key, kind: 'static', limit: 100, duration: 'minute', state: null });
    expect(Date.parse(created.updatedAt)).not.toBeNaN();

    const window = consume(createWindow({ limit: 100, windowMs: 60_000 }), Date.now(), 40);
    await setState(key, window);
    const changed = await rateLimitUpsert(db, { key, limit: 10, duration: 'hour', notify: false });
    expect(changed).toMatchObject({ key, kind: 'static', limit: 10, duration: 'hour' });
    // The window is the scheduler's to reconfigure: what it admitted must keep counting.
    expect(changed.state).toEqual(JSON.parse(JSON.stringify(window)));
    expect(Date.parse(changed.updatedAt)).toBeGreaterThanOrEqual(Date.parse(created.updatedAt));
    expect(await rateLimitGet(db, { key })).toEqual(changed);
  });

  it('makes a dynamic key of the same name static, keeping its window', async () => {
    const key = `${prefix()}:user=42`;
    const state = consume(createWindow({ limit: 5, windowMs: 1_000 }), Date.now(), 5);
    await db.query(`INSERT INTO rate_limit (key, kind, limit_units, duration, state) VALUES ($1, 'dynamic', 5, 'second', $2::jsonb)`, [key, JSON.stringify(state)]);
    expect(await rateLimitGet(db, { key })).toMatchObject({ kind: 'dynamic', limit: 5, duration: 'second' });
    const upserted = await rateLimitUpsert(db, { key, limit: 50, duration: 'day', notify: false });
    expect(upserted).toMatchObject({ key, kind: 'static', limit: 50, duration: 'day', state: JSON.parse(JSON.stringify(state)) });
  });

  it('lists keys in byte order, searched by substring ignoring case, up to a bound', async () => {
    const p = prefix();
    for (const name of ['b', 'B', 'a:EU', 'a:eu-west', 'c']) await rateLimitUpsert(db, { key: `${p}-${name}`, limit: 1, duration: 'second', notify: false });
    expect((await rateLimitList(db, { search: p })).map((r) => r.key)).toEqual([`${p}-B`, `${p}-a:EU`, `${p}-a:eu-west`, `${p}-b`, `${p}-c`]);
    expect((await rateLimitList(db, { search: `${p}-A:eu` })).map((r) => r.key)).toEqual([`${p}-a:EU`, `${p}-a:eu-west`]);
    expect((await rateLimitList(db, { search: p.toUpperCase(), limit: 2 })).map((r) => r.key)).toEqual([`${p}-B`, `${p}-a:EU`]);
    // LIKE's wildcards are plain characters to a search.
    expect(await rateLimitList(db, { search: `${p}-_` })).toEqual([]);
    expect(await rateLimitList(db, { search: `${p}%` })).toEqual([]);
    const all = await rateLimitList(db);
    expect(all.map((r) => r.key)).toEqual([...all.map((r) => r.key)].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y))));
  });

  it('deletes a key, static or dynamic, and says whether there was one', async () => {
    const p = prefix();
    await rateLimitUpsert(db, { key: `${p}-static`, limit: 3, duration: 'week', notify: false });
    await db.query(`INSERT INTO rate_limit (key, kind, limit_units, duration) VALUES ($1, 'dynamic', 2, 'year')`, [`${p}-dynamic`]);
    expect(await rateLimitDelete(db, { key: `${p}-static`, notify: false })).toBe(true);
    expect(await rateLimitDelete(db, { key: `${p}-dynamic`, notify: false })).toBe(true);
    expect(await rateLimitDelete(db, { key: `${p}-static`, notify: false })).toBe(false);
    expect(await rateLimitGet(db, { key: `${p}-static` })).toBeNull();
    expect(await rateLimitList(db, { search: p })).toEqual([]);
  });

  it.skipIf(kind !== 'pg')('announces a committed change on cleaver_rate_limit with its key, and nothing for one rolled back', async () => {
    const p = prefix();
    const heard: string[] = [];
    // The channel is shared by every schema of the database: keep only this test's keys.
    const unlisten = await db.listen('cleaver_rate_limit', (key) => {
      if (key.startsWith(p)) heard.push(key);
    });
    try {
      await db
        .transaction(async (tx) => {
          await rateLimitUpsert(tx, { key: `${p}-undone`, limit: 1, duration: 'second', notify: true });
          throw new Error('roll back');
        })
        .catch(() => undefined);
      await rateLimitUpsert(db, { key: `${p}-made`, limit: 1, duration: 'second', notify: true });
      await rateLimitDelete(db, { key: `${p}-missing`, notify: true });
      await rateLimitDelete(db, { key: `${p}-made`, notify: true });
      await rateLimitUpsert(db, { key: `${p}-quiet`, limit: 1, duration: 'second', notify: false });
      await rateLimitUpsert(db, { key: `${p}-last`, limit: 1, duration: 'second', notify: true });
      // Notifications arrive in commit order: once the last is heard, every earlier one would have been.
      await vi.waitFor(() => expect(heard).toContain(`${p}-last`), { timeout: 5_000 });
      expect(heard).toEqual([`${p}-made`, `${p}-made`, `${p}-last`]);
    } finally {
      await unlisten();
    }
  });
});
