// What running PGlite in its own thread adds to the driver contract (driver-conformance.test.ts checks
// the contract itself): the event loop keeps turning during a statement, errors keep their Postgres
// fields across the thread, a scope's statements never interleave with others, and a dead thread or
// a close() with work in flight fails or finishes that work instead of leaving it hanging.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Worker } from 'node:worker_threads';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { isTransientDatabaseError } from '../../engine/db/database-error.ts';
import type { Driver } from '../../engine/db/driver.ts';
import { createPgliteDriver } from '../../engine/db/pglite/pglite-driver.ts';
import { isDataError, sqlState } from '../../engine/db/sql-state.ts';
import type { CleaverError } from '../../shared/errors.ts';
import { expectCleaverError } from './drivers.ts';

// Every thread the driver starts, so a test can kill one as a crash would.
const threads = vi.hoisted(() => [] as Worker[]);
vi.mock('node:worker_threads', async (importOriginal) => {
  const actual = await importOriginal<typeof import('node:worker_threads')>();
  class RecordedWorker extends actual.Worker {
    constructor(...args: ConstructorParameters<typeof actual.Worker>) {
      super(...args);
      threads.push(this);
    }
  }
  return { ...actual, Worker: RecordedWorker };
});

/** Long enough (hundreds of ms in WASM) that a timer or a kill lands while it runs. */
const LONG_STATEMENT = 'SELECT count(*) FROM generate_series(1, 2000000)';

let root: string;
beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'clv-thr-'));
});
afterAll(() => {
  rmSync(root, { recursive: true, force: true });
});

describe('PGlite thread: one open driver', () => {
  let driver: Driver;
  beforeAll(async () => {
    driver = await createPgliteDriver();
    await driver.query('CREATE TABLE probe (seq serial PRIMARY KEY, label text UNIQUE NOT NULL)');
  });
  afterAll(() => driver.close());

  const labels = async (): Promise<string[]> => (await driver.query<{ label: string }>('SELECT label FROM probe ORDER BY seq')).rows.map((r) => r.label);

  it('keeps the event loop turning while a statement runs', async () => {
    let timerFired = false;
    void sleep(10).then(() => {
      timerFired = true;
    });
    const firedBeforeTheStatementEnded = await driver.query(LONG_STATEMENT).then(() => timerFired);
    expect(firedBeforeTheStatementEnded).toBe(true);
  });

  it('keeps a failed statement’s SQLSTATE and Postgres fields, so errors classify as before', async () => {
    await driver.query('INSERT INTO probe (label) VALUES ($1)', ['taken']);
    const duplicate = await expectCleaverError(
      driver.query('INSERT INTO probe (label) VALUES ($1)', ['taken']),
      'DATABASE',
      /^duplicate key value violates unique constraint "probe_label_key" \(SQLSTATE 23505\)$/,
    );
    expect(sqlState(duplicate)).toBe('23505');
    expect(isDataError(duplicate)).toBe(true);
    expect(duplicate.cause).toMatchObject({ code: '23505', severity: 'ERROR', constraint: 'probe_label_key', detail: 'Key (label)=(taken) already exists.' });

    const raised = await expectCleaverError(
      driver.query(`DO $$ BEGIN RAISE EXCEPTION 'lost a race' USING ERRCODE = '40001'; END $$`),
      'DATABASE',
      /^lost a race \(SQLSTATE 40001\)$/,
    );
    expect(isTransientDatabaseError(raised)).toBe(true);
    await driver.query('DELETE FROM probe');
  });

  it('runs statements issued before a transaction ahead of it, and those issued during it after its commit, in order', async () => {
    await driver.query('DELETE FROM probe');
    const before = driver.query('INSERT INTO probe (label) VALUES ($1)', ['before']);
    let during: Array<Promise<{ rows: Array<{ seen: string[] }> }>> = [];
    const seenInside = await driver.transaction(async (tx) => {
      const first = (await tx.query<{ label: string }>('SELECT label FROM probe ORDER BY seq')).rows.map((r) => r.label);
      await tx.query('INSERT INTO probe (label) VALUES ($1)', ['inside-1']);
      // Each returns what was committed when it ran (the subquery reads the table before its own row).
      during = [1, 2, 3].map((i) =>
        driver.query<{ seen: string[] }>(
          'INSERT INTO probe (label) VALUES ($1) RETURNING (SELECT array_agg(label ORDER BY seq) FROM probe) AS seen',
          [`outside-${i}`],
        ),
      );
      await sleep(30); // every chance for an outside statement to run early
      const second = (await tx.query<{ label: string }>('SELECT label FROM probe ORDER BY seq')).rows.map((r) => r.label);
      await tx.query('INSERT INTO probe (label) VALUES ($1)', ['inside-2']);
      return { first, second };
    });
    await before;
    expect(seenInside).toEqual({ first: ['before'], second: ['before', 'inside-1'] });
    const seenOutside = (await Promise.all(during)).map((r) => r.rows[0]!.seen);
    expect(seenOutside).toEqual([
      ['before', 'inside-1', 'inside-2'],
      ['before', 'inside-1', 'inside-2', 'outside-1'],
      ['before', 'inside-1', 'inside-2', 'outside-1', 'outside-2'],
    ]);
  });

  it('holds statements outside a withAdvisoryLock callback until it is done, even across its own BEGIN and ROLLBACK', async () => {
    await driver.query('DELETE FROM probe');
    let outside: Promise<unknown> | undefined;
    await driver.withAdvisoryLock(99n, async (conn) => {
      await conn.query('BEGIN');
      await conn.query('INSERT INTO probe (label) VALUES ($1)', ['rolled-back']);
      outside = driver.query('INSERT INTO probe (label) VALUES ($1)', ['outside']);
      await sleep(30);
      expect((await conn.query<{ n: number }>('SELECT count(*)::int AS n FROM probe')).rows[0]!.n).toBe(1);
      await conn.query('ROLLBACK');
    });
    await outside;
    expect(await labels()).toEqual(['outside']);
  });
});

