import type { NamedStatement, Queryable } from '../db/driver.ts';
import type { FailureReason, Json, TaskError } from '../../shared/types.ts';
import { isoOrNull, toTaskError } from './rows.ts';
import { freshColumns, notifyQueued, releasedColumns, retryColumns, scheduleDeadline } from './enqueue.ts';
import { schedulerLeaseFence } from './scheduler-lease.ts';
import { assignedPayload, toAssigned, type Assigned, type PayloadRow } from './task-assign.ts';

/**
 * The finish statement, in three shapes built from one text. `workflows` (the full one) also takes a DAG
 * task's pending descendants down with it, releases its children and starts its run's hooks. Without it
 * the statement finishes standalone task runs only (`kind = 'standalone'`, found by id like the full one;
 * any other row is left for the full statement): what it leaves out are CTEs that find nothing for a
 * standalone task, yet each one's plan is set up on every execution, and for the small batches of a
 * few busy slots that set-up is most of a finish (measured: 740 → 510 µs for one task run).
 *
 * `direct` (the full one and more) also assigns the children it releases to worker slots the scheduler
 * reserved for their actions ($4: action, worker, count), fenced by the scheduler lease as the assign
 * statement is ($5–$7), and returns what each worker is to be sent: a DAG step then reaches its worker
 * without the scheduler's assign statement in between. Only for a batch with reservations, so that the
 * finishes that have none (failures, retries, hooks) set up no more than before.
 */
