/**
 * The engine's one implementation of the admin contract (shared/admin-api.ts). Transports call it with
 * untrusted params; it checks them, runs the SQL operations and tells the rest of the engine what
 * changed (task runs queued, attempts to stop, runs ended).
 */
import type {
  AdminApi,
  EngineInfo,
  EventListPage,
  EventToPush,
  LogSearchPage,
  PushedEvent,
  RunCount,
  RunDetails,
  RunListPage,
  RunSelection,
  RunSkip,
  WorkerRecord,
  WorkflowDetails,
  WorkflowListItem,
} from '../../shared/admin-api.ts';
import { RATE_LIMIT_DURATION_MS, type RateLimitRecord } from '../../shared/flow-control.ts';
import type { TriggerItem } from '../../shared/protocol.ts';
import type { Json, WaitReason } from '../../shared/types.ts';
import { CleaverError, toError, unknownWorkflowError } from '../../shared/errors.ts';
import { validateJson, validateMetadata } from '../../shared/payload.ts';
import type { Driver, Queryable } from '../db/driver.ts';
import { sqlState } from '../db/sql-state.ts';
import type { EngineEvents } from '../engine-events.ts';
import { uuidv7 } from '../ids.ts';
import type { Logger } from '../log.ts';
import { eventGet, eventInsert, eventList, eventMarkReplayed, eventMatchWorkflows } from '../sql/event.ts';
import { adminRead } from '../sql/admin-read.ts';
import { runCancel } from '../sql/run-cancel.ts';
import { runDetailsGet } from '../sql/run-details.ts';
import { taskWaitList } from '../sql/task-wait.ts';
import { runCount, runIdsSelect, runList } from '../sql/run-list.ts';
import { runStatusesGet } from '../sql/run-read.ts';
import { runReplay, runReplayProblem, runReplaySkips } from '../sql/run-replay.ts';
import { rateLimitDelete, rateLimitList, rateLimitUpsert, type StoredRateLimit } from '../sql/rate-limit.ts';
import { runTrigger, type CreatedRuns } from '../sql/run-trigger.ts';
import { taskRunForRetry } from '../sql/task-retry.ts';
import { logSearch, taskLogList, taskLogTruncation } from '../sql/task-log.ts';
import { workerList } from '../sql/worker.ts';
import { WORKFLOW_RECENT_CAP, workflowGet, workflowList } from '../sql/workflow-read.ts';
import { parseWindow, reconfigureWindow, refillAt, used } from '../scheduler/rate-window.ts';
import { runsToCreate } from '../trigger-service.ts';
import { runStreamPage } from '../stream/stream-page.ts';
import { metricsQueryParam, metricsSeriesGet } from '../metrics/metrics-query.ts';
import type { MetricsSeries } from '../../shared/metrics.ts';
import { DEFAULT_STREAM_RETENTION_BYTES, streamCursorProblem, type StreamReadPage } from '../../shared/stream.ts';
import {
  eventKeyParam,
  eventListParam,
  logSearchParam,
  optionalLimit,
  optionalTaskName,
  paramsObject,
  rateLimitKeyParam,
  rateLimitListParam,
  rateLimitParam,
  runCountParam,
  runListParam,
  runSelectionParam,
  uuidParam,
} from './params.ts';

/** Bulk operations by filter work through the matching runs in chunks of this many. */
const CHUNK = 1000;
/** How long a log search with words may walk lines newest first before it reads the text index instead. */
const LOG_SEARCH_NEWEST_FIRST_MS = 200;

export interface AdminServiceOptions {
  driver: Driver;
  log: Logger;
  /** Engine id for NOTIFY, or null without LISTEN/NOTIFY. */
  notifyFrom: string | null;
  /**
   * Told what each committed change did: `tasks.queued` (replays, retries, events' runs),
   * `attempts.cancelled` and `runs.ended` (cancels), `runs.created` (runs inserted here rather than by
   * `trigger`: events, or no engine), `runs.changed` (replays, retries), `rate-limits.changed`.
   */
  events: EngineEvents;
  /** What this process is, for engineInfo. */
  info(): EngineInfo;
  /**
   * Creates runs (an engine passes its TriggerService, which batches and may assign directly). Without
   * it — administering a database another engine runs — runs are inserted here and NOTIFY wakes that engine.
   */
  trigger?(workflow: string, items: TriggerItem[]): Promise<string[]>;
  /** A worker not heard from for this long counts as gone when saying why a task run waits (default 6 s). */
  workerStaleMs?: number;
  /** Why a queued task run waits on a concurrency key or a rate limit, if this engine schedules. */
  flowWait?(taskRunId: string): WaitReason | null;
  /** What the engines keep of each task run's stream, for the notice that older chunks were cut. */
  streamRetentionBytes?: number;
}

