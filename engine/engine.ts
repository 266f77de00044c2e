/**
 * The engine: owns a database driver, accepts workers and clients on its listeners, claims queued task
 * runs for its workers, writes what happens to attempts, and runs the maintenance services. Several
 * engines may share one Postgres; everything that must hold across them is decided in the database.
 */
import type net from 'node:net';
import { randomUUID } from 'node:crypto';
import { AttemptWriter } from './attempt-writer.ts';
import type { Driver } from './db/driver.ts';
import { createEngineEvents, type EngineEvents } from './engine-events.ts';
import { Connection } from './dispatcher/connection.ts';
import { ProtocolHandler } from './dispatcher/protocol-handler.ts';
import { listenLocal, listenTcp, type Listener } from './dispatcher/socket-server.ts';
import { WorkerRegistry } from './dispatcher/worker-registry.ts';
import { slotUse } from './sql/worker.ts';
import { createLogger, type Logger } from './log.ts';
import { LeaseExpiry } from './maintenance/lease-expiry.ts';
import { Periodic } from './maintenance/periodic.ts';
import { Retention, retentionAgeMs } from './maintenance/retention.ts';
import { TableStats } from './maintenance/table-stats.ts';
import { ScheduleTimeout } from './maintenance/schedule-timeout.ts';
import { WorkerLiveness } from './maintenance/worker-liveness.ts';
import { RunWaiters } from './run-waiters.ts';
import { Scheduler } from './scheduler/scheduler.ts';
import { migrate } from './sql/migrate.ts';
import { taskRunLiveCounts } from './sql/run-read.ts';
import { taskQueueHeadList, taskWaitList } from './sql/task-wait.ts';
import type { FinishResult } from './sql/task-finish.ts';
import { TriggerService } from './trigger-service.ts';
import { AdminService } from './admin/admin-service.ts';
import { ChangeFeed } from './admin/change-feed.ts';
import { cancelNotify, type CancelledAttempt } from './sql/run-cancel.ts';
import { ENGINE_VERSION } from './version.ts';
import { StreamHub } from './stream/stream-hub.ts';
import { StreamWriter } from './stream/stream-writer.ts';
import { EngineMetrics } from './metrics/engine-metrics.ts';
import { DEFAULT_MAX_FRAME_BYTES, type EngineStatus } from '../shared/protocol.ts';
import { DEFAULT_MAX_STREAM_CHUNK_BYTES, DEFAULT_STREAM_RETENTION_BYTES } from '../shared/stream.ts';
import { DEFAULT_MAX_LOG_BYTES_PER_TASK_RUN, DEFAULT_MAX_LOG_LINES_PER_TASK_RUN } from '../shared/task-log.ts';
import { encodeFrame } from '../shared/frame-codec.ts';
import { CleaverError, toError } from '../shared/errors.ts';
import type { Duration } from '../shared/duration.ts';

