/**
 * The Overview's data: a range's series for every workflow or one, and what the charts draw from it,
 * derived once here. Refreshed on the 5 s timer (engines write their counts every few seconds, so a
 * pushed change would find nothing new).
 */
import { useMemo } from 'react';
import { errorRate, type MetricsRange, type MetricsSeries } from '../../../../shared/metrics.ts';
import { useAdminQuery } from '../../../hooks/use-admin-query.ts';
import type { ChartRow } from '../../../components/charts/chart-types.ts';

export interface OverviewView {
  rows: ChartRow[];
  /** The newest sample of queue depth and slots in the range, if any was taken. */
  latest: { queueDepth: number; slotsUsed: number | null; slotsFree: number | null } | null;
  /** Something ran, ended or waited in the range. */
  active: boolean;
  /** Some step has latencies / queue samples. */
  hasLatency: boolean;
  hasDepth: boolean;
}

export function overviewView(series: MetricsSeries): OverviewView {
  const rows = series.points.map(
    (p): ChartRow => ({
      t: Date.parse(p.at),
      created: p.runsCreated,
      succeeded: p.runsSucceeded,
      failed: p.runsFailed,
      cancelled: p.runsCancelled,
      retried: p.tasksRetried,
      errorRate: percent(errorRate(p)),
      durationP50: p.durationMs?.p50 ?? null,
      durationP95: p.durationMs?.p95 ?? null,
      durationP99: p.durationMs?.p99 ?? null,
      queueP50: p.queueMs?.p50 ?? null,
      queueP95: p.queueMs?.p95 ?? null,
      queueP99: p.queueMs?.p99 ?? null,
      depth: p.queueDepth,
      depthMax: p.queueDepthMax,
      slotsUsed: p.slotsUsed,
      slotsFree: p.slotsFree,
      waits: p.concurrencyWaits + p.rateLimitWaits,
    }),
  );
  const sampled = series.points.filter((p) => p.queueDepth !== null);
  const last = sampled.at(-1);
  const t = series.totals;
  return {
    rows,
    latest: last ? { queueDepth: last.queueDepth!, slotsUsed: last.slotsUsed, slotsFree: last.slotsFree } : null,
    active: t.runsCreated + t.runsSucceeded + t.runsFailed + t.runsCancelled + t.tasksSucceeded + t.tasksFailed + t.concurrencyWaits + t.rateLimitWaits > 0,
    hasLatency: t.durationMs !== null || t.queueMs !== null,
    hasDepth: sampled.some((p) => p.queueDepth! > 0),
  };
}

function percent(rate: number | null): number | null {
  return rate === null ? null : Math.round(rate * 1000) / 10;
}

export function useOverview(range: MetricsRange, workflowName: string | null) {
  const query = useAdminQuery(`metricsQuery:${range}:${workflowName ?? ''}`, (c) => c.call('metricsQuery', workflowName ? { range, workflowName } : { range }), { keepPrevious: true });
  const view = useMemo(() => (query.data ? overviewView(query.data) : undefined), [query.data]);
  return { ...query, view };
}
