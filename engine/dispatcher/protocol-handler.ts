/**
 * What the engine does with each protocol message from a client or worker. Depends on narrow services
 * (registry, writer, triggers, waiters) so the message semantics read in one place, and says what
 * happened to workers, slots and definitions on the engine's events.
 */
import { randomUUID } from 'node:crypto';
import type { Driver } from '../db/driver.ts';
import type { Logger } from '../log.ts';
import type { AttemptWriter } from '../attempt-writer.ts';
import type { EngineEvents } from '../engine-events.ts';
import type { RunWaiters } from '../run-waiters.ts';
import type { TriggerService } from '../trigger-service.ts';
import type { AdminService } from '../admin/admin-service.ts';
import type { StreamWriter } from '../stream/stream-writer.ts';
import type { StreamHub } from '../stream/stream-hub.ts';
import type { EngineMetrics } from '../metrics/engine-metrics.ts';
import { definitionName, workflowRegister, type RegisteredDefinition } from '../sql/workflow-register.ts';
import { workerSetStatus, workerUpsert } from '../sql/worker.ts';
import { taskActiveByWorkers, taskLeaseRefresh } from '../sql/task-lease.ts';
import type { Connection, ConnectionHandlers } from './connection.ts';
import { newWorkerSession, type WorkerRegistry, type WorkerSession } from './worker-registry.ts';
import { ADMIN_METHODS } from '../../shared/admin-api.ts';
import {
  PROTOCOL_VERSION,
  type AckMessage,
  type ClientMessage,
  type EngineStatus,
  type HelloMessage,
  type ResultMessage,
  type RunOutcome,
  type StreamAckMessage,
  type StreamMessage,
  type StreamSubscribeRequest,
  type WelcomeMessage,
} from '../../shared/protocol.ts';
import { taskDefinitionProblem } from '../../shared/task-definition.ts';
import { flowRulesProblem } from '../scheduler/flow-rules.ts';
import { workflowActions, workflowDefinitionProblem } from '../../shared/workflow-definition.ts';
import { CleaverError, toError } from '../../shared/errors.ts';
import { validateJson } from '../../shared/payload.ts';
import { logFieldsFrom } from '../../shared/task-log.ts';

export interface ProtocolHandlerOptions {
  driver: Driver;
  engineId: string;
  log: Logger;
  registry: WorkerRegistry;
  /** Told `workers.changed`, `slots.freed` and `definitions.changed`. */
  events: EngineEvents;
  writer: AttemptWriter;
  triggers: TriggerService;
  waiters: RunWaiters;
  admin: AdminService;
  streamWriter: StreamWriter;
  streams: StreamHub;
  metrics: Pick<EngineMetrics, 'customValue'>;
  heartbeatIntervalMs: number;
  maxFrameBytes: number;
  maxStreamChunkBytes: number;
  status: () => Promise<EngineStatus>;
}

/** Stream subscriptions one connection may hold at once. */
const MAX_SUBSCRIPTIONS_PER_CONNECTION = 1000;

/**
 * How long the acknowledgement of written results may wait for another frame to the same worker. A
 * busy worker's next assignment is usually decided within it, and the two then leave in one write: one
 * wake-up of the worker instead of two, which on a small machine costs both processes more than the
 * frames (measured: a quarter of the engine's busy time was its socket writes). An acknowledgement only
 * lets the worker forget a result it keeps to send again after a reconnect: waiting delays nothing else.
 */
const RESULT_ACK_HOLD_MS = 5;

interface WorkerConnectionState {
  session: WorkerSession;
  connection: Connection;
  /** Outcomes written (or refused) and not yet acknowledged: they leave together (RESULT_ACK_HOLD_MS). */
  ack: AckMessage;
  ackTimer: NodeJS.Timeout | null;
  /** Stream acknowledgements leave at the end of the tick (putStream's backpressure waits on them). */
  ackScheduled: boolean;
  /** Stream chunks written (or refused) since the last stream_ack: per attempt, the highest seq. */
  streamAcks: Map<string, StreamAckMessage['acks'][number]>;
}

export class ProtocolHandler implements ConnectionHandlers {
  private readonly o: ProtocolHandlerOptions;
  private readonly workers = new Map<Connection, WorkerConnectionState>();
  /** Each connection's stream subscriptions, by the number its client gave them. */
  private readonly subscriptions = new Map<Connection, Map<number, () => void>>();

  constructor(options: ProtocolHandlerOptions) {
    this.o = options;
  }

