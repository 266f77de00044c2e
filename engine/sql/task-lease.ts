import type { Queryable } from '../db/driver.ts';

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
 * Extends the lease of a running attempt to now + ms (ctx.refreshTimeout). Fenced by attempt and by
 * the worker holding it; returns false when the attempt is no longer active on that worker.
 */
export async function taskLeaseRefresh(
  db: Queryable,
  params: { taskRunId: string; attempt: number; ms: number; workerId: string },
): Promise<boolean> {
  const result = await db.query(
    `UPDATE task_run SET timeout_at = now() + $3::int * interval '1 millisecond'
      WHERE id = $1 AND attempt = $2 AND status IN ('assigned', 'running') AND worker_id = $4`,
    [params.taskRunId, params.attempt, params.ms, params.workerId],
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
 * Queued task runs past their schedule deadline, oldest first, to be ended as SCHEDULE_TIMEOUT through
 * taskFinish (which re-checks the deadline under lock, so a claim that took one in between wins).
 */
export async function taskScheduleExpiredList(db: Queryable, params: { limit: number }): Promise<Array<{ taskRunId: string; attempt: number; action: string; timeoutMs: number }>> {
  const result = await db.query<{ id: string; attempt: number; action: string; schedule_timeout_ms: number }>(
    `SELECT id, attempt, action, schedule_timeout_ms FROM task_run
      WHERE status = 'queued' AND schedule_deadline < now()
      ORDER BY schedule_deadline
      LIMIT $1`,
    [params.limit],
  );
  return result.rows.map((r) => ({ taskRunId: r.id, attempt: r.attempt, action: r.action, timeoutMs: r.schedule_timeout_ms }));
}
