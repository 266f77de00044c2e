/**
 * The scheduler's statements (docs/scheduler.md): read a queue's window of candidates, write a batch of
 * decided assignments under the lease's fence, and read the assignments of another engine's decisions
 * for this engine's workers. Admission itself — which task run goes where — is decided in memory
 * (engine/scheduler/decide.ts), never here.
 */
import type { NamedStatement, Queryable } from '../db/driver.ts';
import type { AssignedTask } from '../../shared/protocol.ts';
import { assignedColumns } from './enqueue.ts';
import { schedulerLeaseFence } from './scheduler-lease.ts';

/**
 * A task run lost with its worker this many times is a suspect: it may be what takes its workers down.
 * A worker runs at most one suspect at a time, so the tasks lost together with a crashing one are not
 * assigned together with it again and again, each loss counted against every one of them. The first
 * loss is no suspicion (a worker killed from outside takes all its attempts with it); its victims come
 * back at once, anywhere.
 */
export const SUSPECT_AFTER_LOSSES = 2;

export interface QueuedCandidate {
  taskRunId: string;
  action: string;
  priority: number;
  /** ms since the epoch: a retry's backoff ends then. */
  availableAt: number;
  suspect: boolean;
  /** What its flow rules are evaluated on: read only for the queues that have rules. */
  detail?: CandidateDetail;
}

export interface CandidateDetail {
  runId: string;
  workflowVersion: number;
  input: unknown;
  metadata: Record<string, string>;
  /** Its parents' outputs, by task name (a workflow's task). */
  parents: Record<string, unknown> | null;
  /** Its run already holds its workflow's keys (a task of it was admitted before). */
  runAdmitted: boolean;
}

const WINDOW_COLUMNS = `t.id, t.action, t.priority, (extract(epoch FROM t.available_at) * 1000)::float8 AS available_at,
            t.worker_lost_count >= ${SUSPECT_AFTER_LOSSES} AS suspect`;
const DETAIL_COLUMNS = `, t.run_id, r.workflow_version, COALESCE(t.input, r.input) AS input, r.metadata,
            r.concurrency_keys IS NOT NULL AS run_admitted,
            CASE WHEN t.parents IS NOT NULL
                 THEN (SELECT jsonb_object_agg(p.task_name, p.output) FROM task_run p
                        WHERE p.run_id = t.run_id AND p.task_name = ANY(t.parents) AND p.status = 'succeeded') END AS parents`;

/**
 * One queue's best `limit` candidates, through the queue index (action, priority DESC, id): FIFO reads it
 * forward; LIFO reads each priority backward, best priority first (the same index, no second one to keep
 * up on every insert).
 */
function windowStatement(o: { detail: boolean; lifo: boolean }): NamedStatement {
  const scan = (priority: string, order: string) => `SELECT t.* FROM task_run t
          WHERE t.status = 'queued' AND t.action = a.action AND t.schedule_deadline > now()${priority}
          ORDER BY ${order}
          LIMIT $2`;
  const inner = o.lifo
    ? [3, 2, 1].map((p) => `(${scan(` AND t.priority = ${p}`, 't.id DESC')})`).join(' UNION ALL ')
    : scan('', 't.priority DESC, t.id');
  return {
    name: `cleaver_task_queue_window_list${o.detail ? '_detail' : ''}${o.lifo ? '_lifo' : ''}`,
    text: `SELECT ${WINDOW_COLUMNS}${o.detail ? DETAIL_COLUMNS : ''}
       FROM unnest($1::text[]) AS a(action)
       CROSS JOIN LATERAL (
         ${inner}
       ) t${o.detail ? ' JOIN run r ON r.id = t.run_id' : ''}`,
  };
}

const WINDOW_STATEMENTS = new Map(
  [false, true].flatMap((detail) => [false, true].map((lifo) => [`${detail}/${lifo}`, windowStatement({ detail, lifo })] as const)),
);

type WindowRow = {
  id: string;
  action: string;
  priority: number;
  available_at: number;
  suspect: boolean;
  run_id?: string;
  workflow_version?: number;
  input?: unknown;
  metadata?: Record<string, string>;
  run_admitted?: boolean;
  parents?: Record<string, unknown> | null;
};

/**
 * The best `limit` queued task runs of each action — best priority first, then oldest (FIFO) or newest
 * (`lifo`) — through each action's own index scan (a deep backlog of one action is never sorted as a
 * whole). With `detail`, each carries what its flow rules are evaluated on. Task runs past their
 * schedule deadline are left for the schedule-timeout sweep.
 */
