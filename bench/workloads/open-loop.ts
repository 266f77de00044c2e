/**
 * Steady open-loop load: noops enqueued at `ratePerSecond` for `durationMs` on a fixed schedule — each
 * enqueue is sent when due, whether or not earlier ones have returned — with one worker of `slots`.
 * enqueue→start counts from when the enqueue was due, so time spent queued in the producer's own client
 * (a connection pool at its limit) counts too. Past `maxOutstanding` calls in flight, due enqueues are
 * dropped and counted (`lateEnqueues`): the system is not keeping up with the offered rate. A short
 * unrecorded warm-up at the same rate comes first. Figures: enqueue→start p50/p99 (the worker's
 * histogram), the largest backlog (unfinished tasks) seen by a poll every `backlogPollMs`, and, where the
 * system has an engine process of its own (Cleaver), that process's RSS after the warm-up and at the end.
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
  /** Engine RSS in MiB after the warm-up and at the end of the load, and the growth in %; null without an engine process. */
  engineRssStartMiB: number | null;
  engineRssEndMiB: number | null;
  engineRssGrowthPercent: number | null;
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
  const rssStart = sut.engineRssBytes ? await sut.engineRssBytes() : null;
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
  if (failure !== null) throw failure;
  const rssEnd = sut.engineRssBytes ? await sut.engineRssBytes() : null;

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
  const mib = (bytes: number | null) => (bytes === null ? null : round2(bytes / 2 ** 20));
  return {
    ratePerSecond: options.ratePerSecond,
    durationMs: options.durationMs,
    achievedRatePerSecond: Math.round(sent / (windowMs / 1000)),
    enqueueToStartMs: report.startLatencyMs,
    maxBacklog,
    backlogPolls,
    lateEnqueues: late,
    engineRssStartMiB: mib(rssStart),
    engineRssEndMiB: mib(rssEnd),
    engineRssGrowthPercent: rssStart !== null && rssEnd !== null ? round2(((rssEnd - rssStart) / rssStart) * 100) : null,
    drainMs: round2(drainMs),
  };
}
