/**
 * Metrics (docs/metrics.md): what the engine counts over time, per workflow and overall, and what
 * tasks record with `ctx.metric(name, value)`. The admin contract's `metricsQuery` answers with these
 * series; the Prometheus text at `/metrics` is the other way out.
 */

/** The ranges the Overview charts: each is read from the stored resolution that suits it. */
export const METRICS_RANGES = ['15m', '1h', '24h', '7d'] as const;
export type MetricsRange = (typeof METRICS_RANGES)[number];

export const METRIC_NAME_PATTERN = /^[A-Za-z][A-Za-z0-9_.\-/]{0,99}$/;
export const METRIC_NAME_RULE = '1-100 letters, digits or _ . - /, starting with a letter';

/** What is wrong with a custom metric a task records, or null. */
export function customMetricProblem(name: unknown, value: unknown): string | null {
  if (typeof name !== 'string' || !METRIC_NAME_PATTERN.test(name)) return `the metric name ${JSON.stringify(name)} must be ${METRIC_NAME_RULE}`;
  if (typeof value !== 'number' || !Number.isFinite(value)) return `the value of metric ${name} must be a finite number, got ${typeof value === 'number' ? String(value) : JSON.stringify(value) ?? typeof value}`;
  return null;
}

export interface MetricsQueryParams {
  range: MetricsRange;
  /** One workflow (or standalone task); absent for every workflow together. */
  workflowName?: string;
}

/** Percentiles of a latency over a step or a range, in milliseconds, from merged log-scale histograms (within 19 %). */
export interface LatencyPercentiles {
  count: number;
  meanMs: number;
  p50: number;
  p95: number;
  p99: number;
}

export interface MetricsCounts {
  runsCreated: number;
  runsSucceeded: number;
  runsFailed: number;
  runsCancelled: number;
  /** Task runs created with their runs (and hooks when they start). */
  tasksCreated: number;
  tasksSucceeded: number;
  tasksFailed: number;
  tasksCancelled: number;
  /** Attempts that failed and were queued again. */
  tasksRetried: number;
  /** Scheduler decisions at which a queued task run waited on a full concurrency key. */
  concurrencyWaits: number;
  /** Scheduler decisions at which a queued task run waited on a used-up rate limit. */
  rateLimitWaits: number;
}

export const METRICS_COUNT_FIELDS = [
  'runsCreated',
  'runsSucceeded',
  'runsFailed',
  'runsCancelled',
  'tasksCreated',
  'tasksSucceeded',
  'tasksFailed',
  'tasksCancelled',
  'tasksRetried',
  'concurrencyWaits',
  'rateLimitWaits',
] as const satisfies ReadonlyArray<keyof MetricsCounts>;

/** Failed runs of those that succeeded or failed; null when none did. */
export function errorRate(counts: Pick<MetricsCounts, 'runsSucceeded' | 'runsFailed'>): number | null {
  const ended = counts.runsSucceeded + counts.runsFailed;
  return ended === 0 ? null : counts.runsFailed / ended;
}

export interface MetricsPoint extends MetricsCounts {
  /** Start of the step (ISO 8601). */
  at: string;
  /** Enqueue (or due, after a backoff) → start, of the attempts that ended in the step. */
  queueMs: LatencyPercentiles | null;
  /** Start → end of the attempts that ended in the step. */
  durationMs: LatencyPercentiles | null;
  /** Queued task runs, averaged over the samples of the step; null when none was taken. */
  queueDepth: number | null;
  queueDepthMax: number | null;
  /** Worker slots in use and free, averaged over the step (every workflow together only). */
  slotsUsed: number | null;
  slotsFree: number | null;
}

export interface CustomMetricPoint {
  at: string;
  count: number;
  sum: number;
  /** Null when nothing was recorded in the step. */
  min: number | null;
  max: number | null;
}

export interface CustomMetricSeries {
  name: string;
  points: CustomMetricPoint[];
  total: { count: number; sum: number; min: number | null; max: number | null; mean: number | null };
}

export interface WorkflowMetricsTotals extends MetricsCounts {
  workflowName: string;
  queueMs: LatencyPercentiles | null;
  durationMs: LatencyPercentiles | null;
  /** Failed runs of those that succeeded or failed; null when none did. */
  errorRate: number | null;
}

export interface MetricsSeries {
  range: MetricsRange;
  workflowName: string | null;
  /** The first step's start and the last step's end (ISO 8601); the last step is still filling. */
  from: string;
  to: string;
  stepMs: number;
  /** One per step, oldest first, zeros where nothing happened. */
  points: MetricsPoint[];
  totals: MetricsCounts & { queueMs: LatencyPercentiles | null; durationMs: LatencyPercentiles | null; errorRate: number | null };
  /** Every workflow with something in the range, busiest first (when no workflow was asked for). */
  workflows: WorkflowMetricsTotals[];
  /** The workflow's custom metrics by name (when a workflow was asked for). */
  custom: CustomMetricSeries[];
}
