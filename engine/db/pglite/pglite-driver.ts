/**
 * The embedded driver: Postgres compiled to WASM, running inside this process on one connection.
 *
 * Serialization: PGlite itself runs every `query()`/`exec()` under its transaction mutex, and
 * `transaction()` holds that mutex from BEGIN to COMMIT, so a query issued outside a transaction
 * while one is open waits for it instead of landing inside it. We use PGlite's own transaction API
 * for that reason (it also tells PGlite to skip its per-statement filesystem sync inside the block).
 * Our only extra gate is for `withAdvisoryLock`, whose callback runs BEGIN/COMMIT by hand on `conn`:
 * while it runs, `query()` and `transaction()` on the driver wait, so nothing slips into its
 * hand-made transactions. Outside that the hot path pays one property check.
 *
 * Durability: PGlite starts Postgres with fsync off. Commits still go through write(2) on the WAL
 * before `query()`/`transaction()` resolve (synchronous_commit stays on), so they live in the OS page
 * cache and survive the Cleaver process being killed (test/driver/driver-conformance.test.ts kills a
 * child with SIGKILL right after a commit). A power loss or OS crash can lose whatever the OS had not
 * yet written back — recent commits, and with fsync off possibly torn data pages, which Postgres
 * cannot repair — so a data dir that went through one should be restored from a backup or rebuilt.
 */

