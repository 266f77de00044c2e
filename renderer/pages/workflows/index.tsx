import type { WorkflowListItem } from '../../../shared/admin-api.ts';
import { PageHeader } from '../../components/page-header.tsx';
import { RelativeTime } from '../../components/relative-time.tsx';
import { EmptyState, ErrorState, LoadingState, StaleBanner } from '../../components/states.tsx';
import { useAdminQuery } from '../../hooks/use-admin-query.ts';
import { useListKeys } from '../../hooks/use-hotkeys.ts';
import { href, navigate } from '../../router.ts';
import { plural } from '../../words.ts';
import { useState } from 'react';
import { WorkflowDetail } from './components/workflow-detail.tsx';
import './workflows.css';

export function WorkflowsPage({ name, query }: { name: string | null; query: URLSearchParams }) {
  if (name) return <WorkflowDetail key={name} name={name} query={query} />;
  return <WorkflowList />;
}

function WorkflowList() {
  // Runs and workers change the figures too.
  const list = useAdminQuery('workflowsList', (c) => c.call('workflowsList', {}), { refreshOn: (c) => c.workflows || c.workers || c.runIds.length > 0, keepPrevious: true });
  const [filter, setFilter] = useState('');
  const runsCap = list.data?.runsCap ?? 0;
  const workflows = (list.data?.workflows ?? []).filter((w) => !filter || w.name.toLowerCase().includes(filter.toLowerCase()));
  const [active] = useListKeys(workflows.length, (i) => workflows[i] && navigate(`/workflows/${encodeURIComponent(workflows[i].name)}`));
  return (
    <div className="page" data-testid="page-workflows">
      <PageHeader
        title="Workflows"
        refreshing={list.refreshing && !!list.data}
        subtitle="Tasks and workflows registered by workers, with how their last day went and whether a connected worker can run them. Open one to see its versions, its graph, its runs, and to trigger it."
      />
      <div className="filters">
        <input className="input" placeholder="Filter by name   ( / )" value={filter} onChange={(e) => setFilter(e.target.value)} data-hotkey-filter data-testid="workflow-name-filter" />
      </div>
      {list.data && <StaleBanner error={list.error} />}
      {list.loading ? (
        <LoadingState what="workflows" />
      ) : list.error && !list.data ? (
        <ErrorState error={list.error} retry={list.refresh} />
      ) : workflows.length === 0 ? (
        <EmptyState title={filter ? 'No workflow matches' : 'No workflows registered yet'} testId="workflows-empty">
          {filter ? (
            'Try another name.'
          ) : (
            <>
              Workflows appear here once a worker that declares them connects. See <a href={href('workers')}>Workers</a> for how to start one.
            </>
          )}
        </EmptyState>
      ) : (
        <div className="table static-table">
          <div className="thead">
            <div className="cell" style={{ flex: 2 }}>Name</div>
            <div className="cell" style={{ width: 96 }}>Kind</div>
            <div className="cell" style={{ width: 80 }}>Version</div>
            <div className="cell" style={{ width: 190 }} title={`Runs created in the last 24 hours (reading at most the newest ${runsCap.toLocaleString('en-US')} of each)`}>
              Runs, last 24 h
            </div>
            <div className="cell" style={{ width: 120 }} title="Of its runs in the last 24 hours that ended: how many succeeded">
              Success
            </div>
            <div className="cell" style={{ flex: 2 }}>Workers</div>
            <div className="cell" style={{ width: 110 }}>Updated</div>
          </div>
          {workflows.map((w, i) => (
            <a key={w.name} className={`row row-static ${active === i ? 'row-active' : ''}`} href={href('workflows', w.name)} data-testid="workflows-row" data-name={w.name}>
              <div className="cell" style={{ flex: 2 }}>
                <span className="strong">{w.name}</span>
                {w.description && <span className="muted small"> — {w.description}</span>}
                {w.events.map((e) => (
                  <span key={e} className="meta-tag" title="triggered by events matching">
                    on {e}
                  </span>
                ))}
              </div>
              <div className="cell" style={{ width: 96 }}>
                <span className="tag">{w.kind}</span>
              </div>
              <div className="cell mono" style={{ width: 80 }}>
                v{w.latestVersion}
                {w.versionLabel && <span className="muted"> {w.versionLabel}</span>}
              </div>
              <div className="cell" style={{ width: 190 }} data-testid="workflow-runs">
                <RecentRuns recent={w.recent} cap={runsCap} />
              </div>
              <div className="cell" style={{ width: 120 }} data-testid="workflow-success">
                <SuccessRate recent={w.recent} />
              </div>
              <div className="cell" style={{ flex: 2 }} data-testid="workflow-workers">
                <Serving workflow={w} />
              </div>
              <div className="cell muted" style={{ width: 110 }}>
                <RelativeTime iso={w.updatedAt} />
              </div>
            </a>
          ))}
        </div>
      )}
    </div>
  );
}

/** "1,532 · 12 failed · 3 running", or "1,000+" past the cap (the runs list has the exact count). */
function RecentRuns({ recent, cap }: { recent: WorkflowListItem['recent']; cap: number }) {
  if (recent.total === 0) return <span className="muted">none</span>;
  const active = recent.byStatus.queued + recent.byStatus.running;
  return (
    <span title={recent.capped ? `More than ${cap.toLocaleString('en-US')}: the figures are of the newest ${cap.toLocaleString('en-US')}; the runs list counts them all` : undefined}>
      <span className="strong">
        {recent.total.toLocaleString('en-US')}
        {recent.capped ? '+' : ''}
      </span>
      {recent.byStatus.failed > 0 && <span className="danger"> · {recent.byStatus.failed.toLocaleString('en-US')} failed</span>}
      {active > 0 && <span className="muted"> · {active.toLocaleString('en-US')} active</span>}
    </span>
  );
}

function SuccessRate({ recent }: { recent: WorkflowListItem['recent'] }) {
  const { succeeded, failed, cancelled } = recent.byStatus;
  const ended = succeeded + failed + cancelled;
  if (ended === 0) return <span className="muted">—</span>;
  const rate = succeeded / ended;
  return (
    <span className={rate < 0.9 ? 'danger' : rate < 0.99 ? 'warn' : 'ok'} title={`${succeeded} of ${plural(ended, 'ended run')} succeeded`}>
      {rate === 1 ? '100' : (Math.floor(rate * 1000) / 10).toFixed(rate > 0.99 ? 1 : 0)}%
    </span>
  );
}

/** How many connected workers offer its tasks, or a warning naming what no worker offers. */
function Serving({ workflow: w }: { workflow: WorkflowListItem }) {
  if (w.workers === 0) {
    return (
      <span className="warn-tag" title={`Its runs wait in the queue until a worker offering ${w.unservedActions.join(', ')} connects`} data-testid="no-worker">
        ⚠ No worker serves this
      </span>
    );
  }
  if (w.unservedActions.length > 0) {
    return (
      <span className="warn-tag" title={`${w.unservedActions.join(', ')}: no connected worker offers ${w.unservedActions.length === 1 ? 'it' : 'them'}; those tasks wait in the queue`} data-testid="partly-served">
        ⚠ No worker for {plural(w.unservedActions.length, 'task')}
      </span>
    );
  }
  return <span className="muted">{plural(w.workers, 'worker')}</span>;
}
