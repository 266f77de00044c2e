/**
 * Shared set-up for integration tests: an engine (in this process, or as a `cleaver serve` child that a
 * test can SIGKILL), worker child processes running fixtures/worker.ts, and a client.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { mkdtempSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { Cleaver } from '../../sdk/index.ts';
import { Engine, type EngineOptions } from '../../engine/engine.ts';
import { silentLogger } from '../../engine/log.ts';
import type { Driver } from '../../engine/db/driver.ts';
import { FrameDecoder, encodeFrame } from '../../shared/frame-codec.ts';
import { PROTOCOL_VERSION } from '../../shared/protocol.ts';

export const ROOT = resolve(import.meta.dirname, '../..');
const WORKER = join(ROOT, 'test/integration/fixtures/worker.ts');
const CLI = join(ROOT, 'engine/cli.ts');
/** The `cleaver` bin as `npm install` leaves it (`npm test` builds it first). */
export const BUILT_CLI = join(ROOT, 'dist/engine/cli.js');

export function tempDir(prefix = 'clv-'): string {
  // Short paths: Unix socket paths are limited to ~100 bytes.
  return mkdtempSync(join(tmpdir(), prefix));
}

export const FAST = {
  heartbeatIntervalMs: 200,
  heartbeatTimeoutMs: 1_500,
  pollIntervalMs: 200,
  maintenanceIntervalMs: 100,
};

/** An engine in this process on `driver`, its socket in `dir`; `options` override the fast test defaults. */
export async function startEngine(driver: Driver, dir: string, options: Partial<EngineOptions> = {}): Promise<Engine> {
  const engine = new Engine({ driver, socketPath: join(dir, 'engine.sock'), log: silentLogger, ...FAST, ...options });
  await engine.start();
  return engine;
}

/** A child process of a test, resolved `ready` once it printed its ready line. */
export interface ChildHandle {
  child: ChildProcess;
  ready: Promise<void>;
  exited: Promise<number | null>;
  output(): string;
}
export type WorkerProcess = ChildHandle;
export type EngineProcess = ChildHandle;

