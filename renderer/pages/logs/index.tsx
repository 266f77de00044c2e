import { useMemo } from 'react';
import { PageHeader } from '../../components/page-header.tsx';
import { EmptyState, ErrorState, LoadingState, StaleBanner } from '../../components/states.tsx';
import { useAdminQuery } from '../../hooks/use-admin-query.ts';
import { useListKeys } from '../../hooks/use-hotkeys.ts';
import { navigate, withQuery } from '../../router.ts';
import { plural } from '../../words.ts';
import { LogFilters } from './components/log-filters.tsx';
import { LogResults, runHref } from './components/log-results.tsx';
import { isFiltered, logsQueryToUrl, readLogsQuery, toLogSearch, type LogsQuery } from './filters.ts';
import { useLogSearch } from './hooks/use-log-search.ts';
import './logs.css';

export function LogsPage({ query }: { query: URLSearchParams }) {
  const q = readLogsQuery(query);
  const queryKey = query.toString();
  const params = useMemo(() => toLogSearch(q), [queryKey]); // eslint-disable-line react-hooks/exhaustive-deps
  const search = useLogSearch(params);
  const workflows = useAdminQuery('workflowsList', (c) => c.call('workflowsList', {}), { refreshOn: (c) => c.workflows, keepPrevious: true });
  const [active] = useListKeys(search.lines.length, (i) => {
    const line = search.lines[i];
    if (line) location.hash = runHref(line);
  });
  const setQuery = (next: LogsQuery) => navigate(withQuery('/logs', logsQueryToUrl(next)), { replace: true });
  const filtered = isFiltered(q);

  return (
    <div className="page" data-testid="page-logs">
      <PageHeader
        title="Logs"
        refreshing={search.busy && !search.loading}
        subtitle="What tasks wrote with ctx.log and ctx.logger, across every run, newest first. Each line opens its run at the task that wrote it."
        actions={
          <button className="btn btn-small" onClick={search.refresh} disabled={search.busy} data-testid="logs-refresh" title="Search again from the newest line">
            Refresh
          </button>
        }
      />
      <LogFilters value={q} workflows={(workflows.data?.workflows ?? []).map((w) => w.name)} onChange={setQuery} />
      {search.lines.length > 0 && <StaleBanner error={search.error} />}
      {search.loading ? (
        <LoadingState what="log lines" />
      ) : search.error && search.lines.length === 0 ? (
        <ErrorState error={search.error} retry={search.refresh} />
      ) : search.lines.length === 0 ? (
        filtered ? (
          <EmptyState title="No log lines match" testId="logs-empty">
            Every word must appear in the line's message or its fields (ignoring case); put a phrase in "double quotes" to find it as written, or in 'single quotes'
            when it holds double quotes itself, as a field's JSON does. Lines a task wrote past its task run's cap are not kept, so they are not found.
          </EmptyState>
        ) : (
          <EmptyState title="No log lines yet" testId="logs-empty">
            Tasks write them with <code>ctx.log('message')</code>, or with fields: <code>ctx.logger.info('charged', {'{ orderId, amount }'})</code>.
          </EmptyState>
        )
      ) : (
        <div className="table log-table">
          <div className="thead log-head">
            <span>Time</span>
            <span>Level</span>
            <span>Workflow · task · run · attempt</span>
            <span>Message</span>
          </div>
          <LogResults lines={search.lines} text={q.text} active={active} />
          <div className="load-more">
            {search.hasMore ? (
              <button className="btn btn-small" onClick={search.loadMore} disabled={search.busy} data-testid="logs-load-more">
                Load more
              </button>
            ) : (
              <span className="muted small" data-testid="logs-end">
                {plural(search.lines.length, 'line')}, all that match
              </span>
            )}
          </div>
        </div>
      )}
    </div>
  );
}
