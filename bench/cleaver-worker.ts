/**
 * The Cleaver worker process of the benchmark: one `noop` task, BENCH_WORKER_SLOTS slots, connected to
 * CLEAVER_ADDRESS through the built SDK (`cleaver/sdk` resolves to dist/).
 *
 * Protocol with the benchmark, by lines: it prints `ready` once worker.start() has resolved, and
 * `executed-all` when its handler has run BENCH_WORKER_EXPECT times (if set); on `stop` (stdin) or
 * SIGTERM it drains, prints `report {json}` (a WorkerReport) and exits 0. When stdin ends without a
 * `stop` the benchmark is gone, and the worker exits at once so it never strays.
 */
import { createInterface } from 'node:readline';
import { Cleaver } from 'cleaver/sdk';
import { epochMs } from './lib/clock.ts';
import { declareNoop } from './systems/cleaver-noop.ts';
import type { WorkerReport } from './systems/system.ts';

function integerFromEnv(name: string, options: { fallback: number; min: number }): number {
  const value = Number(process.env[name] ?? options.fallback);
  if (!Number.isInteger(value) || value < options.min) {
    process.stderr.write(`cleaver-worker: ${name} must be an integer of at least ${options.min}, got ${JSON.stringify(process.env[name])}\n`);
    process.exit(2);
  }
  return value;
}
const slots = integerFromEnv('BENCH_WORKER_SLOTS', { fallback: 100, min: 1 });
/** 0: never print `executed-all`. */
const expect = integerFromEnv('BENCH_WORKER_EXPECT', { fallback: 0, min: 0 });

let executed = 0;
let retried = 0;
let lastAt: number | null = null;
const seen = new Set<string>();

const cleaver = Cleaver.connect();
const noop = declareNoop(cleaver, (ctx) => {
  executed++;
  seen.add(ctx.taskRunId);
  if (ctx.attempt > 1) retried++;
  lastAt = epochMs();
  if (executed === expect) process.stdout.write('executed-all\n');
});
// Signals are ours to handle: the SDK's own handler exits before the report could be printed.
const worker = await cleaver.worker(`bench-worker-${process.pid}`, { workflows: [noop], slots, handleSignals: false });
const startCalledAt = epochMs();
await worker.start();
process.stdout.write('ready\n');

let stopping = false;
async function stopAndReport(): Promise<void> {
  if (stopping) return;
  stopping = true;
  await worker.stop();
  await cleaver.close();
  const report: WorkerReport = {
    executed,
    distinct: seen.size,
    retried,
    startToLastMs: lastAt === null ? null : lastAt - startCalledAt,
  };
  process.stdout.write(`report ${JSON.stringify(report)}\n`, () => process.exit(0));
}

const fail = (e: unknown) => {
  process.stderr.write(`cleaver-worker: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(1);
};
process.on('SIGTERM', () => void stopAndReport().catch(fail));
process.on('SIGINT', () => void stopAndReport().catch(fail));
const control = createInterface({ input: process.stdin });
control.on('line', (line) => {
  if (line.trim() === 'stop') void stopAndReport().catch(fail);
});
control.on('close', () => {
  if (!stopping) process.exit(3);
});
