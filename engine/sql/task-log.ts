/**
 * Task logs (docs/logs.md): appended in batches within a cap per task run, read per task run, searched
 * across task runs. Migration 000010 holds the cap's totals, the fields and the search indexes.
 */
import type { Queryable } from '../db/driver.ts';
import { sqlState } from '../db/sql-state.ts';
import type { LogSearchLine, LogSearchPage, LogTruncation, TaskLogRecord } from '../../shared/admin-api.ts';
import { CleaverError } from '../../shared/errors.ts';
import { DEFAULT_MAX_LOG_BYTES_PER_TASK_RUN, DEFAULT_MAX_LOG_LINES_PER_TASK_RUN, type LogFields } from '../../shared/task-log.ts';
import type { Json, LogLevel } from '../../shared/types.ts';
import { keysetColumn, pageSize } from './run-list.ts';
import { isoOrNull, toDate } from './rows.ts';

export interface LogLineToStore {
  taskRunId: string;
  attempt: number;
  level: LogLevel;
  message: string;
  fields?: LogFields;
  /** Epoch ms on the worker. */
  at: number;
}

/** What a line counts for against the byte cap: its message and its fields' JSON text, as UTF-8. */
function lineBytes(message: string, fieldsText: string | null): number {
  return Buffer.byteLength(message) + (fieldsText === null ? 0 : Buffer.byteLength(fieldsText));
}

/**
 * Stores lines in the order given, each task run's only while it is within its cap: `maxLines` lines
 * and `maxBytes` bytes (default: the engine's defaults), counted over everything the task run ever
 * wrote (task_log_total). The first line past either is stored as one marker line (truncated, level
 * warn) instead; it and every later line are counted, not stored. So a task run's stored log is
 * always the beginning of what it wrote.
 *
 * Concurrent batches for one task run (two engines, or two flushes) take turns on its task_log_total
 * row, locked by the upsert in task run order, so the cap holds across them.
 */
export async function taskLogInsert(
  db: Queryable,
  params: { lines: readonly LogLineToStore[]; maxLines?: number; maxBytes?: number },
): Promise<void> {
  if (params.lines.length === 0) return;
  const l = params.lines;
  const maxLines = params.maxLines ?? DEFAULT_MAX_LOG_LINES_PER_TASK_RUN;
  const maxBytes = params.maxBytes ?? DEFAULT_MAX_LOG_BYTES_PER_TASK_RUN;
  const fields = l.map((x) => (x.fields === undefined ? null : JSON.stringify(x.fields)));
  await db.query(
    `WITH input AS (
       SELECT i.task_run_id, i.attempt, i.level, i.message, i.fields::jsonb AS fields, i.bytes,
              COALESCE(i.created_at, now()) AS created_at, i.n,
              row_number() OVER w AS rank, sum(i.bytes) OVER w AS running_bytes
         FROM unnest($1::uuid[], $2::int[], $3::text[], $4::text[], $5::text[], $6::bigint[], $7::timestamptz[]) WITH ORDINALITY
           AS i(task_run_id, attempt, level, message, fields, bytes, created_at, n)
       WINDOW w AS (PARTITION BY i.task_run_id ORDER BY i.n)
     ),
     batch AS (
       SELECT task_run_id, count(*) AS lines, sum(bytes) AS bytes FROM input GROUP BY task_run_id
     ),
     total AS (
       INSERT INTO task_log_total AS t (task_run_id, lines, bytes)
       SELECT task_run_id, lines, bytes FROM batch ORDER BY task_run_id
       ON CONFLICT (task_run_id) DO UPDATE SET lines = t.lines + excluded.lines, bytes = t.bytes + excluded.bytes
       RETURNING t.task_run_id, t.lines, t.bytes
     ),
     placed AS (
       -- Each line's place in its task run's log: its number and the bytes up to and including it.
       SELECT i.*, o.lines - b.lines + i.rank AS line_no, o.bytes - b.bytes + i.running_bytes AS bytes_through
         FROM input i JOIN batch b ON b.task_run_id = i.task_run_id JOIN total o ON o.task_run_id = i.task_run_id
     )
     INSERT INTO task_log (task_run_id, attempt, level, message, fields, truncated, created_at)
     SELECT task_run_id, attempt, level, message, fields, truncated, created_at FROM (
       SELECT task_run_id, attempt, level, message, fields, false AS truncated, created_at, n
         FROM placed WHERE line_no <= $8 AND bytes_through <= $9
       UNION ALL
       -- The first line past the cap: the one whose predecessor was still kept.
       SELECT task_run_id, attempt, 'warn', $10::text,
              jsonb_build_object('keptLines', line_no - 1, 'keptBytes', bytes_through - bytes, 'maxLines', $8::bigint, 'maxBytes', $9::bigint),
              true, created_at, n
         FROM placed
        WHERE NOT (line_no <= $8 AND bytes_through <= $9) AND line_no - 1 <= $8 AND bytes_through - bytes <= $9
     ) kept
     ORDER BY n`,
    [
      l.map((x) => x.taskRunId),
      l.map((x) => x.attempt),
      l.map((x) => x.level),
      l.map((x) => x.message),
      fields,
      l.map((x, i) => lineBytes(x.message, fields[i]!)),
      l.map((x) => isoOrNull(x.at)),
      maxLines,
      maxBytes,
      `log truncated: this task run reached its cap of ${maxLines} lines or ${bytesText(maxBytes)}; what it writes after this is counted, not stored`,
    ],
  );
}

