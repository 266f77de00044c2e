/**
 * The embedded driver: Postgres compiled to WASM, on one connection, in a thread of this process
 * (pglite-thread.ts). Each statement runs synchronously inside the WASM module; in the main thread
 * that held up the event loop serving worker sockets, the scheduler and the admin API for as long as
 * the statement took. Statements and their results cross as structured-clone messages; the values
 * callers see (Dates, numbers or bigints for int8, parsed jsonb, arrays, Uint8Array for bytea) are the
 * ones PGlite parsed, unchanged.
 *
 * Serialization: the thread gives the connection to one scope at a time — a transaction, or a
 * withAdvisoryLock callback, which runs BEGIN/COMMIT by hand on `conn` — and holds back every other
 * statement until that scope ends, so nothing lands inside someone else's transaction. A transaction
 * costs no round trip to open: its BEGIN is sent, not awaited, and its statements queue behind it.
 *
 * Durability: PGlite starts Postgres with fsync off. Commits still go through write(2) on the WAL
 * before `query()`/`transaction()` resolve (synchronous_commit stays on), so they live in the OS page
 * cache and survive the Cleaver process being killed (test/driver/driver-conformance.test.ts kills a
 * child with SIGKILL right after a commit); the thread dies with the process. A power loss or OS
 * crash can lose whatever the OS had not yet written back — recent commits, and with fsync off
 * possibly torn data pages, which Postgres cannot repair — so a data dir that went through one should
 * be restored from a backup or rebuilt.
 *
 * If the thread dies (a WASM abort, an out-of-memory), every pending and later statement fails with a
 * DATABASE error saying so, and onBackgroundError hears it once; the data dir is as a crash leaves it.
 */

import { chmod, mkdir, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { Worker } from 'node:worker_threads';
import { CleaverError, toError } from '../../../shared/errors.ts';
import { acquireDataDirLock, type DataDirLock } from '../data-dir-lock.ts';
import { toDatabaseError } from '../database-error.ts';
import { scopedQueryable } from '../scoped-queryable.ts';
import { sqlText, type Driver, type DriverCapabilities, type Queryable, type QueryResult, type Sql } from '../driver.ts';
import type { ScopeKind, ThreadError, ThreadOptions, ThreadReply, ThreadRequest } from './pglite-thread.ts';

export interface PgliteDriverOptions {
  /** Directory for the database (files in `<dataDir>/pgdata`) and its lock. Undefined: in memory. */
  dataDir?: string;
  /** Errors nobody awaits: the PGlite thread stopping. Default: one line on stderr. */
  onBackgroundError?: (error: CleaverError) => void;
}

const CAPABILITIES: DriverCapabilities = Object.freeze({ listenNotify: false, multiEngine: false });
/** The id of the thread's reply to its own opening. */
const OPENED_ID = 0;
const ADVISORY_LOCK = 'SELECT pg_advisory_lock($1)';
const ADVISORY_UNLOCK = 'SELECT pg_advisory_unlock($1)';

export async function createPgliteDriver(options: PgliteDriverOptions = {}): Promise<Driver> {
  const report = options.onBackgroundError ?? ((error: CleaverError) => console.warn(`[cleaver] ${error.message}`));
  if (options.dataDir === undefined) {
    const thread = await PgliteThread.start({ pgdata: undefined, where: 'in memory', report });
    return new PgliteDriver(thread, 'PGlite (in memory)', undefined);
  }
  const dataDir = resolve(options.dataDir);
  await prepareDataDir(dataDir);
  const lock = await acquireDataDirLock(dataDir);
  try {
    const thread = await PgliteThread.start({ pgdata: join(dataDir, 'pgdata'), where: dataDir, report });
    return new PgliteDriver(thread, `PGlite (${dataDir})`, lock);
  } catch (e: unknown) {
    await lock.release();
    throw e;
  }
}

/**
 * The data dir holds every task's input and output: readable by its owner only. A shared directory
 * (sticky bit: /tmp and its like) is refused, never tightened: run as root, that would lock every other
 * user and service out of it.
 */
async function prepareDataDir(dataDir: string): Promise<void> {
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  if (process.platform === 'win32') return; // POSIX modes mean nothing there
  const { mode } = await stat(dataDir);
  if ((mode & 0o1000) !== 0) {
    throw new CleaverError('DATABASE', `data dir ${dataDir} is a shared directory (sticky bit, like /tmp); give a directory of its own, e.g. --data-dir ${join(dataDir, 'cleaver')}`);
  }
  if ((mode & 0o077) !== 0) await chmod(dataDir, 0o700);
}

class PgliteDriver implements Driver {
  readonly kind = 'pglite';
  readonly capabilities = CAPABILITIES;
  readonly description: string;
  readonly #thread: PgliteThread;
  readonly #lock: DataDirLock | undefined;
  #closing: Promise<void> | undefined;
  /** Scope ids, unique per driver; 0 means no scope. */
  #lastScopeId = 0;

  /** Commits already reach the OS without a flush (fsync off): nothing to relax. */
  readonly relaxed: Queryable = this;

  constructor(thread: PgliteThread, description: string, lock: DataDirLock | undefined) {
    this.#thread = thread;
    this.description = description;
    this.#lock = lock;
  }

  query<Row = Record<string, unknown>>(sql: Sql, params?: readonly unknown[]): Promise<QueryResult<Row>> {
    return this.#thread.query<Row>(sql, params, 0);
  }

  /**
   * Must not call the driver itself inside `fn` (only `tx`): with one connection that would wait for
   * this very transaction to finish.
   */
  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
    return this.#inScope('transaction', fn, (txId, failed) => this.#thread.end(failed ? 'rollback' : 'commit', txId));
  }

  /**
   * One process owns a PGlite database, so the thread's scope is the real exclusion; the
   * pg_advisory_lock call keeps the statement sequence identical to the pg driver's. `fn` must use
   * `conn`, never the driver, which waits until `fn` is done.
   */
  withAdvisoryLock<T>(key: bigint, fn: (conn: Queryable) => Promise<T>): Promise<T> {
    return this.#inScope(
      'session',
      async (conn) => {
        await conn.query(ADVISORY_LOCK, [key]);
        return fn(conn);
      },
      (txId) => this.#thread.release(txId, ADVISORY_UNLOCK, [key]),
    );
  }

  /** Runs fn on a scope of the thread's connection, then ends the scope (`failed`: fn threw). */
  async #inScope<T>(kind: ScopeKind, fn: (conn: Queryable) => Promise<T>, end: (txId: number, failed: boolean) => Promise<void>): Promise<T> {
    const txId = ++this.#lastScopeId;
    this.#thread.begin(txId, kind);
    const scope = scopedQueryable((sql, params) => this.#thread.query(sql, params, txId), kind === 'transaction' ? 'transaction' : 'advisory lock');
    let result: T;
    try {
      result = await fn(scope.queryable);
    } catch (e: unknown) {
      // fn's error is the caller's own and is rethrown untouched, whatever ending the scope says.
      scope.end();
      await end(txId, true).catch(() => undefined);
      throw e;
    }
    scope.end();
    await end(txId, false);
    return result;
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
      await this.#thread.close();
    } finally {
      await this.#lock?.release();
    }
  }
}

