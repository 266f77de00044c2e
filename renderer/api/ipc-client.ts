/** The desktop app's transport: the preload's AdminBridge on window.cleaver (shared/admin-transport.ts). */
import type { AdminChange, AdminMethod } from '../../shared/admin-api.ts';
import type { AdminBridge } from '../../shared/admin-transport.ts';
import { errorFromWire } from '../../shared/errors.ts';
import type { AdminClient, LiveState, Params, Result } from './admin-client.ts';
import { pollRunStream } from './stream-poll.ts';

export function ipcClient(bridge: AdminBridge): AdminClient {
  const call = async <M extends AdminMethod>(method: M, params: Params<M>): Promise<Result<M>> => {
    const result = await bridge.call(method, params);
    if (!result.ok) throw errorFromWire(result.error);
    return result.data as Result<M>;
  };
  return {
    transport: 'ipc',
    call,
    subscribe(listener: (change: AdminChange) => void) {
      return bridge.onChange(listener);
    },
    stream: (runId, handlers) => pollRunStream(call, runId, handlers),
    // IPC is in-process: changes always arrive while the window is open.
    onLiveState(listener: (state: LiveState) => void) {
      listener('live');
      return () => undefined;
    },
    close() {},
  };
}
