/**
 * What every chaos scenario is made of: a database of its own (a fresh Postgres schema, or a PGlite
 * data dir), engines as `cleaver serve` child processes it can SIGKILL, a supervised pool of chaos
 * workers it can kill and stop, a producer that remembers every run the engine acknowledged, the chaos
 * log, and the verdict — engines stopped, the database opened from here, the invariants checked.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { Cleaver } from '../../sdk/index.ts';
import { createPgliteDriver } from '../../engine/db/pglite/pglite-driver.ts';
import type { Driver } from '../../engine/db/driver.ts';
import { CleaverError, toError } from '../../shared/errors.ts';
import { DATABASE_URL, dropSchema, freshSchemaName, openTestPgDriver, type DriverKind } from '../driver/drivers.ts';
import { ROOT, kill, removeDir, spawnChild, tempDir, type ChildHandle } from '../integration/harness.ts';
import { appendRecord, readRecords, type FaultKind } from './chaos-log.ts';
import { checkInvariants, percentiles, type ExpectedOutcome, type Figures, type Violation } from './invariants.ts';

const CLI = join(ROOT, 'engine/cli.ts');
const WORKER = join(ROOT, 'test/chaos/fixtures/chaos-worker.ts');
/** The engines' heartbeat timeout unless a scenario needs another: a silent worker is lost after this. */
export const HEARTBEAT_TIMEOUT_MS = 1_500;

/** What a scenario reports, for the test's assertions and for docs/reliability.md. */
export interface ScenarioReport {
  id: string;
  title: string;
  driver: DriverKind;
  /** The load held, in words: how many runs of what, over how many workers. */
  load: string;
  /** Bad inputs tried (hostile-input scenarios). */
  badInputs: string[];
  figures: Figures | null;
  /** Scenario-specific measurements: name → p50/max over n, in ms unless the name says otherwise. */
  measured: Record<string, { n: number; p50: number; max: number } | null>;
  violations: Violation[];
  /** Problems that are not invariants of the chaos log (a 5xx answer, RSS past its bound, ...). */
  failures: string[];
  notes: string[];
  /** Why the scenario could not run here (then nothing else is filled in). */
  skipped?: string;
  durationMs: number;
}

export interface EngineHandle extends ChildHandle {
  name: string;
  socket: string;
  address: string;
}

export class Scenario {
  readonly dir = tempDir('clv-chaos-');
  readonly logFile = join(this.dir, 'chaos.jsonl');
  readonly schema: string;
  /** Postgres backends of this scenario's engines carry this application_name (for pg_terminate_backend). */
  readonly applicationName: string;
  readonly acknowledged = new Set<string>();
  /** When each trigger call was acknowledged (epoch ms). */
  readonly acknowledgedAt: number[] = [];
  /** Trigger calls refused or cut off, by error code and message: what a producer had to handle. */
  readonly triggerErrors = new Map<string, number>();
  private readonly startedAt = Date.now();
  private readonly engines = new Set<EngineHandle>();
  private readonly clients: Cleaver[] = [];
  readonly failures: string[] = [];
  readonly notes: string[] = [];
  readonly measured: ScenarioReport['measured'] = {};

  constructor(
    readonly id: string,
    readonly kind: DriverKind,
    /** The engines' heartbeat timeout: a worker silent (or away) this long is lost. */
    readonly heartbeatTimeoutMs: number = HEARTBEAT_TIMEOUT_MS,
  ) {
    this.schema = freshSchemaName(`chaos_${id}`);
    this.applicationName = this.schema.replace('cleaver_test_', 'cleaver_');
  }

  /** Records a fault in the chaos log (the harness's own; workers record the ones their tasks cause). */
  fault(kind: FaultKind, pid: number | null, options: { at?: number; until?: number; detail?: string } = {}): void {
    const at = options.at ?? Date.now();
    appendRecord(this.logFile, { type: 'fault', kind, pid, at, until: options.until ?? at, detail: options.detail });
  }

  socketOf(name: string): string {
    return join(this.dir, `${name}.sock`);
  }

