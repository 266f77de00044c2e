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
 * seen exactly once. A filter with `search` reads its runs in two steps (runSearchPage). With `runIds`
 * it reads only those runs (by primary key), the ones the filter matches.
 */
export async function runList(db: Queryable, params: RunListParams): Promise<RunListPage> {
  const limit = pageSize(params.limit, { fallback: params.runIds?.length ?? 50, max: 1000 });
  const where = runFilterSql(params, 1);
  if (params.runIds !== undefined) {
    where.args.push(params.runIds);
    where.clauses.push(`r.id = ANY($${where.args.length}::uuid[])`);
  }
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
  /**
   * With `since`: the least task-run id a matching run can have, as SQL. Task-run ids are uuidv7, made
   * when the run is created or later, so a search's task-run half can skip older matches before it
   * looks at their runs (see taskRunIdFloorSql).
   */
  taskRunIdFloor?: string;
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
  let taskRunIdFloor: string | undefined;
  if (filter.since !== undefined) {
    const since = param(filter.since, 'timestamptz');
    clauses.push(`r.created_at >= ${since}`);
    taskRunIdFloor = taskRunIdFloorSql(since);
  }
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
  return { clauses, args, taskRunIdFloor };
}

/**
 * The least uuidv7 of the millisecond a day before `since` (its 48-bit time, version 7, the rest zero).
 * A run's task-run ids are made by an engine just before the run's insert (its created_at is the
 * database's clock) or by the database later, so none is older than the run save for the clocks of the
 * engines and the database disagreeing: the day covers that many times over. A bound, never a filter
 * of its own: the run's created_at is still what decides.
 */
