/**
 * The runs list as keyset pages: the first page, then more as the table scrolls (runsList cursor).
 * Live refreshes refetch what is loaded, in place, from the top — the list keeps its length and the
 * table keeps its scroll position, new runs simply appear above.
 */
import { useCallback, useEffect, useRef, useState } from 'react';
import type { RunFilter, RunListPage, RunSummary } from '../../shared/admin-api.ts';
import { toError } from '../../shared/errors.ts';
import type { AdminClient } from '../api/admin-client.ts';
import { REFRESH_MS } from './use-admin-query.ts';
import { useClient } from '../state/app-store.ts';

const PAGE_SIZE = 100;
/** runsList answers at most this many per call. */
const MAX_LIMIT = 1000;

export interface RunsPages {
  runs: RunSummary[];
  hasMore: boolean;
  loading: boolean;
  refreshing: boolean;
  loadingMore: boolean;
  error: Error | null;
  loadMore(): void;
  refresh(): void;
}

async function fetchCovering(client: AdminClient, filter: RunFilter, count: number, pageSize: number): Promise<{ runs: RunSummary[]; nextCursor: string | null }> {
  const runs: RunSummary[] = [];
  let cursor: string | null = null;
  do {
    const page: RunListPage = await client.call('runsList', { ...filter, limit: Math.min(MAX_LIMIT, Math.max(pageSize, count - runs.length)), ...(cursor ? { cursor } : {}) });
    runs.push(...page.runs);
    cursor = page.nextCursor;
  } while (cursor && runs.length < count);
  return { runs, nextCursor: cursor };
}

export function useRunsPages(filter: RunFilter, options: { pageSize?: number } = {}): RunsPages {
  const pageSize = options.pageSize ?? PAGE_SIZE;
  const client = useClient();
  const filterKey = JSON.stringify(filter);
  const [state, setState] = useState<{ runs: RunSummary[]; nextCursor: string | null; loaded: boolean; error: Error | null }>({
    runs: [],
    nextCursor: null,
    loaded: false,
    error: null,
  });
  const [refreshing, setRefreshing] = useState(true);
  const [loadingMore, setLoadingMore] = useState(false);
  const stateRef = useRef(state);
  stateRef.current = state;
  // One operation at a time: a refresh and a page load must not interleave their writes.
  const busy = useRef(false);
  const refreshAgain = useRef(false);
  const generation = useRef(0);

  const refresh = useCallback(() => {
    if (busy.current) {
      refreshAgain.current = true;
      return;
    }
    busy.current = true;
    const gen = generation.current;
    setRefreshing(true);
    const current = stateRef.current;
    fetchCovering(client, JSON.parse(filterKey) as RunFilter, Math.max(pageSize, current.runs.length), pageSize)
      .then(
        (page) => {
          if (gen === generation.current) setState({ runs: page.runs, nextCursor: page.nextCursor, loaded: true, error: null });
        },
        (e: unknown) => {
          if (gen === generation.current) setState((s) => ({ ...s, loaded: true, error: toError(e) }));
        },
      )
      .finally(() => {
        if (gen !== generation.current) return;
        busy.current = false;
        setRefreshing(false);
        if (refreshAgain.current) {
          refreshAgain.current = false;
          refresh();
        }
      });
  }, [client, filterKey, pageSize]);

  const loadMore = useCallback(() => {
    const current = stateRef.current;
    if (busy.current || !current.nextCursor) return;
    busy.current = true;
    const gen = generation.current;
    setLoadingMore(true);
    client
      .call('runsList', { ...(JSON.parse(filterKey) as RunFilter), limit: pageSize, cursor: current.nextCursor })
      .then(
        (page) => {
          if (gen !== generation.current) return;
          setState((s) => {
            const seen = new Set(s.runs.map((r) => r.id));
            return { ...s, runs: [...s.runs, ...page.runs.filter((r) => !seen.has(r.id))], nextCursor: page.nextCursor, error: null };
          });
        },
        (e: unknown) => {
          if (gen === generation.current) setState((s) => ({ ...s, error: toError(e) }));
        },
      )
      .finally(() => {
        if (gen !== generation.current) return;
        busy.current = false;
        setLoadingMore(false);
        if (refreshAgain.current) {
          refreshAgain.current = false;
          refresh();
        }
      });
  }, [client, filterKey, pageSize, refresh]);

  useEffect(() => {
    generation.current += 1;
    busy.current = false;
    refreshAgain.current = false;
    // A new filter starts from its first page, but keeps the old rows on screen until it answers.
    stateRef.current = { ...stateRef.current, runs: [] };
    refresh();
    const timer = setInterval(() => {
      if (!document.hidden) refresh();
    }, REFRESH_MS);
    let throttle: ReturnType<typeof setTimeout> | null = null;
    const unsubscribe = client.subscribe((change) => {
      if (change.runIds.length === 0 || throttle) return;
      throttle = setTimeout(() => {
        throttle = null;
        refresh();
      }, 500);
    });
    return () => {
      clearInterval(timer);
      if (throttle) clearTimeout(throttle);
      unsubscribe();
    };
  }, [client, refresh]);

  return {
    runs: state.runs,
    hasMore: state.nextCursor !== null,
    loading: !state.loaded,
    refreshing,
    loadingMore,
    error: state.error,
    loadMore,
    refresh,
  };
}