  /** Session ids of the workers connected here (for heartbeats). */
  sessionIds(): string[] {
    return [...this.workers.values()].map((w) => w.session.sessionId);
  }

  async hello(connection: Connection, hello: HelloMessage): Promise<WelcomeMessage> {
    const welcome: WelcomeMessage = {
      t: 'welcome',
      protocol: PROTOCOL_VERSION,
      engineId: this.o.engineId,
      heartbeatIntervalMs: this.o.heartbeatIntervalMs,
      maxFrameBytes: this.o.maxFrameBytes,
      maxStreamChunkBytes: this.o.maxStreamChunkBytes,
    };
    if (hello.role === 'client') return welcome;
    const registration = checkWorkerHello(hello);
    for (const definition of registration.definitions) {
      if ((await workflowRegister(this.o.driver, { definition })).created) this.o.events.emit('definitions.changed', { workflow: definitionName(definition) });
    }
    const sessionId = randomUUID();
    await workerUpsert(this.o.driver, {
      id: registration.workerId,
      sessionId,
      name: registration.name,
      engineId: this.o.engineId,
      actions: registration.actions,
      slots: registration.slots,
      labels: registration.labels,
      address: connection.remote,
    });
    // A worker reconnecting before its old connection was seen to drop: the new session takes over
    // (its attempts are re-adopted below from the database).
    const previous = this.o.registry.get(registration.workerId);
    if (previous) {
      this.o.registry.remove(previous);
      previous.close('replaced by a new connection of the same worker');
    }
    const session = newWorkerSession({
      id: registration.workerId,
      sessionId,
      name: registration.name,
      actions: registration.actions,
      slots: registration.slots,
      prefetch: registration.prefetch,
      labels: registration.labels,
      address: connection.remote,
      send: (message) => {
        // Acknowledgements waiting for a frame to this worker go with this one, in the same write.
        const state = this.workers.get(connection);
        if (state) this.sendResultAcks(state);
        connection.send(message);
      },
      close: (reason) => {
        this.o.log.info('closing worker connection', { worker: registration.name, id: registration.workerId, reason });
        connection.close();
      },
    });
    await this.adoptInflight(session, hello.inflight ?? []);
    connection.workerId = session.id;
    this.workers.set(connection, { session, connection, ack: { t: 'ack', accepted: [], rejected: [] }, ackTimer: null, ackScheduled: false, streamAcks: new Map() });
    this.o.registry.add(session);
    this.o.log.info('worker connected', {
      worker: session.name,
      id: session.id,
      actions: session.actions.join(','),
      slots: session.slots,
      prefetch: session.prefetch || undefined,
      via: connection.remote,
      resumed: session.running.size || undefined,
    });
    this.o.events.emit('workers.changed', { worker: session, change: 'connected' });
    return { ...welcome, workerId: session.id };
  }

  /**
   * After a reconnect, keeps the attempts the worker says it still holds — running, or finished with a
   * result it will send again — if they are still its current attempts, and fails as WORKER_LOST those
   * assigned to it that it does not have (their assignment was lost with the old connection). Those are
   * disowned: until their end is written the database still shows them assigned to the worker, and the
   * read that delivers other engines' assignments (Scheduler.deliverAssigned) must not push them to it.
   */
  private async adoptInflight(session: WorkerSession, inflight: Array<{ taskRunId: string; attempt: number }>): Promise<void> {
    const active = await taskActiveByWorkers(this.o.driver, { workerIds: [session.id] });
    if (active.length === 0) return;
    const claimed = new Set(inflight.map((i) => `${i.taskRunId}:${i.attempt}`));
    const lost = [];
    for (const a of active) {
      if (claimed.has(`${a.taskRunId}:${a.attempt}`)) {
        session.running.set(a.taskRunId, a.attempt);
        // Given already: its result may come in (and free the slot) while the database still shows the
        // attempt unstarted, and it must not then be pushed to the worker again, which would skip it.
        session.given.add(`${a.taskRunId}:${a.attempt}`);
      } else {
        lost.push(a);
        // Never pushed to this session, whatever the database shows until the loss is written.
        session.disowned.add(`${a.taskRunId}:${a.attempt}`);
      }
    }
    this.o.writer.finishLost(
      lost.map((a) => ({ ...a, lostSession: { sessionId: session.sessionId } })),
      `worker ${session.name} reconnected without this attempt (its assignment was lost)`,
    );
  }

