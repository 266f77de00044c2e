/**
 * The series of a range (admin `metricsQuery`): each range is read from one stored resolution, in
 * steps of a multiple of it, so a chart has 60 to 100 points whatever the range (see RANGES). Steps
 * where nothing happened are zeros; percentiles come from the step's merged histograms.
 */
import type { Queryable } from '../db/driver.ts';
import { metricBucketSums, metricCustomSums, type MetricBucketValues } from '../sql/metrics.ts';
import { paramsObject } from '../admin/params.ts';
import { CleaverError } from '../../shared/errors.ts';
import { TASK_NAME_PATTERN, TASK_NAME_RULE } from '../../shared/types.ts';
import {
  METRICS_COUNT_FIELDS,
  METRICS_RANGES,
  errorRate,
  type CustomMetricSeries,
  type MetricsCounts,
  type MetricsPoint,
  type MetricsRange,
  type MetricsSeries,
  type WorkflowMetricsTotals,
} from '../../shared/metrics.ts';
import { latencyPercentiles } from './histogram.ts';
import { ALL_WORKFLOWS, emptyBucketValues, mergeBucketValues } from './metrics-buffer.ts';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

/** Which stored resolution each range reads, and its step. */
export const RANGES: Record<MetricsRange, { rangeMs: number; resolutionS: number; stepMs: number }> = {
  '15m': { rangeMs: 15 * MINUTE, resolutionS: 10, stepMs: 10_000 },
  '1h': { rangeMs: HOUR, resolutionS: 60, stepMs: MINUTE },
  '24h': { rangeMs: 24 * HOUR, resolutionS: 60, stepMs: 15 * MINUTE },
  '7d': { rangeMs: 7 * 24 * HOUR, resolutionS: 3600, stepMs: 2 * HOUR },
};

/** Custom metric names charted per workflow. */
const MAX_CUSTOM_SERIES = 50;

function counts(v: MetricBucketValues): MetricsCounts {
  return Object.fromEntries(METRICS_COUNT_FIELDS.map((f) => [f, v[f]])) as unknown as MetricsCounts;
}

const round1 = (n: number) => Math.round(n * 10) / 10;

function point(atMs: number, v: MetricBucketValues, samples: number, withSlots: boolean): MetricsPoint {
  const sampled = samples > 0;
  return {
    at: new Date(atMs).toISOString(),
    ...counts(v),
    queueMs: latencyPercentiles(v.queueHist, v.queueSumMs),
    durationMs: latencyPercentiles(v.durationHist, v.durationSumMs),
    queueDepth: sampled ? round1(v.queueDepthSum / samples) : null,
    queueDepthMax: sampled ? v.queueDepthMax : null,
    slotsUsed: sampled && withSlots ? round1(v.slotsUsedSum / samples) : null,
    slotsFree: sampled && withSlots ? round1(v.slotsFreeSum / samples) : null,
  };
}

function totalsOf(v: MetricBucketValues): MetricsSeries['totals'] {
  return { ...counts(v), queueMs: latencyPercentiles(v.queueHist, v.queueSumMs), durationMs: latencyPercentiles(v.durationHist, v.durationSumMs), errorRate: errorRate(v) };
}

