/**
 * Runs one suite against every driver, River-style: PGlite in memory, and Postgres from DATABASE_URL
 * (default postgres://root@127.0.0.1:5432/test) in a fresh random schema dropped afterwards.
 *
 *   forEachDriver('task claim', (getDriver, kind) => {
 *     it('claims the oldest first', async () => {
 *       const db = getDriver();              // migrated; shared by the tests of this block
 *       ...
 *     });
 *   });
 *
 * Tests in one block share the database: give rows unique keys (randomUUID) or clean up in
 * beforeEach. Tests that manage their own drivers or processes use forEachDriverKind, which only
 * provides the kind and the URL, plus freshSchemaName/dropSchema/openTestPgDriver; Postgres-only
 * suites use describePg.
 *
 * When Postgres is unreachable its blocks are skipped with a loud warning, or fail when
 * CLEAVER_REQUIRE_PG=1 (CI sets it, so a missing Postgres can never pass as green).
 */

import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Driver } from '../../engine/db/driver.ts';
import { createPgDriver, quoteIdentifier, type PgDriverOptions } from '../../engine/db/pg/pg-driver.ts';
import { createPgliteDriver } from '../../engine/db/pglite/pglite-driver.ts';
import { migrate } from '../../engine/sql/migrate.ts';
import { taskAssign, taskQueueWindowList } from '../../engine/sql/task-assign.ts';
import { schedulerLeaseAcquire } from '../../engine/sql/scheduler-lease.ts';
import type { Queryable } from '../../engine/db/driver.ts';
import { CleaverError } from '../../shared/errors.ts';

export type DriverKind = Driver['kind'];

/** The engine id driver tests decide as: it takes the scheduler lease whenever they assign. */
export const TEST_ENGINE_ID = '00000000-0000-4000-8000-00000000e001';

/**
 * Assigns up to `limit` due task runs of these actions to one worker, best priority then oldest first,
 * as the scheduler would with no limits in play: read the window, write the assignments under the
 * lease (taken for TEST_ENGINE_ID). Returns the attempts it started.
 */
export async function claim(db: Queryable, params: { workerId: string; actions: readonly string[]; limit: number }) {
  await db.query(`UPDATE scheduler_lease SET holder = NULL, expires_at = '-infinity' WHERE partition = 0 AND holder IS DISTINCT FROM $1::uuid`, [TEST_ENGINE_ID]);
  const grant = await schedulerLeaseAcquire(db, { partition: 0, engineId: TEST_ENGINE_ID, ttlMs: 3_600_000 });
  // The database's clock, as available_at was set by it: Date.now() is whole milliseconds, and a task
  // made due a fraction of one earlier (available_at = now(), µs) would read as not yet due.
  const clock = await db.query<{ ms: number }>(`SELECT (extract(epoch FROM clock_timestamp()) * 1000)::float8 AS ms`);
  const now = Number(clock.rows[0]!.ms);
  const due = (await taskQueueWindowList(db, { actions: params.actions, limit: 1_000 }))
    .filter((c) => c.availableAt <= now)
    .sort((a, b) => b.priority - a.priority || (a.taskRunId < b.taskRunId ? -1 : 1))
    .slice(0, params.limit);
  const { assigned } = await taskAssign(db, { engineId: TEST_ENGINE_ID, epoch: grant!.epoch, assignments: due.map((c) => ({ taskRunId: c.taskRunId, workerId: params.workerId })), notify: false });
  return assigned.map((a) => a.task);
}

export const DATABASE_URL = process.env['DATABASE_URL'] ?? 'postgres://root@127.0.0.1:5432/test';

const REQUIRE_PG = process.env['CLEAVER_REQUIRE_PG'] === '1';

/** Why Postgres cannot be used, or undefined when it can. Probed once per test file. */
const pgUnavailable: string | undefined = await probePostgres(DATABASE_URL);

if (pgUnavailable !== undefined && !REQUIRE_PG) {
  console.warn(
    `*** Postgres suites SKIPPED: ${DATABASE_URL} is unreachable (${pgUnavailable}); ` +
      'start Postgres or set DATABASE_URL, and set CLEAVER_REQUIRE_PG=1 to make this an error ***',
  );
}

export function isPgAvailable(): boolean {
  return pgUnavailable === undefined;
}

/**
 * Declares `body` once per driver kind, inside `describe('<name> [pglite]')` and
 * `describe('<name> [pg]')`. `databaseUrl` is set for pg only.
 */
