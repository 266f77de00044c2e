/** One run: its live DAG (or Gantt timeline), the selected task's panel, its parent and children, the triggering event. */
import { useState } from 'react';
import { DagGraph } from '../../components/dag/dag-graph.tsx';
import { ErrorDetails } from '../../components/error-details.tsx';
import { JsonView } from '../../components/json-view.tsx';
import { PageHeader } from '../../components/page-header.tsx';
import { RelativeTime, useNow } from '../../components/relative-time.tsx';
import { ErrorState, LoadingState, StaleBanner } from '../../components/states.tsx';
import { StatusPill } from '../../components/status-pill.tsx';
import { dateTime, durationMs, formatDuration, shortId } from '../../format.ts';
import { useHotkeys } from '../../hooks/use-hotkeys.ts';
import { href, navigate, withQuery } from '../../router.ts';
import { ChildRuns } from './components/child-runs.tsx';
import { CancelDialog, ReplayDialog } from './components/run-actions.tsx';
import { RunTimeline } from './components/run-timeline.tsx';
import { TaskPanel } from './components/task-panel.tsx';
import { useRunDetails, type DerivedRun } from './hooks/use-run-details.ts';
import './run-detail.css';

type Tab = 'graph' | 'timeline' | 'data';

export function RunDetailPage({ runId, query }: { runId: string; query: URLSearchParams }) {
  const details = useRunDetails(runId);
  const tab = (['graph', 'timeline', 'data'].includes(query.get('tab') ?? '') ? query.get('tab') : 'graph') as Tab;
  const task = query.get('task');
  const go = (next: { tab?: Tab; task?: string | null }) =>
    navigate(withQuery(`/runs/${runId}`, { tab: (next.tab ?? tab) === 'graph' ? undefined : (next.tab ?? tab), task: (next.task === undefined ? task : next.task) ?? undefined }), { replace: true });
  useHotkeys({ Escape: () => task && go({ task: null }) });

  if (details.error && !details.derived) {
    return (
      <div className="page" data-testid="page-run">
        <PageHeader title={`Run ${shortId(runId)}`} crumbs={<a href={href('runs')}>Runs</a>} />
        <ErrorState error={details.error} retry={details.refresh} />
      </div>
    );
  }
  const run = details.derived;
  if (!run) {
    return (
      <div className="page" data-testid="page-run">
        <PageHeader title={`Run ${shortId(runId)}`} crumbs={<a href={href('runs')}>Runs</a>} />
        <LoadingState what="the run" />
      </div>
    );
  }
  const r = run.details.run;
  return (
    <div className="page page-fill" data-testid="page-run">
      <RunHeader run={run} refreshing={details.refreshing} onChanged={details.refresh} onOpenTask={(name) => go({ task: name })} />
      <StaleBanner error={details.error} />
      <div className="tabs" role="tablist">
        {(['graph', 'timeline', 'data'] as const).map((t) => (
          <button key={t} role="tab" aria-selected={tab === t} className={`tab ${tab === t ? 'tab-active' : ''}`} onClick={() => go({ tab: t })} data-testid={`tab-${t}`}>
            {t === 'graph' ? 'Graph' : t === 'timeline' ? 'Timeline' : 'Input & output'}
          </button>
        ))}
      </div>
      <div className="run-body">
        <div className="run-main">
          {tab === 'graph' && (
            <div className="card card-dag">
              <DagGraph shape={run.details.shape} stateOf={run.nodeState} selected={task} onSelect={(name) => go({ task: name === task ? null : name })} />
              <div className="dag-hint muted small">Click a task for its input, output, error, attempts and logs. Drag to pan; Ctrl + wheel zooms.</div>
            </div>
          )}
          {tab === 'timeline' && (
            <div className="card">
              <RunTimeline run={run} selected={task} onSelect={(name) => go({ task: name })} />
            </div>
          )}
          {tab === 'data' && (
            <div className="card data-grid">
              <div>
                <h3 className="section-title">Input</h3>
                <JsonView value={r.input} testId="run-input" />
              </div>
              <div>
                <h3 className="section-title">{r.error ? 'Error' : 'Output'}</h3>
                {r.error ? <ErrorDetails error={r.error} testId="run-error-details" /> : <JsonView value={r.output} testId="run-output" empty={run.ended ? 'null' : 'not finished yet'} />}
              </div>
            </div>
          )}
          <Related run={run} />
        </div>
        {task && <TaskPanel key={task} run={run} taskName={task} onClose={() => go({ task: null })} onChanged={details.refresh} />}
      </div>
    </div>
  );
}

