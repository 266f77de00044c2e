/**
 * The server driver: a node-postgres Pool against a real Postgres, shared by any number of engines.
 *
 * Connection failures never crash the process: the pool's and every checked-out client's `error`
 * events are handled, a client that saw a connection-level error is destroyed instead of being
 * returned to the pool (so after a Postgres restart the next checkout opens a fresh connection), and
 * every error reaching a caller is a CleaverError('DATABASE').
 *
 * Result types match the PGlite driver's (test/driver/driver-conformance.test.ts checks them): int8
 * becomes a number when it fits in 2^53 and a bigint otherwise, date becomes a UTC-midnight Date,
 * interval stays text. The overrides are per pool, never on pg's global type registry.
 */

import pg from 'pg';
import type { ClientConfig, CustomTypesConfig, Notification, PoolClient, PoolConfig, QueryResult as PgQueryResult } from 'pg';
import { CleaverError, toError } from '../../../shared/errors.ts';
import { DatabaseUnreachableError, breaksConnection, toDatabaseError, transactionAbortedError } from '../database-error.ts';
import { scopedQueryable } from '../scoped-queryable.ts';
import { sqlState } from '../sql-state.ts';
import type { Driver, DriverCapabilities, ListenOptions, Queryable, QueryResult, Sql } from '../driver.ts';

export interface PgDriverOptions {
  connectionString: string;
  /** Every connection runs with `search_path` set to this schema, created when missing. */
  schema?: string;
  /** Pool size; default 10. The LISTEN connection comes on top. */
  poolSize?: number;
  /** Shown in pg_stat_activity; default "cleaver". The LISTEN connection appends ":listen". */
  applicationName?: string;
  /**
   * Errors nobody awaits: dropped idle connections, LISTEN reconnects, throwing NOTIFY callbacks.
   * Default: one line on stderr.
   */
  onBackgroundError?: (error: CleaverError) => void;
}

const CAPABILITIES: DriverCapabilities = Object.freeze({ listenNotify: true, multiEngine: true });

export async function createPgDriver(options: PgDriverOptions): Promise<Driver> {
  const driver = new PgDriver(options);
  try {
    await driver.prepare(options.schema);
  } catch (e: unknown) {
    await driver.close().catch(() => undefined);
    throw e;
  }
  return driver;
}

/** Quotes an identifier for SQL, e.g. a schema or channel name. */
export function quoteIdentifier(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** The connection string with any password replaced by `***`, for logs. */
export function redactConnectionString(connectionString: string): string {
  try {
    const url = new URL(connectionString);
    if (url.password !== '') url.password = '***';
    if (url.searchParams.has('password')) url.searchParams.set('password', '***');
    return url.toString();
  } catch {
    return connectionString.replace(/(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)/gi, '$1***');
  }
}

// ---- types: match PGlite's parsing ---------------------------------------------------------------

const OID_INT8 = 20;
const OID_INT8_ARRAY: number = 1016;
const OID_DATE = 1082;
const OID_INTERVAL = 1186;

function parseInt8(text: string): number | bigint {
  const value = BigInt(text);
  return value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : value;
}

function mapNested(value: unknown, map: (text: string) => unknown): unknown {
  if (Array.isArray(value)) return value.map((item: unknown) => mapNested(item, map));
  return typeof value === 'string' ? map(value) : value;
}

function parseDate(text: string): Date | number {
  if (text === 'infinity') return Infinity;
  if (text === '-infinity') return -Infinity;
  return new Date(text);
}

function textParser(oid: number): ((text: string) => unknown) | undefined {
  switch (oid) {
    case OID_INT8:
      return parseInt8;
    case OID_INT8_ARRAY: {
      const parseTextArray = pg.types.getTypeParser(OID_INT8_ARRAY, 'text');
      return (text) => mapNested(parseTextArray(text), parseInt8);
    }
    case OID_DATE:
      return parseDate;
    case OID_INTERVAL:
      return (text) => text;
    default:
      return undefined;
  }
}

const TYPES = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    return (format !== 'binary' && textParser(oid)) || pg.types.getTypeParser(oid, format ?? 'text');
  },
} as CustomTypesConfig;