  /** Starts `cleaver serve` (named for its socket) on this scenario's database; resolves when it is ready. */
  async startEngine(options: { name?: string; console?: string } = {}): Promise<EngineHandle> {
    const name = options.name ?? 'a';
    const socket = this.socketOf(name);
    const database =
      this.kind === 'pg'
        ? ['--database-url', `${DATABASE_URL}${DATABASE_URL.includes('?') ? '&' : '?'}application_name=${this.applicationName}`, '--schema', this.schema]
        : ['--data-dir', join(this.dir, 'data')];
    const child = spawnChild(
      ['--import', 'tsx', CLI, 'serve', '--socket', socket, '--heartbeat-timeout', `${this.heartbeatTimeoutMs}ms`, '--console', options.console ?? 'off', ...database],
      // An empty console token: the engine makes one and prints it (the admin scenario reads it there).
      { env: { ...process.env, CLEAVER_CONSOLE_TOKEN: '' }, readyLine: ' ready\n', what: `engine ${name}` },
    );
    const engine: EngineHandle = { ...child, name, socket, address: `unix://${socket}` };
    this.engines.add(engine);
    engine.exited.then(() => this.engines.delete(engine));
    await engine.ready;
    return engine;
  }

  /** The usual cast: one engine, a supervised pool of `workers` chaos workers on it, and a client. */
  async startWithWorkers(options: { workers: number; console?: string }): Promise<{ engine: EngineHandle; pool: WorkerPool; client: Cleaver }> {
    const engine = await this.startEngine({ console: options.console });
    const pool = new WorkerPool(this, { size: options.workers, address: engine.address });
    await pool.start();
    return { engine, pool, client: this.client(engine.address) };
  }

  /** SIGKILLs an engine; with `restart`, starts a replacement on the same socket and database. */
  async killEngine(engine: EngineHandle, options: { restart: boolean; downMs?: number }): Promise<EngineHandle | null> {
    const at = Date.now();
    await kill(engine);
    if (!options.restart) {
      this.fault('engine-kill', engine.child.pid ?? null, { at, detail: `engine ${engine.name}, not restarted` });
      return null;
    }
    if (options.downMs) await sleep(options.downMs);
    const replacement = await this.startEngine({ name: engine.name });
    this.fault('engine-kill', engine.child.pid ?? null, { at, until: Date.now(), detail: `engine ${engine.name}` });
    return replacement;
  }

  /** A client of the SDK (closed with the scenario). */
  client(address: string): Cleaver {
    const client = Cleaver.connect({ address, requestTimeout: '60s' });
    this.clients.push(client);
    return client;
  }

  /**
   * Triggers runs and remembers those the engine acknowledged. A trigger cut off by a fault may or may
   * not have been recorded, so it is not counted, and is tried again (the new runs then count).
   */
  async trigger(client: Cleaver, workflow: string, inputs: unknown[], options: { deadlineMs?: number } = {}): Promise<string[]> {
    const deadline = Date.now() + (options.deadlineMs ?? 60_000);
    for (;;) {
      try {
        const refs = await client.ref(workflow).runManyNoWait(inputs);
        for (const r of refs) this.acknowledged.add(r.runId);
        this.acknowledgedAt.push(Date.now());
        return refs.map((r) => r.runId);
      } catch (e: unknown) {
        const error = toError(e);
        const key = `${error instanceof CleaverError ? error.code : error.name}: ${error.message.slice(0, 120)}`;
        this.triggerErrors.set(key, (this.triggerErrors.get(key) ?? 0) + 1);
        const transient = error instanceof CleaverError && (error.code === 'CONNECTION' || error.code === 'DATABASE' || error.code === 'SHUTTING_DOWN');
        if (!transient || Date.now() > deadline) throw error;
        await sleep(100);
      }
    }
  }

  /** Waits until every acknowledged run ended (or the deadline passed), then until nothing is queued or running. */
  async settle(client: Cleaver, deadlineMs: number): Promise<number> {
    const deadline = Date.now() + deadlineMs;
    const pending = [...this.acknowledged].map((id) => client.awaitRun(id).catch(() => undefined));
    await Promise.race([Promise.all(pending), sleep(deadlineMs)]);
    let idle = false;
    for (;;) {
      const active = await client.runs.list({ statuses: ['queued', 'running'], limit: 1 }).catch(() => null);
      idle = active !== null && active.runs.length === 0;
      if (idle || Date.now() > deadline) break;
      await sleep(200);
    }
    const endedAt = Date.now();
    // At rest every slot is free: a slot still counted busy is work the engine will never give that worker.
    // Not at once, though: the slot of an attempt the engine ended (timed out) stays taken until its worker
    // reports it, and a worker stuck in a busy loop does so only when it unblocks or is declared lost,
    // within the heartbeat timeout (plus a maintenance pass and the cancel grace).
    let busy: Array<{ name: string; busy: number; slots: number }> = [];
    const slotsDeadline = Date.now() + this.heartbeatTimeoutMs + 7_000;
    while (idle) {
      const status = await client.status().catch(() => null);
      busy = status?.workers.filter((w) => w.busy > 0) ?? [];
      if (busy.length === 0 || Date.now() > slotsDeadline) break;
      await sleep(200);
    }
    if (busy.length > 0) {
      this.failures.push(`with nothing queued or running, the engine still counts slots busy: ${busy.map((w) => `${w.name} ${w.busy}/${w.slots}`).join(', ')}`);
    }
    return endedAt;
  }