  message(connection: Connection, message: ClientMessage): void {
    const worker = this.workers.get(connection);
    if (worker) {
      const now = Date.now();
      const wasStale = this.o.registry.isStale(worker.session, now);
      worker.session.lastSeenAt = now;
      // A worker that was silent got no work meanwhile: it may take some now.
      if (wasStale) this.o.events.emit('slots.freed', { worker: worker.session });
    }
    switch (message.t) {
      case 'hello':
        throw new CleaverError('BAD_REQUEST', 'hello was already received on this connection');
      case 'heartbeat':
        return;
      case 'trigger':
        void this.respond(connection, message.id, async () => {
          const parent = message.parent ? this.checkParent(worker, message.parent) : null;
          const runIds = await this.o.triggers.trigger(message.workflow, message.items, { parent }).catch(async (e: unknown) => {
            if (!(e instanceof CleaverError && e.code === 'UNKNOWN_TASK' && message.declared)) throw e;
            await this.registerDeclared(message.workflow, message.declared);
            return this.o.triggers.trigger(message.workflow, message.items, { parent });
          });
          if (!message.wait) return { runIds };
          const outcomes: RunOutcome[] = await Promise.all(runIds.map((id) => this.o.waiters.wait(id, { justCreated: true })));
          return { runIds, outcomes };
        });
        return;
      case 'await':
        void this.respond(connection, message.id, () => this.o.waiters.wait(message.runId));
        return;
      case 'status':
        void this.respond(connection, message.id, () => this.o.status());
        return;
      case 'admin': {
        const method = message.method;
        if (!ADMIN_METHODS.includes(method)) throw new CleaverError('BAD_REQUEST', `admin: unknown method ${JSON.stringify(method)}; one of ${ADMIN_METHODS.join(', ')}`);
        void this.respond(connection, message.id, () => (this.o.admin[method] as (params: unknown) => Promise<unknown>).call(this.o.admin, message.params));
        return;
      }
      case 'started': {
        const w = this.requireWorker(worker, message.t);
        if (!this.o.registry.holds(w.session, message.taskRunId, message.attempt)) return; // superseded, or never its
        this.o.writer.start({ taskRunId: message.taskRunId, attempt: message.attempt, startedAt: message.at, workerId: w.session.id });
        return;
      }
      case 'result':
        this.onResult(this.requireWorker(worker, message.t), message);
        return;
      case 'log':
        // Lines of an attempt this worker does not hold (any more) are dropped, like its late results.
        if (!this.o.registry.holds(this.requireWorker(worker, message.t).session, message.taskRunId, message.attempt)) return;
        this.o.writer.appendLog({
          taskRunId: message.taskRunId,
          attempt: message.attempt,
          level: message.level,
          message: message.message.replaceAll('\u0000', '\uFFFD'),
          fields: logFieldsFrom(message.fields, 'log.fields'),
          at: message.at,
        });
        return;
      case 'metric': {
        const w = this.requireWorker(worker, message.t);
        // Like log lines, values of an attempt this worker does not hold (any more) are dropped.
        if (!this.o.registry.holds(w.session, message.taskRunId, message.attempt)) return;
        if (!w.session.actions.includes(message.action)) {
          throw new CleaverError('BAD_REQUEST', `metric.action ${JSON.stringify(message.action)} is not an action this worker offers; send the attempt's own action`);
        }
        this.o.metrics.customValue({ action: message.action, name: message.name, value: message.value });
        return;
      }
      case 'refresh_timeout': {
        const w = this.requireWorker(worker, message.t);
        void this.respond(connection, message.id, async () => {
          const ok =
            this.o.registry.holds(w.session, message.taskRunId, message.attempt) &&
            (await taskLeaseRefresh(this.o.driver.relaxed, { taskRunId: message.taskRunId, attempt: message.attempt, ms: message.ms, workerId: w.session.id }));
          if (!ok) throw new CleaverError('NOT_FOUND', `attempt ${message.attempt} of task run ${message.taskRunId} is no longer running`);
          return { ok: true };
        });
        return;
      }
      case 'stream':
        this.onStream(this.requireWorker(worker, message.t), message);
        return;
      case 'stream_subscribe':
        void this.respond(connection, message.id, () => this.subscribe(connection, message));
        return;
      case 'stream_unsubscribe': {
        const subscriptions = this.subscriptions.get(connection);
        subscriptions?.get(message.subscription)?.();
        subscriptions?.delete(message.subscription);
        return;
      }
      case 'drain': {
        const w = this.requireWorker(worker, message.t);
        w.session.draining = true;
        this.o.events.emit('workers.changed', { worker: w.session, change: 'draining' });
        this.o.log.info('worker draining', { worker: w.session.name, id: w.session.id, running: w.session.running.size });
        void this.respond(connection, message.id, async () => {
          await workerSetStatus(this.o.driver, { sessionId: w.session.sessionId, status: 'draining' });
          return { running: w.session.running.size };
        });
        return;
      }
    }
  }

