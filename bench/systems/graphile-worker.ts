/**
 * graphile-worker as a system under test: a fresh database per setup with graphile-worker's schema
 * (runMigrations), jobs added with WorkerUtils.addJob / addJobs from this process, and
 * bench/peer-worker.ts child processes running `run()` (graphile-worker-worker.ts). Profiles:
 *
 * - `default`: graphile-worker's defaults (LISTEN/NOTIFY wake-up, one job fetched per free slot,
 *   completions batched for its default delay);
 * - `tuned`: what its performance docs give for throughput: `localQueue.size` 500 (jobs fetched and
 *   locked in batches) and `completeJobBatchDelay` / `failJobBatchDelay` 0.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { Logger, makeWorkerUtils, runMigrations, type WorkerUtils } from 'graphile-worker';
import { withDatabase } from '../lib/postgres-admin.ts';
import { ROOT } from './cleaver.ts';
import { CHAIN_STEPS, DAG, NOOP, type DagPayload, type NoopPayload } from './peer-protocol.ts';
import { DONE_CHANNEL, PostgresPeer } from './postgres-peer.ts';
import type { DagShape, DagSupport, SystemUnderTest } from './system.ts';

export type GraphileProfile = 'default' | 'tuned';

export function createGraphileWorkerSystem(options: { databaseUrl: string; profile: GraphileProfile }): SystemUnderTest {
  return new GraphileWorkerSystem(options.databaseUrl, options.profile);
}

/** Emulation notes for the DAG workloads (graphile-worker has no workflows). */
const DAG_HOW: Record<DagShape, string> = {
  chain: `each step's handler adds the next step's job (helpers.addJob) before it returns; ${CHAIN_STEPS} jobs`,
  diamond: 'the root handler inserts a fan-in counter row and adds 8 jobs (helpers.addJobs); each middle job decrements the counter in its handler, and the one that reaches 0 adds the sink job',
};

class GraphileWorkerSystem extends PostgresPeer implements SystemUnderTest {
  readonly id: string;
  readonly label: string;
  private utils: WorkerUtils | null = null;
  private pool: pg.Pool | null = null;
  private enqueued = 0;
  readonly skips: Readonly<Record<string, string>>;

  readonly dag: DagSupport = {
    how: DAG_HOW,
    run: async (shape, input) => {
      const key = await this.nextDoneKey();
      const done = this.done.wait(key);
      const first: DagPayload = { shape, step: shape === 'chain' ? 1 : 'root', key, ...input };
      await this.requireUtils().addJob(DAG, first, { maxAttempts: 1 });
      await done;
    },
  };

  constructor(databaseUrl: string, profile: GraphileProfile) {
    super(databaseUrl, 'graphile-worker', profile);
    this.id = `graphile-worker-${profile}`;
    // The profiles differ only in the worker; enqueueing (no worker connected) is the same code.
    const sameProducer = 'same producer as graphile-worker-default (profiles differ only in the worker)';
    this.skips = profile === 'tuned' ? { 'bulk-enqueue': sameProducer, 'single-enqueue': sameProducer } : {};
    this.label = `graphile-worker ${graphileVersion()} (${profile === 'default' ? 'defaults' : 'localQueue 500, batch delays 0'})`;
  }

  async describe(): Promise<Record<string, string>> {
    return {
      'graphile-worker': graphileVersion(),
      profile: this.profile === 'default' ? 'defaults (LISTEN/NOTIFY, no local queue)' : 'localQueue.size 500, completeJobBatchDelay 0, failJobBatchDelay 0',
      jobs: 'maxAttempts 1',
      ...DAG_HOW,
      ...(await this.describeDatabase()),
    };
  }

  protected async open(url: string): Promise<void> {
    // The pool is ours (graphile-worker's default size, 10), so its end is awaited before the database is
    // dropped, and an error on an idle connection cannot crash the benchmark.
    this.pool = new pg.Pool({ connectionString: url, max: 10 });
    this.pool.on('error', () => undefined);
    this.pool.on('connect', (client) => client.on('error', () => undefined));
    await runMigrations({ pgPool: this.pool, logger: quietLogger() });
    await withDatabase(url, (client) => client.query('CREATE TABLE bench_fanin (key text PRIMARY KEY, remaining int NOT NULL)'));
    this.utils = await makeWorkerUtils({ pgPool: this.pool, logger: quietLogger() });
  }

  protected async close(): Promise<void> {
    const utils = this.utils;
    const pool = this.pool;
    this.utils = null;
    this.pool = null;
    this.enqueued = 0;
    await utils?.release();
    await pool?.end();
  }

  protected doneTriggerSql(): string {
    // graphile-worker deletes a job when it completes (a failed job stays, with its error).
    return `
      CREATE FUNCTION bench_notify_done() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN PERFORM pg_notify('${DONE_CHANNEL}', OLD.payload->>'doneKey'); RETURN NULL; END $$;
      CREATE TRIGGER bench_done AFTER DELETE ON graphile_worker._private_jobs
        FOR EACH ROW WHEN ((OLD.payload->>'doneKey') IS NOT NULL) EXECUTE FUNCTION bench_notify_done();`;
  }

  async runAndWait(input: { sentAt: number; warmup: boolean }): Promise<void> {
    const key = await this.nextDoneKey();
    const done = this.done.wait(key);
    const payload: NoopPayload = { ...input, doneKey: key };
    await this.requireUtils().addJob(NOOP, payload, { maxAttempts: 1 });
    this.enqueued++;
    await done;
  }

  async enqueueOne(input: { sentAt: number; warmup?: boolean }): Promise<void> {
    const payload: NoopPayload = input;
    await this.requireUtils().addJob(NOOP, payload, { maxAttempts: 1 });
    this.enqueued++;
  }

  async enqueueMany(count: number): Promise<void> {
    await this.requireUtils().addJobs(Array.from({ length: count }, () => ({ identifier: NOOP, payload: {}, maxAttempts: 1 })));
    this.enqueued += count;
  }

  async unfinished(): Promise<number> {
    return this.countJobs();
  }

  async verifyEnqueued(): Promise<{ succeeded: number; notSucceeded: number; firstProblem: string | null }> {
    // Completed jobs are deleted; what remains failed (maxAttempts 1) or never ran.
    const left = await this.countJobs();
    return { succeeded: this.enqueued - left, notSucceeded: left, firstProblem: left > 0 ? `${left} job(s) still in graphile_worker._private_jobs` : null };
  }

  private countJobs(): Promise<number> {
    return withDatabase(this.url!, async (client) => {
      const { rows } = await client.query<{ n: number }>('SELECT count(*)::int AS n FROM graphile_worker._private_jobs');
      return rows[0]!.n;
    });
  }

  private requireUtils(): WorkerUtils {
    if (!this.utils) throw new Error(`${this.id}: not set up`);
    return this.utils;
  }
}

export function graphileVersion(): string {
  return (JSON.parse(readFileSync(join(ROOT, 'node_modules/graphile-worker/package.json'), 'utf8')) as { version: string }).version;
}

/** graphile-worker's logger, errors and warnings only (its info lines would flood the benchmark's output). */
export function quietLogger() {
  return new Logger(() => (level, message) => {
    if (level === 'error' || level === 'warning') process.stderr.write(`graphile-worker ${level}: ${message}\n`);
  });
}