export class AdminService implements AdminApi {
  constructor(private readonly o: AdminServiceOptions) {}

  async engineInfo(): Promise<EngineInfo> {
    return this.o.info();
  }

  async workflowsList(): Promise<{ workflows: WorkflowListItem[]; runsCap: number }> {
    return { workflows: await workflowList(this.o.driver), runsCap: WORKFLOW_RECENT_CAP };
  }

  async workflowGet(params: unknown): Promise<WorkflowDetails> {
    const name = paramsObject(params, 'workflowGet').name;
    if (typeof name !== 'string' || name.length === 0) throw new CleaverError('BAD_REQUEST', 'workflowGet.name must be a workflow name');
    const details = await adminRead(this.o.driver, (db) => workflowGet(db, { name }));
    if (!details) throw new CleaverError('NOT_FOUND', `no workflow or task named ${JSON.stringify(name)} is registered`);
    return details;
  }

  async workflowTrigger(params: unknown): Promise<{ runId: string }> {
    const p = paramsObject(params, 'workflowTrigger');
    if (typeof p.name !== 'string' || p.name.length === 0) throw new CleaverError('BAD_REQUEST', 'workflowTrigger.name must be a workflow name');
    if (p.input === undefined) throw new CleaverError('BAD_PAYLOAD', 'workflowTrigger.input is missing; pass {} for no input');
    // The same item a client's trigger sends: runsToCreate checks every field (priority 1-3 included).
    const item: TriggerItem = { input: p.input as TriggerItem['input'], metadata: p.metadata as Record<string, string> | undefined, priority: p.priority as TriggerItem['priority'] };
    if (this.o.trigger) return { runId: (await this.o.trigger(p.name, [item]))[0]! };
    const runs = runsToCreate([item], { triggerKind: 'manual' });
    const created = await runTrigger(this.o.driver, { workflowName: p.name, runs, notifyFrom: this.o.notifyFrom });
    if (!created) throw unknownWorkflowError(p.name);
    this.o.events.emit('runs.created', { runIds: created.runIds, created: [{ workflowName: p.name, ...created.created }] });
    return { runId: created.runIds[0]! };
  }

  async workersList(params: unknown): Promise<{ workers: WorkerRecord[] }> {
    const includeDisconnected = paramsObject(params, 'workersList').includeDisconnected;
    if (includeDisconnected !== undefined && typeof includeDisconnected !== 'boolean') throw new CleaverError('BAD_REQUEST', 'workersList.includeDisconnected must be a boolean');
    return { workers: await workerList(this.o.driver, { includeDisconnected: includeDisconnected === true }) };
  }

  async runsList(params: unknown): Promise<RunListPage> {
    const p = runListParam(params);
    return adminRead(this.o.driver, (db) => runList(db, p));
  }

  async runsCount(params: unknown): Promise<RunCount> {
    const p = runCountParam(params);
    return adminRead(this.o.driver, (db) => runCount(db, p));
  }

  async runGet(params: unknown): Promise<RunDetails> {
    const runId = uuidParam(paramsObject(params, 'runGet').runId, 'runGet.runId');
    const details = await runDetailsGet(this.o.driver, { runId });
    if (!details) throw new CleaverError('NOT_FOUND', `no run with id ${runId}`);
    const queued = details.taskRuns.filter((t) => t.status === 'queued').map((t) => t.id);
    if (queued.length > 0) {
      const reasons = await taskWaitList(this.o.driver, { taskRunIds: queued, staleMs: this.o.workerStaleMs ?? 6_000 });
      for (const t of details.taskRuns) t.waitReason = this.o.flowWait?.(t.id) ?? reasons.get(t.id) ?? null;
    }
    return details;
  }

  async taskLogs(params: unknown): ReturnType<AdminApi['taskLogs']> {
    const p = paramsObject(params, 'taskLogs');
    const taskRunId = uuidParam(p.taskRunId, 'taskLogs.taskRunId');
    const afterId = p.afterId === undefined ? undefined : Number(p.afterId);
    if (afterId !== undefined && !Number.isSafeInteger(afterId)) throw new CleaverError('BAD_REQUEST', 'taskLogs.afterId must be an integer');
    const [lines, truncated] = await Promise.all([
      taskLogList(this.o.driver, { taskRunId, limit: optionalLimit(p.limit, 'taskLogs.limit', 10_000), afterId }),
      taskLogTruncation(this.o.driver, { taskRunId }),
    ]);
    return { lines, truncated };
  }

