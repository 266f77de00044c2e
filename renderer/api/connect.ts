/** Picks the transport at startup: the desktop app's bridge when the preload put one there, else HTTP. */
import type { AdminBridge } from '../../shared/admin-transport.ts';
import type { AdminClient } from './admin-client.ts';
import { httpClient } from './http-client.ts';
import { ipcClient } from './ipc-client.ts';
import { obtainToken } from './token.ts';

declare global {
  interface Window {
    cleaver?: AdminBridge;
  }
}

export type Connection = { kind: 'ready'; client: AdminClient } | { kind: 'needs-token' };

export async function connect(options: { onUnauthorized: () => void }): Promise<Connection> {
  if (window.cleaver) return { kind: 'ready', client: ipcClient(window.cleaver) };
  const token = await obtainToken();
  if (!token) return { kind: 'needs-token' };
  const baseUrl = new URL('./', location.href).href.replace(/#.*$/, '');
  return { kind: 'ready', client: httpClient({ baseUrl, token, onUnauthorized: options.onUnauthorized }) };
}
