/**
 * pg-boss as a system under test: a fresh database per setup with pg-boss's schema (start() installs
 * it), jobs sent with send() / insert() from this process, and bench/peer-worker.ts child processes
 * running work() (pg-boss-worker.ts). pg-boss 12 (engines says Node 22; it runs on Node 20, and is the
 * first release with LISTEN/NOTIFY). Profiles:
 *
 * - `notify`: the instance's `useListenNotify` and the queues' `notify` on, so a send wakes a worker at
 *   once; `localConcurrency` = slots, one job per fetch (batchSize 1);
 * - `batched`: the same, with `batchSize` = min(slots, 50) jobs per fetch, `localConcurrency` =
 *   slots / batchSize fetch loops, `burstWhenBatchFull` (fetch again at once while batches come back
 *   full); a batch's jobs run concurrently and complete in one statement.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PgBoss } from 'pg-boss';
import { withDatabase } from '../lib/postgres-admin.ts';
import { ROOT } from './cleaver.ts';
import { CHAIN_STEPS, DAG, NOOP, type DagPayload, type NoopPayload } from './peer-protocol.ts';
import { DONE_CHANNEL, PostgresPeer } from './postgres-peer.ts';
import type { DagShape, DagSupport, SystemUnderTest } from './system.ts';

export type PgBossProfile = 'notify' | 'batched';

export function createPgBossSystem(options: { databaseUrl: string; profile: PgBossProfile }): SystemUnderTest {
  return new PgBossSystem(options.databaseUrl, options.profile);
}

/** Options both sides construct pg-boss with: no cron, no maintenance during a measurement. */
export function pgBossOptions(connectionString: string): ConstructorParameters<typeof PgBoss>[0] {
  return { connectionString, useListenNotify: true, schedule: false, supervise: false, migrate: true };
}

/**
 * pg-boss 12 has flows (`flow()` with `dependsOn`), but the issue asks for chaining, which every
 * Postgres peer can do; the DAG figures use chaining for both.
 */
const DAG_HOW: Record<DagShape, string> = {
  chain: `each step's handler sends the next step's job (send) before it returns; ${CHAIN_STEPS} jobs`,
  diamond: 'the root handler inserts a fan-in counter row and inserts 8 jobs; each middle job decrements the counter in its handler, and the one that reaches 0 sends the sink job',
};

class PgBossSystem extends PostgresPeer implements SystemUnderTest {
  readonly id: string;
  readonly label: string;
  private boss: PgBoss | null = null;
  private enqueued = 0;
  readonly skips: Readonly<Record<string, string>>;

  readonly dag: DagSupport = {
    how: DAG_HOW,
    run: async (shape, input) => {
      const key = await this.nextDoneKey();
      const done = this.done.wait(key);
      const first: DagPayload = { shape, step: shape === 'chain' ? 1 : 'root', key, ...input };
      await this.requireBoss().send(DAG, first);
      await done;
    },
  };

  constructor(databaseUrl: string, profile: PgBossProfile) {
    super(databaseUrl, 'pg-boss', profile);
    this.id = `pg-boss-${profile}`;
    // With batchSize 1 a fetch loop never bursts: after each job it waits for a NOTIFY or its 0.5 s
    // backstop poll, so a preloaded backlog drains at about 2 × slots jobs/s (100,000 jobs: > 8 min).
    // The profiles differ only in the worker; enqueueing (no worker connected) is the same code.
    const sameProducer = 'same producer as pg-boss-notify (profiles differ only in the worker)';
    this.skips = profile === 'notify'
      ? { 'burn-down': 'batchSize 1 drains a preloaded backlog at ~2 × slots jobs/s (one job per loop per 0.5 s poll); see pg-boss-batched' }
      : { 'bulk-enqueue': sameProducer, 'single-enqueue': sameProducer };
    this.label = `pg-boss ${pgBossVersion()} (LISTEN/NOTIFY${profile === 'batched' ? ', batched fetches' : ''})`;
  }

