import type { Queryable } from '../db/driver.ts';
import type { RunCount, RunCountParams, RunFilter, RunListPage, RunListParams, RunSummary } from '../../shared/admin-api.ts';
import type { FailureReason, RunStatus, TriggerKind } from '../../shared/types.ts';
import { CleaverError, toError } from '../../shared/errors.ts';
import { toDate, toFailureReason, toIsoOrNull } from './rows.ts';

/**
 * The runs spawned by the task runs of run `runIdSql`, as a join from the parent's task runs (a run has
 * a handful) into run_child_key_idx. Written as `= ANY(ARRAY(...))` instead, the planner cannot tell
 * how long the array is and, once a big fan-out skews the statistics of parent_task_run_id, reads the
 * whole run table for every parent (measured: 60 ms per list row at 250k runs, against 0.03 ms).
 */
export function childrenOfRunSql(runIdSql: string, alias: string): string {
  return `task_run pt_${alias} JOIN run ${alias} ON ${alias}.parent_task_run_id = pt_${alias}.id WHERE pt_${alias}.run_id = ${runIdSql}`;
}

/**
 * The columns of `run r` a RunSummary is made from. The parent's run is one primary-key probe; the
 * child count probes the child-key index per task run of `r` (a run without children costs one probe).
 */
export const RUN_SUMMARY_COLUMNS = `r.id, r.workflow_name, r.workflow_version, r.kind, r.status, r.trigger_kind, r.metadata,
       r.parent_task_run_id, r.event_id, r.failure_reason, r.created_at, r.replayed_at, r.finished_at,
       (SELECT pt.run_id FROM task_run pt WHERE pt.id = r.parent_task_run_id) AS parent_run_id,
       (SELECT count(*)::int FROM ${childrenOfRunSql('r.id', 'c')}) AS child_count`;

export interface RunSummaryRow {
  id: string;
  workflow_name: string;
  workflow_version: number;
  kind: 'task' | 'workflow';
  status: RunStatus;
  trigger_kind: TriggerKind;
  metadata: Record<string, string>;
  parent_task_run_id: string | null;
  parent_run_id: string | null;
  child_count: number;
  event_id: string | null;
  failure_reason: FailureReason | null;
  created_at: Date;
  replayed_at: Date | null;
  finished_at: Date | null;
}

export function toRunSummary(r: RunSummaryRow): RunSummary {
  return {
    id: r.id,
    workflowName: r.workflow_name,
    workflowVersion: r.workflow_version,
    kind: r.kind,
    status: r.status,
    triggerKind: r.trigger_kind,
    metadata: r.metadata,
    parentTaskRunId: r.parent_task_run_id,
    parentRunId: r.parent_run_id,
    childCount: Number(r.child_count),
    eventId: r.event_id,
    failureReason: toFailureReason(r.failure_reason),
    createdAt: toDate(r.created_at).toISOString(),
    replayedAt: toIsoOrNull(r.replayed_at),
    finishedAt: toIsoOrNull(r.finished_at),
  };
}

/**
 * Runs matching a filter, newest first, one page at a time. Pages are keyset-based (created_at, id):
 * runs created while a caller walks the pages never shift it, and every run present throughout is
 * seen exactly once.
 */
export async function runList(db: Queryable, params: RunListParams): Promise<RunListPage> {
  const limit = pageSize(params.limit, { fallback: 50, max: 1000 });
  const where = runFilterSql(params, 1);
  const args = where.args;
  const after = params.cursor ? keysetCursorDecode(params.cursor) : null;
  if (after) {
    args.push(after.createdAt, after.id);
    // The plain created_at bound lets the created_at index narrow the scan; the row comparison breaks ties.
    where.clauses.push(`r.created_at <= $${args.length - 1}::timestamptz`, `(r.created_at, r.id) < ($${args.length - 1}::timestamptz, $${args.length}::uuid)`);
  }
  args.push(limit + 1);
  const result = await db.query<RunSummaryRow & { keyset_at: string }>(
    `SELECT ${RUN_SUMMARY_COLUMNS}, ${keysetColumn('r')} AS keyset_at
       FROM run r
      ${whereSql(where.clauses)}
      ORDER BY r.created_at DESC, r.id DESC
      LIMIT $${args.length}`,
    args,
  );
  const rows = result.rows.slice(0, limit);
  const last = rows.at(-1);
  return {
    runs: rows.map(toRunSummary),
    nextCursor: result.rows.length > limit && last ? keysetCursorEncode({ createdAt: last.keyset_at, id: last.id }) : null,
  };
}

/**
 * How many runs match a filter, reading at most `upTo` + 1 of them: an exact answer for what a person
 * pages through, and "more than upTo" for a table of millions, without counting all of them.
 */
