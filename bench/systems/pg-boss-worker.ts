/** pg-boss's worker side (in bench/peer-worker.ts): work() on the noop and DAG queues with the profile's options. */
import { PgBoss, type Job } from 'pg-boss';
import pg from 'pg';
import type { WorkerTally } from '../lib/worker-tally.ts';
import { pgBossOptions } from './pg-boss.ts';
import { CHAIN_STEPS, DAG, DIAMOND_WIDTH, NOOP, type DagPayload, type NoopPayload, type PeerWorkerConfig } from './peer-protocol.ts';

export async function startPeerWorker(config: PeerWorkerConfig, tally: WorkerTally): Promise<() => Promise<void>> {
  const boss = new PgBoss(pgBossOptions(config.connectionString!));
  boss.on('error', (e: Error) => process.stderr.write(`pg-boss (worker) error: ${e.message}\n`));
  // The DAG's fan-in counter: the harness's own table, on its own small pool.
  const pool = new pg.Pool({ connectionString: config.connectionString!, max: 4 });
  await boss.start();
  const batchSize = config.profile === 'batched' ? Math.min(config.slots, 50) : 1;
  const options = { batchSize, localConcurrency: Math.max(1, Math.floor(config.slots / batchSize)), pollingIntervalSeconds: 0.5, notifyPollingIntervalSeconds: 0.5, ...(batchSize > 1 ? { burstWhenBatchFull: true } : {}) };
  const attempt = (job: Job<unknown>) => job.retryCount + 1;
  await boss.work<NoopPayload>(NOOP, options, async (jobs) => {
    await Promise.all(jobs.map(async (job) => void tally.onExecute(job.data, job.id, attempt(job))));
  });
  await boss.work<DagPayload>(DAG, options, async (jobs) => {
    await Promise.all(jobs.map(async (job) => {
      tally.onExecute(job.data, job.id, attempt(job));
      await nextSteps(job.data, boss, pool);
    }));
  });
  return async () => {
    await boss.stop({ graceful: true, timeout: 20_000 });
    await pool.end();
  };
}

async function nextSteps(step: DagPayload, boss: PgBoss, pool: pg.Pool): Promise<void> {
  const { shape, key } = step;
  if (shape === 'chain') {
    if (typeof step.step !== 'number' || step.step >= CHAIN_STEPS) return;
    const next = step.step + 1;
    await boss.send(DAG, { shape, key, step: next, ...(next === CHAIN_STEPS ? { doneKey: key } : {}) } satisfies DagPayload);
  } else if (step.step === 'root') {
    await pool.query('INSERT INTO bench_fanin (key, remaining) VALUES ($1, $2)', [key, DIAMOND_WIDTH]);
    await boss.insert(DAG, Array.from({ length: DIAMOND_WIDTH }, () => ({ data: { shape, key, step: 'mid' } satisfies DagPayload })));
  } else if (step.step === 'mid') {
    const { rows } = await pool.query<{ remaining: number }>('UPDATE bench_fanin SET remaining = remaining - 1 WHERE key = $1 RETURNING remaining', [key]);
    if (rows[0]?.remaining === 0) await boss.send(DAG, { shape, key, step: 'sink', doneKey: key } satisfies DagPayload);
  }
}
