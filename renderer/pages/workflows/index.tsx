import { PageHeader } from '../../components/page-header.tsx';
import { RelativeTime } from '../../components/relative-time.tsx';
import { EmptyState, ErrorState, LoadingState, StaleBanner } from '../../components/states.tsx';
import { useAdminQuery } from '../../hooks/use-admin-query.ts';
import { useListKeys } from '../../hooks/use-hotkeys.ts';
import { href, navigate } from '../../router.ts';
import { useState } from 'react';
import { WorkflowDetail } from './components/workflow-detail.tsx';

export function WorkflowsPage({ name, query }: { name: string | null; query: URLSearchParams }) {
  if (name) return <WorkflowDetail key={name} name={name} query={query} />;
  return <WorkflowList />;
}

function WorkflowList() {
  const list = useAdminQuery('workflowsList', (c) => c.call('workflowsList', {}), { refreshOn: (c) => c.workflows, keepPrevious: true });
  const [filter, setFilter] = useState('');
  const workflows = (list.data?.workflows ?? []).filter((w) => !filter || w.name.toLowerCase().includes(filter.toLowerCase()));
  const [active] = useListKeys(workflows.length, (i) => workflows[i] && navigate(`/workflows/${encodeURIComponent(workflows[i].name)}`));
  return (
    <div className="page" data-testid="page-workflows">
      <PageHeader title="Workflows" refreshing={list.refreshing && !!list.data} subtitle="Tasks and workflows registered by workers. Open one to see its versions, its graph, its runs, and to trigger it." />
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
            <div className="cell" style={{ width: 90 }}>Kind</div>
            <div className="cell" style={{ width: 90 }}>Version</div>
            <div className="cell" style={{ flex: 2 }}>Events</div>
            <div className="cell" style={{ width: 140 }}>Updated</div>
          </div>
          {workflows.map((w, i) => (
            <a key={w.name} className={`row row-static ${active === i ? 'row-active' : ''}`} href={href('workflows', w.name)} data-testid="workflows-row" data-name={w.name}>
              <div className="cell" style={{ flex: 2 }}>
                <span className="strong">{w.name}</span>
                {w.description && <span className="muted small"> — {w.description}</span>}
              </div>
              <div className="cell" style={{ width: 90 }}>
                <span className="tag">{w.kind}</span>
              </div>
              <div className="cell mono" style={{ width: 90 }}>
                v{w.latestVersion}
                {w.versionLabel && <span className="muted"> {w.versionLabel}</span>}
              </div>
              <div className="cell" style={{ flex: 2 }}>
                {w.events.length ? w.events.map((e) => <span key={e} className="meta-tag">{e}</span>) : <span className="muted">—</span>}
              </div>
              <div className="cell muted" style={{ width: 140 }}>
                <RelativeTime iso={w.updatedAt} />
              </div>
            </a>
          ))}
        </div>
      )}
    </div>
  );
}