  async describe(): Promise<Record<string, string>> {
    return {
      'pg-boss': pgBossVersion(),
      profile: this.profile === 'notify'
        ? 'useListenNotify, queue notify: true, work(): localConcurrency = slots, batchSize 1'
        : 'useListenNotify, queue notify: true, work(): batchSize = min(slots, 50), localConcurrency = slots / batchSize, burstWhenBatchFull',
      queues: 'retryLimit 0; schedule and supervise off',
      ...DAG_HOW,
      ...(await this.describeDatabase()),
    };
  }

  protected async open(url: string): Promise<void> {
    const boss = new PgBoss(pgBossOptions(url));
    boss.on('error', (e: Error) => process.stderr.write(`pg-boss (producer) error: ${e.message}\n`));
    await boss.start();
    this.boss = boss;
    for (const queue of [NOOP, DAG]) await boss.createQueue(queue, { notify: true, retryLimit: 0 });
    await withDatabase(url, (client) => client.query('CREATE TABLE bench_fanin (key text PRIMARY KEY, remaining int NOT NULL)'));
  }

  protected async close(): Promise<void> {
    const boss = this.boss;
    this.boss = null;
    this.enqueued = 0;
    await boss?.stop({ graceful: false });
  }

  protected doneTriggerSql(): string {
    // pg-boss marks a job completed in place (state 'completed'); pgboss.job is partitioned, and a row
    // trigger on it applies to every partition.
    return `
      CREATE FUNCTION bench_notify_done() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN PERFORM pg_notify('${DONE_CHANNEL}', NEW.data->>'doneKey'); RETURN NULL; END $$;
      CREATE TRIGGER bench_done AFTER UPDATE OF state ON pgboss.job
        FOR EACH ROW WHEN (NEW.state = 'completed' AND (NEW.data->>'doneKey') IS NOT NULL) EXECUTE FUNCTION bench_notify_done();`;
  }

  async runAndWait(input: { sentAt: number; warmup: boolean }): Promise<void> {
    const key = await this.nextDoneKey();
    const done = this.done.wait(key);
    const payload: NoopPayload = { ...input, doneKey: key };
    await this.requireBoss().send(NOOP, payload);
    this.enqueued++;
    await done;
  }

  async enqueueOne(input: { sentAt: number; warmup?: boolean }): Promise<void> {
    const payload: NoopPayload = input;
    await this.requireBoss().send(NOOP, payload);
    this.enqueued++;
  }

  async enqueueMany(count: number): Promise<void> {
    await this.requireBoss().insert(NOOP, Array.from({ length: count }, () => ({ data: {} })));
    this.enqueued += count;
  }

  async unfinished(): Promise<number> {
    return withDatabase(this.url!, async (client) => {
      const { rows } = await client.query<{ n: number }>(`SELECT count(*)::int AS n FROM pgboss.job WHERE name = $1 AND state IN ('created', 'retry', 'active')`, [NOOP]);
      return rows[0]!.n;
    });
  }

  async verifyEnqueued(): Promise<{ succeeded: number; notSucceeded: number; firstProblem: string | null }> {
    return withDatabase(this.url!, async (client) => {
      const { rows } = await client.query<{ state: string; n: number }>('SELECT state::text, count(*)::int AS n FROM pgboss.job WHERE name = $1 GROUP BY state', [NOOP]);
      const succeeded = rows.find((r) => r.state === 'completed')?.n ?? 0;
      const others = rows.filter((r) => r.state !== 'completed');
      const notSucceeded = others.reduce((sum, r) => sum + r.n, 0) + Math.max(0, this.enqueued - succeeded - others.reduce((sum, r) => sum + r.n, 0));
      return { succeeded, notSucceeded, firstProblem: others.length > 0 ? `states: ${others.map((r) => `${r.state} ${r.n}`).join(', ')}` : null };
    });
  }

  private requireBoss(): PgBoss {
    if (!this.boss) throw new Error(`${this.id}: not set up`);
    return this.boss;
  }
}

export function pgBossVersion(): string {
  return (JSON.parse(readFileSync(join(ROOT, 'node_modules/pg-boss/package.json'), 'utf8')) as { version: string }).version;
}