  async logsSearch(params: unknown): Promise<LogSearchPage> {
    const query = logSearchParam(params);
    // On Postgres a search with words that the newest-first walk cannot answer quickly is read through
    // the text index instead (logSearch); adminRead's transaction holds the savepoint that takes.
    const textIndexAfterMs = this.o.driver.kind === 'pg' ? LOG_SEARCH_NEWEST_FIRST_MS : undefined;
    return adminRead(this.o.driver, (db) => logSearch(db, { ...query, textIndexAfterMs }));
  }

  async runStreamRead(params: unknown): Promise<StreamReadPage> {
    const p = paramsObject(params, 'runStreamRead');
    const runId = uuidParam(p.runId, 'runStreamRead.runId');
    const problem = streamCursorProblem(p.after, 'runStreamRead.after');
    if (problem) throw new CleaverError('BAD_REQUEST', problem);
    const after = (p.after ?? {}) as StreamReadPage['cursor'];
    return runStreamPage(this.o.driver, { runId, after, retentionBytes: this.o.streamRetentionBytes ?? DEFAULT_STREAM_RETENTION_BYTES });
  }

  async runsCancel(params: unknown): Promise<{ cancelled: string[]; skipped: RunSkip[] }> {
    const selection = runSelectionParam(params, 'runsCancel');
    const cancelled: string[] = [];
    const skipped: RunSkip[] = [];
    await this.eachChunk(selection, ['queued', 'running'], async (runIds) => {
      const result = await retryOnConflict(() => runCancel(this.o.driver, { runIds }));
      cancelled.push(...result.cancelled);
      if (result.active.length > 0) this.o.events.emit('attempts.cancelled', { attempts: result.active });
      if (result.cancelled.length > 0) this.o.events.emit('runs.ended', { runIds: result.cancelled, ended: result.ended, taskRunIds: result.active.map((a) => a.taskRunId) });
      if (selection.runIds) skipped.push(...(await cancelSkips(this.o.driver, runIds, result.cancelled)));
    });
    return { cancelled, skipped };
  }

  async runsReplay(params: unknown): Promise<{ replayed: string[]; skipped: RunSkip[] }> {
    const selection = runSelectionParam(params, 'runsReplay');
    const fromTask = optionalTaskName(paramsObject(params, 'runsReplay').fromTask, 'runsReplay.fromTask');
    const replayed: string[] = [];
    const skipped: RunSkip[] = [];
    await this.eachChunk(selection, ['succeeded', 'failed', 'cancelled'], async (runIds) => {
      const result = await retryOnConflict(() => runReplay(this.o.driver, { runIds, fromTask, notifyFrom: this.o.notifyFrom }));
      replayed.push(...result.replayed);
      if (result.queuedActions.length > 0) this.o.events.emit('tasks.queued', { actions: result.queuedActions });
      if (result.replayed.length > 0) this.o.events.emit('runs.changed', { runIds: result.replayed });
      if (selection.runIds) {
        const done = new Set(result.replayed);
        skipped.push(...(await runReplaySkips(this.o.driver, { runIds: runIds.filter((id) => !done.has(id)), fromTask })));
      }
    });
    // Asked for one run by id and nothing happened: say why rather than return an empty list.
    if (selection.runIds?.length === 1 && replayed.length === 0) {
      const problem = await runReplayProblem(this.o.driver, { runId: selection.runIds[0]!, fromTask });
      throw new CleaverError(problem?.startsWith('no run') ? 'NOT_FOUND' : 'BAD_REQUEST', problem ?? `run ${selection.runIds[0]} has nothing to replay`);
    }
    return { replayed, skipped };
  }

  async taskRetry(params: unknown): Promise<{ runId: string }> {
    const taskRunId = uuidParam(paramsObject(params, 'taskRetry').taskRunId, 'taskRetry.taskRunId');
    const task = await taskRunForRetry(this.o.driver, { taskRunId });
    if (!task) throw new CleaverError('NOT_FOUND', `no task run with id ${taskRunId}`);
    if (task.kind === 'on_failure' || task.kind === 'on_success') {
      throw new CleaverError('BAD_REQUEST', `task run ${taskRunId} is the run's ${task.kind.replace('_', '-')} hook; replay the run instead`);
    }
    if (task.status !== 'failed' && task.status !== 'cancelled') {
      throw new CleaverError('BAD_REQUEST', `task run ${taskRunId} is ${task.status}; only a failed or cancelled task run can be retried`);
    }
    const result = await retryOnConflict(() => runReplay(this.o.driver, { runIds: [task.runId], fromTask: task.taskName, notifyFrom: this.o.notifyFrom }));
    if (result.replayed.length === 0) {
      throw new CleaverError('BAD_REQUEST', (await runReplayProblem(this.o.driver, { runId: task.runId, fromTask: task.taskName })) ?? `run ${task.runId} could not be replayed`);
    }
    this.o.events.emit('tasks.queued', { actions: result.queuedActions });
    this.o.events.emit('runs.changed', { runIds: [task.runId] });
    return { runId: task.runId };
  }

