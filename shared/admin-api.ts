/**
 * The admin contract: what a console, the CLI or the SDK's `cleaver.runs` / `cleaver.events` may ask
 * of an engine. The engine implements it once (engine/admin/); transports (the worker socket's `admin`
 * message, HTTP, Electron IPC) are thin adapters that carry `{ method, params }` and the result or a
 * `{ name, code, message }` error. Every method takes one params object and returns plain JSON (dates
 * as ISO strings), so every transport carries it unchanged.
 */
import type { RateLimitDuration, RateLimitRecord } from './flow-control.ts';
import type { AttemptStatus, FailureReason, Json, LogLevel, RunStatus, TaskError, TaskRunKind, TaskRunStatus, TriggerKind, WaitReason } from './types.ts';
import type { StreamCursor, StreamReadPage } from './stream.ts';
import type { MetricsQueryParams, MetricsSeries } from './metrics.ts';

/** Which runs a bulk operation or a list applies to. Every field narrows; times are ISO 8601. */
export interface RunFilter {
  workflowName?: string;
  statuses?: RunStatus[];
  /** Created at or after. */
  since?: string;
  /** Created before. */
  until?: string;
  /** Runs whose metadata has every one of these key=value pairs. */
  metadata?: Record<string, string>;
  /** Runs created in any of these ways. */
  triggerKinds?: TriggerKind[];
  /** Children of this task run. */
  parentTaskRunId?: string;
  /** Children of any task run of this run. */
  parentRunId?: string;
  /** Only runs no task spawned (no parent): a fan-out's children are then counted on their parent. */
  topLevelOnly?: boolean;
  /** Runs triggered by this event. */
  eventId?: string;
  /**
   * Words, each a whole word, in this order, and the last also the beginning of a longer one, found in
   * the run's input or metadata values or in an output or error (message and name) of its task runs;
   * punctuation separates words (`user42@example.com` is user42, example, com) and case is ignored.
   */
  search?: string;
}

/** The longest `RunFilter.search`, in characters: a few distinctive words find a run. */
export const MAX_RUN_SEARCH_LENGTH = 200;

/** Either explicit run ids or a filter (a bulk operation needs one of them). */
export interface RunSelection {
  runIds?: string[];
  filter?: RunFilter;
}

export interface RunSummary {
  id: string;
  workflowName: string;
  workflowVersion: number;
  kind: 'task' | 'workflow';
  status: RunStatus;
  triggerKind: TriggerKind;
  metadata: Record<string, string>;
  parentTaskRunId: string | null;
  /** The run whose task run spawned this one. */
  parentRunId: string | null;
  /** Runs spawned by this run's task runs. */
  childCount: number;
  eventId: string | null;
  failureReason: FailureReason | null;
  createdAt: string;
  /** When the run was last replayed (its current try began then); null if never. */
  replayedAt: string | null;
  finishedAt: string | null;
}

export interface RunListParams extends RunFilter {
  /** At most 1000 (default 50). */
  limit?: number;
  /**
   * Only these runs (1 to 1000 ids), those of them the filter still matches: a live view reads again
   * the runs a change named, and learns which have left its filter. The page holds them all unless
   * `limit` is smaller.
   */
  runIds?: string[];
  /** From the previous page's `nextCursor`: runs older than the last one seen. */
  cursor?: string;
}

export interface RunListPage {
  runs: RunSummary[];
  /** Null on the last page. */
  nextCursor: string | null;
}

export interface RunCountParams extends RunFilter {
  /** Count at most this many (default 10,000, at most 10,000,000): a count of millions reads millions of rows. */
  upTo?: number;
}

export interface RunCount {
  /** The number of matching runs, or `upTo` when there are more. */
  count: number;
  /** False when there are more than `upTo`: read `count` as "more than". */
  exact: boolean;
}

/** Why a run named in a bulk operation was left alone. */
export type RunSkipReason =
  | 'not-found'
  /** Cancel: the run had already ended. */
  | 'ended'
  /** Replay: the run is still queued or running. */
  | 'not-ended'
  /** Replay: the run has no task of the name given to replay from. */
  | 'no-such-task'
  /** Replay: every task succeeded and no task was named to replay from. */
  | 'nothing-to-replay';

