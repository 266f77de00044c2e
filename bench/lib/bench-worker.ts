/**
 * Starting a worker child process that speaks bench/lib/worker-tally.ts's line protocol, for any
 * system: waits for `ready`, exposes `executed-all`, and stops it with `stop` on stdin (drain, report).
 */
import { ManagedChild, describeExit } from './child-process.ts';
import type { BenchWorker, WorkerReport } from '../systems/system.ts';

const WORKER_READY_MS = 30_000;
const WORKER_DRAIN_MS = 30_000;

export interface SpawnBenchWorkerOptions {
  name: string;
  /** The worker script, run with `node --import tsx`. */
  entry: string;
  env: NodeJS.ProcessEnv;
  cwd: string;
  /** Races every wait against the system's own failure (e.g. its engine dying). */
  guard?: <T>(operation: Promise<T>) => Promise<T>;
  /** Called when the worker process is done with, stopped or not (the system's bookkeeping). */
  onGone?: (child: ManagedChild) => void;
}

export async function spawnBenchWorker(options: SpawnBenchWorkerOptions): Promise<BenchWorker & { child: ManagedChild }> {
  const child = new ManagedChild({ name: options.name, command: process.execPath, args: ['--import', 'tsx', options.entry], env: options.env, cwd: options.cwd });
  const guard = options.guard ?? (<T>(operation: Promise<T>) => operation);
  try {
    const ready = await guard(child.waitForLine((line) => line === 'ready', { what: 'its "ready" line', timeoutMs: WORKER_READY_MS }));
    const expect = Number(options.env.BENCH_WORKER_EXPECT ?? 0);
    const allExecuted = expect > 0
      ? child.waitForLine((line) => line === 'executed-all', { what: 'its "executed-all" line', timeoutMs: 2 ** 31 - 1 }).then((entry) => entry.at)
      : new Promise<number>(() => undefined);
    // Callers race it against their own deadline; a worker that exits first is reported through `died`.
    allExecuted.catch(() => undefined);
    return { child, readyAt: ready.at, died: child.died, allExecuted, stop: () => stopBenchWorker(child, options.onGone) };
  } catch (e: unknown) {
    child.kill();
    options.onGone?.(child);
    throw e;
  }
}

async function stopBenchWorker(child: ManagedChild, onGone?: (child: ManagedChild) => void): Promise<WorkerReport> {
  try {
    const exit = await child.stop({ request: () => child.send('stop'), signal: null, graceMs: WORKER_DRAIN_MS });
    if (exit.forced) throw new Error(`${child.name} did not drain and exit within ${WORKER_DRAIN_MS / 1000} s of "stop"; killed. Last output:\n${child.outputTail()}`);
    if (exit.code !== 0) throw new Error(`${child.name} exited with ${describeExit(exit)} while stopping; last output:\n${child.outputTail()}`);
    const { line } = await child.waitForLine((l) => l.startsWith('report '), { what: 'its report line', timeoutMs: 1_000 });
    return JSON.parse(line.slice('report '.length)) as WorkerReport;
  } finally {
    onGone?.(child);
  }
}
