/**
 * How a task run enters the queue, written once. Every statement that queues a task run — a trigger
 * creating it, a finish scheduling its retry or releasing a workflow child whose parents all
 * succeeded, a hook started or run again, a replay — sets its columns with these fragments, so that
 * what "queued" means (no worker, when it may be claimed, until when it may wait) cannot drift
 * between them. The wake-up is one too: each statement returns the rows or actions it queued, the
 * engine emits `tasks.queued` (engine-events.ts) and the scheduler is woken from there; the NOTIFY
 * for other engines' schedulers goes out in the same statement through `notifyQueued`.
 *
 * `row` is the alias of the task_run row being written (its schedule_timeout_ms is read from it);
 * `delaySeconds` an SQL expression, 0 when it may be claimed at once.
 */
import { othersDecide } from './scheduler-lease.ts';

/** When a task run entering the queue after `delaySeconds` may be claimed. */
function dueAt(delaySeconds: string): string {
  return delaySeconds === '0' ? 'now()' : `now() + (${delaySeconds}) * interval '1 second'`;
}

/** When a task run entering the queue after `delaySeconds` may wait until: its schedule timeout from then. */
export function scheduleDeadline(timeoutMs: string, delaySeconds = '0'): string {
  return `${dueAt(delaySeconds)} + (${timeoutMs}) * interval '1 millisecond'`;
}

/** Due after `delaySeconds`, and the deadline of its schedule timeout from then. */
function dueColumns(row: string, delaySeconds: string): string[] {
  return [`available_at = ${dueAt(delaySeconds)}`, `schedule_deadline = ${scheduleDeadline(`${row}.schedule_timeout_ms`, delaySeconds)}`];
}

/**
 * What an attempt starting on a worker writes, as [column, value] pairs: the one definition of an
 * assignment, whoever makes it (the assign statement for what the scheduler decided, a finish for a
 * child it releases to a slot reserved for it). A new attempt number, the worker, its execution lease
 * from now, no start yet, and the concurrency keys it holds (`keys`, NULL for none).
 */
function assignmentValues(row: string, o: { workerId: string; assignedAt: string; keys: string }): Array<[string, string]> {
  return [
    ['status', `'assigned'`],
    ['worker_id', o.workerId],
    ['attempt', `${row}.attempt + 1`],
    ['assigned_at', o.assignedAt],
    ['started_at', 'NULL'],
    ['timeout_at', `now() + ${row}.execution_timeout_ms * interval '1 millisecond'`],
    ['concurrency_keys', o.keys],
  ];
}

/** A queued task run assigned to `workerId` (an SQL expression), see assignmentValues. */
export function assignedColumns(row: string, o: { workerId: string; assignedAt?: string; keys?: string }): string {
  return assignmentValues(row, { workerId: o.workerId, assignedAt: o.assignedAt ?? 'now()', keys: o.keys ?? 'NULL' })
    .map(([column, value]) => `${column} = ${value}`)
    .join(', ');
}

/**
 * A workflow task whose parents all succeeded: `status` is the expression that says whether it is
 * queued now or still pending (the columns below are harmless while pending: nothing claims it).
 * With `assign`, one released where `assign.when` holds starts its first attempt on `assign.workerId`
 * at once instead of being queued (a slot was reserved for it, see Scheduler.reserveReleased): it gets
 * every column of an assignment (assignmentValues), and no flow keys (only actions without flow rules
 * are reserved for).
 */
export function releasedColumns(row: string, status: string, assign?: { when: string; workerId: string }): string {
  if (!assign) return [`status = ${status}`, ...dueColumns(row, '0')].join(', ');
  const assigned = assignmentValues(row, { workerId: assign.workerId, assignedAt: 'now()', keys: 'NULL' }).map(
    ([column, value]) => `${column} = CASE WHEN ${assign.when} THEN ${value} ELSE ${column === 'status' ? status : `${row}.${column}`} END`,
  );
  return [...assigned, ...dueColumns(row, '0')].join(', ');
}

/**
 * Back in the queue for its next attempt (a retry after `delaySeconds` of backoff, a lost attempt at
 * once): no worker and no running clock. Its last error stays readable until that attempt ends.
 */
export function retryColumns(row: string, delaySeconds: string): string {
  return [`status = 'queued'`, `worker_id = NULL`, ...dueColumns(row, delaySeconds), `timeout_at = NULL`, `finished_at = NULL`].join(', ');
}

/**
 * Runs afresh (a replay, a hook run again): nothing of its earlier runs is left but the attempt
 * numbers, which go on so that the history keeps every try, and the retry budget starts anew — the
 * free allowance for lost workers included. `status` is 'queued', or an expression when it may have
 * to wait for parents.
 */
export function freshColumns(row: string, status = `'queued'`): string {
  return [
    `status = ${status}`,
    `attempt_offset = ${row}.attempt`,
    `worker_lost_count = 0`,
    `output = NULL`,
    `error = NULL`,
    `failure_reason = NULL`,
    `worker_id = NULL`,
    ...dueColumns(row, '0'),
    `assigned_at = NULL`,
    `started_at = NULL`,
    `timeout_at = NULL`,
    `finished_at = NULL`,
  ].join(', ');
}

/**
 * The NOTIFY that wakes the lease holder on another engine for each action of `queuedActions` (an SQL
 * relation with an `action` column), from engine `$engine` (an SQL text parameter; NULL: no NOTIFY,
 * PGlite has no other engines). Sent only when another engine decides.
 */
export function notifyQueued(engine: string, queuedActions: string): string {
  return `CASE WHEN ${engine} IS NOT NULL AND ${othersDecide(engine)}
                 THEN (SELECT count(pg_notify('cleaver_task_queued', ${engine} || ':' || action)) FROM ${queuedActions}) END`;
}
