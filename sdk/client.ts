/**
 * The entry point of the SDK. `Cleaver.connect()` finds the engine from CLEAVER_ADDRESS
 * (unix:///path or tcp://host:port, or several of them comma-separated) and CLEAVER_TOKEN, else the
 * default socket of the default data dir (CLEAVER_DATA_DIR or ~/.cleaver). The connection is opened
 * lazily on first use.
 */
import { EngineConnection } from './engine-connection.ts';
import { TaskDeclaration, TaskRef, type RunOptions, type TaskClient, type TaskOptions } from './task.ts';
import { Worker, type WorkerOptions } from './worker.ts';
import { WorkflowDeclaration, type WorkflowOptions } from './workflow.ts';
import { StreamSubscriber, type RunStream, type RunStreamOptions } from './run-stream.ts';
import type { AdminApi, AdminMethod, EventListPage, EventListParams, LogSearchPage, LogSearchParams, PushedEvent, RunCount, RunCountParams, RunDetails, RunFilter, RunListPage, RunListParams } from '../shared/admin-api.ts';
import type { RateLimitDuration, RateLimitRecord } from '../shared/flow-control.ts';
import type { Json } from '../shared/types.ts';
import { CleaverError } from '../shared/errors.ts';
import { defaultDataDir, defaultSocketPath, parseAddresses, type EngineAddress } from '../shared/paths.ts';
import { parseDuration, type Duration } from '../shared/duration.ts';
import { PROTOCOL_VERSION, type DeclaredDefinition, type EngineStatus, type RunOutcome, type TriggerItem } from '../shared/protocol.ts';

export interface ConnectOptions {
  /**
   * unix:///path/to/engine.sock or tcp://host:port, or several engines on one database (a
   * comma-separated string or an array), in order of preference: when the engine in use becomes
   * unreachable, clients and workers move to the next (default: CLEAVER_ADDRESS, else the local socket).
   */
  address?: string | readonly string[];
  /** Required for TCP (default: CLEAVER_TOKEN). */
  token?: string;
  /**
   * How long a request may wait for a connection to an engine before it fails with a CONNECTION error
   * (default '30s'); worker.start() waits as long for its first one. Only time without a connection
   * counts: once a request is sent, its reply is awaited without a deadline, so `run()` waits for its
   * run's outcome however long the tasks take (and waits up to this long again for an engine if the
   * connection drops meanwhile).
   */
  requestTimeout?: Duration;
}

export class Cleaver implements TaskClient {
  /** The engines this client and its workers use, in order of preference. */
  readonly addresses: readonly EngineAddress[];
  private readonly token: string | undefined;
  private readonly requestTimeoutMs: number | undefined;
  private readonly connection: EngineConnection;
  private readonly workers: Worker[] = [];
  private readonly streams = new StreamSubscriber(() => this.connection);

  private constructor(options: ConnectOptions) {
    this.addresses = parseAddresses(options.address ?? (process.env.CLEAVER_ADDRESS || `unix://${defaultSocketPath(defaultDataDir())}`));
    this.token = options.token ?? process.env.CLEAVER_TOKEN ?? undefined;
    this.requestTimeoutMs = options.requestTimeout === undefined ? undefined : parseDuration(options.requestTimeout, 'requestTimeout');
    this.connection = new EngineConnection({
      addresses: this.addresses,
      token: this.token,
      hello: () => ({ t: 'hello', protocol: PROTOCOL_VERSION, role: 'client' }),
      requestTimeoutMs: this.requestTimeoutMs,
      onMessage: (message) => this.streams.onMessage(message),
      onDisconnect: () => this.streams.resume(),
    });
  }

  static connect(options: ConnectOptions = {}): Cleaver {
    return new Cleaver(options);
  }

  /** Declares a standalone task (a one-task workflow). Workers that list it register it with the engine. */
  task<I = unknown, O = unknown>(options: TaskOptions<I, O>): TaskDeclaration<I, O> {
    return new TaskDeclaration<I, O>(this, options);
  }

  /**
   * Declares a workflow: add tasks with `wf.task({ name, parents, fn })`, list it in a worker, and run it
   * like a task. Its output is `{ [taskName]: output }`.
   */
  workflow<I = unknown, O = Record<string, unknown>>(options: WorkflowOptions): WorkflowDeclaration<I, O> {
    return new WorkflowDeclaration<I, O>(this, options);
  }

  /** Runs: inspect, list, cancel, replay. */
  readonly runs = {
    get: (runId: string): Promise<RunDetails> => this.admin('runGet', { runId }, true),
    list: (params: RunListParams = {}): Promise<RunListPage> => this.admin('runsList', params, true),
    /** How many runs match a filter, counted up to `upTo` (default 10,000; `exact` false beyond it). */
    count: (params: RunCountParams = {}): Promise<RunCount> => this.admin('runsCount', params, true),
    /** Cancels one run, several (`{ runIds }`) or every run matching a filter (`{ filter }`). */
    cancel: (which: string | { runIds: string[] } | { filter: RunFilter }): Promise<{ cancelled: string[] }> =>
      this.admin('runsCancel', typeof which === 'string' ? { runIds: [which] } : which, true),
    /**
     * Runs an ended run again from `fromTask` (default: the tasks that did not succeed), on the same
     * run: tasks that succeeded upstream keep their outputs, and attempts go on being numbered.
     */
    replay: (which: string | { runIds: string[] } | { filter: RunFilter }, options: { fromTask?: string } = {}): Promise<{ replayed: string[] }> =>
      this.admin('runsReplay', { ...(typeof which === 'string' ? { runIds: [which] } : which), ...options }, false),
    /** Retries one failed or cancelled task run (and the tasks after it) on its ended run. */
    retryTask: (taskRunId: string): Promise<{ runId: string }> => this.admin('taskRetry', { taskRunId }, false),
    /**
     * Follows the run's stream (what its tasks put with ctx.putStream): `for await (const e of
     * cleaver.runs.stream(runId))` gets what was streamed already, then live chunks, and ends when the run does.
     */
    stream: (runId: string, options?: RunStreamOptions): RunStream => this.streamRun(runId, options),
  };

