import type { Queryable } from '../db/driver.ts';
import type { AttemptRecord, EventRecord, RunDetails, RunRecord, RunShape, TaskRunRecord } from '../../shared/admin-api.ts';
import { RUN_STATUSES, type AttemptStatus, type Json, type RunStatus, type TaskRunKind, type TaskRunStatus } from '../../shared/types.ts';
import { workflowAction } from '../../shared/workflow-definition.ts';
import type { StoredDefinition } from './workflow-register.ts';
import { eventFromRow, EVENT_COLUMNS, type EventRow } from './event.ts';
import { RUN_SUMMARY_COLUMNS, childrenOfRunSql, toRunSummary, type RunSummaryRow } from './run-list.ts';
import { RUN_OUTPUT_SQL, toDate, toFailureReason, toIsoOrNull, toJsonOrNull, toTaskError } from './rows.ts';

/**
 * Everything the run view shows, in one call: the run, the DAG of its workflow version, its task runs
 * with their attempts, the event that triggered it, the task run that spawned it and how many runs its
 * tasks spawned (the children themselves are paged with runList's parentRunId filter: a fan-out can
 * have thousands). The parts are independent queries issued together; null when no run has the id.
 */
export async function runDetailsGet(db: Queryable, params: { runId: string }): Promise<RunDetails | null> {
  const [runs, taskRuns, attempts, events, parents, children] = await Promise.all([
    db.query<RunSummaryRow & { input: Json; output: Json | null; error: unknown; child_key: string | null; definition: StoredDefinition | null }>(
      `SELECT ${RUN_SUMMARY_COLUMNS}, r.input, r.error, r.child_key, v.definition, ${RUN_OUTPUT_SQL} AS output
         FROM run r
         LEFT JOIN workflow_version v ON v.workflow_name = r.workflow_name AND v.version = r.workflow_version
        WHERE r.id = $1`,
      [params.runId],
    ),
    db.query<Record<string, unknown>>(`SELECT * FROM task_run WHERE run_id = $1 ORDER BY id`, [params.runId]),
    db.query<Record<string, unknown>>(
      `SELECT a.* FROM attempt a JOIN task_run t ON t.id = a.task_run_id
        WHERE t.run_id = $1 ORDER BY a.task_run_id, a.attempt`,
      [params.runId],
    ),
    db.query<EventRow>(`SELECT ${EVENT_COLUMNS} FROM event e JOIN run r ON r.event_id = e.id WHERE r.id = $1`, [params.runId]),
    db.query<{ run_id: string; task_run_id: string; task_name: string; workflow_name: string; status: RunStatus }>(
      `SELECT p.id AS run_id, t.id AS task_run_id, t.task_name, p.workflow_name, p.status
         FROM run r JOIN task_run t ON t.id = r.parent_task_run_id JOIN run p ON p.id = t.run_id
        WHERE r.id = $1`,
      [params.runId],
    ),
    db.query<{ status: RunStatus; n: number }>(
      `SELECT c.status, count(*)::int AS n FROM ${childrenOfRunSql('$1::uuid', 'c')} GROUP BY c.status`,
      [params.runId],
    ),
  ]);
  const row = runs.rows[0];
  if (!row) return null;
  const run: RunRecord = {
    ...toRunSummary(row),
    input: row.input,
    output: toJsonOrNull(row.output),
    error: toTaskError(row.error),
    childKey: row.child_key,
  };
  const shape = runShape(row.definition);
  // Task runs in the order of the shape's nodes (the workflow's task order), which ids do not keep:
  // a workflow's task runs are made in one statement, within the same millisecond.
  const position = new Map(shape.nodes.map((n, i) => [n.taskName, i]));
  const records = taskRuns.rows
    .map((t) => toTaskRunRecord(t, run.input))
    .sort((a, b) => (position.get(a.taskName) ?? position.size) - (position.get(b.taskName) ?? position.size));
  return {
    run,
    shape,
    taskRuns: records,
    attempts: attempts.rows.map(toAttemptRecord),
    events: events.rows.map(eventFromRow) satisfies EventRecord[],
    parent: parents.rows[0]
      ? { runId: parents.rows[0].run_id, taskRunId: parents.rows[0].task_run_id, taskName: parents.rows[0].task_name, workflowName: parents.rows[0].workflow_name, status: parents.rows[0].status }
      : null,
    childCounts: childCountsOf(children.rows),
  };
}