function RunHeader({ run, refreshing, onChanged, onOpenTask }: { run: DerivedRun; refreshing: boolean; onChanged(): void; onOpenTask(taskName: string): void }) {
  const [dialog, setDialog] = useState<'replay' | 'cancel' | null>(null);
  const r = run.details.run;
  const now = useNow(run.ended ? null : 500);
  const parent = run.details.parent;
  const meta = Object.entries(r.metadata);
  const done = () => {
    setDialog(null);
    onChanged();
  };
  return (
    <>
      <PageHeader
        crumbs={
          <>
            <a href={href('runs')}>Runs</a> <span className="muted">/</span> <a href={href('workflows', r.workflowName)}>{r.workflowName}</a>
            {parent && (
              <>
                {' '}
                <span className="muted">· child of</span>{' '}
                <a href={href('runs', parent.runId)} className="mono" data-testid="crumb-parent">
                  {parent.workflowName} {shortId(parent.runId)}
                </a>
              </>
            )}
          </>
        }
        title={
          <>
            <span className="mono">{shortId(r.id)}</span> <StatusPill status={r.status} testId="run-detail-status" />
          </>
        }
        refreshing={refreshing}
        subtitle={
          <>
            <div className="run-facts">
              <span title={r.id} className="mono muted">
                {r.id}
              </span>
              <span>
                <span className="muted">v</span>
                {r.workflowVersion}
              </span>
              <span className={`tag tag-${r.triggerKind}`}>{r.triggerKind}</span>
              <span title={dateTime(r.createdAt)}>
                <span className="muted">created </span>
                <RelativeTime iso={r.createdAt} />
              </span>
              {r.replayedAt && (
                <span title={`replayed ${dateTime(r.replayedAt)}: the duration and the timeline count from here; earlier attempts are in the timeline's history`} data-testid="run-replayed">
                  <span className="muted">replayed </span>
                  <RelativeTime iso={r.replayedAt} />
                </span>
              )}
              <span title={r.replayedAt ? 'since the replay' : 'since it was created'}>
                <span className="muted">duration </span>
                <span className="mono" data-testid="run-duration">
                  {formatDuration(durationMs(run.startedAt, r.finishedAt, now))}
                </span>
              </span>
              {meta.map(([k, v]) => (
                <span key={k} className="meta-tag">
                  {k}={v}
                </span>
              ))}
            </div>
            {r.status === 'failed' && <RunFailure run={run} onOpenTask={onOpenTask} />}
          </>
        }
        actions={
          <>
            <button
              className="btn"
              disabled={!run.ended}
              onClick={() => setDialog('replay')}
              data-testid="replay-run"
              title={run.ended ? (r.status === 'succeeded' ? 'Run tasks of this succeeded run again, from a task you choose' : 'Run the tasks that did not succeed again') : 'The run has not ended yet'}
            >
              Replay run…
            </button>
            <button className="btn btn-danger" disabled={run.ended} onClick={() => setDialog('cancel')} data-testid="cancel-run" title={run.ended ? 'The run has ended' : 'Stop the run'}>
              Cancel run…
            </button>
          </>
        }
      />
      {dialog === 'replay' && <ReplayDialog run={run} fromTask={null} onClose={() => setDialog(null)} onDone={done} />}
      {dialog === 'cancel' && <CancelDialog run={run} onClose={() => setDialog(null)} onDone={done} />}
    </>
  );
}

/** Why a failed run failed: the reason, the task, and the error's message — not only the reason code. */
function RunFailure({ run, onOpenTask }: { run: DerivedRun; onOpenTask(taskName: string): void }) {
  const r = run.details.run;
  const task = run.failedTask;
  const error = r.error ?? task?.error ?? null;
  return (
    <div className="run-failure" role="alert" data-testid="run-failure">
      {r.failureReason && <span className="mono danger">{r.failureReason}</span>}
      {task && (
        <span>
          <span className="muted">in </span>
          <button className="link-inline mono" onClick={() => onOpenTask(task.taskName)} data-testid="run-failure-task">
            {task.taskName}
          </button>
          {task.attempt > 1 && <span className="muted"> after {task.attempt} attempts</span>}
        </span>
      )}
      {error && (
        <span className="run-failure-message" title={error.message} data-testid="run-failure-message">
          {error.name && error.name !== 'Error' ? `${error.name}: ` : ''}
          {error.message}
        </span>
      )}
    </div>
  );
}

function Related({ run }: { run: DerivedRun }) {
  const { events, parent, childCounts } = run.details;
  if (childCounts.total === 0 && events.length === 0 && !parent) return null;
  return (
    <div className="related">
      {events.length > 0 && (
        <div className="card" data-testid="run-event">
          <h3 className="section-title">Triggered by event</h3>
          {events.map((e) => (
            <div key={e.id} className="related-event">
              <a href={withQuery('#/events', { key: e.key })} className="mono strong">
                {e.key}
              </a>
              <span className="muted small">
                {' '}
                {shortId(e.id)} · <RelativeTime iso={e.createdAt} />
              </span>
              <JsonView value={e.payload} />
            </div>
          ))}
        </div>
      )}
      {parent && (
        <div className="card" data-testid="run-parent">
          <h3 className="section-title">Parent</h3>
          <a className="mini-row" href={withQuery(`#/runs/${parent.runId}`, { task: parent.taskName })} data-testid="parent-link">
            <StatusPill status={parent.status} />
            <span>
              <span className="muted">Spawned by task </span>
              <span className="mono strong">{parent.taskName}</span>
              <span className="muted"> of run </span>
              <span className="mono">{shortId(parent.runId)}</span>
              <span className="muted"> ({parent.workflowName})</span>
            </span>
          </a>
          <div className="muted small mono" title="the task run that spawned this run">
            task run {parent.taskRunId}
          </div>
        </div>
      )}
      {childCounts.total > 0 && <ChildRuns runId={run.details.run.id} counts={childCounts} />}
    </div>
  );
}