  /** The report of a scenario that cannot run here. */
  skip(title: string, reason: string): ScenarioReport {
    return { id: this.id, title, driver: this.kind, load: '', badInputs: [], figures: null, measured: {}, violations: [], failures: [], notes: [], skipped: reason, durationMs: Date.now() - this.startedAt };
  }

  /** Stops the engines and workers, opens the database from here and checks the invariants. */
  async verdict(options: {
    pools: WorkerPool[];
    endedAt: number;
    title: string;
    load: string;
    failByDesign?: Record<string, ExpectedOutcome>;
    badInputs?: string[];
  }): Promise<ScenarioReport> {
    for (const pool of options.pools) await pool.stop();
    for (const client of this.clients.splice(0)) await client.close().catch(() => undefined);
    await this.stopEngines();
    const db = await this.openDatabase();
    try {
      const { violations, figures } = await checkInvariants(db, {
        records: readRecords(this.logFile),
        acknowledged: [...this.acknowledged],
        endedAt: options.endedAt,
        failByDesign: options.failByDesign,
      });
      const redispatch = percentiles(figures.redispatchMs);
      if (redispatch) this.measured['recovery after a worker fault (ms)'] = redispatch;
      const resume = percentiles(figures.resumeAfterEngineMs);
      if (resume) this.measured['work resumes after an engine restart (ms)'] = resume;
      for (const [error, n] of this.triggerErrors) this.notes.push(`${n} trigger call(s) failed with ${error} (retried; not counted as acknowledged)`);
      return {
        id: this.id,
        title: options.title,
        driver: this.kind,
        load: options.load,
        badInputs: options.badInputs ?? [],
        figures,
        measured: this.measured,
        violations,
        failures: this.failures,
        notes: this.notes,
        durationMs: Date.now() - this.startedAt,
      };
    } finally {
      await db.close();
    }
  }

  async stopEngines(): Promise<void> {
    for (const engine of [...this.engines]) {
      const stopped = await Promise.race([kill(engine, 'SIGTERM').then(() => true), sleep(15_000).then(() => false)]);
      if (!stopped) {
        this.failures.push(`engine ${engine.name} did not stop within 15 s of SIGTERM`);
        await kill(engine);
      }
    }
  }

  private openDatabase(): Promise<Driver> {
    return this.kind === 'pg' ? openTestPgDriver({ schema: this.schema }) : createPgliteDriver({ dataDir: join(this.dir, 'data') });
  }

  /** Terminates every Postgres backend of this scenario's engines; returns how many. */
  async terminateBackends(): Promise<number> {
    const client = new pg.Client({ connectionString: DATABASE_URL });
    client.on('error', () => undefined);
    await client.connect();
    try {
      const at = Date.now();
      const { rows } = await client.query<{ n: string }>(
        `SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) AS n FROM pg_stat_activity
          WHERE application_name LIKE $1 AND pid <> pg_backend_pid()`,
        [`${this.applicationName}%`],
      );
      const n = Number(rows[0]?.n ?? 0);
      this.fault('backend-terminate', null, { at, detail: `${n} backends` });
      return n;
    } finally {
      await client.end().catch(() => undefined);
    }
  }

  /** Removes what the scenario made (kept when CHAOS_KEEP=1, to look at after a failure). */
  async cleanup(): Promise<void> {
    for (const client of this.clients.splice(0)) await client.close().catch(() => undefined);
    for (const engine of [...this.engines]) await kill(engine);
    if (process.env.CHAOS_KEEP === '1') {
      process.stderr.write(`chaos scenario ${this.id} [${this.kind}] kept in ${this.dir}${this.kind === 'pg' ? ` and schema ${this.schema}` : ''}\n`);
      return;
    }
    if (this.kind === 'pg') await dropSchema(DATABASE_URL, this.schema).catch(() => undefined);
    removeDir(this.dir);
  }
}

