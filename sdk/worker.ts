/**
 * A worker: registers its tasks with the engine, runs the attempts it is assigned, and reports each
 * outcome until the engine acknowledges it — across reconnects and failovers to another engine, so an
 * engine restart loses no result. stop() drains: the engine assigns nothing new, running attempts
 * finish, results are acknowledged (or given up on after a bound while no engine is reachable).
 */
import { randomUUID } from 'node:crypto';
import { constants } from 'node:os';
import { createContext } from './context.ts';
import { EngineConnection } from './engine-connection.ts';
import { TaskDeclaration } from './task.ts';
import { WorkflowDeclaration } from './workflow.ts';
import type { Context } from './context.ts';
import { formatAddress, type EngineAddress } from '../shared/paths.ts';
import { parseDuration, type Duration } from '../shared/duration.ts';
import type { AssignedTask, EngineMessage, ResultMessage, RunOutcome, StreamMessage, TriggerRequest } from '../shared/protocol.ts';
import { PROTOCOL_VERSION } from '../shared/protocol.ts';
import type { LogLevel } from '../shared/types.ts';
import type { LogFields } from '../shared/task-log.ts';
import { CleaverError, NonRetryableError, toError } from '../shared/errors.ts';
import { validateJson } from '../shared/payload.ts';
import { DEFAULT_MAX_STREAM_CHUNK_BYTES, type WireStreamChunk } from '../shared/stream.ts';
import { encodeStreamChunk } from './stream-chunk.ts';
import { StreamSubscriber } from './run-stream.ts';

export interface WorkerOptions {
  // Declarations are invariant in their input type; the worker only calls fn with what the engine sends.
  /** The standalone tasks and workflows this worker runs. */
  workflows: Array<TaskDeclaration<any, any> | WorkflowDeclaration<any, any>>;
  /** How many attempts this worker runs at once (default 100). */
  slots?: number;
  /**
   * How many attempts it may hold beyond its slots, started in order as slots free (default 0, at most
   * `slots`). The engine hands them over only while their queue is deeper than every free slot, and never
   * for a task with a concurrency key or a rate limit: a drain of many short tasks then pays fewer round
   * trips per task, at the cost of a held attempt waiting here for a slot while another worker may
   * have come free. See docs/scheduler.md, "Prefetch".
   */
  prefetch?: number;
  labels?: Record<string, string>;
  /**
   * Drain and exit on SIGTERM / SIGINT (default true). A second signal while draining exits at once,
   * saying on stderr which attempts it abandons.
   */
  handleSignals?: boolean;
  /** The default `timeout` of stop(), also used when a signal stops the worker (default '30s'). */
  stopTimeout?: Duration;
}

interface RunningAttempt {
  task: AssignedTask;
  /** Created when the task first reads ctx.signal. */
  controller: AbortController | null;
  /** Set when the attempt ended other than by success, for a signal read afterwards. */
  abortReason: Error | null;
  /** Epoch ms at which the attempt times out (checked by the worker's tick). */
  deadline: number;
  timeoutMs: number;
  startedAt: number;
  /** Whether the engine has been told this attempt started (only attempts that outlive one tick are). */
  reported: boolean;
  settled: boolean;
  /** The seq of the last chunk it streamed. */
  streamSeq: number;
}

/**
 * Stream chunks are sent at once and kept until the engine acknowledges them (to send again after a
 * reconnect). While this many bytes of them wait for acknowledgement, putStream's promise waits too.
 */
const STREAM_WINDOW_BYTES = 1024 * 1024;
/**
 * A task that does not await putStream cannot make the worker hold more than this: beyond it chunks
 * are sent (when connected) but not kept, and subscribers see any that got lost as dropped.
 */
const STREAM_KEPT_MAX_BYTES = 16 * 1024 * 1024;

