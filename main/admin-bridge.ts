/**
 * The preload's half of the IPC transport (shared/admin-transport.ts), kept apart from the preload
 * entry so it runs under Node with a fake ipcRenderer. Only the contracts' methods reach ipcRenderer
 * (the admin contract, and the connections contract as `connections`): the renderer gets no way to
 * name an arbitrary channel, and never sees the IPC event (which would hand it `sender`).
 */
import { ADMIN_METHODS, type AdminChange } from '../shared/admin-api.ts';
import { ADMIN_CHANGE_CHANNEL, ADMIN_IPC_PREFIX, type AdminBridge, type AdminResult } from '../shared/admin-transport.ts';
import { CONNECTION_METHODS, CONNECTIONS_IPC_PREFIX, type ConnectionsBridge } from '../shared/connections-api.ts';
import type { WireError } from '../shared/errors.ts';

/** The part of Electron's ipcRenderer the bridge uses. */
export interface BridgeIpcRenderer {
  invoke(channel: string, ...args: unknown[]): Promise<unknown>;
  on(channel: string, listener: (event: unknown, ...args: unknown[]) => void): unknown;
  removeListener(channel: string, listener: (event: unknown, ...args: unknown[]) => void): unknown;
}

/** What `window.cleaver` is in the desktop app. */
export type CleaverBridge = AdminBridge & { connections: ConnectionsBridge };

export function createBridge(ipcRenderer: BridgeIpcRenderer): CleaverBridge {
  return {
    call: contractCaller(ipcRenderer, { prefix: ADMIN_IPC_PREFIX, methods: ADMIN_METHODS, what: 'an admin method' }) as AdminBridge['call'],
    onChange(listener) {
      const relay = (_event: unknown, change: unknown) => listener(change as AdminChange);
      ipcRenderer.on(ADMIN_CHANGE_CHANNEL, relay);
      return () => {
        ipcRenderer.removeListener(ADMIN_CHANGE_CHANNEL, relay);
      };
    },
    connections: {
      call: contractCaller(ipcRenderer, { prefix: CONNECTIONS_IPC_PREFIX, methods: CONNECTION_METHODS, what: 'a connections method' }) as ConnectionsBridge['call'],
    },
  };
}

/** `call(method, params)` for one contract: methods outside `methods` are answered here and never reach IPC. */
function contractCaller(ipcRenderer: BridgeIpcRenderer, contract: { prefix: string; methods: readonly string[]; what: string }) {
  const allowed: ReadonlySet<string> = new Set(contract.methods);
  return (method: unknown, params: unknown): Promise<AdminResult<never>> => {
    if (typeof method !== 'string' || !allowed.has(method)) {
      return Promise.resolve(failure('BAD_REQUEST', `${JSON.stringify(method)} is not ${contract.what}; the desktop bridge carries only: ${contract.methods.join(', ')}`));
    }
    // main answers every call with an AdminResult; a rejection means no handler answered at all.
    return ipcRenderer.invoke(contract.prefix + method, params).then(
      (result) => result as AdminResult<never>,
      (e: unknown) => failure('CONNECTION', `the desktop app did not answer ${method}: ${e instanceof Error ? e.message : String(e)}; restart Cleaver if this persists`),
    );
  };
}

function failure(code: WireError['code'], message: string): { ok: false; error: WireError } {
  return { ok: false, error: { name: 'CleaverError', code, message } };
}
