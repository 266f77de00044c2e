/**
 * A chart of values over time (recharts): bars, lines and areas over one time axis, drawn in the
 * theme's colors. Loaded on demand (see lazy-time-chart.tsx): recharts is most of a chart page's code.
 */
import { useEffect, useState } from 'react';
import { Area, Bar, CartesianGrid, ComposedChart, Legend, Line, ResponsiveContainer, Tooltip, XAxis, YAxis } from 'recharts';
import { useApp } from '../../state/app-store.ts';
import type { ChartColor, ChartRow, TimeChartProps } from './chart-types.ts';

const COLOR_VARS: Record<ChartColor, string> = {
  succeeded: '--s-succeeded',
  failed: '--s-failed',
  cancelled: '--s-cancelled',
  running: '--s-running',
  queued: '--s-queued',
  accent: '--accent',
  muted: '--text-muted',
};

type Palette = Record<ChartColor | 'grid' | 'axis', string>;

/** The theme's colors as values (SVG attributes take no CSS variables), read again when the theme changes. */
function usePalette(): Palette | null {
  const theme = useApp((s) => s.theme);
  const [palette, setPalette] = useState<Palette | null>(null);
  useEffect(() => {
    // A passive effect: it runs after the shell's layout effect has set the theme on <html>.
    const style = getComputedStyle(document.documentElement);
    const read = (name: string) => style.getPropertyValue(name).trim();
    const colors = Object.fromEntries(Object.entries(COLOR_VARS).map(([k, v]) => [k, read(v)])) as Record<ChartColor, string>;
    setPalette({ ...colors, grid: read('--border'), axis: read('--text-faint') });
  }, [theme]);
  return palette;
}

function tickFormat(stepMs: number): (t: number) => string {
  return (t) => {
    const d = new Date(t);
    const hm = `${String(d.getHours()).padStart(2, '0')}:${String(d.getMinutes()).padStart(2, '0')}`;
    if (stepMs >= 3_600_000) return `${d.toLocaleDateString('en-US', { weekday: 'short' })} ${hm}`;
    return hm;
  };
}

/** Spacings the time axis may label at, smallest first. */
const TICK_EVERY = [1, 2, 5, 10, 15, 30, 60, 120, 180, 360, 720, 1440, 2880].map((minutes) => minutes * 60_000);

/**
 * Ticks on round local times (every 2 min, 10 min, 3 h, a day …), at most 8 (7 when labels carry a
 * weekday): left to itself the axis labels every nth step and keeps the last one, so the last gap is
 * uneven and the labels fall on odd minutes. A tick goes on the first step at or after each boundary.
 */
function roundTicks(data: ChartRow[], stepMs: number): number[] | undefined {
  if (data.length < 2) return undefined;
  const span = data[data.length - 1]!.t - data[0]!.t;
  const most = stepMs >= 3_600_000 ? 7 : 8;
  const every = TICK_EVERY.find((ms) => ms >= stepMs && span / ms <= most);
  if (every === undefined) return undefined;
  const slot = (t: number) => Math.floor((t - new Date(t).getTimezoneOffset() * 60_000) / every);
  const ticks: number[] = [];
  let previous = slot(data[0]!.t - 1);
  for (const { t } of data) {
    if (slot(t) !== previous) ticks.push(t);
    previous = slot(t);
  }
  return ticks.length >= 2 ? ticks : undefined;
}

function labelFormat(t: number, stepMs: number): string {
  const d = new Date(t);
  const time = d.toLocaleTimeString('en-GB', stepMs < 60_000 ? undefined : { hour: '2-digit', minute: '2-digit' });
  return stepMs >= 3_600_000 ? `${d.toLocaleDateString('en-US', { weekday: 'short', month: 'short', day: 'numeric' })} ${time}` : time;
}

export default function TimeChart({ data, series, stepMs, format, height = 180, testId }: TimeChartProps) {
  const palette = usePalette();
  if (!palette) return <div style={{ height }} />;
  const format0 = (v: unknown) => (typeof v === 'number' ? format(v) : '—');
  const ticks = roundTicks(data, stepMs);
  return (
    <div className="time-chart" data-testid={testId} data-points={data.length} style={{ height }}>
      <ResponsiveContainer width="100%" height="100%">
        <ComposedChart data={data} margin={{ top: 6, right: 8, bottom: 0, left: 0 }} barCategoryGap={1}>
          <CartesianGrid stroke={palette.grid} strokeDasharray="3 3" vertical={false} />
          {/* One category per step (the steps are even): bars get their width, ticks their spacing. */}
          <XAxis
            dataKey="t"
            ticks={ticks}
            // A narrow chart keeps every other round tick (still evenly spaced) rather than overlap them.
            interval={ticks ? 'preserveStart' : 'preserveStartEnd'}
            tickFormatter={tickFormat(stepMs)}
            stroke={palette.grid}
            tick={{ fill: palette.axis, fontSize: 11 }}
            minTickGap={ticks ? 16 : 40}
          />
          <YAxis width={56} tickFormatter={format0} stroke={palette.grid} tick={{ fill: palette.axis, fontSize: 11 }} allowDecimals={false} />
          <Tooltip
            labelFormatter={(t) => labelFormat(Number(t), stepMs)}
            formatter={(v, name) => [format0(v), name]}
            contentStyle={{ background: 'var(--bg-raised)', border: '1px solid var(--border-strong)', borderRadius: 8, fontSize: 12, color: 'var(--text)' }}
            labelStyle={{ color: 'var(--text-muted)', marginBottom: 4 }}
            cursor={{ fill: 'var(--bg-hover)', stroke: palette.grid }}
          />
          <Legend iconType="circle" iconSize={8} wrapperStyle={{ fontSize: 11.5, color: 'var(--text-muted)' }} />
          {series.map((s) => {
            const color = palette[s.color];
            const common = { key: s.key, dataKey: s.key, name: s.label, isAnimationActive: false } as const;
            if (s.kind === 'bar') return <Bar {...common} stackId={s.stack} fill={color} maxBarSize={18} />;
            // A line through few points (latencies of a quiet range) shows them as dots: one point draws no line.
            const sparse = data.filter((row) => row[s.key] !== null && row[s.key] !== undefined).length < 8;
            const dot = sparse ? { r: 2.5, fill: color, strokeWidth: 0 } : false;
            if (s.kind === 'area') return <Area {...common} type="monotone" stackId={s.stack} stroke={color} fill={color} fillOpacity={0.18} strokeWidth={1.5} connectNulls dot={dot} />;
            return <Line {...common} type="linear" stroke={color} strokeWidth={1.6} strokeDasharray={s.dashed ? '4 3' : undefined} dot={dot} connectNulls />;
          })}
        </ComposedChart>
      </ResponsiveContainer>
    </div>
  );
}
