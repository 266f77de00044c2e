import { useCallback, useMemo, useState } from 'react';
import type { RunSummary } from '../../../shared/admin-api.ts';
import { PageHeader } from '../../components/page-header.tsx';
import { EmptyState, ErrorState, LoadingState, StaleBanner } from '../../components/states.tsx';
import { useAdminQuery } from '../../hooks/use-admin-query.ts';
import { useHotkeys, useListKeys } from '../../hooks/use-hotkeys.ts';
import { useRunsPages } from '../../hooks/use-runs-pages.ts';
import { href, navigate, withQuery } from '../../router.ts';
import { plural } from '../../words.ts';
import { BulkActions } from './components/bulk-actions.tsx';
import { RunFilters } from './components/run-filters.tsx';
import { RunsTable, tableRows } from './components/runs-table.tsx';
import { groupsChildren, isFiltered, readRunsQuery, runsQueryToUrl, toRunFilter, type RunsQuery } from './filters.ts';
import { useExpandedChildren } from './hooks/use-expanded-children.ts';
import './runs.css';

/** The count is exact up to this many; past it the header says "more than" and offers an exact count. */
const COUNT_UP_TO = 10_000;
/** With a search: each run counted is one whose words were read, and 1,000 keeps the count quick at a million runs. */
const SEARCH_COUNT_UP_TO = 1_000;
/**
 * A count reads up to COUNT_UP_TO runs: under a stream of changes it is read again at most this often
 * (at 400 ms, two counts took a quarter of an embedded engine's time in the 10,000-run live test).
 */
const COUNT_THROTTLE_MS = 2_000;

export function RunsPage({ query }: { query: URLSearchParams }) {
  const q = readRunsQuery(query);
  const queryKey = query.toString();
  const filter = useMemo(() => toRunFilter(q), [queryKey]); // eslint-disable-line react-hooks/exhaustive-deps
  const pages = useRunsPages(filter);
  const children = useExpandedChildren(pages.runs);
  const workflows = useAdminQuery('workflowsList', (c) => c.call('workflowsList', {}), { refreshOn: (c) => c.workflows, keepPrevious: true });
  const [selected, setSelected] = useState<Set<string>>(new Set());

  const rows = useMemo(() => tableRows(pages.runs, pages.hasMore, children.expanded, children.childrenOf), [pages.runs, pages.hasMore, children]);
  const open = useCallback((run: RunSummary) => navigate(`/runs/${run.id}`), []);
  const [active] = useListKeys(rows.length, (i) => {
    const row = rows[i];
    if (row?.kind === 'run') open(row.run);
    else if (row?.kind === 'children-more') children.loadMore(row.parent.id);
  });
  useHotkeys({ Escape: () => setSelected(new Set()) });

  // Every run on screen, children included, by id: what the bulk actions know of the selection.
  const shownRuns = useMemo(() => {
    const byId = new Map<string, RunSummary>();
    for (const row of rows) if (row.kind === 'run') byId.set(row.run.id, row.run);
    return byId;
  }, [rows]);

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
  const allSelected = pages.runs.length > 0 && pages.runs.every((r) => selected.has(r.id));
  const toggleAll = () => setSelected(allSelected ? new Set() : new Set(pages.runs.map((r) => r.id)));

  const filtered = isFiltered(q);
  return (
    <div className="page page-fill" data-testid="page-runs">
      <PageHeader title="Runs" refreshing={pages.refreshing || pages.loadingMore} subtitle={<RunCount q={q} loading={pages.loading} />} />
      <RunFilters value={q} workflows={(workflows.data?.workflows ?? []).map((w) => w.name)} onChange={setQuery} />
      {selected.size > 0 && (
        <BulkActions
          selected={[...selected].map((id) => shownRuns.get(id)).filter((r): r is RunSummary => r !== undefined)}
          onClear={() => setSelected(new Set())}
          onDone={() => {
            setSelected(new Set());
            pages.refresh();
          }}
        />
      )}
      {pages.runs.length > 0 && <StaleBanner error={pages.error} />}
      {pages.loading ? (
        <LoadingState what="runs" />
      ) : pages.error && pages.runs.length === 0 ? (
        <ErrorState error={pages.error} retry={pages.refresh} />
      ) : pages.runs.length === 0 ? (
        filtered ? (
          <EmptyState title="No runs match these filters" testId="runs-empty">
            {q.search.trim() ? 'A search finds whole words, and the start of the last one; try fewer words, or another. ' : ''}Widen the time range or clear a filter.
            {groupsChildren(q) && ' Child runs are listed under their parents: choose "Child runs listed too" to match them on their own.'}
          </EmptyState>
        ) : (
          <EmptyState title="No runs yet" testId="runs-empty">
            Trigger one from <a href={href('workflows')}>Workflows</a>, with <code>cleaver run &lt;name&gt; --input '{'{}'}'</code>, or from your code with{' '}
            <code>await myTask.run(input)</code>.
          </EmptyState>
        )
      ) : (
        <RunsTable
          rows={rows}
          runCount={pages.runs.length}
          hasMore={pages.hasMore}
          loadingMore={pages.loadingMore}
          loadMore={pages.loadMore}
          selected={selected}
          onToggle={toggle}
          onToggleAll={toggleAll}
          allSelected={allSelected}
          active={active}
          onOpen={open}
          expanded={children.expanded}
          onExpand={children.toggle}
          onMoreChildren={children.loadMore}
          onVisible={pages.showing}
        />
      )}
    </div>
  );
}