/**
 * One timer per worker, not per task: every TICK_MS it reports the attempts that are still running as
 * started (short tasks never need a start report: their result says it all) and times out the ones
 * past their deadline.
 */
const TICK_MS = 20;

export class Worker {
  readonly name: string;
  readonly id = randomUUID();
  private readonly connection: EngineConnection;
  private readonly standalone: Array<TaskDeclaration<any, any>> = [];
  private readonly workflows: Array<WorkflowDeclaration<any, any>> = [];
  /** Task functions by the action the engine assigns them under. */
  private readonly handlers = new Map<string, (input: any, ctx: Context) => unknown>();
  private readonly slots: number;
  private readonly prefetch: number;
  private readonly labels: Record<string, string>;
  private readonly running = new Map<string, RunningAttempt>();
  /** Attempts held beyond the slots (prefetch), in the order they came: `taskRunId:attempt` → task. */
  private readonly waiting = new Map<string, AssignedTask>();
  private startingWaiting = false;
  /** Results sent but not yet acknowledged by the engine: re-sent after a reconnect. */
  private readonly unacked = new Map<string, ResultMessage>();
  /** Stream chunks sent but not yet acknowledged, per attempt in seq order: re-sent after a reconnect. */
  private readonly streamUnacked = new Map<string, Array<{ message: StreamMessage; size: number }>>();
  private streamUnackedBytes = 0;
  /** Tasks whose putStream waits for acknowledgements. */
  private streamWaiters: Array<{ attempt: RunningAttempt; resolve: () => void }> = [];
  /** Streams of child runs that tasks follow (ctx.runChildNoWait(...).stream()). */
  private readonly childStreams = new StreamSubscriber(() => this.connection);
  private heartbeat: NodeJS.Timeout | null = null;
  private ticker: NodeJS.Timeout | null = null;
  private state: 'new' | 'running' | 'draining' | 'stopped' = 'new';
  /** Woken whenever an attempt ends or results are acknowledged (stop() waits on them). */
  private progressWaiters: Array<() => void> = [];
  private stopping: Promise<void> | null = null;
  private readonly handleSignals: boolean;
  private readonly stopTimeoutMs: number;
  private readonly addresses: readonly EngineAddress[];
  private readonly onSignal = (signal: NodeJS.Signals) => {
    if (this.state === 'draining') {
      const running = [...this.running.values()].map((r) => r.task);
      process.stderr.write(
        `cleaver worker ${this.name}: ${signal} again, exiting without waiting; abandoning ${running.length} running attempt(s)${listAttempts(running)} ` +
          `and ${this.unacked.size} unacknowledged result(s)${listAttempts([...this.unacked.values()])}; the engine runs those attempts again (delivery is at least once)\n`,
      );
      process.exit(128 + (constants.signals[signal] ?? 15));
    }
    process.stderr.write(`cleaver worker ${this.name}: ${signal} received, draining (${this.running.size} running; ${signal} again to exit at once)\n`);
    void this.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };

