/**
 * The one storage interface the engine talks to. Two implementations: pglite/ (embedded, in-process)
 * and pg/ (a node-postgres Pool against a real Postgres). Both run the same SQL from engine/sql/.
 * Drivers say what they can do instead of faking it, and map driver errors into CleaverError.
 */

export interface QueryResult<Row> {
  rows: Row[];
  rowCount: number;
}

/**
 * A hot-path statement, prepared once per connection on Postgres (its plan is then reused, which
 * saves more than half of a small statement's time); PGlite runs the text.
 */
export interface NamedStatement {
  readonly name: string;
  readonly text: string;
}

export type Sql = string | NamedStatement;

export function sqlText(sql: Sql): string {
  return typeof sql === 'string' ? sql : sql.text;
}

/** Something SQL can be run on: the driver itself (autocommit) or an open transaction. */
export interface Queryable {
  query<Row = Record<string, unknown>>(sql: Sql, params?: readonly unknown[]): Promise<QueryResult<Row>>;
}

export interface DriverCapabilities {
  /** LISTEN/NOTIFY across processes (true for Postgres; PGlite is one process, so nothing to hear). */
  listenNotify: boolean;
  /** Several engines may share this database. */
  multiEngine: boolean;
}

export interface ListenOptions {
  /**
   * Called when the listening connection was lost and is back, LISTENing again (after a killed backend
   * or a server restart): notifications sent in between were lost, so catch up on what they would have said.
   */
  onReconnected?: () => void;
}

export interface Driver extends Queryable {
  readonly kind: 'pglite' | 'pg';
  readonly capabilities: DriverCapabilities;
  /** A human-readable description for logs: a data dir or a URL with the password removed. */
  readonly description: string;
  /**
   * Runs statements whose commit does not wait for the WAL flush (Postgres synchronous_commit=off):
   * for state changes that are safe to lose in a crash of the database server because they are
   * redone or fenced — claims, starts, attempt outcomes, heartbeats, logs. The cost of a lost one is
   * a task run executed again (delivery is at least once), never a lost or corrupted run. On PGlite,
   * whose commits reach the OS without a flush anyway, it is the driver itself.
   */
  readonly relaxed: Queryable;
  /** Runs fn in one transaction; commits when it resolves, rolls back when it throws. */
  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T>;
  /**
   * Runs fn while holding a session-level advisory lock (for migrations). On PGlite, which has one
   * connection, this is a plain in-process mutex around the same lock call.
   */
  withAdvisoryLock<T>(key: bigint, fn: (conn: Queryable) => Promise<T>): Promise<T>;
  /**
   * Only when capabilities.multiEngine: like withAdvisoryLock, but when another session holds the lock
   * it returns `held: false` at once instead of waiting. The lock lives as long as fn runs on its own
   * connection, and goes with that connection: a process killed, or a backend terminated, frees it for
   * the next taker at once — how engines learn, without waiting out a lease, that a holder is gone.
   */
  withTryAdvisoryLock?<T>(key: bigint, fn: (conn: Queryable) => Promise<T>): Promise<{ held: true; value: T } | { held: false }>;
  /** Subscribes to a NOTIFY channel. Only when capabilities.listenNotify; returns an unsubscribe. */
  listen(channel: string, onPayload: (payload: string) => void, options?: ListenOptions): Promise<() => Promise<void>>;
  close(): Promise<void>;
}