export function spawnChild(args: string[], options: { env: NodeJS.ProcessEnv; readyLine: string; what: string }): ChildHandle {
  // stdin is a pipe the child can watch: it closes when this test process dies, however it dies.
  const child = spawn(process.execPath, args, { env: options.env, stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const ready = new Promise<void>((resolveReady, reject) => {
    child.stdout!.on('data', () => {
      if (out.includes(options.readyLine)) resolveReady();
    });
    child.once('exit', (code) => reject(new Error(`${options.what} exited with ${code} before it was ready:\n${out}`)));
  });
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  return { child, ready, exited, output: () => out };
}

export function spawnWorker(options: { dir: string; tasks?: string[]; slots?: number; address?: string; token?: string }): WorkerProcess {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    CLEAVER_ADDRESS: options.address ?? `unix://${join(options.dir, 'engine.sock')}`,
    CLEAVER_TEST_LOG: join(options.dir, 'executions.jsonl'),
    CLEAVER_TEST_SLOTS: String(options.slots ?? 10),
  };
  if (options.tasks) env.CLEAVER_TEST_TASKS = options.tasks.join(',');
  if (options.token) env.CLEAVER_TOKEN = options.token;
  return spawnChild(['--import', 'tsx', WORKER], { env, readyLine: 'ready\n', what: 'worker' });
}

/** `cleaver serve` as a child process (from source), for tests that kill the engine. */
export function spawnEngine(options: { dir: string; args: string[] }): EngineProcess {
  // No console: these tests are about the engine, and parallel files must not contend for its port.
  return spawnChild(['--import', 'tsx', CLI, 'serve', '--socket', join(options.dir, 'engine.sock'), '--heartbeat-timeout', '1500ms', '--console', 'off', ...options.args], {
    env: { ...process.env, CLEAVER_DATA_DIR: join(options.dir, 'data') },
    readyLine: ' ready\n',
    what: 'engine',
  });
}

/**
 * Runs a `cleaver` command to its end: BUILT_CLI, or with `source` engine/cli.ts through tsx (no build
 * needed, slower to start).
 */
export function runCli(args: string[], options: { env?: NodeJS.ProcessEnv; source?: boolean } = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  const argv = options.source ? ['--import', 'tsx', CLI, ...args] : [BUILT_CLI, ...args];
  return new Promise((resolveRun) => {
    execFile(process.execPath, argv, { env: { ...process.env, ...options.env }, timeout: 30_000 }, (error, stdout, stderr) => {
      resolveRun({ code: error ? Number((error as { code?: unknown }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

/**
 * Declares beforeAll/afterAll for an engine in this process on the suite's driver and a client, with
 * no worker (the suite brings its own). Read the fields inside tests.
 */
export function useEngine(getDriver: () => Driver, options: Partial<EngineOptions> = {}): { dir: string; engine: Engine; cleaver: Cleaver } {
  const context = {} as { dir: string; engine: Engine; cleaver: Cleaver };
  beforeAll(async () => {
    context.dir = tempDir();
    context.engine = await startEngine(getDriver(), context.dir, options);
    context.cleaver = client(context.dir);
  });
  afterAll(async () => {
    await context.cleaver?.close();
    await context.engine?.stop();
    if (context.dir) removeDir(context.dir);
  });
  return context;
}

/**
 * Declares beforeAll/afterAll for the common set-up: an engine in this process on the suite's
 * driver, one worker process offering `tasks`, and a client. Read the fields inside tests.
 */
export function useEngineAndWorker(
  getDriver: () => Driver,
  tasks: string[],
  engineOptions: Partial<EngineOptions> = {},
): { dir: string; engine: Engine; cleaver: Cleaver; worker: WorkerProcess } {
  const context = {} as { dir: string; engine: Engine; cleaver: Cleaver; worker: WorkerProcess };
  beforeAll(async () => {
    context.dir = tempDir();
    context.engine = await startEngine(getDriver(), context.dir, engineOptions);
    context.worker = spawnWorker({ dir: context.dir, tasks });
    await context.worker.ready;
    context.cleaver = client(context.dir);
  });
  afterAll(async () => {
    await context.cleaver?.close();
    if (context.worker) await kill(context.worker);
    await context.engine?.stop();
    if (context.dir) removeDir(context.dir);
  });
  return context;
}

export function client(dir: string): Cleaver {
  return Cleaver.connect({ address: `unix://${join(dir, 'engine.sock')}` });
}

export interface Execution {
  task: string;
  taskRunId: string;
  attempt: number;
  pid: number;
  at: number;
  phase?: string;
  aborted?: string;
}

export function executions(dir: string): Execution[] {
  const file = join(dir, 'executions.jsonl');
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as Execution);
}

export async function waitFor<T>(what: string, check: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

export function kill(process: { child: ChildProcess; exited: Promise<number | null> }, signal: NodeJS.Signals = 'SIGKILL'): Promise<number | null> {
  if (process.child.exitCode === null && process.child.signalCode === null) process.child.kill(signal);
  return process.exited;
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

/** Raw protocol access for bad-input tests: frames in, decoded messages out. */
export { FrameDecoder, encodeFrame } from '../../shared/frame-codec.ts';

/** A raw connection that records every message the engine sends. */
export class RawClient {
  readonly socket: net.Socket;
  readonly messages: Array<Record<string, unknown>> = [];
  closed = false;
  private readonly decoder = new FrameDecoder({ maxFrameBytes: 64 * 1024 * 1024 });

  /** A Unix socket path, or a TCP address. */
  constructor(target: string | { host: string; port: number }) {
    this.socket = typeof target === 'string' ? net.connect(target) : net.connect(target);
    this.socket.on('data', (chunk: Buffer) => {
      for (const e of this.decoder.push(chunk)) if (e.kind === 'message') this.messages.push(e.message as Record<string, unknown>);
    });
    this.socket.on('close', () => (this.closed = true));
    this.socket.on('error', () => undefined);
  }

  send(message: unknown): void {
    this.socket.write(encodeFrame(message));
  }

  async next(predicate: (m: Record<string, unknown>) => boolean, timeoutMs = 5000): Promise<Record<string, unknown>> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.messages.find(predicate);
      if (found) return found;
      if (Date.now() > deadline) throw new Error(`no matching message; got ${JSON.stringify(this.messages)}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  async hello(): Promise<void> {
    this.send({ t: 'hello', protocol: PROTOCOL_VERSION, role: 'client' });
    await this.next((m) => m.t === 'welcome');
  }
}


/** A task definition as a raw worker's hello carries it (no SDK in between). */
export function rawTask(name: string, extra: Record<string, unknown> = {}) {
  return { name, retries: 0, backoff: null, executionTimeoutMs: 60_000, scheduleTimeoutMs: 60_000, defaultPriority: 1, ...extra };
}