function finishStatement(o: { workflows: boolean; direct?: boolean }): NamedStatement {
  const wf = (text: string) => (o.workflows ? text : '');
  const direct = (text: string) => (o.direct ? text : '');
  return {
    name: o.direct ? 'cleaver_task_finish_direct' : o.workflows ? 'cleaver_task_finish' : 'cleaver_task_finish_standalone',
    text: `WITH v AS (
       SELECT * FROM jsonb_to_recordset($1::jsonb) AS v(
         id uuid, attempt int, ok boolean, output jsonb, error jsonb, reason text, non_retryable boolean,
         started_at timestamptz, finished_at timestamptz, worker_id uuid, lost_session uuid, orphan boolean)
     ),
${direct(`     -- The scheduler lease, taken FOR SHARE before any task run is locked (cur reads it first): the lock
     -- order of docs/scheduler.md ("Locks, in order"), which the assign statement keeps too. Taken after
     -- them, a renewal or takeover waiting on an assign statement that waits on a task run locked here
     -- would wait in a cycle.
     fence AS (
       SELECT ${schedulerLeaseFence('$5::smallint', '$6::uuid', '$7::bigint')} AS held
     ),
`)}     cur AS (
       SELECT t.id, t.run_id, t.task_name, t.kind, t.action, t.attempt, t.status AS prev_status, t.worker_id,
              t.assigned_at, t.started_at, t.schedule_timeout_ms, t.available_at,
              v.ok, v.output, v.reason,
              CASE WHEN v.reason = 'WORKER_LOST' AND t.worker_lost_count >= $2
                        AND t.attempt - t.worker_lost_count - t.attempt_offset >= t.max_attempts
                   THEN v.error || jsonb_build_object('message',
                          'lost with its worker on attempt ' || t.attempt || ', after ' || t.worker_lost_count
                          || ' free retries of lost attempts and the retries of its policy; does the task crash its worker process? ('
                          || (v.error ->> 'message') || ')')
                   ELSE v.error
              END AS error,
              v.started_at AS reported_started_at, v.finished_at AS reported_finished_at,
              CASE
                WHEN v.ok THEN 'succeeded'
                WHEN v.reason = 'CANCELLED' THEN 'cancelled'
                WHEN v.reason = 'WORKER_LOST' AND t.worker_lost_count < $2 THEN 'queued'
                WHEN v.non_retryable OR t.attempt - t.worker_lost_count - t.attempt_offset >= t.max_attempts THEN 'failed'
                ELSE 'queued'
              END AS next_status,
              -- Losses beyond the free allowance are charged like any failure, backoff included.
              v.reason = 'WORKER_LOST' AND t.worker_lost_count < $2 AS free_loss,
              CASE
                -- A free loss comes back at once: the worker was killed, recover fast. (A task run lost
                -- again is a suspect, claimed one per worker: see SUSPECT_AFTER_LOSSES.)
                WHEN v.reason = 'WORKER_LOST' AND t.worker_lost_count < $2 THEN 0
                WHEN t.backoff_factor IS NULL THEN 0
                ELSE LEAST(COALESCE(t.backoff_max_seconds, 'Infinity'::float8),
                           power(t.backoff_factor, t.attempt - t.worker_lost_count - t.attempt_offset))
              END AS delay_s,
              t.worker_lost_count
         -- Each row found by its id (a lateral lookup, whatever the table's statistics say: a plan that
         -- scanned the table or whole partial indexes cost more than everything else a finish does) and
         -- locked as found, in id order: the order every statement locking several task runs keeps.
         FROM (SELECT * FROM v${direct(' WHERE (SELECT held FROM fence) IS NOT NULL')} ORDER BY v.id) v
         CROSS JOIN LATERAL (
           SELECT * FROM task_run t
            WHERE t.id = v.id AND t.attempt = v.attempt
              -- The schedule-timeout sweep also ends task runs that never left the queue.
              AND (t.status IN ('assigned', 'running')
                   OR (t.status = 'queued' AND v.reason = 'SCHEDULE_TIMEOUT' AND t.schedule_deadline < now()))
              -- A worker's report counts only from the worker that holds the attempt.
              AND (v.worker_id IS NULL OR t.worker_id = v.worker_id)${o.workflows ? '' : `
              -- This shape finishes standalone task runs only.
              AND t.kind = 'standalone'`}
              -- A verdict that a worker session was lost counts only while that session is still the
              -- worker's current one: a worker that reconnected (here or to another engine) keeps its attempt.
              -- The orphan sweep also requires the worker still to be seen as gone.
              AND (v.lost_session IS NULL
                   OR EXISTS (SELECT 1 FROM worker w
                               WHERE w.id = t.worker_id AND w.session_id = v.lost_session
                                 AND (v.orphan IS NOT TRUE OR w.status = 'disconnected')))
              FOR UPDATE
         ) t
     ),
     -- The attempts that ended their task run (succeeded, failed for good, cancelled) …
     ended_rows AS (
       UPDATE task_run t
          SET status = cur.next_status,
              output = CASE WHEN cur.ok THEN cur.output END,
              error = CASE WHEN cur.ok THEN NULL ELSE cur.error END,
              failure_reason = CASE WHEN cur.ok THEN NULL ELSE cur.reason END,
              timeout_at = NULL,
              started_at = COALESCE(cur.reported_started_at, t.started_at),
              finished_at = now()
         FROM cur
        -- By id (= ANY): joined on its own, the update was planned as a scan of the whole table.
        WHERE t.id = cur.id AND cur.next_status <> 'queued'
          AND t.id = ANY(ARRAY(SELECT id FROM cur WHERE next_status <> 'queued'))
     ),
     -- … and those whose task run goes back into the queue for another attempt (enqueue.ts).
     retried_rows AS (
       UPDATE task_run t
          SET ${retryColumns('t', 'cur.delay_s')},
              output = NULL,
              error = cur.error,
              failure_reason = cur.reason,
              -- Counts the free losses only, so the attempts charged to the policy
              -- (attempt - worker_lost_count - attempt_offset) grow once the allowance is spent.
              worker_lost_count = t.worker_lost_count + CASE WHEN cur.free_loss THEN 1 ELSE 0 END,
              started_at = COALESCE(cur.reported_started_at, t.started_at)
         FROM cur
        WHERE t.id = cur.id AND cur.next_status = 'queued'
          AND t.id = ANY(ARRAY(SELECT id FROM cur WHERE next_status = 'queued'))
     ),
     attempts AS (
       INSERT INTO attempt (task_run_id, attempt, worker_id, status, failure_reason, error, assigned_at, started_at, finished_at)
       SELECT cur.id, cur.attempt, cur.worker_id,
              CASE WHEN cur.ok THEN 'succeeded' WHEN cur.reason = 'CANCELLED' THEN 'cancelled' ELSE 'failed' END,
              CASE WHEN cur.ok THEN NULL ELSE cur.reason END,
              CASE WHEN cur.ok THEN NULL ELSE cur.error END,
              COALESCE(cur.assigned_at, now()),
              COALESCE(cur.reported_started_at, cur.started_at),
              COALESCE(cur.reported_finished_at, now())
         FROM cur
        WHERE cur.prev_status <> 'queued'
       ON CONFLICT (task_run_id, attempt) DO NOTHING
     ),
${wf(`     -- Workflows. A task that ended for good other than by success takes its pending descendants with it.
     doomed AS (
       UPDATE task_run d
          SET status = 'cancelled', failure_reason = 'UPSTREAM_FAILED', finished_at = now(),
              error = jsonb_build_object('message', 'not run: task ' || f.task_name || ' did not succeed', 'name', 'UpstreamFailed')
         FROM cur f
        WHERE f.kind = 'dag' AND f.next_status IN ('failed', 'cancelled')
          AND d.run_id = f.run_id AND f.task_name = ANY(d.ancestors) AND d.status = 'pending'
       RETURNING d.id, d.run_id, d.action
     ),
     -- Children of tasks that succeeded lose a pending parent and are queued when none is left; a child
     -- doomed above is left to that update (a row can change once per statement).
     edges AS (
       SELECT c.id, count(*) AS n
         FROM cur p
         JOIN task_run c ON c.run_id = p.run_id AND p.task_name = ANY(c.parents)
        WHERE p.kind = 'dag' AND p.next_status = 'succeeded' AND c.status = 'pending'
          AND NOT EXISTS (SELECT 1 FROM cur f
                           WHERE f.run_id = c.run_id AND f.kind = 'dag' AND f.next_status IN ('failed', 'cancelled')
                             AND f.task_name = ANY(c.ancestors))
        GROUP BY c.id
     ),
${direct(`     -- The slots reserved for the children this batch may release, numbered per action: none unless the
     -- lease is held at the reservation's epoch, and none on a worker seen gone or draining since.
     slots AS (
       SELECT s.action, s.worker_id, row_number() OVER (PARTITION BY s.action ORDER BY s.ord, g.i) AS n
         FROM jsonb_to_recordset($4::jsonb) AS s(action text, worker_id uuid, count int, ord int)
         JOIN worker w ON w.id = s.worker_id AND w.status = 'active'
         CROSS JOIN generate_series(1, s.count) AS g(i)
        WHERE (SELECT held FROM fence)
     ),
     -- The n-th child of an action released here, in queue order (priority, then oldest), takes its n-th
     -- slot; the rest are queued. Read as this statement sees the children: one a concurrent finish
     -- released meanwhile is queued below, never assigned twice (its pending_parents only falls).
     placed AS (
       SELECT x.id, s.worker_id
         FROM (SELECT c.id, c.action, row_number() OVER (PARTITION BY c.action ORDER BY c.priority DESC, c.id) AS n
                 FROM edges e JOIN task_run c ON c.id = e.id
                WHERE c.pending_parents - e.n <= 0) x
         JOIN slots s ON s.action = x.action AND s.n = x.n
     ),
`)}     children AS (
       UPDATE task_run c
          SET pending_parents = c.pending_parents - e.n,
              ${o.direct
                ? releasedColumns('c', "CASE WHEN c.pending_parents - e.n <= 0 THEN 'queued' ELSE 'pending' END", {
                    when: 'c.pending_parents - e.n <= 0 AND p.worker_id IS NOT NULL',
                    workerId: 'p.worker_id',
                  })
                : releasedColumns('c', "CASE WHEN c.pending_parents - e.n <= 0 THEN 'queued' ELSE 'pending' END")}
         FROM edges e${direct(' LEFT JOIN placed p ON p.id = e.id')}
        WHERE c.id = e.id AND c.status = 'pending'
       RETURNING ${o.direct ? 'c.*' : 'c.id, c.action, c.status, c.priority'}
     ),
`)}     -- Per run: how many of its task runs ended here (with the doomed), how many failed, the first error.
     ended AS (
       SELECT x.run_id,
              count(*) AS n,
              count(*) FILTER (WHERE x.failed AND x.kind <> 'on_failure') AS n_failed,
              bool_or(x.kind IN ('on_failure', 'on_success')) AS hook_ended,
              (array_agg(x.next_status) FILTER (WHERE x.kind = 'standalone'))[1] AS task_status,
              (array_agg(x.output) FILTER (WHERE x.kind = 'standalone'))[1] AS output,
              (array_agg(x.error ORDER BY x.id) FILTER (WHERE x.failed AND x.kind <> 'on_failure'))[1] AS error,
              (array_agg(x.reason ORDER BY x.id) FILTER (WHERE x.failed AND x.kind <> 'on_failure'))[1] AS reason
         FROM (SELECT c.run_id, c.id, c.kind, c.next_status, c.next_status IN ('failed', 'cancelled') AS failed,
                      CASE WHEN c.ok THEN c.output END AS output, c.error, c.reason
                 FROM cur c WHERE c.next_status <> 'queued'
${wf(`
               UNION ALL
               SELECT d.run_id, d.id, 'dag', 'cancelled', false, NULL, NULL, NULL FROM doomed d`)}) x
        GROUP BY x.run_id
     ),
     -- The run ends with its last task run; counters stay right under concurrent finishers because the
     -- UPDATE re-reads the run row it waited for. A workflow with a hook for how it went runs it first.
     runs_done AS (
       UPDATE run r
          SET tasks_remaining = CASE WHEN cleaver_hook_to_start(r.kind, r.hook, r.tasks_remaining - e.n, r.tasks_failed + e.n_failed, r.has_on_failure, r.has_on_success) IS NOT NULL
                                     THEN 1 ELSE r.tasks_remaining - e.n END,
              tasks_failed = r.tasks_failed + e.n_failed,
              hook = COALESCE(cleaver_hook_to_start(r.kind, r.hook, r.tasks_remaining - e.n, r.tasks_failed + e.n_failed, r.has_on_failure, r.has_on_success), r.hook),
              status = CASE
                         WHEN r.kind = 'task' THEN e.task_status
                         WHEN r.tasks_remaining - e.n > 0
                           OR cleaver_hook_to_start(r.kind, r.hook, r.tasks_remaining - e.n, r.tasks_failed + e.n_failed, r.has_on_failure, r.has_on_success) IS NOT NULL
                           THEN 'running'
                         WHEN r.tasks_failed + e.n_failed > 0 THEN 'failed'
                         ELSE 'succeeded'
                       END,
              output = CASE WHEN r.kind = 'task' THEN e.output END,
              error = COALESCE(r.error, e.error),
              failure_reason = COALESCE(r.failure_reason, e.reason),
              finished_at = CASE
                              WHEN r.kind = 'task' THEN now()
                              WHEN r.tasks_remaining - e.n > 0
                                OR cleaver_hook_to_start(r.kind, r.hook, r.tasks_remaining - e.n, r.tasks_failed + e.n_failed, r.has_on_failure, r.has_on_success) IS NOT NULL
                                THEN NULL
                              ELSE now()
                            END,
              -- A run that ends gives its workflow's concurrency keys back (NULL stays NULL: still HOT).
              concurrency_keys = CASE
                                   WHEN r.kind = 'task' THEN NULL
                                   WHEN r.tasks_remaining - e.n > 0
                                     OR cleaver_hook_to_start(r.kind, r.hook, r.tasks_remaining - e.n, r.tasks_failed + e.n_failed, r.has_on_failure, r.has_on_success) IS NOT NULL
                                     THEN r.concurrency_keys
                                 END
         FROM ended e
         -- Data-modifying CTEs run when first read, and the main query reads this one before children:
         -- reading children here queues them before any run row is locked. Otherwise a statement queuing
         -- a child (run row, then child) deadlocks with one cancelling it as a descendant (child, then run).
         ${wf('CROSS JOIN (SELECT count(*) FROM children) AS children_first')}
        -- By id (= ANY), whatever the statistics say: joined on its own, the update scanned the whole run
        -- table. The array is read after the children (the lock order above holds whichever side the
        -- planner starts from).
        WHERE r.id = e.run_id AND r.status IN ('queued', 'running')
          AND r.id = ANY(ARRAY(SELECT x.run_id FROM ended x${wf(' CROSS JOIN (SELECT count(*) FROM children) AS children_before')}))
       RETURNING r.id, r.kind, r.status, r.hook, r.workflow_name, r.workflow_version, r.output, r.error, r.failure_reason,
                 -- after the update: a hook is set and this statement did not end it, so it starts now
                 (r.hook IS NOT NULL AND NOT e.hook_ended AND r.status = 'running') AS hook_started
     )${wf(`,
     -- The hook runs as one more task run of the run, with every task's output (and the failures) in
     -- reach. After a replay it exists already and is queued again, as a new attempt.
     hooks AS (
       INSERT INTO task_run (id, run_id, task_name, action, kind, status, priority, parents, max_attempts, backoff_factor,
                             backoff_max_seconds, execution_timeout_ms, schedule_timeout_ms, schedule_deadline)
       SELECT cleaver_uuidv7(), d.id, h.def ->> 'name', d.workflow_name || ':' || (h.def ->> 'name'), d.hook, 'queued',
              (h.def ->> 'defaultPriority')::smallint,
              ARRAY(SELECT n ->> 'name' FROM jsonb_array_elements(v.definition -> 'workflow' -> 'tasks') AS n),
              (h.def ->> 'retries')::int + 1,
              (h.def -> 'backoff' ->> 'factor')::float8,
              (h.def -> 'backoff' ->> 'maxSeconds')::float8,
              (h.def ->> 'executionTimeoutMs')::int,
              (h.def ->> 'scheduleTimeoutMs')::int,
              ${scheduleDeadline("(h.def ->> 'scheduleTimeoutMs')::int")}
         FROM runs_done d
         JOIN workflow_version v ON v.workflow_name = d.workflow_name AND v.version = d.workflow_version
         CROSS JOIN LATERAL (SELECT v.definition -> 'workflow' -> CASE d.hook WHEN 'on_failure' THEN 'onFailure' ELSE 'onSuccess' END AS def) h
        WHERE d.hook_started
       ON CONFLICT (run_id, task_name) DO UPDATE SET ${freshColumns('task_run')}
       RETURNING id, action, priority
     ),
     queued_rows AS (
       SELECT id, action, priority FROM children WHERE status = 'queued'
       UNION ALL
       SELECT id, action, priority FROM hooks
     ),
     queued AS (
       SELECT DISTINCT action FROM queued_rows
     )`)}${direct(`,
     -- What the workers of the children assigned here are sent, with their parents' outputs: those this
     -- statement stored are read from its own rows (its writes are not visible to the rest of it).
     succeeded_here AS (
       SELECT run_id, task_name, output FROM cur WHERE next_status = 'succeeded'
     ),
     direct AS (
       SELECT ${assignedPayload({ succeededHere: 'succeeded_here' })}
         FROM children c JOIN run r ON r.id = c.run_id
        WHERE c.status = 'assigned'
     )`)}
     SELECT (SELECT jsonb_agg(jsonb_build_object('id', id, 'run_id', run_id, 'action', action, 'attempt', attempt,
                                                 'status', next_status, 'delay_s', delay_s,
                                                 'output', CASE WHEN ok THEN output END, 'error', error,
                                                 'reason', reason, 'worker_id', worker_id,
                                                 -- For metrics: enqueue (or due) → start, and start → end, of attempts that started.
                                                 'queued_ms', CASE WHEN prev_status <> 'queued' THEN
                                                   extract(epoch FROM COALESCE(reported_started_at, started_at, assigned_at) - available_at) * 1000 END,
                                                 'ran_ms', CASE WHEN prev_status <> 'queued' THEN
                                                   extract(epoch FROM COALESCE(reported_finished_at, now()) - COALESCE(reported_started_at, started_at)) * 1000 END))
               FROM cur) AS finished,
            (SELECT jsonb_agg(jsonb_build_object('id', id, 'kind', kind, 'status', status, 'output', output,
                                                 'error', error, 'reason', failure_reason, 'workflow', workflow_name))
               FROM runs_done WHERE status IN ('succeeded', 'failed', 'cancelled')) AS runs${wf(`,
            (SELECT jsonb_agg(jsonb_build_object('action', action, 'n', n))
               FROM (SELECT action, count(*) AS n FROM doomed GROUP BY action) d) AS doomed,
            (SELECT array_agg(action) FROM hooks) AS hook_actions,
            (SELECT array_agg(action) FROM queued) AS queued_actions,
            (SELECT jsonb_agg(jsonb_build_object('id', id, 'action', action, 'priority', priority)) FROM queued_rows) AS queued_rows,
            ${notifyQueued('$3::text', 'queued')} AS notified`)}${direct(`,
            (SELECT jsonb_agg(to_jsonb(d)) FROM direct d) AS assigned,
            (SELECT held FROM fence) AS held`)}`,
  };
}