export interface EngineOptions {
  driver: Driver;
  /** Local socket path (a named pipe path on Windows); null for none. */
  socketPath: string | null;
  /** Optional TCP listener; requires `token`. Port 0 picks a free port. */
  tcp?: { host: string; port: number } | null;
  token?: string | null;
  maxFrameBytes?: number;
  /** How often workers send heartbeats. */
  heartbeatIntervalMs?: number;
  /** A worker silent for this long is lost; its attempts are retried. */
  heartbeatTimeoutMs?: number;
  /** Fallback poll for work queued by other engines or coming due (LISTEN/NOTIFY is the fast path). */
  pollIntervalMs?: number;
  /** How often timeouts and worker liveness are checked. */
  maintenanceIntervalMs?: number;
  /** Run migrations on start (default true). */
  migrate?: boolean;
  /**
   * 'durable' (default): a trigger is acknowledged once its insert is flushed to the WAL. 'relaxed':
   * as soon as it commits — lower latency, but a crash of the Postgres server can lose the last
   * acknowledged triggers (never corrupt anything). No effect on PGlite.
   */
  enqueueCommit?: 'durable' | 'relaxed';
  /**
   * After a run is cancelled, how long a worker may take to stop an attempt before its slot is given
   * to other work anyway (default 5 s). The attempt is recorded as cancelled at once either way.
   */
  cancelGraceMs?: number;
  /** How long stop() waits for outstanding writes (default 10 s). */
  shutdownTimeoutMs?: number;
  /** Connections open at once (workers and clients); more are refused (default 10,000). */
  maxConnections?: number;
  /**
   * Connections still in their handshake at once (default 64). With the hello limit this bounds what
   * unauthenticated peers can make the engine buffer: at most maxPendingHandshakes × maxHelloBytes.
   */
  maxPendingHandshakes?: number;
  /** The largest hello accepted before a peer is authenticated (default 1 MiB). */
  maxHelloBytes?: number;
  /** A connection that has not completed its handshake within this is closed (default 10 s). */
  handshakeTimeoutMs?: number;
  /**
   * Runs that ended longer ago than this are deleted with their task runs, attempts and logs, and
   * events of that age whose runs are gone (default '30d'; 'off' or null keeps everything).
   */
  retention?: Duration | 'off' | null;
  /**
   * How much of each task run's stream is kept for subscribers that attach late (default 64 KiB):
   * the newest chunks up to this many bytes (the newest one always). Older ones are cut, and a late
   * subscriber is told how many.
   */
  streamRetentionBytes?: number;
  /** The largest chunk `ctx.putStream` may put (default 64 KiB); larger ones are refused. */
  maxStreamChunkBytes?: number;
  /**
   * What the engine holds for one stream subscriber whose connection does not keep up (default
   * 1 MiB); live chunks beyond it are dropped for that subscriber, which is told how many.
   */
  streamSubscriberBufferBytes?: number;
  /** How often counted metrics are written and queue depth and slots sampled (default 5 s; docs/metrics.md). */
  metricsIntervalMs?: number;
  /**
   * Log lines kept per task run, all its attempts together (default 1,000); with maxLogBytesPerTaskRun,
   * the cap of docs/logs.md: past it one marker line says the log was truncated, and what follows is
   * counted, not stored.
   */
  maxLogLinesPerTaskRun?: number;
  /** Bytes of log kept per task run: messages and fields' JSON as UTF-8 (default 1 MiB). */
  maxLogBytesPerTaskRun?: number;
  log?: Logger;
}


export class Engine {
  readonly id = randomUUID();
  readonly log: Logger;
  private readonly driver: Driver;
  private readonly options: Required<Omit<EngineOptions, 'log' | 'driver' | 'tcp' | 'token' | 'socketPath' | 'retention'>> & Pick<EngineOptions, 'tcp' | 'token' | 'socketPath'>;
  /** How long ended runs are kept (null: forever). */
  private readonly retentionMs: number | null;
  /** How the services tell each other what happened (see wire()). */
  private readonly events: EngineEvents;
  private readonly registry: WorkerRegistry;
  private readonly writer: AttemptWriter;
  private readonly scheduler: Scheduler;
  private readonly waiters: RunWaiters;
  private readonly triggers: TriggerService;
  private readonly protocol: ProtocolHandler;
  readonly admin: AdminService;
  /** Runs' streams, live, for subscribers on this engine (the SDK's socket, the console's WebSocket). */
  readonly streams: StreamHub;
  private readonly streamWriter: StreamWriter;
  /** What changed here, for live views (the console). */
  readonly changes = new ChangeFeed();
  /** Counted in memory, written every metricsIntervalMs; its Prometheus text is served at /metrics. */
  readonly metrics: EngineMetrics;
  private readonly periodic: Periodic[] = [];
  private readonly listeners: Listener[] = [];
  private readonly connections = new Set<Connection>();
  /** Connections that have not completed their hello (bounded: see maxPendingHandshakes). */
  private readonly handshaking = new Set<Connection>();
  private readonly unlisten: Array<() => Promise<void>> = [];
  private pollTimer: NodeJS.Timeout | null = null;
  private startedAt = 0;
  private state: 'new' | 'running' | 'stopping' | 'stopped' = 'new';
  /** Set once a TCP listener is up (port 0 resolves to a real port). */
  tcpPort: number | null = null;

