/** BullMQ's worker side (in bench/peer-worker.ts): a Worker per queue with `concurrency` = slots. */
import { FlowProducer, Worker, type Job } from 'bullmq';
import type { WorkerTally } from '../lib/worker-tally.ts';
import { bullConnection } from './bullmq.ts';
import { DAG, DIAMOND_WIDTH, NOOP, type DagPayload, type NoopPayload, type PeerWorkerConfig } from './peer-protocol.ts';

export async function startPeerWorker(config: PeerWorkerConfig, tally: WorkerTally): Promise<() => Promise<void>> {
  const { prefix, ...redis } = config.redis!;
  const connection = bullConnection(redis);
  const flows = new FlowProducer({ connection, prefix });
  const attempt = (job: Job) => job.attemptsMade + 1;
  const noop = new Worker<NoopPayload>(NOOP, async (job) => void tally.onExecute(job.data, job.id!, attempt(job)), { connection, prefix, concurrency: config.slots });
  const dag = new Worker<DagPayload>(
    DAG,
    async (job) => {
      tally.onExecute(job.data, job.id!, attempt(job));
      const { shape, key, step } = job.data;
      if (shape === 'diamond' && step === 'root') {
        await flows.add({
          name: DAG,
          queueName: DAG,
          data: { shape, key, step: 'sink', doneKey: key } satisfies DagPayload,
          opts: { jobId: key },
          children: Array.from({ length: DIAMOND_WIDTH }, () => ({ name: DAG, queueName: DAG, data: { shape, key, step: 'mid' } satisfies DagPayload })),
        });
      }
    },
    { connection, prefix, concurrency: config.slots },
  );
  for (const worker of [noop, dag]) worker.on('error', (e) => process.stderr.write(`bullmq worker error: ${e.message}\n`));
  await Promise.all([noop.waitUntilReady(), dag.waitUntilReady()]);
  return async () => {
    await Promise.all([noop.close(), dag.close()]);
    await flows.close();
  };
}