  constructor(options: { name: string; addresses: readonly EngineAddress[]; token?: string; requestTimeoutMs?: number; worker: WorkerOptions }) {
    const { worker } = options;
    this.name = options.name;
    if (!Array.isArray(worker?.workflows) || worker.workflows.length === 0) {
      throw new CleaverError('BAD_REQUEST', `worker ${options.name}: pass the tasks it runs as { workflows: [task, ...] }`);
    }
    const names = new Set<string>();
    for (const declared of worker.workflows) {
      if (names.has(declared?.name)) throw new CleaverError('BAD_REQUEST', `worker ${options.name}: ${declared.name} is listed twice`);
      names.add(declared?.name);
      if (declared instanceof WorkflowDeclaration) {
        declared.definition; // throws if the workflow has no tasks
        this.workflows.push(declared);
        for (const task of declared.allTasks) this.handlers.set(task.action, task.fn);
      } else if (declared instanceof TaskDeclaration) {
        this.standalone.push(declared);
        this.handlers.set(declared.name, declared.fn);
      } else {
        throw new CleaverError('BAD_REQUEST', `worker ${options.name}: workflows must hold tasks from cleaver.task() and workflows from cleaver.workflow()`);
      }
    }
    this.slots = worker.slots ?? 100;
    if (!Number.isInteger(this.slots) || this.slots < 1) throw new CleaverError('BAD_REQUEST', `worker ${options.name}: slots must be a positive integer`);
    this.prefetch = worker.prefetch ?? 0;
    if (!Number.isInteger(this.prefetch) || this.prefetch < 0 || this.prefetch > this.slots) {
      throw new CleaverError('BAD_REQUEST', `worker ${options.name}: prefetch must be an integer from 0 to slots (${this.slots}), got ${String(worker.prefetch)}`);
    }
    this.labels = worker.labels ?? {};
    this.handleSignals = worker.handleSignals ?? true;
    this.stopTimeoutMs = parseDuration(worker.stopTimeout ?? DEFAULT_STOP_TIMEOUT, `worker ${options.name}: stopTimeout`);
    this.addresses = options.addresses;
    this.connection = new EngineConnection({
      addresses: options.addresses,
      token: options.token,
      requestTimeoutMs: options.requestTimeoutMs,
      stayConnected: true,
      hello: () => ({
        t: 'hello',
        protocol: PROTOCOL_VERSION,
        role: 'worker',
        workerId: this.id,
        name: this.name,
        tasks: this.standalone.map((t) => t.definition),
        workflows: this.workflows.map((w) => w.definition),
        slots: this.slots,
        ...(this.prefetch > 0 ? { prefetch: this.prefetch } : {}),
        labels: this.labels,
        inflight: this.held(),
      }),
      onMessage: (message) => {
        if (!this.childStreams.onMessage(message)) this.onMessage(message);
      },
      onDisconnect: () => this.childStreams.resume(),
      onWelcome: (welcome, reconnected) => {
        this.startHeartbeat(welcome.heartbeatIntervalMs);
        // The engine kept these attempts because `hello` listed them (held()). Chunks go before the
        // results: an attempt's outcome is written after the chunks that arrived before it.
        if (reconnected) {
          for (const chunks of this.streamUnacked.values()) for (const c of chunks) this.connection.send(c.message);
          for (const result of this.unacked.values()) this.connection.send(result);
        }
        if (this.state === 'draining') void this.requestDrain();
      },
    });
  }

  /**
   * Every attempt this worker still holds, for `hello`: those running and those finished whose result
   * the engine has not acknowledged (it recorded them or not before it went away; the result is re-sent
   * after `welcome`). The engine keeps these, and fails as lost only the attempts assigned to the
   * worker that are in neither list. A newer attempt of a task run can run while an older one's result
   * waits, so both can appear; the same attempt is listed once.
   */
  private held(): Array<{ taskRunId: string; attempt: number }> {
    const held = new Map<string, { taskRunId: string; attempt: number }>();
    for (const r of this.running.values()) if (!r.settled) held.set(`${r.task.taskRunId}:${r.task.attempt}`, { taskRunId: r.task.taskRunId, attempt: r.task.attempt });
    for (const [key, result] of this.unacked) held.set(key, { taskRunId: result.taskRunId, attempt: result.attempt });
    for (const [key, task] of this.waiting) held.set(key, { taskRunId: task.taskRunId, attempt: task.attempt });
    return [...held.values()];
  }

  /** Connects and registers; resolves once the engine has accepted the worker. */
  async start(): Promise<void> {
    if (this.state !== 'new') throw new CleaverError('BAD_REQUEST', `worker ${this.name} was already started`);
    this.state = 'running';
    try {
      await this.connection.connect();
    } catch (e: unknown) {
      this.state = 'stopped';
      this.connection.close();
      throw e;
    }
    if (this.handleSignals) {
      process.on('SIGTERM', this.onSignal);
      process.on('SIGINT', this.onSignal);
    }
  }