export interface RunSkip {
  runId: string;
  reason: RunSkipReason;
  /** The run's status when it was skipped (absent when not found). */
  status?: RunStatus;
}

export interface RunRecord extends RunSummary {
  input: Json;
  /**
   * A standalone task's output; for a workflow that succeeded, `{ [taskName]: output }`. Null until the
   * run succeeds (a failed workflow's partial outputs are on its task runs).
   */
  output: Json | null;
  error: TaskError | null;
  childKey: string | null;
}

export interface TaskRunRecord {
  id: string;
  runId: string;
  taskName: string;
  action: string;
  kind: TaskRunKind;
  status: TaskRunStatus;
  parents: string[];
  priority: number;
  input: Json;
  output: Json | null;
  error: TaskError | null;
  failureReason: FailureReason | null;
  attempt: number;
  maxAttempts: number;
  workerId: string | null;
  availableAt: string;
  assignedAt: string | null;
  startedAt: string | null;
  timeoutAt: string | null;
  finishedAt: string | null;
  createdAt: string;
  /** Why it has not started, while it is queued (null otherwise). */
  waitReason: WaitReason | null;
}

export interface AttemptRecord {
  taskRunId: string;
  attempt: number;
  workerId: string | null;
  status: AttemptStatus;
  failureReason: FailureReason | null;
  error: TaskError | null;
  assignedAt: string;
  startedAt: string | null;
  finishedAt: string;
}

/** The DAG of a run's workflow version: one node per task (hooks included), edges parent → child. */
export interface RunShape {
  nodes: Array<{ taskName: string; kind: TaskRunKind; action: string }>;
  edges: Array<{ from: string; to: string }>;
}

export interface EventRecord {
  id: string;
  key: string;
  payload: Json;
  metadata: Record<string, string>;
  createdAt: string;
  replayedAt: string | null;
}

export interface RunDetails {
  run: RunRecord;
  shape: RunShape;
  taskRuns: TaskRunRecord[];
  attempts: AttemptRecord[];
  /** The event that triggered the run, if one did. */
  events: EventRecord[];
  /** The task run (and its run) that spawned this run, for a child run. */
  parent: { runId: string; taskRunId: string; taskName: string; workflowName: string; status: RunStatus } | null;
  /**
   * How many runs this run's task runs spawned, in all and by status. List them, a page at a time, with
   * `runsList({ parentRunId })`.
   */
  childCounts: { total: number; byStatus: Record<RunStatus, number> };
}

export interface TaskLogRecord {
  taskRunId: string;
  attempt: number;
  level: LogLevel;
  message: string;
  /** What ctx.logger was given beside the message; null for none. */
  fields: Record<string, Json> | null;
  /** Set on the one marker line written where the task run's log reached its cap; null on every other line. */
  truncated: LogTruncation | null;
  /** When the worker wrote the line. */
  createdAt: string;
}

/**
 * A task run's log is kept up to a cap (docs/logs.md#the-cap): what it held when the cap was reached, and
 * what the task run has written since, all of it dropped (counted on as later lines come).
 */
export interface LogTruncation {
  keptLines: number;
  keptBytes: number;
  droppedLines: number;
  droppedBytes: number;
  /** The cap in force when it was reached. */
  maxLines: number;
  maxBytes: number;
}

/** Log lines across task runs, newest first. Every field narrows; times are ISO 8601. */
export interface LogSearchParams {
  /**
   * Words that must all appear, ignoring case, in the message or in the fields' JSON text; "double" or
   * 'single' quotes keep a phrase together ('"orderId": 42' finds that field as its JSON reads).
   */
  text?: string;
  levels?: LogLevel[];
  workflowName?: string;
  /** Written at or after. */
  since?: string;
  /** Written before. */
  until?: string;
  /** At most 1000 (default 100). */
  limit?: number;
  /** From the previous page's `nextCursor`: lines older than the last one seen. */
  cursor?: string;
}

export interface LogSearchLine extends TaskLogRecord {
  id: number;
  runId: string;
  workflowName: string;
  taskName: string;
}

export interface LogSearchPage {
  lines: LogSearchLine[];
  /** Null on the last page. */
  nextCursor: string | null;
}

