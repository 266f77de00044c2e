/**
 * A worker: registers its tasks with the engine, runs the attempts it is assigned, and reports each
 * outcome until the engine acknowledges it — across reconnects, so an engine restart loses no result.
 * stop() drains: the engine assigns nothing new, running attempts finish, results are acknowledged.
 */
import { randomUUID } from 'node:crypto';
import { createContext } from './context.ts';
import { EngineConnection } from './engine-connection.ts';
import { TaskDeclaration } from './task.ts';
import { WorkflowDeclaration } from './workflow.ts';
import type { Context } from './context.ts';
import type { EngineAddress } from '../shared/paths.ts';
import type { AssignedTask, EngineMessage, ResultMessage, RunOutcome, TriggerRequest } from '../shared/protocol.ts';
import { PROTOCOL_VERSION } from '../shared/protocol.ts';
import type { LogLevel } from '../shared/types.ts';
import { CleaverError, NonRetryableError, toError } from '../shared/errors.ts';
import { validateJson } from '../shared/payload.ts';

export interface WorkerOptions {
  // Declarations are invariant in their input type; the worker only calls fn with what the engine sends.
  /** The standalone tasks and workflows this worker runs. */
  workflows: Array<TaskDeclaration<any, any> | WorkflowDeclaration<any, any>>;
  /** How many attempts this worker runs at once (default 100). */
  slots?: number;
  labels?: Record<string, string>;
  /** Drain and exit on SIGTERM / SIGINT (default true). */
  handleSignals?: boolean;
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
}

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
  private readonly labels: Record<string, string>;
  private readonly running = new Map<string, RunningAttempt>();
  /** Results sent but not yet acknowledged by the engine: re-sent after a reconnect. */
  private readonly unacked = new Map<string, ResultMessage>();
  private heartbeat: NodeJS.Timeout | null = null;
  private ticker: NodeJS.Timeout | null = null;
  private state: 'new' | 'running' | 'draining' | 'stopped' = 'new';
  private idleWaiters: Array<() => void> = [];
  private readonly handleSignals: boolean;
  private readonly onSignal = (signal: NodeJS.Signals) => {
    process.stderr.write(`cleaver worker ${this.name}: ${signal} received, draining (${this.running.size} running)\n`);
    void this.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };

  constructor(options: { name: string; address: EngineAddress; token?: string; worker: WorkerOptions }) {
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
    this.labels = worker.labels ?? {};
    this.handleSignals = worker.handleSignals ?? true;
    this.connection = new EngineConnection({
      address: options.address,
      token: options.token,
      hello: () => ({
        t: 'hello',
        protocol: PROTOCOL_VERSION,
        role: 'worker',
        workerId: this.id,
        name: this.name,
        tasks: this.standalone.map((t) => t.definition),
        workflows: this.workflows.map((w) => w.definition),
        slots: this.slots,
        labels: this.labels,
        inflight: [...this.running.values()].filter((r) => !r.settled).map((r) => ({ taskRunId: r.task.taskRunId, attempt: r.task.attempt })),
      }),
      onMessage: (message) => this.onMessage(message),
      onWelcome: (welcome, reconnected) => {
        this.startHeartbeat(welcome.heartbeatIntervalMs);
        if (reconnected) {
          for (const result of this.unacked.values()) this.connection.send(result);
          if (this.state === 'draining') void this.connection.request({ t: 'drain' }, { repeatable: true }).catch(() => undefined);
        }
      },
    });
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
      process.once('SIGTERM', this.onSignal);
      process.once('SIGINT', this.onSignal);
    }
  }

  /** Graceful drain: no new work, running attempts finish and their results are acknowledged. */
  async stop(): Promise<void> {
    if (this.state === 'stopped' || this.state === 'new') {
      this.state = 'stopped';
      return;
    }
    if (this.state === 'running') {
      this.state = 'draining';
      await this.connection.request({ t: 'drain' }, { repeatable: true }).catch(() => undefined);
    }
    if (this.running.size > 0 || this.unacked.size > 0) await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
    this.state = 'stopped';
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
        for (const task of message.tasks) this.execute(task);
        return;
      case 'cancel': {
        const running = this.running.get(message.taskRunId);
        if (running && running.task.attempt === message.attempt) {
          const text = message.reason === 'EXECUTION_TIMEOUT' ? 'the attempt exceeded its executionTimeout' : 'the run was cancelled';
          this.settle(running, { ok: false, error: { message: text, name: message.reason === 'EXECUTION_TIMEOUT' ? 'ExecutionTimeout' : 'Cancelled' }, reason: message.reason === 'EXECUTION_TIMEOUT' ? 'EXECUTION_TIMEOUT' : 'CANCELLED' });
        }
        return;
      }
      case 'ack':
        for (const a of message.accepted) this.unacked.delete(`${a.taskRunId}:${a.attempt}`);
        for (const r of message.rejected) this.unacked.delete(`${r.taskRunId}:${r.attempt}`);
        this.checkIdle();
        return;
      default:
        return;
    }
  }

  private execute(task: AssignedTask): void {
    const handler = this.handlers.get(task.action);
    const startedAt = Date.now();
    const attempt: RunningAttempt = {
      task,
      controller: null,
      abortReason: null,
      deadline: startedAt + task.timeoutMs,
      timeoutMs: task.timeoutMs,
      startedAt,
      reported: false,
      settled: false,
    };
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
        log: (message: string, level: LogLevel) => {
          if (!attempt.settled) this.connection.send({ t: 'log', taskRunId: task.taskRunId, attempt: task.attempt, level, message, at: Date.now() });
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
    this.checkIdle();
  }

  private checkIdle(): void {
    if (this.running.size > 0 || this.unacked.size > 0 || this.idleWaiters.length === 0) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const resolve of waiters) resolve();
  }
}
