/** What the workflow's tasks recorded with ctx.metric, per name over a range: the sum per step, with count, mean, min and max. */
import { useState } from 'react';
import type { CustomMetricSeries, MetricsRange } from '../../../../shared/metrics.ts';
import { ChartCard, RangePicker } from '../../../components/charts/chart-card.tsx';
import { RANGE_LABELS, type ChartRow } from '../../../components/charts/chart-types.ts';
import { EmptyState, ErrorState, LoadingState } from '../../../components/states.tsx';
import { useAdminQuery } from '../../../hooks/use-admin-query.ts';
import { href, withQuery } from '../../../router.ts';

const number = (v: number) =>
  Math.abs(v) >= 1e6 ? `${Number((v / 1e6).toFixed(1))}M` : Math.abs(v) >= 1e4 ? `${Number((v / 1e3).toFixed(1))}k` : (Math.round(v * 100) / 100).toLocaleString('en-US');

function rows(metric: CustomMetricSeries): ChartRow[] {
  return metric.points.map((p) => ({ t: Date.parse(p.at), sum: p.count > 0 ? p.sum : 0, mean: p.count > 0 ? p.sum / p.count : null, min: p.min, max: p.max }));
}

/** One name's chart: the sum per step (items processed, tokens used), or the mean with its range (a score, a size). */
function MetricChart({ metric, stepMs }: { metric: CustomMetricSeries; stepMs: number }) {
  const [show, setShow] = useState<'sum' | 'mean'>('sum');
  const t = metric.total;
  const value = (v: number | null) => (v === null ? '—' : number(v));
  return (
    <ChartCard
      title={metric.name}
      hint={
        <span className="custom-metric-hint">
          <span title={`sum ${value(t.sum)} · mean ${value(t.mean)} · min ${value(t.min)} · max ${value(t.max)}`}>
            {t.count.toLocaleString('en-US')} values · mean {value(t.mean)} · min {value(t.min)} · max {value(t.max)}
          </span>
          <span className="chips">
            {(['sum', 'mean'] as const).map((s) => (
              <button key={s} className={`chip ${show === s ? 'chip-active' : ''}`} onClick={() => setShow(s)} data-testid={`custom-metric-${metric.name}-${s}`}>
                {s === 'sum' ? 'sum' : 'mean, min, max'}
              </button>
            ))}
          </span>
        </span>
      }
      data={rows(metric)}
      stepMs={stepMs}
      format={number}
      height={150}
      testId={`custom-metric-${metric.name}`}
      series={
        show === 'sum'
          ? [{ key: 'sum', label: 'sum per step', color: 'accent', kind: 'bar' }]
          : [
              { key: 'mean', label: 'mean', color: 'running', kind: 'line' },
              { key: 'min', label: 'min', color: 'muted', kind: 'line', dashed: true },
              { key: 'max', label: 'max', color: 'queued', kind: 'line', dashed: true },
            ]
      }
    />
  );
}

export function CustomMetrics({ name }: { name: string }) {
  const [range, setRange] = useState<MetricsRange>('1h');
  const query = useAdminQuery(`metricsQuery:${range}:${name}`, (c) => c.call('metricsQuery', { range, workflowName: name }), { keepPrevious: true });
  const custom = query.data?.custom ?? [];
  return (
    <div className="card" data-testid="custom-metrics">
      <div className="card-head">
        <h3 className="section-title">Custom metrics</h3>
        <RangePicker value={range} onChange={setRange} testId="custom-range" />
        <a className="small right" href={withQuery('#/overview', { range, workflow: name })}>
          Throughput and latency →
        </a>
      </div>
      {query.loading ? (
        <LoadingState what="metrics" />
      ) : query.error && !query.data ? (
        <ErrorState error={query.error} retry={query.refresh} />
      ) : custom.length === 0 ? (
        <EmptyState title={`Nothing recorded in the last ${RANGE_LABELS[range]}`} testId="custom-metrics-empty">
          Tasks record values with <code>ctx.metric('items', n)</code>; they are counted, summed, and their minimum and maximum kept per step. See{' '}
          <a href={href('overview')}>Overview</a> for throughput and latency.
        </EmptyState>
      ) : (
        <div className="custom-metrics">
          {custom.map((m) => (
            <MetricChart key={m.name} metric={m} stepMs={query.data!.stepMs} />
          ))}
        </div>
      )}
    </div>
  );
}