function bytesText(bytes: number): string {
  if (bytes >= 1024 * 1024 && bytes % (1024 * 1024) === 0) return `${bytes / (1024 * 1024)} MiB`;
  if (bytes >= 1024 && bytes % 1024 === 0) return `${bytes / 1024} KiB`;
  return `${bytes} bytes`;
}

interface LogRow {
  id: number | string;
  task_run_id: string;
  attempt: number;
  level: LogLevel;
  message: string;
  fields: Record<string, Json> | null;
  truncated: boolean;
  created_at: Date | string;
  total_lines: number | string | null;
  total_bytes: number | string | null;
}

/** The columns of `task_log l` a TaskLogRecord is made from; a marker line reads its task run's totals. */
const LOG_COLUMNS = `l.id, l.task_run_id, l.attempt, l.level, l.message, l.fields, l.truncated, l.created_at,
       CASE WHEN l.truncated THEN (SELECT tt.lines FROM task_log_total tt WHERE tt.task_run_id = l.task_run_id) END AS total_lines,
       CASE WHEN l.truncated THEN (SELECT tt.bytes FROM task_log_total tt WHERE tt.task_run_id = l.task_run_id) END AS total_bytes`;

function toLogRecord(r: LogRow): TaskLogRecord & { id: number } {
  return {
    id: Number(r.id),
    taskRunId: r.task_run_id,
    attempt: r.attempt,
    level: r.level,
    message: r.message,
    fields: r.truncated ? null : r.fields,
    truncated: r.truncated ? toTruncation(r) : null,
    createdAt: toDate(r.created_at).toISOString(),
  };
}

function toTruncation(r: LogRow): LogTruncation {
  const kept = (r.fields ?? {}) as Record<string, number>;
  const keptLines = Number(kept.keptLines ?? 0);
  const keptBytes = Number(kept.keptBytes ?? 0);
  return {
    keptLines,
    keptBytes,
    droppedLines: Math.max(0, Number(r.total_lines ?? keptLines) - keptLines),
    droppedBytes: Math.max(0, Number(r.total_bytes ?? keptBytes) - keptBytes),
    maxLines: Number(kept.maxLines ?? 0),
    maxBytes: Number(kept.maxBytes ?? 0),
  };
}

/**
 * A task run's log lines in the order they were written, from after `afterId` (the last id a reader
 * has seen, so it can follow a running task's log).
 */
export async function taskLogList(
  db: Queryable,
  params: { taskRunId: string; limit?: number; afterId?: number },
): Promise<Array<TaskLogRecord & { id: number }>> {
  const limit = pageSize(params.limit, { fallback: 1000, max: 10_000 });
  const result = await db.query<LogRow>(
    `SELECT ${LOG_COLUMNS} FROM task_log l
      WHERE l.task_run_id = $1 AND l.id > $2::bigint
      ORDER BY l.id LIMIT $3`,
    [params.taskRunId, params.afterId ?? 0, limit],
  );
  return result.rows.map(toLogRecord);
}

/** Where a task run's log reached its cap, if it did (its marker line, wherever a page of it ends). */
export async function taskLogTruncation(db: Queryable, params: { taskRunId: string }): Promise<LogTruncation | null> {
  const result = await db.query<LogRow>(`SELECT ${LOG_COLUMNS} FROM task_log l WHERE l.task_run_id = $1 AND l.truncated LIMIT 1`, [params.taskRunId]);
  const row = result.rows[0];
  return row ? toTruncation(row) : null;
}

export interface LogSearchQuery {
  /** Each must appear (ignoring case) in the message or the fields' JSON text. */
  terms: readonly string[];
  levels?: readonly LogLevel[];
  workflowName?: string;
  since?: string;
  until?: string;
  limit?: number;
  cursor?: string;
}

/**
 * The text a search term is matched against. The same expression as task_log_text_idx (migration
 * 000010), so the planner can use the trigram index for it.
 */
const LOG_TEXT_SQL = `(l.message || coalesce(' ' || l.fields::text, ''))`;