  async eventsPush(params: unknown): Promise<{ events: PushedEvent[] }> {
    const p = paramsObject(params, 'eventsPush');
    if (!Array.isArray(p.events) || p.events.length === 0 || p.events.length > 10_000) {
      throw new CleaverError('BAD_REQUEST', 'eventsPush.events must be an array of 1 to 10000 events');
    }
    const events = (p.events as unknown[]).map((e, i) => {
      const where = p.events && (p.events as unknown[]).length > 1 ? `events[${i}]` : 'event';
      const event = paramsObject(e, where) as Partial<EventToPush>;
      return {
        id: uuidv7(),
        key: eventKeyParam(event.key, `${where}.key`),
        payload: validateJson(event.payload === undefined ? {} : event.payload, `${where}.payload`),
        metadata: validateMetadata(event.metadata, `${where}.metadata`),
      };
    });
    return { events: await this.storeAndTrigger(events, { insert: true }) };
  }

  async eventsList(params: unknown): Promise<EventListPage> {
    return eventList(this.o.driver, eventListParam(params));
  }

  async eventReplay(params: unknown): Promise<PushedEvent> {
    const eventId = uuidParam(paramsObject(params, 'eventReplay').eventId, 'eventReplay.eventId');
    const event = await eventGet(this.o.driver, { eventId });
    if (!event) throw new CleaverError('NOT_FOUND', `no event with id ${eventId}`);
    const [pushed] = await this.storeAndTrigger([{ id: event.id, key: event.key, payload: event.payload, metadata: event.metadata }], { insert: false });
    return pushed!;
  }

  async metricsQuery(params: unknown): Promise<MetricsSeries> {
    return metricsSeriesGet(this.o.driver, metricsQueryParam(params));
  }

  async rateLimitsList(params: unknown): Promise<{ rateLimits: RateLimitRecord[] }> {
    const stored = await rateLimitList(this.o.driver, rateLimitListParam(params));
    const now = Date.now();
    return { rateLimits: stored.map((r) => rateLimitRecord(r, now)) };
  }

  async rateLimitUpsert(params: unknown): Promise<RateLimitRecord> {
    const p = rateLimitParam(params, 'rateLimitUpsert');
    const stored = await rateLimitUpsert(this.o.driver, { ...p, notify: this.o.driver.capabilities.listenNotify });
    this.o.events.emit('rate-limits.changed', { key: p.key });
    return rateLimitRecord(stored, Date.now());
  }

  async rateLimitDelete(params: unknown): Promise<{ deleted: boolean }> {
    const key = rateLimitKeyParam(paramsObject(params, 'rateLimitDelete').key, 'rateLimitDelete.key');
    const deleted = await rateLimitDelete(this.o.driver, { key, notify: this.o.driver.capabilities.listenNotify });
    if (deleted) this.o.events.emit('rate-limits.changed', { key });
    return { deleted };
  }

