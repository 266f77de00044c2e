import type { Queryable } from '../db/driver.ts';
import type { TaskLogRecord } from '../../shared/admin-api.ts';
import type { LogLevel } from '../../shared/types.ts';
import { pageSize } from './run-list.ts';
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

/**
 * A task run's log lines in the order they were written, from after `afterId` (the last id a reader
 * has seen, so it can follow a running task's log).
 */
export async function taskLogList(
  db: Queryable,
  params: { taskRunId: string; limit?: number; afterId?: number },
): Promise<Array<TaskLogRecord & { id: number }>> {
  const limit = pageSize(params.limit, { fallback: 1000, max: 10_000 });
  const result = await db.query<{ id: number; task_run_id: string; attempt: number; level: LogLevel; message: string; created_at: Date }>(
    `SELECT id, task_run_id, attempt, level, message, created_at FROM task_log
      WHERE task_run_id = $1 AND id > $2::bigint
      ORDER BY id LIMIT $3`,
    [params.taskRunId, params.afterId ?? 0, limit],
  );
  return result.rows.map((r) => ({
    id: Number(r.id),
    taskRunId: r.task_run_id,
    attempt: r.attempt,
    level: r.level,
    message: r.message,
    createdAt: toDate(r.created_at).toISOString(),
  }));
}