export function forEachDriverKind(name: string, body: (kind: DriverKind, databaseUrl: string | undefined) => void): void {
  describe(`${name} [pglite]`, () => body('pglite', undefined));
  describePg(`${name} [pg]`, () => body('pg', DATABASE_URL));
}

export interface ForEachDriverOptions {
  /** Apply the migrations before the tests (default true). */
  migrate?: boolean;
}

/**
 * Declares `body` once per driver with a driver opened (and migrated) in beforeAll and closed in
 * afterAll; on pg it lives in its own schema, dropped at the end. `getDriver()` works in tests and
 * hooks, not while declaring them.
 */
export function forEachDriver(
  name: string,
  body: (getDriver: () => Driver, kind: DriverKind) => void,
  options: ForEachDriverOptions = {},
): void {
  forEachDriverKind(name, (kind) => {
    let driver: Driver | undefined;
    let schema: string | undefined;
    beforeAll(async () => {
      if (kind === 'pg') {
        schema = freshSchemaName(name);
        driver = await openTestPgDriver({ schema });
      } else {
        driver = await createPgliteDriver();
      }
      if (options.migrate !== false) await migrate(driver);
    });
    afterAll(async () => {
      // close() is idempotent, so a suite that closed the driver itself is fine; the schema is
      // dropped over a connection of its own for the same reason.
      try {
        await driver?.close();
      } finally {
        if (schema !== undefined) await dropSchema(DATABASE_URL, schema);
      }
    });
    body(() => {
      if (driver === undefined) throw new Error(`getDriver() for "${name} [${kind}]" was called before its beforeAll ran`);
      return driver;
    }, kind);
  });
}

/** What the promise rejected with; fails the test when it resolves. */
export async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (e: unknown) {
    return e;
  }
  throw new Error('expected a rejection, but the promise resolved');
}

/** Expects a rejection with a CleaverError of this code (and a message matching `message`), and returns it. */
export async function expectCleaverError(promise: Promise<unknown>, code: CleaverError['code'], message?: RegExp): Promise<CleaverError> {
  const error = await rejection(promise);
  expect(error).toBeInstanceOf(CleaverError);
  const cleaverError = error as CleaverError;
  expect(cleaverError.code).toBe(code);
  if (message) expect(cleaverError.message).toMatch(message);
  return cleaverError;
}

/** A unique, valid schema name: `cleaver_test_<label>_<random>`. */
export function freshSchemaName(label = 'suite'): string {
  const slug = label.toLowerCase().replace(/[^a-z0-9]+/g, '_').replace(/^_|_$/g, '').slice(0, 24);
  return `cleaver_test_${slug}_${randomBytes(4).toString('hex')}`;
}

/** Opens a pg driver on DATABASE_URL (in `schema`, created when missing); the caller closes it. */
export function openTestPgDriver(options: Omit<PgDriverOptions, 'connectionString'> & { connectionString?: string }): Promise<Driver> {
  return createPgDriver({ connectionString: DATABASE_URL, poolSize: 4, ...options });
}

/** Drops a schema made by freshSchemaName, over a connection of its own. */
export async function dropSchema(databaseUrl: string, schema: string): Promise<void> {
  const client = new pg.Client({ connectionString: databaseUrl });
  client.on('error', () => undefined);
  await client.connect();
  try {
    await client.query(`DROP SCHEMA IF EXISTS ${quoteIdentifier(schema)} CASCADE`);
  } finally {
    await client.end();
  }
}

/** A describe block that needs Postgres (LISTEN/NOTIFY, several engines): skipped or failed like the pg half of forEachDriver. */
export function describePg(title: string, body: () => void): void {
  if (pgUnavailable === undefined) {
    describe(title, body);
  } else if (REQUIRE_PG) {
    describe(title, () => {
      it('needs a reachable Postgres', () => {
        throw new Error(`CLEAVER_REQUIRE_PG=1 but Postgres at ${DATABASE_URL} is unreachable: ${pgUnavailable}`);
      });
    });
  } else {
    describe.skip(title, body);
  }
}

async function probePostgres(url: string): Promise<string | undefined> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3_000 });
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.query('SELECT 1');
    return undefined;
  } catch (e: unknown) {
    return e instanceof Error ? e.message || e.name : String(e);
  } finally {
    await client.end().catch(() => undefined);
  }
}
