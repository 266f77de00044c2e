/**
 * BullMQ as a system under test, on the local Redis (127.0.0.1:6379, or BENCH_REDIS_URL): each setup
 * uses a key prefix of its own (`clvb-<random>`), removed at teardown, so no case sees another's keys.
 * Jobs are added with Queue.add / addBulk from this process; bench/peer-worker.ts child processes run a
 * Worker with `concurrency` = slots (bullmq-worker.ts). Completion reaches the producer the way BullMQ
 * reports it: QueueEvents (a Redis stream), keyed by a job id the producer chose.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { FlowProducer, Queue, QueueEvents, type FlowJob } from 'bullmq';
import { Redis } from 'ioredis';
import type { ManagedChild } from '../lib/child-process.ts';
import { toError, withTimeout } from '../lib/deadline.ts';
import { DoneWaiter } from '../lib/done-waiter.ts';
import { ROOT } from './cleaver.ts';
import { CHAIN_STEPS, DAG, NOOP, type DagPayload, type NoopPayload, type PeerWorkerConfig } from './peer-protocol.ts';
import { spawnPeerWorker } from './peer-worker-process.ts';
import type { BenchWorker, DagShape, DagSupport, SystemUnderTest } from './system.ts';


export function redisTarget(): { host: string; port: number } {
  const url = new URL(process.env.BENCH_REDIS_URL || 'redis://127.0.0.1:6379');
  return { host: url.hostname, port: Number(url.port || 6379) };
}

/** What every BullMQ client of one case connects with. */
export function bullConnection(redis: { host: string; port: number }) {
  return { host: redis.host, port: redis.port, maxRetriesPerRequest: null };
}

const DAG_HOW: Record<DagShape, string> = {
  chain: `a BullMQ flow (FlowProducer.add) nesting ${CHAIN_STEPS} jobs, each the parent of the previous step: native`,
  diamond: 'the root job\'s handler adds a flow whose parent (the sink) has 8 children: fan-out by the handler, fan-in native',
};

export function createBullMqSystem(): SystemUnderTest {
  return new BullMqSystem();
}

class BullMqSystem implements SystemUnderTest {
  readonly id = 'bullmq';
  readonly label = `BullMQ ${bullVersion()} on Redis`;
  private prefix: string | null = null;
  private queues: Record<typeof NOOP | typeof DAG, Queue> | null = null;
  private flows: FlowProducer | null = null;
  private events: Promise<QueueEvents[]> | null = null;
  private readonly done = new DoneWaiter();
  private readonly workers = new Set<ManagedChild>();
  private doneKeys = 0;

  readonly dag: DagSupport = {
    how: DAG_HOW,
    run: async (shape, input) => {
      const key = await this.nextDoneKey();
      const done = this.done.wait(key);
      if (shape === 'chain') {
        // The last step is the outermost parent: a flow runs children before their parent.
        let flow: FlowJob | null = null;
        for (let step = 1; step <= CHAIN_STEPS; step++) {
          const data: DagPayload = { shape, step, key, ...(step === 1 ? input : {}), ...(step === CHAIN_STEPS ? { doneKey: key } : {}) };
          flow = { name: DAG, queueName: DAG, data, ...(step === CHAIN_STEPS ? { opts: { jobId: key } } : {}), ...(flow ? { children: [flow] } : {}) };
        }
        await this.requireFlows().add(flow!);
      } else {
        const root: DagPayload = { shape, step: 'root', key, ...input };
        await this.requireQueues()[DAG].add(DAG, root);
      }
      await done;
    },
  };

  async describe(): Promise<Record<string, string>> {
    const redis = new Redis({ ...redisTarget(), lazyConnect: true });
    try {
      await redis.connect();
      const info = await redis.info('server');
      const persistence = await redis.config('GET', 'appendonly');
      const save = await redis.config('GET', 'save');
      return {
        bullmq: bullVersion(),
        redis: /redis_version:(\S+)/.exec(info)?.[1] ?? '?',
        'redis.appendonly': String((persistence as string[])[1]),
        'redis.save': String((save as string[])[1]),
        jobs: 'attempts 1, completed jobs kept (BullMQ defaults)',
        ...DAG_HOW,
      };
    } finally {
      redis.disconnect();
    }
  }

  async setup(): Promise<void> {
    if (this.prefix) throw new Error(`${this.id}: setup() called twice without teardown()`);
    this.prefix = `clvb-${randomBytes(6).toString('hex')}`;
    const connection = bullConnection(redisTarget());
    this.queues = { [NOOP]: new Queue(NOOP, { connection, prefix: this.prefix }), [DAG]: new Queue(DAG, { connection, prefix: this.prefix }) };
    this.flows = new FlowProducer({ connection, prefix: this.prefix });
    // Connection errors surface as the failing call; an 'error' event with no listener would crash the benchmark.
    for (const queue of Object.values(this.queues)) queue.on('error', () => undefined);
    this.flows.on('error', () => undefined);
    await withTimeout(`${this.id}: connecting to Redis`, 15_000, Promise.all([this.queues[NOOP].waitUntilReady(), this.queues[DAG].waitUntilReady()]));
  }