  constructor(options: EngineOptions) {
    this.driver = options.driver;
    this.log = options.log ?? createLogger();
    if (options.tcp && !options.token) {
      throw new CleaverError('BAD_REQUEST', 'a TCP listener requires a token: pass --token T or set CLEAVER_TOKEN');
    }
    this.retentionMs = retentionAgeMs(options.retention);
    this.options = {
      socketPath: options.socketPath,
      tcp: options.tcp ?? null,
      token: options.token ?? null,
      maxFrameBytes: options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES,
      heartbeatIntervalMs: options.heartbeatIntervalMs ?? 2_000,
      heartbeatTimeoutMs: options.heartbeatTimeoutMs ?? 12_000,
      pollIntervalMs: options.pollIntervalMs ?? 1_000,
      maintenanceIntervalMs: options.maintenanceIntervalMs ?? 1_000,
      migrate: options.migrate ?? true,
      enqueueCommit: options.enqueueCommit ?? 'durable',
      shutdownTimeoutMs: options.shutdownTimeoutMs ?? 10_000,
      cancelGraceMs: options.cancelGraceMs ?? 5_000,
      maxConnections: options.maxConnections ?? 10_000,
      maxPendingHandshakes: options.maxPendingHandshakes ?? 64,
      maxHelloBytes: options.maxHelloBytes ?? 1024 * 1024,
      handshakeTimeoutMs: options.handshakeTimeoutMs ?? 10_000,
      streamRetentionBytes: positiveOption(options.streamRetentionBytes, DEFAULT_STREAM_RETENTION_BYTES, 'streamRetentionBytes'),
      maxStreamChunkBytes: positiveOption(options.maxStreamChunkBytes, DEFAULT_MAX_STREAM_CHUNK_BYTES, 'maxStreamChunkBytes'),
      streamSubscriberBufferBytes: positiveOption(options.streamSubscriberBufferBytes, 1024 * 1024, 'streamSubscriberBufferBytes'),
      metricsIntervalMs: positiveOption(options.metricsIntervalMs, 5_000, 'metricsIntervalMs', 'milliseconds'),
      maxLogLinesPerTaskRun: positiveOption(options.maxLogLinesPerTaskRun, DEFAULT_MAX_LOG_LINES_PER_TASK_RUN, 'maxLogLinesPerTaskRun', 'lines'),
      maxLogBytesPerTaskRun: positiveOption(options.maxLogBytesPerTaskRun, DEFAULT_MAX_LOG_BYTES_PER_TASK_RUN, 'maxLogBytesPerTaskRun'),
    };
    // Bytes travel base64-encoded in a JSON frame: a third more, plus the frame's fields.
    if (Math.ceil(this.options.maxStreamChunkBytes / 3) * 4 + 1024 > this.options.maxFrameBytes) {
      throw new CleaverError('BAD_REQUEST', `maxStreamChunkBytes (${this.options.maxStreamChunkBytes}) does not fit in a frame of maxFrameBytes (${this.options.maxFrameBytes}); lower it or raise maxFrameBytes`);
    }
    this.events = createEngineEvents({ log: this.log });
    this.registry = new WorkerRegistry({
      events: this.events,
      // Half the heartbeat timeout: a worker that missed a few heartbeats is not given more work.
      staleAfterMs: this.options.heartbeatTimeoutMs / 2,
      stopGraceMs: this.options.cancelGraceMs,
    });
    this.metrics = new EngineMetrics({
      driver: this.driver,
      log: this.log,
      holding: () => this.scheduler.holding,
      localSlots: () => {
        let used = 0;
        let free = 0;
        let held = 0;
        for (const w of this.registry.all()) {
          // What a worker holds beyond its slots (prefetch) waits in it: not a slot in use.
          const use = slotUse(w.running.size, w.slots);
          used += use.busy;
          held += use.held;
          free += this.registry.freeSlots(w);
        }
        return { used, free, held };
      },
      staleMs: this.options.heartbeatTimeoutMs / 2,
    });
    this.writer = new AttemptWriter({
      driver: this.driver,
      log: this.log,
      events: this.events,
      notifyFrom: this.driver.capabilities.listenNotify ? this.id : null,
      logCap: { maxLines: this.options.maxLogLinesPerTaskRun, maxBytes: this.options.maxLogBytesPerTaskRun },
      reserveReleased: (parents) => this.scheduler.reserveReleased(parents),
    });
    this.scheduler = new Scheduler({
      driver: this.driver,
      engineId: this.id,
      registry: this.registry,
      log: this.log,
      events: this.events,
      maxBatch: 1000,
      staleAfterMs: this.options.heartbeatTimeoutMs / 2,
    });
    this.waiters = new RunWaiters({ driver: this.driver, log: this.log, pollIntervalMs: 250 });
    this.streams = new StreamHub({
      driver: this.driver,
      log: this.log,
      retentionBytes: this.options.streamRetentionBytes,
      subscriberBufferBytes: this.options.streamSubscriberBufferBytes,
      runEnded: async (runId) => (await this.waiters.wait(runId)).status,
    });
    this.streamWriter = new StreamWriter({
      driver: this.driver,
      log: this.log,
      retentionBytes: this.options.streamRetentionBytes,
      maxChunkBytes: this.options.maxStreamChunkBytes,
      notifyFrom: this.driver.capabilities.listenNotify ? this.id : null,
      events: this.events,
    });
    this.triggers = new TriggerService({
      driver: this.driver,
      engineId: this.id,
      events: this.events,
      reserve: (action, count) => this.scheduler.reserve(action, count),
      relaxedCommit: this.options.enqueueCommit === 'relaxed',
    });
    this.admin = new AdminService({
      driver: this.driver,
      log: this.log,
      notifyFrom: this.driver.capabilities.listenNotify ? this.id : null,
      events: this.events,
      flowWait: (taskRunId) => this.scheduler.waitReason(taskRunId),
      info: () => ({ engineId: this.id, version: ENGINE_VERSION, database: this.driver.description, listening: this.addresses, mode: 'engine', retentionMs: this.retentionMs }),
      trigger: (workflow, items) => this.triggers.trigger(workflow, items),
      workerStaleMs: this.options.heartbeatTimeoutMs / 2,
      streamRetentionBytes: this.options.streamRetentionBytes,
    });
    this.protocol = new ProtocolHandler({
      driver: this.driver,
      engineId: this.id,
      log: this.log,
      registry: this.registry,
      events: this.events,
      writer: this.writer,
      triggers: this.triggers,
      waiters: this.waiters,
      admin: this.admin,
      streamWriter: this.streamWriter,
      streams: this.streams,
      metrics: this.metrics,
      heartbeatIntervalMs: this.options.heartbeatIntervalMs,
      maxFrameBytes: this.options.maxFrameBytes,
      maxStreamChunkBytes: this.options.maxStreamChunkBytes,
      status: () => this.status(),
    });
    this.wire();
  }

