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
 * - **key** (reserved): the concurrency / rate-limit key a task run is counted under (flow control).
 */

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

export type RunStatus = 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled';
export type TaskRunStatus = 'queued' | 'assigned' | 'running' | 'succeeded' | 'failed' | 'cancelled';
export type AttemptStatus = 'succeeded' | 'failed' | 'cancelled';

/** Why an attempt or a task run ended other than by the task's own success or thrown error. */
export type FailureReason =
  | 'ERROR'               // the task threw (or returned a non-JSON value)
  | 'NON_RETRYABLE'       // the task threw NonRetryableError: remaining retries skipped
  | 'EXECUTION_TIMEOUT'   // the attempt ran past its executionTimeout
  | 'SCHEDULE_TIMEOUT'    // the task run stayed queued past its scheduleTimeout
  | 'WORKER_LOST'         // the worker disconnected or stopped heartbeating mid-attempt
  | 'CANCELLED';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

/** What a task name may be (checked by the SDK and again by the engine). */
export const TASK_NAME_PATTERN = /^[A-Za-z0-9_.:\-/]{1,200}$/;
export const TASK_NAME_RULE = '1-200 letters, digits or _ . : - /';

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
}

export interface TaskError {
  message: string;
  name?: string;
  stack?: string;
}

export interface Run {
  id: string;
  workflowName: string;
  workflowVersion: number;
  status: RunStatus;
  input: Json;
  output: Json | null;
  error: TaskError | null;
  failureReason: FailureReason | null;
  metadata: Record<string, string>;
  createdAt: Date;
  finishedAt: Date | null;
}

export interface TaskRun {
  id: string;
  runId: string;
  action: string;
  status: TaskRunStatus;
  priority: number;
  input: Json;
  output: Json | null;
  error: TaskError | null;
  failureReason: FailureReason | null;
  /** Number of the current (or last) attempt; 0 before the first claim. */
  attempt: number;
  maxAttempts: number;
  workerId: string | null;
  availableAt: Date;
  assignedAt: Date | null;
  startedAt: Date | null;
  timeoutAt: Date | null;
  finishedAt: Date | null;
  createdAt: Date;
}

export interface Attempt {
  taskRunId: string;
  attempt: number;
  workerId: string | null;
  status: AttemptStatus;
  failureReason: FailureReason | null;
  error: TaskError | null;
  assignedAt: Date;
  startedAt: Date | null;
  finishedAt: Date;
}

export interface TaskLogLine {
  taskRunId: string;
  attempt: number;
  level: LogLevel;
  message: string;
  createdAt: Date;
}
