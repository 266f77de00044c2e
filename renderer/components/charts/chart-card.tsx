/** A chart in a card with its title, and the range picker the chart pages share. */
import { lazy, Suspense, type ReactNode } from 'react';
import { METRICS_RANGES, type MetricsRange } from '../../../shared/metrics.ts';
import { RANGE_LABELS, type TimeChartProps } from './chart-types.ts';
import './charts.css';

// Its own chunk: pages without charts do not load recharts.
const TimeChart = lazy(() => import('./time-chart.tsx'));

export function ChartCard({ title, hint, empty, ...chart }: TimeChartProps & { title: string; hint?: ReactNode; empty?: string | null }) {
  const height = chart.height ?? 180;
  return (
    <section className="card chart-card" data-testid={chart.testId ? `${chart.testId}-card` : undefined}>
      <div className="chart-head">
        <h3 className="section-title">{title}</h3>
        {hint && <span className="muted small">{hint}</span>}
      </div>
      <div className="chart-body">
        <Suspense fallback={<div style={{ height }} />}>
          <TimeChart {...chart} height={height} />
        </Suspense>
        {empty && <div className="chart-empty">{empty}</div>}
      </div>
    </section>
  );
}

export function RangePicker({ value, onChange, testId = 'range' }: { value: MetricsRange; onChange(range: MetricsRange): void; testId?: string }) {
  return (
    <div className="chips" role="tablist" aria-label="Time range">
      {METRICS_RANGES.map((r) => (
        <button key={r} role="tab" aria-selected={r === value} className={`chip ${r === value ? 'chip-active' : ''}`} onClick={() => onChange(r)} data-testid={`${testId}-${r}`}>
          {RANGE_LABELS[r]}
        </button>
      ))}
    </div>
  );
}
