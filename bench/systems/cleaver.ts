/**
 * Cleaver as a system under test: a real `cleaver serve` child process from the build (dist/), on a
 * fresh Postgres schema or a fresh PGlite data dir per setup; workers are bench/cleaver-worker.ts child
 * processes; the producer is this process, talking to the engine over its Unix socket with the built SDK.
 */
import { randomBytes } from 'node:crypto';
import { cpSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Cleaver, type RunRef, type TaskDeclaration } from 'cleaver-sdk';
import { spawnBenchWorker } from '../lib/bench-worker.ts';
import { ManagedChild, describeExit } from '../lib/child-process.ts';
import { toError, withTimeout } from '../lib/deadline.ts';
import { dropSchema, postgresSettings } from '../lib/postgres-admin.ts';
import { treeResidentBytes } from '../lib/process-memory.ts';
import { NOOP_FLOW_ENV, declareBacklog, declareNoop, type NoopFlow, type NoopInput, type NoopOutput } from './cleaver-noop.ts';
import { CLEAVER_DAG_HOW, DAG_WORKFLOWS, declareDagWorkflows } from './cleaver-dag.ts';
import type { BenchWorker, BurnDownTarget, BurnDownVariants, DagSupport, RunListSupport, SystemUnderTest } from './system.ts';
import { loadRunsPglite, loadRunsPostgres } from '../lib/run-list-data.ts';

export const ROOT = resolve(import.meta.dirname, '../..');
export const ENGINE_CLI = join(ROOT, 'dist/engine/cli.js');
const WORKER_ENTRY = join(ROOT, 'bench/cleaver-worker.ts');

const ENGINE_READY_MS = 60_000;
const ENGINE_STOP_GRACE_MS = 10_000;
const PGLITE_INIT_MS = 120_000;
const REGISTER_MS = 15_000;
const RESULT_CHUNK = 5_000;
const KEYED_TASK = 'noop-keyed';
const RATE_LIMITED_TASK = 'noop-rate-limited';
const RATE_LIMIT_KEY = 'bench-api';

export type CleaverBackend = 'pg' | 'pglite';

export interface CleaverSystemOptions {
  backend: CleaverBackend;
  /** Postgres for the pg backend (a fresh schema per setup). */
  databaseUrl: string;
  /** 'relaxed' runs the engine with --enqueue-commit relaxed (triggers acknowledged before their WAL flush). */
  enqueueCommit?: 'durable' | 'relaxed';
  /** Workers hold as many attempts again as their slots (WorkerOptions.prefetch = slots). */
  prefetch?: boolean;
}

export function createCleaverSystem(options: CleaverSystemOptions): SystemUnderTest {
  return new CleaverSystem(options);
}

class CleaverSystem implements SystemUnderTest {
  readonly id: string;
  readonly label: string;
  private readonly backend: CleaverBackend;
  private readonly databaseUrl: string;
  private readonly engineFlags: string[];
  private readonly prefetch: boolean;
  private pgliteTemplate: Promise<string> | null = null;
  private templateDir: string | null = null;
  // Per setup:
  private dir: string | null = null;
  private schema: string | null = null;
  private engine: ManagedChild | null = null;
  private client: Cleaver | null = null;
  private noop: TaskDeclaration<NoopInput, NoopOutput> | null = null;
  private backlogTask: ReturnType<typeof declareBacklog> | null = null;
  private workers = new Set<ManagedChild>();
  private enqueued: Array<RunRef<NoopOutput>> = [];
  private engineBanner: string[] = [];

  constructor(options: CleaverSystemOptions) {
    this.backend = options.backend;
    this.databaseUrl = options.databaseUrl;
    const relaxed = options.enqueueCommit === 'relaxed';
    this.engineFlags = relaxed ? ['--enqueue-commit', 'relaxed'] : [];
    this.prefetch = options.prefetch ?? false;
    this.id = `cleaver-${options.backend}${relaxed ? '-relaxed' : ''}${this.prefetch ? '-prefetch' : ''}`;
    this.label = `Cleaver on ${options.backend === 'pg' ? 'Postgres' : 'PGlite'}${relaxed ? ' (--enqueue-commit relaxed)' : ''}${this.prefetch ? ' (workers with prefetch = slots)' : ''}`;
  }

