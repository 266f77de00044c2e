/**
 * The PGlite thread: runs PGlite (single-user Postgres compiled to WASM) off the engine's main thread,
 * whose event loop also serves worker sockets, the scheduler and the admin API. Every statement runs
 * synchronously inside the WASM module once it starts, so on the main thread each one blocked all of
 * that; here it blocks only this thread. pglite-driver.ts is the other end of the messages.
 *
 * The one connection is owned by at most one scope at a time: a transaction (PGlite's own
 * `transaction()`, which also skips the per-statement filesystem sync inside the block) or a session
 * (withAdvisoryLock, whose callback may run BEGIN/COMMIT by hand). While a scope is open only its own
 * statements run; statements outside it and scopes opened after it wait here, in arrival order, and
 * start when it ends. With no scope open, statements go straight to PGlite, which runs them one at a
 * time in the order they came.
 */

import { parentPort, workerData } from 'node:worker_threads';
import { PGlite, parse, protocol, type Results, type Transaction } from '@electric-sql/pglite';
import { pg_trgm } from '@electric-sql/pglite/contrib/pg_trgm';

/** What the driver sends. `txId` 0 means "outside any scope"; a scope's id is chosen by the driver. */
export type ThreadRequest =
  /** `name`: a hot-path statement (NamedStatement), prepared once and its plan reused. */
  | { op: 'query'; id: number; txId: number; sql: string; name: string | undefined; params: readonly unknown[] | undefined }
  /** Opens a scope; no reply: a failure to open is the reply to each of the scope's statements. */
  | { op: 'begin'; txId: number; kind: ScopeKind }
  | { op: 'commit'; id: number; txId: number }
  | { op: 'rollback'; id: number; txId: number }
  /** Ends a session scope: rolls back a transaction it left open, then runs `sql` (the unlock). */
  | { op: 'release'; id: number; txId: number; sql: string; params: readonly unknown[] }
  /** Closes PGlite once everything sent before it has run; the driver then terminates the thread. */
  | { op: 'close'; id: number };

/** Id 0 answers the opening of the database. */
export type ThreadReply =
  | { id: number; rows: unknown[]; rowCount: number }
  | { id: number; error: ThreadError };

/** An error as it crosses the thread boundary: Postgres's fields (code, severity, detail…) kept. */
export interface ThreadError {
  name: string;
  message: string;
  stack: string | undefined;
  fields: Record<string, string | number | boolean>;
}

export interface ThreadOptions {
  /** The pgdata directory; undefined: in memory. */
  pgdata: string | undefined;
}

/** The id of the reply to the opening of the database, posted once, unasked. */
const OPENED_ID = 0;

/** A transaction, or a session: withAdvisoryLock's callback, which may run BEGIN/COMMIT itself. */
export type ScopeKind = 'transaction' | 'session';
type ScopeRequest = Extract<ThreadRequest, { txId: number; id: number }>;
type Runner = Pick<PGlite | Transaction, 'query' | 'exec'>;

const port = parentPort!;
const ROLLBACK = Symbol('rollback');
const EMPTY = Object.freeze({ rows: [] as unknown[], rowCount: 0 });

/** A scope's statements in the order they came; once `failed` (it could not open) each is refused. */
class Scope {
  readonly txId: number;
  readonly kind: ScopeKind;
  #queue: ScopeRequest[] = [];
  #wake: ((request: ScopeRequest) => void) | undefined;
  failed: ThreadError | undefined;

  constructor(txId: number, kind: ScopeKind) {
    this.txId = txId;
    this.kind = kind;
  }

  push(request: ScopeRequest): void {
    if (this.failed !== undefined) {
      refuse(this, request);
      return;
    }
    const wake = this.#wake;
    if (wake !== undefined) {
      this.#wake = undefined;
      wake(request);
    } else {
      this.#queue.push(request);
    }
  }

  next(): ScopeRequest | Promise<ScopeRequest> {
    const queued = this.#queue.shift();
    if (queued !== undefined) return queued;
    return new Promise((resolve) => {
      this.#wake = resolve;
    });
  }

