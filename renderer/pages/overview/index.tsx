/**
 * Overview: how the queue has been doing over 15 minutes to 7 days — throughput, error rate, latency
 * percentiles, queue depth and slots — for every workflow together, or one (`?workflow=`).
 */
import { METRICS_RANGES, type MetricsRange } from '../../../shared/metrics.ts';
import { RangePicker } from '../../components/charts/chart-card.tsx';
import { RANGE_LABELS } from '../../components/charts/chart-types.ts';
import { PageHeader } from '../../components/page-header.tsx';
import { ErrorState, LoadingState, StaleBanner } from '../../components/states.tsx';
import { href, navigate, withQuery } from '../../router.ts';
import { OverviewCharts } from './components/overview-charts.tsx';
import { StatTiles } from './components/stat-tiles.tsx';
import { WorkflowTable } from './components/workflow-table.tsx';
import { useOverview } from './hooks/use-overview.ts';
import './overview.css';

export function OverviewPage({ query }: { query: URLSearchParams }) {
  const asked = query.get('range');
  const range: MetricsRange = METRICS_RANGES.includes(asked as MetricsRange) ? (asked as MetricsRange) : '1h';
  const workflow = query.get('workflow') || null;
  const { data, view, error, loading, refreshing, refresh } = useOverview(range, workflow);
  const setRange = (r: MetricsRange) => navigate(withQuery('/overview', { range: r, workflow: workflow ?? undefined }), { replace: true });
  return (
    <div className="page" data-testid="page-overview">
      <PageHeader
        title={workflow ?? 'Overview'}
        crumbs={workflow ? <a href={withQuery('#/overview', { range })}>Overview</a> : undefined}
        refreshing={refreshing && !!data}
        subtitle={
          workflow ? (
            <>
              The runs of {workflow} over the last {RANGE_LABELS[range]}. Its custom metrics are on its <a href={href('workflows', workflow)}>workflow page</a>.
            </>
          ) : (
            `How every workflow has been doing over the last ${RANGE_LABELS[range]}: counted by the engines as work happens, written every few seconds.`
          )
        }
        actions={<RangePicker value={range} onChange={setRange} />}
      />
      {data && <StaleBanner error={error} />}
      {loading ? (
        <LoadingState what="metrics" />
      ) : !data || !view ? (
        <ErrorState error={error ?? new Error('no data')} retry={refresh} />
      ) : (
        <>
          <StatTiles series={data} view={view} />
          <OverviewCharts series={data} view={view} />
          {workflow === null && (
            <section className="overview-section">
              <h3 className="section-title">By workflow</h3>
              <WorkflowTable workflows={data.workflows} range={range} />
            </section>
          )}
        </>
      )}
    </div>
  );
}
