/**
 * main's half of the IPC transport (shared/admin-transport.ts): one `ipcMain.handle` per contract
 * method, each answering with an AdminResult. connections-ipc.ts registers the connections contract
 * the same way (registerContractIpc). Nothing is thrown across IPC: Electron would replace the
 * error with a generic "Error invoking remote method" and lose its code.
 */
import type { IpcMain, IpcMainInvokeEvent } from 'electron';
import { ADMIN_METHODS, type AdminApi, type AdminChange } from '../shared/admin-api.ts';
import { ADMIN_CHANGE_CHANNEL, ADMIN_IPC_PREFIX, type AdminResult } from '../shared/admin-transport.ts';
import { CleaverError, toError, type WireError } from '../shared/errors.ts';
import { isRendererUrl, type RendererLocation } from './window.ts';

export type AdminIpcMain = Pick<IpcMain, 'handle' | 'removeHandler'>;

/** Who may call: the console's own main frame, in one of our windows, showing the console. */
export interface TrustedSenders {
  renderer: RendererLocation;
  /** The web contents of the console windows open now. */
  webContents(): ReadonlyArray<{ readonly id: number }>;
}

export type AdminInvokeEvent = Pick<IpcMainInvokeEvent, 'sender' | 'senderFrame'>;

export function registerAdminIpc(ipcMain: AdminIpcMain, getAdmin: () => AdminApi | null, trusted: TrustedSenders): () => void {
  return registerContractIpc(ipcMain, {
    prefix: ADMIN_IPC_PREFIX,
    methods: ADMIN_METHODS,
    trusted,
    target: getAdmin,
    unavailable: 'no database is connected right now (a connection is being opened or failed); pick a connection and try again',
  });
}

/**
 * One `ipcMain.handle` per method of a contract (`prefix + method`), shared by the admin and the
 * connections contracts: callers checked, the implementation asked for on every call (so a
 * connection switch needs no re-registration), the answer always an AdminResult.
 */
export function registerContractIpc<Api extends object>(
  ipcMain: AdminIpcMain,
  options: {
    prefix: string;
    methods: ReadonlyArray<keyof Api & string>;
    trusted: TrustedSenders;
    /** The implementation now; null while there is none (answered with a CONNECTION error saying `unavailable`). */
    target: () => Api | null;
    unavailable?: string;
  },
): () => void {
  const channels = options.methods.map((method) => {
    const channel = options.prefix + method;
    ipcMain.handle(channel, async (event: AdminInvokeEvent, params: unknown): Promise<AdminResult> => {
      const refusal = senderRefusal(event, options.trusted);
      if (refusal) return { ok: false, error: { name: 'CleaverError', code: 'UNAUTHORIZED', message: refusal } };
      const api = options.target();
      if (!api) return { ok: false, error: { name: 'CleaverError', code: 'CONNECTION', message: options.unavailable ?? 'the desktop app cannot answer right now; try again' } };
      try {
        // The implementation checks every params object itself; IPC only carries it.
        const call = api[method] as unknown as (params: unknown) => Promise<unknown>;
        return { ok: true, data: await call.call(api, params ?? {}) };
      } catch (e: unknown) {
        return { ok: false, error: toWireError(e) };
      }
    });
    return channel;
  });
  return () => {
    for (const channel of channels) ipcMain.removeHandler(channel);
  };
}

function senderRefusal(event: AdminInvokeEvent, trusted: TrustedSenders): string | null {
  const frame = event.senderFrame;
  if (!trusted.webContents().some((wc) => wc.id === event.sender.id)) return 'calls are accepted from the console window only';
  if (!frame || frame.parent !== null) return 'calls are accepted from the console page itself, not from frames inside it';
  if (!isRendererUrl(trusted.renderer, frame.url)) return `calls are not accepted from ${frame.url}: the console window left the console`;
  return null;
}

export function toWireError(thrown: unknown): WireError {
  if (thrown instanceof CleaverError) return thrown.toWire();
  const error = toError(thrown);
  return { name: error.name, code: 'INTERNAL', message: error.message };
}

/** Where changes come from (ChangeFeed, or ConnectionManager relaying whichever feed is current). */
export interface ChangeSource {
  subscribe(listener: (change: AdminChange) => void): () => void;
}

export type ChangeTarget = { send(channel: string, ...args: unknown[]): void; isDestroyed(): boolean };

/** Pushes every AdminChange to the window; returns a function that stops. Stops by itself once the window is gone. */
export function forwardChanges(feed: ChangeSource, webContents: ChangeTarget): () => void {
  const unsubscribe = feed.subscribe((change) => {
    if (webContents.isDestroyed()) {
      unsubscribe();
      return;
    }
    webContents.send(ADMIN_CHANGE_CHANNEL, change);
  });
  return unsubscribe;
}