const TASK_FINISH = finishStatement({ workflows: true });
const TASK_FINISH_DIRECT = finishStatement({ workflows: true, direct: true });
const TASK_FINISH_STANDALONE = finishStatement({ workflows: false });

/** How one attempt ended: the worker's result, or a verdict of the engine (timeout, lost worker). */
export interface AttemptOutcome {
  taskRunId: string;
  attempt: number;
  ok: boolean;
  output?: Json;
  error?: TaskError;
  /** Why it failed; ERROR when the task threw. Ignored when ok. */
  reason?: FailureReason;
  nonRetryable?: boolean;
  startedAt?: number | null;
  finishedAt?: number | null;
  /** A worker's report: accepted only while this worker holds the attempt. */
  workerId?: string | null;
  /**
   * A verdict that this worker session was lost (WORKER_LOST): accepted only while it is still the
   * worker's current session, so a worker that reconnected meanwhile, here or elsewhere, keeps its
   * attempt. `orphan` (the liveness sweep) also requires the worker row to be marked disconnected.
   */
  lostSession?: { sessionId: string; orphan?: boolean } | null;
  /**
   * The attempt's action, as this engine pushed it (unknown for one adopted at a reconnect). Only a
   * hint: a standalone task's lets its finish take the statement's shorter shape (see taskFinish) — a
   * task run that is not standalone is left unfinished by that shape, never finished wrongly — and a
   * workflow task's names the children whose slots the writer may reserve (Scheduler.reserveReleased).
   */
  action?: string;
}