export async function runCount(db: Queryable, params: RunCountParams): Promise<RunCount> {
  const upTo = Math.max(1, Math.trunc(params.upTo ?? 10_000));
  const where = runFilterSql(params, 1);
  where.args.push(upTo + 1);
  const result = await db.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM (SELECT 1 FROM run r ${whereSql(where.clauses)} LIMIT $${where.args.length}) matching`,
    where.args,
  );
  const n = Number(result.rows[0]!.n);
  return n > upTo ? { count: upTo, exact: false } : { count: n, exact: true };
}

/**
 * Ids of the runs matching a filter, in id order (time order for UUIDv7), from after `afterId`: a bulk
 * operation takes them a chunk at a time, passing the last id it got as the next `afterId`.
 */
export async function runIdsSelect(db: Queryable, params: { filter: RunFilter; limit: number; afterId?: string }): Promise<string[]> {
  const where = runFilterSql(params.filter, 1);
  const args = where.args;
  if (params.afterId !== undefined) {
    args.push(params.afterId);
    where.clauses.push(`r.id > $${args.length}::uuid`);
  }
  args.push(params.limit);
  const result = await db.query<{ id: string }>(
    `SELECT r.id FROM run r ${whereSql(where.clauses)} ORDER BY r.id LIMIT $${args.length}`,
    args,
  );
  return result.rows.map((r) => r.id);
}

/**
 * The WHERE clauses of a run filter over `run r`, numbering parameters from `firstParam`. Every field
 * narrows, so an empty `statuses` (or `triggerKinds`) list matches no run (a bulk cancel given one must
 * not hit them all).
 */
function runFilterSql(filter: RunFilter, firstParam: number): { clauses: string[]; args: unknown[] } {
  const clauses: string[] = [];
  const args: unknown[] = [];
  const param = (value: unknown, cast: string): string => {
    args.push(value);
    return `$${firstParam + args.length - 1}::${cast}`;
  };
  if (filter.workflowName !== undefined) clauses.push(`r.workflow_name = ${param(filter.workflowName, 'text')}`);
  if (filter.statuses !== undefined) clauses.push(`r.status = ANY(${param(filter.statuses, 'text[]')})`);
  if (filter.since !== undefined) clauses.push(`r.created_at >= ${param(filter.since, 'timestamptz')}`);
  if (filter.until !== undefined) clauses.push(`r.created_at < ${param(filter.until, 'timestamptz')}`);
  if (filter.metadata !== undefined && Object.keys(filter.metadata).length > 0) {
    // The metadata index is partial (runs with metadata): say so, or the planner cannot use it.
    clauses.push(`r.metadata @> ${param(JSON.stringify(filter.metadata), 'jsonb')} AND r.metadata <> '{}'::jsonb`);
  }
  if (filter.triggerKinds !== undefined) clauses.push(`r.trigger_kind = ANY(${param(filter.triggerKinds, 'text[]')})`);
  if (filter.parentTaskRunId !== undefined) clauses.push(`r.parent_task_run_id = ${param(filter.parentTaskRunId, 'uuid')}`);
  // A semi-join from the parent's task runs: the planner fetches the children through run_child_key_idx
  // and sorts them, instead of walking every run by time until it has found a page (see childrenOfRunSql).
  if (filter.parentRunId !== undefined) {
    clauses.push(`r.parent_task_run_id IN (SELECT pt.id FROM task_run pt WHERE pt.run_id = ${param(filter.parentRunId, 'uuid')})`);
  }
  if (filter.topLevelOnly === true) clauses.push('r.parent_task_run_id IS NULL');
  if (filter.eventId !== undefined) clauses.push(`r.event_id = ${param(filter.eventId, 'uuid')}`);
  return { clauses, args };
}

function whereSql(clauses: string[]): string {
  return clauses.length === 0 ? '' : `WHERE ${clauses.join(' AND ')}`;
}

// ---- shared by the paged lists (runs, events) -------------------------------------------------------

/**
 * A page size: `fallback` when absent, at most `max`. Callers' params are checked where they enter
 * (engine/admin/params.ts); this only keeps a direct caller from asking for an unbounded page.
 */
export function pageSize(limit: number | undefined | null, options: { fallback: number; max: number }): number {
  return Math.max(1, Math.min(options.max, Math.trunc(limit ?? options.fallback)));
}

const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * A row's created_at as text with all six fractional digits. A JavaScript Date keeps milliseconds
 * only: a cursor made from one would sit before the row it names, and the next page would skip the
 * rows created within that same millisecond.
 */
export function keysetColumn(alias: string): string {
  return `to_char(${alias}.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;
}

export interface KeysetPosition {
  createdAt: string;
  id: string;
}

export function keysetCursorEncode(position: KeysetPosition): string {
  return Buffer.from(JSON.stringify([position.createdAt, position.id])).toString('base64url');
}

export function keysetCursorDecode(cursor: string): KeysetPosition {
  const invalid = (cause?: unknown): CleaverError =>
    new CleaverError(
      'BAD_REQUEST',
      `cursor ${JSON.stringify(cursor)} is not one this list returned; pass the previous page's nextCursor unchanged, or no cursor for the first page`,
      { cause },
    );
  let decoded: unknown;
  try {
    decoded = JSON.parse(Buffer.from(String(cursor), 'base64url').toString('utf8'));
  } catch (e: unknown) {
    throw invalid(toError(e));
  }
  if (
    !Array.isArray(decoded) ||
    decoded.length !== 2 ||
    typeof decoded[0] !== 'string' ||
    !/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/.test(decoded[0]) ||
    Number.isNaN(Date.parse(decoded[0])) ||
    typeof decoded[1] !== 'string' ||
    !UUID_PATTERN.test(decoded[1])
  ) {
    throw invalid();
  }
  return { createdAt: decoded[0], id: decoded[1] };
}
