// The driver contract, checked identically on PGlite and Postgres, plus what each driver promises on
// its own: PGlite's single-connection serialization and crash durability, pg's LISTEN/NOTIFY and
// its recovery from dropped connections.
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, statSync, chmodSync, mkdirSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Driver, Queryable } from '../../engine/db/driver.ts';
import { openDriver } from '../../engine/db/open-driver.ts';
import { redactConnectionString } from '../../engine/db/pg/pg-driver.ts';
import { createPgliteDriver } from '../../engine/db/pglite/pglite-driver.ts';
import { sqlState } from '../../engine/db/sql-state.ts';
import { CleaverError } from '../../shared/errors.ts';
import { DATABASE_URL, describePg, dropSchema, expectCleaverError, forEachDriver, freshSchemaName, openTestPgDriver, rejection } from './drivers.ts';

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

async function waitFor(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

forEachDriver('driver conformance', (getDriver, kind) => {
  beforeAll(async () => {
    await getDriver().query(`CREATE TABLE conformance (
      id uuid PRIMARY KEY,
      doc jsonb,
      tags text[],
      at timestamptz,
      big bigint,
      bigs bigint[],
      label text UNIQUE
    )`);
  });

  const db = (): Driver => getDriver();

  describe('types', () => {
    it('round-trips jsonb, text[], uuid, timestamptz and bigint the same way on both drivers', async () => {
      const id = randomUUID();
      const doc = { a: [1, 'two', { three: null }], nested: { ok: true }, unicode: 'žluť 🚀' };
      const at = new Date('2024-02-29T12:34:56.789Z');
      await db().query('INSERT INTO conformance (id, doc, tags, at, big, bigs) VALUES ($1, $2, $3, $4, $5, $6)', [
        id,
        JSON.stringify(doc),
        ['plain', 'with,comma', 'with "quote"', 'with\\backslash', ''],
        at,
        9_007_199_254_740_993n,
        [1n, 2n],
      ]);
      const { rows } = await db().query<{ id: string; doc: unknown; tags: string[]; at: Date; big: unknown; bigs: unknown }>(
        'SELECT id, doc, tags, at, big, bigs FROM conformance WHERE id = $1',
        [id],
      );
      expect(rows).toHaveLength(1);
      const row = rows[0]!;
      expect(row.id).toBe(id);
      expect(row.doc).toEqual(doc);
      expect(row.tags).toEqual(['plain', 'with,comma', 'with "quote"', 'with\\backslash', '']);
      expect(row.at).toBeInstanceOf(Date);
      expect(row.at.toISOString()).toBe(at.toISOString());
      // int8: a number when it fits in 2^53, a bigint beyond.
      expect(row.big).toBe(9_007_199_254_740_993n);
      expect(row.bigs).toEqual([1, 2]);
    });

    it('returns counts, nulls and small bigints as plain values', async () => {
      const { rows } = await db().query<Record<string, unknown>>(
        `SELECT count(*) AS n, NULL::jsonb AS nothing, 42::bigint AS small, '{}'::text[] AS empty,
                '7 days'::interval AS span, '2024-03-01'::date AS day, 1.5::numeric AS num, true AS yes`,
      );
      expect(rows[0]).toEqual({
        n: expect.any(Number),
        nothing: null,
        small: 42,
        empty: [],
        span: '7 days',
        day: new Date('2024-03-01T00:00:00.000Z'),
        num: '1.5',
        yes: true,
      });
    });

    it('reports rowCount for writes and reads alike', async () => {
      const a = randomUUID();
      const b = randomUUID();
      const inserted = await db().query('INSERT INTO conformance (id) VALUES ($1), ($2)', [a, b]);
      expect(inserted.rowCount).toBe(2);
      const updated = await db().query('UPDATE conformance SET big = 1 WHERE id IN ($1, $2)', [a, b]);
      expect(updated.rowCount).toBe(2);
      const selected = await db().query('SELECT 1 FROM conformance WHERE id IN ($1, $2)', [a, b]);
      expect(selected.rowCount).toBe(2);
      expect((await db().query('DELETE FROM conformance WHERE id = $1', [a])).rowCount).toBe(1);
      expect((await db().query('CREATE TEMP TABLE IF NOT EXISTS scratch (x int)')).rowCount).toBe(0);
    });

    it('runs several statements in one parameterless query and returns the last result', async () => {
      const result = await db().query<{ b: number }>('SELECT 1 AS a; SELECT 2 AS b');
      expect(result.rows).toEqual([{ b: 2 }]);
    });
  });

  describe('named statements', () => {
    const insert = { name: 'conformance_named_insert', text: 'INSERT INTO conformance (id, doc, tags, at, big) VALUES ($1, $2, $3, $4, $5) RETURNING id' };
    const read = { name: 'conformance_named_read', text: 'SELECT id, doc, tags, at, big FROM conformance WHERE id = ANY($1::uuid[]) ORDER BY big' };

    it('round-trips the same values as unnamed ones, with rowCount', async () => {
      const id = randomUUID();
      const at = new Date('2024-02-29T12:34:56.789Z');
      const inserted = await db().query(insert, [id, JSON.stringify({ a: [1, 'two'] }), ['x', 'with,comma'], at, 9_007_199_254_740_993n]);
      expect(inserted.rowCount).toBe(1);
      const { rows } = await db().query<{ id: string; doc: unknown; tags: string[]; at: Date; big: unknown }>(read, [[id]]);
      expect(rows).toEqual([{ id, doc: { a: [1, 'two'] }, tags: ['x', 'with,comma'], at, big: 9_007_199_254_740_993n }]);
      // A second call reuses what the first prepared.
      expect((await db().query(read, [[id]])).rows).toHaveLength(1);
    });

    it('gives each of many concurrent calls, named and unnamed mixed, its own rows', async () => {
      const ids = Array.from({ length: 400 }, () => randomUUID());
      await Promise.all(ids.map((id, i) => db().query(insert, [id, null, null, null, i])));
      // Arriving over time rather than all at once, so that some land while another is half-way through.
      const answers = await Promise.all(
        ids.map(async (id, i) => {
          await sleep(i % 7);
          return i % 2 === 0 ? db().query<{ big: number }>(read, [[id]]) : db().query<{ big: number }>('SELECT big FROM conformance WHERE id = $1', [id]);
        }),
      );
      expect(answers.map((a) => a.rows.map((r) => r.big))).toEqual(ids.map((_, i) => [i]));
    });

    it('runs in a transaction, survives a rollback and reports a failed one like an unnamed statement', async () => {
      const id = randomUUID();
      await expect(
        db().transaction(async (tx) => {
          await tx.query(insert, [id, null, null, null, 1]);
          throw new Error('roll it back');
        }),
      ).rejects.toThrow('roll it back');
      expect((await db().query(read, [[id]])).rows).toEqual([]);
      await db().transaction(async (tx) => tx.query(insert, [id, null, null, null, 1]));
      await expectCleaverError(db().query(insert, [id, null, null, null, 1]), 'DATABASE', /duplicate key/);
      expect((await db().query(read, [[id]])).rows).toHaveLength(1);
    });

    it('is parsed again when its first parse failed, once what it names exists', async () => {
      const table = `named_later_${kind}_${randomUUID().slice(0, 8)}`;
      const later = { name: `conformance_${table}`, text: `SELECT count(*) AS n FROM ${table} WHERE x > $1` };
      await expectCleaverError(db().query(later, [0]), 'DATABASE', /does not exist/);
      await db().query(`CREATE TABLE ${table} (x int)`);
      await db().query(`INSERT INTO ${table} VALUES (1), (2)`);
      expect((await db().query<{ n: number }>(later, [0])).rows).toEqual([{ n: 2 }]);
    });
  });

  describe('transactions', () => {
    it('commits what fn wrote and returns its value', async () => {
      const id = randomUUID();
      const value = await db().transaction(async (tx) => {
        await tx.query('INSERT INTO conformance (id, label) VALUES ($1, $2)', [id, `commit-${id}`]);
        const inside = await tx.query('SELECT 1 FROM conformance WHERE id = $1', [id]);
        return inside.rowCount;
      });
      expect(value).toBe(1);
      expect((await db().query('SELECT 1 FROM conformance WHERE id = $1', [id])).rowCount).toBe(1);
    });

    it('rolls back and rethrows the very error fn threw', async () => {
      const id = randomUUID();
      const thrown = new Error('changed my mind');
      const error = await rejection(
        db().transaction(async (tx) => {
          await tx.query('INSERT INTO conformance (id) VALUES ($1)', [id]);
          throw thrown;
        }),
      );
      expect(error).toBe(thrown);
      expect((await db().query('SELECT 1 FROM conformance WHERE id = $1', [id])).rowCount).toBe(0);
    });

    it('refuses to commit a transaction whose statement failed even if fn swallowed the error', async () => {
      const id = randomUUID();
      const label = `dup-${id}`;
      await db().query('INSERT INTO conformance (id, label) VALUES ($1, $2)', [randomUUID(), label]);
      const error = await expectCleaverError(
        db().transaction(async (tx) => {
          await tx.query('INSERT INTO conformance (id) VALUES ($1)', [id]);
          await tx.query('INSERT INTO conformance (id, label) VALUES ($1, $2)', [randomUUID(), label]).catch(() => undefined);
        }),
        'DATABASE',
        /\(SQLSTATE 25P02\)$/,
      );
      expect(sqlState(error)).toBe('25P02');
      expect((await db().query('SELECT 1 FROM conformance WHERE id = $1', [id])).rowCount).toBe(0);
    });

    it('refuses a transaction handle used after its callback returned', async () => {
      let leaked: Queryable | undefined;
      await db().transaction(async (tx) => {
        leaked = tx;
      });
      await expectCleaverError(leaked!.query('SELECT 1'), 'INTERNAL', /already ended/);
    });

    it('keeps statements issued outside a transaction out of it', async () => {
      const inside = randomUUID();
      const outside = randomUUID();
      let outsideWrite: Promise<unknown> | undefined;
      const failed = db().transaction(async (tx) => {
        await tx.query('INSERT INTO conformance (id) VALUES ($1)', [inside]);
        outsideWrite = db().query('INSERT INTO conformance (id) VALUES ($1)', [outside]);
        await sleep(50);
        throw new Error('roll back only my own write');
      });
      await expect(failed).rejects.toThrow('roll back only my own write');
      await outsideWrite;
      expect((await db().query('SELECT 1 FROM conformance WHERE id = $1', [inside])).rowCount).toBe(0);
      expect((await db().query('SELECT 1 FROM conformance WHERE id = $1', [outside])).rowCount).toBe(1);
    });

    if (kind === 'pglite') {
      it('serializes concurrent transactions on the single connection (no lost updates)', async () => {
        const id = randomUUID();
        await db().query('INSERT INTO conformance (id, big) VALUES ($1, 0)', [id]);
        await Promise.all(
          Array.from({ length: 20 }, () =>
            db().transaction(async (tx) => {
              const { rows } = await tx.query<{ big: number }>('SELECT big FROM conformance WHERE id = $1', [id]);
              await sleep(1); // yield: an interleaving transaction would read the same value
              await tx.query('UPDATE conformance SET big = $2 WHERE id = $1', [id, rows[0]!.big + 1]);
            }),
          ),
        );
        const { rows } = await db().query<{ big: number }>('SELECT big FROM conformance WHERE id = $1', [id]);
        expect(rows[0]!.big).toBe(20);
      });
    }
  });

  describe('errors', () => {
    it('maps a unique violation to CleaverError DATABASE keeping the Postgres message and SQLSTATE', async () => {
      const label = `unique-${randomUUID()}`;
      await db().query('INSERT INTO conformance (id, label) VALUES ($1, $2)', [randomUUID(), label]);
      const error = await expectCleaverError(
        db().query('INSERT INTO conformance (id, label) VALUES ($1, $2)', [randomUUID(), label]),
        'DATABASE',
        /^duplicate key value violates unique constraint "conformance_label_key" \(SQLSTATE 23505\)$/,
      );
      expect(sqlState(error)).toBe('23505');
      expect(error.cause).toBeDefined();
    });

    it('maps errors inside a transaction the same way', async () => {
      await expectCleaverError(
        db().transaction((tx) => tx.query('SELECT * FROM no_such_table')),
        'DATABASE',
        /^relation "no_such_table" does not exist \(SQLSTATE 42P01\)$/,
      );
    });

    it('maps syntax errors', async () => {
      await expectCleaverError(db().query('SELEC 1'), 'DATABASE', /syntax error at or near "SELEC" \(SQLSTATE 42601\)$/);
    });
  });

  describe('advisory lock', () => {
    it('runs fn with the lock held and lets only one holder in at a time', async () => {
      let holders = 0;
      let maxHolders = 0;
      const hold = (): Promise<number> =>
        db().withAdvisoryLock(4242n, async (conn) => {
          holders++;
          maxHolders = Math.max(maxHolders, holders);
          await sleep(20);
          const { rows } = await conn.query<{ one: number }>('SELECT 1 AS one');
          holders--;
          return rows[0]!.one;
        });
      expect(await Promise.all([hold(), hold(), hold()])).toEqual([1, 1, 1]);
      expect(maxHolders).toBe(1);
    });

    it('accepts any signed 64-bit key and releases the lock when fn throws', async () => {
      const key = -9_223_372_036_854_775_808n;
      await expect(db().withAdvisoryLock(key, () => Promise.reject(new Error('fn failed')))).rejects.toThrow('fn failed');
      await expect(db().withAdvisoryLock(key, async (conn) => (await conn.query('SELECT 1')).rowCount)).resolves.toBe(1);
    });

    it('cleans up a transaction fn left open when it threw', async () => {
      const id = randomUUID();
      await expect(
        db().withAdvisoryLock(7n, async (conn) => {
          await conn.query('BEGIN');
          await conn.query('INSERT INTO conformance (id) VALUES ($1)', [id]);
          throw new Error('fn failed mid-transaction');
        }),
      ).rejects.toThrow('fn failed mid-transaction');
      expect((await db().query('SELECT 1 FROM conformance WHERE id = $1', [id])).rowCount).toBe(0);
      // And the driver is not stuck inside that transaction.
      await db().transaction((tx) => tx.query('SELECT 1'));
    });
  });

  describe('capabilities and notifications', () => {
    if (kind === 'pglite') {
      it('says it has no LISTEN/NOTIFY and refuses listen()', async () => {
        expect(db().capabilities).toEqual({ listenNotify: false, multiEngine: false });
        await expectCleaverError(db().listen('anything', () => undefined), 'INTERNAL', /listenNotify/);
      });
    } else {
      it('delivers NOTIFY payloads to listeners until they unsubscribe', async () => {
        expect(db().capabilities).toEqual({ listenNotify: true, multiEngine: true });
        const channel = `Conformance ${randomUUID()}`; // case and spaces survive quoting
        const received: string[] = [];
        const unlisten = await db().listen(channel, (payload) => received.push(payload));
        await db().query('SELECT pg_notify($1, $2)', [channel, 'first']);
        await waitFor('the first notification', () => received.length === 1);
        await unlisten();
        await db().query('SELECT pg_notify($1, $2)', [channel, 'second']);
        await sleep(100);
        expect(received).toEqual(['first']);
      });
    }
  });

  it('describes itself without secrets', () => {
    if (kind === 'pglite') expect(db().description).toBe('PGlite (in memory)');
    else expect(db().description).toBe(redactConnectionString(DATABASE_URL));
  });
});

describe('redactConnectionString', () => {
  it('replaces passwords in URLs and key=value strings', () => {
    expect(redactConnectionString('postgres://bob:s3cret@db.example:5432/app')).toBe('postgres://bob:***@db.example:5432/app');
    expect(redactConnectionString('postgres://db/app?password=s3cret&sslmode=require')).toBe('postgres://db/app?password=***&sslmode=require');
    expect(redactConnectionString('postgres://root@127.0.0.1:5432/test')).toBe('postgres://root@127.0.0.1:5432/test');
    expect(redactConnectionString("host=db password='a b' user=bob")).toBe('host=db password=*** user=bob');
  });
});

describePg('pg session settings', () => {
  it('plans for data in memory (random_page_cost 1.1) unless the connection string says otherwise', async () => {
    const schema = freshSchemaName('settings');
    const ours = await openTestPgDriver({ schema });
    const url = new URL(DATABASE_URL);
    url.searchParams.set('options', '-c random_page_cost=2.5');
    const theirs = await openTestPgDriver({ schema, connectionString: url.toString() });
    try {
      expect((await ours.query<{ v: string }>(`SELECT current_setting('random_page_cost') AS v`)).rows[0]!.v).toBe('1.1');
      expect((await theirs.query<{ v: string }>(`SELECT current_setting('random_page_cost') AS v`)).rows[0]!.v).toBe('2.5');
      // The schema still applies alongside the connection string's own options.
      expect((await theirs.query<{ v: string }>(`SELECT current_schema() AS v`)).rows[0]!.v).toBe(schema);
    } finally {
      await ours.close();
      await theirs.close();
      await dropSchema(DATABASE_URL, schema);
    }
  });
});

describePg('pg connection resilience', () => {
  const schema = freshSchemaName('resilience');
  const appName = `cleaver-test-${randomUUID().slice(0, 8)}`;
  const backgroundErrors: CleaverError[] = [];
  let driver: Driver;
  let admin: pg.Client;

  beforeAll(async () => {
    driver = await openTestPgDriver({
      schema,
      poolSize: 2,
      applicationName: appName,
      onBackgroundError: (e) => backgroundErrors.push(e),
    });
    admin = new pg.Client({ connectionString: DATABASE_URL });
    await admin.connect();
  });

  afterAll(async () => {
    await driver?.close();
    await admin?.end();
    await dropSchema(DATABASE_URL, schema);
  });

  afterEach(() => {
    backgroundErrors.length = 0;
  });

  const terminate = async (application: string): Promise<number> => {
    const { rows } = await admin.query<{ pid: number }>(
      'SELECT pid, pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1',
      [application],
    );
    return rows.length;
  };

  it('uses the schema on every connection', async () => {
    const { rows } = await driver.query<{ schema: string }>('SELECT current_schema() AS schema');
    expect(rows[0]!.schema).toBe(schema);
  });

  it('keeps working when its connections are killed, reporting instead of crashing', async () => {
    // Open both pooled connections, then kill them while idle.
    await Promise.all([driver.transaction(() => sleep(50)), driver.transaction(() => sleep(50))]);
    expect(await terminate(appName)).toBe(2);
    await waitFor('the pool to notice both dead connections', () => backgroundErrors.length >= 2);
    expect(backgroundErrors.every((e) => e instanceof CleaverError && e.code === 'DATABASE')).toBe(true);
    expect(backgroundErrors[0]!.message).toMatch(/SQLSTATE 57P01/);
    const { rows } = await driver.query<{ ok: number }>('SELECT 1 AS ok');
    expect(rows).toEqual([{ ok: 1 }]);
  });

  it('maps the error of a connection killed mid-transaction and recovers', async () => {
    const error = await rejection(
      driver.transaction(async (tx) => {
        await tx.query('SELECT pg_terminate_backend(pg_backend_pid())');
      }),
    );
    expect(error).toBeInstanceOf(CleaverError);
    expect((error as CleaverError).code).toBe('DATABASE');
    await expect(driver.transaction((tx) => tx.query('SELECT 1'))).resolves.toMatchObject({ rowCount: 1 });
  });

  it('re-LISTENs after its LISTEN connection is killed, and says so', async () => {
    const channel = `resilience_${randomUUID()}`;
    const received: string[] = [];
    let reconnects = 0;
    await driver.listen(channel, (payload) => received.push(payload), { onReconnected: () => reconnects++ });
    expect(await terminate(`${appName}:listen`)).toBe(1);
    await waitFor('a notification after the reconnect', async () => {
      await driver.query('SELECT pg_notify($1, $2)', [channel, 'after']);
      await sleep(50);
      return received.includes('after');
    });
    // Notifications sent while it was down are lost: the subscriber is told, to catch up by polling.
    expect(reconnects).toBe(1);
  });
});

describe('pglite data dir', () => {
  let root: string;
  beforeAll(() => {
    root = mkdtempSync(join(tmpdir(), 'clv-'));
  });
  afterAll(() => {
    rmSync(root, { recursive: true, force: true });
  });

  it('refuses a shared (sticky) data dir instead of tightening it', async () => {
    const dataDir = join(root, 'shared');
    mkdirSync(dataDir);
    chmodSync(dataDir, 0o1777);
    await expectCleaverError(createPgliteDriver({ dataDir }), 'DATABASE', /is a shared directory \(sticky bit, like \/tmp\)/);
    expect(statSync(dataDir).mode & 0o7777).toBe(0o1777);
  });

  it('creates the data dir private, tightens a loose one, locks it, and keeps data across reopen', async () => {
    const dataDir = join(root, 'd1');
    mkdirSync(dataDir, { mode: 0o755 });
    chmodSync(dataDir, 0o755);
    const first = await createPgliteDriver({ dataDir });
    try {
      if (process.platform !== 'win32') expect(statSync(dataDir).mode & 0o777).toBe(0o700);
      expect(existsSync(join(dataDir, 'pgdata', 'PG_VERSION'))).toBe(true);
      expect(first.description).toBe(`PGlite (${dataDir})`);
      await first.query('CREATE TABLE kept (v text)');
      await first.query(`INSERT INTO kept VALUES ('still here')`);
      await expectCleaverError(createPgliteDriver({ dataDir }), 'DATA_DIR_LOCKED', new RegExp(`pid ${process.pid}\\b.*--data-dir`));
    } finally {
      await first.close();
      await first.close(); // idempotent
    }
    expect(existsSync(join(dataDir, 'cleaver.lock'))).toBe(false);
    const second = await openDriver({ dataDir });
    try {
      expect(second.kind).toBe('pglite');
      expect((await second.query('SELECT v FROM kept')).rows).toEqual([{ v: 'still here' }]);
    } finally {
      await second.close();
    }
  });

  it('keeps every commit that resolved before the process was SIGKILLed, and takes over its stale lock', async () => {
    const dataDir = join(root, 'd2');
    const rows = 25;
    const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(new URL('./fixtures/commit-then-crash.ts', import.meta.url)), dataDir, String(rows)], {
      cwd: REPO_ROOT,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const signal = await new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, sig) => resolve(sig)));
    expect(signal, stderr).toBe('SIGKILL');
    expect(existsSync(join(dataDir, 'cleaver.lock'))).toBe(true); // left behind by the crash

    const reopened = await createPgliteDriver({ dataDir });
    try {
      const { rows: found } = await reopened.query<{ n: number; note: string }>('SELECT n, note FROM crash_probe ORDER BY n');
      expect(found.map((r) => r.n)).toEqual(Array.from({ length: rows }, (_, i) => i + 1));
    } finally {
      await reopened.close();
    }
  });
});

describe('openDriver', () => {
  it('refuses ambiguous or missing configuration with a message saying what to do', async () => {
    await expectCleaverError(openDriver({}), 'BAD_REQUEST', /give a data dir, a database URL/);
    await expectCleaverError(openDriver({ databaseUrl: DATABASE_URL, dataDir: '/tmp/x' }), 'BAD_REQUEST', /choose one/);
    await expectCleaverError(openDriver({ dataDir: '/tmp/x', inMemory: true }), 'BAD_REQUEST', /choose one/);
    await expectCleaverError(openDriver({ schema: 'x', inMemory: true }), 'BAD_REQUEST', /only to Postgres/);
  });

  it('maps an unreachable Postgres to a DATABASE error', async () => {
    await expectCleaverError(openDriver({ databaseUrl: 'postgres://nobody@127.0.0.1:1/none' }), 'DATABASE', /ECONNREFUSED/);
  });
});