  /**
   * Every reaction to the engine's events, subscribed once. Within an event, reactions run in the order
   * listed here.
   */
  private wire(): void {
    const { events, metrics, scheduler, waiters, changes } = this;

    // runs.created → metrics, live views.
    events.on('runs.created', ({ created }) => {
      for (const c of created) metrics.runsCreated(c);
    });
    events.on('runs.created', ({ runIds }) => changes.runs(runIds));

    // runs.changed → live views.
    events.on('runs.changed', ({ runIds }) => changes.runs(runIds));

    // runs.ended (a user's cancel, the scheduler's own ends) → metrics, the scheduler frees their keys,
    // waiters, live views.
    events.on('runs.ended', ({ ended }) => metrics.runsEnded(ended));
    events.on('runs.ended', ({ runIds, taskRunIds }) => scheduler.ended({ runIds, taskRunIds }));
    events.on('runs.ended', ({ runIds }) => waiters.check(runIds));
    events.on('runs.ended', ({ runIds }) => changes.runs(runIds));

    // tasks.queued → the scheduler: retries when due, rows into its windows, queues to read again.
    events.on('tasks.queued', ({ retries, rows, actions }) => {
      for (const r of retries ?? []) {
        if (r.delayMs > 0) scheduler.wakeLater(r.action, r.delayMs);
        else scheduler.wake([r.action]);
      }
      if (rows && rows.length > 0) scheduler.enqueued(rows);
      if (actions && actions.length > 0) scheduler.wake(actions);
    });

    // tasks.assigned → live views.
    events.on('tasks.assigned', ({ tasks }) => {
      if (changes.listening) changes.runs(tasks.map((t) => t.runId));
    });

    // tasks.finished → metrics, live views, the scheduler frees keys, waiters. Counted before anyone
    // awaiting these runs is answered: what they then read of metrics includes them.
    events.on('tasks.finished', (finished) => metrics.finished(finished));
    events.on('tasks.finished', (finished) => {
      if (changes.listening) changes.runs(finished.attempts.map((f) => f.runId));
    });
    events.on('tasks.finished', (finished) =>
      scheduler.ended({ taskRunIds: finished.attempts.map((f) => f.taskRunId), runIds: finished.runs.map((r) => r.runId) }),
    );
    events.on('tasks.finished', (finished) => this.answerWaiters(finished));

    // attempts.cancelled → workers here are told to stop, other engines by NOTIFY.
    events.on('attempts.cancelled', ({ attempts }) => this.cancelAttempts(attempts, true));

    // attempts.orphaned → failed as lost. No session fence: nobody holds these attempts (a newer session
    // of the worker adopted only what it listed, and never had them); such a session here is never given
    // them either, though the database shows them assigned to its worker until the loss is written.
    events.on('attempts.orphaned', ({ worker, tasks }) => {
      this.registry.disown(worker.id, tasks);
      this.writer.finishLost(tasks, `worker ${worker.name} (${worker.id}) disconnected while the task was being assigned`);
    });

    // attempts.stop-ignored → said, and the slot is filled.
    events.on('attempts.stop-ignored', ({ worker, taskRunId }) => {
      this.log.warn('worker did not stop an ended attempt within the grace period; its slot is reused', { worker: worker.name, taskRun: taskRunId });
      scheduler.slotsFreed(worker);
    });

    // slots.freed → the scheduler fills them.
    events.on('slots.freed', ({ worker, ended }) => scheduler.slotsFreed(worker, ended));

    // workers.changed → a worker that came may take work of its actions; live views.
    events.on('workers.changed', ({ worker, change }) => {
      if (change === 'connected') scheduler.wake(worker.actions);
    });
    events.on('workers.changed', () => changes.workers());

    // definitions.changed → the scheduler applies the new rules; live views.
    events.on('definitions.changed', () => scheduler.definitionsChanged());
    events.on('definitions.changed', () => changes.workflows());

    // rate-limits.changed → the scheduler reads them again.
    events.on('rate-limits.changed', () => scheduler.rateLimitsChanged());

    // flow.waits → metrics.
    events.on('flow.waits', ({ waits }) => metrics.flowWaits(waits));

    // streams.stored → live subscribers here.
    events.on('streams.stored', ({ chunks }) => this.streams.stored(chunks));
  }