  /**
   * A producer triggered a name no worker has registered, with its own declaration of it: register
   * that (checked as a worker's hello would be), so the runs wait in the queue for a worker.
   */
  private async registerDeclared(name: string, declared: RegisteredDefinition): Promise<void> {
    const problem = (text: string) => new CleaverError('BAD_REQUEST', `trigger of ${name}: its declaration ${text}`);
    const declaredName = declared.kind === 'task' ? declared.task?.name : declared.workflow?.name;
    if (declaredName !== name) throw problem(`is named ${JSON.stringify(declaredName)}`);
    const invalid = (declared.kind === 'task' ? taskDefinitionProblem(declared.task) : workflowDefinitionProblem(declared.workflow)) ?? flowRulesProblem(declared);
    if (invalid) throw problem(invalid);
    if ((await workflowRegister(this.o.driver, { definition: declared })).created) this.o.events.emit('definitions.changed', { workflow: name });
  }

  /** Child runs are spawned by an attempt this worker is running. */
  private checkParent(worker: WorkerConnectionState | undefined, parent: { taskRunId: string; attempt: number }): { taskRunId: string } {
    const w = this.requireWorker(worker, 'a trigger with a parent');
    if (w.session.running.get(parent.taskRunId) !== parent.attempt) {
      throw new CleaverError('BAD_REQUEST', `attempt ${parent.attempt} of task run ${parent.taskRunId} is not running on this worker; children are spawned from a running task`);
    }
    return { taskRunId: parent.taskRunId };
  }

  private requireWorker(worker: WorkerConnectionState | undefined, what: string): WorkerConnectionState {
    if (!worker) throw new CleaverError('BAD_REQUEST', `${what} is only accepted from a worker connection`);
    return worker;
  }

  private onResult(worker: WorkerConnectionState, message: ResultMessage): void {
    const { taskRunId, attempt } = message;
    if (!this.o.registry.holds(worker.session, taskRunId, attempt)) {
      // Another worker's attempt, or one this worker no longer holds (ended by the engine, superseded).
      this.queueAck(worker, { taskRunId, attempt }, false, 'this worker does not hold that attempt (it ended, was superseded, or belongs to another worker)');
      return;
    }
    const action = worker.session.runningActions.get(taskRunId);
    // The slot is free as soon as the worker says so; the write follows in the next batch.
    this.o.registry.release(worker.session.id, taskRunId, attempt);
    this.o.events.emit('slots.freed', { worker: worker.session, ended: { taskRunId, attempt } });
    let output = message.output ?? null;
    let ok = message.ok;
    let error = message.error;
    let nonRetryable = message.nonRetryable;
    if (ok) {
      try {
        output = validateJson(output, 'output');
      } catch (e: unknown) {
        ok = false;
        nonRetryable = true;
        error = { message: `task returned a value that cannot be stored: ${toError(e).message}`, name: 'CleaverError' };
      }
    }
    const finish = () => this.o.writer.finish(
      {
        taskRunId,
        attempt,
        ok,
        output,
        error: error ? { message: String(error.message).replaceAll('\u0000', '\uFFFD'), name: error.name, stack: error.stack?.replaceAll('\u0000', '\uFFFD') } : undefined,
        reason: ok ? undefined : nonRetryable ? 'NON_RETRYABLE' : (message.reason ?? 'ERROR'),
        nonRetryable,
        startedAt: message.startedAt,
        finishedAt: message.finishedAt,
        workerId: worker.session.id,
        action,
      },
      (accepted, reason) => this.queueAck(worker, { taskRunId, attempt }, accepted, reason),
    );
    // The outcome is written after the attempt's chunks: whoever sees the run end finds them all stored.
    const streamed = this.o.streamWriter.written(taskRunId, attempt);
    if (streamed) void streamed.then(finish);
    else finish();
  }

  private queueAck(worker: WorkerConnectionState, key: { taskRunId: string; attempt: number }, accepted: boolean, reason?: string): void {
    if (accepted) worker.ack.accepted.push(key);
    else worker.ack.rejected.push({ ...key, reason: reason ?? 'rejected' });
    if (worker.ackTimer) return;
    worker.ackTimer = setTimeout(() => this.sendResultAcks(worker), RESULT_ACK_HOLD_MS);
    worker.ackTimer.unref();
  }