  async describe(): Promise<Record<string, string>> {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
    const info: Record<string, string> = { cleaver: pkg.version, engine: `cleaver serve (dist/engine/cli.js), ${this.engineFlags.length > 0 ? this.engineFlags.join(' ') : 'default flags'}` };
    if (this.backend === 'pg') {
      const settings = await postgresSettings(this.databaseUrl);
      for (const [name, value] of Object.entries(settings)) info[`postgres.${name}`] = value;
    } else {
      const pglite = JSON.parse(readFileSync(join(ROOT, 'node_modules/@electric-sql/pglite/package.json'), 'utf8')) as { version: string };
      info.pglite = pglite.version;
      info['pglite.durability'] = 'fsync off, synchronous_commit on (engine/db/pglite/pglite-driver.ts)';
    }
    if (this.engineBanner.length > 0) info['engine.banner'] = this.engineBanner.join(' | ');
    return info;
  }

  async setup(): Promise<void> {
    if (this.engine) throw new Error(`${this.id}: setup() called twice without teardown()`);
    // Short: a Unix socket path must fit in ~100 bytes.
    this.dir = mkdtempSync(join(tmpdir(), 'clvb-'));
    if (this.backend === 'pg') {
      this.schema = `bench_${randomBytes(6).toString('hex')}`;
    } else {
      const template = await this.pgliteTemplateDir();
      cpSync(join(template, 'pgdata'), this.pgdataDir(), { recursive: true });
    }
    await this.startEngine();
    this.noop = declareNoop(this.requireClient());
    // The engine accepts triggers only for tasks some worker has registered; a worker that connects and
    // leaves at once registers `noop` without taking anything, so burn-down can preload with no worker.
    const registrar = await this.requireClient().worker('bench-register', { workflows: [this.noop, ...declareDagWorkflows(this.requireClient())], slots: 1, handleSignals: false });
    await this.guard(withTimeout(`${this.id}: registering the noop task`, REGISTER_MS, registrar.start().then(() => registrar.stop())));
  }

  /** Starts `cleaver serve` on this setup's schema or data dir, and a client of it. */
  private async startEngine(): Promise<void> {
    const socket = join(this.requireDir(), 'e.sock');
    const databaseArgs = this.backend === 'pg' ? ['--database-url', this.databaseUrl, '--schema', this.schema!] : ['--data-dir', join(this.requireDir(), 'data')];
    this.engine = new ManagedChild({
      name: `${this.id} engine`,
      command: process.execPath,
      args: [ENGINE_CLI, 'serve', '--socket', socket, '--console', 'off', ...databaseArgs, ...this.engineFlags],
      cwd: ROOT,
    });
    await this.engine.waitForLine((line) => line.includes(' ready'), { what: 'its " ready" line', timeoutMs: ENGINE_READY_MS });
    // The banner says which version, database and commit settings the engine really uses.
    this.engineBanner = this.engine.stdoutLines().map((line) => line.trim()).filter((line) => line && !line.startsWith('listening:') && !line.startsWith('workers connect'));
    this.client = Cleaver.connect({ address: `unix://${socket}` });
  }

  /** Stops the engine and closes its client; the schema or data dir stays. */
  private async stopEngine(): Promise<void> {
    const problems: string[] = [];
    const client = this.client;
    this.client = null;
    if (client) await withTimeout('closing the client', 10_000, client.close()).catch((e: unknown) => problems.push(`closing the client: ${toError(e).message}`));
    const engine = this.engine;
    this.engine = null;
    if (engine) {
      const exit = await engine.stop({ request: null, signal: 'SIGTERM', graceMs: ENGINE_STOP_GRACE_MS });
      // An engine that died earlier has already failed the step that was running.
      if (!exit.exitedBefore && exit.forced) problems.push(`${engine.name} ignored SIGTERM for ${ENGINE_STOP_GRACE_MS / 1000} s and was killed; last output:\n${engine.outputTail()}`);
      else if (!exit.exitedBefore && exit.code !== 0) problems.push(`${engine.name} exited with ${describeExit(exit)} on SIGTERM; last output:\n${engine.outputTail()}`);
    }
    if (problems.length > 0) throw new Error(problems.join('; '));
  }

  private pgdataDir(): string {
    return join(this.requireDir(), 'data', 'pgdata');
  }

  readonly runList: RunListSupport = {
    load: async (options) => {
      const began = performance.now();
      let sizes: Record<string, string>;
      if (this.backend === 'pg') {
        sizes = await loadRunsPostgres({ url: this.databaseUrl, schema: this.schema!, ...options });
      } else {
        // PGlite has one connection, the engine's: the data goes in while the engine is stopped.
        await this.stopEngine();
        sizes = await loadRunsPglite({ pgdata: this.pgdataDir(), ...options });
        await this.startEngine();
      }
      return { loadMs: Math.round(performance.now() - began), sizes };
    },
    list: (params) => this.guard(this.requireClient().runs.list(params)),
    count: (params) => this.guard(this.requireClient().runs.count(params)),
  };