/** Runs a scenario's body on a fresh Scenario, and cleans up after it however it ends. */
export async function withScenario(
  id: string,
  kind: DriverKind,
  body: (scenario: Scenario) => Promise<ScenarioReport>,
  options: { heartbeatTimeoutMs?: number } = {},
): Promise<ScenarioReport> {
  const scenario = new Scenario(id, kind, options.heartbeatTimeoutMs);
  try {
    return await body(scenario);
  } finally {
    await scenario.cleanup();
  }
}

interface PooledWorker {
  handle: ChildHandle;
  pid: number;
  ready: boolean;
  stopped: boolean;
}

/**
 * A supervisor of chaos workers: keeps `size` of them running (restarting any that exits, as a process
 * manager would) until stopped. Faults on them are recorded in the chaos log with their pid.
 */
export class WorkerPool {
  private readonly workers = new Set<PooledWorker>();
  private running = false;
  /** Processes started in all, restarts included. */
  spawned = 0;

  constructor(
    private readonly scenario: Scenario,
    private readonly options: { size: number; address: string | ((index: number) => string); slots?: number; restartDelayMs?: number },
  ) {}

  async start(): Promise<void> {
    this.running = true;
    await Promise.all(Array.from({ length: this.options.size }, (_, i) => this.spawn(i)));
  }

  pids(): number[] {
    return [...this.workers].filter((w) => w.ready && !w.stopped).map((w) => w.pid);
  }

  /** SIGKILLs one worker that is up (chosen at random); returns its pid, or null if none is up. */
  killOne(random: () => number = Math.random): number | null {
    const candidates = [...this.workers].filter((w) => w.ready && !w.stopped);
    const victim = candidates[Math.floor(random() * candidates.length)];
    if (!victim) return null;
    this.scenario.fault('worker-kill', victim.pid);
    victim.handle.child.kill('SIGKILL');
    return victim.pid;
  }

  /** SIGSTOPs one worker for `ms`, then SIGCONTs it; resolves after the SIGCONT. */
  async stopOne(ms: number): Promise<number | null> {
    const victim = [...this.workers].find((w) => w.ready && !w.stopped);
    if (!victim) return null;
    victim.stopped = true;
    const at = Date.now();
    victim.handle.child.kill('SIGSTOP');
    await sleep(ms);
    victim.handle.child.kill('SIGCONT');
    victim.stopped = false;
    this.scenario.fault('worker-stop', victim.pid, { at, until: Date.now(), detail: `SIGSTOP for ${ms} ms` });
    return victim.pid;
  }

  /** Stops supervising and ends the workers: SIGTERM (a drain), SIGKILL for any still up after 10 s. */
  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(
      [...this.workers].map(async (w) => {
        const done = await Promise.race([kill(w.handle, 'SIGTERM').then(() => true), sleep(10_000).then(() => false)]);
        if (!done) await kill(w.handle);
      }),
    );
  }

  private spawn(index: number): Promise<void> {
    const address = typeof this.options.address === 'function' ? this.options.address(index) : this.options.address;
    const handle = spawnChild(['--import', 'tsx', WORKER], {
      env: { ...process.env, CLEAVER_ADDRESS: address, CHAOS_LOG: this.scenario.logFile, CHAOS_SLOTS: String(this.options.slots ?? 20), CHAOS_PREFETCH: String(index % 2 === 1 ? Math.floor((this.options.slots ?? 20) / 2) : 0) },
      readyLine: 'ready\n',
      what: 'chaos worker',
    });
    this.spawned++;
    const worker: PooledWorker = { handle, pid: handle.child.pid!, ready: false, stopped: false };
    this.workers.add(worker);
    void handle.exited.then(() => {
      this.workers.delete(worker);
      if (this.running) setTimeout(() => void this.spawn(index), this.options.restartDelayMs ?? 50);
    });
    return handle.ready.then(
      () => {
        worker.ready = true;
      },
      // Exited before it was ready (killed, or no engine to connect to): the exit handler restarts it.
      () => undefined,
    );
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Resident set size of a process, in MB (from /proc; Linux only). */
export function rssMb(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match ? Number(match[1]) / 1024 : Number.NaN;
}

/** A deterministic random source, so a failing scenario can be run again as it was (CHAOS_SEED). */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0 || 1;
  return () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) / 4294967296;
  };
}