  /**
   * Stores events (unless replaying) and creates one run per workflow whose patterns match each key,
   * all in one transaction: an event is never stored without its runs, nor runs without their event.
   */
  private async storeAndTrigger(
    events: Array<{ id: string; key: string; payload: Json; metadata: Record<string, string> }>,
    options: { insert: boolean },
  ): Promise<PushedEvent[]> {
    const queued = new Set<string>();
    const runIdsByEvent = new Map<string, string[]>(events.map((e) => [e.id, []]));
    const createdRuns: CreatedRuns[] = [];
    await retryOnConflict(() =>
      this.o.driver.transaction(async (tx: Queryable) => {
        queued.clear();
        createdRuns.length = 0;
        for (const ids of runIdsByEvent.values()) ids.length = 0;
        if (options.insert) await eventInsert(tx, { events });
        else await eventMarkReplayed(tx, { eventId: events[0]!.id });
        const matches = await eventMatchWorkflows(tx, { keys: [...new Set(events.map((e) => e.key))] });
        const byWorkflow = new Map<string, typeof events>();
        for (const event of events) {
          for (const workflow of matches.get(event.key) ?? []) {
            const list = byWorkflow.get(workflow);
            if (list) list.push(event);
            else byWorkflow.set(workflow, [event]);
          }
        }
        for (const [workflow, matched] of byWorkflow) {
          const runs = matched.flatMap((event) =>
            runsToCreate([{ input: event.payload, metadata: event.metadata }], { triggerKind: 'event', eventId: event.id }),
          );
          const created = await runTrigger(tx, { workflowName: workflow, runs, notifyFrom: this.o.notifyFrom });
          if (!created) continue; // its trigger row outlived the workflow: nothing to run
          createdRuns.push({ workflowName: workflow, ...created.created });
          created.runIds.forEach((runId, i) => runIdsByEvent.get(matched[i]!.id)!.push(runId));
          for (const action of created.queuedActions) queued.add(action);
        }
      }),
    );
    if (queued.size > 0) this.o.events.emit('tasks.queued', { actions: [...queued] });
    this.o.events.emit('runs.created', { runIds: [...runIdsByEvent.values()].flat(), created: createdRuns });
    return events.map((e) => ({ eventId: e.id, runIds: runIdsByEvent.get(e.id)! }));
  }

  /** Runs `work` over the selected runs: the given ids, or those matching the filter, in chunks. */
  private async eachChunk(selection: RunSelection, statuses: Array<'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled'>, work: (runIds: string[]) => Promise<void>): Promise<void> {
    if (selection.runIds) {
      for (let i = 0; i < selection.runIds.length; i += CHUNK) await work(selection.runIds.slice(i, i + CHUNK));
      return;
    }
    const filter = { ...selection.filter, statuses: selection.filter?.statuses?.filter((s) => statuses.includes(s)) ?? statuses };
    if (filter.statuses.length === 0) return;
    let afterId: string | undefined;
    for (;;) {
      const runIds = await runIdsSelect(this.o.driver, { filter, limit: CHUNK, afterId });
      if (runIds.length === 0) return;
      await work(runIds);
      if (runIds.length < CHUNK) return;
      afterId = runIds.at(-1);
    }
  }
}

/**
 * A stored key as the admin contract shows it, counted at `now` as the scheduler will count it: a window
 * kept from before an upsert is reconfigured to the key's new limit and duration first. `refillsAt` is
 * when one more unit than is free now fits (for a key within its limit, when its oldest counted
 * admission stops counting); null when nothing is counted.
 */
function rateLimitRecord(stored: StoredRateLimit, now: number): RateLimitRecord {
  const { state, ...definition } = stored;
  if (state === null) return { ...definition, used: 0, refillsAt: null };
  let window;
  try {
    window = parseWindow(state);
  } catch (e: unknown) {
    throw new CleaverError('INTERNAL', `rate-limit key ${JSON.stringify(stored.key)} has an unreadable window (${toError(e).message}); the scheduler admits nothing under it. Delete the key and define it again`);
  }
  const config = { limit: stored.limit, windowMs: RATE_LIMIT_DURATION_MS[stored.duration] };
  if (window.limit !== config.limit || window.windowMs !== config.windowMs) window = reconfigureWindow(window, config);
  const counted = used(window, now);
  const refill = refillAt(window, now, Math.max(0, window.limit - counted) + 1);
  return { ...definition, used: counted, refillsAt: refill === null ? null : new Date(refill).toISOString() };
}

/** Why the runs of `runIds` that were not cancelled were left alone: gone, or already ended. */
async function cancelSkips(db: Queryable, runIds: string[], cancelled: string[]): Promise<RunSkip[]> {
  const done = new Set(cancelled);
  const rest = runIds.filter((id) => !done.has(id));
  const statuses = await runStatusesGet(db, { runIds: rest });
  return rest.map((runId): RunSkip => {
    const status = statuses.get(runId);
    return status === undefined ? { runId, reason: 'not-found' } : { runId, reason: 'ended', status };
  });
}

/**
 * Retries a statement that lost a deadlock or serialization race with a concurrent finisher (task
 * and run rows are locked in the same order everywhere, but batches can still meet crosswise).
 */
async function retryOnConflict<T>(work: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await work();
    } catch (e: unknown) {
      const state = sqlState(e);
      if ((state !== '40P01' && state !== '40001') || attempt >= 5) throw e;
      await new Promise((resolve) => setTimeout(resolve, 10 * attempt));
    }
  }
}
