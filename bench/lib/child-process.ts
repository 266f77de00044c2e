/**
 * Child processes the benchmark starts (engines, workers), with the guarantees a trustworthy run
 * needs: each is registered so none outlives the benchmark (the `exit` hook SIGKILLs survivors, and
 * run.ts routes SIGINT/SIGTERM through it), each waits for its ready line under a deadline, and an
 * unexpected exit rejects `died` so a workload fails at once instead of waiting for its timeout.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { formatSeconds } from './deadline.ts';

const TAIL_CHARS = 8_000;
const alive = new Set<ManagedChild>();

/** SIGKILLs every child still running. Synchronous, so it is safe in an `exit` handler. */
export function killAllChildren(): void {
  for (const child of alive) child.kill();
}

process.on('exit', killAllChildren);

export interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface ManagedChildOptions {
  /** Names the process in every error, e.g. "cleaver-pg engine". */
  name: string;
  command: string;
  args: string[];
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

export class ManagedChild {
  readonly name: string;
  readonly process: ChildProcess;
  readonly exited: Promise<ExitStatus>;
  /** Rejects when the process exits without stop() or kill() having been asked for. */
  readonly died: Promise<never>;
  private stopping = false;
  private tail = '';
  private partial = '';
  private readonly lines: Array<{ line: string; at: number }> = [];
  private lineWaiters: Array<(entry: { line: string; at: number }) => void> = [];

  constructor(options: ManagedChildOptions) {
    this.name = options.name;
    this.process = spawn(options.command, options.args, {
      env: options.env ?? process.env,
      cwd: options.cwd,
      // stdin is a pipe: it is the control channel for workers, and its end tells a worker its parent is gone.
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    alive.add(this);
    this.process.stdout!.setEncoding('utf8');
    this.process.stderr!.setEncoding('utf8');
    this.process.stdout!.on('data', (chunk: string) => this.onStdout(chunk));
    this.process.stderr!.on('data', (chunk: string) => this.remember(chunk));
    // A child that exits early closes its stdin; writes to it must not crash the benchmark.
    this.process.stdin!.on('error', () => undefined);
    this.exited = new Promise<ExitStatus>((resolve) => {
      this.process.once('exit', (code, signal) => {
        alive.delete(this);
        resolve({ code, signal });
      });
      this.process.once('error', (error) => {
        this.remember(`\n[spawn error] ${error.message}\n`);
        alive.delete(this);
        resolve({ code: null, signal: null });
      });
    });
    this.died = this.exited.then((status) => {
      if (this.stopping) return new Promise<never>(() => undefined);
      throw new Error(`${this.name} exited unexpectedly (${describeExit(status)}); last output:\n${this.outputTail()}`);
    });
    // Only a real unexpected exit should surface, and only where someone races against it.
    this.died.catch(() => undefined);
  }

  get running(): boolean {
    return this.process.exitCode === null && this.process.signalCode === null;
  }

  /** Every complete stdout line so far. */
  stdoutLines(): string[] {
    return this.lines.map((entry) => entry.line);
  }

  /** The last few kB of stdout and stderr, interleaved as they arrived. */
  outputTail(): string {
    return this.tail.trimEnd() || '(no output)';
  }

  /**
   * Resolves with the first stdout line (already seen or future) matching `match`, and when it was read
   * (performance.now() of this process); rejects on timeout or exit with the output so far.
   */
  waitForLine(match: (line: string) => boolean, options: { what: string; timeoutMs: number }): Promise<{ line: string; at: number }> {
    const seen = this.lines.find((entry) => match(entry.line));
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`${this.name}: ${options.what} not seen within ${formatSeconds(options.timeoutMs)}; last output:\n${this.outputTail()}`));
      }, options.timeoutMs);
      const waiter = (entry: { line: string; at: number }) => {
        if (!match(entry.line)) return;
        cleanup();
        resolve(entry);
      };
      const onExit = (status: ExitStatus) => {
        cleanup();
        reject(new Error(`${this.name} exited (${describeExit(status)}) before ${options.what}; last output:\n${this.outputTail()}`));
      };
      const cleanup = () => {
        clearTimeout(timer);
        this.lineWaiters = this.lineWaiters.filter((w) => w !== waiter);
      };
      this.lineWaiters.push(waiter);
      void this.exited.then((status) => {
        if (this.lineWaiters.includes(waiter)) onExit(status);
      });
    });
  }

  /** Writes one line to the child's stdin. */
  send(line: string): void {
    this.process.stdin!.write(`${line}\n`);
  }

  /**
   * Asks the process to exit — with `request` (e.g. a line on stdin) and/or `signal` — and SIGKILLs it
   * after `graceMs`. The exit it causes does not count as a death; `exitedBefore` says it had already gone.
   */
  async stop(options: { request: (() => void) | null; signal: NodeJS.Signals | null; graceMs: number }): Promise<ExitStatus & { forced: boolean; exitedBefore: boolean }> {
    this.stopping = true;
    if (!this.running) return { ...(await this.exited), forced: false, exitedBefore: true };
    options.request?.();
    if (options.signal) this.process.kill(options.signal);
    let forced = false;
    const timer = setTimeout(() => {
      forced = true;
      this.process.kill('SIGKILL');
    }, options.graceMs);
    const status = await this.exited;
    clearTimeout(timer);
    return { ...status, forced, exitedBefore: false };
  }

  /** SIGKILL, at once. */
  kill(): void {
    this.stopping = true;
    if (this.running) this.process.kill('SIGKILL');
  }

  private onStdout(chunk: string): void {
    this.remember(chunk);
    const at = performance.now();
    const parts = (this.partial + chunk).split('\n');
    this.partial = parts.pop()!;
    for (const line of parts) {
      const entry = { line, at };
      this.lines.push(entry);
      for (const waiter of [...this.lineWaiters]) waiter(entry);
    }
  }

  private remember(chunk: string): void {
    this.tail = (this.tail + chunk).slice(-TAIL_CHARS);
  }
}

export function describeExit(status: ExitStatus): string {
  return status.signal ? `signal ${status.signal}` : `code ${status.code}`;
}
