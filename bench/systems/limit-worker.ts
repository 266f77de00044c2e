/**
 * The "limit" system's worker side (in bench/peer-worker.ts): LOOPS claim loops, each on its own
 * connection. A loop's one statement per batch marks its previous batch done and claims up to BATCH
 * more (limit-sql.ts COMPLETE_AND_CLAIM); in between it "executes" the batch — the tally once per job,
 * the benchmark's no-op — with at most its share of the worker's slots running at once. Like
 * graphile-worker's local queue, a loop holds a whole batch while only `slots` run: claimed work waits
 * in the worker, not in the database, so a freed slot never costs a round trip and the batch size, not
 * the concurrency, sets the pace of a no-op drain.
 *
 * An idle loop waits for a NOTIFY from an enqueue: one notification wakes one idle loop, and a loop that
 * came back with a full batch wakes one more, so a burst reaches every loop while a lone job costs one
 * claim.
 */
import pg from 'pg';
import type { WorkerTally } from '../lib/worker-tally.ts';
import { COMPLETE_AND_CLAIM, JOBS_CHANNEL, limitWorkerConnection, type LimitProfile } from './limit-sql.ts';
import { NOOP, type NoopPayload, type PeerWorkerConfig } from './peer-protocol.ts';

/**
 * Two loops keep both cores busy — while one loop's statement runs in Postgres, the other's batch is
 * executed or its next statement sent — and 500 jobs a batch is graphile-worker's tuned local queue. On
 * this machine, burn-down 100,000 at concurrency 100 and 10, 1, 2 or 4 loops of 250 to 1,000 drained at
 * 27,000-41,000 jobs/s with no setting clearly ahead under the machine's noise.
 */
export const LOOPS = 2;
export const BATCH = 500;
/** A backstop only: every enqueue notifies, so an idle loop normally wakes on the commit. */
const IDLE_POLL_MS = 1_000;

interface Claimed {
  id: string;
  payload: NoopPayload;
  attempts: number;
}

export async function startPeerWorker(config: PeerWorkerConfig, tally: WorkerTally): Promise<() => Promise<void>> {
  const connection = limitWorkerConnection(config.connectionString!, config.profile as LimitProfile);
  const workerId = `limit-worker-${process.pid}`;
  const wakeups = new Wakeups();
  const listener = new pg.Client({ connectionString: config.connectionString!, application_name: 'cleaver-bench-limit-listen' });
  await listener.connect();
  listener.on('notification', () => wakeups.notify());
  await listener.query(`LISTEN ${JOBS_CHANNEL}`);

  // Every loop's connection is open before the worker reports ready, as a peer's pool is warm by then;
  // the slots are shared between the loops (each runs at most its share at once).
  const clients = await Promise.all(slotShares(config.slots, LOOPS).map(async (share) => {
    const client = new pg.Client({ ...connection, application_name: 'cleaver-bench-limit-worker' });
    await client.connect();
    return { client, share };
  }));
  let stopping = false;
  const loops = clients.map(async ({ client, share }) => {
    let held: string[] = [];
    try {
      for (;;) {
        const seen = wakeups.generation;
        const { rows } = await client.query<{ done: number; id: string | null; payload: NoopPayload; attempts: number }>(
          { ...COMPLETE_AND_CLAIM, values: [workerId, NOOP, stopping ? 0 : BATCH, held] },
        );
        if (rows[0]!.done !== held.length) throw new Error(`limit worker: finished ${rows[0]!.done} of the ${held.length} jobs it held`);
        const claimed = rows.filter((r): r is Claimed & { done: number } => r.id !== null);
        held = claimed.map((r) => r.id);
        if (claimed.length === 0) {
          if (stopping) return;
          // A NOTIFY that arrived while the claim ran may be for a job it did not see: claim again at once.
          if (wakeups.generation === seen) await wakeups.wait(IDLE_POLL_MS);
          continue;
        }
        if (claimed.length === BATCH) wakeups.notify();
        // At most the loop's share of the slots running at once.
        for (let i = 0; i < claimed.length; i += share) {
          await Promise.all(claimed.slice(i, i + share).map(async (job) => void tally.onExecute(job.payload, job.id, job.attempts)));
        }
      }
    } finally {
      await client.end();
    }
  });
  const running = Promise.all(loops);
  // A loop that fails ends the worker: the benchmark sees it exit and fails the measurement at once.
  running.catch((e: unknown) => {
    process.stderr.write(`limit worker: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exit(1);
  });
  return async () => {
    stopping = true;
    wakeups.notifyAll();
    await running;
    await listener.end();
  };
}

/** `slots` split over at most `loops` loops, as evenly as integers allow (their sum is `slots`). */
export function slotShares(slots: number, loops: number): number[] {
  const n = Math.min(slots, loops);
  return Array.from({ length: n }, (_, i) => Math.floor(slots / n) + (i < slots % n ? 1 : 0));
}

/** Idle loops waiting for work; `generation` counts notifications so a loop can tell it missed one. */
class Wakeups {
  generation = 0;
  private readonly idle: Array<() => void> = [];

  notify(): void {
    this.generation++;
    this.idle.shift()?.();
  }

  notifyAll(): void {
    this.generation++;
    for (const wake of this.idle.splice(0)) wake();
  }

  wait(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        const i = this.idle.indexOf(wake);
        if (i >= 0) this.idle.splice(i, 1);
        resolve();
      }, ms);
      this.idle.push(wake);
    });
  }
}
