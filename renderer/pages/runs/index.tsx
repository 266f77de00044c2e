import { useCallback, useMemo, useState } from 'react';
import type { RunSummary } from '../../../shared/admin-api.ts';
import { PageHeader } from '../../components/page-header.tsx';
import { EmptyState, ErrorState, LoadingState, StaleBanner } from '../../components/states.tsx';
import { useAction, useAdminQuery } from '../../hooks/use-admin-query.ts';
import { useHotkeys, useListKeys } from '../../hooks/use-hotkeys.ts';
import { href, navigate, withQuery } from '../../router.ts';
import { useApp, useClient } from '../../state/app-store.ts';
import { RunFilters } from './components/run-filters.tsx';
import { RunsTable } from './components/runs-table.tsx';
import { readRunsQuery, runsQueryToUrl, toRunFilter, type RunsQuery } from './filters.ts';
import { useRunsPages } from './hooks/use-runs-pages.ts';

export function RunsPage({ query }: { query: URLSearchParams }) {
  const client = useClient();
  const q = readRunsQuery(query);
  const queryKey = query.toString();
  const filter = useMemo(() => toRunFilter(q), [queryKey]); // eslint-disable-line react-hooks/exhaustive-deps
  const pages = useRunsPages(filter);
  const workflows = useAdminQuery('workflowsList', (c) => c.call('workflowsList', {}), { refreshOn: (c) => c.workflows, keepPrevious: true });
  const [selected, setSelected] = useState<Set<string>>(new Set());
  const { pending, act } = useAction();
  const notify = useApp((s) => s.notify);

  const open = useCallback((run: RunSummary) => navigate(`/runs/${run.id}`), []);
  const [active] = useListKeys(pages.runs.length, (i) => pages.runs[i] && open(pages.runs[i]));
  useHotkeys({ Escape: () => setSelected(new Set()) });

  const setQuery = (next: RunsQuery) => {
    setSelected(new Set());
    navigate(withQuery('/runs', runsQueryToUrl(next)), { replace: true });
  };
  const toggle = (id: string) =>
    setSelected((s) => {
      const next = new Set(s);
      if (next.has(id)) next.delete(id);
      else next.add(id);
      return next;
    });
  const toggleAll = () => setSelected((s) => (pages.runs.length > 0 && pages.runs.every((r) => s.has(r.id)) ? new Set() : new Set(pages.runs.map((r) => r.id))));

  const bulk = async (what: 'cancel' | 'replay') => {
    const runIds = [...selected];
    const result =
      what === 'cancel'
        ? await act('Cancel', () => client.call('runsCancel', { runIds }).then((r) => r.cancelled.length))
        : await act('Replay', () => client.call('runsReplay', { runIds }).then((r) => r.replayed.length));
    if (result === undefined) return;
    notify('info', what === 'cancel' ? `Cancelled ${result} of ${runIds.length} run(s) (runs already ended are left as they are)` : `Replaying ${result} of ${runIds.length} run(s)`);
    setSelected(new Set());
    pages.refresh();
  };

  const filtered = Object.keys(filter).length > 0;
  return (
    <div className="page page-fill" data-testid="page-runs">
      <PageHeader title="Runs" refreshing={pages.refreshing || pages.loadingMore} subtitle={pages.loading ? 'Loading…' : `${pages.runs.length}${pages.hasMore ? '+' : ''} run${pages.runs.length === 1 ? '' : 's'}${filtered ? ' matching' : ''}`} />
      <RunFilters value={q} workflows={(workflows.data?.workflows ?? []).map((w) => w.name)} onChange={setQuery} />
      {selected.size > 0 && (
        <div className="bulk-bar" data-testid="bulk-bar">
          <span>
            <strong>{selected.size}</strong> selected
          </span>
          <button className="btn btn-small" disabled={pending} onClick={() => void bulk('cancel')} data-testid="bulk-cancel">
            Cancel runs
          </button>
          <button className="btn btn-small" disabled={pending} onClick={() => void bulk('replay')} data-testid="bulk-replay">
            Replay runs
          </button>
          <button className="btn btn-ghost btn-small" onClick={() => setSelected(new Set())}>
            Clear <kbd>esc</kbd>
          </button>
        </div>
      )}
      {pages.runs.length > 0 && <StaleBanner error={pages.error} />}
      {pages.loading ? (
        <LoadingState what="runs" />
      ) : pages.error && pages.runs.length === 0 ? (
        <ErrorState error={pages.error} retry={pages.refresh} />
      ) : pages.runs.length === 0 ? (
        filtered ? (
          <EmptyState title="No runs match these filters" testId="runs-empty">
            Widen the time range or clear a filter.
          </EmptyState>
        ) : (
          <EmptyState title="No runs yet" testId="runs-empty">
            Trigger one from <a href={href('workflows')}>Workflows</a>, with <code>cleaver run &lt;name&gt; --input '{'{}'}'</code>, or from your code with{' '}
            <code>await myTask.run(input)</code>.
          </EmptyState>
        )
      ) : (
        <RunsTable
          runs={pages.runs}
          hasMore={pages.hasMore}
          loadingMore={pages.loadingMore}
          loadMore={pages.loadMore}
          selected={selected}
          onToggle={toggle}
          onToggleAll={toggleAll}
          active={active}
          onOpen={open}
        />
      )}
    </div>
  );
}