/**
 * "12 runs (1,500 child runs under them)": exact up to COUNT_UP_TO, else "more than 10,000" with a
 * button for the exact figure (which reads every matching run, so it is asked for, not automatic).
 */
function RunCount({ q, loading }: { q: RunsQuery; loading: boolean }) {
  const [countAll, setCountAll] = useState(false);
  const filter = toRunFilter(q);
  const upTo = countAll ? 10_000_000 : filter.search !== undefined ? SEARCH_COUNT_UP_TO : COUNT_UP_TO;
  const grouped = filter.topLevelOnly === true;
  const key = JSON.stringify(filter);
  const refreshOn = (c: { runIds: string[] }) => c.runIds.length > 0;
  const count = useAdminQuery(`runsCount:${key}:${upTo}`, (c) => c.call('runsCount', { ...filter, upTo }), { keepPrevious: true, refreshOn, throttleMs: COUNT_THROTTLE_MS });
  const { topLevelOnly: _, ...withChildren } = filter;
  const all = useAdminQuery(`runsCount:all:${key}`, (c) => (grouped && !isFiltered(q) ? c.call('runsCount', { ...withChildren, upTo: COUNT_UP_TO }) : Promise.resolve(null)), { keepPrevious: true, refreshOn, throttleMs: COUNT_THROTTLE_MS });
  if (loading || !count.data) return <span>Loading…</span>;
  const n = count.data;
  const what = isFiltered(q) ? 'matching' : '';
  // Only unfiltered: with a filter, matching children may sit under parents that do not match.
  const children = grouped && !isFiltered(q) && all.data ? all.data.count - n.count : 0;
  return (
    <span data-testid="runs-count" data-count={n.exact ? n.count : undefined}>
      {n.exact ? `${plural(n.count, `${what ? `${what} ` : ''}run`)}` : `More than ${plural(n.count, `${what ? `${what} ` : ''}run`)}`}
      {children > 0 && all.data && (
        <span className="muted">
          {' '}
          · {all.data.exact && n.exact ? plural(children, 'child run') : 'and their child runs'} listed under their parents
        </span>
      )}
      {!n.exact && (
        <button className="btn btn-ghost btn-small" onClick={() => setCountAll(true)} disabled={countAll && count.refreshing} data-testid="runs-count-exact" title="Counts every matching run: slow on a very large table">
          {/* Only the count asked for: the capped one is read again under every change. */}
          {countAll && count.refreshing ? 'Counting…' : 'Count them all'}
        </button>
      )}
    </span>
  );
}
