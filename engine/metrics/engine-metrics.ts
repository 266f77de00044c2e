/**
 * An engine's metrics (docs/metrics.md). What happens is counted in memory as the engine learns of it —
 * runs created, attempts and runs ended, scheduler waits, tasks' custom values — into this engine's
 * buffer and its Prometheus counters; no database write per task. Every pass (a few seconds apart,
 * and at shutdown) adds the buffer to the stored buckets in one transaction. The scheduler lease holder
 * alone samples queue depth and slots into the buckets and deletes resolutions no range reads.
 */
import type { Driver } from '../db/driver.ts';
import type { Logger } from '../log.ts';
import type { MaintenanceService } from '../maintenance/periodic.ts';
import { metricBucketExpire, metricBucketUpsert, metricCustomUpsert, metricQueueDepthList, metricSlotsGet } from '../sql/metrics.ts';
import type { EndedRun } from '../sql/run-cancel.ts';
import type { CreatedRuns } from '../sql/run-trigger.ts';
import type { FinishResult } from '../sql/task-finish.ts';
import { actionWorkflow } from '../../shared/workflow-definition.ts';
import type { MetricsCounts } from '../../shared/metrics.ts';
import { toError } from '../../shared/errors.ts';
import { MetricsBuffer, RESOLUTIONS } from './metrics-buffer.ts';
import { PrometheusMetrics } from './prometheus.ts';
import { QueueDepthReader } from './queue-depth.ts';

/** Custom metric names kept per workflow by one engine; values of further names are dropped (and said so once). */
export const MAX_CUSTOM_NAMES = 100;
const EXPIRE_EVERY_MS = 60_000;

export interface EngineMetricsOptions {
  driver: Driver;
  log: Logger;
  /** Whether this engine holds the scheduler lease (it samples and expires). */
  holding(): boolean;
  /** Slots of the workers connected here, for Prometheus. */
  localSlots(): { used: number; free: number; held: number };
  /** A worker not heard from for this long counts as gone when slots are sampled. */
  staleMs: number;
}

type Tally = Map<string, Partial<MetricsCounts>>;

function tallyAdd(tally: Tally, workflowName: string, field: keyof MetricsCounts, n = 1): void {
  let counts = tally.get(workflowName);
  if (!counts) tally.set(workflowName, (counts = {}));
  counts[field] = (counts[field] ?? 0) + n;
}

export class EngineMetrics implements MaintenanceService {
  readonly name = 'metrics';
  private readonly buffer = new MetricsBuffer();
  private readonly prometheus: PrometheusMetrics;
  private readonly customNames = new Map<string, Set<string>>();
  private readonly namesRefused = new Set<string>();
  private flushing: Promise<void> | null = null;
  private expiredAt = 0;
  /** Shared by the sampler and /metrics: a deep queue is counted no more often than its count's cost allows. */
  private readonly depths: QueueDepthReader;

  constructor(private readonly o: EngineMetricsOptions) {
    this.depths = new QueueDepthReader({ read: () => metricQueueDepthList(o.driver), minAgeMs: 1_000 });
    this.prometheus = new PrometheusMetrics({
      queueDepth: () => this.depths.get(),
      slots: () => o.localSlots(),
      onError: (e) => o.log.warn('reading the queue depth for /metrics failed', { error: toError(e).message }),
    });
  }

  runsCreated(created: CreatedRuns): void {
    if (created.runs === 0) return;
    this.buffer.count(created.workflowName, { runsCreated: created.runs, tasksCreated: created.taskRuns });
    this.prometheus.runsCreated.inc({ workflow: created.workflowName }, created.runs);
    this.prometheus.tasksCreated.inc({ workflow: created.workflowName }, created.taskRuns);
  }

  /** Attempts and runs a finish batch ended (tasks succeeded, failed, retried; hooks started; runs ended). */
  finished(result: FinishResult): void {
    const tally: Tally = new Map();
    const now = Date.now();
    for (const a of result.attempts) {
      const workflow = actionWorkflow(a.action);
      if (a.status === 'queued') tallyAdd(tally, workflow, 'tasksRetried');
      else tallyAdd(tally, workflow, a.status === 'succeeded' ? 'tasksSucceeded' : a.status === 'failed' ? 'tasksFailed' : 'tasksCancelled');
      if (a.queuedMs === null && a.ranMs === null) continue;
      this.buffer.latency(workflow, { queueMs: a.queuedMs, durationMs: a.ranMs }, now);
      if (a.queuedMs !== null) this.prometheus.queueSeconds.observe({ workflow }, a.queuedMs / 1000);
      if (a.ranMs !== null) this.prometheus.durationSeconds.observe({ workflow }, a.ranMs / 1000);
    }
    for (const d of result.upstreamCancelled) tallyAdd(tally, actionWorkflow(d.action), 'tasksCancelled', d.count);
    for (const action of result.hooksStarted) tallyAdd(tally, actionWorkflow(action), 'tasksCreated');
    for (const r of result.runs) tallyAdd(tally, r.workflowName, r.status === 'succeeded' ? 'runsSucceeded' : r.status === 'failed' ? 'runsFailed' : 'runsCancelled');
    this.record(tally, now);
  }

