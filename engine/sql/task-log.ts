import type { Queryable } from '../db/driver.ts';
import type { LogLevel, TaskLogLine } from '../../shared/types.ts';
import { isoOrNull, toDate } from './rows.ts';

export async function taskLogInsert(
  db: Queryable,
  params: { lines: Array<{ taskRunId: string; attempt: number; level: LogLevel; message: string; at: number }> },
): Promise<void> {
  if (params.lines.length === 0) return;
  const items = params.lines.map((l) => ({
    task_run_id: l.taskRunId,
    attempt: l.attempt,
    level: l.level,
    message: l.message,
    created_at: isoOrNull(l.at),
  }));
  await db.query(
    `INSERT INTO task_log (task_run_id, attempt, level, message, created_at)
     SELECT task_run_id, attempt, level, message, COALESCE(created_at, now())
       FROM jsonb_to_recordset($1::jsonb)
         AS l(task_run_id uuid, attempt int, level text, message text, created_at timestamptz)`,
    [JSON.stringify(items)],
  );
}

export async function taskLogList(db: Queryable, params: { taskRunId: string; limit: number }): Promise<TaskLogLine[]> {
  const result = await db.query<{ task_run_id: string; attempt: number; level: LogLevel; message: string; created_at: Date }>(
    `SELECT task_run_id, attempt, level, message, created_at FROM task_log
      WHERE task_run_id = $1 ORDER BY id LIMIT $2`,
    [params.taskRunId, params.limit],
  );
  return result.rows.map((r) => ({
    taskRunId: r.task_run_id,
    attempt: r.attempt,
    level: r.level,
    message: r.message,
    createdAt: toDate(r.created_at),
  }));
}
