/**
 * The entry point of the SDK. `Cleaver.connect()` finds the engine from CLEAVER_ADDRESS
 * (unix:///path or tcp://host:port) and CLEAVER_TOKEN, else the default socket of the default data dir
 * (CLEAVER_DATA_DIR or ~/.cleaver). The connection is opened lazily on first use.
 */
import { EngineConnection } from './engine-connection.ts';
import { TaskDeclaration, TaskRef, type RunOptions, type TaskClient, type TaskOptions } from './task.ts';
import { Worker, type WorkerOptions } from './worker.ts';
import { defaultDataDir, defaultSocketPath, parseAddress, type EngineAddress } from '../shared/paths.ts';
import { parseDuration, type Duration } from '../shared/duration.ts';
import { PROTOCOL_VERSION, type EngineStatus, type RunOutcome, type TriggerItem } from '../shared/protocol.ts';

export interface ConnectOptions {
  /** unix:///path/to/engine.sock or tcp://host:port (default: CLEAVER_ADDRESS, else the local socket). */
  address?: string;
  /** Required for TCP (default: CLEAVER_TOKEN). */
  token?: string;
  /** How long the first connection keeps retrying before requests fail (default '5s'). */
  connectTimeout?: Duration;
}

export class Cleaver implements TaskClient {
  readonly address: EngineAddress;
  private readonly token: string | undefined;
  private readonly connection: EngineConnection;
  private readonly workers: Worker[] = [];

  private constructor(options: ConnectOptions) {
    const address = options.address ?? process.env.CLEAVER_ADDRESS ?? `unix://${defaultSocketPath(defaultDataDir())}`;
    this.address = parseAddress(address);
    this.token = options.token ?? process.env.CLEAVER_TOKEN ?? undefined;
    this.connection = new EngineConnection({
      address: this.address,
      token: this.token,
      hello: () => ({ t: 'hello', protocol: PROTOCOL_VERSION, role: 'client' }),
      connectTimeoutMs: options.connectTimeout === undefined ? undefined : parseDuration(options.connectTimeout, 'connectTimeout'),
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
   * A task declared in another process, by name, to trigger it from here: `cleaver.ref<In, Out>('hello')`
   * has run / runNoWait / runMany / runManyNoWait.
   */
  ref<I = unknown, O = unknown>(name: string): TaskRef<I, O> {
    return new TaskRef<I, O>(this, name);
  }

  /** Triggers a task by name and waits for its output (shorthand for `ref(name).run(input)`). */
  run<O = unknown>(name: string, input: unknown, options?: RunOptions): Promise<O> {
    return this.ref<unknown, O>(name).run(input, options);
  }

  /** Creates a worker; call start() on it to register and begin taking work. */
  async worker(name: string, options: WorkerOptions): Promise<Worker> {
    const worker = new Worker({ name, address: this.address, token: this.token, worker: options });
    this.workers.push(worker);
    return worker;
  }

  /** The engine's view of itself: listeners, connected workers, queue counts. */
  status(): Promise<EngineStatus> {
    return this.connection.request<EngineStatus>({ t: 'status' }, { repeatable: true });
  }

  trigger(task: string, items: TriggerItem[], wait: boolean): Promise<{ runIds: string[]; outcomes?: RunOutcome[] }> {
    return this.connection.request({ t: 'trigger', task, items, wait }, { repeatable: false });
  }

  awaitRun(runId: string): Promise<RunOutcome> {
    return this.connection.request<RunOutcome>({ t: 'await', runId }, { repeatable: true });
  }

  /** Stops this client's workers (draining them) and closes the connection. */
  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.stop()));
    this.connection.close();
  }
}