function childCountsOf(rows: Array<{ status: RunStatus; n: number }>): RunDetails['childCounts'] {
  const byStatus = Object.fromEntries(RUN_STATUSES.map((s) => [s, 0])) as Record<RunStatus, number>;
  for (const row of rows) byStatus[row.status] = Number(row.n);
  return { total: RUN_STATUSES.reduce((n, s) => n + byStatus[s], 0), byStatus };
}

/** The DAG of a workflow version's definition: its tasks with edges parent → child, then its hooks. */
export function runShape(definition: StoredDefinition | null): RunShape {
  if (definition === null) return { nodes: [], edges: [] };
  if (definition.kind === 'task') {
    return { nodes: [{ taskName: definition.task.name, kind: 'standalone', action: definition.task.name }], edges: [] };
  }
  const workflow = definition.workflow;
  const nodes: RunShape['nodes'] = workflow.tasks.map((t) => ({ taskName: t.name, kind: 'dag', action: workflowAction(workflow.name, t.name) }));
  const edges = workflow.tasks.flatMap((t) => (t.parents ?? []).map((parent) => ({ from: parent, to: t.name })));
  const hooks: Array<[TaskRunKind, unknown]> = [
    ['on_failure', workflow.onFailure],
    ['on_success', workflow.onSuccess],
  ];
  for (const [kind, hook] of hooks) {
    if (hook !== null && typeof hook === 'object' && typeof (hook as { name?: unknown }).name === 'string') {
      const name = (hook as { name: string }).name;
      nodes.push({ taskName: name, kind, action: workflowAction(workflow.name, name) });
    }
  }
  return { nodes, edges };
}

function toTaskRunRecord(t: Record<string, unknown>, runInput: Json): TaskRunRecord {
  return {
    id: t.id as string,
    runId: t.run_id as string,
    taskName: t.task_name as string,
    action: t.action as string,
    kind: t.kind as TaskRunKind,
    status: t.status as TaskRunStatus,
    parents: (t.parents as string[] | null) ?? [],
    priority: t.priority as number,
    input: t.input === null || t.input === undefined ? runInput : (t.input as Json),
    output: toJsonOrNull(t.output),
    error: toTaskError(t.error),
    failureReason: toFailureReason(t.failure_reason),
    attempt: t.attempt as number,
    maxAttempts: t.max_attempts as number,
    workerId: (t.worker_id as string | null) ?? null,
    availableAt: toDate(t.available_at).toISOString(),
    assignedAt: toIsoOrNull(t.assigned_at),
    startedAt: toIsoOrNull(t.started_at),
    timeoutAt: toIsoOrNull(t.timeout_at),
    finishedAt: toIsoOrNull(t.finished_at),
    createdAt: toDate(t.created_at).toISOString(),
    waitReason: null,
  };
}

function toAttemptRecord(a: Record<string, unknown>): AttemptRecord {
  return {
    taskRunId: a.task_run_id as string,
    attempt: a.attempt as number,
    workerId: (a.worker_id as string | null) ?? null,
    status: a.status as AttemptStatus,
    failureReason: toFailureReason(a.failure_reason),
    error: toTaskError(a.error),
    assignedAt: toDate(a.assigned_at).toISOString(),
    startedAt: toIsoOrNull(a.started_at),
    finishedAt: toDate(a.finished_at).toISOString(),
  };
}
