/**
 * What the Postgres peers (graphile-worker, pg-boss) share as systems under test: a fresh database per
 * setup (CREATE DATABASE bench_<random>, dropped at teardown), worker processes running
 * bench/peer-worker.ts, and the completion signal for latency runs.
 *
 * Neither peer tells a producer that a job finished, so for the latency and DAG workloads the harness
 * adds an AFTER trigger to the peer's job table that NOTIFYs `bench_done` with the payload's `doneKey`
 * when a job carrying one completes; the producer LISTENs. It is installed only by those workloads
 * (the first runAndWait or DAG run of a setup), so throughput workloads run the peer's schema untouched.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import type { ManagedChild } from '../lib/child-process.ts';
import { toError, withTimeout } from '../lib/deadline.ts';
import { DoneWaiter } from '../lib/done-waiter.ts';
import { createDatabase, dropDatabase, postgresSettings } from '../lib/postgres-admin.ts';
import type { PeerName, PeerWorkerConfig } from './peer-protocol.ts';
import { spawnPeerWorker } from './peer-worker-process.ts';
import type { BenchWorker, SystemUnderTest } from './system.ts';

export const DONE_CHANNEL = 'bench_done';

export abstract class PostgresPeer implements Pick<SystemUnderTest, 'id' | 'label' | 'setup' | 'startWorker' | 'teardown' | 'dispose' | 'connectedWorkers'> {
  abstract readonly id: string;
  abstract readonly label: string;
  protected url: string | null = null;
  private database: string | null = null;
  private listener: pg.Client | null = null;
  private doneTrigger: Promise<void> | null = null;
  protected readonly done = new DoneWaiter();
  private readonly workers = new Set<ManagedChild>();
  private doneKeys = 0;

  constructor(
    protected readonly adminUrl: string,
    private readonly peer: PeerName,
    protected readonly profile: string,
  ) {}

  /** Installs the peer's schema in the fresh database and opens the producer's client. */
  protected abstract open(url: string): Promise<void>;
  /** Closes the producer's client (the database is dropped afterwards). */
  protected abstract close(): Promise<void>;
  /** The trigger that NOTIFYs DONE_CHANNEL with `doneKey` when a job carrying one completes. */
  protected abstract doneTriggerSql(): string;

  async setup(): Promise<void> {
    if (this.database) throw new Error(`${this.id}: setup() called twice without teardown()`);
    this.database = `bench_${randomBytes(6).toString('hex')}`;
    this.url = await createDatabase(this.adminUrl, this.database);
    await withTimeout(`${this.id}: installing its schema`, 60_000, this.open(this.url));
  }

  async startWorker(options: { slots: number; expect?: number }): Promise<BenchWorker> {
    if (!this.url) throw new Error(`${this.id}: not set up`);
    const config: PeerWorkerConfig = { peer: this.peer, profile: this.profile, slots: options.slots, connectionString: this.url };
    return spawnPeerWorker({ id: this.id, config, expect: options.expect, workers: this.workers });
  }

  async connectedWorkers(): Promise<number | null> {
    return null;
  }

  async describeDatabase(): Promise<Record<string, string>> {
    const info: Record<string, string> = {};
    for (const [name, value] of Object.entries(await postgresSettings(this.adminUrl))) info[`postgres.${name}`] = value;
    return info;
  }

  /** A fresh key for one latency run or DAG, after making sure its completion will be signalled. */
  protected async nextDoneKey(): Promise<string> {
    this.doneTrigger ??= this.listen();
    await this.doneTrigger;
    return `d${++this.doneKeys}`;
  }

  private async listen(): Promise<void> {
    const client = new pg.Client({ connectionString: this.url!, application_name: 'cleaver-bench-listener' });
    client.on('error', () => undefined);
    await client.connect();
    this.listener = client;
    client.on('notification', (message) => {
      if (message.channel === DONE_CHANNEL && message.payload) this.done.signal(message.payload);
    });
    await client.query(this.doneTriggerSql());
    await client.query(`LISTEN ${DONE_CHANNEL}`);
  }

  async teardown(): Promise<void> {
    const problems: string[] = [];
    for (const worker of this.workers) worker.kill();
    this.workers.clear();
    await this.close().catch((e: unknown) => problems.push(`closing the producer: ${toError(e).message}`));
    await this.listener?.end().catch(() => undefined);
    this.listener = null;
    this.doneTrigger = null;
    this.done.clear();
    const database = this.database;
    if (database) await withTimeout(`dropping database ${database}`, 30_000, dropDatabase(this.adminUrl, database)).catch((e: unknown) => problems.push(toError(e).message));
    this.database = null;
    this.url = null;
    if (problems.length > 0) throw new Error(`${this.id} teardown: ${problems.join('; ')}`);
  }

  async dispose(): Promise<void> {}
}
