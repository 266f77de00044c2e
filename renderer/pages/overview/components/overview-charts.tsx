/** The Overview's charts: throughput, error rate, latency percentiles, queue depth (and slots). */
import type { MetricsSeries } from '../../../../shared/metrics.ts';
import { ChartCard } from '../../../components/charts/chart-card.tsx';
import { RANGE_LABELS, type ChartSeries } from '../../../components/charts/chart-types.ts';
import { formatDuration } from '../../../format.ts';
import type { OverviewView } from '../hooks/use-overview.ts';

const count = (v: number) => (Math.abs(v) >= 10_000 ? `${Math.round(v / 1000)}k` : Math.abs(v) >= 1000 ? `${(v / 1000).toFixed(1)}k` : `${Math.round(v * 10) / 10}`);
const percent = (v: number) => `${Math.round(v * 10) / 10}%`;
const duration = (v: number) => formatDuration(v);

/** p50, p95, p99 of a latency kept in the rows as `<prefix>P50` …. */
function percentileSeries(prefix: 'duration' | 'queue'): ChartSeries[] {
  return [
    { key: `${prefix}P50`, label: 'p50', color: 'running', kind: 'line' },
    { key: `${prefix}P95`, label: 'p95', color: 'queued', kind: 'line' },
    { key: `${prefix}P99`, label: 'p99', color: 'failed', kind: 'line', dashed: true },
  ];
}

function stepLabel(stepMs: number): string {
  return stepMs < 60_000 ? `${stepMs / 1000} s` : stepMs < 3_600_000 ? `${stepMs / 60_000} min` : `${stepMs / 3_600_000} h`;
}

interface ChartSpec {
  title: string;
  hint: string;
  testId: string;
  format(value: number): string;
  /** What the chart says over an empty plot, or null when it has data. */
  empty: string | null;
  series: ChartSeries[];
}

export function OverviewCharts({ series, view }: { series: MetricsSeries; view: OverviewView }) {
  const per = `per ${stepLabel(series.stepMs)}`;
  const quiet = `nothing in the last ${RANGE_LABELS[series.range]}`;
  const unsampled = view.latest ? null : 'no sample yet';
  const charts: ChartSpec[] = [
    {
      title: 'Throughput',
      hint: `runs ${per}`,
      testId: 'chart-throughput',
      format: count,
      empty: view.active ? null : quiet,
      series: [
        { key: 'succeeded', label: 'succeeded', color: 'succeeded', kind: 'bar', stack: 'ended' },
        { key: 'failed', label: 'failed', color: 'failed', kind: 'bar', stack: 'ended' },
        { key: 'cancelled', label: 'cancelled', color: 'cancelled', kind: 'bar', stack: 'ended' },
        { key: 'created', label: 'created', color: 'accent', kind: 'line' },
      ],
    },
    {
      title: 'Error rate',
      hint: 'failed of succeeded + failed runs',
      testId: 'chart-errors',
      format: percent,
      empty: view.active ? null : quiet,
      series: [{ key: 'errorRate', label: 'error rate', color: 'failed', kind: 'area' }],
    },
    { title: 'Duration', hint: 'start → end, per attempt', testId: 'chart-duration', format: duration, empty: view.hasLatency ? null : quiet, series: percentileSeries('duration') },
    { title: 'Queue time', hint: 'enqueue → start, per attempt', testId: 'chart-queue-time', format: duration, empty: view.hasLatency ? null : quiet, series: percentileSeries('queue') },
    {
      title: 'Queue depth',
      hint: 'queued task runs, sampled',
      testId: 'chart-queue-depth',
      format: count,
      empty: unsampled,
      series: [
        { key: 'depth', label: 'average', color: 'queued', kind: 'area' },
        { key: 'depthMax', label: 'max', color: 'muted', kind: 'line', dashed: true },
      ],
    },
    series.workflowName === null
      ? {
          title: 'Worker slots',
          hint: "every engine's workers, sampled",
          testId: 'chart-slots',
          format: count,
          empty: unsampled,
          series: [
            { key: 'slotsUsed', label: 'busy', color: 'running', kind: 'area', stack: 'slots' },
            { key: 'slotsFree', label: 'free', color: 'succeeded', kind: 'area', stack: 'slots' },
          ],
        }
      : {
          title: 'Retries and waits',
          hint: `attempts retried, decisions waited on a key or limit, ${per}`,
          testId: 'chart-retries',
          format: count,
          empty: view.active ? null : quiet,
          series: [
            { key: 'retried', label: 'retried', color: 'queued', kind: 'bar' },
            { key: 'waits', label: 'flow waits', color: 'muted', kind: 'line' },
          ],
        },
  ];
  return (
    <div className="overview-charts">
      {charts.map((c) => (
        <ChartCard key={c.testId} {...c} data={view.rows} stepMs={series.stepMs} />
      ))}
    </div>
  );
}