export async function taskQueueWindowList(
  db: Queryable,
  params: { actions: readonly string[]; limit: number; detail?: boolean; lifo?: boolean },
): Promise<QueuedCandidate[]> {
  if (params.actions.length === 0 || params.limit <= 0) return [];
  const statement = WINDOW_STATEMENTS.get(`${params.detail === true}/${params.lifo === true}`)!;
  const result = await db.query<WindowRow>(statement, [params.actions, params.limit]);
  return result.rows.map((r) => {
    const c: QueuedCandidate = { taskRunId: r.id, action: r.action, priority: r.priority, availableAt: Number(r.available_at), suspect: r.suspect };
    if (params.detail) {
      c.detail = {
        runId: r.run_id!,
        workflowVersion: r.workflow_version!,
        input: r.input ?? null,
        metadata: r.metadata ?? {},
        parents: r.parents ?? null,
        runAdmitted: r.run_admitted === true,
      };
    }
    return c;
  });
}

/**
 * What a worker is sent for an attempt, read from `c` (the attempt's task_run row) joined to `r` (its
 * run). `succeededHere`: a relation (run_id, task_name, output) of the task runs the same statement
 * ended as succeeded — a data-modifying CTE's writes are not visible to the rest of its statement, so
 * the outputs it stores are taken from its own rows.
 */
export function assignedPayload(o: { succeededHere?: string } = {}): string {
  const stored = `FROM task_run p
                        WHERE p.run_id = c.run_id AND p.task_name = ANY(c.parents) AND p.status = 'succeeded'`;
  const parents = o.succeededHere
    ? `SELECT jsonb_object_agg(x.task_name, x.output)
                         FROM (SELECT p.task_name, p.output ${stored}
                               UNION ALL
                               SELECT h.task_name, h.output FROM ${o.succeededHere} h WHERE h.run_id = c.run_id AND h.task_name = ANY(c.parents)) x`
    : `SELECT jsonb_object_agg(p.task_name, p.output) ${stored}`;
  return `c.id, c.run_id, c.action, COALESCE(c.input, r.input) AS input, r.metadata, c.attempt, c.execution_timeout_ms,
            c.worker_id, c.worker_lost_count >= ${SUSPECT_AFTER_LOSSES} AS suspect,
            -- Workflow tasks get their parents' outputs; hooks get every task's, and the failures.
            CASE WHEN c.parents IS NOT NULL THEN (${parents}) END AS parents,
            CASE WHEN c.kind IN ('on_failure', 'on_success')
                 THEN (SELECT COALESCE(jsonb_agg(jsonb_build_object('taskName', p.task_name, 'taskRunId', p.id,
                                                                    'failureReason', p.failure_reason, 'error', p.error) ORDER BY p.id), '[]')
                         FROM task_run p
                        WHERE p.run_id = c.run_id AND p.kind = 'dag' AND p.status IN ('failed', 'cancelled')
                          AND p.failure_reason IS DISTINCT FROM 'UPSTREAM_FAILED') END AS failures`;
}

const ASSIGNED_PAYLOAD = assignedPayload();

/**
 * The assign statement, in two shapes built from one text. `flow` (the full one) also writes what flow
 * control decided: a workflow's keys held by its run from its first admission, and the rate windows the
 * decision consumed. Without it the statement writes assignments only, for a batch with no keys and no
 * rate windows: the CTEs it leaves out would change nothing, yet each one's plan is set up on every
 * execution, which for the small batches of a few busy slots is a good part of the statement.
 */
