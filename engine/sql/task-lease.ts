import type { Queryable } from '../db/driver.ts';
import type { TaskError } from '../../shared/types.ts';

export interface ActiveAttempt {
  taskRunId: string;
  attempt: number;
  workerId: string | null;
}

/** Attempts whose lease (execution timeout) has run out, oldest first. */
export async function taskLeaseExpiredList(db: Queryable, params: { limit: number }): Promise<ActiveAttempt[]> {
  const result = await db.query<{ id: string; attempt: number; worker_id: string | null }>(
    `SELECT id, attempt, worker_id FROM task_run
      WHERE status IN ('assigned', 'running') AND timeout_at < now()
      ORDER BY timeout_at
      LIMIT $1`,
    [params.limit],
  );
  return result.rows.map((r) => ({ taskRunId: r.id, attempt: r.attempt, workerId: r.worker_id }));
}

/**
 * Extends the lease of a running attempt to now + ms (ctx.refreshTimeout). Fenced by attempt;
 * returns false when the attempt is no longer active.
 */
export async function taskLeaseRefresh(
  db: Queryable,
  params: { taskRunId: string; attempt: number; ms: number },
): Promise<boolean> {
  const result = await db.query(
    `UPDATE task_run SET timeout_at = now() + $3::int * interval '1 millisecond'
      WHERE id = $1 AND attempt = $2 AND status IN ('assigned', 'running')`,
    [params.taskRunId, params.attempt, params.ms],
  );
  return result.rowCount > 0;
}

/** Active attempts held by the given workers. */
export async function taskActiveByWorkers(db: Queryable, params: { workerIds: string[] }): Promise<ActiveAttempt[]> {
  if (params.workerIds.length === 0) return [];
  const result = await db.query<{ id: string; attempt: number; worker_id: string | null }>(
    `SELECT id, attempt, worker_id FROM task_run
      WHERE status IN ('assigned', 'running') AND worker_id = ANY($1::uuid[])`,
    [params.workerIds],
  );
  return result.rows.map((r) => ({ taskRunId: r.id, attempt: r.attempt, workerId: r.worker_id }));
}

/**
 * Fails queued task runs that waited past their schedule deadline (SCHEDULE_TIMEOUT), with their runs.
 * Not retried: the retry would wait in the same queue. SKIP LOCKED leaves rows a claim is taking.
 */
export async function taskScheduleTimeout(
  db: Queryable,
  params: { limit: number },
): Promise<Array<{ taskRunId: string; runId: string; error: TaskError }>> {
  const result = await db.query<{ id: string; run_id: string; error: TaskError }>(
    `WITH expired AS (
       SELECT id FROM task_run
        WHERE status = 'queued' AND schedule_deadline < now()
        ORDER BY schedule_deadline
        LIMIT $1
          FOR UPDATE SKIP LOCKED
     ),
     failed AS (
       UPDATE task_run t
          SET status = 'failed', failure_reason = 'SCHEDULE_TIMEOUT', finished_at = now(),
              error = jsonb_build_object('message',
                'task run was still queued after its scheduleTimeout of ' || t.schedule_timeout_ms || ' ms; '
                || 'no worker with a free slot offered action ' || t.action)
         FROM expired
        WHERE t.id = expired.id
       RETURNING t.id, t.run_id, t.error
     ),
     runs AS (
       UPDATE run r SET status = 'failed', failure_reason = 'SCHEDULE_TIMEOUT', error = failed.error, finished_at = now()
         FROM failed
        WHERE r.id = failed.run_id
     )
     SELECT id, run_id, error FROM failed`,
    [params.limit],
  );
  return result.rows.map((r) => ({ taskRunId: r.id, runId: r.run_id, error: r.error }));
}
