/** The range's totals at a glance: runs, how they ended, latency, and the queue as last sampled. */
import type { MetricsSeries } from '../../../../shared/metrics.ts';
import { formatDuration } from '../../../format.ts';
import type { OverviewView } from '../hooks/use-overview.ts';

function Tile({ label, value, detail, tone, testId }: { label: string; value: string; detail?: string; tone?: 'ok' | 'danger' | 'warn'; testId: string }) {
  return (
    <div className="stat-tile" data-testid={testId}>
      <div className="stat-label">{label}</div>
      <div className={`stat-value ${tone ?? ''}`}>{value}</div>
      {detail && <div className="stat-detail">{detail}</div>}
    </div>
  );
}

const count = (n: number) => n.toLocaleString('en-US');

export function StatTiles({ series, view }: { series: MetricsSeries; view: OverviewView }) {
  const t = series.totals;
  const rate = t.errorRate;
  return (
    <div className="stat-tiles">
      <Tile label="Runs created" value={count(t.runsCreated)} detail={`${count(t.tasksCreated)} task runs`} testId="stat-runs-created" />
      <Tile label="Succeeded" value={count(t.runsSucceeded)} tone={t.runsSucceeded > 0 ? 'ok' : undefined} detail={`${count(t.tasksSucceeded)} task runs`} testId="stat-runs-succeeded" />
      <Tile
        label="Failed"
        value={count(t.runsFailed)}
        tone={t.runsFailed > 0 ? 'danger' : undefined}
        detail={`${count(t.tasksRetried)} retried · ${count(t.runsCancelled)} cancelled`}
        testId="stat-runs-failed"
      />
      <Tile
        label="Error rate"
        value={rate === null ? '—' : `${(Math.round(rate * 1000) / 10).toFixed(rate > 0 && rate < 0.01 ? 1 : 0)}%`}
        tone={rate === null ? undefined : rate >= 0.1 ? 'danger' : rate >= 0.01 ? 'warn' : 'ok'}
        detail="of succeeded + failed"
        testId="stat-error-rate"
      />
      <Tile
        label="Duration p95"
        value={t.durationMs ? formatDuration(t.durationMs.p95) : '—'}
        detail={t.durationMs ? `p50 ${formatDuration(t.durationMs.p50)} · p99 ${formatDuration(t.durationMs.p99)}` : 'no attempt ended'}
        testId="stat-duration"
      />
      <Tile
        label="Queue time p95"
        value={t.queueMs ? formatDuration(t.queueMs.p95) : '—'}
        detail={t.queueMs ? `p50 ${formatDuration(t.queueMs.p50)} · p99 ${formatDuration(t.queueMs.p99)}` : 'enqueue → start'}
        testId="stat-queue-time"
      />
      <Tile
        label="Queued now"
        value={view.latest ? count(Math.round(view.latest.queueDepth)) : '—'}
        tone={view.latest && view.latest.queueDepth > 0 ? 'warn' : undefined}
        detail={view.latest?.slotsFree != null ? `${count(Math.round(view.latest.slotsUsed ?? 0))} slots busy · ${count(Math.round(view.latest.slotsFree))} free` : 'last sample'}
        testId="stat-queued"
      />
    </div>
  );
}