interface Pending {
  resolve(result: QueryResult<unknown>): void;
  reject(error: CleaverError): void;
}

interface ThreadStartOptions extends ThreadOptions {
  /** For messages: the data dir or "in memory". */
  where: string;
  report: (error: CleaverError) => void;
}

/**
 * The main thread's end of pglite-thread.ts: numbered requests, each settled by the reply with its
 * number. The thread keeps the process alive only while a reply is awaited: an open driver with
 * nothing to do must not keep a process from exiting, as PGlite on the main thread did not.
 */
class PgliteThread {
  readonly #worker: Worker;
  readonly #where: string;
  readonly #report: (error: CleaverError) => void;
  readonly #pending = new Map<number, Pending>();
  #lastId = OPENED_ID;
  #opened = false;
  /** close() was called: statements outside an open scope, and new scopes, are refused. */
  #closing = false;
  /** Why nothing can run any more (the thread died, or was closed); every request fails with it. */
  #stopped: CleaverError | undefined;

  static async start(options: ThreadStartOptions): Promise<PgliteThread> {
    const thread = new PgliteThread(options);
    try {
      await thread.#awaitReply(OPENED_ID);
    } catch (e: unknown) {
      const cause = toDatabaseError(e);
      thread.#stop(cause, false);
      await thread.#worker.terminate();
      throw new CleaverError('DATABASE', `could not open the PGlite database (${options.where}): ${cause.message}`, { cause: e });
    }
    thread.#opened = true;
    return thread;
  }

  private constructor(options: ThreadStartOptions) {
    this.#where = options.where;
    this.#report = options.report;
    this.#worker = startWorker({ pgdata: options.pgdata });
    this.#worker.on('message', (reply: ThreadReply) => this.#receive(reply));
    this.#worker.on('error', (e: Error) => this.#stop(this.#stoppedError(`it threw: ${e.message}`, e), true));
    this.#worker.on('exit', (code: number) => this.#stop(this.#stoppedError(`it exited with code ${code}`, undefined), true));
  }

