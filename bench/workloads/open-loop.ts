/**
 * Steady open-loop load: noops enqueued at `ratePerSecond` for `durationMs` on a fixed schedule — each
 * enqueue is sent when due, whether or not earlier ones have returned — with one worker of `slots`.
 * enqueue→start counts from when the enqueue was due, so time spent queued in the producer's own client
 * (a connection pool at its limit) counts too. Past `maxOutstanding` calls in flight, due enqueues are
 * dropped and counted (`lateEnqueues`): the system is not keeping up with the offered rate. A short
 * unrecorded warm-up at the same rate comes first. Figures: enqueue→start p50/p99 (the worker's
 * histogram), the largest backlog (unfinished tasks) seen by a poll every `backlogPollMs`, and, where the
 * system has an engine process of its own (Cleaver), that process's resident memory sampled every
 * `rssSampleMs` from the end of the warm-up to the end of the load: start, end, peak, the growth from
 * start to end, and the growth over the second half alone — the heap settling to its working size shows
 * in the first half; a leak keeps growing through the second.
 */
import { epochMs } from '../lib/clock.ts';
import { sleep, withTimeout } from '../lib/deadline.ts';
import { round2, type LatencySummary } from '../lib/stats.ts';
import type { SystemUnderTest } from '../systems/system.ts';

export interface OpenLoopOptions {
  ratePerSecond: number;
  durationMs: number;
  warmupMs: number;
  slots: number;
  backlogPollMs: number;
  maxOutstanding: number;
  drainTimeoutMs: number;
  rssSampleMs: number;
}

export interface EngineMemory {
  startMiB: number;
  endMiB: number;
  peakMiB: number;
  /** From the start (after the warm-up) to the end of the load. */
  growthPercent: number;
  /** From the sample nearest the middle of the load to its end. */
  secondHalfGrowthPercent: number;
  /** [seconds since the start, MiB], every rssSampleMs. */
  samples: Array<[number, number]>;
}

export interface OpenLoopResult {
  ratePerSecond: number;
  durationMs: number;
  /** Enqueues issued during the measured window over its length (below the rate when some were dropped). */
  achievedRatePerSecond: number;
  enqueueToStartMs: LatencySummary;
  maxBacklog: number;
  backlogPolls: number;
  lateEnqueues: number;
  /** Null for a system without an engine process (SystemUnderTest.engineRssBytes). */
  engineMemory: EngineMemory | null;
  /** From the end of the load until nothing was unfinished. */
  drainMs: number;
}

export async function openLoop(sut: SystemUnderTest, options: OpenLoopOptions): Promise<OpenLoopResult> {
  const worker = await sut.startWorker({ slots: options.slots });
  let outstanding = 0;
  let late = 0;
  let failure: unknown = null;
  const inflight = new Set<Promise<void>>();
  const drive = async (durationMs: number, warmup: boolean): Promise<number> => {
    const start = performance.now();
    let sent = 0;
    let issued = 0;
    while (failure === null) {
      const elapsed = performance.now() - start;
      if (elapsed >= durationMs) break;
      const due = Math.floor((elapsed / 1000) * options.ratePerSecond);
      while (sent < due) {
        if (outstanding >= options.maxOutstanding) {
          late += due - sent;
          sent = due;
          break;
        }
        sent++;
        issued++;
        outstanding++;
        const call: Promise<void> = sut.enqueueOne({ sentAt: epochMs(), warmup }).then(
          () => {
            outstanding--;
            inflight.delete(call);
          },
          (e: unknown) => {
            failure ??= e;
            inflight.delete(call);
          },
        );
        inflight.add(call);
      }
      await sleep(2);
    }
    return issued;
  };

  await Promise.race([drive(options.warmupMs, true), worker.died]);
  await Promise.all(inflight);
  late = 0;
  const memory = sut.engineRssBytes ? new MemorySampler(() => sut.engineRssBytes!(), options.rssSampleMs) : null;
  await memory?.start();
  let maxBacklog = 0;
  let backlogPolls = 0;
  let polling = true;
  const poller = (async () => {
    while (polling) {
      const began = performance.now();
      maxBacklog = Math.max(maxBacklog, await sut.unfinished());
      backlogPolls++;
      await sleep(Math.max(0, began + options.backlogPollMs - performance.now()));
    }
  })();
  const began = performance.now();
  const sent = await Promise.race([drive(options.durationMs, false), worker.died]);
  const windowMs = performance.now() - began;
  await Promise.all(inflight);
  polling = false;
  await poller;
  const engineMemory = (await memory?.stop()) ?? null;
  if (failure !== null) throw failure;

  const drainStart = performance.now();
  for (;;) {
    const left = await withTimeout(`${sut.id} open loop: status after the load`, 10_000, Promise.race([sut.unfinished(), worker.died]));
    if (left === 0) break;
    if (performance.now() - drainStart > options.drainTimeoutMs) throw new Error(`${sut.id} open loop: ${left} tasks still unfinished ${options.drainTimeoutMs / 1000} s after the load ended`);
    await sleep(50);
  }
  const drainMs = performance.now() - drainStart;
  const report = await worker.stop();
  if (!report.startLatencyMs) throw new Error(`${sut.id} open loop: the worker recorded no start readings`);
  if (report.retried !== 0 || report.executed !== report.distinct) throw new Error(`${sut.id} open loop: ${report.executed} executions of ${report.distinct} tasks, ${report.retried} retries`);
  return {
    ratePerSecond: options.ratePerSecond,
    durationMs: options.durationMs,
    achievedRatePerSecond: Math.round(sent / (windowMs / 1000)),
    enqueueToStartMs: report.startLatencyMs,
    maxBacklog,
    backlogPolls,
    lateEnqueues: late,
    engineMemory,
    drainMs: round2(drainMs),
  };
}

/** Samples a process's resident memory on a timer from start() to stop(), one reading at each end. */
class MemorySampler {
  private readonly samples: Array<[number, number]> = [];
  private began = 0;
  private timer: NodeJS.Timeout | null = null;
  private inFlight: Promise<void> = Promise.resolve();
  private failure: unknown = null;

  constructor(
    private readonly read: () => Promise<number>,
    private readonly everyMs: number,
  ) {}

  async start(): Promise<void> {
    this.began = performance.now();
    await this.sample();
    this.timer = setInterval(() => {
      this.inFlight = this.sample().catch((e: unknown) => {
        this.failure ??= e;
      });
    }, this.everyMs);
  }

  async stop(): Promise<EngineMemory> {
    if (this.timer) clearInterval(this.timer);
    await this.inFlight;
    if (this.failure !== null) throw this.failure;
    await this.sample();
    const mibs = this.samples.map(([, mib]) => mib);
    const start = mibs[0]!;
    const end = mibs.at(-1)!;
    const lastAt = this.samples.at(-1)![0];
    const middle = this.samples.reduce((best, s) => (Math.abs(s[0] - lastAt / 2) < Math.abs(best[0] - lastAt / 2) ? s : best))[1];
    const growth = (from: number) => round2(((end - from) / from) * 100);
    return { startMiB: start, endMiB: end, peakMiB: Math.max(...mibs), growthPercent: growth(start), secondHalfGrowthPercent: growth(middle), samples: this.samples };
  }

  private async sample(): Promise<void> {
    const bytes = await this.read();
    this.samples.push([round2((performance.now() - this.began) / 1000), round2(bytes / 2 ** 20)]);
  }
}
