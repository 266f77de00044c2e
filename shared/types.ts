/**
 * Domain types shared by the engine, the SDK and (later) the console.
 *
 * Terminology
 * - **run**: one trigger of a workflow (a standalone task is a one-task workflow). Has an input, metadata,
 *   a status and, when it ends, an output or an error.
 * - **task run**: one task of a run. It is what gets queued, claimed and executed.
 * - **attempt**: one try of a task run on one worker, numbered from 1. A retry is a new attempt of the
 *   same task run; results are fenced by attempt so a superseded try can never overwrite a newer one.
 * - **worker**: a user's process connected to an engine over the socket, offering **actions** (task
 *   names) and a number of **slots** (how many attempts it runs at once).
 * - **engine**: a process that owns a database connection, accepts workers and clients, claims queued
 *   task runs for its workers, and runs the maintenance services. Several engines may share one Postgres.
 * - **key**: a concurrency key (CEL over a run's input and metadata) that caps how many runs of one value
 *   run at once, or a rate-limit key that caps how many units start per window (shared/flow-control.ts).
 */

import type { ConcurrencyDefinition, TaskRateLimit } from './flow-control.ts';

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

export type RunStatus = 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled';
export const RUN_STATUSES: readonly RunStatus[] = ['queued', 'running', 'succeeded', 'failed', 'cancelled'];
/** pending: a workflow task waiting for its parents to succeed. */
export type TaskRunStatus = 'pending' | 'queued' | 'assigned' | 'running' | 'succeeded' | 'failed' | 'cancelled';
/** standalone: the one task of a task run; dag: a node of a workflow; on_failure / on_success: its hooks. */
export type TaskRunKind = 'standalone' | 'dag' | 'on_failure' | 'on_success';
/** What created a run. */
export type TriggerKind = 'manual' | 'event' | 'child' | 'cron';
export const TRIGGER_KINDS: readonly TriggerKind[] = ['manual', 'event', 'child', 'cron'];
export type AttemptStatus = 'succeeded' | 'failed' | 'cancelled';

/** Why an attempt or a task run ended other than by the task's own success or thrown error. */
export type FailureReason =
  | 'ERROR'               // the task threw (or returned a non-JSON value)
  | 'NON_RETRYABLE'       // the task threw NonRetryableError: remaining retries skipped
  | 'EXECUTION_TIMEOUT'   // the attempt ran past its executionTimeout
  | 'SCHEDULE_TIMEOUT'    // the task run stayed queued past its scheduleTimeout
  | 'WORKER_LOST'         // the worker disconnected or stopped heartbeating mid-attempt
  | 'UPSTREAM_FAILED'     // a workflow task not run because a task it depends on failed
  | 'CANCELLED'
  | 'CONCURRENCY_LIMIT'   // cancelled by its concurrency key's strategy (CANCEL_IN_PROGRESS, CANCEL_NEWEST)
  | 'FLOW_RULE';          // its concurrency key or rate limit could not be worked out from its input

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

/**
 * What a task or workflow name may be (checked by the SDK and again by the engine). No ':' — it joins
 * a workflow's name to its task's in the action a worker registers ('checkout:charge').
 */
export const TASK_NAME_PATTERN = /^[A-Za-z0-9_.\-/]{1,200}$/;
export const TASK_NAME_RULE = '1-200 letters, digits or _ . - /';

/** An event key ('order:created'); a workflow's trigger patterns may also use '*' for any run of characters. */
export const EVENT_KEY_PATTERN = /^[A-Za-z0-9_.:\-/]{1,200}$/;
export const EVENT_PATTERN_PATTERN = /^[A-Za-z0-9_.:\-/*]{1,200}$/;
export const EVENT_KEY_RULE = '1-200 letters, digits or _ . : - /';
export const EVENT_PATTERN_RULE = `${EVENT_KEY_RULE} (patterns may also use '*')`;

export interface BackoffPolicy {
  /** Delay before retry n (1-based) is min(maxSeconds, factor ** n) seconds. */
  factor: number;
  maxSeconds: number;
}

/** A task as a worker registers it: the engine copies this policy onto each task run it creates. */
export interface TaskDefinition {
  name: string;
  retries: number;
  backoff: BackoffPolicy | null;
  executionTimeoutMs: number;
  scheduleTimeoutMs: number;
  /** Higher runs first among queued task runs of the same action (1..3, as Hatchet). */
  defaultPriority: number;
  /** Concurrency keys, all of which must admit a task run (absent: none). */
  concurrency?: ConcurrencyDefinition[];
  /** Rate limits, all of which must admit a task run (absent: none). */
  rateLimits?: TaskRateLimit[];
  /** Within a priority: oldest first (absent, 'fifo') or newest first. */
  ordering?: QueueOrdering;
}

export type QueueOrdering = 'fifo' | 'lifo';

/** A task of a workflow: a task definition plus the tasks (of the same workflow) it depends on. */
export interface WorkflowTaskDefinition extends TaskDefinition {
  /** Names of tasks of the same workflow that must succeed first; their outputs are passed on. */
  parents: string[];
}

/** A workflow as a worker registers it. Task names are local to the workflow. */
export interface WorkflowDefinition {
  name: string;
  description: string | null;
  /** The user's label for this version ('2024-06-01', 'v3'); the engine numbers versions itself. */
  versionLabel: string | null;
  /** Event key patterns that trigger a run ('order:*'). */
  events: string[];
  tasks: WorkflowTaskDefinition[];
  /** Runs once when any task of the run has failed for good; sees the failures. */
  onFailure: TaskDefinition | null;
  /** Runs once when every task of the run has succeeded. */
  onSuccess: TaskDefinition | null;
  /** Keys held by a run from its first task's admission to its end (absent: none). */
  concurrency?: ConcurrencyDefinition[];
  /** The default ordering of its tasks' queues; a task's own wins. */
  ordering?: QueueOrdering;
}

export interface TaskError {
  message: string;
  name?: string;
  stack?: string;
}


/**
 * Why a queued task run has not started, as the run view and `cleaver status` say it. Computed when
 * asked, from what the database shows; concurrency keys and rate limits are known only to the engine
 * that schedules (it says them when asked; another engine says what the database shows).
 */
export type WaitReason =
  /** A retry waiting out its backoff. */
  | { kind: 'backoff'; until: string }
  /** No connected worker offers the task's action: start one that registers it. */
  | { kind: 'no_worker'; action: string }
  /** Workers offer it, and every one of their slots is taken. */
  | { kind: 'no_slot'; action: string; workers: number; slots: number }
  /** Lost with its worker twice: it waits for a worker that runs no other such task run. */
  | { kind: 'suspect' }
  /** Its turn is coming: this many task runs of its action go first (`ahead` capped at 10,000). */
  | { kind: 'queued'; ahead: number; atLeast: boolean }
  /** A concurrency key it needs already has `maxRuns` running (said by the engine that schedules). */
  | { kind: 'concurrency'; key: string; rule: string; maxRuns: number }
  /** A rate limit it needs has too few units left until `refillsAt` (said by the engine that schedules). */
  | { kind: 'rate_limit'; key: string; refillsAt: string };
