export { Cleaver, type ConnectOptions } from './client.ts';
export { TaskDeclaration, TaskRef, type TaskOptions, type RunOptions, type RunRef } from './task.ts';
export { Worker, type WorkerOptions } from './worker.ts';
export type { Context } from './context.ts';
export { CleaverError, NonRetryableError, TaskRunError, type ErrorCode } from '../shared/errors.ts';
export type { Duration } from '../shared/duration.ts';
export type { Json, FailureReason, LogLevel, RunStatus } from '../shared/types.ts';
