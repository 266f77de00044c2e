/**
 * The desktop app's connections contract (shared/connections-api.ts), through the preload's bridge at
 * `window.cleaver.connections`. Absent in the browser console (`cleaver serve` is tied to its own
 * database), where the Connections page does not exist.
 */
import type { ConnectionsApi, ConnectionsMethod } from '../../shared/connections-api.ts';
import { errorFromWire } from '../../shared/errors.ts';

export type ConnectionsParams<M extends ConnectionsMethod> = Parameters<ConnectionsApi[M]>[0];
export type ConnectionsResult<M extends ConnectionsMethod> = Awaited<ReturnType<ConnectionsApi[M]>>;

export interface ConnectionsClient {
  /** Rejects with the shared error class (CleaverError with its code), as AdminClient.call does. */
  call<M extends ConnectionsMethod>(method: M, params: ConnectionsParams<M>): Promise<ConnectionsResult<M>>;
}

/** The connections client when the desktop bridge offers one, else null. */
export function desktopConnections(): ConnectionsClient | null {
  const bridge = window.cleaver?.connections;
  if (!bridge) return null;
  return {
    async call<M extends ConnectionsMethod>(method: M, params: ConnectionsParams<M>): Promise<ConnectionsResult<M>> {
      const result = await bridge.call(method, params);
      if (!result.ok) throw errorFromWire(result.error);
      return result.data as ConnectionsResult<M>;
    },
  };
}
