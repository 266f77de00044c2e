/**
 * Reads from the engine and keeps the result fresh: again when a pushed change concerns it, and every
 * 5 s regardless (changes made by other engines sharing the database are not pushed). A refresh never
 * blanks what is shown: the last data stays on screen with `refreshing` set, and a slow query is not
 * started again until it answers.
 */
import { useCallback, useEffect, useRef, useState } from 'react';
import type { AdminChange } from '../../shared/admin-api.ts';
import { toError } from '../../shared/errors.ts';
import type { AdminClient } from '../api/admin-client.ts';
import { useApp, useClient } from '../state/app-store.ts';

export const REFRESH_MS = 5000;
/** Pushed changes come every ~100 ms under load; views need not redraw that often. */
const CHANGE_THROTTLE_MS = 400;

export interface QueryState<T> {
  data: T | undefined;
  error: Error | null;
  /** True until the first answer for this key. */
  loading: boolean;
  /** True while any request is in flight (the shown data may be stale). */
  refreshing: boolean;
  refresh(): void;
}

export function useAdminQuery<T>(
  key: string,
  fetcher: (client: AdminClient) => Promise<T>,
  options: {
    refreshOn?: (change: AdminChange) => boolean;
    keepPrevious?: boolean;
    /** How long pushed changes are gathered into one refresh (default CHANGE_THROTTLE_MS). */
    throttleMs?: number;
  } = {},
): QueryState<T> {
  const client = useClient();
  const [state, setState] = useState<{ key: string; data: T | undefined; error: Error | null; refreshing: boolean }>({
    key,
    data: undefined,
    error: null,
    refreshing: true,
  });
  const fetcherRef = useRef(fetcher);
  fetcherRef.current = fetcher;
  const refreshOnRef = useRef(options.refreshOn);
  refreshOnRef.current = options.refreshOn;
  const throttleMs = options.throttleMs ?? CHANGE_THROTTLE_MS;
  const inFlight = useRef(false);
  const again = useRef(false);
  const generation = useRef(0);

  const run = useCallback(() => {
    if (inFlight.current) {
      again.current = true;
      return;
    }
    inFlight.current = true;
    const gen = generation.current;
    setState((s) => (s.refreshing ? s : { ...s, refreshing: true }));
    fetcherRef.current(client).then(
      (data) => {
        if (gen === generation.current) setState({ key, data, error: null, refreshing: false });
      },
      (e: unknown) => {
        if (gen === generation.current) setState((s) => ({ ...s, key, error: toError(e), refreshing: false }));
      },
    ).finally(() => {
      inFlight.current = false;
      if (gen !== generation.current) return;
      if (again.current) {
        again.current = false;
        run();
      }
    });
  }, [client, key]);

  useEffect(() => {
    generation.current += 1;
    inFlight.current = false;
    again.current = false;
    if (!options.keepPrevious) setState({ key, data: undefined, error: null, refreshing: true });
    run();
    const timer = setInterval(() => {
      if (!document.hidden) run();
    }, REFRESH_MS);
    let throttle: ReturnType<typeof setTimeout> | null = null;
    const unsubscribe = client.subscribe((change) => {
      if (!refreshOnRef.current?.(change) || throttle) return;
      throttle = setTimeout(() => {
        throttle = null;
        run();
      }, throttleMs);
    });
    return () => {
      clearInterval(timer);
      if (throttle) clearTimeout(throttle);
      unsubscribe();
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [run, throttleMs]);

  return {
    data: state.data,
    error: state.error,
    loading: state.data === undefined && state.error === null,
    refreshing: state.refreshing,
    refresh: run,
  };
}

/** Runs an action (cancel, replay, trigger…), reporting its error as a notice; resolves undefined on failure. */
export function useAction(): { pending: boolean; act<T>(what: string, action: () => Promise<T>): Promise<T | undefined> } {
  const [pending, setPending] = useState(false);
  const act = useCallback(async <T,>(what: string, action: () => Promise<T>) => {
    setPending(true);
    try {
      return await action();
    } catch (e: unknown) {
      useApp.getState().notify('error', `${what}: ${toError(e).message}`);
      return undefined;
    } finally {
      setPending(false);
    }
  }, []);
  return { pending, act };
}
