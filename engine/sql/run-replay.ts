import type { RunSkip } from '../../shared/admin-api.ts';
import type { RunStatus } from '../../shared/types.ts';
import type { NamedStatement, Queryable } from '../db/driver.ts';
import { freshColumns, notifyQueued } from './enqueue.ts';

const RUN_REPLAY: NamedStatement = {
  name: 'cleaver_run_replay',
  text: `WITH target AS (
       SELECT r.id FROM run r
        WHERE r.id = ANY($1::uuid[]) AND r.status IN ('succeeded', 'failed', 'cancelled')
          AND ($2::text IS NULL OR EXISTS (SELECT 1 FROM task_run t WHERE t.run_id = r.id AND t.task_name = $2::text
                                                                          AND t.kind IN ('standalone', 'dag')))
     ),
     -- What runs again: the named task and every task that did not succeed, with all their descendants.
     seed AS (
       SELECT t.run_id, t.task_name
         FROM task_run t JOIN target ON t.run_id = target.id
        WHERE t.kind IN ('standalone', 'dag') AND (t.status <> 'succeeded' OR t.task_name = $2::text)
     ),
     reset AS (
       SELECT t.id, t.run_id, t.task_name, t.parents
         FROM task_run t JOIN target ON t.run_id = target.id
        WHERE t.kind IN ('standalone', 'dag')
          AND EXISTS (SELECT 1 FROM seed s
                       WHERE s.run_id = t.run_id AND (s.task_name = t.task_name OR s.task_name = ANY(t.ancestors)))
        ORDER BY t.id
          FOR UPDATE OF t
     ),
     tasks AS (
       UPDATE task_run t
          -- Afresh (enqueue.ts): the retry budget starts anew; attempt numbers go on, so history keeps every try.
          SET ${freshColumns('t', "CASE WHEN p.n = 0 THEN 'queued' ELSE 'pending' END")},
              pending_parents = p.n
         FROM reset x
         CROSS JOIN LATERAL (SELECT count(*) AS n FROM reset y WHERE y.run_id = x.run_id AND y.task_name = ANY(x.parents)) p
        WHERE t.id = x.id
       RETURNING t.action, t.status
     ),
     runs AS (
       UPDATE run r
          SET status = 'queued', tasks_remaining = c.n, tasks_failed = 0, hook = NULL, concurrency_keys = NULL,
              output = NULL, error = NULL, failure_reason = NULL, finished_at = NULL, replayed_at = now()
         FROM (SELECT run_id, count(*) AS n FROM reset GROUP BY run_id) c
        WHERE r.id = c.run_id
       RETURNING r.id
     ),
     queued AS (
       SELECT DISTINCT action FROM tasks WHERE status = 'queued'
     )
     SELECT (SELECT array_agg(id) FROM runs) AS replayed,
            (SELECT array_agg(action) FROM queued) AS queued_actions,
            ${notifyQueued('$3::text', 'queued')} AS notified`,
};

/**
 * Replays ended runs on the same run rows: the task `fromTask` (if given) and every task run that did
 * not succeed are queued again with all their descendants — those whose parents all kept their
 * success are queued at once, the others wait as pending — while the tasks that succeeded upstream
 * keep their outputs. Each replayed task run goes on from its last attempt number with a fresh retry
 * budget, so the attempt history shows every try. Runs that have not ended, or that have nothing to
 * run again, are left alone and not returned.
 */
export async function runReplay(
  db: Queryable,
  params: { runIds: string[]; fromTask: string | null; notifyFrom: string | null },
): Promise<{ replayed: string[]; queuedActions: string[] }> {
  if (params.runIds.length === 0) return { replayed: [], queuedActions: [] };
  const result = await db.query<{ replayed: string[] | null; queued_actions: string[] | null }>(RUN_REPLAY, [
    params.runIds,
    params.fromTask,
    params.notifyFrom,
  ]);
  const row = result.rows[0]!;
  return { replayed: row.replayed ?? [], queuedActions: row.queued_actions ?? [] };
}

/**
 * Why each of these runs (given by id, and not replayed) was left alone: not found, not ended yet, no
 * task named `fromTask`, or nothing to run again. One query.
 */
export async function runReplaySkips(db: Queryable, params: { runIds: string[]; fromTask: string | null }): Promise<RunSkip[]> {
  if (params.runIds.length === 0) return [];
  const result = await db.query<{ id: string; status: RunStatus; has_task: boolean }>(
    `SELECT r.id, r.status,
            ($2::text IS NULL OR EXISTS (SELECT 1 FROM task_run t WHERE t.run_id = r.id AND t.task_name = $2::text
                                                                    AND t.kind IN ('standalone', 'dag'))) AS has_task
       FROM run r WHERE r.id = ANY($1::uuid[])`,
    [params.runIds, params.fromTask],
  );
  const found = new Map(result.rows.map((r) => [r.id, r]));
  return params.runIds.map((runId): RunSkip => {
    const row = found.get(runId);
    if (!row) return { runId, reason: 'not-found' };
    if (row.status === 'queued' || row.status === 'running') return { runId, reason: 'not-ended', status: row.status };
    return { runId, reason: row.has_task ? 'nothing-to-replay' : 'no-such-task', status: row.status };
  });
}

/** Why a run could not be replayed, for a clear error: null if it can be (or does not exist). */
export async function runReplayProblem(db: Queryable, params: { runId: string; fromTask: string | null }): Promise<string | null> {
  const result = await db.query<{ status: string; tasks: string[] | null; unfinished: number }>(
    `SELECT r.status,
            (SELECT array_agg(t.task_name ORDER BY t.id) FROM task_run t
              WHERE t.run_id = r.id AND t.kind IN ('standalone', 'dag')) AS tasks,
            (SELECT count(*)::int FROM task_run t
              WHERE t.run_id = r.id AND t.kind IN ('standalone', 'dag') AND t.status <> 'succeeded') AS unfinished
       FROM run r WHERE r.id = $1`,
    [params.runId],
  );
  const row = result.rows[0];
  if (!row) return `no run with id ${params.runId}`;
  if (row.status === 'queued' || row.status === 'running') return `run ${params.runId} is still ${row.status}; cancel it first or wait for it to end`;
  const tasks = row.tasks ?? [];
  if (params.fromTask !== null && !tasks.includes(params.fromTask)) {
    return `run ${params.runId} has no task named ${JSON.stringify(params.fromTask)}; its tasks are ${tasks.join(', ')}`;
  }
  if (row.status === 'succeeded' && params.fromTask === null) return `run ${params.runId} succeeded; name a task to replay it from (fromTask)`;
  // Failed only in its on-success hook: every task succeeded, so there is nothing to pick by default.
  if (params.fromTask === null && row.unfinished === 0) return `every task of run ${params.runId} succeeded (its on-success hook did not); name a task to replay it from (fromTask)`;
  return null;
}
