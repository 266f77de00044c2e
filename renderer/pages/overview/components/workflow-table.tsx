/** Every workflow with something in the range, busiest first; a row drills the Overview down to it. */
import type { MetricsRange, WorkflowMetricsTotals } from '../../../../shared/metrics.ts';
import { EmptyState } from '../../../components/states.tsx';
import { formatDuration } from '../../../format.ts';
import { href, withQuery } from '../../../router.ts';

const count = (n: number) => n.toLocaleString('en-US');

export function WorkflowTable({ workflows, range }: { workflows: WorkflowMetricsTotals[]; range: MetricsRange }) {
  if (workflows.length === 0) {
    return <EmptyState title="No workflow ran in this range">Runs appear here a few seconds after they are created or end.</EmptyState>;
  }
  return (
    <div className="table static-table" data-testid="overview-workflows">
      <div className="thead">
        <div className="cell" style={{ flex: 2 }}>Workflow</div>
        <div className="cell num" style={{ width: 90 }}>Created</div>
        <div className="cell num" style={{ width: 90 }}>Succeeded</div>
        <div className="cell num" style={{ width: 90 }}>Failed</div>
        <div className="cell num" style={{ width: 90 }}>Error rate</div>
        <div className="cell num" style={{ width: 110 }}>Duration p95</div>
        <div className="cell num" style={{ width: 110 }}>Queue p95</div>
        <div className="cell" style={{ width: 120 }} />
      </div>
      {workflows.map((w) => (
        <div key={w.workflowName} className="row row-static" data-testid="overview-workflow-row" data-name={w.workflowName}>
          <div className="cell strong" style={{ flex: 2 }}>
            <a href={`#${withQuery('/overview', { range, workflow: w.workflowName })}`} title="Show the charts of this workflow only" data-testid="overview-drill">
              {w.workflowName}
            </a>
          </div>
          <div className="cell num mono" style={{ width: 90 }}>{count(w.runsCreated)}</div>
          <div className={`cell num mono ${w.runsSucceeded > 0 ? 'ok' : 'muted'}`} style={{ width: 90 }}>{count(w.runsSucceeded)}</div>
          <div className={`cell num mono ${w.runsFailed > 0 ? 'danger' : 'muted'}`} style={{ width: 90 }}>
            {count(w.runsFailed)}
          </div>
          <div className="cell num mono" style={{ width: 90 }}>{w.errorRate === null ? '—' : `${Math.round(w.errorRate * 1000) / 10}%`}</div>
          <div className="cell num mono" style={{ width: 110 }}>{w.durationMs ? formatDuration(w.durationMs.p95) : '—'}</div>
          <div className="cell num mono" style={{ width: 110 }}>{w.queueMs ? formatDuration(w.queueMs.p95) : '—'}</div>
          <div className="cell small" style={{ width: 120 }}>
            <a href={href('workflows', w.workflowName)}>workflow page →</a>
          </div>
        </div>
      ))}
    </div>
  );
}
