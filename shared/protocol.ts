/**
 * The worker protocol: what SDK clients and workers exchange with an engine over the local socket or TCP.
 *
 * Framing (see frame-codec.ts): each message is a 4-byte big-endian length followed by that many bytes
 * of UTF-8 JSON. The first message on a connection must be `hello`; the engine answers `welcome` or an
 * `error` and closes. Requests that expect an answer carry a numeric `id` and get a `reply` with the
 * same id. Everything else is fire-and-forget; batches are arrays inside one message.
 */
import type { WireError } from './errors.ts';
import type { AdminApi } from './admin-api.ts';
import type { FailureReason, Json, LogLevel, RunStatus, TaskDefinition, TaskError, WaitReason, WorkflowDefinition } from './types.ts';
import type { StreamChunkKind, StreamCursor, StreamEvent } from './stream.ts';

export const PROTOCOL_VERSION = 1;
export const DEFAULT_MAX_FRAME_BYTES = 16 * 1024 * 1024;

// ---- client → engine ------------------------------------------------------------------------------

export interface HelloMessage {
  t: 'hello';
  protocol: number;
  /** Required on TCP; ignored on the local socket, which is private to the user by file mode. */
  token?: string;
  role: 'client' | 'worker';
  /** For workers: a stable id chosen by the SDK, kept across reconnects so registration survives. */
  workerId?: string;
  name?: string;
  /** Standalone tasks the worker runs. */
  tasks?: TaskDefinition[];
  /** Workflows whose tasks the worker runs. */
  workflows?: WorkflowDefinition[];
  slots?: number;
  /**
   * Attempts the engine may hand this worker beyond its slots while their queue is deeper than the free
   * slots everywhere; the worker starts them in order as its slots free (docs/scheduler.md, "Prefetch"). 0 by
   * default; at most `slots`.
   */
  prefetch?: number;
  labels?: Record<string, string>;
  /**
   * After a reconnect, every attempt this worker still holds, each once: those running and those
   * finished whose result the engine has not yet acknowledged (the worker re-sends those results after
   * `welcome`). The engine keeps them all and fails as WORKER_LOST only the attempts assigned to this
   * worker that are not listed.
   */
  inflight?: Array<{ taskRunId: string; attempt: number }>;
}

export interface TriggerItem {
  input: Json;
  metadata?: Record<string, string>;
  priority?: number;
  /** Child runs only: the child's key within its parent task run (the SDK uses '#<n>' by default). */
  key?: string;
}

/** A task or workflow as the SDK declares it (what a worker registers). */
export type DeclaredDefinition = { kind: 'task'; task: TaskDefinition } | { kind: 'workflow'; workflow: WorkflowDefinition };

export interface TriggerRequest {
  t: 'trigger';
  id: number;
  /** The workflow (or standalone task) to run. */
  workflow: string;
  /**
   * The producer's own declaration of it: registered when no worker has registered the name yet, so
   * work can be queued before any worker boots. Ignored when the name is known.
   */
  declared?: DeclaredDefinition;
  items: TriggerItem[];
  /** Spawn the runs as children of this attempt of a task run (ctx.runChild). */
  parent?: { taskRunId: string; attempt: number };
  /** Reply only when every run has finished, with their outcomes (saves the await round trip). */
  wait?: boolean;
}

export interface AwaitRequest {
  t: 'await';
  id: number;
  runId: string;
}

export interface StatusRequest {
  t: 'status';
  id: number;
}

export interface HeartbeatMessage {
  t: 'heartbeat';
}

export interface StartedMessage {
  t: 'started';
  taskRunId: string;
  attempt: number;
  /** Epoch milliseconds on the worker. */
  at: number;
}

export interface ResultMessage {
  t: 'result';
  taskRunId: string;
  attempt: number;
  ok: boolean;
  output?: Json;
  error?: TaskError;
  nonRetryable?: boolean;
  /** Set when the SDK ended the attempt itself: its local timeout fired, or the engine cancelled it. */
  reason?: 'EXECUTION_TIMEOUT' | 'CANCELLED';
  startedAt: number;
  finishedAt: number;
}

export interface LogMessage {
  t: 'log';
  taskRunId: string;
  attempt: number;
  level: LogLevel;
  message: string;
  /** ctx.logger's structured fields (shared/task-log.ts); absent for none. */
  fields?: Record<string, Json>;
  at: number;
}

/**
 * A value a task recorded with ctx.metric, fire-and-forget. It names the attempt's action (the engine
 * counts it under that action's workflow without looking the attempt up); only an action the worker
 * offers is accepted.
 */
export interface MetricMessage {
  t: 'metric';
  taskRunId: string;
  attempt: number;
  action: string;
  name: string;
  value: number;
}

/**
 * A chunk a task put with ctx.putStream (shared/stream.ts). Fire-and-forget; the engine answers with
 * `stream_ack` once it has stored chunks, and the worker sends the unacknowledged ones again after a
 * reconnect (the engine keeps one copy of each (taskRunId, attempt, seq)).
 */
