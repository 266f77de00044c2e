import type { NamedStatement, Queryable } from '../db/driver.ts';
import { isoOrNull } from './rows.ts';

const TASK_START: NamedStatement = {
  name: 'cleaver_task_start',
  text: `WITH v AS (
       SELECT * FROM jsonb_to_recordset($1::jsonb) AS v(id uuid, attempt int, started_at timestamptz, worker_id uuid)
     ),
     started AS (
       UPDATE task_run t
          SET status = 'running', started_at = COALESCE(v.started_at, now()),
              -- GREATEST: a ctx.refreshTimeout() that reached the database first is not undone.
              timeout_at = GREATEST(t.timeout_at, now() + t.execution_timeout_ms * interval '1 millisecond')
         FROM v
        WHERE t.id = v.id AND t.attempt = v.attempt AND t.status = 'assigned'
          AND (v.worker_id IS NULL OR t.worker_id = v.worker_id)
       RETURNING t.run_id
     ),
     runs AS (
       UPDATE run r SET status = 'running'
        WHERE r.id IN (SELECT run_id FROM started) AND r.status = 'queued'
     )
     SELECT count(*) AS started FROM started`,
};

/**
 * Marks attempts as running (batch) and their runs as running. Fenced by attempt and by worker: a
 * start report for a superseded attempt, or from a worker that does not hold it, changes nothing. The lease is renewed from the database clock.
 */
export async function taskStart(
  db: Queryable,
  params: { starts: Array<{ taskRunId: string; attempt: number; startedAt: number; workerId: string | null }> },
): Promise<number> {
  if (params.starts.length === 0) return 0;
  const items = params.starts.map((s) => ({ id: s.taskRunId, attempt: s.attempt, started_at: isoOrNull(s.startedAt), worker_id: s.workerId }));
  const result = await db.query<{ started: string }>(
    TASK_START,
    [JSON.stringify(items)],
  );
  return Number(result.rows[0]?.started ?? 0);
}