  /** Events: push them to trigger the workflows whose `on.events` patterns match; replay them. */
  readonly events = {
    push: async (key: string, payload: Json = {}, options: { metadata?: Record<string, string> } = {}): Promise<PushedEvent> =>
      (await this.admin('eventsPush', { events: [{ key, payload, metadata: options.metadata }] }, false)).events[0]!,
    pushMany: async (events: Array<{ key: string; payload?: Json; metadata?: Record<string, string> }>): Promise<PushedEvent[]> =>
      (await this.admin('eventsPush', { events: events.map((e) => ({ key: e.key, payload: e.payload ?? {}, metadata: e.metadata })) }, false)).events,
    replay: (eventId: string): Promise<PushedEvent> => this.admin('eventReplay', { eventId }, false),
    list: (params: EventListParams = {}): Promise<EventListPage> => this.admin('eventsList', params, true),
  };

  /** Task logs (what tasks write with ctx.log and ctx.logger): docs/logs.md. */
  readonly logs = {
    /**
     * Lines of every task run by text, level, workflow and time range, newest first, each with its run,
     * workflow, task and attempt; pass the page's `nextCursor` back for the next one.
     */
    search: (params: LogSearchParams = {}): Promise<LogSearchPage> => this.admin('logsSearch', params, true),
  };

  /**
   * Rate-limit keys that tasks name with `rateLimits: [{ staticKey, units }]` (docs/flow-control.md).
   * A key's window is kept across changes: what it admitted still counts under a new limit or duration.
   */
  readonly rateLimits = {
    /** Defines a static key or changes one (a dynamic key of that name becomes static). */
    upsert: (params: { key: string; limit: number; duration: RateLimitDuration }): Promise<RateLimitRecord> => this.admin('rateLimitUpsert', params, true),
    /** Keys by key, those containing `search` (ignoring case) when given; at most 1,000. */
    list: (params: { search?: string } = {}): Promise<{ rateLimits: RateLimitRecord[] }> => this.admin('rateLimitsList', params, true),
    /** Removes a key; `deleted` is false when there was none. */
    delete: (key: string): Promise<{ deleted: boolean }> => this.admin('rateLimitDelete', { key }, false),
  };

  /** One call of the engine's admin contract over this client's connection. */
  private admin<M extends AdminMethod>(method: M, params: Parameters<AdminApi[M]>[0], repeatable: boolean): ReturnType<AdminApi[M]> {
    if (params === null || typeof params !== 'object') {
      return Promise.reject(new CleaverError('BAD_REQUEST', `${method}: expected an object of parameters`)) as ReturnType<AdminApi[M]>;
    }
    return this.connection.request({ t: 'admin', method, params }, { repeatable }) as ReturnType<AdminApi[M]>;
  }

  /**
   * A task declared in another process, by name, to trigger it from here: `cleaver.ref<In, Out>('hello')`
   * has run / runNoWait / runMany / runManyNoWait.
   */
  ref<I = unknown, O = unknown>(name: string): TaskRef<I, O> {
    return new TaskRef<I, O>(this, name);
  }

  /** Triggers a task or workflow by name and waits for its output (shorthand for `ref(name).run(input)`). */
  run<O = unknown>(name: string, input: unknown, options?: RunOptions): Promise<O> {
    return this.ref<unknown, O>(name).run(input, options);
  }

  /** Creates a worker; call start() on it to register and begin taking work. */
  async worker(name: string, options: WorkerOptions): Promise<Worker> {
    const worker = new Worker({ name, addresses: this.addresses, token: this.token, requestTimeoutMs: this.requestTimeoutMs, worker: options });
    this.workers.push(worker);
    return worker;
  }

  /** The engine's view of itself: listeners, connected workers, queue counts. */
  status(): Promise<EngineStatus> {
    return this.connection.request<EngineStatus>({ t: 'status' }, { repeatable: true });
  }

  trigger(workflow: string, items: TriggerItem[], wait: boolean, declared?: DeclaredDefinition): Promise<{ runIds: string[]; outcomes?: RunOutcome[] }> {
    return this.connection.request({ t: 'trigger', workflow, items, wait, ...(declared ? { declared } : {}) }, { repeatable: false });
  }

  awaitRun(runId: string): Promise<RunOutcome> {
    return this.connection.request<RunOutcome>({ t: 'await', runId }, { repeatable: true });
  }

  streamRun(runId: string, options?: RunStreamOptions): RunStream {
    return this.streams.open(runId, options);
  }

  /** Stops this client's workers (draining them) and closes the connection. */
  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.stop()));
    this.streams.closeAll(new CleaverError('CONNECTION', 'the client was closed while following the stream'));
    this.connection.close();
  }
}
