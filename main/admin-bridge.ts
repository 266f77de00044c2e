/**
 * The preload's half of the IPC transport (shared/admin-transport.ts), kept apart from the preload
 * entry so it runs under Node with a fake ipcRenderer. Only the contract's methods reach ipcRenderer:
 * the renderer gets no way to name an arbitrary channel, and never sees the IPC event (which would
 * hand it `sender`).
 */
import { ADMIN_METHODS, type AdminChange } from '../shared/admin-api.ts';
import { ADMIN_CHANGE_CHANNEL, ADMIN_IPC_PREFIX, type AdminBridge, type AdminResult } from '../shared/admin-transport.ts';
import type { WireError } from '../shared/errors.ts';

/** The part of Electron's ipcRenderer the bridge uses. */
export interface BridgeIpcRenderer {
  invoke(channel: string, ...args: unknown[]): Promise<unknown>;
  on(channel: string, listener: (event: unknown, ...args: unknown[]) => void): unknown;
  removeListener(channel: string, listener: (event: unknown, ...args: unknown[]) => void): unknown;
}

/** What `window.cleaver` is in the desktop app. */
export type CleaverBridge = AdminBridge;

const allowed: ReadonlySet<string> = new Set(ADMIN_METHODS);

export function createBridge(ipcRenderer: BridgeIpcRenderer): CleaverBridge {
  return {
    call(method, params) {
      if (typeof method !== 'string' || !allowed.has(method)) {
        return Promise.resolve(failure('BAD_REQUEST', `${JSON.stringify(method)} is not an admin method; the desktop bridge carries only: ${ADMIN_METHODS.join(', ')}`));
      }
      // main answers every call with an AdminResult; a rejection means no handler answered at all.
      return ipcRenderer.invoke(ADMIN_IPC_PREFIX + method, params).then(
        (result) => result as AdminResult<never>,
        (e: unknown) => failure('CONNECTION', `the desktop app did not answer ${method}: ${e instanceof Error ? e.message : String(e)}; restart Cleaver if this persists`),
      );
    },
    onChange(listener) {
      const relay = (_event: unknown, change: unknown) => listener(change as AdminChange);
      ipcRenderer.on(ADMIN_CHANGE_CHANNEL, relay);
      return () => {
        ipcRenderer.removeListener(ADMIN_CHANGE_CHANNEL, relay);
      };
    },
  };
}

function failure(code: WireError['code'], message: string): { ok: false; error: WireError } {
  return { ok: false, error: { name: 'CleaverError', code, message } };
}
