import { DagGraph } from '../../../components/dag/dag-graph.tsx';
import { JsonView } from '../../../components/json-view.tsx';
import { PageHeader } from '../../../components/page-header.tsx';
import { RelativeTime } from '../../../components/relative-time.tsx';
import { EmptyState, ErrorState, LoadingState, StaleBanner } from '../../../components/states.tsx';
import { StatusPill } from '../../../components/status-pill.tsx';
import { durationMs, formatDuration, shortId } from '../../../format.ts';
import { useAdminQuery } from '../../../hooks/use-admin-query.ts';
import { href, navigate, withQuery } from '../../../router.ts';
import { useState } from 'react';
import type { Json } from '../../../../shared/types.ts';
import { TriggerForm } from './trigger-form.tsx';
import { CustomMetrics } from './custom-metrics.tsx';

interface PolicyFields {
  name: string;
  retries?: number;
  executionTimeoutMs?: number;
}

/**
 * A task's box on the workflow's graph says how it runs — its retries and its execution timeout —
 * rather than its action ('workflow:task'), which repeats the names around it.
 */
function policyOf(definition: Json, taskName: string): string {
  const d = definition as { kind?: string; task?: PolicyFields; workflow?: { tasks?: PolicyFields[]; onFailure?: PolicyFields | null; onSuccess?: PolicyFields | null } };
  const all = d.kind === 'task' ? [d.task] : [...(d.workflow?.tasks ?? []), d.workflow?.onFailure, d.workflow?.onSuccess];
  const task = all.find((t) => t?.name === taskName);
  if (!task) return 'task';
  const retries = task.retries ?? 0;
  const parts = [retries === 0 ? 'no retries' : `${retries} ${retries === 1 ? 'retry' : 'retries'}`];
  if (task.executionTimeoutMs) parts.push(`${compactDuration(task.executionTimeoutMs)} timeout`);
  return parts.join(' · ');
}

/** "60s", "5m", "1.5s": a configured duration as it was likely written. */
function compactDuration(ms: number): string {
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  return ms % 1000 === 0 ? `${ms / 1000}s` : formatDuration(ms);
}

export function WorkflowDetail({ name, query }: { name: string; query: URLSearchParams }) {
  const details = useAdminQuery(`workflowGet:${name}`, (c) => c.call('workflowGet', { name }), {
    refreshOn: (c) => c.workflows || c.runIds.length > 0,
  });
  const [showDefinition, setShowDefinition] = useState(false);
  const crumbs = <a href={href('workflows')}>Workflows</a>;
  if (details.error && !details.data) {
    return (
      <div className="page" data-testid="page-workflow">
        <PageHeader title={name} crumbs={crumbs} />
        <ErrorState error={details.error} retry={details.refresh} />
      </div>
    );
  }
  if (!details.data) {
    return (
      <div className="page" data-testid="page-workflow">
        <PageHeader title={name} crumbs={crumbs} />
        <LoadingState what={name} />
      </div>
    );
  }
  const { workflow, versions, recentRuns } = details.data;
  const selectedVersion = Number(query.get('version')) || versions[0]?.version;
  const version = versions.find((v) => v.version === selectedVersion) ?? versions[0];
  return (
    <div className="page" data-testid="page-workflow">
      <PageHeader
        crumbs={crumbs}
        title={workflow.name}
        refreshing={details.refreshing}
        subtitle={
          <div className="run-facts">
            <span className="tag">{workflow.kind}</span>
            <span>
              latest <span className="mono">v{workflow.latestVersion}</span>
              {workflow.versionLabel && <span className="muted"> ({workflow.versionLabel})</span>}
            </span>
            {workflow.description && <span className="muted">{workflow.description}</span>}
            {workflow.events.map((e) => (
              <span key={e} className="meta-tag" title="triggered by events matching">
                on {e}
              </span>
            ))}
          </div>
        }
      />
      <StaleBanner error={details.error} />
      <div className="workflow-grid">
        <div className="workflow-main">
          <div className="card">
            <div className="card-head">
              <h3 className="section-title">Versions</h3>
              <div className="version-tabs" role="tablist">
                {versions.map((v) => (
                  <button
                    key={v.version}
                    role="tab"
                    aria-selected={v.version === version?.version}
                    className={`version-tab ${v.version === version?.version ? 'version-tab-active' : ''}`}
                    onClick={() => navigate(withQuery(`/workflows/${encodeURIComponent(name)}`, { version: String(v.version) }), { replace: true })}
                    data-testid={`version-${v.version}`}
                  >
                    <span className="mono">v{v.version}</span>
                    {v.versionLabel && <span className="muted"> {v.versionLabel}</span>}
                    <span className="muted small">
                      {' '}
                      · <RelativeTime iso={v.createdAt} />
                    </span>
                  </button>
                ))}
              </div>
            </div>
            {version && (
              <>
                <DagGraph shape={version.shape} stateOf={(task) => ({ status: 'pending', detail: policyOf(version.definition, task) })} definitionOnly testId="workflow-dag" />
                <div className="card-foot">
                  <span className="muted small mono">checksum {version.checksum.slice(0, 12)}</span>
                  <button className="btn btn-ghost btn-small" onClick={() => setShowDefinition(!showDefinition)}>
                    {showDefinition ? 'Hide definition' : 'Show definition'}
                  </button>
                </div>
                {showDefinition && <JsonView value={version.definition} />}
              </>
            )}
          </div>
          <div className="card">
            <div className="card-head">
              <h3 className="section-title">Recent runs</h3>
              <a className="small" href={withQuery('#/runs', { workflow: name })}>
                All runs of {name} →
              </a>
            </div>
            {recentRuns.length === 0 ? (
              <EmptyState title="No runs yet">Trigger one with the form.</EmptyState>
            ) : (
              <div className="mini-list" data-testid="recent-runs">
                {recentRuns.map((r) => (
                  <a key={r.id} className="mini-row" href={href('runs', r.id)}>
                    <StatusPill status={r.status} />
                    <span className="mono">{shortId(r.id)}</span>
                    <span className="muted">v{r.workflowVersion}</span>
                    <span className={`tag tag-${r.triggerKind}`}>{r.triggerKind}</span>
                    <span className="muted">
                      <RelativeTime iso={r.createdAt} />
                    </span>
                    <span className="mono muted right">{formatDuration(durationMs(r.createdAt, r.finishedAt))}</span>
                  </a>
                ))}
              </div>
            )}
          </div>
          <CustomMetrics name={workflow.name} />
        </div>
        <div className="card workflow-side">
          <h3 className="section-title">Trigger a run</h3>
          <p className="muted small">Runs the latest version (v{workflow.latestVersion}) with this input, then opens the run.</p>
          <TriggerForm name={name} />
        </div>
      </div>
    </div>
  );
}
