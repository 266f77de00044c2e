/**
 * Retention (docs/engine.md#retention): deleting ended runs, with their task runs, attempts and logs,
 * and events whose runs are gone, once they are older than an age. Each call is one small batch in
 * creation order, (created_at, id) on run_created_idx and event_created_idx, from where the previous
 * batch of the sweep stopped: a batch reads at most `limit` rows however many of them must stay, so
 * old runs that have not ended are passed over once per sweep instead of read again by every batch.
 *
 * Safe when several engines sweep at once: a batch only takes rows it can lock without waiting (FOR
 * UPDATE SKIP LOCKED) and leaves the rest to whoever holds them. Lock order, the one taskFinish,
 * runCancel and runReplay keep: task rows, then run rows. A replay of an ended run locks its task rows
 * before its run row, so a sweep that meets it skips the run, and a replay that meets a sweep finds
 * the run gone.
 */
import type { Driver, Queryable } from '../db/driver.ts';
import { keysetColumn, type KeysetPosition } from './run-list.ts';

const ENDED = `('succeeded', 'failed', 'cancelled')`;

/** Rows keyed by task run that go with it. */
const TASK_RUN_TABLES = ['task_log', 'task_log_total', 'attempt', 'task_stream_chunk', 'task_stream'] as const;

/** `now()` less the age: a statement's cutoff (the same for every statement of a transaction). */
const CUTOFF = `(now() - $1::float8 * interval '1 millisecond')`;

export interface RetentionBatch {
  /** Rows this batch read, at most the limit: fewer means the sweep has reached rows younger than the age. */
  scanned: number;
  /** Runs (or events) deleted. */
  deleted: number;
  /** Where the next batch of this sweep starts; null once a batch read fewer rows than its limit. */
  next: KeysetPosition | null;
}

export interface RetentionBatchParams {
  /** Rows that ended (runs) or were created (events) longer ago than this go. */
  ageMs: number;
  /** Rows read per batch. */
  limit: number;
  /** The previous batch's `next`; null starts a sweep from the oldest row. */
  after: KeysetPosition | null;
}

/** The batch's window: rows created before the cutoff, after the cursor, oldest first, at most the limit. */
function scanSql(table: 'run' | 'event', columns: string, after: KeysetPosition | null): string {
  // The plain created_at bound lets the created_at index start at the cursor; the row comparison breaks ties.
  const from = after ? `AND x.created_at >= $3::timestamptz AND (x.created_at, x.id) > ($3::timestamptz, $4::uuid)` : '';
  return `SELECT ${columns}, ${keysetColumn('x')} AS keyset_at FROM ${table} x
           WHERE x.created_at < ${CUTOFF} ${from}
           ORDER BY x.created_at, x.id
           LIMIT $2`;
}

function scanArgs(params: RetentionBatchParams): unknown[] {
  const args: unknown[] = [params.ageMs, params.limit];
  if (params.after) args.push(params.after.createdAt, params.after.id);
  return args;
}

interface ScanRow {
  scanned: number;
  last_at: string | null;
  last_id: string | null;
}

function nextPosition(row: ScanRow, limit: number): KeysetPosition | null {
  return row.scanned >= limit && row.last_at && row.last_id ? { createdAt: row.last_at, id: row.last_id } : null;
}

/** The scan's count and last position, as columns of the statement's one row. */
const SCAN_SUMMARY = `(SELECT count(*) FROM scanned)::int AS scanned,
            (SELECT keyset_at FROM scanned ORDER BY created_at DESC, id DESC LIMIT 1) AS last_at,
            (SELECT id FROM scanned ORDER BY created_at DESC, id DESC LIMIT 1) AS last_id`;

/**
 * Deletes one batch of runs that ended before the age, with their task runs and what is keyed by
 * those (attempts, logs), in one short transaction. A run stays when:
 * - it has not ended, or one of its task runs has not (or is locked by someone else: a replay, a
 *   late outcome, another engine's sweep);
 * - it is a child run and its parent's run stays. A parent task run retried (or its run replayed)
 *   finds its children by key, so a child lives as long as its parent's run does; it goes with it in
 *   the same batch, or in a later one once the parent is gone. A child whose parent went first (a
 *   parent that did not wait for it) goes on its own.
 */
export async function retentionRunsDelete(driver: Driver, params: RetentionBatchParams): Promise<RetentionBatch & { taskRuns: number }> {
  return driver.transaction(async (tx) => {
    // What a crash of the server loses of a sweep, the next sweep deletes again.
    if (driver.kind === 'pg') await tx.query('SET LOCAL synchronous_commit = off');
    const ready = await runsReadyLock(tx, params);
    const doomed = await runsDoomedLock(tx, { ageMs: params.ageMs, runIds: ready.runIds });
    const deleted = await runsRowsDelete(tx, { runIds: doomed });
    return { scanned: ready.scanned, next: nextPosition(ready, params.limit), deleted: deleted.runs, taskRuns: deleted.taskRuns };
  });
}

/**
 * Step 1: reads the batch's window of runs and locks the task rows of those that ended before the
 * cutoff. Returns the runs all of whose task runs ended and were locked here.
 */