  startWorker(options: { slots: number; expect?: number }): Promise<BenchWorker> {
    return this.spawnWorker({ ...options, flow: null });
  }

  /** A bench/cleaver-worker.ts process offering the plain noop (and the DAG workflows), or only the noop declared with `flow`. */
  private async spawnWorker(options: { slots: number; expect?: number; flow: NoopFlow | null }): Promise<BenchWorker> {
    const socket = join(this.requireDir(), 'e.sock');
    const worker = await spawnBenchWorker({
      name: `${this.id} worker (slots ${options.slots}${options.flow ? `, ${options.flow.name}` : ''})`,
      entry: WORKER_ENTRY,
      env: {
        ...process.env,
        CLEAVER_ADDRESS: `unix://${socket}`,
        BENCH_WORKER_SLOTS: String(options.slots),
        BENCH_WORKER_PREFETCH: String(this.prefetch ? options.slots : 0),
        BENCH_WORKER_EXPECT: String(options.expect ?? 0),
        [NOOP_FLOW_ENV]: options.flow ? JSON.stringify(options.flow) : '',
      },
      cwd: ROOT,
      guard: (operation) => this.guard(operation),
      onGone: (child) => this.workers.delete(child),
    });
    this.workers.add(worker.child);
    return worker;
  }

  async runAndWait(input: { sentAt: number; warmup: boolean }): Promise<void> {
    await this.guard(this.requireNoop().run(input));
  }

  async enqueueOne(input: { sentAt: number; warmup?: boolean }): Promise<void> {
    this.enqueued.push(await this.guard(this.requireNoop().runNoWait(input)));
  }

  async engineRssBytes(): Promise<number> {
    const pid = this.engine?.process.pid;
    if (pid === undefined) throw new Error(`${this.id}: not set up`);
    return treeResidentBytes(pid);
  }

  readonly dag: DagSupport = {
    how: CLEAVER_DAG_HOW,
    // The first step's enqueue→start is not what is measured here; the run's enqueue→done is.
    run: async (shape) => {
      await this.guard(this.requireClient().run(DAG_WORKFLOWS[shape], {}));
    },
  };

  readonly burnDownVariants: BurnDownVariants = {
    // Triggered by name with its declaration (the engine registers it on first use): no worker ever offers it.
    backlog: async (count) => {
      this.backlogTask ??= declareBacklog(this.requireClient());
      const refs = await this.guard(this.backlogTask.runManyNoWait(Array.from({ length: count }, () => ({}))));
      if (refs.length !== count) throw new Error(`${this.id}: backlog runManyNoWait of ${count} returned ${refs.length} run ids`);
    },
    keyed: async ({ keys, maxRuns }) => this.flowTarget({ name: KEYED_TASK, concurrency: { expression: 'input.k', maxRuns } }, (i) => ({ k: `k${i % keys}` })),
    // A static key must exist before a task naming it registers (on the first trigger).
    rateLimited: async ({ perMinute }) => {
      await this.guard(this.requireClient().rateLimits.upsert({ key: RATE_LIMIT_KEY, limit: perMinute, duration: 'minute' }));
      return this.flowTarget({ name: RATE_LIMITED_TASK, rateLimits: [{ staticKey: RATE_LIMIT_KEY, units: 1 }] }, () => ({}));
    },
  };

  enqueueMany(count: number): Promise<void> {
    return this.enqueueRuns(this.requireNoop(), Array.from({ length: count }, () => ({})));
  }

  /**
   * The noop declared with `flow`, registered by its first trigger like the backlog: enqueued here, the
   * i-th run with `inputAt(i)` and checked by verifyEnqueued, and drained by a worker offering that declaration.
   */
  private flowTarget(flow: NoopFlow, inputAt: (i: number) => NoopInput): BurnDownTarget {
    const task = declareNoop(this.requireClient(), { flow });
    let next = 0;
    return {
      enqueueMany: (count) => this.enqueueRuns(task, Array.from({ length: count }, () => inputAt(next++))),
      startWorker: (options) => this.spawnWorker({ ...options, flow }),
    };
  }

  private async enqueueRuns(task: TaskDeclaration<NoopInput, NoopOutput>, inputs: NoopInput[]): Promise<void> {
    const refs = await this.guard(task.runManyNoWait(inputs));
    if (refs.length !== inputs.length) throw new Error(`${this.id}: ${task.name} runManyNoWait of ${inputs.length} returned ${refs.length} run ids`);
    for (const ref of refs) this.enqueued.push(ref);
  }