  /** The result acknowledgements waiting, in one ack frame. */
  private sendResultAcks(worker: WorkerConnectionState): void {
    if (worker.ackTimer) {
      clearTimeout(worker.ackTimer);
      worker.ackTimer = null;
    }
    const ack = worker.ack;
    if (ack.accepted.length === 0 && ack.rejected.length === 0) return;
    worker.ack = { t: 'ack', accepted: [], rejected: [] };
    worker.connection.send(ack);
  }

  /** Every stream acknowledgement of one tick leaves together, in one stream_ack. */
  private scheduleAcks(worker: WorkerConnectionState): void {
    worker.ackScheduled = true;
    queueMicrotask(() => {
      worker.ackScheduled = false;
      if (worker.streamAcks.size > 0) {
        const acks = [...worker.streamAcks.values()];
        worker.streamAcks.clear();
        worker.session.send({ t: 'stream_ack', acks });
      }
    });
  }

  /**
   * A chunk of an attempt this worker holds is stored and then acknowledged; one of an attempt it does
   * not hold (any more) is acknowledged and dropped, like its late log lines. Either way the worker
   * can forget it once acknowledged. One that cannot be stored is refused with the reason (and
   * acknowledged, so it is not sent again).
   */
  private onStream(worker: WorkerConnectionState, message: StreamMessage): void {
    const ack = () => this.queueStreamAck(worker, message);
    if (!this.o.registry.holds(worker.session, message.taskRunId, message.attempt)) {
      ack();
      return;
    }
    try {
      this.o.streamWriter.append(message, ack);
    } catch (e: unknown) {
      ack();
      throw e;
    }
  }

  private queueStreamAck(worker: WorkerConnectionState, chunk: { taskRunId: string; attempt: number; seq: number }): void {
    const key = `${chunk.taskRunId}:${chunk.attempt}`;
    const previous = worker.streamAcks.get(key);
    if (!previous || previous.seq < chunk.seq) worker.streamAcks.set(key, { taskRunId: chunk.taskRunId, attempt: chunk.attempt, seq: chunk.seq });
    if (worker.ackScheduled) return;
    this.scheduleAcks(worker);
  }

  private async subscribe(connection: Connection, message: StreamSubscribeRequest): Promise<Record<string, never>> {
    let subscriptions = this.subscriptions.get(connection);
    if (!subscriptions) this.subscriptions.set(connection, (subscriptions = new Map()));
    if (!subscriptions.has(message.subscription) && subscriptions.size >= MAX_SUBSCRIPTIONS_PER_CONNECTION) {
      throw new CleaverError('BAD_REQUEST', `a connection may follow at most ${MAX_SUBSCRIPTIONS_PER_CONNECTION} streams at once; stop some first`);
    }
    const subscription = message.subscription;
    let ended = false;
    const stop = await this.o.streams.subscribe(
      { runId: message.runId, after: message.after },
      {
        push: (events) => {
          if (events.at(-1)?.type === 'end') {
            ended = true;
            if (subscriptions.get(subscription) === stop) subscriptions.delete(subscription);
          }
          connection.send({ t: 'stream_events', subscription, events });
        },
        backlog: () => connection.backlog,
      },
    );
    // A subscription given again under the same number (a client resuming) replaces the old one.
    subscriptions.get(subscription)?.();
    subscriptions.delete(subscription);
    if (!connection.open || this.subscriptions.get(connection) !== subscriptions) stop();
    else if (!ended) subscriptions.set(subscription, stop);
    return {};
  }

  private async respond(connection: Connection, id: number, work: () => Promise<unknown>): Promise<void> {
    try {
      const data = await work();
      connection.send({ t: 'reply', id, ok: true, data });
    } catch (e: unknown) {
      const error = e instanceof CleaverError ? e : new CleaverError('INTERNAL', toError(e).message, { cause: e });
      if (error.code === 'INTERNAL' || error.code === 'DATABASE') this.o.log.warn('request failed', { conn: connection.id, code: error.code, error: error.message });
      connection.send({ t: 'reply', id, ok: false, error: error.toWire() });
    }
  }

  /** Engine shutdown: forget the workers without recording them as lost (they will reconnect). */
  detachAll(): void {
    for (const worker of this.workers.values()) {
      // Results written already need not be sent again to the next engine.
      this.sendResultAcks(worker);
      this.o.registry.remove(worker.session);
    }
    this.workers.clear();
  }

