/**
 * The children shown under expanded parents in the runs list: a page at a time per parent (runsList
 * with parentRunId), refetched — as many as are shown — whenever the list itself refreshes.
 */
import { useCallback, useEffect, useRef, useState } from 'react';
import type { RunSummary } from '../../../../shared/admin-api.ts';
import { toError } from '../../../../shared/errors.ts';
import { useClient } from '../../../state/app-store.ts';

export const CHILD_PAGE = 25;

export interface ChildPage {
  runs: RunSummary[];
  nextCursor: string | null;
  loading: boolean;
  error: Error | null;
}

export function useExpandedChildren(refreshKey: unknown): {
  expanded: ReadonlySet<string>;
  childrenOf(runId: string): ChildPage | undefined;
  toggle(runId: string): void;
  loadMore(runId: string): void;
} {
  const client = useClient();
  const [expanded, setExpanded] = useState<ReadonlySet<string>>(new Set());
  const [pages, setPages] = useState<ReadonlyMap<string, ChildPage>>(new Map());
  const pagesRef = useRef(pages);
  pagesRef.current = pages;

  const fetchPage = useCallback(
    async (runId: string, options: { limit: number; append: boolean }) => {
      const current = pagesRef.current.get(runId);
      setPages((m) => new Map(m).set(runId, { runs: current?.runs ?? [], nextCursor: current?.nextCursor ?? null, loading: true, error: null }));
      try {
        const cursor = options.append ? current?.nextCursor : null;
        const page = await client.call('runsList', { parentRunId: runId, limit: Math.min(1000, options.limit), ...(cursor ? { cursor } : {}) });
        setPages((m) => {
          const before = m.get(runId);
          const runs = options.append ? [...(before?.runs ?? []), ...page.runs.filter((r) => !before?.runs.some((b) => b.id === r.id))] : page.runs;
          return new Map(m).set(runId, { runs, nextCursor: page.nextCursor, loading: false, error: null });
        });
      } catch (e: unknown) {
        setPages((m) => new Map(m).set(runId, { ...(m.get(runId) ?? { runs: [], nextCursor: null }), loading: false, error: toError(e) }));
      }
    },
    [client],
  );

  const expandedRef = useRef(expanded);
  expandedRef.current = expanded;
  const toggle = useCallback(
    (runId: string) => {
      const open = !expandedRef.current.has(runId);
      setExpanded((s) => {
        const next = new Set(s);
        if (open) next.add(runId);
        else next.delete(runId);
        return next;
      });
      if (open) void fetchPage(runId, { limit: CHILD_PAGE, append: false });
    },
    [fetchPage],
  );

  const loadMore = useCallback((runId: string) => void fetchPage(runId, { limit: CHILD_PAGE, append: true }), [fetchPage]);

  // The list refreshed (a change, or its timer): bring the open groups up to date, as many rows as they show.
  useEffect(() => {
    for (const runId of expandedRef.current) {
      const shown = pagesRef.current.get(runId);
      if (shown && !shown.loading) void fetchPage(runId, { limit: Math.max(CHILD_PAGE, shown.runs.length), append: false });
    }
  }, [refreshKey, fetchPage]);

  return { expanded, childrenOf: (runId) => pages.get(runId), toggle, loadMore };
}