function taskRunIdFloorSql(since: string): string {
  // Clamped to the 48 bits a uuidv7 has for its time: a `since` before 1970 (or past the year 10889)
  // must not wrap into a floor that hides everything.
  const ms = `LEAST(GREATEST(floor(extract(epoch FROM ${since} - interval '1 day') * 1000), 0), 281474976710655)::bigint`;
  return `(lpad(to_hex(${ms}), 12, '0') || '70008000000000000000')::uuid`;
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
// errors). Written as one OR over the two tables, the planner has a single plan for it, a walk of the
// newest runs testing each: fine for words in many runs, a read of the whole table for words in few
// (0.5-5 s at a million runs). So each half is asked on its own, as a query over one table that the
// planner can answer by walking or from the GIN index as the words' frequency says, and the halves are
// merged newest first (docs/search.md has the plans and the figures).

/** Whether run `alias` (or one of its task runs) holds the words of tsquery `query`. */
function searchMatchSql(alias: string, query: string): string {
  return `(${alias}.search_doc @@ ${query} OR EXISTS (SELECT 1 FROM task_run st WHERE st.run_id = ${alias}.id AND st.search_doc @@ ${query}))`;
}

/**
 * How a half tests the words: `index`, as `doc @@ query`, which the planner answers from the GIN index
 * or by walking the newest runs as the words' frequency says; `walk`, in a form no index answers
 * (costed as one row in two), which leaves the planner the walk only. See searchPlans.
 */
export type HalfPlan = 'index' | 'walk';

function docMatchSql(doc: string, query: string, plan: HalfPlan): string {
  return plan === 'index' ? `${doc} @@ ${query}` : `coalesce(${doc} @@ ${query}, false)`;
}

/**
 * The two halves of a search over `where`, each `select … tail` over `run r`: runs whose own document
 * holds the words, and runs with a task run whose document does; with `disjoint` the second leaves out
 * runs of the first (a count adds them up; a page merges and drops repeats instead, which lets the
 * merge stop reading the second half as soon as it is older than the page).
 */
function searchHalvesSql(params: {
  where: FilterSql;
  query: string;
  select: string;
  tail: string;
  disjoint: boolean;
  plans?: { own: HalfPlan; tasks: HalfPlan };
}): [string, string] {
  const plans = params.plans ?? { own: 'index', tasks: 'index' };
  const own = whereSql([...params.where.clauses, docMatchSql('r.search_doc', params.query, plans.own)]);
  const tasks = whereSql([
    ...params.where.clauses,
    `r.id IN (SELECT t.run_id FROM task_run t WHERE ${docMatchSql('t.search_doc', params.query, plans.tasks)}${params.where.taskRunIdFloor ? ` AND t.id >= ${params.where.taskRunIdFloor}` : ''})`,
    ...(params.disjoint ? [`NOT (r.search_doc @@ ${params.query})`] : []),
  ]);
  return [`SELECT ${params.select} FROM run r ${own} ${params.tail}`, `SELECT ${params.select} FROM run r ${tasks} ${params.tail}`];
}

/**
 * How each half of a page reads a search of several words. The planner costs a phrase as if its words
 * were independent, the product of their frequencies: "timed out" as 45 task runs of a million where
 * 7,000 hold it. So it reads every match from the GIN index, thousands of heap pages scattered over the
 * table (1 s when they are not cached, at a million runs), where a walk of the newest runs, whose pages
 * every list keeps in memory, finds a page in 40 ms. A phrase is at most as frequent as its rarest word,
 * and about as frequent when someone types it: each half is planned for each word alone, and when the
 * planner would read the index for none of them (every word is frequent), the phrase is walked;
 * otherwise the half is left to the planner. One word is always left to it (its estimate is right).
 */
async function searchPlans(db: Queryable, params: { where: FilterSql; search: string; limit: number }): Promise<{ own: HalfPlan; tasks: HalfPlan }> {
  const words = await db.query<{ word: string }>(
    `SELECT u.word FROM unnest(to_tsvector('simple'::regconfig, cleaver_search_text($1::text))) AS u(word)`,
    [params.search],
  );
  if (words.rows.length < 2) return { own: 'index', tasks: 'index' };
  const args = [...params.where.args, null, params.limit];
  const wordParam = args.length - 1;
  const [own, tasks] = searchHalvesSql({
    where: params.where,
    query: `cleaver_search_query($${wordParam}::text)`,
    select: 'r.id',
    tail: `ORDER BY r.created_at DESC, r.id DESC LIMIT 2 * $${args.length}`,
    disjoint: false,
  });
  const readsIndex = async (half: string, index: string): Promise<boolean> => {
    for (const { word } of words.rows) {
      args[wordParam - 1] = word;
      const plan = await db.query<{ 'QUERY PLAN': unknown }>(`EXPLAIN (FORMAT JSON) ${half}`, args);
      const json = plan.rows[0]?.['QUERY PLAN'];
      if (JSON.stringify(typeof json === 'string' ? JSON.parse(json) : json).includes(`"Index Name":"${index}"`)) return true;
    }
    return false;
  };
  return {
    own: (await readsIndex(own, 'run_search_idx')) ? 'index' : 'walk',
    tasks: (await readsIndex(tasks, 'task_run_search_idx')) ? 'index' : 'walk',
  };
}

/**
 * A parallel walk under a LIMIT overshoots: each worker reads on until the leader stops them, and a half
 * whose matches are rare (words of errors) read 210,000 runs for 101 where one process reads 18,000
 * (600 → 70 ms at a million runs). Local to the admin read's transaction; alone (a caller outside
 * one), it ends with this statement and changes nothing.
 */
async function searchSerial(db: Queryable): Promise<void> {
  await db.query(`SELECT set_config('max_parallel_workers_per_gather', '0', true)`);
}

/**
 * How each half of a page of `params` reads its search (see searchPlans): for tests and EXPLAINs. With
 * the page's own settings, so that inside a transaction it plans what the page would.
 */
export async function runSearchPlans(db: Queryable, params: RunListParams & { search: string }): Promise<{ own: HalfPlan; tasks: HalfPlan }> {
  await searchSerial(db);
  const limit = pageSize(params.limit, { fallback: 50, max: 1000 });
  return searchPlans(db, { where: runFilterSql(params, 1), search: params.search, limit: limit + 1 });
}

/** Up to `limit` runs matching `where` and the search, newest first. */
async function runSearchPage(db: Queryable, params: { where: FilterSql; search: string; limit: number }): Promise<RunPageRow[]> {
  await searchSerial(db);
  const args = [...params.where.args, params.search, params.limit];
  const query = `cleaver_search_query($${args.length - 1}::text)`;
  const limit = `$${args.length}`;
  const order = 'ORDER BY r.created_at DESC, r.id DESC';
  const plans = await searchPlans(db, params);
  // A run in both halves comes twice: 2·limit merged rows hold at least `limit` runs.
  const [own, tasks] = searchHalvesSql({ where: params.where, query, select: 'r.id, r.created_at', tail: `${order} LIMIT 2 * ${limit}`, disjoint: false, plans });
  const result = await db.query<RunPageRow>(
    `WITH merged AS (
       SELECT id, created_at FROM (${own}) own UNION ALL SELECT id, created_at FROM (${tasks}) tasks
        ORDER BY created_at DESC, id DESC LIMIT 2 * ${limit}
     ),
     page AS (SELECT DISTINCT id, created_at FROM merged ORDER BY created_at DESC, id DESC LIMIT ${limit})
     SELECT ${RUN_SUMMARY_COLUMNS}, ${keysetColumn('r')} AS keyset_at FROM run r WHERE r.id IN (SELECT id FROM page) ${order}`,
    args,
  );
  return result.rows;
}

/** How many runs match `where` and the search, counting up to `upTo`. */
async function runSearchCount(db: Queryable, params: { where: FilterSql; search: string; upTo: number }): Promise<number> {
  await searchSerial(db);
  const args = [...params.where.args, params.search, params.upTo];
  const query = `cleaver_search_query($${args.length - 1}::text)`;
  const [own, tasks] = searchHalvesSql({ where: params.where, query, select: '1', tail: `LIMIT $${args.length}`, disjoint: true });
  const result = await db.query<{ n: number }>(`SELECT (SELECT count(*) FROM (${own}) own)::int + (SELECT count(*) FROM (${tasks}) tasks)::int AS n`, args);
  return Number(result.rows[0]!.n);
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