export interface FinishedAttempt {
  taskRunId: string;
  runId: string;
  action: string;
  attempt: number;
  /** The task run's new status: 'queued' means a retry was scheduled. */
  status: 'queued' | 'succeeded' | 'failed' | 'cancelled';
  /** For a scheduled retry: how long until it may be claimed. */
  retryDelayMs: number;
  output: Json | null;
  error: TaskError | null;
  failureReason: FailureReason | null;
  /** The worker that ran the attempt. */
  workerId: string | null;
  /** Enqueue (or the end of a retry's backoff) → start, and start → end; null for attempts that never started. */
  queuedMs: number | null;
  ranMs: number | null;
}

/** A run that ended with the attempts of a batch. */
export interface FinishedRun {
  runId: string;
  workflowName: string;
  kind: 'task' | 'workflow';
  status: 'succeeded' | 'failed' | 'cancelled';
  /** A standalone task's output; a workflow's is read from its task runs (see runOutcomeList). */
  output: Json | null;
  error: TaskError | null;
  failureReason: FailureReason | null;
}

export interface FinishResult {
  /** The outcomes that were accepted (current attempts), with what became of their task runs. */
  attempts: FinishedAttempt[];
  runs: FinishedRun[];
  /** Actions that have newly queued task runs: workflow tasks whose parents all succeeded, hooks. */
  queuedActions: string[];
  /** Those task runs (what the scheduler adds to its windows without reading them). */
  queued: Array<{ taskRunId: string; action: string; priority: number }>;
  /** Pending task runs cancelled because a task they depend on did not succeed, per action. */
  upstreamCancelled: Array<{ action: string; count: number }>;
  /** The actions of the on-failure / on-success hooks this batch started (one per run). */
  hooksStarted: string[];
  /** Children released to the slots reserved for them (`direct`): assigned, to be pushed to their workers. */
  assigned: Assigned[];
  /** `direct` was given but the lease is no longer held at its epoch: nothing was assigned (all queued). */
  fenced: boolean;
}