  /** Where workers can reach this engine, e.g. ['unix:///home/me/.cleaver/engine.sock', 'tcp://127.0.0.1:7077']. */
  get addresses(): string[] {
    return this.listeners.map((l) => l.description);
  }

  async start(): Promise<void> {
    if (this.state !== 'new') throw new CleaverError('INTERNAL', 'an engine can be started once');
    this.state = 'running';
    this.startedAt = Date.now();
    if (this.options.migrate) {
      const { applied, current } = await migrate(this.driver);
      if (applied.length > 0) this.log.info('database migrated', { to: current, applied: applied.join(',') });
    }
    await this.scheduler.start();
    const { maintenanceIntervalMs: every, heartbeatTimeoutMs } = this.options;
    this.periodic.push(
      new Periodic(new LeaseExpiry({ driver: this.driver, writer: this.writer, registry: this.registry, log: this.log, batch: 1000 }), every, this.log),
      new Periodic(new ScheduleTimeout({ driver: this.driver, writer: this.writer, log: this.log, batch: 1000 }), every, this.log),
      new Periodic(new WorkerLiveness({ driver: this.driver, protocol: this.protocol, writer: this.writer, log: this.log, heartbeatTimeoutMs, batch: 1000 }), every, this.log),
      new Periodic(new TableStats({ driver: this.driver, holding: () => this.scheduler.holding }), 2_000, this.log),
      new Periodic(this.metrics, this.options.metricsIntervalMs, this.log),
    );
    if (this.retentionMs !== null) {
      // A sweep a minute keeps runs at most a minute past their age; a short age (a demo) is swept as often as it lasts.
      const sweepEveryMs = Math.min(60_000, this.retentionMs);
      this.periodic.push(new Periodic(new Retention({ driver: this.driver, log: this.log, ageMs: this.retentionMs, sweepEveryMs }), every, this.log));
    }
    for (const p of this.periodic) p.start();
    if (this.driver.capabilities.listenNotify) {
      this.unlisten.push(
        // Back from a lost LISTEN connection (a Postgres restart), claim what missed wake-ups announced.
        await this.driver.listen('cleaver_task_queued', (payload) => {
          const at = payload.indexOf(':');
          if (at > 0 && payload.slice(0, at) !== this.id) this.scheduler.queuedElsewhere([payload.slice(at + 1)]);
        }, {
          onReconnected: () => {
            // What the lost connection missed: queued work, new definitions, changed rate limits.
            this.scheduler.definitionsChanged();
            this.scheduler.rateLimitsChanged();
            this.scheduler.deliverAssigned();
            this.streams.storedElsewhere(null);
          },
        }),
        // A worker registered a new version somewhere: its flow rules apply from the holder's next decision.
        await this.driver.listen('cleaver_workflow', () => this.scheduler.definitionsChanged()),
        await this.driver.listen('cleaver_rate_limit', () => this.scheduler.rateLimitsChanged()),
        // The scheduler holder assigned work to workers attached here.
        await this.driver.listen('cleaver_assigned', (payload) => {
          if (payload === this.id) this.scheduler.deliverAssigned();
        }),
        // Another engine's workers freed slots, or came.
        await this.driver.listen('cleaver_capacity', (payload) => {
          if (payload !== this.id) this.scheduler.remoteChanged();
        }),
        // Another engine stored stream chunks of these runs: '<engine id>:<run id>,<run id>…'.
        await this.driver.listen('cleaver_stream', (payload) => {
          const at = payload.indexOf(':');
          if (at > 0 && payload.slice(0, at) !== this.id) this.streams.storedElsewhere(payload.slice(at + 1).split(','));
        }),
        await this.driver.listen('cleaver_cancel', (payload) => {
          try {
            const message = JSON.parse(payload) as { from: string; attempts: CancelledAttempt[] };
            if (message.from !== this.id) this.cancelAttempts(message.attempts, false);
          } catch (e: unknown) {
            this.log.warn('ignoring a malformed cleaver_cancel notification', { error: toError(e).message });
          }
        }),
      );
    }
    this.pollTimer = setInterval(() => {
      this.scheduler.poll();
      this.scheduler.deliverAssigned();
    }, this.options.pollIntervalMs);
    this.pollTimer.unref();
    if (this.options.socketPath) {
      this.listeners.push(await listenLocal(this.options.socketPath, (socket) => this.accept(socket, null)));
    }
    if (this.options.tcp) {
      const tcp = await listenTcp(this.options.tcp, (socket) => this.accept(socket, this.options.token ?? null));
      this.tcpPort = tcp.port;
      this.listeners.push(tcp);
    }
  }

