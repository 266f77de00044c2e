import type { NamedStatement, Queryable } from '../db/driver.ts';
import type { FailureReason } from '../../shared/types.ts';
import { schedulerLeaseFence } from './scheduler-lease.ts';

const RUN_CANCEL: NamedStatement = {
  name: 'cleaver_run_cancel',
  text: `WITH target AS (
       SELECT id FROM run WHERE id = ANY($1::uuid[]) AND status IN ('queued', 'running')
          -- The scheduler ends runs (concurrency limits, bad keys) only while it holds the lease.
          AND ($6::uuid IS NULL OR ${schedulerLeaseFence('$5::smallint', '$6::uuid', '$7::bigint')})
     ),
     cur AS (
       SELECT t.id, t.run_id, t.status AS prev_status, t.attempt, t.worker_id, t.assigned_at, t.started_at
         FROM task_run t
        WHERE t.run_id IN (SELECT id FROM target) AND t.status IN ('pending', 'queued', 'assigned', 'running')
        -- Locked in the order taskFinish locks them: task runs that can finish (in id order), then the
        -- pending ones that a finish queues or cancels after locking its own. In plain id order, a pending
        -- child with a lower id than its finishing parent deadlocks with that finish.
        ORDER BY t.status = 'pending', t.id
          FOR UPDATE OF t
     ),
     tasks AS (
       UPDATE task_run t
          SET status = $2, failure_reason = $3, finished_at = now(), timeout_at = NULL,
              error = jsonb_build_object('message', $4::text, 'name', $8::text)
         FROM cur
        WHERE t.id = cur.id
     ),
     attempts AS (
       INSERT INTO attempt (task_run_id, attempt, worker_id, status, failure_reason, error, assigned_at, started_at, finished_at)
       SELECT cur.id, cur.attempt, cur.worker_id, 'cancelled', $3,
              jsonb_build_object('message', $4::text, 'name', $8::text),
              COALESCE(cur.assigned_at, now()), cur.started_at, now()
         FROM cur
        WHERE cur.prev_status IN ('assigned', 'running')
       ON CONFLICT (task_run_id, attempt) DO NOTHING
     ),
     runs AS (
       UPDATE run r
          SET status = $2, tasks_remaining = 0, failure_reason = $3, finished_at = now(), concurrency_keys = NULL,
              error = COALESCE(r.error, jsonb_build_object('message', $4::text, 'name', $8::text))
         -- Reading cur here locks the task rows before the run rows (the main query reads this CTE first),
         -- the order taskFinish keeps; run rows first deadlocks with an attempt of the run finishing.
         FROM (SELECT count(*) FROM cur) AS tasks_first
        WHERE r.id IN (SELECT id FROM target) AND r.status IN ('queued', 'running')
       RETURNING r.id, r.workflow_name
     )
     SELECT (SELECT array_agg(id) FROM runs) AS cancelled,
            (SELECT jsonb_agg(jsonb_build_object('id', r.id, 'workflow', r.workflow_name, 'tasks', COALESCE(c.n, 0)))
               FROM runs r LEFT JOIN (SELECT run_id, count(*) AS n FROM cur GROUP BY run_id) c ON c.run_id = r.id) AS ended,
            (SELECT jsonb_agg(jsonb_build_object('taskRunId', id, 'attempt', attempt, 'workerId', worker_id))
               FROM cur WHERE prev_status IN ('assigned', 'running')) AS active`,
};

/** How runs ended by runCancel end: their status, failure reason and the error their tasks record. */
export interface RunEnd {
  status: 'cancelled' | 'failed';
  reason: FailureReason;
  message: string;
  name: string;
}

const USER_CANCEL: RunEnd = { status: 'cancelled', reason: 'CANCELLED', message: 'the run was cancelled', name: 'Cancelled' };

/** A run runCancel ended: its workflow, and how many of its task runs ended with it. */
export interface EndedRun {
  runId: string;
  workflowName: string;
  status: RunEnd['status'];
  taskRuns: number;
}

export interface CancelledAttempt {
  taskRunId: string;
  attempt: number;
  workerId: string | null;
}

/**
 * Cancels runs that have not ended, in one statement: every task run not yet ended is cancelled
 * (pending and queued ones simply never start); attempts in progress are recorded as cancelled at once,
 * so the run ends now whatever the worker does — its late result is refused by the attempt fence. The
 * caller tells the workers running `active` attempts to stop. Task rows are locked before run rows,
 * in id order, as the finish statement does.
 */
export async function runCancel(
  db: Queryable,
  params: {
    runIds: string[];
    /** How the runs end (default: cancelled by a user, reason CANCELLED). */
    end?: RunEnd;
    /** Only while this engine holds the scheduler lease at `epoch` (the scheduler's own cancellations). */
    fence?: { engineId: string; epoch: number; partition?: number };
  },
): Promise<{ cancelled: string[]; active: CancelledAttempt[]; ended: EndedRun[] }> {
  if (params.runIds.length === 0) return { cancelled: [], active: [], ended: [] };
  const end = params.end ?? USER_CANCEL;
  const result = await db.query<{ cancelled: string[] | null; active: CancelledAttempt[] | null; ended: Array<{ id: string; workflow: string; tasks: number }> | null }>(RUN_CANCEL, [
    params.runIds,
    end.status,
    end.reason,
    end.message,
    params.fence?.partition ?? 0,
    params.fence?.engineId ?? null,
    params.fence?.epoch ?? null,
    end.name,
  ]);
  const row = result.rows[0]!;
  return {
    cancelled: row.cancelled ?? [],
    active: row.active ?? [],
    ended: (row.ended ?? []).map((e) => ({ runId: e.id, workflowName: e.workflow, status: end.status, taskRuns: Number(e.tasks) })),
  };
}

/** Tells other engines (LISTEN cleaver_cancel) to stop these attempts on the workers connected to them. */
export async function cancelNotify(db: Queryable, params: { from: string; attempts: readonly CancelledAttempt[] }): Promise<void> {
  // NOTIFY payloads are limited to 8000 bytes: about 80 attempts each.
  for (let i = 0; i < params.attempts.length; i += 80) {
    const payload = JSON.stringify({ from: params.from, attempts: params.attempts.slice(i, i + 80) });
    await db.query(`SELECT pg_notify('cleaver_cancel', $1)`, [payload]);
  }
}