export interface EventToPush {
  key: string;
  payload: Json;
  metadata?: Record<string, string>;
}

export interface PushedEvent {
  eventId: string;
  /** One run per workflow whose event patterns matched the key. */
  runIds: string[];
}

export interface EventListParams {
  key?: string;
  since?: string;
  until?: string;
  limit?: number;
  cursor?: string;
}

export interface EventListPage {
  events: Array<EventRecord & { runIds: string[] }>;
  nextCursor: string | null;
}

export interface WorkflowSummary {
  name: string;
  /** 'task' for a standalone task (a one-task workflow). */
  kind: 'task' | 'workflow';
  latestVersion: number;
  description: string | null;
  versionLabel: string | null;
  /** Event key patterns of the latest version. */
  events: string[];
  createdAt: string;
  updatedAt: string;
}

/** A workflow in the list, with how it has been doing and whether anything can run it now. */
export interface WorkflowListItem extends WorkflowSummary {
  /**
   * Its runs created in the last 24 hours, by status, counted up to `runsCap` (then `capped`; the
   * counts are of the newest `runsCap`).
   */
  recent: { total: number; capped: boolean; byStatus: Record<RunStatus, number> };
  /** Connected workers (active or draining) that offer at least one of its actions. */
  workers: number;
  /** Actions of the latest version that no connected worker offers: its runs wait for one. */
  unservedActions: string[];
}

export interface WorkflowVersionRecord {
  version: number;
  checksum: string;
  versionLabel: string | null;
  createdAt: string;
  shape: RunShape;
  /** The definition as registered (tasks with their policies). */
  definition: Json;
}

export interface WorkflowDetails {
  workflow: WorkflowSummary;
  /** Newest first. */
  versions: WorkflowVersionRecord[];
  /** The latest 20 runs. */
  recentRuns: RunSummary[];
}

export interface WorkerRecord {
  id: string;
  name: string;
  status: 'active' | 'draining' | 'disconnected';
  slots: number;
  /** Slots in use: attempts running on it, or assigned to it and about to start (at most `slots`). */
  busy: number;
  /** Attempts it holds beyond its slots, waiting in it for one to free (its `prefetch`). */
  held: number;
  actions: string[];
  labels: Record<string, string>;
  address: string;
  connectedAt: string;
  lastHeartbeatAt: string;
  disconnectedAt: string | null;
}

export interface EngineInfo {
  engineId: string;
  version: string;
  /** Where the data lives, for people: 'embedded PGlite in …' or 'Postgres …'. */
  database: string;
  /** Where workers connect, e.g. ['unix:///home/me/.cleaver/engine.sock']. Empty when administering only. */
  listening: string[];
  /** 'engine': this process schedules work; 'admin': it only reads and administers the database. */
  mode: 'engine' | 'admin';
  /**
   * How long this process keeps ended runs before deleting them, in ms; null when it deletes none
   * (retention off, or admin only: the engines sharing the database sweep by their own setting).
   */
  retentionMs: number | null;
}

/**
 * What changed, pushed to live views (WebSocket, IPC): they refetch what they show when it is named
 * here. Coalesced: one message per ~100 ms at most. Changes made by other engines sharing the database
 * are not pushed; views also refresh on a slow timer.
 */
export interface AdminChange {
  /** Runs created, started, ended, cancelled or replayed. */
  runIds: string[];
  /** Whether workers connected, disconnected or changed state. */
  workers: boolean;
  /** Whether workflows were registered or changed. */
  workflows: boolean;
}