  private accept(socket: net.Socket, token: string | null): void {
    if (this.state !== 'running') {
      socket.destroy();
      return;
    }
    const remote = socket.remoteAddress ? `${socket.remoteAddress}:${socket.remotePort}` : 'local';
    const full =
      this.connections.size >= this.options.maxConnections
        ? `the engine has reached its limit of ${this.options.maxConnections} connections`
        : this.handshaking.size >= this.options.maxPendingHandshakes
          ? `the engine has ${this.handshaking.size} connections still in their handshake; try again shortly`
          : null;
    if (full) {
      this.log.warn('connection refused', { remote, reason: full });
      socket.on('error', () => undefined);
      socket.end(encodeFrame({ t: 'error', fatal: true, error: new CleaverError('CONNECTION', full).toWire() }));
      setTimeout(() => socket.destroy(), 1000).unref();
      return;
    }
    const connection = new Connection({
      socket,
      remote,
      maxFrameBytes: this.options.maxFrameBytes,
      maxHelloBytes: this.options.maxHelloBytes,
      token,
      handshakeTimeoutMs: this.options.handshakeTimeoutMs,
      log: this.log,
      handlers: {
        hello: async (c, hello) => {
          try {
            return await this.protocol.hello(c, hello);
          } finally {
            this.handshaking.delete(c);
          }
        },
        message: (c, m) => this.protocol.message(c, m),
        closed: (c) => {
          this.connections.delete(c);
          this.handshaking.delete(c);
          this.protocol.closed(c);
        },
      },
    });
    this.connections.add(connection);
    this.handshaking.add(connection);
  }

