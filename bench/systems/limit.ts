/**
 * "limit": not a peer but the ceiling the peers and Cleaver are read against — raw batched
 * claim-and-complete SQL (bench/systems/limit-sql.ts) on the same Postgres, in the same run, with no
 * engine or library in between. A fresh database per setup like the Postgres peers; the producer is this
 * process (a pool of 10 connections, like graphile-worker's); its worker is a bench/peer-worker.ts child
 * process running limit-worker.ts. What it measures and where it is not a fair ceiling:
 * docs/benchmarks.md, "The limit row".
 */
import pg from 'pg';
import { toError } from '../lib/deadline.ts';
import { LIMIT_SYSTEM } from '../results.ts';
import { COUNT_BY_STATUS, COUNT_UNFINISHED, ENQUEUE_MANY, ENQUEUE_ONE, LIMIT_SCHEMA, WAKE_WORKERS, limitDoneTriggerSql, type LimitProfile } from './limit-sql.ts';
import { BATCH, LOOPS } from './limit-worker.ts';
import { NOOP, type NoopPayload } from './peer-protocol.ts';
import { DONE_CHANNEL, PostgresPeer } from './postgres-peer.ts';
import type { SystemUnderTest } from './system.ts';

export function createLimitSystem(options: { databaseUrl: string; profile: LimitProfile }): SystemUnderTest {
  return new LimitSystem(options.databaseUrl, options.profile);
}

const NOT_A_QUEUE = 'the limit is raw claim-and-complete SQL: it has no workflows';

class LimitSystem extends PostgresPeer implements SystemUnderTest {
  readonly id: string;
  readonly label: string;
  readonly skips = { 'dag-chain': NOT_A_QUEUE, 'dag-diamond': NOT_A_QUEUE };
  private pool: pg.Pool | null = null;
  private enqueued = 0;

  constructor(databaseUrl: string, profile: LimitProfile) {
    super(databaseUrl, 'limit', profile);
    this.id = profile === 'relaxed' ? LIMIT_SYSTEM : `${LIMIT_SYSTEM}-durable`;
    this.label = `limit: raw batched claim-and-complete SQL (${profile === 'relaxed' ? "Cleaver's commit settings" : 'every commit flushed'})`;
  }

  async describe(): Promise<Record<string, string>> {
    return {
      what: 'one table, one partial index; enqueue = INSERT, then NOTIFY after its commit; worker = claim loops, one UPDATE … FOR UPDATE SKIP LOCKED statement per batch that also completes the previous batch',
      commits: this.profile === 'relaxed'
        ? 'enqueue flushed to the WAL; claims and completions synchronous_commit off (as Cleaver)'
        : 'every commit flushed to the WAL (as graphile-worker and pg-boss)',
      worker: `${LOOPS} claim loops (at most one per slot), each claiming up to ${BATCH} jobs a statement and running at most its share of the slots at once`,
      ...(await this.describeDatabase()),
    };
  }

  protected async open(url: string): Promise<void> {
    this.pool = new pg.Pool({ connectionString: url, max: 10, application_name: 'cleaver-bench-limit-producer' });
    // An error on an idle connection must not crash the benchmark; the query in flight fails instead.
    this.pool.on('error', () => undefined);
    this.pool.on('connect', (client) => client.on('error', () => undefined));
    await this.pool.query(LIMIT_SCHEMA);
  }

  protected async close(): Promise<void> {
    const pool = this.pool;
    this.pool = null;
    this.enqueued = 0;
    await pool?.end();
  }

  protected doneTriggerSql(): string {
    return limitDoneTriggerSql(DONE_CHANNEL);
  }

  async runAndWait(input: { sentAt: number; warmup: boolean }): Promise<void> {
    const key = await this.nextDoneKey();
    const done = this.done.wait(key);
    await this.enqueueOne({ ...input, doneKey: key });
    await done;
  }

  async enqueueOne(input: NoopPayload): Promise<void> {
    await this.enqueue(async (client) => {
      await client.query({ ...ENQUEUE_ONE, values: [NOOP, JSON.stringify(input)] });
    });
    this.enqueued++;
  }

  async enqueueMany(count: number): Promise<void> {
    const payloads: NoopPayload[] = Array.from({ length: count }, () => ({}));
    await this.enqueue(async (client) => {
      const { rows } = await client.query<{ n: number }>({ ...ENQUEUE_MANY, values: [NOOP, JSON.stringify(payloads)] });
      if (rows[0]?.n !== count) throw new Error(`${this.id}: enqueued ${rows[0]?.n ?? 0} of ${count} jobs`);
    });
    this.enqueued += count;
  }

  /** Runs `insert` (its own durable commit), then wakes the workers from a transaction of its own (see WAKE_WORKERS). */
  private async enqueue(insert: (client: pg.PoolClient) => Promise<void>): Promise<void> {
    const client = await this.requirePool().connect();
    try {
      await insert(client);
      await client.query(WAKE_WORKERS);
    } finally {
      client.release();
    }
  }

  async unfinished(): Promise<number> {
    const { rows } = await this.requirePool().query<{ n: number }>(COUNT_UNFINISHED, [NOOP]);
    return rows[0]!.n;
  }

  async verifyEnqueued(): Promise<{ succeeded: number; notSucceeded: number; firstProblem: string | null }> {
    const { rows } = await this.requirePool().query<{ status: string; n: number; repeated: number }>(COUNT_BY_STATUS, [NOOP]).catch((e: unknown) => {
      throw new Error(`${this.id}: counting jobs by status: ${toError(e).message}`);
    });
    const succeeded = rows.find((r) => r.status === 'succeeded')?.n ?? 0;
    const repeated = rows.reduce((sum, r) => sum + r.repeated, 0);
    const others = rows.filter((r) => r.status !== 'succeeded');
    const problems = [...others.map((r) => `${r.n} ${r.status}`), ...(repeated > 0 ? [`${repeated} claimed more than once`] : [])];
    return { succeeded, notSucceeded: this.enqueued - succeeded, firstProblem: problems.length > 0 ? problems.join(', ') : null };
  }

  private requirePool(): pg.Pool {
    if (!this.pool) throw new Error(`${this.id}: not set up`);
    return this.pool;
  }
}