function assignStatement(o: { flow: boolean }): NamedStatement {
  return {
    name: o.flow ? 'cleaver_task_assign' : 'cleaver_task_assign_plain',
    text: `WITH d AS (
       SELECT * FROM unnest($1::uuid[], $2::uuid[], $7::jsonb[], $8::jsonb[]) AS d(id, worker_id, keys, run_keys)
     ),
     fence AS (
       SELECT ${schedulerLeaseFence('$3::smallint', '$4::uuid', '$5::bigint')} AS held
     ),
     locked AS (
       SELECT t.id FROM task_run t JOIN d ON d.id = t.id
         -- Never to a worker seen gone or draining since the decision (its engine wrote so).
         JOIN worker w ON w.id = d.worker_id AND w.status = 'active', fence
        WHERE fence.held AND t.status = 'queued' AND t.available_at <= now() AND t.schedule_deadline > now()
        ORDER BY t.id
          FOR UPDATE OF t
     ),
     c AS (
       UPDATE task_run t
          -- assigned_at is the decision's time: what rate limits were counted at (an audit reads this).
          SET ${assignedColumns('t', { workerId: 'd.worker_id', assignedAt: 'COALESCE(to_timestamp($9::float8 / 1000), now())', keys: 'd.keys' })}
         FROM d JOIN locked USING (id)
        WHERE t.id = d.id
       RETURNING t.*
     ),
${o.flow ? `     -- A workflow's keys are held by its run from its first admission.
     admitted AS (
       UPDATE run r SET concurrency_keys = d.run_keys
         FROM c JOIN d ON d.id = c.id
        WHERE r.id = c.run_id AND d.run_keys IS NOT NULL AND r.concurrency_keys IS NULL
     ),
     -- The rate windows the decision consumed, under the same fence: a new holder continues from them.
     -- A dynamic key is made on first use; a static one is only ever updated (one deleted since this
     -- holder last read the keys stays deleted).
     rates AS (
       SELECT * FROM jsonb_to_recordset($10::jsonb) AS x(key text, kind text, limit_units int, duration text, state jsonb), fence
        WHERE fence.held
     ),
     dynamic_rates AS (
       INSERT INTO rate_limit (key, kind, limit_units, duration, state)
       SELECT key, 'dynamic', limit_units, duration, state FROM rates WHERE kind = 'dynamic'
       ON CONFLICT (key) DO UPDATE SET state = EXCLUDED.state, updated_at = now()
     ),
     static_rates AS (
       UPDATE rate_limit l SET state = rates.state, updated_at = now()
         FROM rates WHERE rates.kind = 'static' AND l.key = rates.key
     ),
` : ''}     -- Workers attached to other engines hear of their assignments from their engine, woken here.
     notified AS (
       SELECT count(pg_notify('cleaver_assigned', w.engine_id::text))
         FROM (SELECT DISTINCT worker_id FROM c) a
         JOIN worker w ON w.id = a.worker_id
        WHERE $6::boolean AND w.engine_id IS DISTINCT FROM $4::uuid
     )
     SELECT ${ASSIGNED_PAYLOAD}, (SELECT held FROM fence) AS held, (SELECT * FROM notified) AS notified
       FROM c JOIN run r ON r.id = c.run_id
      ORDER BY c.priority DESC, c.id`,
  };
}

const TASK_ASSIGN = assignStatement({ flow: true });
const TASK_ASSIGN_PLAIN = assignStatement({ flow: false });

/** Concurrency keys as stored: [[rule, key], …]. */
export type KeyPairs = ReadonlyArray<readonly [rule: string, key: string]>;

/** A rate window as the scheduler stores it (`limit` and `duration` only make a dynamic key). */
export interface RateState {
  key: string;
  kind: 'static' | 'dynamic';
  limit: number;
  duration: string;
  state: unknown;
}

export interface Assigned {
  workerId: string;
  task: AssignedTask;
  suspect: boolean;
}

/** One row of assignedPayload. */
export type PayloadRow = {
  id: string;
  run_id: string;
  action: string;
  input: AssignedTask['input'];
  metadata: Record<string, string>;
  attempt: number;
  execution_timeout_ms: number;
  worker_id: string;
  suspect: boolean;
  parents: AssignedTask['parents'] | null;
  failures: AssignedTask['failures'] | null;
};

export function toAssigned(row: PayloadRow): Assigned {
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
  return { workerId: row.worker_id, task, suspect: row.suspect };
}

/**
 * Writes decided assignments: each task run that is still queued and due starts a new attempt on its
 * worker (status assigned, attempt + 1, lease from now). Those no longer queued (cancelled, taken by a
 * previous holder's last write), and those for a worker no longer active, are skipped. Nothing is written unless this engine holds the lease at
 * `epoch` (`fenced` then says so). Rows are locked in id order, as every statement that locks several
 * task runs does.
 */
