/**
 * The runs a run's tasks spawned: their true number by status (from runGet), and the runs themselves a
 * page at a time (runsList with parentRunId), filterable by status — a fan-out can have thousands.
 */
import { useMemo, useState } from 'react';
import type { RunDetails } from '../../../../shared/admin-api.ts';
import { RUN_STATUSES, type RunStatus } from '../../../../shared/types.ts';
import { RelativeTime } from '../../../components/relative-time.tsx';
import { Spinner } from '../../../components/states.tsx';
import { StatusPill } from '../../../components/status-pill.tsx';
import { durationMs, formatDuration, shortId } from '../../../format.ts';
import { useRunsPages } from '../../../hooks/use-runs-pages.ts';
import { href, withQuery } from '../../../router.ts';
import { plural } from '../../../words.ts';

const PAGE = 50;

export function ChildRuns({ runId, counts }: { runId: string; counts: RunDetails['childCounts'] }) {
  const [status, setStatus] = useState<RunStatus | null>(null);
  const filter = useMemo(() => ({ parentRunId: runId, ...(status ? { statuses: [status] } : {}) }), [runId, status]);
  const pages = useRunsPages(filter, { pageSize: PAGE });
  const shown = status ? counts.byStatus[status] : counts.total;
  return (
    <div className="card" data-testid="run-children">
      <div className="card-head">
        <h3 className="section-title">
          Child runs <span className="muted" data-testid="child-count">{counts.total.toLocaleString('en-US')}</span>
        </h3>
        <a className="small" href={withQuery('#/runs', { parent: runId })}>
          List them on the Runs page →
        </a>
      </div>
      <div className="chips" role="group" aria-label="Filter child runs by status">
        <button className={`chip ${status === null ? 'chip-active' : ''}`} onClick={() => setStatus(null)} aria-pressed={status === null}>
          all {counts.total.toLocaleString('en-US')}
        </button>
        {RUN_STATUSES.filter((s) => counts.byStatus[s] > 0).map((s) => (
          <button key={s} className={`chip ${status === s ? 'chip-active' : ''}`} onClick={() => setStatus(status === s ? null : s)} aria-pressed={status === s} data-testid={`child-status-${s}`}>
            <span className={`dot dot-${s}`} /> {counts.byStatus[s].toLocaleString('en-US')} {s}
          </button>
        ))}
      </div>
      {pages.loading ? (
        <div className="muted small">
          <Spinner /> Loading child runs…
        </div>
      ) : (
        <div className="mini-list child-list" data-testid="child-list">
          {pages.runs.map((c) => (
            <a key={c.id} className="mini-row" href={href('runs', c.id)} data-testid="child-row">
              <StatusPill status={c.status} />
              <span className="strong">{c.workflowName}</span>
              <span className="mono muted">{shortId(c.id)}</span>
              {c.childCount > 0 && <span className="muted small">{plural(c.childCount, 'child', 'children')}</span>}
              <span className="muted">
                <RelativeTime iso={c.createdAt} />
              </span>
              <span className="mono muted right">{formatDuration(durationMs(c.replayedAt ?? c.createdAt, c.finishedAt))}</span>
            </a>
          ))}
        </div>
      )}
      <div className="list-foot muted small" data-testid="child-paging">
        Showing {pages.runs.length.toLocaleString('en-US')} of {plural(shown, `${status ? `${status} ` : ''}child run`)}
        {pages.hasMore && (
          <button className="btn btn-small" onClick={pages.loadMore} disabled={pages.loadingMore} data-testid="child-more">
            {pages.loadingMore ? 'Loading…' : `Show ${Math.min(PAGE, shown - pages.runs.length).toLocaleString('en-US')} more`}
          </button>
        )}
      </div>
    </div>
  );
}
