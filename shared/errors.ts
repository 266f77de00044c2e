/**
 * Error classes that cross process boundaries. Every error a user can cause carries a stable `code`
 * and a message saying what was wrong and what to do; over the wire they travel as {name, code, message}
 * and are rebuilt with `errorFromWire`.
 */

export type ErrorCode =
  | 'BAD_FRAME'
  | 'FRAME_TOO_LARGE'
  | 'UNKNOWN_MESSAGE'
  | 'BAD_REQUEST'
  | 'BAD_PAYLOAD'
  | 'UNAUTHORIZED'
  | 'PROTOCOL_VERSION'
  | 'UNKNOWN_TASK'
  | 'NOT_FOUND'
  | 'SCHEMA_TOO_NEW'
  | 'DATA_DIR_LOCKED'
  | 'CONNECTION'
  | 'SHUTTING_DOWN'
  | 'TASK_FAILED'
  | 'DATABASE'
  /** The database stayed unreachable past the engine's retries: nothing was done; try again later. */
  | 'UNAVAILABLE'
  | 'INTERNAL';

export interface WireError {
  name: string;
  code: ErrorCode;
  message: string;
}

export class CleaverError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'CleaverError';
    this.code = code;
  }
  toWire(): WireError {
    return { name: this.name, code: this.code, message: this.message };
  }
}

/** Thrown by a task to fail its run at once, skipping any retries left. */
export class NonRetryableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'NonRetryableError';
  }
}

/** `run()` rejects with this when the run failed or was cancelled; `message` is the task's own. */
export class TaskRunError extends CleaverError {
  readonly runId: string;
  readonly failureReason: string | null;
  readonly remoteStack: string | undefined;
  constructor(options: { runId: string; message: string; failureReason: string | null; stack?: string }) {
    super('TASK_FAILED', options.message);
    this.name = 'TaskRunError';
    this.runId = options.runId;
    this.failureReason = options.failureReason;
    this.remoteStack = options.stack;
  }
}

/** Triggering a name no worker has registered (checked in the engine's insert). */
export function unknownWorkflowError(name: string): CleaverError {
  return new CleaverError('UNKNOWN_TASK', `no workflow or task named ${JSON.stringify(name)} is registered; start a worker that declares it, or check the name`);
}

export function errorFromWire(wire: WireError): CleaverError {
  const error = new CleaverError(wire.code, wire.message);
  error.name = wire.name;
  return error;
}

/** Normalizes anything thrown into an Error, keeping the original as the cause. */
export function toError(thrown: unknown): Error {
  if (thrown instanceof Error) return thrown;
  return new Error(typeof thrown === 'string' ? thrown : `non-Error thrown: ${safeString(thrown)}`, { cause: thrown });
}

function safeString(value: unknown): string {
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    // Not JSON (a cycle, a BigInt): name its type and keys rather than print "[object Object]".
    if (value === null || typeof value !== 'object') return String(value);
    const type = (value as object).constructor?.name ?? 'Object';
    const keys = Object.keys(value).slice(0, 10);
    return `${type} {${keys.join(', ')}${Object.keys(value).length > keys.length ? ', …' : ''}} (not serializable as JSON)`;
  }
}
