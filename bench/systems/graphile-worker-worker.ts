/** graphile-worker's worker side (in bench/peer-worker.ts): `run()` with the profile's options. */
import { run, type JobHelpers } from 'graphile-worker';
import type { WorkerTally } from '../lib/worker-tally.ts';
import { quietLogger } from './graphile-worker.ts';
import { CHAIN_STEPS, DAG, DIAMOND_WIDTH, NOOP, type DagPayload, type NoopPayload, type PeerWorkerConfig } from './peer-protocol.ts';

export async function startPeerWorker(config: PeerWorkerConfig, tally: WorkerTally): Promise<() => Promise<void>> {
  const tuned = config.profile === 'tuned';
  const runner = await run({
    connectionString: config.connectionString!,
    concurrency: config.slots,
    noHandleSignals: true,
    logger: quietLogger(),
    ...(tuned ? { preset: { worker: { localQueue: { size: 500 }, completeJobBatchDelay: 0, failJobBatchDelay: 0 } } } : {}),
    taskList: {
      [NOOP]: async (payload, helpers) => {
        tally.onExecute(payload as NoopPayload, String(helpers.job.id), helpers.job.attempts);
      },
      [DAG]: async (payload, helpers) => {
        const step = payload as DagPayload;
        tally.onExecute(step, String(helpers.job.id), helpers.job.attempts);
        await nextSteps(step, helpers);
      },
    },
  });
  return () => runner.stop();
}

async function nextSteps(step: DagPayload, helpers: JobHelpers): Promise<void> {
  const { shape, key } = step;
  const job = (next: DagPayload) => ({ identifier: DAG, payload: next, maxAttempts: 1 });
  if (shape === 'chain') {
    if (typeof step.step !== 'number' || step.step >= CHAIN_STEPS) return;
    const next = step.step + 1;
    await helpers.addJob(DAG, { shape, key, step: next, ...(next === CHAIN_STEPS ? { doneKey: key } : {}) } satisfies DagPayload, { maxAttempts: 1 });
  } else if (step.step === 'root') {
    await helpers.withPgClient((client) => client.query('INSERT INTO bench_fanin (key, remaining) VALUES ($1, $2)', [key, DIAMOND_WIDTH]));
    await helpers.addJobs(Array.from({ length: DIAMOND_WIDTH }, () => job({ shape, key, step: 'mid' })));
  } else if (step.step === 'mid') {
    const { rows } = await helpers.withPgClient((client) => client.query<{ remaining: number }>('UPDATE bench_fanin SET remaining = remaining - 1 WHERE key = $1 RETURNING remaining', [key]));
    if (rows[0]?.remaining === 0) await helpers.addJob(DAG, { shape, key, step: 'sink', doneKey: key } satisfies DagPayload, { maxAttempts: 1 });
  }
}
