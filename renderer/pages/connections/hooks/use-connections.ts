/**
 * The saved connections and which one is open, from main. Fetched again after every change this page
 * makes, and when main announces a switch (its change feed says everything changed), so the mark on
 * the current connection is never stale.
 */
import { useCallback, useEffect, useState } from 'react';
import type { ConnectionsList } from '../../../../shared/connections-api.ts';
import { toError } from '../../../../shared/errors.ts';
import type { ConnectionsClient } from '../../../api/connections-client.ts';
import { useClient } from '../../../state/app-store.ts';

export interface ConnectionsState {
  data: ConnectionsList | undefined;
  error: Error | null;
  refresh(): void;
}

export function useConnections(connections: ConnectionsClient): ConnectionsState {
  const admin = useClient();
  const [state, setState] = useState<{ data: ConnectionsList | undefined; error: Error | null }>({ data: undefined, error: null });
  const refresh = useCallback(() => {
    connections.call('connectionsList', {}).then(
      (data) => setState({ data, error: null }),
      (e: unknown) => setState((s) => ({ ...s, error: toError(e) })),
    );
  }, [connections]);
  useEffect(() => {
    refresh();
    return admin.subscribe((change) => {
      if (change.workers && change.workflows) refresh();
    });
  }, [admin, refresh]);
  return { ...state, refresh };
}
