/** One run: its live DAG (or Gantt timeline), the selected task's panel, children and the triggering event. */
import { JsonView } from '../../components/json-view.tsx';
import { DagGraph } from '../../components/dag-graph.tsx';
import { PageHeader } from '../../components/page-header.tsx';
import { RelativeTime, useNow } from '../../components/relative-time.tsx';
import { ErrorState, LoadingState, StaleBanner } from '../../components/states.tsx';
import { StatusPill } from '../../components/status-pill.tsx';
import { dateTime, durationMs, formatDuration, shortId } from '../../format.ts';
import { useAction } from '../../hooks/use-admin-query.ts';
import { useHotkeys } from '../../hooks/use-hotkeys.ts';
import { href, navigate, withQuery } from '../../router.ts';
import { useApp, useClient } from '../../state/app-store.ts';
import { RunTimeline } from './components/run-timeline.tsx';
import { TaskPanel } from './components/task-panel.tsx';
import { useRunDetails, type DerivedRun } from './hooks/use-run-details.ts';

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
      <RunHeader run={run} refreshing={details.refreshing} onChanged={details.refresh} />
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
              <div className="dag-hint muted small">Click a task for its input, output, error, attempts and logs.</div>
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
                {r.error ? (
                  <div className="error-box">
                    <div className="error-message">{r.error.message}</div>
                    {r.error.stack && <pre className="stack">{r.error.stack}</pre>}
                  </div>
                ) : (
                  <JsonView value={r.output} testId="run-output" empty={run.ended ? 'null' : 'not finished yet'} />
                )}
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

function RunHeader({ run, refreshing, onChanged }: { run: DerivedRun; refreshing: boolean; onChanged(): void }) {
  const client = useClient();
  const notify = useApp((s) => s.notify);
  const { pending, act } = useAction();
  const r = run.details.run;
  const now = useNow(run.ended ? null : 500);
  const cancel = async () => {
    const result = await act('Cancel run', () => client.call('runsCancel', { runIds: [r.id] }));
    if (result) {
      notify('info', result.cancelled.length ? 'Run cancelled' : 'The run had already ended');
      onChanged();
    }
  };
  const replay = async () => {
    const result = await act('Replay run', () => client.call('runsReplay', { runIds: [r.id] }));
    if (result) {
      notify('info', 'Replaying the tasks that did not succeed');
      onChanged();
    }
  };
  const meta = Object.entries(r.metadata);
  return (
    <PageHeader
      crumbs={
        <>
          <a href={href('runs')}>Runs</a> <span className="muted">/</span> <a href={href('workflows', r.workflowName)}>{r.workflowName}</a>
        </>
      }
      title={
        <>
          <span className="mono">{shortId(r.id)}</span> <StatusPill status={r.status} testId="run-detail-status" />
        </>
      }
      refreshing={refreshing}
      subtitle={
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
          <span>
            <span className="muted">duration </span>
            <span className="mono">{formatDuration(durationMs(r.createdAt, r.finishedAt, now))}</span>
          </span>
          {r.failureReason && <span className="mono danger">{r.failureReason}</span>}
          {meta.map(([k, v]) => (
            <span key={k} className="meta-tag">
              {k}={v}
            </span>
          ))}
        </div>
      }
      actions={
        <>
          <button className="btn" disabled={pending || !run.ended} onClick={() => void replay()} data-testid="replay-run" title={run.ended ? 'Run the tasks that did not succeed again' : 'The run has not ended yet'}>
            Replay run
          </button>
          <button className="btn btn-danger" disabled={pending || run.ended} onClick={() => void cancel()} data-testid="cancel-run">
            Cancel run
          </button>
        </>
      }
    />
  );
}

function Related({ run }: { run: DerivedRun }) {
  const { children, events } = run.details;
  const parent = run.details.run.parentTaskRunId;
  if (children.length === 0 && events.length === 0 && !parent) return null;
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
        <div className="card">
          <h3 className="section-title">Parent</h3>
          <span className="muted">Spawned by task run </span>
          <span className="mono">{parent}</span>
        </div>
      )}
      {children.length > 0 && (
        <div className="card" data-testid="run-children">
          <h3 className="section-title">Child runs ({children.length})</h3>
          <div className="mini-list">
            {children.map((c) => (
              <a key={c.id} className="mini-row" href={href('runs', c.id)}>
                <StatusPill status={c.status} />
                <span className="strong">{c.workflowName}</span>
                <span className="mono muted">{shortId(c.id)}</span>
                <span className="muted">
                  <RelativeTime iso={c.createdAt} />
                </span>
              </a>
            ))}
          </div>
        </div>
      )}
    </div>
  );
}