  closed(connection: Connection): void {
    const subscriptions = this.subscriptions.get(connection);
    this.subscriptions.delete(connection);
    for (const stop of subscriptions?.values() ?? []) stop();
    const worker = this.workers.get(connection);
    if (!worker) return;
    this.workers.delete(connection);
    if (worker.ackTimer) clearTimeout(worker.ackTimer);
    const { session } = worker;
    const stillRegistered = this.o.registry.remove(session);
    this.o.events.emit('workers.changed', { worker: session, change: 'disconnected' });
    this.o.log.info('worker disconnected', { worker: session.name, id: session.id, lost: session.running.size || undefined });
    void workerSetStatus(this.o.driver, { sessionId: session.sessionId, status: 'disconnected' }).catch((e: unknown) =>
      this.o.log.warn('recording worker disconnect failed', { id: session.id, error: toError(e).message }),
    );
    if (!stillRegistered) return;
    const lost = [...session.running];
    session.running.clear();
    session.runningActions.clear();
    this.o.writer.finishLost(
      lost.map(([taskRunId, attempt]) => ({ taskRunId, attempt, lostSession: { sessionId: session.sessionId } })),
      `worker ${session.name} (${session.id}) disconnected during the attempt`,
    );
  }

  /** Closes worker connections not heard from within the timeout (their attempts become WORKER_LOST). */
  closeSilent(timeoutMs: number): void {
    const now = Date.now();
    for (const [connection, worker] of this.workers) {
      if (now - worker.session.lastSeenAt > timeoutMs) {
        this.o.log.warn('worker missed heartbeats; disconnecting', { worker: worker.session.name, id: worker.session.id });
        connection.destroy(); // reports the close (to closed() below) at once, even for a dead socket
      }
    }
  }
}

function checkWorkerHello(hello: HelloMessage): {
  workerId: string;
  name: string;
  definitions: RegisteredDefinition[];
  actions: string[];
  slots: number;
  prefetch: number;
  labels: Record<string, string>;
} {
  const problem = (text: string) => new CleaverError('BAD_REQUEST', `worker hello: ${text}`);
  if (typeof hello.workerId !== 'string' || !/^[0-9a-f-]{36}$/i.test(hello.workerId)) throw problem('workerId must be a UUID');
  if (typeof hello.name !== 'string' || hello.name.length === 0 || hello.name.length > 200) throw problem('name must be a non-empty string');
  if (!Number.isInteger(hello.slots) || (hello.slots as number) < 1 || (hello.slots as number) > 100_000) throw problem('slots must be an integer from 1 to 100000');
  const prefetch = hello.prefetch ?? 0;
  if (!Number.isInteger(prefetch) || prefetch < 0 || prefetch > (hello.slots as number)) throw problem(`prefetch must be an integer from 0 to slots (${String(hello.slots)})`);
  const tasks = hello.tasks ?? [];
  const workflows = hello.workflows ?? [];
  if (!Array.isArray(tasks) || !Array.isArray(workflows)) throw problem('tasks and workflows must be arrays');
  if (tasks.length + workflows.length === 0) throw problem('a worker must declare at least one task or workflow');
  const definitions: RegisteredDefinition[] = [];
  const actions: string[] = [];
  const names = new Set<string>();
  const claim = (name: string, what: string) => {
    if (names.has(name)) throw problem(`${what} ${name} is declared twice`);
    names.add(name);
  };
  for (const task of tasks) {
    const invalid = taskDefinitionProblem(task) ?? flowRulesProblem({ kind: 'task', task });
    if (invalid) throw problem(invalid);
    claim(task.name, 'task');
    definitions.push({ kind: 'task', task });
    actions.push(task.name);
  }
  for (const workflow of workflows) {
    const invalid = workflowDefinitionProblem(workflow) ?? flowRulesProblem({ kind: 'workflow', workflow });
    if (invalid) throw problem(invalid);
    claim(workflow.name, 'workflow');
    definitions.push({ kind: 'workflow', workflow });
    actions.push(...workflowActions(workflow));
  }

  const labels = hello.labels ?? {};
  if (typeof labels !== 'object' || Array.isArray(labels) || Object.values(labels).some((v) => typeof v !== 'string')) {
    throw problem('labels must be an object of string values');
  }
  return { workerId: hello.workerId, name: hello.name, definitions, actions, slots: hello.slots as number, prefetch, labels };
}
