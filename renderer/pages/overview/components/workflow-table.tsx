/** Every workflow with something in the range, busiest first; a row drills the Overview down to it. */
import type { MetricsRange, WorkflowMetricsTotals } from '../../../../shared/metrics.ts';
import { EmptyState } from '../../../components/states.tsx';
import { formatDuration } from '../../../format.ts';
import { href, withQuery } from '../../../router.ts';

const count = (n: number) => n.toLocaleString('en-US');

/** Fixed columns, wide enough for their (uppercase) headings; only the workflow's name gives way. */
const COLUMNS = {
  created: { width: 90, flex: 'none' },
  succeeded: { width: 104, flex: 'none' },
  failed: { width: 80, flex: 'none' },
  errorRate: { width: 104, flex: 'none' },
  duration: { width: 124, flex: 'none' },
  queue: { width: 110, flex: 'none' },
  link: { width: 130, flex: 'none' },
} as const;

export function WorkflowTable({ workflows, range }: { workflows: WorkflowMetricsTotals[]; range: MetricsRange }) {
  if (workflows.length === 0) {
    return <EmptyState title="No workflow ran in this range">Runs appear here a few seconds after they are created or end.</EmptyState>;
  }
  return (
    <div className="table static-table" data-testid="overview-workflows">
      <div className="thead">
        <div className="cell" style={{ flex: 2 }}>Workflow</div>
        <div className="cell num" style={COLUMNS.created}>Created</div>
        <div className="cell num" style={COLUMNS.succeeded}>Succeeded</div>
        <div className="cell num" style={COLUMNS.failed}>Failed</div>
        <div className="cell num" style={COLUMNS.errorRate}>Error rate</div>
        <div className="cell num" style={COLUMNS.duration}>Duration p95</div>
        <div className="cell num" style={COLUMNS.queue}>Queue p95</div>
        <div className="cell" style={COLUMNS.link} />
      </div>
      {workflows.map((w) => (
        <div key={w.workflowName} className="row row-static" data-testid="overview-workflow-row" data-name={w.workflowName}>
          <div className="cell strong cell-wrap" style={{ flex: 2 }}>
            <a href={`#${withQuery('/overview', { range, workflow: w.workflowName })}`} title="Show the charts of this workflow only" data-testid="overview-drill">
              {w.workflowName}
            </a>
          </div>
          <div className="cell num mono" style={COLUMNS.created}>{count(w.runsCreated)}</div>
          <div className={`cell num mono ${w.runsSucceeded > 0 ? 'ok' : 'muted'}`} style={COLUMNS.succeeded}>{count(w.runsSucceeded)}</div>
          <div className={`cell num mono ${w.runsFailed > 0 ? 'danger' : 'muted'}`} style={COLUMNS.failed}>
            {count(w.runsFailed)}
          </div>
          <div className="cell num mono" style={COLUMNS.errorRate}>{w.errorRate === null ? '—' : `${Math.round(w.errorRate * 1000) / 10}%`}</div>
          <div className="cell num mono" style={COLUMNS.duration}>{w.durationMs ? formatDuration(w.durationMs.p95) : '—'}</div>
          <div className="cell num mono" style={COLUMNS.queue}>{w.queueMs ? formatDuration(w.queueMs.p95) : '—'}</div>
          <div className="cell small" style={COLUMNS.link}>
            <a href={href('workflows', w.workflowName)}>workflow page →</a>
          </div>
        </div>
      ))}
    </div>
  );
}
