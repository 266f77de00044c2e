/**
 * The Cleaver worker process of the benchmark: one `noop` task, BENCH_WORKER_SLOTS slots, connected to
 * CLEAVER_ADDRESS through the built SDK (`cleaver-sdk`, packages/sdk). It speaks the line protocol
 * of bench/lib/worker-tally.ts, like every peer's worker.
 */
import { Cleaver } from 'cleaver-sdk';
import { WorkerTally, integerFromEnv, serveWorkerProtocol } from './lib/worker-tally.ts';
import { declareNoop } from './systems/cleaver-noop.ts';
import { declareDagWorkflows } from './systems/cleaver-dag.ts';

const slots = integerFromEnv('BENCH_WORKER_SLOTS', { fallback: 100, min: 1 });
/** 0: never print `executed-all`. */
const tally = new WorkerTally(integerFromEnv('BENCH_WORKER_EXPECT', { fallback: 0, min: 0 }));

const cleaver = Cleaver.connect();
const noop = declareNoop(cleaver, (input, ctx) => tally.onExecute(input, ctx.taskRunId, ctx.attempt));
// Signals are ours to handle: the SDK's own handler exits before the report could be printed.
const worker = await cleaver.worker(`bench-worker-${process.pid}`, { workflows: [noop, ...declareDagWorkflows(cleaver)], slots, handleSignals: false });
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
