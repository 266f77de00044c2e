/**
 * The Cleaver worker process of the benchmark: one `noop` task, BENCH_WORKER_SLOTS slots, connected to
 * CLEAVER_ADDRESS through the built SDK (`cleaver-sdk`, packages/sdk). It speaks the line protocol
 * of bench/lib/worker-tally.ts, like every peer's worker. With BENCH_NOOP_FLOW (a burn-down variant's
 * NoopFlow as JSON) it offers that declaration of the noop alone, as the producer declared it.
 */
import { Cleaver } from 'cleaver-sdk';
import { WorkerTally, integerFromEnv, serveWorkerProtocol } from './lib/worker-tally.ts';
import { NOOP_FLOW_ENV, declareNoop, type NoopFlow } from './systems/cleaver-noop.ts';
import { declareDagWorkflows } from './systems/cleaver-dag.ts';

const slots = integerFromEnv('BENCH_WORKER_SLOTS', { fallback: 100, min: 1 });
/** Attempts held beyond the slots (WorkerOptions.prefetch); 0 unless a profile asks. */
const prefetch = integerFromEnv('BENCH_WORKER_PREFETCH', { fallback: 0, min: 0 });
/** 0: never print `executed-all`. */
const tally = new WorkerTally(integerFromEnv('BENCH_WORKER_EXPECT', { fallback: 0, min: 0 }));
const flow = noopFlowFromEnv();

const cleaver = Cleaver.connect();
const noop = declareNoop(cleaver, { flow, onExecute: (input, ctx) => tally.onExecute(input, ctx.taskRunId, ctx.attempt) });
const workflows = flow ? [noop] : [noop, ...declareDagWorkflows(cleaver)];
// Signals are ours to handle: the SDK's own handler exits before the report could be printed.
const worker = await cleaver.worker(`bench-worker-${process.pid}`, { workflows, slots, prefetch: Math.min(prefetch, slots), handleSignals: false });
tally.markStartCalled();
await worker.start();
serveWorkerProtocol({
  name: 'cleaver-worker',
  tally,
  shutdown: async () => {
    await worker.stop();
    await cleaver.close();
  },
});

function noopFlowFromEnv(): NoopFlow | null {
  const json = process.env[NOOP_FLOW_ENV];
  if (json === undefined || json === '') return null;
  try {
    return JSON.parse(json) as NoopFlow;
  } catch {
    process.stderr.write(`bench worker: ${NOOP_FLOW_ENV} must be a NoopFlow as JSON (bench/systems/cleaver-noop.ts), got ${JSON.stringify(json)}\n`);
    process.exit(2);
  }
}
