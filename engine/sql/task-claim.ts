import type { NamedStatement, Queryable } from '../db/driver.ts';
import type { AssignedTask } from '../../shared/protocol.ts';

/**
 * A task run lost with its worker this many times is a suspect: it may be what takes its workers down.
 * A worker holds at most one suspect at a time, so the tasks lost together with a crashing one are not
 * claimed together with it again and again, each loss counted against every one of them. The first loss
 * is no suspicion (a worker killed from outside takes all its attempts with it); its victims come back at
 * once, anywhere. Migration 000003 indexes the suspects with this same number.
 */
export const SUSPECT_AFTER_LOSSES = 2;

const TASK_CLAIM: NamedStatement = {
  name: 'cleaver_task_claim',
  text: `WITH picked AS (
       SELECT c.id, c.priority
         FROM unnest($2::text[]) AS a(action)
         CROSS JOIN LATERAL (
           SELECT t.id, t.priority
             FROM task_run t
            WHERE t.status = 'queued' AND t.action = a.action AND t.worker_lost_count < ${SUSPECT_AFTER_LOSSES}
              AND t.available_at <= now() AND t.schedule_deadline > now()
            ORDER BY t.priority DESC, t.id
            LIMIT $3
              FOR UPDATE SKIP LOCKED
         ) c
       UNION ALL
       -- Suspects: at most $4 (0 or 1) per claim, through their own small index.
       SELECT s.id, s.priority
         FROM (
           SELECT s.id, s.priority
             FROM unnest($2::text[]) AS a(action)
             CROSS JOIN LATERAL (
               SELECT t.id, t.priority
                 FROM task_run t
                WHERE t.status = 'queued' AND t.action = a.action AND t.worker_lost_count >= ${SUSPECT_AFTER_LOSSES}
                  AND t.available_at <= now() AND t.schedule_deadline > now()
                ORDER BY t.priority DESC, t.id
                LIMIT $4
                  FOR UPDATE SKIP LOCKED
             ) s
            ORDER BY s.priority DESC, s.id
            LIMIT $4
         ) s
     ),
     ranked AS (
       SELECT p.id FROM picked p
        ORDER BY p.priority DESC, p.id
        LIMIT $3
     ),
     claimed AS (
       UPDATE task_run t
          SET status = 'assigned', worker_id = $1, attempt = t.attempt + 1, assigned_at = now(),
              started_at = NULL, timeout_at = now() + t.execution_timeout_ms * interval '1 millisecond'
         FROM ranked
        WHERE t.id = ranked.id
       RETURNING t.id, t.run_id, t.task_name, t.kind, t.parents, t.action, t.input, t.attempt, t.execution_timeout_ms, t.priority,
                 t.worker_lost_count
     )
     SELECT c.id, c.run_id, c.task_name, c.action, COALESCE(c.input, r.input) AS input, r.metadata, c.attempt, c.execution_timeout_ms,
            c.worker_lost_count >= ${SUSPECT_AFTER_LOSSES} AS suspect,
            -- Workflow tasks get their parents' outputs; hooks get every task's, and the failures.
            CASE WHEN c.parents IS NOT NULL
                 THEN (SELECT jsonb_object_agg(p.task_name, p.output) FROM task_run p
                        WHERE p.run_id = c.run_id AND p.task_name = ANY(c.parents) AND p.status = 'succeeded') END AS parents,
            CASE WHEN c.kind IN ('on_failure', 'on_success')
                 THEN (SELECT COALESCE(jsonb_agg(jsonb_build_object('taskName', p.task_name, 'taskRunId', p.id,
                                                                    'failureReason', p.failure_reason, 'error', p.error) ORDER BY p.id), '[]')
                         FROM task_run p
                        WHERE p.run_id = c.run_id AND p.kind = 'dag' AND p.status IN ('failed', 'cancelled')
                          AND p.failure_reason IS DISTINCT FROM 'UPSTREAM_FAILED') END AS failures
       FROM claimed c
       JOIN run r ON r.id = c.run_id
      ORDER BY c.priority DESC, c.id`,
};

/**
 * Claims up to `limit` claimable task runs for one worker across its actions, best priority then
 * oldest first, and starts a new attempt on each (status assigned, attempt + 1, lease from now).
 * Each action's queue is read through its own index scan (the LATERAL join), so a deep backlog of one
 * action is never sorted as a whole; SKIP LOCKED lets engines claim side by side without waiting.
 * Task runs past their schedule deadline are left for the schedule-timeout sweep to fail.
 * At most one suspect is taken, and only with `takeSuspect` (the worker holds none).
 */
export async function taskClaim(
  db: Queryable,
  params: { workerId: string; actions: readonly string[]; limit: number; takeSuspect: boolean },
): Promise<{ tasks: AssignedTask[]; suspects: string[] }> {
  if (params.limit <= 0 || params.actions.length === 0) return { tasks: [], suspects: [] };
  const result = await db.query<{
    id: string;
    run_id: string;
    task_name: string;
    action: string;
    input: AssignedTask['input'];
    metadata: Record<string, string>;
    attempt: number;
    execution_timeout_ms: number;
    suspect: boolean;
    parents: AssignedTask['parents'] | null;
    failures: AssignedTask['failures'] | null;
  }>(
    TASK_CLAIM,
    [params.workerId, params.actions, params.limit, params.takeSuspect ? 1 : 0],
  );
  const suspects: string[] = [];
  const tasks = result.rows.map((row) => {
    const task: AssignedTask = {
      taskRunId: row.id,
      runId: row.run_id,
      attempt: row.attempt,
      action: row.action,
      input: row.input,
      metadata: row.metadata,
      timeoutMs: row.execution_timeout_ms,
    };
    if (row.parents !== null) task.parents = row.parents ?? {};
    if (row.failures !== null) task.failures = row.failures;
    if (row.suspect) suspects.push(row.id);
    return task;
  });
  return { tasks, suspects };
}