  /**
   * Graceful drain: the engine assigns nothing new, running attempts finish (each bounded by its
   * executionTimeout), then the worker waits for the engine to acknowledge their results — through a
   * reconnect or a failover — for at most `timeout` (default: the worker's stopTimeout, 30 s). Results
   * still unacknowledged then (no engine reachable all that time) are listed on stderr and dropped: the
   * engine runs those attempts again elsewhere, since delivery is at least once.
   */
  stop(options: { timeout?: Duration } = {}): Promise<void> {
    const timeoutMs = options.timeout === undefined ? this.stopTimeoutMs : parseDuration(options.timeout, 'stop({ timeout })');
    if (this.state === 'new') this.state = 'stopped';
    if (this.state === 'stopped') return this.stopping ?? Promise.resolve();
    // A second call (Cleaver.close() after a signal, say) waits for the drain already under way.
    this.stopping ??= this.drain(timeoutMs);
    return this.stopping;
  }

  private async drain(timeoutMs: number): Promise<void> {
    this.state = 'draining';
    // Connected, the reply is awaited so that attempts assigned before the engine saw the drain arrive
    // (and run) before the connection is closed (bounded: a hung engine must not hold stop() up).
    // Disconnected, the drain can only go out after the next handshake: onWelcome sends it then.
    if (this.connection.connected) await within(this.requestDrain(), timeoutMs);
    // Held attempts are this worker's to run: they start as the running ones end.
    while (this.running.size > 0 || this.waiting.size > 0) await this.progress();
    const deadline = Date.now() + timeoutMs;
    while (this.unacked.size > 0 && Date.now() < deadline) await this.progress(deadline - Date.now());
    if (this.unacked.size > 0) {
      const where = this.addresses.map(formatAddress).join(', ');
      process.stderr.write(
        `cleaver worker ${this.name}: stopping with ${this.unacked.size} result(s) the engine did not acknowledge within ${timeoutMs} ms` +
          `${this.connection.connected ? '' : ` (no engine reachable at ${where})`}${listAttempts([...this.unacked.values()])}; ` +
          'the engine runs those attempts again (delivery is at least once)\n',
      );
    }
    this.state = 'stopped';
    this.childStreams.closeAll(new CleaverError('CONNECTION', `worker ${this.name} stopped while a task followed a stream`));
    if (this.heartbeat) clearInterval(this.heartbeat);
    if (this.ticker) clearInterval(this.ticker);
    process.off('SIGTERM', this.onSignal);
    process.off('SIGINT', this.onSignal);
    this.connection.close();
  }

  /** Attempts running right now. */
  get busy(): number {
    return this.running.size;
  }

  private requestDrain(): Promise<unknown> {
    // Failing (the connection dropped again) is fine: the next welcome sends it again.
    return this.connection.request({ t: 'drain' }, { repeatable: false }).catch(() => undefined);
  }

