import type { Queryable } from '../db/driver.ts';
import type { RunOutcome } from '../../shared/protocol.ts';
import type { Attempt, FailureReason, Json, Run, RunStatus, TaskError, TaskRun, TaskRunStatus } from '../../shared/types.ts';
import { toDate, toDateOrNull, toFailureReason, toJsonOrNull, toTaskError } from './rows.ts';

/**
 * What is known of the given runs: the outcomes of those that have finished, and the ids that match
 * no run at all (to tell "unknown run" from "not finished yet"). One query.
 */
export async function runOutcomeList(db: Queryable, params: { runIds: string[] }): Promise<{ outcomes: RunOutcome[]; unknown: string[] }> {
  if (params.runIds.length === 0) return { outcomes: [], unknown: [] };
  const result = await db.query<{ id: string; status: RunStatus; output: Json | null; error: TaskError | null; failure_reason: FailureReason | null }>(
    `SELECT id, status, output, error, failure_reason FROM run WHERE id = ANY($1::uuid[])`,
    [params.runIds],
  );
  const found = new Set(result.rows.map((r) => r.id));
  return {
    outcomes: result.rows
      .filter((r) => r.status === 'succeeded' || r.status === 'failed' || r.status === 'cancelled')
      .map((r) => ({
        runId: r.id,
        status: r.status,
        output: toJsonOrNull(r.output),
        error: toTaskError(r.error),
        failureReason: toFailureReason(r.failure_reason),
      })),
    unknown: params.runIds.filter((id) => !found.has(id)),
  };
}

export interface RunDetails {
  run: Run;
  taskRuns: TaskRun[];
  attempts: Attempt[];
}

export async function runGet(db: Queryable, params: { runId: string }): Promise<RunDetails | null> {
  const runs = await db.query<Record<string, unknown>>(`SELECT * FROM run WHERE id = $1`, [params.runId]);
  const row = runs.rows[0];
  if (!row) return null;
  const tasks = await db.query<Record<string, unknown>>(`SELECT * FROM task_run WHERE run_id = $1 ORDER BY id`, [params.runId]);
  const attempts = await db.query<Record<string, unknown>>(
    `SELECT a.* FROM attempt a JOIN task_run t ON t.id = a.task_run_id WHERE t.run_id = $1 ORDER BY a.task_run_id, a.attempt`,
    [params.runId],
  );
  return {
    run: {
      id: row.id as string,
      workflowName: row.workflow_name as string,
      workflowVersion: row.workflow_version as number,
      status: row.status as RunStatus,
      input: row.input as Json,
      output: toJsonOrNull(row.output),
      error: toTaskError(row.error),
      failureReason: toFailureReason(row.failure_reason),
      metadata: row.metadata as Record<string, string>,
      createdAt: toDate(row.created_at),
      finishedAt: toDateOrNull(row.finished_at),
    },
    taskRuns: tasks.rows.map((t) => ({
      id: t.id as string,
      runId: t.run_id as string,
      action: t.action as string,
      status: t.status as TaskRunStatus,
      priority: t.priority as number,
      input: (t.input ?? row.input) as Json,
      output: toJsonOrNull(t.output),
      error: toTaskError(t.error),
      failureReason: toFailureReason(t.failure_reason),
      attempt: t.attempt as number,
      maxAttempts: t.max_attempts as number,
      workerId: (t.worker_id as string | null) ?? null,
      availableAt: toDate(t.available_at),
      assignedAt: toDateOrNull(t.assigned_at),
      startedAt: toDateOrNull(t.started_at),
      timeoutAt: toDateOrNull(t.timeout_at),
      finishedAt: toDateOrNull(t.finished_at),
      createdAt: toDate(t.created_at),
    })),
    attempts: attempts.rows.map((a) => ({
      taskRunId: a.task_run_id as string,
      attempt: a.attempt as number,
      workerId: (a.worker_id as string | null) ?? null,
      status: a.status as Attempt['status'],
      failureReason: toFailureReason(a.failure_reason),
      error: toTaskError(a.error),
      assignedAt: toDate(a.assigned_at),
      startedAt: toDateOrNull(a.started_at),
      finishedAt: toDate(a.finished_at),
    })),
  };
}

/**
 * Live task runs by status, for `cleaver status`. Each count reads one partial index (queued, or
 * assigned/running), so it stays cheap however much finished history the table holds.
 */
export async function taskRunLiveCounts(db: Queryable): Promise<Record<string, number>> {
  const result = await db.query<{ queued: number; assigned: number; running: number }>(
    `SELECT (SELECT count(*) FROM task_run WHERE status = 'queued') AS queued,
            (SELECT count(*) FROM task_run WHERE status IN ('assigned', 'running') AND status = 'assigned') AS assigned,
            (SELECT count(*) FROM task_run WHERE status IN ('assigned', 'running') AND status = 'running') AS running`,
  );
  const row = result.rows[0]!;
  return { queued: Number(row.queued), assigned: Number(row.assigned), running: Number(row.running) };
}