export interface StreamMessage {
  t: 'stream';
  taskRunId: string;
  attempt: number;
  /** 1, 2, … within the attempt. */
  seq: number;
  kind: StreamChunkKind;
  /** Text as is, JSON as the value, bytes base64-encoded. */
  data: string | Json;
  /** Epoch milliseconds on the worker. */
  at: number;
}

/**
 * Follows a run's stream: the reply comes once the subscription is set up; its events follow as
 * `stream_events` carrying `subscription` (a number the client chose, unique on its connection).
 */
export interface StreamSubscribeRequest {
  t: 'stream_subscribe';
  id: number;
  subscription: number;
  runId: string;
  /** Resuming (after a reconnect): only what comes after these positions. */
  after?: StreamCursor;
}

/** Stops a subscription early (it ends by itself with the run). */
export interface StreamUnsubscribeMessage {
  t: 'stream_unsubscribe';
  subscription: number;
}

export interface RefreshTimeoutRequest {
  t: 'refresh_timeout';
  id: number;
  taskRunId: string;
  attempt: number;
  ms: number;
}

/** A call of the admin contract (shared/admin-api.ts): runs, events, cancellation, replay. */
export interface AdminRequest<M extends keyof AdminApi = keyof AdminApi> {
  t: 'admin';
  id: number;
  method: M;
  params: Parameters<AdminApi[M]>[0];
}

/** A worker stops taking new work (graceful drain); running attempts go on to finish. */
export interface DrainRequest {
  t: 'drain';
  id: number;
}

export type ClientMessage =
  | HelloMessage
  | TriggerRequest
  | AwaitRequest
  | StatusRequest
  | HeartbeatMessage
  | StartedMessage
  | ResultMessage
  | LogMessage
  | MetricMessage
  | RefreshTimeoutRequest
  | AdminRequest
  | DrainRequest
  | StreamMessage
  | StreamSubscribeRequest
  | StreamUnsubscribeMessage;

// ---- engine → client ------------------------------------------------------------------------------

export interface WelcomeMessage {
  t: 'welcome';
  protocol: number;
  engineId: string;
  workerId?: string;
  heartbeatIntervalMs: number;
  maxFrameBytes: number;
  /** The largest stream chunk this engine stores (absent from engines without streaming). */
  maxStreamChunkBytes?: number;
}

export interface ReplyMessage {
  t: 'reply';
  id: number;
  ok: boolean;
  data?: unknown;
  error?: WireError;
}

/** A protocol-level problem not tied to a request (bad frame, unknown type). Fatal ones close the socket. */
export interface ErrorMessage {
  t: 'error';
  error: WireError;
  fatal: boolean;
}

export interface AssignedTask {
  taskRunId: string;
  runId: string;
  attempt: number;
  action: string;
  input: Json;
  metadata: Record<string, string>;
  /** Milliseconds the attempt may run before it times out. */
  timeoutMs: number;
  /** Workflow tasks: the outputs of their parents by task name (hooks: of every task that succeeded). */
  parents?: Record<string, Json>;
  /** on-failure / on-success hooks: the tasks of the run that failed. */
  failures?: TaskFailure[];
}

export interface TaskFailure {
  taskName: string;
  taskRunId: string;
  failureReason: FailureReason;
  error: TaskError | null;
}

export interface AssignMessage {
  t: 'assign';
  tasks: AssignedTask[];
}

export interface CancelMessage {
  t: 'cancel';
  taskRunId: string;
  attempt: number;
  reason: FailureReason;
}

/** Results the engine has durably recorded (accepted) or refused because their attempt was superseded. */
export interface AckMessage {
  t: 'ack';
  accepted: Array<{ taskRunId: string; attempt: number }>;
  rejected: Array<{ taskRunId: string; attempt: number; reason: string }>;
}

/** Stream chunks the engine has stored (or refused): each attempt's chunks up to `seq` need not be sent again. */
export interface StreamAckMessage {
  t: 'stream_ack';
  acks: Array<{ taskRunId: string; attempt: number; seq: number }>;
}

/** Events of a stream subscription, in order. */
export interface StreamEventsMessage {
  t: 'stream_events';
  subscription: number;
  events: StreamEvent[];
}

export type EngineMessage = WelcomeMessage | ReplyMessage | ErrorMessage | AssignMessage | CancelMessage | AckMessage | StreamAckMessage | StreamEventsMessage;

// ---- reply payloads -------------------------------------------------------------------------------

export interface TriggerReply {
  runIds: string[];
}

export interface RunOutcome {
  runId: string;
  status: RunStatus;
  output: Json | null;
  error: TaskError | null;
  failureReason: FailureReason | null;
}

export interface EngineStatus {
  engineId: string;
  version: string;
  database: string;
  listening: string[];
  uptimeMs: number;
  /** `busy`: slots in use (at most `slots`); `held`: attempts waiting in the worker beyond them (prefetch). */
  workers: Array<{ id: string; name: string; actions: string[]; slots: number; busy: number; held: number; draining: boolean }>;
  counts: Record<string, number>;
  /** The queues that hold task runs (the 100 deepest): how many, and why the first of them waits. */
  waiting: Array<{ action: string; queued: number; reason: WaitReason | null }>;
}
