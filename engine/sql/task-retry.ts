import type { Queryable } from '../db/driver.ts';
import type { TaskRunKind, TaskRunStatus } from '../../shared/types.ts';

/** What retrying one task run needs to know of it: its run, name, kind and status. */
export async function taskRunForRetry(
  db: Queryable,
  params: { taskRunId: string },
): Promise<{ runId: string; taskName: string; kind: TaskRunKind; status: TaskRunStatus } | null> {
  const result = await db.query<{ run_id: string; task_name: string; kind: TaskRunKind; status: TaskRunStatus }>(
    `SELECT run_id, task_name, kind, status FROM task_run WHERE id = $1`,
    [params.taskRunId],
  );
  const row = result.rows[0];
  return row ? { runId: row.run_id, taskName: row.task_name, kind: row.kind, status: row.status } : null;
}