// ---- connection config ----------------------------------------------------------------------------

/**
 * search_path (and the planner's random_page_cost) go into the startup packet's `options` rather than
 * a SET after connecting: they then hold for every connection, pooled or not, before its first
 * statement, at no extra round trip. node-postgres lets a connection string's own `?options=` replace
 * ours, so that is merged in.
 */
function clientConfig(options: PgDriverOptions, settings: string[] = []): ClientConfig {
  let connectionString = options.connectionString;
  const ours: string[] = [...settings];
  if (options.schema !== undefined) {
    // Backslash-escape what the server's options splitter would treat as separators.
    const value = quoteIdentifier(options.schema).replace(/[\\\s]/g, (c) => `\\${c}`);
    ours.push(`-c search_path=${value}`);
  }
  // The engine's statements look rows up by id in tables whose hot part is in memory; planned with
  // Postgres's default random_page_cost (4, for spinning disks) they hash-joined a batch of ids to a scan
  // of the whole table instead (measured: 15 % of Postgres's CPU per task in a burn-down). First, so a
  // connection string's own options (or PGOPTIONS) can set it otherwise.
  const startupOptions: string[] = ['-c random_page_cost=1.1'];
  try {
    const url = new URL(connectionString);
    const fromUrl = url.searchParams.get('options');
    if (fromUrl !== null) {
      startupOptions.push(fromUrl);
      url.searchParams.delete('options');
      connectionString = url.toString();
    }
  } catch {
    // Not a URL (a bare socket path, for instance); pg parses it itself.
  }
  if (startupOptions.length === 1 && process.env['PGOPTIONS']) startupOptions.push(process.env['PGOPTIONS']);
  startupOptions.push(...ours);
  return {
    connectionString,
    application_name: options.applicationName ?? 'cleaver',
    types: TYPES,
    keepAlive: true,
    connectionTimeoutMillis: 10_000,
    options: startupOptions.join(' '),
  };
}

function toResult<Row>(result: PgQueryResult | PgQueryResult[]): QueryResult<Row> {
  // With several statements and no parameters node-postgres returns one result per statement.
  const last = Array.isArray(result) ? result[result.length - 1] : result;
  return { rows: (last?.rows ?? []) as Row[], rowCount: last?.rowCount ?? 0 };
}

/** One checked-out client, with what we learned about its health while we held it. */
class Session {
  readonly client: PoolClient;
  broken: Error | undefined;
  constructor(client: PoolClient) {
    this.client = client;
  }
  async run<Row>(sql: Sql, params?: readonly unknown[]): Promise<QueryResult<Row>> {
    return toResult<Row>(await this.raw(sql, params));
  }
  async raw(sql: Sql, params?: readonly unknown[]): Promise<PgQueryResult> {
    try {
      if (typeof sql !== 'string') return await this.client.query({ name: sql.name, text: sql.text, values: params as unknown[] | undefined });
      return await this.client.query(sql, params as unknown[] | undefined);
    } catch (e: unknown) {
      if (breaksConnection(e)) this.broken ??= toError(e);
      throw toDatabaseError(e);
    }
  }
}

class PgDriver implements Driver {
  readonly kind = 'pg';
  readonly capabilities = CAPABILITIES;
  readonly description: string;
  readonly #pool: pg.Pool;
  readonly #relaxedPool: pg.Pool;
  readonly relaxed: Queryable;
  readonly #listener: Listener;
  readonly #report: (error: CleaverError) => void;
  #closing: Promise<void> | undefined;