  query<Row>(sql: Sql, params: readonly unknown[] | undefined, txId: number): Promise<QueryResult<Row>> {
    if (txId === 0 && this.#closing) return Promise.reject(this.#closedError());
    const name = typeof sql === 'string' ? undefined : sql.name;
    return this.#send<Row>({ op: 'query', id: this.#nextId(), txId, sql: sqlText(sql), name, params: params !== undefined && params.length > 0 ? params : undefined });
  }

  /**
   * Opens a scope without waiting: its statements queue behind it in the thread, and a failure to
   * open comes back as the reply to each of them. Throws once the driver is closing or stopped.
   */
  begin(txId: number, kind: ScopeKind): void {
    if (this.#stopped !== undefined) throw this.#stopped;
    if (this.#closing) throw this.#closedError();
    this.#worker.postMessage({ op: 'begin', txId, kind } satisfies ThreadRequest);
  }

  async end(op: 'commit' | 'rollback', txId: number): Promise<void> {
    await this.#send({ op, id: this.#nextId(), txId });
  }

  async release(txId: number, sql: string, params: readonly unknown[]): Promise<void> {
    await this.#send({ op: 'release', id: this.#nextId(), txId, sql, params });
  }

  /** Lets everything sent before it finish, closes PGlite, and ends the thread. */
  async close(): Promise<void> {
    if (this.#stopped !== undefined) {
      await this.#worker.terminate();
      return;
    }
    this.#closing = true;
    try {
      await this.#send({ op: 'close', id: this.#nextId() });
    } finally {
      this.#stop(this.#closedError(), false);
      await this.#worker.terminate();
    }
  }

  #nextId(): number {
    return ++this.#lastId;
  }

  #send<Row>(request: Extract<ThreadRequest, { id: number }>): Promise<QueryResult<Row>> {
    if (this.#stopped !== undefined) return Promise.reject(this.#stopped);
    const reply = this.#awaitReply<Row>(request.id);
    try {
      this.#worker.postMessage(request);
    } catch (e: unknown) {
      // Structured clone refused a parameter (a function, a symbol, an object holding one).
      this.#settle(request.id, undefined, new CleaverError('DATABASE', `a statement parameter cannot be passed to the PGlite thread: ${toError(e).message}; pass strings, numbers, booleans, bigints, Dates, Uint8Arrays, or arrays and plain objects of them`, { cause: e }));
    }
    return reply;
  }

  #awaitReply<Row>(id: number): Promise<QueryResult<Row>> {
    // The first request outstanding keeps the process alive until the last reply.
    if (this.#pending.size === 0) this.#worker.ref();
    return new Promise<QueryResult<Row>>((resolvePending, rejectPending) => {
      this.#pending.set(id, { resolve: resolvePending as Pending['resolve'], reject: rejectPending });
    });
  }

  #receive(reply: ThreadReply): void {
    if ('error' in reply) this.#settle(reply.id, undefined, toDatabaseError(rebuildError(reply.error)));
    else this.#settle(reply.id, { rows: reply.rows, rowCount: reply.rowCount }, undefined);
  }

  #settle(id: number, result: QueryResult<unknown> | undefined, error: CleaverError | undefined): void {
    const pending = this.#pending.get(id);
    if (pending === undefined) return;
    this.#pending.delete(id);
    if (this.#pending.size === 0) this.#worker.unref();
    if (error !== undefined) pending.reject(error);
    else pending.resolve(result!);
  }

  #stop(error: CleaverError, report: boolean): void {
    if (this.#stopped !== undefined) return;
    this.#stopped = error;
    const pending = [...this.#pending.values()];
    this.#pending.clear();
    this.#worker.unref();
    for (const { reject } of pending) reject(error);
    if (report && this.#opened) {
      try {
        this.#report(error);
      } catch {
        // A throwing error handler must not turn a failed database into a crash as well.
      }
    }
  }

  #stoppedError(how: string, cause: unknown): CleaverError {
    return new CleaverError(
      'DATABASE',
      `the PGlite database thread (${this.#where}) stopped: ${how}; no statement can run until Cleaver is restarted`,
      cause === undefined ? undefined : { cause },
    );
  }

  #closedError(): CleaverError {
    return new CleaverError('DATABASE', `the PGlite database (${this.#where}) is closed`);
  }
}

/** Rebuilds a thread's error so database-error.ts and sql-state.ts read it as they read PGlite's. */
function rebuildError(thrown: ThreadError): Error {
  const error = new Error(thrown.message);
  Object.assign(error, thrown.fields);
  error.name = thrown.name;
  if (thrown.stack !== undefined) error.stack = thrown.stack;
  return error;
}

/**
 * From the build, the thread is the sibling .js file. From source (tests, `node --import tsx`) it is
 * .ts, and Node 20's worker threads do not get tsx's hooks from `--import tsx`: the thread registers
 * them itself before importing the module.
 */
function startWorker(workerData: ThreadOptions): Worker {
  const self = new URL(import.meta.url);
  if (!self.pathname.endsWith('.ts')) return new Worker(new URL('./pglite-thread.js', self), { workerData });
  const tsx = import.meta.resolve('tsx/esm/api');
  const thread = new URL('./pglite-thread.ts', self).href;
  const bootstrap = `import(${JSON.stringify(tsx)}).then(({ register }) => { register(); return import(${JSON.stringify(thread)}); });`;
  return new Worker(bootstrap, { eval: true, workerData });
}