  /** Runs a finish ended: a task's outcome is in the finish; a workflow's output is read once it has committed. */
  private answerWaiters(finished: FinishResult): void {
    const outcomes = [];
    const workflowRuns = [];
    for (const r of finished.runs) {
      if (r.kind === 'workflow') workflowRuns.push(r.runId);
      else outcomes.push({ runId: r.runId, status: r.status, output: r.output, error: r.error, failureReason: r.failureReason });
    }
    if (outcomes.length > 0) this.waiters.resolve(outcomes);
    if (workflowRuns.length > 0) this.waiters.check(workflowRuns);
  }

  /**
   * Attempts cancelled in the database: workers connected here are told to stop (ctx.signal aborts).
   * Their slot comes back when they report, or after the grace period if they never do. Attempts on
   * workers of other engines are passed on by NOTIFY.
   */
  private cancelAttempts(attempts: readonly CancelledAttempt[], notifyOthers: boolean): void {
    const elsewhere: CancelledAttempt[] = [];
    for (const a of attempts) {
      const worker = a.workerId ? this.registry.get(a.workerId) : undefined;
      if (!worker || !this.registry.holds(worker, a.taskRunId, a.attempt)) {
        elsewhere.push(a);
        continue;
      }
      this.registry.stopAttempt(worker, { taskRunId: a.taskRunId, attempt: a.attempt, reason: 'CANCELLED' });
    }
    if (notifyOthers && elsewhere.length > 0 && this.driver.capabilities.listenNotify) {
      void cancelNotify(this.driver, { from: this.id, attempts: elsewhere }).catch((e: unknown) =>
        this.log.warn('telling other engines about cancelled attempts failed', { error: toError(e).message }),
      );
    }
  }