export interface AdminApi {
  engineInfo(params: Record<string, never>): Promise<EngineInfo>;
  workflowsList(params: Record<string, never>): Promise<{ workflows: WorkflowListItem[]; runsCap: number }>;
  /** NOT_FOUND for an unknown workflow. */
  workflowGet(params: { name: string }): Promise<WorkflowDetails>;
  /** Triggers one run of the latest version, as `cleaver.run` does. */
  workflowTrigger(params: { name: string; input: Json; metadata?: Record<string, string>; priority?: 1 | 2 | 3 }): Promise<{ runId: string }>;
  workersList(params: { includeDisconnected?: boolean }): Promise<{ workers: WorkerRecord[] }>;
  runsList(params: RunListParams): Promise<RunListPage>;
  /** How many runs match a filter, counted up to a bound. */
  runsCount(params: RunCountParams): Promise<RunCount>;
  /** Everything the run view needs in one call. NOT_FOUND for an unknown run. */
  runGet(params: { runId: string }): Promise<RunDetails>;
  /** A task run's lines in the order written; `truncated`: where its log reached the cap, whichever page this is. */
  taskLogs(params: { taskRunId: string; limit?: number; afterId?: number }): Promise<{ lines: Array<TaskLogRecord & { id: number }>; truncated: LogTruncation | null }>;
  /** Log lines of every task run by text, level, workflow and time, newest first, a keyset page at a time. */
  logsSearch(params: LogSearchParams): Promise<LogSearchPage>;
  /**
   * A page of the run's kept stream chunks after `after` (all its task runs), for transports that
   * cannot push; read again with the returned cursor. Live subscriptions, which push, are the
   * StreamSubscriptions contract beside this one (shared/stream.ts).
   */
  runStreamRead(params: { runId: string; after?: StreamCursor }): Promise<StreamReadPage>;
  /**
   * Cancels runs that have not ended: queued and pending tasks at once; running attempts are told to
   * stop (ctx.signal aborts) and are recorded as cancelled without waiting for the worker. `skipped`
   * names the runs given by id that were left alone, and why (by filter, only runs not ended are chosen).
   */
  runsCancel(params: RunSelection): Promise<{ cancelled: string[]; skipped: RunSkip[] }>;
  /**
   * Runs ended runs again, on the same run, as new attempts: from `fromTask` (and what depends on it)
   * plus every task that did not succeed; tasks upstream that succeeded keep their outputs.
   * A single run given by id that cannot be replayed is refused with the reason.
   */
  runsReplay(params: RunSelection & { fromTask?: string }): Promise<{ replayed: string[]; skipped: RunSkip[] }>;
  /** Runs one failed or cancelled task run again (and the tasks that depend on it), on its ended run. */
  taskRetry(params: { taskRunId: string }): Promise<{ runId: string }>;
  /** Stores events and, in the same transaction, triggers the workflows whose patterns match. */
  eventsPush(params: { events: EventToPush[] }): Promise<{ events: PushedEvent[] }>;
  eventsList(params: EventListParams): Promise<EventListPage>;
  /** Triggers the workflows matching a stored event's key again, with its payload. */
  eventReplay(params: { eventId: string }): Promise<PushedEvent>;
  /** Rate-limit keys, static and dynamic, by key; `search` keeps those containing it (ignoring case). At most 1,000. */
  rateLimitsList(params: { search?: string }): Promise<{ rateLimits: RateLimitRecord[] }>;
  /**
   * Defines a static rate-limit key or changes one (a dynamic key of that name becomes static). What it
   * admitted already still counts under the new limit and duration.
   */
  rateLimitUpsert(params: { key: string; limit: number; duration: RateLimitDuration }): Promise<RateLimitRecord>;
  /** Removes a rate-limit key, static or dynamic; `deleted` is false when there was none. */
  rateLimitDelete(params: { key: string }): Promise<{ deleted: boolean }>;
  /**
   * Throughput, latency percentiles, error rate, queue depth and slots over a range, for every
   * workflow together (with each workflow's totals) or one (with its custom metrics). docs/metrics.md.
   */
  metricsQuery(params: MetricsQueryParams): Promise<MetricsSeries>;
}

export type AdminMethod = keyof AdminApi;

export const ADMIN_METHODS: readonly AdminMethod[] = [
  'engineInfo',
  'workflowsList',
  'workflowGet',
  'workflowTrigger',
  'workersList',
  'runsList',
  'runsCount',
  'runGet',
  'taskLogs',
  'logsSearch',
  'runStreamRead',
  'runsCancel',
  'runsReplay',
  'taskRetry',
  'eventsPush',
  'eventsList',
  'eventReplay',
  'rateLimitsList',
  'rateLimitUpsert',
  'rateLimitDelete',
  'metricsQuery',
];
