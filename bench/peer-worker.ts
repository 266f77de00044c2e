/**
 * A peer's worker process (graphile-worker, pg-boss, BullMQ, or the limit reference), configured by BENCH_PEER_CONFIG (a
 * PeerWorkerConfig); it runs `noop` and the DAG steps with the peer's own worker API and speaks the line
 * protocol of bench/lib/worker-tally.ts, like bench/cleaver-worker.ts.
 */
import { WorkerTally, integerFromEnv, serveWorkerProtocol } from './lib/worker-tally.ts';
import type { PeerWorkerConfig } from './systems/peer-protocol.ts';

const config = JSON.parse(process.env.BENCH_PEER_CONFIG ?? 'null') as PeerWorkerConfig | null;
if (!config) {
  process.stderr.write('peer-worker: BENCH_PEER_CONFIG is not set\n');
  process.exit(2);
}
const tally = new WorkerTally(integerFromEnv('BENCH_WORKER_EXPECT', { fallback: 0, min: 0 }));
const modules = {
  'graphile-worker': () => import('./systems/graphile-worker-worker.ts'),
  'pg-boss': () => import('./systems/pg-boss-worker.ts'),
  bullmq: () => import('./systems/bullmq-worker.ts'),
  limit: () => import('./systems/limit-worker.ts'),
};
const { startPeerWorker } = await modules[config.peer]();
tally.markStartCalled();
const shutdown = await startPeerWorker(config, tally);
serveWorkerProtocol({ name: `${config.peer} worker`, tally, shutdown });
