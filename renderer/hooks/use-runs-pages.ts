/**
 * The runs list as keyset pages: the first page, then more as the table scrolls (runsList cursor),
 * kept live by LiveRunsList (live-runs-list.ts): a pushed change reads the first page and the runs it
 * named, the 5 s timer the first page and the rows in view, never the whole loaded list again. New
 * runs appear above, the table keeps its scroll position, and runs that left the filter drop out.
 */
import { useCallback, useEffect, useRef, useState } from 'react';
import type { RunFilter, RunSummary } from '../../shared/admin-api.ts';
import { useClient } from '../state/app-store.ts';
import { LiveRunsList, type RunsListState } from './live-runs-list.ts';
import { REFRESH_MS } from './use-admin-query.ts';

const PAGE_SIZE = 100;

export interface RunsPages {
  runs: RunSummary[];
  hasMore: boolean;
  loading: boolean;
  refreshing: boolean;
  loadingMore: boolean;
  error: Error | null;
  loadMore(): void;
  refresh(): void;
  /** The runs now in view (a virtualized table's rows): the slow timer reads those again. */
  showing(runIds: readonly string[]): void;
}

export function useRunsPages(filter: RunFilter, options: { pageSize?: number } = {}): RunsPages {
  const pageSize = options.pageSize ?? PAGE_SIZE;
  const client = useClient();
  const filterKey = JSON.stringify(filter);
  const [state, setState] = useState<RunsListState>({ runs: [], nextCursor: null, loaded: false, error: null, refreshing: true, loadingMore: false });
  const stateRef = useRef(state);
  stateRef.current = state;
  const list = useRef<LiveRunsList | null>(null);

  useEffect(() => {
    // A new filter starts from its first page, but keeps the old rows on screen until it answers.
    const live = new LiveRunsList({ client, filter: JSON.parse(filterKey) as RunFilter, pageSize, shown: stateRef.current, onState: setState });
    list.current = live;
    live.start();
    const timer = setInterval(() => {
      if (!document.hidden) live.poll();
    }, REFRESH_MS);
    const unsubscribe = client.subscribe((change) => {
      if (change.runIds.length > 0) live.runsChanged(change.runIds);
    });
    return () => {
      live.stop();
      clearInterval(timer);
      unsubscribe();
    };
  }, [client, filterKey, pageSize]);

  const loadMore = useCallback(() => list.current?.loadMore(), []);
  const refresh = useCallback(() => list.current?.refresh(), []);
  const showing = useCallback((runIds: readonly string[]) => list.current?.showing(runIds), []);

  return {
    runs: state.runs,
    hasMore: state.nextCursor !== null,
    loading: !state.loaded,
    refreshing: state.refreshing,
    loadingMore: state.loadingMore,
    error: state.error,
    loadMore,
    refresh,
    showing,
  };
}
