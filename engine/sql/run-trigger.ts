import type { NamedStatement, Queryable } from '../db/driver.ts';
import type { Json } from '../../shared/types.ts';

export interface RunToCreate {
  runId: string;
  taskRunId: string;
  input: Json;
  metadata: Record<string, string>;
  priority: number | null;
}

/** The first attempt of a task run created already assigned to a worker. */
export interface DirectlyAssigned {
  taskRunId: string;
  attempt: number;
  timeoutMs: number;
}

const RUN_TRIGGER: NamedStatement = {
  name: 'cleaver_run_trigger',
  text: `WITH def AS (
       SELECT v.workflow_name, v.version, v.definition -> 'task' AS task
         FROM workflow w
         JOIN workflow_version v ON v.workflow_name = w.name AND v.version = w.latest_version
        WHERE w.name = $1
     ),
     items AS (
       SELECT * FROM jsonb_to_recordset($2::jsonb)
         AS i(run_id uuid, task_run_id uuid, input jsonb, metadata jsonb, priority smallint, ord int)
     ),
     runs AS (
       INSERT INTO run (id, workflow_name, workflow_version, status, input, metadata, trigger_kind)
       SELECT i.run_id, def.workflow_name, def.version, 'queued', i.input, COALESCE(i.metadata, '{}'::jsonb), $3
         FROM items i CROSS JOIN def
       RETURNING id
     ),
     tasks AS (
       INSERT INTO task_run (id, run_id, task_name, action, status, priority, max_attempts, backoff_factor,
                             backoff_max_seconds, execution_timeout_ms, schedule_timeout_ms, schedule_deadline,
                             attempt, worker_id, assigned_at, timeout_at)
       SELECT i.task_run_id, i.run_id, def.task ->> 'name', def.task ->> 'name',
              CASE WHEN i.ord <= $6::int THEN 'assigned' ELSE 'queued' END,
              COALESCE(i.priority, (def.task ->> 'defaultPriority')::smallint),
              (def.task ->> 'retries')::int + 1,
              (def.task -> 'backoff' ->> 'factor')::float8,
              (def.task -> 'backoff' ->> 'maxSeconds')::float8,
              (def.task ->> 'executionTimeoutMs')::int,
              (def.task ->> 'scheduleTimeoutMs')::int,
              now() + (def.task ->> 'scheduleTimeoutMs')::int * interval '1 millisecond',
              CASE WHEN i.ord <= $6::int THEN 1 ELSE 0 END,
              CASE WHEN i.ord <= $6::int THEN $5::uuid END,
              CASE WHEN i.ord <= $6::int THEN now() END,
              CASE WHEN i.ord <= $6::int THEN now() + (def.task ->> 'executionTimeoutMs')::int * interval '1 millisecond' END
         FROM items i CROSS JOIN def
       RETURNING id, status, attempt, execution_timeout_ms
     )
     SELECT (SELECT version FROM def) AS version,
            (SELECT task ->> 'name' FROM def) AS action,
            (SELECT count(*) FROM runs) AS runs,
            (SELECT jsonb_agg(jsonb_build_object('id', id, 'attempt', attempt, 'timeout', execution_timeout_ms))
               FROM tasks WHERE status = 'assigned') AS assigned,
            CASE WHEN $4::text IS NOT NULL AND EXISTS (SELECT 1 FROM def) AND $6::int < (SELECT count(*) FROM items)
                 THEN pg_notify('cleaver_task_queued', $4::text || ':' || (SELECT task ->> 'name' FROM def)) END AS notified`,
};

/**
 * Creates runs and their task runs for the latest version of a workflow in one statement, whatever
 * the batch size (bulk triggers are one round trip). The task policy is read from the stored
 * definition inside the same statement, so no engine-side cache can be stale. Returns null when the
 * workflow is unknown (nothing is inserted then).
 *
 * `assignTo`: when the engine already knows a worker with free slots and no backlog for the action,
 * the first `count` task runs are created with their first attempt assigned to it, saving the claim's
 * round trip on the way to the worker. The rest are queued, and NOTIFY wakes other engines for them.
 */
export async function runTrigger(
  db: Queryable,
  params: {
    workflowName: string;
    runs: RunToCreate[];
    triggerKind: 'manual' | 'event' | 'child' | 'cron';
    /** When set, NOTIFY cleaver_task_queued '<notifyFrom>:<action>' at commit, waking other engines. */
    notifyFrom: string | null;
    assignTo?: { workerId: string; count: number } | null;
  },
): Promise<{ version: number; action: string; assigned: DirectlyAssigned[] } | null> {
  const items = params.runs.map((r, i) => ({
    ord: i + 1,
    run_id: r.runId,
    task_run_id: r.taskRunId,
    input: r.input,
    metadata: r.metadata,
    priority: r.priority,
  }));
  const result = await db.query<{
    version: number | null;
    action: string | null;
    assigned: Array<{ id: string; attempt: number; timeout: number }> | null;
  }>(RUN_TRIGGER, [
    params.workflowName,
    JSON.stringify(items),
    params.triggerKind,
    params.notifyFrom,
    params.assignTo?.workerId ?? null,
    params.assignTo?.count ?? 0,
  ]);
  const row = result.rows[0];
  if (!row || row.version === null || row.action === null) return null;
  return {
    version: row.version,
    action: row.action,
    assigned: (row.assigned ?? []).map((a) => ({ taskRunId: a.id, attempt: a.attempt, timeoutMs: a.timeout })),
  };
}
