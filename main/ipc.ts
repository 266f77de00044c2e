/**
 * main's half of the IPC transport (shared/admin-transport.ts): one `ipcMain.handle` per contract
 * method, each answering with an AdminResult. Nothing is thrown across IPC: Electron would replace the
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
  const channels = ADMIN_METHODS.map((method) => {
    const channel = ADMIN_IPC_PREFIX + method;
    ipcMain.handle(channel, async (event: AdminInvokeEvent, params: unknown): Promise<AdminResult> => {
      const refusal = senderRefusal(event, trusted);
      if (refusal) return { ok: false, error: { name: 'CleaverError', code: 'UNAUTHORIZED', message: refusal } };
      const admin = getAdmin();
      if (!admin) {
        return { ok: false, error: { name: 'CleaverError', code: 'CONNECTION', message: 'no database is connected right now (a connection is being opened or failed); pick a connection and try again' } };
      }
      try {
        // AdminService checks every params object itself; IPC only carries it.
        const call = admin[method] as (params: unknown) => Promise<unknown>;
        return { ok: true, data: await call.call(admin, params ?? {}) };
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
  if (!trusted.webContents().some((wc) => wc.id === event.sender.id)) return 'admin calls are accepted from the console window only';
  if (!frame || frame.parent !== null) return 'admin calls are accepted from the console page itself, not from frames inside it';
  if (!isRendererUrl(trusted.renderer, frame.url)) return `admin calls are not accepted from ${frame.url}: the console window left the console`;
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