export async function metricsSeriesGet(db: Queryable, params: { range: MetricsRange; workflowName: string | null }, now = Date.now()): Promise<MetricsSeries> {
  const { rangeMs, resolutionS, stepMs } = RANGES[params.range];
  // The last step is the one now falls in.
  const toMs = (Math.floor(now / stepMs) + 1) * stepMs;
  const fromMs = toMs - rangeMs;
  const workflow = params.workflowName;
  const steps = await metricBucketSums(db, { resolutionS, fromMs, toMs, workflowNames: workflow === null ? [ALL_WORKFLOWS] : [ALL_WORKFLOWS, workflow], stepMs });
  const mine = new Map<number, MetricBucketValues>();
  // A workflow's gauges are averaged over every sample of the step, including those it had nothing queued at.
  const samples = new Map<number, number>();
  for (const s of steps) {
    if (s.workflowName === ALL_WORKFLOWS) samples.set(s.atMs!, s.samples);
    if (s.workflowName === (workflow ?? ALL_WORKFLOWS)) mine.set(s.atMs!, s);
  }
  const points: MetricsPoint[] = [];
  const total = emptyBucketValues();
  for (let at = fromMs; at < toMs; at += stepMs) {
    const v = mine.get(at) ?? emptyBucketValues();
    mergeBucketValues(total, v);
    points.push(point(at, v, samples.get(at) ?? 0, workflow === null));
  }
  return {
    range: params.range,
    workflowName: workflow,
    from: new Date(fromMs).toISOString(),
    to: new Date(toMs).toISOString(),
    stepMs,
    points,
    totals: totalsOf(total),
    workflows: workflow === null ? await workflowTotals(db, { resolutionS, fromMs, toMs }) : [],
    custom: workflow === null ? [] : await customSeries(db, { resolutionS, workflowName: workflow, fromMs, toMs, stepMs }),
  };
}

async function workflowTotals(db: Queryable, params: { resolutionS: number; fromMs: number; toMs: number }): Promise<WorkflowMetricsTotals[]> {
  const sums = await metricBucketSums(db, { ...params, workflowNames: null, stepMs: null });
  const activity = (w: MetricsCounts) => w.runsCreated + w.runsSucceeded + w.runsFailed + w.runsCancelled + w.tasksSucceeded + w.tasksFailed;
  return sums
    .map((s) => ({ workflowName: s.workflowName, ...totalsOf(s) }))
    .sort((a, b) => activity(b) - activity(a) || a.workflowName.localeCompare(b.workflowName));
}

async function customSeries(db: Queryable, params: { resolutionS: number; workflowName: string; fromMs: number; toMs: number; stepMs: number }): Promise<CustomMetricSeries[]> {
  const rows = await metricCustomSums(db, { ...params, maxNames: MAX_CUSTOM_SERIES });
  const byName = new Map<string, Map<number, (typeof rows)[number]>>();
  for (const r of rows) {
    let steps = byName.get(r.name);
    if (!steps) byName.set(r.name, (steps = new Map()));
    steps.set(r.atMs, r);
  }
  return [...byName].map(([name, steps]) => {
    const points = [];
    const total = { count: 0, sum: 0, min: null as number | null, max: null as number | null, mean: null as number | null };
    for (let at = params.fromMs; at < params.toMs; at += params.stepMs) {
      const s = steps.get(at);
      points.push({ at: new Date(at).toISOString(), count: s?.count ?? 0, sum: s?.sum ?? 0, min: s?.min ?? null, max: s?.max ?? null });
      if (!s) continue;
      total.count += s.count;
      total.sum += s.sum;
      total.min = total.min === null ? s.min : Math.min(total.min, s.min);
      total.max = total.max === null ? s.max : Math.max(total.max, s.max);
    }
    total.mean = total.count > 0 ? total.sum / total.count : null;
    return { name, points, total };
  });
}

/** metricsQuery's params, checked. */
export function metricsQueryParam(params: unknown): { range: MetricsRange; workflowName: string | null } {
  const p = paramsObject(params, 'metricsQuery');
  if (!METRICS_RANGES.includes(p.range as MetricsRange)) {
    throw new CleaverError('BAD_REQUEST', `metricsQuery.range must be one of ${METRICS_RANGES.join(', ')}, got ${JSON.stringify(p.range ?? null)}`);
  }
  const name = p.workflowName ?? null;
  if (name !== null && (typeof name !== 'string' || !TASK_NAME_PATTERN.test(name))) {
    throw new CleaverError('BAD_REQUEST', `metricsQuery.workflowName must be a workflow or task name (${TASK_NAME_RULE}), got ${JSON.stringify(name)}; leave it out for every workflow`);
  }
  return { range: p.range as MetricsRange, workflowName: name };
}