/** Slots the scheduler reserved for the children a finish may release (Scheduler.reserveReleased). */
export interface ReleasedSlots {
  engineId: string;
  /** The lease epoch the reservation was made under: the finish assigns only while it is still held. */
  epoch: number;
  partition?: number;
  slots: ReadonlyArray<{ action: string; workerId: string; count: number }>;
}

/** A finish that accepted nothing. */
export function nothingFinished(): FinishResult {
  return { attempts: [], runs: [], queuedActions: [], queued: [], upstreamCancelled: [], hooksStarted: [], assigned: [], fenced: false };
}

/**
 * Attempts lost with their worker (disconnect, missed heartbeats) are retried without charge up to this
 * many times per task run; further losses count against the task's retries like any failure, so a task
 * that crashes its worker every time ends, failed with WORKER_LOST. The engine cannot tell which attempt
 * killed a process; tasks that merely shared the worker are kept from sharing one with it again once
 * they are suspects (see SUSPECT_AFTER_LOSSES), so their free losses are not used up by its crashes.
 */
export const MAX_FREE_WORKER_LOST_RETRIES = 5;

/**
 * Ends a batch of attempts in one statement: applies the retry policy, writes the attempt rows, moves
 * workflows on (queues children whose parents all succeeded, cancels the pending descendants of a task
 * that failed for good, starts the on-failure / on-success hook) and ends the runs whose last task run
 * ended. Fenced by attempt: an outcome for an attempt that is no longer the current, active one is
 * ignored, so a late result can never overwrite a newer attempt; only accepted outcomes are returned.
 *
 * Task rows are locked in id order (the ORDER BY ... FOR UPDATE) before children and runs, so that
 * concurrent finishers (result batches, timeout sweeps, other engines) do not deadlock on each other;
 * what remains possible (two batches touching the same runs in another order) is retried by the caller.
 *
 * Retry n (1-based, counted since the last replay) waits min(maxSeconds, factor ** n) seconds; with no
 * backoff it is immediate.
 */
