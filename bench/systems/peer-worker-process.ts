/** Starts a peer's worker process (bench/peer-worker.ts) for a case: the same for every peer but its config. */
import { join } from 'node:path';
import { spawnBenchWorker } from '../lib/bench-worker.ts';
import type { ManagedChild } from '../lib/child-process.ts';
import { ROOT } from './cleaver.ts';
import type { PeerWorkerConfig } from './peer-protocol.ts';
import type { BenchWorker } from './system.ts';

const WORKER_ENTRY = join(ROOT, 'bench/peer-worker.ts');

/** Spawns the worker and keeps it in `workers` (the system's set to kill on teardown) until it is gone. */
export async function spawnPeerWorker(options: { id: string; config: PeerWorkerConfig; expect?: number; workers: Set<ManagedChild> }): Promise<BenchWorker> {
  const worker = await spawnBenchWorker({
    name: `${options.id} worker (slots ${options.config.slots})`,
    entry: WORKER_ENTRY,
    env: { ...process.env, BENCH_PEER_CONFIG: JSON.stringify(options.config), BENCH_WORKER_EXPECT: String(options.expect ?? 0) },
    cwd: ROOT,
    onGone: (child) => options.workers.delete(child),
  });
  options.workers.add(worker.child);
  return worker;
}