export async function taskAssign(
  db: Queryable,
  params: {
    engineId: string;
    epoch: number;
    partition?: number;
    assignments: ReadonlyArray<{ taskRunId: string; workerId: string; keys?: KeyPairs | null; runKeys?: KeyPairs | null }>;
    notify: boolean;
    /** The decision's time (ms): recorded as each attempt's assigned_at (default: the database's now). */
    decidedAt?: number;
    /** Rate windows to store (dynamic keys are made on first use). */
    rateStates?: ReadonlyArray<RateState>;
  },
): Promise<{ assigned: Assigned[]; fenced: boolean }> {
  if (params.assignments.length === 0) return { assigned: [], fenced: false };
  const json = (k: KeyPairs | null | undefined) => (k && k.length > 0 ? JSON.stringify(k) : null);
  const runKeys = params.assignments.map((a) => json(a.runKeys));
  const rates = params.rateStates ?? [];
  // Keys are stored on the task run by both shapes ($7); the run's keys and the rate windows only by the full one.
  const flow = rates.length > 0 || runKeys.some((k) => k !== null);
  const result = await db.query<PayloadRow & { held: boolean }>(flow ? TASK_ASSIGN : TASK_ASSIGN_PLAIN, [
    params.assignments.map((a) => a.taskRunId),
    params.assignments.map((a) => a.workerId),
    params.partition ?? 0,
    params.engineId,
    params.epoch,
    params.notify,
    params.assignments.map((a) => json(a.keys)),
    runKeys,
    params.decidedAt ?? null,
    ...(flow ? [JSON.stringify(rates.map((r) => ({ key: r.key, kind: r.kind, limit_units: r.limit, duration: r.duration, state: r.state })))] : []),
  ]);
  // With nothing assigned there is no row to carry `held`: ask the lease itself.
  const fenced = result.rows.length === 0 ? !(await leaseHeld(db, params)) : false;
  return { assigned: result.rows.map(toAssigned), fenced };
}

async function leaseHeld(db: Queryable, params: { engineId: string; epoch: number; partition?: number }): Promise<boolean> {
  const result = await db.query<{ held: boolean }>(`SELECT ${schedulerLeaseFence('$1::smallint', '$2::uuid', '$3::bigint')} AS held`, [
    params.partition ?? 0,
    params.engineId,
    params.epoch,
  ]);
  return result.rows[0]?.held === true;
}

const TASK_ASSIGNED_LIST: NamedStatement = {
  name: 'cleaver_task_assigned_list',
  text: `SELECT ${ASSIGNED_PAYLOAD}
       FROM task_run c JOIN run r ON r.id = c.run_id
      WHERE c.status = 'assigned' AND c.started_at IS NULL AND c.worker_id = ANY($1::uuid[])
      ORDER BY c.priority DESC, c.id`,
};

/**
 * Attempts assigned to these workers that have not started: what another engine's scheduler decided
 * for workers attached here, to be pushed to them (those already pushed are told apart by the caller).
 */
export async function taskAssignedList(db: Queryable, params: { workerIds: readonly string[] }): Promise<Assigned[]> {
  if (params.workerIds.length === 0) return [];
  const result = await db.query<PayloadRow>(TASK_ASSIGNED_LIST, [params.workerIds]);
  return result.rows.map(toAssigned);
}

export interface WorkerCapacity {
  workerId: string;
  engineId: string;
  actions: string[];
  slots: number;
  busy: number;
  holdsSuspect: boolean;
}

/**
 * The live workers attached to other engines, with what they hold now (for the scheduler holder, which
 * decides for them too). A worker not heard from for `staleMs` is left out, as a stale local one is.
 */
export async function workerCapacityList(db: Queryable, params: { exceptEngineId: string; staleMs: number }): Promise<WorkerCapacity[]> {
  const result = await db.query<{ id: string; engine_id: string; actions: string[]; slots: number; busy: string | number; holds_suspect: boolean }>(
    `SELECT w.id, w.engine_id, w.actions, w.slots, count(t.id) AS busy,
            COALESCE(bool_or(t.worker_lost_count >= ${SUSPECT_AFTER_LOSSES}), false) AS holds_suspect
       FROM worker w
       LEFT JOIN task_run t ON t.worker_id = w.id AND t.status IN ('assigned', 'running')
      WHERE w.status = 'active' AND w.engine_id IS DISTINCT FROM $1::uuid
        AND w.last_heartbeat_at > now() - $2::int * interval '1 millisecond'
      GROUP BY w.id`,
    [params.exceptEngineId, params.staleMs],
  );
  return result.rows.map((r) => ({
    workerId: r.id,
    engineId: r.engine_id,
    actions: r.actions,
    slots: r.slots,
    busy: Number(r.busy),
    holdsSuspect: r.holds_suspect,
  }));
}