import { chmod, mkdir, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { PGlite, type Results, type Transaction } from '@electric-sql/pglite';
import { pg_trgm } from '@electric-sql/pglite/contrib/pg_trgm';
import { CleaverError } from '../../../shared/errors.ts';
import { acquireDataDirLock, type DataDirLock } from '../data-dir-lock.ts';
import { toDatabaseError } from '../database-error.ts';
import { scopedQueryable } from '../scoped-queryable.ts';
import { sqlText, type Driver, type DriverCapabilities, type Queryable, type QueryResult, type Sql } from '../driver.ts';

export interface PgliteDriverOptions {
  /** Directory for the database (files in `<dataDir>/pgdata`) and its lock. Undefined: in memory. */
  dataDir?: string;
}

/** The subset of PGlite and of its Transaction that running a statement needs. */
interface PgliteRunner {
  query<Row>(sql: string, params?: unknown[]): Promise<Results<Row>>;
  exec(sql: string): Promise<Results[]>;
}

const CAPABILITIES: DriverCapabilities = Object.freeze({ listenNotify: false, multiEngine: false });

export async function createPgliteDriver(options: PgliteDriverOptions = {}): Promise<Driver> {
  if (options.dataDir === undefined) {
    const pglite = await openPglite(undefined, 'in memory');
    return new PgliteDriver(pglite, 'PGlite (in memory)', undefined);
  }
  const dataDir = resolve(options.dataDir);
  await prepareDataDir(dataDir);
  const lock = await acquireDataDirLock(dataDir);
  try {
    const pglite = await openPglite(join(dataDir, 'pgdata'), dataDir);
    return new PgliteDriver(pglite, `PGlite (${dataDir})`, lock);
  } catch (e: unknown) {
    await lock.release();
    throw e;
  }
}

/** The data dir holds every task's input and output: readable by its owner only. */
async function prepareDataDir(dataDir: string): Promise<void> {
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  if (process.platform === 'win32') return; // POSIX modes mean nothing there
  const { mode } = await stat(dataDir);
  if ((mode & 0o077) !== 0) await chmod(dataDir, 0o700);
}

async function openPglite(pgdata: string | undefined, where: string): Promise<PGlite> {
  try {
    // pg_trgm: the index that serves log search by text (migration 000010). Only made available here;
    // the migration installs it in the database.
    return await PGlite.create({ extensions: { pg_trgm }, ...(pgdata === undefined ? {} : { dataDir: pgdata }) });
  } catch (e: unknown) {
    const cause = toDatabaseError(e);
    throw new CleaverError('DATABASE', `could not open the PGlite database (${where}): ${cause.message}`, { cause: e });
  }
}

/**
 * Without parameters the statement goes through the simple protocol, like node-postgres does: that
 * allows several statements in one string (migrations) and is one round trip instead of five. With
 * several statements the last one's result is returned, as the pg driver does.
 */
async function run<Row>(runner: PgliteRunner, statement: Sql, params: readonly unknown[] | undefined): Promise<QueryResult<Row>> {
  const sql = sqlText(statement);
  try {
    if (params !== undefined && params.length > 0) {
      const result = await runner.query<Row>(sql, params as unknown[]);
      return { rows: result.rows, rowCount: result.rowCount ?? 0 };
    }
    const results = await runner.exec(sql);
    const last = results[results.length - 1];
    return { rows: (last?.rows ?? []) as Row[], rowCount: last?.rowCount ?? 0 };
  } catch (e: unknown) {
    throw toDatabaseError(e);
  }
}

class PgliteDriver implements Driver {
  readonly kind = 'pglite';
  readonly capabilities = CAPABILITIES;
  readonly description: string;
  readonly #pglite: PGlite;
  readonly #lock: DataDirLock | undefined;
  /** Settles when the current withAdvisoryLock scope ends; undefined when none is open. */
  #exclusive: Promise<void> | undefined;
  #closing: Promise<void> | undefined;

  /** Commits already reach the OS without a flush (fsync off): nothing to relax. */
  readonly relaxed: Queryable = this;

  constructor(pglite: PGlite, description: string, lock: DataDirLock | undefined) {
    this.#pglite = pglite;
    this.description = description;
    this.#lock = lock;
  }

  async query<Row = Record<string, unknown>>(sql: Sql, params?: readonly unknown[]): Promise<QueryResult<Row>> {
    if (this.#exclusive !== undefined) await this.#waitForExclusive();
    return run<Row>(this.#pglite, sql, params);
  }

  /**
   * Must not call the driver itself inside `fn` (only `tx`): with one connection that would wait for
   * this very transaction to finish.
   */
  async transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
    if (this.#exclusive !== undefined) await this.#waitForExclusive();
    // An error thrown by fn is the caller's own and is rethrown untouched; anything else (BEGIN,
    // COMMIT, a COMMIT that turned into ROLLBACK) comes from PGlite and is mapped.
    let fnError: { error: unknown } | undefined;
    try {
      return await this.#pglite.transaction(async (raw: Transaction) => {
        const scope = scopedQueryable((sql, params) => run(raw, sql, params), 'transaction');
        try {
          return await fn(scope.queryable);
        } catch (e: unknown) {
          fnError = { error: e };
          throw e;
        } finally {
          scope.end();
        }
      });
    } catch (e: unknown) {
      if (fnError !== undefined && fnError.error === e) throw e;
      throw toDatabaseError(e);
    }
  }

  /**
   * One process owns a PGlite database, so the in-process gate is the real exclusion; the
   * pg_advisory_lock call keeps the statement sequence identical to the pg driver's. `fn` must use
   * `conn`, never the driver, which waits until `fn` is done.
   */
  async withAdvisoryLock<T>(key: bigint, fn: (conn: Queryable) => Promise<T>): Promise<T> {
    while (this.#exclusive !== undefined) await this.#exclusive;
    let open!: () => void;
    this.#exclusive = new Promise<void>((resolveScope) => {
      open = resolveScope;
    });
    const scope = scopedQueryable((sql, params) => run(this.#pglite, sql, params), 'advisory lock');
    try {
      await run(this.#pglite, 'SELECT pg_advisory_lock($1)', [key]);
      let result: T;
      try {
        result = await fn(scope.queryable);
      } catch (e: unknown) {
        scope.end();
        await this.#leaveAdvisoryScope(key).catch(() => undefined); // fn's error is the one to report
        throw e;
      }
      scope.end();
      await this.#leaveAdvisoryScope(key);
      return result;
    } finally {
      scope.end();
      this.#exclusive = undefined;
      open();
    }
  }

  async #leaveAdvisoryScope(key: bigint): Promise<void> {
    // fn may have thrown between its own BEGIN and COMMIT; on the one connection a transaction left
    // open would swallow every later statement of the engine.
    if (this.#pglite.isInTransaction()) await run(this.#pglite, 'ROLLBACK', undefined);
    await run(this.#pglite, 'SELECT pg_advisory_unlock($1)', [key]);
  }

  listen(): Promise<() => Promise<void>> {
    return Promise.reject(
      new CleaverError(
        'INTERNAL',
        'the PGlite driver has no LISTEN/NOTIFY across processes (capabilities.listenNotify is false); poll instead',
      ),
    );
  }

  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    try {
      if (!this.#pglite.closed) await this.#pglite.close();
    } catch (e: unknown) {
      throw toDatabaseError(e);
    } finally {
      await this.#lock?.release();
    }
  }

  async #waitForExclusive(): Promise<void> {
    while (this.#exclusive !== undefined) await this.#exclusive;
  }
}