  /** Resolves at the next attempt end or acknowledgement, or after timeoutMs. */
  private progress(timeoutMs?: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = timeoutMs === undefined ? null : setTimeout(resolve, timeoutMs);
      this.progressWaiters.push(() => {
        if (timer) clearTimeout(timer);
        resolve();
      });
    });
  }

  private notifyProgress(): void {
    const waiters = this.progressWaiters;
    this.progressWaiters = [];
    for (const resolve of waiters) resolve();
  }

  private startHeartbeat(intervalMs: number): void {
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.heartbeat = setInterval(() => {
      if (this.connection.connected) this.connection.send({ t: 'heartbeat' });
    }, intervalMs);
    this.heartbeat.unref();
  }

  private onMessage(message: EngineMessage): void {
    switch (message.t) {
      case 'assign':
        for (const task of message.tasks) {
          // An attempt this worker runs, or holds a result for that the engine has not acknowledged, is
          // never run twice, whatever the engine sends; for the latter the engine is sent the result again.
          if (this.running.get(task.taskRunId)?.task.attempt === task.attempt) continue;
          const unacked = this.unacked.get(`${task.taskRunId}:${task.attempt}`);
          if (unacked) {
            this.connection.send(unacked);
            continue;
          }
          if (this.prefetch === 0) this.execute(task);
          else {
            this.waiting.set(`${task.taskRunId}:${task.attempt}`, task);
            this.startWaiting();
          }
        }
        return;
      case 'cancel': {
        // A held attempt never started: it ends here with the reason the engine gave, its slot never taken.
        const key = `${message.taskRunId}:${message.attempt}`;
        const held = this.waiting.get(key);
        if (held) this.waiting.delete(key);
        const running = this.running.get(message.taskRunId);
        const attempt = held ? newAttempt(held, Date.now()) : running?.task.attempt === message.attempt ? running : undefined;
        if (attempt) {
          const timedOut = message.reason === 'EXECUTION_TIMEOUT';
          const text = timedOut ? `the attempt exceeded its executionTimeout${held ? ' while it waited for a slot' : ''}` : held ? 'the run was cancelled before the attempt started' : 'the run was cancelled';
          this.settle(attempt, { ok: false, error: { message: text, name: timedOut ? 'ExecutionTimeout' : 'Cancelled' }, reason: timedOut ? 'EXECUTION_TIMEOUT' : 'CANCELLED' });
        }
        return;
      }
      case 'ack':
        for (const a of [...message.accepted, ...message.rejected]) {
          const key = `${a.taskRunId}:${a.attempt}`;
          this.unacked.delete(key);
          // Its chunks were written before its outcome (or are moot once it was refused).
          this.streamAcked(key, Number.POSITIVE_INFINITY);
        }
        this.notifyProgress();
        return;
      case 'stream_ack':
        for (const a of message.acks) this.streamAcked(`${a.taskRunId}:${a.attempt}`, a.seq);
        return;
      default:
        return;
    }
  }

  private execute(task: AssignedTask): void {
    const handler = this.handlers.get(task.action);
    const startedAt = Date.now();
    const attempt = newAttempt(task, startedAt);
    this.running.set(task.taskRunId, attempt);
    this.ticker ??= setInterval(() => this.tick(), TICK_MS);
    if (!handler) {
      this.settle(attempt, { ok: false, nonRetryable: true, error: { message: `worker ${this.name} has no handler for task ${task.action}`, name: 'CleaverError' } });
      return;
    }
    const ctx = createContext({
      runId: task.runId,
      taskRunId: task.taskRunId,
      attempt: task.attempt,
      signal: () => {
        if (!attempt.controller) {
          attempt.controller = new AbortController();
          if (attempt.abortReason) attempt.controller.abort(attempt.abortReason);
        }
        return attempt.controller.signal;
      },
      metadata: task.metadata,
      parents: task.parents,
      failures: task.failures,
      host: {
        spawn: (workflow: string, items, wait: boolean) => {
          if (attempt.settled) return Promise.reject(new CleaverError('BAD_REQUEST', 'this attempt has already ended; children are spawned from a running task'));
          const request: Omit<TriggerRequest, 'id'> = { t: 'trigger', workflow, items, wait, parent: { taskRunId: task.taskRunId, attempt: task.attempt } };
          return this.connection.request<{ runIds: string[]; outcomes?: RunOutcome[] }>(request, { repeatable: false });
        },
        awaitRun: (runId: string) => this.connection.request<RunOutcome>({ t: 'await', runId }, { repeatable: true }),
        streamRun: (runId, options) => this.childStreams.open(runId, options),
        putStream: (chunk: unknown) => {
          if (attempt.settled) return Promise.reject(new CleaverError('BAD_REQUEST', 'putStream: this attempt has already ended; stream while the task runs'));
          try {
            return this.putStream(attempt, encodeStreamChunk(chunk, this.connection.welcome?.maxStreamChunkBytes ?? DEFAULT_MAX_STREAM_CHUNK_BYTES));
          } catch (e: unknown) {
            return Promise.reject(e);
          }
        },
        log: (message: string, level: LogLevel, fields?: LogFields) => {
          if (!attempt.settled) this.connection.send({ t: 'log', taskRunId: task.taskRunId, attempt: task.attempt, level, message, ...(fields ? { fields } : {}), at: Date.now() });
        },
        metric: (name: string, value: number) => {
          if (!attempt.settled) this.connection.send({ t: 'metric', taskRunId: task.taskRunId, attempt: task.attempt, action: task.action, name, value });
        },
        refreshTimeout: async (ms: number) => {
          if (attempt.settled) throw new CleaverError('NOT_FOUND', 'this attempt has already ended');
          await this.connection.request({ t: 'refresh_timeout', taskRunId: task.taskRunId, attempt: task.attempt, ms }, { repeatable: true });
          attempt.deadline = Date.now() + ms;
          attempt.timeoutMs = ms;
        },
      },
    });
    let pending: unknown;
    try {
      pending = handler(task.input, ctx);
    } catch (e: unknown) {
      this.settleWithError(attempt, e);
      return;
    }
    Promise.resolve(pending).then(
      (output) => {
        let json;
        try {
          json = validateJson(output === undefined ? null : output, 'output');
        } catch (e: unknown) {
          this.settle(attempt, { ok: false, nonRetryable: true, error: { message: `task ${task.action} returned a value that is not JSON: ${toError(e).message}`, name: 'CleaverError' } });
          return;
        }
        this.settle(attempt, { ok: true, output: json });
      },
      (e: unknown) => this.settleWithError(attempt, e),
    );
  }

  private putStream(attempt: RunningAttempt, chunk: WireStreamChunk & { bytes: number }): Promise<void> {
    const { task } = attempt;
    const message: StreamMessage = { t: 'stream', taskRunId: task.taskRunId, attempt: task.attempt, seq: ++attempt.streamSeq, kind: chunk.kind, data: chunk.data, at: Date.now() };
    const size = chunk.bytes + 64;
    if (this.streamUnackedBytes + size <= STREAM_KEPT_MAX_BYTES) {
      const key = `${task.taskRunId}:${task.attempt}`;
      const kept = this.streamUnacked.get(key);
      if (kept) kept.push({ message, size });
      else this.streamUnacked.set(key, [{ message, size }]);
      this.streamUnackedBytes += size;
    }
    // While disconnected it waits in streamUnacked and is sent after the next handshake.
    if (this.connection.connected) this.connection.send(message);
    if (this.streamUnackedBytes <= STREAM_WINDOW_BYTES) return Promise.resolve();
    return new Promise<void>((resolve) => this.streamWaiters.push({ attempt, resolve }));
  }

  /** The engine is done with this attempt's chunks up to `seq`: they need not be kept. */
  private streamAcked(key: string, seq: number): void {
    const kept = this.streamUnacked.get(key);
    if (!kept) return;
    let done = 0;
    while (done < kept.length && kept[done]!.message.seq <= seq) this.streamUnackedBytes -= kept[done++]!.size;
    if (done === kept.length) this.streamUnacked.delete(key);
    else kept.splice(0, done);
    if (this.streamUnackedBytes <= STREAM_WINDOW_BYTES) this.releaseStreamWaiters(() => true);
  }

  private releaseStreamWaiters(which: (attempt: RunningAttempt) => boolean): void {
    const waiting = this.streamWaiters;
    this.streamWaiters = [];
    for (const w of waiting) {
      if (which(w.attempt)) w.resolve();
      else this.streamWaiters.push(w);
    }
  }

  private tick(): void {
    const now = Date.now();
    for (const attempt of this.running.values()) {
      const { task } = attempt;
      if (now >= attempt.deadline) {
        this.settle(attempt, {
          ok: false,
          reason: 'EXECUTION_TIMEOUT',
          error: { message: `attempt ${task.attempt} exceeded its executionTimeout of ${attempt.timeoutMs} ms`, name: 'ExecutionTimeout' },
        });
      } else if (!attempt.reported && this.connection.connected) {
        attempt.reported = true;
        this.connection.send({ t: 'started', taskRunId: task.taskRunId, attempt: task.attempt, at: attempt.startedAt });
      }
    }
    if (this.running.size === 0 && this.ticker) {
      clearInterval(this.ticker);
      this.ticker = null;
    }
  }

  private settleWithError(attempt: RunningAttempt, thrown: unknown): void {
    const error = toError(thrown);
    this.settle(attempt, {
      ok: false,
      nonRetryable: thrown instanceof NonRetryableError || (error as { name?: string }).name === 'NonRetryableError',
      error: { message: error.message, name: error.name, stack: error.stack },
    });
  }

  /** Reports an attempt's outcome once; aborts its signal unless it succeeded on its own. */
  private settle(attempt: RunningAttempt, outcome: Pick<ResultMessage, 'ok' | 'output' | 'error' | 'nonRetryable' | 'reason'>): void {
    if (attempt.settled) return;
    attempt.settled = true;
    // A task still waiting to stream has nothing more to wait for.
    this.releaseStreamWaiters((a) => a === attempt);
    if (!outcome.ok) {
      attempt.abortReason = new CleaverError('TASK_FAILED', outcome.error?.message ?? 'attempt ended');
      attempt.controller?.abort(attempt.abortReason);
    }
    const { task } = attempt;
    const result: ResultMessage = { t: 'result', taskRunId: task.taskRunId, attempt: task.attempt, ...outcome, startedAt: attempt.startedAt, finishedAt: Date.now() };
    if (this.running.get(task.taskRunId) === attempt) this.running.delete(task.taskRunId);
    this.unacked.set(`${task.taskRunId}:${task.attempt}`, result);
    // While disconnected, the result waits in `unacked` and is sent after the next handshake.
    if (this.connection.connected) this.connection.send(result);
    this.startWaiting();
    this.notifyProgress();
  }

  /**
   * Starts held attempts while slots are free, oldest first. A loop, not recursion: a task that ends
   * at once (a synchronous throw) settles inside execute(), which calls back here and returns.
   */
  private startWaiting(): void {
    if (this.startingWaiting) return;
    this.startingWaiting = true;
    try {
      for (const [key, task] of this.waiting) {
        if (this.running.size >= this.slots) break;
        this.waiting.delete(key);
        this.execute(task);
      }
    } finally {
      this.startingWaiting = false;
    }
  }
}

/** An attempt's bookkeeping from its start. */
function newAttempt(task: AssignedTask, startedAt: number): RunningAttempt {
  return { task, controller: null, abortReason: null, deadline: startedAt + task.timeoutMs, timeoutMs: task.timeoutMs, startedAt, reported: false, settled: false, streamSeq: 0 };
}

const DEFAULT_STOP_TIMEOUT = '30s';

/** Waits for `work`, or for `ms` if that is shorter. */
async function within(work: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([work, new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)))]);
  clearTimeout(timer);
}

/** ` (task run X attempt N, ...)` for messages, at most ten. */
function listAttempts(attempts: Array<{ taskRunId: string; attempt: number }>): string {
  if (attempts.length === 0) return '';
  const shown = attempts.slice(0, 10).map((a) => `task run ${a.taskRunId} attempt ${a.attempt}`);
  return ` (${shown.join(', ')}${attempts.length > 10 ? `, and ${attempts.length - 10} more` : ''})`;
}