export async function taskFinish(
  db: Queryable,
  params: {
    outcomes: AttemptOutcome[];
    notifyFrom?: string | null;
    /**
     * Use the shape that finishes standalone task runs only (finishStatement): every outcome should be
     * `standalone`. One it does not finish — its attempt superseded, or its task run not standalone —
     * is missing from `attempts`, as a refused one is; the caller sends those through the full shape.
     */
    standaloneOnly?: boolean;
    /**
     * Slots reserved for the children this batch may release (full shape): those released of a
     * reserved action are assigned there, up to its count, and returned in `assigned`; the rest are
     * queued. Fenced by the scheduler lease at `epoch`, as the assign statement is.
     */
    direct?: ReleasedSlots | null;
  },
): Promise<FinishResult> {
  if (params.outcomes.length === 0) return nothingFinished();
  const direct = !params.standaloneOnly && params.direct && params.direct.slots.length > 0 ? params.direct : null;
  const items = params.outcomes.map((o) => ({
    id: o.taskRunId,
    attempt: o.attempt,
    ok: o.ok,
    output: o.ok ? (o.output ?? null) : null,
    error: o.ok ? null : (o.error ?? { message: 'unknown error' }),
    reason: o.ok ? null : o.reason && o.reason !== 'ERROR' ? o.reason : o.nonRetryable ? 'NON_RETRYABLE' : 'ERROR',
    non_retryable: o.nonRetryable === true || o.reason === 'NON_RETRYABLE' || o.reason === 'SCHEDULE_TIMEOUT',
    started_at: isoOrNull(o.startedAt),
    finished_at: isoOrNull(o.finishedAt),
    worker_id: o.workerId ?? null,
    lost_session: o.lostSession?.sessionId ?? null,
    orphan: o.lostSession?.orphan === true,
  }));
  const result = await db.query<{
    finished: Array<{
      id: string;
      run_id: string;
      action: string;
      attempt: number;
      status: FinishedAttempt['status'];
      delay_s: number;
      output: Json | null;
      error: TaskError | null;
      reason: FailureReason | null;
      worker_id: string | null;
      queued_ms: number | null;
      ran_ms: number | null;
    }> | null;
    runs: Array<{ id: string; kind: FinishedRun['kind']; status: FinishedRun['status']; output: Json | null; error: TaskError | null; reason: FailureReason | null; workflow: string }> | null;
    queued_actions: string[] | null;
    queued_rows: Array<{ id: string; action: string; priority: number }> | null;
    doomed: Array<{ action: string; n: number }> | null;
    hook_actions: string[] | null;
    assigned?: PayloadRow[] | null;
    held?: boolean;
  }>(
    params.standaloneOnly ? TASK_FINISH_STANDALONE : direct ? TASK_FINISH_DIRECT : TASK_FINISH,
    // The standalone shape queues nothing, so it notifies no one ($3).
    params.standaloneOnly
      ? [JSON.stringify(items), MAX_FREE_WORKER_LOST_RETRIES]
      : [
          JSON.stringify(items),
          MAX_FREE_WORKER_LOST_RETRIES,
          params.notifyFrom ?? null,
          ...(direct
            ? [JSON.stringify(direct.slots.map((x, i) => ({ action: x.action, worker_id: x.workerId, count: x.count, ord: i }))), direct.partition ?? 0, direct.engineId, direct.epoch]
            : []),
        ],
  );
  const row = result.rows[0]!;
  return {
    attempts: (row.finished ?? []).map((f) => {
      const terminal = f.status !== 'queued';
      return {
        taskRunId: f.id,
        runId: f.run_id,
        action: f.action,
        attempt: f.attempt,
        status: f.status,
        retryDelayMs: terminal ? 0 : Math.round(Number(f.delay_s) * 1000),
        output: f.status === 'succeeded' ? f.output : null,
        error: f.status === 'succeeded' ? null : toTaskError(f.error),
        failureReason: f.status === 'succeeded' ? null : f.reason,
        workerId: f.worker_id,
        // Clocks of the worker and the database can disagree by a little: never a negative time.
        queuedMs: f.queued_ms === null ? null : Math.max(0, Number(f.queued_ms)),
        ranMs: f.ran_ms === null ? null : Math.max(0, Number(f.ran_ms)),
      };
    }),
    runs: (row.runs ?? []).map((r) => ({
      runId: r.id,
      workflowName: r.workflow,
      kind: r.kind,
      status: r.status,
      output: r.kind === 'task' ? r.output : null,
      error: toTaskError(r.error),
      failureReason: r.reason,
    })),
    queuedActions: row.queued_actions ?? [],
    queued: (row.queued_rows ?? []).map((q) => ({ taskRunId: q.id, action: q.action, priority: q.priority })),
    upstreamCancelled: (row.doomed ?? []).map((d) => ({ action: d.action, count: Number(d.n) })),
    hooksStarted: row.hook_actions ?? [],
    assigned: (row.assigned ?? []).map(toAssigned),
    fenced: direct !== null && row.held !== true,
  };
}

