/**
 * What every benchmark worker process (Cleaver's and each peer's) counts, and the line protocol it
 * speaks with the benchmark: `ready` once it takes work, `executed-all` when its handler has run
 * BENCH_WORKER_EXPECT times, and on `stop` (stdin) or SIGTERM `report {json}` then exit 0. When stdin
 * ends without `stop` the benchmark is gone and the worker exits at once, so it never strays.
 */
import { createInterface } from 'node:readline';
import { epochMs } from './clock.ts';
import { LatencyHistogram } from './histogram.ts';
import type { WorkerReport } from '../systems/system.ts';

export function integerFromEnv(name: string, options: { fallback: number; min: number }): number {
  const value = Number(process.env[name] ?? options.fallback);
  if (!Number.isInteger(value) || value < options.min) {
    process.stderr.write(`bench worker: ${name} must be an integer of at least ${options.min}, got ${JSON.stringify(process.env[name])}\n`);
    process.exit(2);
  }
  return value;
}

/** What a handler receives from the producer: `sentAt` (epochMs) on measured tasks, `warmup` on unrecorded ones. */
export interface TimedInput {
  sentAt?: number;
  warmup?: boolean;
}

export class WorkerTally {
  private executed = 0;
  private retried = 0;
  private lastAt: number | null = null;
  private startCalledAt = epochMs();
  private readonly seen = new Set<string>();
  private readonly startLatency = new LatencyHistogram();

  constructor(private readonly expect: number) {}

  /** Call as the handler's first action; returns the enqueue→start reading (null without `sentAt`). */
  onExecute(input: TimedInput | null | undefined, taskId: string, attempt: number): number | null {
    const now = epochMs();
    const latency = typeof input?.sentAt === 'number' ? now - input.sentAt : null;
    if (latency !== null && !input?.warmup) this.startLatency.record(latency);
    this.executed++;
    this.seen.add(taskId);
    if (attempt > 1) this.retried++;
    this.lastAt = now;
    if (this.executed === this.expect) process.stdout.write('executed-all\n');
    return latency;
  }

  markStartCalled(): void {
    this.startCalledAt = epochMs();
  }

  report(): WorkerReport {
    return {
      executed: this.executed,
      distinct: this.seen.size,
      retried: this.retried,
      startToLastMs: this.lastAt === null ? null : this.lastAt - this.startCalledAt,
      startLatencyMs: this.startLatency.summary(),
      negativeStartLatencies: this.startLatency.negative,
    };
  }
}

/** Prints `ready`, then serves `stop`: `shutdown` drains the system's worker, and the report follows. */
export function serveWorkerProtocol(options: { name: string; tally: WorkerTally; shutdown: () => Promise<void> }): void {
  let stopping = false;
  const stopAndReport = async () => {
    if (stopping) return;
    stopping = true;
    await options.shutdown();
    process.stdout.write(`report ${JSON.stringify(options.tally.report())}\n`, () => process.exit(0));
  };
  const fail = (e: unknown) => {
    process.stderr.write(`${options.name}: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
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
  process.stdout.write('ready\n');
}