  constructor(options: PgDriverOptions) {
    this.description = redactConnectionString(options.connectionString);
    const report = options.onBackgroundError ?? defaultReport(this.description);
    this.#report = (error) => {
      try {
        report(error);
      } catch {
        // A throwing error handler must not turn a recoverable event into a crash.
      }
    };
    const config = clientConfig(options);
    const poolConfig: PoolConfig = { ...config, max: options.poolSize ?? 10, idleTimeoutMillis: 30_000 };
    this.#pool = new pg.Pool(poolConfig);
    // Its own pool, so the setting is fixed per connection at no round trip per statement.
    this.#relaxedPool = new pg.Pool({ ...clientConfig(options, ['-c synchronous_commit=off']), max: options.poolSize ?? 10, idleTimeoutMillis: 30_000 });
    this.relaxed = { query: (sql, params) => this.#withSession((session) => session.run(sql, params), this.#relaxedPool) };
    for (const pool of [this.#pool, this.#relaxedPool]) {
      // An idle client whose connection died: the pool has already dropped it.
      pool.on('error', (e: Error) => this.#report(toDatabaseError(e)));
      // The pool stops listening to a client a microtask before #withSession gets it: a backend
      // terminated right after connecting sends its error in between, and an 'error' event with no
      // listener crashes the process. This one keeps it quiet; the next query on the dead client fails
      // and the session is destroyed then.
      pool.on('connect', (client: PoolClient) => client.on('error', () => undefined));
    }
    this.#listener = new Listener(
      { ...config, application_name: `${config.application_name ?? 'cleaver'}:listen` },
      this.#report,
    );
  }

  /** Checks the server is reachable and creates the schema when missing. */
  async prepare(schema: string | undefined): Promise<void> {
    if (schema === undefined) {
      await this.query('SELECT 1');
      return;
    }
    const found = await this.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [schema]);
    if (found.rowCount > 0) return;
    try {
      await this.query(`CREATE SCHEMA IF NOT EXISTS ${quoteIdentifier(schema)}`);
    } catch (e: unknown) {
      // Two engines creating it at once: IF NOT EXISTS still races on the catalog's unique index.
      const state = sqlState(e);
      if (state === '42P06' || state === '23505') return;
      const cause = toDatabaseError(e);
      throw new CleaverError(
        'DATABASE',
        `cannot create schema ${quoteIdentifier(schema)}: ${cause.message}; create it yourself or grant CREATE on the database`,
        { cause },
      );
    }
  }

  query<Row = Record<string, unknown>>(sql: Sql, params?: readonly unknown[]): Promise<QueryResult<Row>> {
    return this.#withSession((session) => session.run<Row>(sql, params));
  }

  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
    return this.#withSession(async (session) => {
      await session.run('BEGIN');
      const scope = scopedQueryable((sql, params) => session.run(sql, params), 'transaction');
      let result: T;
      try {
        result = await fn(scope.queryable);
      } catch (e: unknown) {
        scope.end();
        try {
          await session.client.query('ROLLBACK');
        } catch (rollbackError: unknown) {
          // The connection's state is unknown now; destroying it ends the transaction server-side.
          session.broken ??= toError(rollbackError);
        }
        throw e;
      }
      scope.end();
      const commit = await session.raw('COMMIT');
      if (commit.command === 'ROLLBACK') throw transactionAbortedError();
      return result;
    });
  }

  withAdvisoryLock<T>(key: bigint, fn: (conn: Queryable) => Promise<T>): Promise<T> {
    return this.#withSession(async (session) => {
      await session.run('SELECT pg_advisory_lock($1)', [key]);
      return this.#holdingLock(session, key, fn);
    });
  }

  withTryAdvisoryLock<T>(key: bigint, fn: (conn: Queryable) => Promise<T>): Promise<{ held: true; value: T } | { held: false }> {
    return this.#withSession(async (session) => {
      const got = await session.run<{ ok: boolean }>('SELECT pg_try_advisory_lock($1) AS ok', [key]);
      if (got.rows[0]?.ok !== true) return { held: false };
      return { held: true, value: await this.#holdingLock(session, key, fn) };
    });
  }

  /** Runs fn on a session that holds the lock `key`, then unlocks it (or destroys the session). */
  async #holdingLock<T>(session: Session, key: bigint, fn: (conn: Queryable) => Promise<T>): Promise<T> {
    {
      const scope = scopedQueryable((sql, params) => session.run(sql, params), 'advisory lock');
      try {
        const result = await fn(scope.queryable);
        scope.end();
        if (session.client.getTransactionStatus() !== 'I') {
          session.broken ??= new Error('the advisory-lock callback left a transaction open');
          return result;
        }
        try {
          await session.run('SELECT pg_advisory_unlock($1)', [key]);
        } catch (e: unknown) {
          session.broken ??= toError(e); // destroying the session releases the lock instead
        }
        return result;
      } catch (e: unknown) {
        // Closing the session releases the lock and discards any transaction fn left open, whatever
        // state fn left the connection in.
        scope.end();
        session.broken ??= toError(e);
        throw e;
      }
    }
  }

  listen(channel: string, onPayload: (payload: string) => void, options: ListenOptions = {}): Promise<() => Promise<void>> {
    return this.#listener.subscribe(channel, onPayload, options.onReconnected);
  }

  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    await this.#listener.close();
    try {
      await Promise.all([this.#pool.end(), this.#relaxedPool.end()]);
    } catch (e: unknown) {
      throw toDatabaseError(e);
    }
  }

  async #withSession<T>(fn: (session: Session) => Promise<T>, pool: pg.Pool = this.#pool): Promise<T> {
    let client: PoolClient;
    try {
      client = await pool.connect();
    } catch (e: unknown) {
      throw new DatabaseUnreachableError(e);
    }
    const session = new Session(client);
    // A checked-out client has no pool listener; an unhandled 'error' would crash the process.
    const onError = (e: Error): void => {
      session.broken ??= e;
    };
    client.on('error', onError);
    try {
      return await fn(session);
    } finally {
      client.off('error', onError);
      client.release(session.broken);
    }
  }
}

