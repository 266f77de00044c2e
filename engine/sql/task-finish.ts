import type { NamedStatement, Queryable } from '../db/driver.ts';
import type { FailureReason, Json, TaskError } from '../../shared/types.ts';
import { isoOrNull, toTaskError } from './rows.ts';

const TASK_FINISH: NamedStatement = {
  name: 'cleaver_task_finish',
  text: `WITH v AS (
       SELECT * FROM jsonb_to_recordset($1::jsonb) AS v(
         id uuid, attempt int, ok boolean, output jsonb, error jsonb, reason text, non_retryable boolean,
         started_at timestamptz, finished_at timestamptz)
     ),
     cur AS (
       SELECT t.id, t.run_id, t.action, t.attempt, t.worker_id, t.assigned_at, t.started_at, t.schedule_timeout_ms,
              v.ok, v.output, v.error, v.reason,
              v.started_at AS reported_started_at, v.finished_at AS reported_finished_at,
              CASE
                WHEN v.ok THEN 'succeeded'
                WHEN v.reason = 'CANCELLED' THEN 'cancelled'
                WHEN v.reason = 'WORKER_LOST' AND t.worker_lost_count < $2 THEN 'queued'
                WHEN v.non_retryable OR t.attempt - t.worker_lost_count >= t.max_attempts THEN 'failed'
                ELSE 'queued'
              END AS next_status,
              CASE
                WHEN v.reason = 'WORKER_LOST' OR t.backoff_factor IS NULL THEN 0
                ELSE LEAST(COALESCE(t.backoff_max_seconds, 'Infinity'::float8),
                           power(t.backoff_factor, t.attempt - t.worker_lost_count))
              END AS delay_s
         FROM task_run t
         JOIN v ON t.id = v.id AND t.attempt = v.attempt
        WHERE t.status IN ('assigned', 'running')
        ORDER BY t.id
          FOR UPDATE OF t
     ),
     updated AS (
       UPDATE task_run t
          SET status = cur.next_status,
              output = CASE WHEN cur.ok THEN cur.output END,
              error = CASE WHEN cur.ok THEN NULL ELSE cur.error END,
              failure_reason = CASE WHEN cur.ok THEN NULL ELSE cur.reason END,
              worker_lost_count = t.worker_lost_count + CASE WHEN cur.reason = 'WORKER_LOST' THEN 1 ELSE 0 END,
              worker_id = CASE WHEN cur.next_status = 'queued' THEN NULL ELSE t.worker_id END,
              available_at = CASE WHEN cur.next_status = 'queued'
                                  THEN now() + cur.delay_s * interval '1 second' ELSE t.available_at END,
              schedule_deadline = CASE WHEN cur.next_status = 'queued'
                                       THEN now() + cur.delay_s * interval '1 second'
                                                  + cur.schedule_timeout_ms * interval '1 millisecond'
                                       ELSE t.schedule_deadline END,
              timeout_at = NULL,
              started_at = COALESCE(cur.reported_started_at, t.started_at),
              finished_at = CASE WHEN cur.next_status = 'queued' THEN NULL ELSE now() END
         FROM cur
        WHERE t.id = cur.id
     ),
     attempts AS (
       INSERT INTO attempt (task_run_id, attempt, worker_id, status, failure_reason, error, assigned_at, started_at, finished_at)
       SELECT cur.id, cur.attempt, cur.worker_id,
              CASE WHEN cur.ok THEN 'succeeded' WHEN cur.reason = 'CANCELLED' THEN 'cancelled' ELSE 'failed' END,
              CASE WHEN cur.ok THEN NULL ELSE cur.reason END,
              CASE WHEN cur.ok THEN NULL ELSE cur.error END,
              COALESCE(cur.assigned_at, now()),
              COALESCE(cur.reported_started_at, cur.started_at),
              COALESCE(cur.reported_finished_at, now())
         FROM cur
       ON CONFLICT (task_run_id, attempt) DO NOTHING
     ),
     runs AS (
       UPDATE run r
          SET status = cur.next_status,
              output = CASE WHEN cur.ok THEN cur.output END,
              error = CASE WHEN cur.ok THEN NULL ELSE cur.error END,
              failure_reason = CASE WHEN cur.ok THEN NULL ELSE cur.reason END,
              finished_at = now()
         FROM cur
        WHERE r.id = cur.run_id AND cur.next_status IN ('succeeded', 'failed', 'cancelled')
     )
     SELECT id, run_id, action, attempt, next_status, delay_s, output, error, reason, worker_id FROM cur`,
};

