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
 * seen exactly once. A filter with `search` reads its runs in two steps (runSearchPage).
 */
export async function runList(db: Queryable, params: RunListParams): Promise<RunListPage> {
  const limit = pageSize(params.limit, { fallback: 50, max: 1000 });
  const where = runFilterSql(params, 1);
  const after = params.cursor ? keysetCursorDecode(params.cursor) : null;
  if (after) where.clauses.push(...keysetBeforeSql(where.args, after));
  const rows = params.search === undefined
    ? await runPage(db, { where, limit: limit + 1 })
    : await runSearchPage(db, { where, search: params.search, limit: limit + 1 });
  const page = rows.slice(0, limit);
  const last = page.at(-1);
  return {
    runs: page.map(toRunSummary),
    nextCursor: rows.length > limit && last ? keysetCursorEncode({ createdAt: last.keyset_at, id: last.id }) : null,
  };
}

type RunPageRow = RunSummaryRow & { keyset_at: string };

/** Up to `limit` runs matching `where`, newest first. */
async function runPage(db: Queryable, params: { where: FilterSql; limit: number }): Promise<RunPageRow[]> {
  const args = [...params.where.args, params.limit];
  const result = await db.query<RunPageRow>(
    `SELECT ${RUN_SUMMARY_COLUMNS}, ${keysetColumn('r')} AS keyset_at
       FROM run r
      ${whereSql(params.where.clauses)}
      ORDER BY r.created_at DESC, r.id DESC
      LIMIT $${args.length}`,
    args,
  );
  return result.rows;
}

/**
 * How many runs match a filter, reading at most `upTo` + 1 of them: an exact answer for what a person
 * pages through, and "more than upTo" for a table of millions, without counting all of them.
 */
export async function runCount(db: Queryable, params: RunCountParams): Promise<RunCount> {
  const upTo = Math.max(1, Math.trunc(params.upTo ?? 10_000));
  const where = runFilterSql(params, 1);
  const n = params.search === undefined
    ? await runCountUpTo(db, { where, upTo: upTo + 1 })
    : await runSearchCount(db, { where, search: params.search, upTo: upTo + 1 });
  return n > upTo ? { count: upTo, exact: false } : { count: n, exact: true };
}