async function runsReadyLock(tx: Queryable, params: RetentionBatchParams): Promise<ScanRow & { runIds: string[] }> {
  const result = await tx.query<ScanRow & { run_ids: string[] }>(
    `WITH scanned AS (${scanSql('run', 'x.id, x.created_at, x.status, x.finished_at', params.after)}),
          ended AS (
            SELECT s.id FROM scanned s WHERE s.status IN ${ENDED} AND s.finished_at < ${CUTOFF}
          ),
          locked AS (
            SELECT t.id, t.run_id FROM task_run t
             WHERE t.run_id IN (SELECT id FROM ended) AND t.status IN ${ENDED}
             ORDER BY t.id
               FOR UPDATE SKIP LOCKED
          )
     SELECT ${SCAN_SUMMARY},
            ARRAY(SELECT l.run_id FROM (SELECT run_id, count(*) AS n FROM locked GROUP BY run_id) l
                   WHERE l.n = (SELECT count(*) FROM task_run t WHERE t.run_id = l.run_id)) AS run_ids`,
    scanArgs(params),
  );
  const row = result.rows[0]!;
  return { ...row, runIds: row.run_ids };
}

/**
 * Step 2: locks the ready runs that still ended before the cutoff (a replay may have started one
 * again) and returns those that go: runs without a parent, or whose parent is gone, and then, to a
 * fixed point, runs whose parent's run goes in this batch.
 */
async function runsDoomedLock(tx: Queryable, params: { ageMs: number; runIds: string[] }): Promise<string[]> {
  if (params.runIds.length === 0) return [];
  const result = await tx.query<{ run_ids: string[] }>(
    `WITH RECURSIVE locked AS (
            SELECT r.id, r.parent_task_run_id FROM run r
             WHERE r.id = ANY($2::uuid[]) AND r.status IN ${ENDED} AND r.finished_at < ${CUTOFF}
             ORDER BY r.id
               FOR UPDATE SKIP LOCKED
          ),
          doomed(id) AS (
            SELECT l.id FROM locked l
             WHERE l.parent_task_run_id IS NULL
                OR NOT EXISTS (SELECT 1 FROM task_run pt WHERE pt.id = l.parent_task_run_id)
            UNION
            SELECT l.id FROM doomed d
              JOIN task_run pt ON pt.run_id = d.id
              JOIN locked l ON l.parent_task_run_id = pt.id
          )
     SELECT ARRAY(SELECT id FROM doomed) AS run_ids`,
    [params.ageMs, params.runIds],
  );
  return result.rows[0]!.run_ids;
}

/** Step 3: deletes the runs, their task runs and the rows keyed by those. Every row is locked already. */
async function runsRowsDelete(tx: Queryable, params: { runIds: string[] }): Promise<{ runs: number; taskRuns: number }> {
  if (params.runIds.length === 0) return { runs: 0, taskRuns: 0 };
  // Every CTE reads the statement's snapshot, so the task runs' ids are there for the tables keyed by them.
  const keyed = TASK_RUN_TABLES.map(
    (table) => `${table}_deleted AS (DELETE FROM ${table} WHERE task_run_id IN (SELECT id FROM doomed_tasks))`,
  );
  const result = await tx.query<{ runs: number; task_runs: number }>(
    `WITH doomed_tasks AS (SELECT id FROM task_run WHERE run_id = ANY($1::uuid[])),
          ${keyed.join(',\n          ')},
          task_runs_deleted AS (DELETE FROM task_run WHERE run_id = ANY($1::uuid[]) RETURNING 1),
          runs_deleted AS (DELETE FROM run WHERE id = ANY($1::uuid[]) RETURNING 1)
     SELECT (SELECT count(*) FROM runs_deleted)::int AS runs, (SELECT count(*) FROM task_runs_deleted)::int AS task_runs`,
    [params.runIds],
  );
  const row = result.rows[0]!;
  return { runs: row.runs, taskRuns: row.task_runs };
}

/**
 * Deletes one batch of events older than the age that no run refers to any more: the console shows a
 * run's event, so an event stays as long as one of its runs does. Sweep runs first, then events.
 */
export async function retentionEventsDelete(db: Queryable, params: RetentionBatchParams): Promise<RetentionBatch> {
  const result = await db.query<ScanRow & { deleted: number }>(
    `WITH scanned AS (${scanSql('event', 'x.id, x.created_at', params.after)}),
          doomed AS (
            SELECT e.id FROM event e
             WHERE e.id IN (SELECT id FROM scanned)
               AND NOT EXISTS (SELECT 1 FROM run r WHERE r.event_id = e.id)
             ORDER BY e.id
               FOR UPDATE SKIP LOCKED
          ),
          deleted AS (DELETE FROM event WHERE id IN (SELECT id FROM doomed) RETURNING 1)
     SELECT ${SCAN_SUMMARY}, (SELECT count(*) FROM deleted)::int AS deleted`,
    scanArgs(params),
  );
  const row = result.rows[0]!;
  return { scanned: row.scanned, deleted: row.deleted, next: nextPosition(row, params.limit) };
}