  async startWorker(options: { slots: number; expect?: number }): Promise<BenchWorker> {
    if (!this.prefix) throw new Error(`${this.id}: not set up`);
    const config: PeerWorkerConfig = { peer: 'bullmq', profile: 'default', slots: options.slots, redis: { ...redisTarget(), prefix: this.prefix } };
    return spawnPeerWorker({ id: this.id, config, expect: options.expect, workers: this.workers });
  }

  /** Completion events are read only by the latency workloads, so throughput runs do not pay for a stream reader. */
  private async nextDoneKey(): Promise<string> {
    this.events ??= (async () => {
      const connection = bullConnection(redisTarget());
      // From the stream's start, not '$': the reader's first XREAD can come after waitUntilReady(), and a
      // job finishing in between would be missed. The prefix is this case's own, so the stream holds only its events.
      const options = { connection, prefix: this.prefix!, lastEventId: '0' };
      const readers = [new QueueEvents(NOOP, options), new QueueEvents(DAG, options)];
      for (const reader of readers) {
        reader.on('error', () => undefined);
        reader.on('completed', ({ jobId }) => this.done.signal(jobId));
        await reader.waitUntilReady();
      }
      return readers;
    })();
    await this.events;
    return `d${++this.doneKeys}`;
  }

  async runAndWait(input: { sentAt: number; warmup: boolean }): Promise<void> {
    const key = await this.nextDoneKey();
    const done = this.done.wait(key);
    const payload: NoopPayload = { ...input, doneKey: key };
    await this.requireQueues()[NOOP].add(NOOP, payload, { jobId: key });
    await done;
  }

  async enqueueOne(input: { sentAt: number; warmup?: boolean }): Promise<void> {
    const payload: NoopPayload = input;
    await this.requireQueues()[NOOP].add(NOOP, payload);
  }

  async enqueueMany(count: number): Promise<void> {
    await this.requireQueues()[NOOP].addBulk(Array.from({ length: count }, () => ({ name: NOOP, data: {} })));
  }

  async unfinished(): Promise<number> {
    const counts = await this.requireQueues()[NOOP].getJobCounts('wait', 'active', 'delayed', 'prioritized', 'waiting-children');
    return Object.values(counts).reduce((sum, n) => sum + n, 0);
  }

  async connectedWorkers(): Promise<number> {
    return this.requireQueues()[NOOP].getWorkersCount();
  }

  async verifyEnqueued(): Promise<{ succeeded: number; notSucceeded: number; firstProblem: string | null }> {
    const counts = await this.requireQueues()[NOOP].getJobCounts('completed', 'failed', 'wait', 'active', 'delayed', 'prioritized');
    const notSucceeded = Object.entries(counts).filter(([state]) => state !== 'completed').reduce((sum, [, n]) => sum + n, 0);
    return { succeeded: counts.completed ?? 0, notSucceeded, firstProblem: notSucceeded > 0 ? `job counts ${JSON.stringify(counts)}` : null };
  }

  async teardown(): Promise<void> {
    const problems: string[] = [];
    for (const worker of this.workers) worker.kill();
    this.workers.clear();
    const attempt = async (what: string, step: () => Promise<unknown>) => {
      try {
        await withTimeout(what, 30_000, step());
      } catch (e: unknown) {
        problems.push(`${what}: ${toError(e).message}`);
      }
    };
    const events = this.events;
    if (events) await attempt('closing QueueEvents', async () => Promise.all((await events).map((reader) => reader.close())));
    if (this.flows) await attempt('closing the FlowProducer', () => this.flows!.close());
    for (const queue of Object.values(this.queues ?? {})) await attempt(`closing queue ${queue.name}`, () => queue.close());
    const prefix = this.prefix;
    if (prefix) await attempt(`deleting keys ${prefix}:*`, () => deleteKeys(`${prefix}:*`));
    this.prefix = null;
    this.queues = null;
    this.flows = null;
    this.events = null;
    this.done.clear();
    if (problems.length > 0) throw new Error(`${this.id} teardown: ${problems.join('; ')}`);
  }

  async dispose(): Promise<void> {}

  private requireQueues(): Record<typeof NOOP | typeof DAG, Queue> {
    if (!this.queues) throw new Error(`${this.id}: not set up`);
    return this.queues;
  }

  private requireFlows(): FlowProducer {
    if (!this.flows) throw new Error(`${this.id}: not set up`);
    return this.flows;
  }
}

async function deleteKeys(pattern: string): Promise<void> {
  const redis = new Redis({ ...redisTarget(), lazyConnect: true });
  await redis.connect();
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) await redis.unlink(...keys);
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}

export function bullVersion(): string {
  return (JSON.parse(readFileSync(join(ROOT, 'node_modules/bullmq/package.json'), 'utf8')) as { version: string }).version;
}