  async status(): Promise<EngineStatus> {
    return {
      engineId: this.id,
      version: ENGINE_VERSION,
      database: this.driver.description,
      listening: this.addresses,
      uptimeMs: Date.now() - this.startedAt,
      workers: this.registry.all().map((w) => ({
        id: w.id,
        name: w.name,
        actions: [...w.actions],
        slots: w.slots,
        ...slotUse(w.running.size, w.slots),
        draining: w.draining,
      })),
      counts: await taskRunLiveCounts(this.driver),
      waiting: await this.queueWaits(),
    };
  }

  /** Each queue's depth and why its first task run waits. */
  private async queueWaits(): Promise<EngineStatus['waiting']> {
    const heads = await taskQueueHeadList(this.driver);
    const reasons = await taskWaitList(this.driver, { taskRunIds: heads.map((h) => h.headTaskRunId), staleMs: this.options.heartbeatTimeoutMs / 2 });
    // A full key or a used-up rate limit is known to the scheduler, not the database: it says so first.
    return heads.map((h) => ({ action: h.action, queued: h.queued, reason: this.scheduler.waitReason(h.headTaskRunId) ?? reasons.get(h.headTaskRunId) ?? null }));
  }

  /**
   * Stops taking work, writes everything already received, then closes. Worker connections are closed
   * but the workers' rows are left as they are: workers reconnect to the next engine and keep their
   * attempts; those that don't come back are failed as WORKER_LOST after the heartbeat timeout.
   */
  async stop(): Promise<void> {
    if (this.state === 'stopped' || this.state === 'stopping') return;
    this.state = 'stopping';
    if (this.pollTimer) clearInterval(this.pollTimer);
    // A maintenance pass can be waiting on the writer, which waits on the database: bounded too.
    await this.withinShutdownTimeout(Promise.all(this.periodic.map((p) => p.stop())));
    // Gives the scheduler lease up, so another engine decides at once.
    await this.withinShutdownTimeout(this.scheduler.stop());
    // New connections are refused from here on (accept checks the state). Stop reading from workers
    // before the final write, so nothing arrives after it; they are detached, not lost: they reconnect
    // to the next engine with their attempts. A listener only finishes closing once its connections
    // are gone, so they go first.
    this.protocol.detachAll();
    for (const connection of this.connections) connection.destroy();
    for (const listener of this.listeners) {
      await listener.close().catch((e: unknown) => this.log.warn('closing listener failed', { error: toError(e).message }));
    }
    // Bounded: with the database unreachable the writer would retry forever. What it could not write
    // was never acknowledged, so the workers still hold those results and send them to the next engine.
    const drained = await this.withinShutdownTimeout(Promise.all([this.writer.drain(), this.streamWriter.drain()]));
    // What was counted until the last outcome was written, so that nothing counted is lost with the
    // process; not when the database did not take the outcomes either (it would only add a timeout).
    const lastMetrics = drained ? this.metrics.flush() : Promise.reject(new Error('the database did not take the last outcomes'));
    await this.withinShutdownTimeout(lastMetrics.catch((e: unknown) => this.log.warn('writing the last metrics failed; they are lost', { error: toError(e).message })));
    this.writer.stop();
    this.streamWriter.stop();
    this.streams.close();
    if (!drained) this.log.warn('stopping without writing every outcome; workers will resend them to the next engine', { pending: this.writer.pending });
    this.changes.close();
    this.waiters.close(new CleaverError('SHUTTING_DOWN', 'the engine is shutting down; the run continues and can be awaited again'));
    for (const unlisten of this.unlisten) await unlisten().catch(() => undefined);
    this.state = 'stopped';
  }

  /** Resolves true when `work` finished within the shutdown timeout, false when the timeout won. */
  private withinShutdownTimeout(work: Promise<unknown>): Promise<boolean> {
    return Promise.race([
      work.then(() => true),
      new Promise<false>((resolve) => setTimeout(() => resolve(false), this.options.shutdownTimeoutMs).unref()),
    ]);
  }
}

function positiveOption(value: number | undefined, fallback: number, name: string, unit = 'bytes'): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < 1) throw new CleaverError('BAD_REQUEST', `${name} must be a positive integer of ${unit}, got ${value}`);
  return value;
}