  async unfinished(): Promise<number> {
    const { counts } = await this.guard(this.requireClient().status());
    const live = ['queued', 'assigned', 'running'].filter((status) => status in counts);
    if (live.length === 0) throw new Error(`${this.id}: engine status reports no queued/assigned/running counts (got ${JSON.stringify(counts)}); update bench/systems/cleaver.ts`);
    return live.reduce((sum, status) => sum + (counts[status] ?? 0), 0);
  }

  async connectedWorkers(): Promise<number> {
    const status = await this.guard(this.requireClient().status());
    return status.workers.length;
  }

  async verifyEnqueued(): Promise<{ succeeded: number; notSucceeded: number; firstProblem: string | null }> {
    let succeeded = 0;
    let notSucceeded = 0;
    let firstProblem: string | null = null;
    // result() of a finished run is one lookup; chunks keep the number of outstanding requests bounded.
    for (let i = 0; i < this.enqueued.length; i += RESULT_CHUNK) {
      const settled = await this.guard(Promise.allSettled(this.enqueued.slice(i, i + RESULT_CHUNK).map((ref) => ref.result())));
      for (const [j, outcome] of settled.entries()) {
        if (outcome.status === 'fulfilled') {
          succeeded++;
        } else {
          notSucceeded++;
          firstProblem ??= `run ${this.enqueued[i + j]!.runId}: ${toError(outcome.reason).message}`;
        }
      }
    }
    return { succeeded, notSucceeded, firstProblem };
  }

  async teardown(): Promise<void> {
    const problems: string[] = [];
    const attempt = async (what: string, step: () => Promise<void>) => {
      try {
        await step();
      } catch (e: unknown) {
        problems.push(`${what}: ${toError(e).message}`);
      }
    };
    for (const worker of this.workers) worker.kill();
    this.workers.clear();
    await attempt('stopping the engine', () => this.stopEngine());
    const schema = this.schema;
    if (schema) await attempt(`dropping schema ${schema}`, () => withTimeout(`dropping schema ${schema}`, 30_000, dropSchema(this.databaseUrl, schema)));
    if (this.dir) rmSync(this.dir, { recursive: true, force: true });
    this.dir = null;
    this.schema = null;
    this.engine = null;
    this.client = null;
    this.noop = null;
    this.backlogTask = null;
    this.enqueued = [];
    if (problems.length > 0) throw new Error(`${this.id} teardown: ${problems.join('; ')}`);
  }

  async dispose(): Promise<void> {
    if (this.templateDir) rmSync(this.templateDir, { recursive: true, force: true });
    this.templateDir = null;
    this.pgliteTemplate = null;
  }

  /**
   * PGlite's initdb runs in WebAssembly and takes 5-10 s, so it runs once per benchmark: `cleaver
   * migrate` creates and migrates a data dir, and each setup starts its engine on a copy. The copy is
   * byte for byte what a first `cleaver serve` would have produced.
   */
  private pgliteTemplateDir(): Promise<string> {
    this.pgliteTemplate ??= (async () => {
      const dir = mkdtempSync(join(tmpdir(), 'clvb-tpl-'));
      this.templateDir = dir;
      const migrate = new ManagedChild({ name: `${this.id} migrate`, command: process.execPath, args: [ENGINE_CLI, 'migrate', '--data-dir', dir], cwd: ROOT });
      const exit = await withTimeout(`${this.id}: creating the PGlite data dir (cleaver migrate)`, PGLITE_INIT_MS, migrate.exited).catch((e: unknown) => {
        migrate.kill();
        throw e;
      });
      if (exit.code !== 0) throw new Error(`${migrate.name} exited with ${describeExit(exit)}; output:\n${migrate.outputTail()}`);
      return dir;
    })();
    return this.pgliteTemplate;
  }

  /** Fails an operation as soon as the engine process dies, instead of at its timeout. */
  private guard<T>(operation: Promise<T>): Promise<T> {
    return this.engine ? Promise.race([operation, this.engine.died]) : operation;
  }

  private requireDir(): string {
    if (!this.dir) throw new Error(`${this.id}: not set up`);
    return this.dir;
  }

  private requireClient(): Cleaver {
    if (!this.client) throw new Error(`${this.id}: not set up`);
    return this.client;
  }

  private requireNoop(): TaskDeclaration<NoopInput, NoopOutput> {
    if (!this.noop) throw new Error(`${this.id}: not set up`);
    return this.noop;
  }
}