/**
 * The children a finish of these parents assigned to these workers that no worker can have been sent:
 * for a finish tried again after a try that may have committed and lost its reply (the try that
 * assigned them returned nothing, so nobody pushed them). Those of actions not reserved, and those
 * started, are not among them; one pushed already is told apart by the caller (the session's `given`).
 */
const TASK_FINISH_EARLIER_ASSIGNED: NamedStatement = {
  name: 'cleaver_task_finish_earlier_assigned',
  text: `SELECT ${assignedPayload()}
       FROM task_run c JOIN run r ON r.id = c.run_id
      WHERE c.id IN (SELECT k.id FROM task_run p JOIN task_run k ON k.run_id = p.run_id AND p.task_name = ANY(k.parents)
                      WHERE p.id = ANY($1::uuid[]))
        AND c.status = 'assigned' AND c.started_at IS NULL AND c.worker_id = ANY($2::uuid[]) AND c.action = ANY($3::text[])
      ORDER BY c.priority DESC, c.id`,
};

/** See TASK_FINISH_EARLIER_ASSIGNED. */
export async function taskFinishEarlierAssigned(
  db: Queryable,
  params: { parentTaskRunIds: readonly string[]; slots: ReleasedSlots['slots'] },
): Promise<Assigned[]> {
  if (params.parentTaskRunIds.length === 0 || params.slots.length === 0) return [];
  const result = await db.query<PayloadRow>(TASK_FINISH_EARLIER_ASSIGNED, [
    params.parentTaskRunIds,
    [...new Set(params.slots.map((s) => s.workerId))],
    [...new Set(params.slots.map((s) => s.action))],
  ]);
  return result.rows.map(toAssigned);
}