/** How one attempt ended: the worker's result, or a verdict of the engine (timeout, lost worker). */
export interface AttemptOutcome {
  taskRunId: string;
  attempt: number;
  ok: boolean;
  output?: Json;
  error?: TaskError;
  /** Why it failed; ERROR when the task threw. Ignored when ok. */
  reason?: FailureReason;
  nonRetryable?: boolean;
  startedAt?: number | null;
  finishedAt?: number | null;
}

export interface FinishedAttempt {
  taskRunId: string;
  runId: string;
  action: string;
  attempt: number;
  /** The task run's new status: 'queued' means a retry was scheduled. */
  status: 'queued' | 'succeeded' | 'failed' | 'cancelled';
  /** For a scheduled retry: how long until it may be claimed. */
  retryDelayMs: number;
  output: Json | null;
  error: TaskError | null;
  failureReason: FailureReason | null;
  /** The worker that ran the attempt. */
  workerId: string | null;
}

/** Attempts lost with their worker are retried without charge up to this many times per task run. */
export const MAX_FREE_WORKER_LOST_RETRIES = 5;

/**
 * Ends a batch of attempts in one statement: applies the retry policy, writes the attempt rows, and
 * finishes the runs whose task ended for good. Fenced by attempt: an outcome for an attempt that is no
 * longer the current, active one is ignored, so a late result can never overwrite a newer attempt; the
 * returned list holds only the outcomes that were accepted.
 *
 * Rows are locked in id order (the ORDER BY ... FOR UPDATE) so that concurrent finishers (result
 * batches, timeout sweeps, other engines) never deadlock on each other.
 *
 * Retry n (1-based) waits min(maxSeconds, factor ** n) seconds; with no backoff it is immediate.
 */
export async function taskFinish(
  db: Queryable,
  params: { outcomes: AttemptOutcome[] },
): Promise<FinishedAttempt[]> {
  if (params.outcomes.length === 0) return [];
  const items = params.outcomes.map((o) => ({
    id: o.taskRunId,
    attempt: o.attempt,
    ok: o.ok,
    output: o.ok ? (o.output ?? null) : null,
    error: o.ok ? null : (o.error ?? { message: 'unknown error' }),
    reason: o.ok ? null : o.reason && o.reason !== 'ERROR' ? o.reason : o.nonRetryable ? 'NON_RETRYABLE' : 'ERROR',
    non_retryable: o.nonRetryable === true || o.reason === 'NON_RETRYABLE',
    started_at: isoOrNull(o.startedAt),
    finished_at: isoOrNull(o.finishedAt),
  }));
  const result = await db.query<{
    id: string;
    run_id: string;
    action: string;
    attempt: number;
    next_status: FinishedAttempt['status'];
    delay_s: number;
    output: Json | null;
    error: TaskError | null;
    reason: FailureReason | null;
    worker_id: string | null;
  }>(
    TASK_FINISH,
    [JSON.stringify(items), MAX_FREE_WORKER_LOST_RETRIES],
  );
  return result.rows.map((row) => {
    const terminal = row.next_status !== 'queued';
    return {
      taskRunId: row.id,
      runId: row.run_id,
      action: row.action,
      attempt: row.attempt,
      status: row.next_status,
      retryDelayMs: terminal ? 0 : Math.round(Number(row.delay_s) * 1000),
      output: row.next_status === 'succeeded' ? row.output : null,
      error: row.next_status === 'succeeded' ? null : toTaskError(row.error),
      failureReason: row.next_status === 'succeeded' ? null : row.reason,
      workerId: row.worker_id,
    };
  });
}
