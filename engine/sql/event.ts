import type { Queryable } from '../db/driver.ts';
import type { EventListPage, EventListParams, EventRecord } from '../../shared/admin-api.ts';
import type { Json } from '../../shared/types.ts';
import { keysetColumn, keysetCursorDecode, keysetCursorEncode, pageSize } from './run-list.ts';
import { toDate, toIsoOrNull } from './rows.ts';

export const EVENT_COLUMNS = 'e.id, e.key, e.payload, e.metadata, e.created_at, e.replayed_at';

export interface EventRow {
  id: string;
  key: string;
  payload: Json;
  metadata: Record<string, string>;
  created_at: Date;
  replayed_at: Date | null;
}

export function eventFromRow(e: EventRow): EventRecord {
  return {
    id: e.id,
    key: e.key,
    payload: e.payload,
    metadata: e.metadata,
    createdAt: toDate(e.created_at).toISOString(),
    replayedAt: toIsoOrNull(e.replayed_at),
  };
}

/** Stores events, any number in one statement. */
export async function eventInsert(
  db: Queryable,
  params: { events: Array<{ id: string; key: string; payload: Json; metadata: Record<string, string> }> },
): Promise<void> {
  if (params.events.length === 0) return;
  await db.query(
    `INSERT INTO event (id, key, payload, metadata)
     SELECT id, key, payload, COALESCE(metadata, '{}'::jsonb)
       FROM jsonb_to_recordset($1::jsonb) AS e(id uuid, key text, payload jsonb, metadata jsonb)`,
    [JSON.stringify(params.events)],
  );
}

/**
 * The workflows each event key triggers: those whose patterns (of their latest version) match it,
 * names sorted. Every key asked about is in the map, with no names when nothing matched.
 */
export async function eventMatchWorkflows(db: Queryable, params: { keys: string[] }): Promise<Map<string, string[]>> {
  const keys = [...new Set(params.keys)];
  const matches = new Map<string, string[]>(keys.map((k) => [k, []]));
  if (keys.length === 0) return matches;
  // like_pattern escapes '%', '_' and '\' with a backslash, LIKE's default escape character.
  const result = await db.query<{ key: string; workflow_name: string }>(
    `SELECT DISTINCT k.key, t.workflow_name
       FROM unnest($1::text[]) AS k(key)
       JOIN workflow_event_trigger t ON k.key LIKE t.like_pattern`,
    [keys],
  );
  for (const r of result.rows) matches.get(r.key)?.push(r.workflow_name);
  for (const names of matches.values()) names.sort();
  return matches;
}

export async function eventGet(db: Queryable, params: { eventId: string }): Promise<EventRecord | null> {
  const result = await db.query<EventRow>(`SELECT ${EVENT_COLUMNS} FROM event e WHERE e.id = $1`, [params.eventId]);
  const row = result.rows[0];
  return row ? eventFromRow(row) : null;
}

/** Records that an event was replayed (now); false when no event has the id. */
export async function eventMarkReplayed(db: Queryable, params: { eventId: string }): Promise<boolean> {
  const result = await db.query(`UPDATE event SET replayed_at = now() WHERE id = $1`, [params.eventId]);
  return result.rowCount > 0;
}

/**
 * Events, newest first, each with the runs it triggered (replays included), one keyset page at a time
 * as runList pages runs.
 */
export async function eventList(db: Queryable, params: EventListParams): Promise<EventListPage> {
  const limit = pageSize(params.limit, { fallback: 50, max: 1000 });
  const clauses: string[] = [];
  const args: unknown[] = [];
  const param = (value: unknown, cast: string): string => {
    args.push(value);
    return `$${args.length}::${cast}`;
  };
  if (params.key !== undefined) clauses.push(`e.key = ${param(params.key, 'text')}`);
  if (params.since !== undefined) clauses.push(`e.created_at >= ${param(params.since, 'timestamptz')}`);
  if (params.until !== undefined) clauses.push(`e.created_at < ${param(params.until, 'timestamptz')}`);
  if (params.cursor) {
    const after = keysetCursorDecode(params.cursor);
    const at = param(after.createdAt, 'timestamptz');
    clauses.push(`e.created_at <= ${at}`, `(e.created_at, e.id) < (${at}, ${param(after.id, 'uuid')})`);
  }
  const result = await db.query<EventRow & { keyset_at: string; run_ids: string[] }>(
    `SELECT ${EVENT_COLUMNS}, ${keysetColumn('e')} AS keyset_at,
            ARRAY(SELECT r.id::text FROM run r WHERE r.event_id = e.id ORDER BY r.id) AS run_ids
       FROM event e
      ${clauses.length > 0 ? `WHERE ${clauses.join(' AND ')}` : ''}
      ORDER BY e.created_at DESC, e.id DESC
      LIMIT ${param(limit + 1, 'int')}`,
    args,
  );
  const rows = result.rows.slice(0, limit);
  const last = rows.at(-1);
  return {
    events: rows.map((r) => ({ ...eventFromRow(r), runIds: r.run_ids })),
    nextCursor: result.rows.length > limit && last ? keysetCursorEncode({ createdAt: last.keyset_at, id: last.id }) : null,
  };
}