/** A term as an ILIKE pattern matching it anywhere, its own % _ and \ taken literally. */
function containsPattern(term: string): string {
  return `%${term.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

/**
 * How a search with words reads its lines. 'newest-first': as the planner likes; for words on many
 * lines it walks task_log_created_idx from the newest line and stops at a page, which is fast when
 * such lines are recent and slow when they are all old (it reads every newer line first: 1.5 s at a
 * million lines, docs/logs.md). 'text-index': every line the trigram index finds, then the newest of
 * them, whose cost grows with how many lines match, not with where they are.
 */
export type LogSearchPlan = 'newest-first' | 'text-index';

/**
 * Log lines of every task run matching a search, newest first (the worker's time, then id), one keyset
 * page at a time: lines written while a reader walks the pages never shift it.
 *
 * With `textIndexAfterMs` (Postgres, inside a transaction) a search with words is tried newest-first
 * for that long, and read through the text index if it has not answered by then.
 */
export async function logSearch(db: Queryable, params: LogSearchQuery & { plan?: LogSearchPlan; textIndexAfterMs?: number }): Promise<LogSearchPage> {
  if (params.terms.length === 0 || params.textIndexAfterMs === undefined) return logSearchPage(db, params, params.plan ?? 'newest-first');
  await db.query('SAVEPOINT log_search');
  try {
    await db.query(`SELECT set_config('statement_timeout', $1, true)`, [String(Math.max(1, Math.round(params.textIndexAfterMs)))]);
    const page = await logSearchPage(db, params, 'newest-first');
    await db.query('RELEASE SAVEPOINT log_search');
    return page;
  } catch (e: unknown) {
    if (sqlState(e) !== '57014') throw e; // query_canceled: the statement timeout
    await db.query('ROLLBACK TO SAVEPOINT log_search');
    return logSearchPage(db, params, 'text-index');
  }
}

async function logSearchPage(db: Queryable, params: LogSearchQuery, plan: LogSearchPlan): Promise<LogSearchPage> {
  const limit = pageSize(params.limit, { fallback: 100, max: 1000 });
  const clauses: string[] = [];
  const args: unknown[] = [];
  const param = (value: unknown, cast: string): string => {
    args.push(value);
    return `$${args.length}::${cast}`;
  };
  for (const term of params.terms) clauses.push(`${LOG_TEXT_SQL} ILIKE ${param(containsPattern(term), 'text')}`);
  if (params.levels !== undefined) clauses.push(`l.level = ANY(${param(params.levels, 'text[]')})`);
  if (params.workflowName !== undefined) clauses.push(`r.workflow_name = ${param(params.workflowName, 'text')}`);
  if (params.since !== undefined) clauses.push(`l.created_at >= ${param(params.since, 'timestamptz')}`);
  if (params.until !== undefined) clauses.push(`l.created_at < ${param(params.until, 'timestamptz')}`);
  if (params.cursor !== undefined) {
    const after = logCursorDecode(params.cursor);
    const at = param(after.createdAt, 'timestamptz');
    // The plain created_at bound lets task_log_created_idx narrow the scan; the row comparison breaks ties.
    clauses.push(`l.created_at <= ${at}`, `(l.created_at, l.id) < (${at}, ${param(after.id, 'bigint')})`);
  }
  // The same order either way; written as an expression, it no longer matches task_log_created_idx,
  // so the planner cannot walk that index and must start from the lines the text index finds.
  const newest = plan === 'text-index' ? `l.created_at + interval '0' DESC, l.id DESC` : `l.created_at DESC, l.id DESC`;
  const result = await db.query<LogRow & { run_id: string; task_name: string; workflow_name: string; keyset_at: string }>(
    `SELECT ${LOG_COLUMNS}, t.run_id, t.task_name, r.workflow_name, ${keysetColumn('l')} AS keyset_at
       FROM task_log l
       JOIN task_run t ON t.id = l.task_run_id
       JOIN run r ON r.id = t.run_id
      ${clauses.length > 0 ? `WHERE ${clauses.join(' AND ')}` : ''}
      ORDER BY ${newest}
      LIMIT ${param(limit + 1, 'int')}`,
    args,
  );
  const rows = result.rows.slice(0, limit);
  const last = rows.at(-1);
  return {
    lines: rows.map((r): LogSearchLine => ({ ...toLogRecord(r), runId: r.run_id, taskName: r.task_name, workflowName: r.workflow_name })),
    nextCursor: result.rows.length > limit && last ? logCursorEncode({ createdAt: last.keyset_at, id: Number(last.id) }) : null,
  };
}

/** A line's place in the newest-first order: its time with all six fractional digits, and its id. */
const LOG_CURSOR = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z)\/([1-9]\d{0,15})$/;

function logCursorEncode(position: { createdAt: string; id: number }): string {
  return Buffer.from(`${position.createdAt}/${position.id}`).toString('base64url');
}

function logCursorDecode(cursor: string): { createdAt: string; id: number } {
  const match = LOG_CURSOR.exec(Buffer.from(String(cursor), 'base64url').toString('utf8'));
  if (!match || Number.isNaN(Date.parse(match[1]!)) || !Number.isSafeInteger(Number(match[2]))) {
    throw new CleaverError('BAD_REQUEST', `logsSearch.cursor ${JSON.stringify(cursor)} is not one this search returned; pass the previous page's nextCursor unchanged, or no cursor for the first page`);
  }
  return { createdAt: match[1]!, id: Number(match[2]) };
}