async function runCountUpTo(db: Queryable, params: { where: FilterSql; upTo: number }): Promise<number> {
  const args = [...params.where.args, params.upTo];
  const result = await db.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM (SELECT 1 FROM run r ${whereSql(params.where.clauses)} LIMIT $${args.length}) matching`,
    args,
  );
  return Number(result.rows[0]!.n);
}

/**
 * Ids of the runs matching a filter, in id order (time order for UUIDv7), from after `afterId`: a bulk
 * operation takes them a chunk at a time, passing the last id it got as the next `afterId`.
 */
export async function runIdsSelect(db: Queryable, params: { filter: RunFilter; limit: number; afterId?: string }): Promise<string[]> {
  const where = runFilterSql(params.filter, 1);
  const args = where.args;
  if (params.filter.search !== undefined) {
    args.push(params.filter.search);
    where.clauses.push(searchMatchSql('r', `cleaver_search_query($${args.length}::text)`));
  }
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

interface FilterSql {
  clauses: string[];
  args: unknown[];
}

/**
 * The WHERE clauses of a run filter over `run r`, numbering parameters from `firstParam`; all but its
 * `search`, which each reader applies in its own way. Every field narrows, so an empty `statuses` (or
 * `triggerKinds`) list matches no run (a bulk cancel given one must not hit them all).
 */
function runFilterSql(filter: RunFilter, firstParam: number): FilterSql {
  const clauses: string[] = [];
  const args: unknown[] = [];
  const param = (value: unknown, cast: string): string => {
    args.push(value);
    return `$${firstParam + args.length - 1}::${cast}`;
  };
  if (filter.workflowName !== undefined) clauses.push(`r.workflow_name = ${param(filter.workflowName, 'text')}`);
  if (filter.statuses !== undefined) {
    clauses.push(`r.status = ANY(${param(filter.statuses, 'text[]')})`);
    // No index has run.status (it would make every start and finish of a run a non-HOT update), so a
    // list of live runs among a million finished ones would read them all. A queued or running run has
    // a task run queued, assigned or running, and the partial indexes of task_run hold just those: the
    // planner reads them when there are few, and probes each run's task runs when there are many.
    if (filter.statuses.length > 0 && filter.statuses.every((s) => LIVE_STATUSES.includes(s))) {
      clauses.push(`EXISTS (SELECT 1 FROM task_run lt WHERE lt.run_id = r.id AND (lt.status = 'queued' OR lt.status IN ('assigned', 'running')))`);
    }
  }
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

const LIVE_STATUSES: readonly RunStatus[] = ['queued', 'running'];

function whereSql(clauses: string[]): string {
  return clauses.length === 0 ? '' : `WHERE ${clauses.join(' AND ')}`;
}

/** Clauses keeping runs strictly older than `after` in (created_at, id) order. */
function keysetBeforeSql(args: unknown[], after: KeysetPosition): string[] {
  args.push(after.createdAt, after.id);
  const at = `$${args.length - 1}::timestamptz`;
  // The plain created_at bound lets the created_at index narrow the scan; the row comparison breaks ties.
  return [`r.created_at <= ${at}`, `(r.created_at, r.id) < (${at}, $${args.length}::uuid)`];
}

// ---- search ----------------------------------------------------------------------------------------
//
// A search matches a run when the words it asks for (cleaver_search_query, migration 000011) are in the
// run's search_doc (its input and metadata) or in the search_doc of one of its task runs (outputs and
// errors). The two live in two tables with a GIN index each, and no one plan suits every search: words
// in half the runs are found by walking the newest runs and testing each (a page within a few hundred),
// words in a few runs by reading the indexes (a walk would read the whole table); and the planner cannot
// weigh the two across an OR over two tables. So a search reads in two steps: it walks a bounded number
// of the filter's newest runs, and only if too few of those matched (the words are rare among them) it
// reads the rest through the indexes, at a cost that grows with how many runs hold the words.

/** Whether run `alias` (or one of its task runs) holds the words of tsquery `query`. */
function searchMatchSql(alias: string, query: string): string {
  return `(${alias}.search_doc @@ ${query} OR EXISTS (SELECT 1 FROM task_run st WHERE st.run_id = ${alias}.id AND st.search_doc @@ ${query} OFFSET 0))`;
}

/**
 * How many runs a search for a page of `limit` walks before it reads the indexes, among `total` runs.
 * Walking W runs costs about c·W; the index read is left only words in fewer than limit/W of the runs,
 * at most limit·total/W of them, each costing about 6c (its heap page is seldom one the walk read). The
 * sum is worst, 2·sqrt(6c²·limit·total), at W = sqrt(6·limit·total): 25,000 runs for a page of 100 among
 * a million (~65 ms measured), 8,000 among 100,000.
 */
export function searchWalkLength(limit: number, total: number): number {
  return Math.round(Math.min(200_000, Math.max(1_000, Math.sqrt(6 * limit * Math.max(total, 1)))));
}

/**
 * At most this many runs a count with a search walks (its length otherwise as for a page of `upTo`):
 * its index read stops at the count asked for, so the walk need only spare it words in most runs.
 */
const SEARCH_COUNT_WALK_MAX = 20_000;

/** The planner's estimate of the number of runs (no count: that would read them all). */
async function runTotalEstimate(db: Queryable): Promise<number> {
  const result = await db.query<{ n: number | string }>(`SELECT reltuples::bigint AS n FROM pg_class WHERE oid = 'run'::regclass`);
  return Math.max(0, Number(result.rows[0]?.n ?? 0));
}

/**
 * Step one of a search, as CTE `picked`: the filter's newest `walk` runs, walked newest first, keeping
 * those that hold the words (`hit`) until it has `limit` of them, and the walk's last run (`rn` = walk,
 * where step two continues) if it gets that far: at most `limit` + 1 rows.
 */
function searchWalkSql(params: { where: FilterSql; query: string; walkParam: string; limitParam: string }): string {
  return `WITH picked AS MATERIALIZED (
       SELECT h.id, h.created_at, h.rn, h.hit FROM (
         SELECT w.id, w.created_at, w.rn, ${searchMatchSql('w', params.query)} AS hit
           FROM (SELECT r.id, r.created_at, r.search_doc, row_number() OVER (ORDER BY r.created_at DESC, r.id DESC) AS rn
                   FROM run r ${whereSql(params.where.clauses)}
                  ORDER BY r.created_at DESC, r.id DESC
                  LIMIT ${params.walkParam}) w
         OFFSET 0) h
        WHERE h.hit OR h.rn = ${params.walkParam}
        -- No ORDER BY: the walk comes newest first already, and a sort here would read all of it first.
        LIMIT ${params.limitParam} + 1
     )`;
}

/** Where step one left off, if it leaves step two something to do: fewer hits than wanted, and a last run walked. */
function searchWalkEdge(walked: { hits: number; edgeAt: string | null; edgeId: string | null }, wanted: number): KeysetPosition | null {
  return walked.hits >= wanted || walked.edgeAt === null || walked.edgeId === null ? null : { createdAt: walked.edgeAt, id: walked.edgeId };
}

/**
 * Step two: `select` over the runs matching `where` that hold the words, read through the GIN indexes.
 * Runs whose own document holds them are tested against the filter as their heap rows are read for the
 * index (one read each); the others are the runs of task runs that hold them. The two parts never
 * overlap, so the result streams (a count stops at its limit).
 */
function searchIndexedSql(params: { where: FilterSql; query: string; select: string }): string {
  const own = whereSql([...params.where.clauses, `r.search_doc @@ ${params.query}`]);
  const tasks = whereSql([
    ...params.where.clauses,
    `r.id IN (SELECT t.run_id FROM task_run t WHERE t.search_doc @@ ${params.query})`,
    `NOT (r.search_doc @@ ${params.query})`,
  ]);
  return `SELECT ${params.select} FROM run r ${own}
      UNION ALL
      SELECT ${params.select} FROM run r ${tasks}`;
}

/** Up to `limit` runs matching `where` and the search, newest first. */
async function runSearchPage(db: Queryable, params: { where: FilterSql; search: string; limit: number }): Promise<RunPageRow[]> {
  const args = [...params.where.args, params.search];
  const query = `cleaver_search_query($${args.length}::text)`;
  const walk = searchWalkLength(params.limit, await runTotalEstimate(db));
  args.push(walk, params.limit);
  const select = `${RUN_SUMMARY_COLUMNS}, ${keysetColumn('r')} AS keyset_at`;
  const order = 'ORDER BY r.created_at DESC, r.id DESC';
  const first = await db.query<{ hit: boolean; rn: number | string; p_at: string; p_id: string } & RunPageRow>(
    `${searchWalkSql({ where: params.where, query, walkParam: `$${args.length - 1}`, limitParam: `$${args.length}` })}
     SELECT p.hit, p.rn, ${keysetColumn('p')} AS p_at, p.id AS p_id, m.*
       FROM picked p
       LEFT JOIN LATERAL (SELECT ${select} FROM run r WHERE r.id = p.id AND p.hit) m ON true
      ORDER BY p.created_at DESC, p.id DESC`,
    args,
  );
  const found = first.rows.filter((r) => r.hit).slice(0, params.limit);
  const last = first.rows.find((r) => Number(r.rn) === walk);
  const edge = searchWalkEdge({ hits: found.length, edgeAt: last?.p_at ?? null, edgeId: last?.p_id ?? null }, params.limit);
  if (edge === null) return found;
  const rest = { clauses: [...params.where.clauses], args: [...params.where.args, params.search] };
  rest.clauses.push(...keysetBeforeSql(rest.args, edge));
  rest.args.push(params.limit - found.length);
  // The page's runs are picked by (created_at, id) alone; their summary columns are read for those only.
  const result = await db.query<RunPageRow>(
    `WITH found AS MATERIALIZED (${searchIndexedSql({ where: rest, query, select: 'r.id, r.created_at' })}),
     page AS (SELECT id FROM found ORDER BY created_at DESC, id DESC LIMIT $${rest.args.length})
     SELECT ${select} FROM run r WHERE r.id IN (SELECT id FROM page) ${order}`,
    rest.args,
  );
  return [...found, ...result.rows];
}

/** How many runs match `where` and the search, counting up to `upTo`. */
async function runSearchCount(db: Queryable, params: { where: FilterSql; search: string; upTo: number }): Promise<number> {
  const args = [...params.where.args, params.search];
  const query = `cleaver_search_query($${args.length}::text)`;
  const walk = Math.min(SEARCH_COUNT_WALK_MAX, searchWalkLength(params.upTo, await runTotalEstimate(db)));
  args.push(walk, params.upTo);
  const first = await db.query<{ hits: number; edge_at: string | null; edge_id: string | null }>(
    `${searchWalkSql({ where: params.where, query, walkParam: `$${args.length - 1}`, limitParam: `$${args.length}` })}
     SELECT count(*) FILTER (WHERE p.hit)::int AS hits,
            max(${keysetColumn('p')}) FILTER (WHERE p.rn = $${args.length - 1}) AS edge_at,
            max(p.id::text) FILTER (WHERE p.rn = $${args.length - 1}) AS edge_id
       FROM picked p`,
    args,
  );
  const walked = first.rows[0]!;
  const found = Math.min(params.upTo, Number(walked.hits));
  const edge = searchWalkEdge({ hits: found, edgeAt: walked.edge_at, edgeId: walked.edge_id }, params.upTo);
  if (edge === null) return found;
  const rest = { clauses: [...params.where.clauses], args: [...params.where.args, params.search] };
  rest.clauses.push(...keysetBeforeSql(rest.args, edge));
  rest.args.push(params.upTo - found);
  const result = await db.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM (${searchIndexedSql({ where: rest, query, select: '1' })} LIMIT $${rest.args.length}) matching`,
    rest.args,
  );
  return found + Number(result.rows[0]!.n);
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