describe('PGlite thread: a thread that dies', () => {
  it('fails the running, the queued and every later statement with a DATABASE error, and reports it once', async () => {
    const reported: CleaverError[] = [];
    const dataDir = join(root, 'crashed');
    const driver = await createPgliteDriver({ dataDir, onBackgroundError: (e) => reported.push(e) });
    await driver.query('CREATE TABLE kept (v text)');
    await driver.query(`INSERT INTO kept VALUES ('committed before the crash')`);
    const thread = threads.at(-1)!;

    const running = driver.query(LONG_STATEMENT);
    const queued = driver.query('SELECT 1');
    let insideTransaction: Promise<unknown> | undefined;
    const transaction = driver.transaction(async (tx) => {
      await thread.terminate();
      insideTransaction = tx.query('SELECT 1');
      await insideTransaction;
    });

    const stopped = /^the PGlite database thread \(.*crashed\) stopped: it exited with code 1; no statement can run until Cleaver is restarted$/;
    await expectCleaverError(running, 'DATABASE', stopped);
    await expectCleaverError(queued, 'DATABASE', stopped);
    await expectCleaverError(transaction, 'DATABASE', stopped);
    await expectCleaverError(insideTransaction!, 'DATABASE', stopped);
    await expectCleaverError(driver.query('SELECT 1'), 'DATABASE', stopped);
    await expectCleaverError(driver.transaction((tx) => tx.query('SELECT 1')), 'DATABASE', stopped);
    expect(reported.map((e) => e.message)).toEqual([expect.stringMatching(stopped)]);

    // close() still releases the data dir, and what was committed is there on reopening.
    await driver.close();
    const reopened = await createPgliteDriver({ dataDir });
    try {
      expect((await reopened.query('SELECT v FROM kept')).rows).toEqual([{ v: 'committed before the crash' }]);
    } finally {
      await reopened.close();
    }
  });
});

describe('PGlite thread: close() with work in flight', () => {
  it('finishes what was issued before it and the open transaction, refuses what comes after, then closes', async () => {
    const dataDir = join(root, 'closing');
    const driver = await createPgliteDriver({ dataDir });
    await driver.query('CREATE TABLE kept (n int PRIMARY KEY)');

    const issuedBefore = [1, 2, 3].map((n) => driver.query('INSERT INTO kept VALUES ($1)', [n]));
    let closed = false;
    let closing: Promise<void> | undefined;
    await driver.transaction(async (tx) => {
      await tx.query('INSERT INTO kept VALUES (100)');
      closing = driver.close().then(() => {
        closed = true;
      });
      await expectCleaverError(driver.query('INSERT INTO kept VALUES (200)'), 'DATABASE', /^the PGlite database \(.*closing\) is closed$/);
      await expectCleaverError(driver.transaction((other) => other.query('INSERT INTO kept VALUES (300)')), 'DATABASE', /is closed$/);
      await sleep(20);
      expect(closed).toBe(false); // waits for this transaction
      await tx.query('INSERT INTO kept VALUES (101)');
    });
    await Promise.all(issuedBefore);
    await closing;
    await expectCleaverError(driver.query('SELECT 1'), 'DATABASE', /is closed$/);

    const reopened = await createPgliteDriver({ dataDir });
    try {
      expect((await reopened.query<{ n: number }>('SELECT n FROM kept ORDER BY n')).rows.map((r) => r.n)).toEqual([1, 2, 3, 100, 101]);
    } finally {
      await reopened.close();
    }
  });
});
