import type { Queryable } from '../db/driver.ts';
import type { RunOutcome } from '../../shared/protocol.ts';
import type { FailureReason, Json, RunStatus, TaskError } from '../../shared/types.ts';
import { RUN_OUTPUT_SQL, toFailureReason, toJsonOrNull, toTaskError } from './rows.ts';

/**
 * What is known of the given runs: the outcomes of those that have finished, and the ids that match
 * no run at all (to tell "unknown run" from "not finished yet"). One query.
 */
export async function runOutcomeList(db: Queryable, params: { runIds: string[] }): Promise<{ outcomes: RunOutcome[]; unknown: string[] }> {
  if (params.runIds.length === 0) return { outcomes: [], unknown: [] };
  const result = await db.query<{ id: string; status: RunStatus; output: Json | null; error: TaskError | null; failure_reason: FailureReason | null }>(
    `SELECT r.id, r.status, r.error, r.failure_reason, ${RUN_OUTPUT_SQL} AS output
       FROM run r WHERE r.id = ANY($1::uuid[])`,
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

/** The status of each of these runs that exists (a missing id has no entry). */
export async function runStatusesGet(db: Queryable, params: { runIds: string[] }): Promise<Map<string, RunStatus>> {
  if (params.runIds.length === 0) return new Map();
  const result = await db.query<{ id: string; status: RunStatus }>(`SELECT id, status FROM run WHERE id = ANY($1::uuid[])`, [params.runIds]);
  return new Map(result.rows.map((r) => [r.id, r.status]));
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
