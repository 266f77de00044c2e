import type { NamedStatement, Queryable } from '../db/driver.ts';
import type { RateLimitDuration, RateLimitRecord } from '../../shared/flow-control.ts';
import { toDate } from './rows.ts';

/**
 * A rate-limit key as stored: its definition and the scheduler's window (`state`, null until the key is
 * first used), which engine/scheduler/rate-window.ts reads with parseWindow.
 */
export type StoredRateLimit = Omit<RateLimitRecord, 'used' | 'refillsAt'> & { state: unknown };

/** The most keys one list returns. */
export const RATE_LIMIT_LIST_MAX = 1_000;

const COLUMNS = 'key, kind, limit_units, duration, state, updated_at';

// A change is announced on cleaver_rate_limit (payload: the key) by the statement itself, so the
// notification goes out exactly when the change commits, and never for a change rolled back.
const RATE_LIMIT_UPSERT: NamedStatement = {
  name: 'cleaver_rate_limit_upsert',
  text: `WITH up AS (
       INSERT INTO rate_limit (key, kind, limit_units, duration) VALUES ($1, 'static', $2, $3)
       ON CONFLICT (key) DO UPDATE
          SET kind = 'static', limit_units = EXCLUDED.limit_units, duration = EXCLUDED.duration, updated_at = now()
       RETURNING ${COLUMNS}
     )
     SELECT up.*, CASE WHEN $4::boolean THEN (SELECT count(pg_notify('cleaver_rate_limit', key)) FROM up) END AS notified
       FROM up`,
};

const RATE_LIMIT_DELETE: NamedStatement = {
  name: 'cleaver_rate_limit_delete',
  text: `WITH gone AS (
       DELETE FROM rate_limit WHERE key = $1 RETURNING key
     )
     SELECT count(*)::int AS deleted,
            CASE WHEN $2::boolean THEN (SELECT count(pg_notify('cleaver_rate_limit', key)) FROM gone) END AS notified
       FROM gone`,
};

const RATE_LIMIT_GET: NamedStatement = {
  name: 'cleaver_rate_limit_get',
  text: `SELECT ${COLUMNS} FROM rate_limit WHERE key = $1`,
};

// Byte order (COLLATE "C"), so a list reads the same on every database whatever its locale.
const RATE_LIMIT_LIST: NamedStatement = {
  name: 'cleaver_rate_limit_list',
  text: `SELECT ${COLUMNS} FROM rate_limit
      WHERE $1::text IS NULL OR strpos(lower(key), lower($1::text)) > 0
      ORDER BY key COLLATE "C"
      LIMIT $2`,
};

interface RateLimitRow {
  key: string;
  kind: 'static' | 'dynamic';
  limit_units: number;
  duration: RateLimitDuration;
  state: unknown;
  updated_at: Date | string;
}

function toStored(row: RateLimitRow): StoredRateLimit {
  return {
    key: row.key,
    kind: row.kind,
    limit: row.limit_units,
    duration: row.duration,
    state: row.state ?? null,
    updatedAt: toDate(row.updated_at).toISOString(),
  };
}

/**
 * Defines a static key, or changes one: a dynamic key of that name becomes static. The window is kept
 * as it is: the scheduler reconfigures it to the new limit and duration, so what was admitted under the
 * old ones still counts. `notify` (with LISTEN/NOTIFY) tells the engines on cleaver_rate_limit.
 */
export async function rateLimitUpsert(
  db: Queryable,
  params: { key: string; limit: number; duration: RateLimitDuration; notify: boolean },
): Promise<StoredRateLimit> {
  const result = await db.query<RateLimitRow>(RATE_LIMIT_UPSERT, [params.key, params.limit, params.duration, params.notify]);
  return toStored(result.rows[0]!);
}

/** Removes a key, static or dynamic; whether it existed. Only a removal is announced (`notify`). */
export async function rateLimitDelete(db: Queryable, params: { key: string; notify: boolean }): Promise<boolean> {
  const result = await db.query<{ deleted: number }>(RATE_LIMIT_DELETE, [params.key, params.notify]);
  return result.rows[0]!.deleted > 0;
}

export async function rateLimitGet(db: Queryable, params: { key: string }): Promise<StoredRateLimit | null> {
  const result = await db.query<RateLimitRow>(RATE_LIMIT_GET, [params.key]);
  const row = result.rows[0];
  return row ? toStored(row) : null;
}

/** Every key with its window, for the scheduler holder (no cap: every key a task can ask must be known). */
export async function rateLimitListAll(db: Queryable): Promise<StoredRateLimit[]> {
  const result = await db.query<RateLimitRow>(`SELECT ${COLUMNS} FROM rate_limit`);
  return result.rows.map(toStored);
}

/** Keys in byte order, those containing `search` (ignoring case) when given; at most `limit` (default and cap 1,000). */
export async function rateLimitList(db: Queryable, params: { search?: string; limit?: number } = {}): Promise<StoredRateLimit[]> {
  const limit = Math.min(params.limit ?? RATE_LIMIT_LIST_MAX, RATE_LIMIT_LIST_MAX);
  const result = await db.query<RateLimitRow>(RATE_LIMIT_LIST, [params.search ?? null, limit]);
  return result.rows.map(toStored);
}