  /** Runs ended with every task run not yet ended (cancelled by a user or a concurrency limit, failed by a flow rule). */
  runsEnded(ended: readonly EndedRun[]): void {
    const tally: Tally = new Map();
    for (const e of ended) {
      tallyAdd(tally, e.workflowName, e.status === 'failed' ? 'runsFailed' : 'runsCancelled');
      tallyAdd(tally, e.workflowName, e.status === 'failed' ? 'tasksFailed' : 'tasksCancelled', e.taskRuns);
    }
    this.record(tally);
  }

  /** The waits of one scheduler decision on concurrency keys and rate limits. */
  flowWaits(waits: ReadonlyArray<{ action: string; kind: 'concurrency' | 'rate_limit' }>): void {
    const tally: Tally = new Map();
    for (const w of waits) tallyAdd(tally, actionWorkflow(w.action), w.kind === 'concurrency' ? 'concurrencyWaits' : 'rateLimitWaits');
    this.record(tally);
  }

  /** A value a task recorded with ctx.metric (checked by the dispatcher). */
  customValue(value: { action: string; name: string; value: number }): void {
    const workflow = actionWorkflow(value.action);
    let names = this.customNames.get(workflow);
    if (!names) this.customNames.set(workflow, (names = new Set()));
    if (!names.has(value.name)) {
      if (names.size >= MAX_CUSTOM_NAMES) {
        if (!this.namesRefused.has(workflow)) {
          this.namesRefused.add(workflow);
          this.o.log.warn(`workflow ${workflow} records more than ${MAX_CUSTOM_NAMES} custom metric names; values of further names are dropped`, { name: value.name });
        }
        return;
      }
      names.add(value.name);
    }
    this.buffer.customValue(workflow, value.name, value.value);
  }

  /** The Prometheus text for `/metrics`. */
  prometheusText(): Promise<{ contentType: string; text: string }> {
    return this.prometheus.render();
  }

  /** One pass: sample (when holding the lease), write what was counted, delete what no range reads. */
  async runOnce(): Promise<void> {
    if (this.o.holding()) await this.sample();
    await this.flush();
    if (this.o.holding() && Date.now() - this.expiredAt >= EXPIRE_EVERY_MS) {
      for (const r of RESOLUTIONS) await metricBucketExpire(this.o.driver, { resolutionS: r.seconds, keepMs: r.keepMs });
      this.expiredAt = Date.now();
    }
  }

  /**
   * Adds what was counted since the last flush to the stored buckets. One flush at a time; what a
   * failed one could not write goes with the next.
   */
  async flush(): Promise<void> {
    while (this.flushing) await this.flushing.catch(() => undefined);
    if (this.buffer.empty) return;
    const taken = this.buffer.take();
    this.flushing = this.o.driver
      .transaction(async (tx) => {
        await metricBucketUpsert(tx, { rows: taken.buckets });
        await metricCustomUpsert(tx, { rows: taken.custom });
      })
      .catch((e: unknown) => {
        taken.restore();
        throw e;
      })
      .finally(() => (this.flushing = null));
    await this.flushing;
  }

  private async sample(): Promise<void> {
    const [depths, slots] = await Promise.all([this.depths.get(), metricSlotsGet(this.o.driver, { staleMs: this.o.staleMs })]);
    const queueDepth = new Map<string, number>();
    for (const d of depths) {
      const workflow = actionWorkflow(d.action);
      queueDepth.set(workflow, (queueDepth.get(workflow) ?? 0) + d.queued);
    }
    this.buffer.sample({ queueDepth, slotsUsed: slots.used, slotsFree: slots.free });
  }

  private record(tally: Tally, now = Date.now()): void {
    for (const [workflow, counts] of tally) {
      this.buffer.count(workflow, counts, now);
      const p = this.prometheus;
      if (counts.tasksSucceeded) p.tasksEnded.inc({ workflow, status: 'succeeded' }, counts.tasksSucceeded);
      if (counts.tasksFailed) p.tasksEnded.inc({ workflow, status: 'failed' }, counts.tasksFailed);
      if (counts.tasksCancelled) p.tasksEnded.inc({ workflow, status: 'cancelled' }, counts.tasksCancelled);
      if (counts.tasksRetried) p.retries.inc({ workflow }, counts.tasksRetried);
      if (counts.tasksCreated) p.tasksCreated.inc({ workflow }, counts.tasksCreated);
      if (counts.runsSucceeded) p.runsEnded.inc({ workflow, status: 'succeeded' }, counts.runsSucceeded);
      if (counts.runsFailed) p.runsEnded.inc({ workflow, status: 'failed' }, counts.runsFailed);
      if (counts.runsCancelled) p.runsEnded.inc({ workflow, status: 'cancelled' }, counts.runsCancelled);
      if (counts.concurrencyWaits) p.flowWaits.inc({ workflow, kind: 'concurrency' }, counts.concurrencyWaits);
      if (counts.rateLimitWaits) p.flowWaits.inc({ workflow, kind: 'rate_limit' }, counts.rateLimitWaits);
    }
  }
}