function defaultReport(description: string): (error: CleaverError) => void {
  return (error) => {
    console.warn(`[cleaver] postgres ${description}: ${error.message}`);
  };
}

// ---- LISTEN ---------------------------------------------------------------------------------------

const RECONNECT_INITIAL_MS = 100;
/** Kept short: while it is down, wake-ups from other engines are lost; one connection attempt a second is cheap. */
const RECONNECT_MAX_MS = 1_000;

/**
 * One dedicated connection for every LISTEN (pooled clients come and go and would drop them). When
 * it drops (a killed backend, a server restart) it is re-opened with backoff and every channel
 * re-LISTENed; notifications sent during the gap are lost, so NOTIFY is a wake-up hint on top of
 * polling, never the only signal, and subscribers are told (onReconnected) so they can catch up at once.
 */
class Listener {
  readonly #config: ClientConfig;
  readonly #report: (error: CleaverError) => void;
  readonly #channels = new Map<string, Set<(payload: string) => void>>();
  readonly #onReconnected = new Set<() => void>();
  /** Clients that dropped before #open installed them: #open must not install a dead connection. */
  readonly #dropped = new WeakSet<pg.Client>();
  #client: pg.Client | undefined;
  /** The first connection attempt, which subscribe() awaits so that configuration errors reach the caller. */
  #connecting: Promise<pg.Client> | undefined;
  #reconnecting = false;
  #reconnectTimer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(config: ClientConfig, report: (error: CleaverError) => void) {
    this.#config = config;
    this.#report = report;
  }

  async subscribe(channel: string, onPayload: (payload: string) => void, onReconnected?: () => void): Promise<() => Promise<void>> {
    if (this.#closed) throw new CleaverError('DATABASE', 'the driver is closed');
    // A wrapper, so that two subscriptions passing the same function are told once each.
    const reconnected = onReconnected ? () => onReconnected() : undefined;
    let callbacks = this.#channels.get(channel);
    const isNewChannel = callbacks === undefined;
    if (callbacks === undefined) {
      callbacks = new Set();
      this.#channels.set(channel, callbacks);
    }
    callbacks.add(onPayload);
    const unsubscribe = (): Promise<void> => {
      if (reconnected) this.#onReconnected.delete(reconnected);
      return this.#unsubscribe(channel, onPayload);
    };
    try {
      if (this.#client !== undefined) {
        if (isNewChannel) await this.#client.query(`LISTEN ${quoteIdentifier(channel)}`);
      } else if (!this.#reconnecting) {
        await this.#connectFirst();
      }
      // Otherwise a connection is being opened: #open walks the live channel map after connecting and
      // before installing the client, so it LISTENs the channel we just added.
    } catch (e: unknown) {
      callbacks.delete(onPayload);
      if (callbacks.size === 0) this.#channels.delete(channel);
      throw toDatabaseError(e);
    }
    if (reconnected) this.#onReconnected.add(reconnected);
    return unsubscribe;
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#reconnectTimer);
    this.#channels.clear();
    this.#onReconnected.clear();
    const client = this.#client ?? (await this.#connecting?.catch(() => undefined));
    this.#client = undefined;
    await client?.end().catch(() => undefined);
  }

  async #unsubscribe(channel: string, onPayload: (payload: string) => void): Promise<void> {
    const callbacks = this.#channels.get(channel);
    if (callbacks === undefined || !callbacks.delete(onPayload) || callbacks.size > 0) return;
    this.#channels.delete(channel);
    try {
      await this.#client?.query(`UNLISTEN ${quoteIdentifier(channel)}`);
    } catch (e: unknown) {
      // A dropped connection has unlistened already, and the reconnect skips channels no longer wanted.
      this.#report(toDatabaseError(e));
    }
  }

  #connectFirst(): Promise<pg.Client> {
    this.#connecting ??= this.#open().finally(() => {
      this.#connecting = undefined;
    });
    return this.#connecting;
  }

  /** Opens a connection, LISTENs every channel wanted, and installs it as the current one. */
  async #open(): Promise<pg.Client> {
    const client = new pg.Client(this.#config);
    // Errors on a replaced or closing client still arrive; with no listener they would crash.
    client.on('error', (e: Error) => this.#onDropped(client, e));
    client.on('end', () => this.#onDropped(client, undefined));
    client.on('notification', (message: Notification) => this.#dispatch(message));
    try {
      await client.connect();
      for (const channel of this.#channels.keys()) await client.query(`LISTEN ${quoteIdentifier(channel)}`);
      // Dropped after its last LISTEN answered but before we got here: its events fired while it was
      // not yet current (#onDropped ignored them), so installing it would leave nobody listening.
      if (this.#dropped.has(client)) throw new CleaverError('DATABASE', 'the LISTEN connection closed while it was being set up');
    } catch (e: unknown) {
      await client.end().catch(() => undefined);
      throw toDatabaseError(e);
    }
    if (this.#closed) {
      await client.end().catch(() => undefined);
      throw new CleaverError('DATABASE', 'the driver is closed');
    }
    this.#client = client;
    return client;
  }

  #dispatch(message: Notification): void {
    const callbacks = this.#channels.get(message.channel);
    if (callbacks === undefined) return;
    for (const callback of callbacks) {
      try {
        callback(message.payload ?? '');
      } catch (e: unknown) {
        this.#report(new CleaverError('INTERNAL', `a NOTIFY callback for channel ${message.channel} threw: ${toError(e).message}`, { cause: e }));
      }
    }
  }

  #onDropped(client: pg.Client, error: Error | undefined): void {
    this.#dropped.add(client);
    if (this.#closed || client !== this.#client) return;
    this.#client = undefined;
    if (error !== undefined) this.#report(toDatabaseError(error));
    client.end().catch(() => undefined);
    this.#scheduleReconnect(RECONNECT_INITIAL_MS);
  }

  #scheduleReconnect(delayMs: number): void {
    this.#reconnecting = true;
    this.#reconnectTimer = setTimeout(() => {
      this.#open().then(
        () => {
          this.#reconnecting = false;
          for (const callback of this.#onReconnected) {
            try {
              callback();
            } catch (e: unknown) {
              this.#report(new CleaverError('INTERNAL', `a LISTEN reconnect callback threw: ${toError(e).message}`, { cause: e }));
            }
          }
        },
        (e: unknown) => {
          if (this.#closed) return;
          this.#report(toDatabaseError(e));
          this.#scheduleReconnect(Math.min(delayMs * 2, RECONNECT_MAX_MS));
        },
      );
    }, delayMs);
    // Reconnecting alone must not keep a process alive that has nothing else to do.
    this.#reconnectTimer.unref();
  }
}
