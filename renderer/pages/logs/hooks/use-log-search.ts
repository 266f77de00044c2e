/**
 * A log search as keyset pages: the first page when the search changes, more on request. Lines are
 * not refreshed behind the reader's back (a list that moves while being read is worse than a stale
 * one); `refresh` starts again from the newest.
 */
import { useCallback, useEffect, useRef, useState } from 'react';
import type { LogSearchLine, LogSearchParams } from '../../../../shared/admin-api.ts';
import { toError } from '../../../../shared/errors.ts';
import { useClient } from '../../../state/app-store.ts';

const PAGE_SIZE = 100;

export interface LogSearch {
  lines: LogSearchLine[];
  hasMore: boolean;
  /** True until the first page of this search has answered. */
  loading: boolean;
  /** True while any page is being read. */
  busy: boolean;
  error: Error | null;
  loadMore(): void;
  refresh(): void;
}

export function useLogSearch(params: LogSearchParams): LogSearch {
  const client = useClient();
  const key = JSON.stringify(params);
  const [state, setState] = useState<{ key: string; lines: LogSearchLine[]; cursor: string | null; loaded: boolean; error: Error | null }>({
    key,
    lines: [],
    cursor: null,
    loaded: false,
    error: null,
  });
  const [busy, setBusy] = useState(false);
  // Answers to an older search (or an older refresh) are dropped.
  const generation = useRef(0);
  const stateRef = useRef(state);
  stateRef.current = state;

  const read = useCallback(
    (cursor: string | null) => {
      const gen = generation.current;
      setBusy(true);
      client
        .call('logsSearch', { ...(JSON.parse(key) as LogSearchParams), limit: PAGE_SIZE, ...(cursor ? { cursor } : {}) })
        .then(
          (page) => {
            if (gen !== generation.current) return;
            setState((s) => ({ key, lines: cursor ? [...s.lines, ...page.lines] : page.lines, cursor: page.nextCursor, loaded: true, error: null }));
          },
          (e: unknown) => {
            if (gen === generation.current) setState((s) => ({ ...s, key, loaded: true, error: toError(e) }));
          },
        )
        .finally(() => {
          if (gen === generation.current) setBusy(false);
        });
    },
    [client, key],
  );

  const refresh = useCallback(() => {
    generation.current += 1;
    read(null);
  }, [read]);

  useEffect(() => {
    generation.current += 1;
    setState({ key, lines: [], cursor: null, loaded: false, error: null });
    read(null);
  }, [key, read]);

  const loadMore = useCallback(() => {
    const cursor = stateRef.current.cursor;
    if (cursor && !busy) read(cursor);
  }, [busy, read]);

  const current = state.key === key;
  return {
    lines: current ? state.lines : [],
    hasMore: current && state.cursor !== null,
    loading: !current || !state.loaded,
    busy,
    error: current ? state.error : null,
    loadMore,
    refresh,
  };
}
