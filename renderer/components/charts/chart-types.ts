/** What a time chart draws: rows over time (`t`, epoch ms) and the series taken from them. */
import type { MetricsRange } from '../../../shared/metrics.ts';

export type ChartColor = 'succeeded' | 'failed' | 'cancelled' | 'running' | 'queued' | 'accent' | 'muted';

export interface ChartSeries {
  key: string;
  label: string;
  color: ChartColor;
  kind: 'bar' | 'line' | 'area';
  /** Bars or areas with the same stack are stacked. */
  stack?: string;
  dashed?: boolean;
}

export type ChartRow = { t: number } & Record<string, number | null>;

export interface TimeChartProps {
  data: ChartRow[];
  series: ChartSeries[];
  stepMs: number;
  /** The y axis and tooltip values as they read. */
  format(value: number): string;
  height?: number;
  testId?: string;
}

export const RANGE_LABELS: Record<MetricsRange, string> = { '15m': '15 min', '1h': '1 hour', '24h': '24 hours', '7d': '7 days' };