  fail(error: ThreadError): void {
    this.failed = error;
    for (const request of this.#queue.splice(0)) refuse(this, request);
  }
}

type Waiting = Extract<ThreadRequest, { op: 'query' | 'close' }> | Scope;

const scopes = new Map<number, Scope>();
/** The scope that owns the connection. */
let current: Scope | undefined;
/** What waits for the connection to be free of scopes, in arrival order. */
const waiting: Waiting[] = [];

const pglite = await openPglite((workerData as ThreadOptions).pgdata);
if (pglite !== undefined) {
  port.on('message', (request: ThreadRequest) => receive(request));
  port.postMessage({ id: OPENED_ID, rows: [], rowCount: 0 } satisfies ThreadReply);
}

async function openPglite(pgdata: string | undefined): Promise<PGlite | undefined> {
  try {
    // pg_trgm: the index that serves log search by text (migration 000010). Only made available here;
    // the migration installs it in the database.
    return await PGlite.create({ extensions: { pg_trgm }, ...(pgdata === undefined ? {} : { dataDir: pgdata }) });
  } catch (e: unknown) {
    port.postMessage({ id: OPENED_ID, error: toThreadError(e) } satisfies ThreadReply);
    port.close();
    return undefined;
  }
}

function receive(request: ThreadRequest): void {
  switch (request.op) {
    case 'query':
      if (request.txId === 0) admit(request);
      else toScope(request);
      return;
    case 'begin': {
      const scope = new Scope(request.txId, request.kind);
      scopes.set(request.txId, scope);
      admit(scope);
      return;
    }
    case 'close':
      admit(request);
      return;
    default:
      toScope(request);
  }
}

function toScope(request: ScopeRequest): void {
  const scope = scopes.get(request.txId);
  if (scope !== undefined) {
    scope.push(request);
    return;
  }
  reply(request.id, internalError(`no open scope ${request.txId} for a ${request.op} (the driver sent it after the scope ended)`));
}

function start(scope: Scope): void {
  current = scope;
  const done = scope.kind === 'transaction' ? runTransaction(scope) : runSession(scope);
  void done.finally(() => {
    current = undefined;
    drain();
  });
}

function admit(next: Waiting): void {
  waiting.push(next);
  drain();
}

/** Starts what waits for the connection, in order, until a scope takes it. */
function drain(): void {
  while (current === undefined) {
    const next = waiting.shift();
    if (next === undefined) return;
    if (next instanceof Scope) start(next);
    else if (next.op === 'close') void close(next.id);
    else void runOutside(next);
  }
}

async function runOutside(request: Extract<ThreadRequest, { op: 'query' }>): Promise<void> {
  reply(request.id, await settle(pglite!, request));
}

async function runTransaction(scope: Scope): Promise<void> {
  let end: ScopeRequest | undefined;
  try {
    await pglite!.transaction(async (tx) => {
      for (;;) {
        const request = await scope.next();
        if (request.op === 'query') {
          reply(request.id, await settle(tx, request));
        } else if (request.op === 'commit') {
          end = request;
          return;
        } else {
          end = request;
          throw ROLLBACK;
        }
      }
    });
    reply(end!.id, EMPTY);
  } catch (e: unknown) {
    if (end === undefined) {
      // BEGIN failed: the statements the driver has sent, and will send, are refused with its error;
      // the scope is forgotten when its end arrives.
      scope.fail(toThreadError(e));
      return;
    }
    reply(end.id, e === ROLLBACK ? EMPTY : toThreadError(e));
  }
  scopes.delete(scope.txId);
}

async function runSession(scope: Scope): Promise<void> {
  for (;;) {
    const request = await scope.next();
    if (request.op === 'query') {
      reply(request.id, await settle(pglite!, request));
      continue;
    }
    if (request.op === 'release') {
      try {
        // The callback may have thrown between its own BEGIN and COMMIT; on the one connection a
        // transaction left open would swallow every later statement.
        if (pglite!.isInTransaction()) await pglite!.exec('ROLLBACK');
        await pglite!.query(request.sql, request.params as unknown[]);
        reply(request.id, EMPTY);
      } catch (e: unknown) {
        reply(request.id, toThreadError(e));
      }
    } else {
      reply(request.id, internalError(`a ${request.op} was sent to an advisory-lock scope`));
    }
    scopes.delete(scope.txId);
    return;
  }
}

function refuse(scope: Scope, request: ScopeRequest): void {
  reply(request.id, scope.failed!);
  if (request.op !== 'query') scopes.delete(scope.txId);
}

async function close(id: number): Promise<void> {
  try {
    // PGlite's close waits for the statements already handed to it.
    if (!pglite!.closed) await pglite!.close();
    reply(id, EMPTY);
  } catch (e: unknown) {
    reply(id, toThreadError(e));
  }
}

/**
 * Without parameters the statement goes through the simple protocol, like node-postgres does: that
 * allows several statements in one string (migrations) and is one round trip instead of five. With
 * several statements the last one's result is returned, as the pg driver does.
 */
async function settle(runner: Runner, request: { sql: string; name?: string | undefined; params: readonly unknown[] | undefined }): Promise<{ rows: unknown[]; rowCount: number } | ThreadError> {
  try {
    if (request.name !== undefined && request.params !== undefined && request.params.length > 0) {
      return await runPrepared(runner !== pglite, request.name, request.sql, request.params);
    }
    if (request.params !== undefined && request.params.length > 0) {
      const result: Results = await runner.query(request.sql, request.params as unknown[]);
      return { rows: result.rows, rowCount: result.rowCount ?? 0 };
    }
    const results = await runner.exec(request.sql);
    const last = results[results.length - 1];
    return { rows: last?.rows ?? [], rowCount: last?.rowCount ?? 0 };
  } catch (e: unknown) {
    return toThreadError(e);
  }
}

/** Named statements prepared on the connection: their parameters' types, and the text they were made from. */
const prepared = new Map<string, { sql: string; paramTypes: number[] }>();

/**
 * A named statement through the extended protocol, as PGlite's own query() runs an unnamed one, but
 * parsed and described once: Postgres then keeps its plan (a generic one once it has seen it is as
 * good), where query() plans the statement's text on every call. On the engine's hot-path statements —
 * a finish, a trigger, an assignment, each one large CTE — planning was about a third of their time
 * in the open loop (EXPLAIN's planning time against the call's, docs/benchmarks.md). Bind, describe,
 * execute and sync go in one message: one pass through the WASM module instead of five.
 *
 * Prepared statements outlive transactions (a rollback keeps them), so the map stays true; a statement
 * whose Parse failed is not recorded and is parsed again next time.
 */
function runPrepared(inTransaction: boolean, name: string, sql: string, params: readonly unknown[]): Promise<{ rows: unknown[]; rowCount: number }> {
  // execProtocol takes none of PGlite's locks: without the one query() takes, a statement started
  // outside any scope (several run at once there) could slip its messages between another one's Parse
  // and Execute on the shared unnamed portal.
  return pglite!._runExclusiveQuery(() => runPreparedExclusive(inTransaction, name, sql, params));
}

async function runPreparedExclusive(inTransaction: boolean, name: string, sql: string, params: readonly unknown[]): Promise<{ rows: unknown[]; rowCount: number }> {
  const db = pglite!;
  let statement = prepared.get(name);
  if (statement === undefined || statement.sql !== sql) {
    prepared.delete(name);
    const { serialize } = protocol;
    const made = await db.execProtocol(
      concat([serialize.close({ type: 'S', name }), serialize.parse({ name, text: sql }), serialize.describe({ type: 'S', name }), serialize.sync()]),
      { syncToFs: false },
    );
    statement = { sql, paramTypes: parse.parseDescribeStatementResults(made.messages) };
    prepared.set(name, statement);
  }
  const paramTypes = statement.paramTypes;
  const values = params.map((value, i) => {
    if (value === null || value === undefined) return null;
    const serializer = db.serializers[paramTypes[i]!];
    return serializer ? serializer(value) : String(value);
  });
  const { serialize } = protocol;
  const result = await db.execProtocol(
    concat([serialize.bind({ statement: name, values }), serialize.describe({ type: 'P' }), serialize.execute({}), serialize.sync()]),
    // Outside a transaction a statement commits on its own and is synced as query() syncs it; inside
    // one, the commit syncs.
    { syncToFs: !inTransaction },
  );
  const results = parse.parseResults(result.messages, db.parsers);
  const last = results[results.length - 1];
  return { rows: last?.rows ?? [], rowCount: last?.rowCount ?? 0 };
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}

function reply(id: number, outcome: { rows: unknown[]; rowCount: number } | ThreadError): void {
  if ('message' in outcome) {
    port.postMessage({ id, error: outcome } satisfies ThreadReply);
    return;
  }
  try {
    port.postMessage({ id, rows: outcome.rows, rowCount: outcome.rowCount } satisfies ThreadReply);
  } catch (e: unknown) {
    // A value PGlite parsed that structured clone cannot carry; the statement itself did run.
    port.postMessage({ id, error: toThreadError(e) } satisfies ThreadReply);
  }
}

function internalError(message: string): ThreadError {
  return { name: 'Error', message: `PGlite thread: ${message}`, stack: undefined, fields: {} };
}

/** Keeps the primitive own fields of what was thrown: a Postgres error's code, severity, detail… */
function toThreadError(thrown: unknown): ThreadError {
  if (!(thrown instanceof Error)) return { name: 'Error', message: String(thrown), stack: undefined, fields: {} };
  const fields: Record<string, string | number | boolean> = {};
  for (const [key, value] of Object.entries(thrown)) {
    if (key === 'query') continue; // the statement text; the caller has it
    if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') fields[key] = value;
  }
  return { name: thrown.name, message: thrown.message, stack: thrown.stack, fields };
}
