import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ADMIN_IPC_PREFIX } from '../../shared/admin-transport.ts';
import { CONNECTION_METHODS, CONNECTIONS_IPC_PREFIX, type ConnectionTarget } from '../../shared/connections-api.ts';
import { CleaverError, errorFromWire } from '../../shared/errors.ts';
import { createBridge } from '../../main/admin-bridge.ts';
import type { ConnectionInfo } from '../../main/connections.ts';
import { connectionsService, registerConnectionsIpc } from '../../main/connections-ipc.ts';
import type { AdminIpcMain } from '../../main/ipc.ts';
import { ProfileStore, type ProfileSafeStorage } from '../../main/profiles.ts';
import { FakeIpcMain, FakeIpcRenderer, FakeWebContents } from './fake-electron.ts';

const RENDERER_FILE = '/opt/Cleaver/dist/renderer/index.html';
const CONSOLE_URL = `${pathToFileURL(RENDERER_FILE).href}#/connections`;
const PASSWORD = 'correct horse%@:/battery';
const URL_PASSWORD = 'typed-into-the-url';

/** "Encrypts" by reversing the bytes; the Linux backend without a keyring, so the store warns. */
const basicTextStorage: ProfileSafeStorage = {
  isEncryptionAvailable: () => true,
  encryptString: (plain) => Buffer.from(Buffer.from(plain, 'utf8').reverse()),
  decryptString: (encrypted) => Buffer.from(encrypted).reverse().toString('utf8'),
  getSelectedStorageBackend: () => 'basic_text',
};

/** Stands in for ConnectionManager: records the targets it is asked to open. */
class FakeManager {
  info: ConnectionInfo | null = { id: 'local', name: 'This computer', mode: 'engine', database: 'PGlite' };
  readonly opened: ConnectionTarget[] = [];
  failWith: Error | null = null;
  async open(target: ConnectionTarget): Promise<ConnectionInfo> {
    this.opened.push(target);
    if (this.failWith) throw this.failWith;
    this.info = target === 'local' ? { id: 'local', name: 'This computer', mode: 'engine', database: 'PGlite' } : { id: target.profileId, name: 'remote', mode: 'administer', database: 'pg' };
    return this.info;
  }
}

let dir: string;
let file: string;
let store: ProfileStore;
let manager: FakeManager;
let ipcMain: FakeIpcMain;
let window: FakeWebContents;
let unregister: () => void;
const trusted = () => ({ sender: window, senderFrame: { url: CONSOLE_URL, parent: null } });
const invoke = (method: string, params: unknown, event: unknown = trusted()) =>
  ipcMain.invoke(event, CONNECTIONS_IPC_PREFIX + method, params) as Promise<{ ok: boolean; data?: any; error?: any }>;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cleaver-conn-ipc-'));
  file = join(dir, 'profiles.json');
  store = await ProfileStore.open({ file, safeStorage: basicTextStorage });
  manager = new FakeManager();
  ipcMain = new FakeIpcMain();
  window = new FakeWebContents();
  unregister = registerConnectionsIpc(ipcMain as unknown as AdminIpcMain, connectionsService({ profiles: store, manager }), {
    renderer: { file: RENDERER_FILE },
    webContents: () => [window],
  });
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('connections IPC in main', () => {
  it('registers exactly one channel per connections method, and unregisters them all', () => {
    expect([...ipcMain.handlers.keys()].sort()).toEqual(CONNECTION_METHODS.map((m) => CONNECTIONS_IPC_PREFIX + m).sort());
    unregister();
    expect(ipcMain.handlers.size).toBe(0);
  });

  it('refuses senders other than the console page in our window, changing nothing', async () => {
    const strangers = {
      'another web contents': { sender: new FakeWebContents(), senderFrame: { url: CONSOLE_URL, parent: null } },
      'a frame inside the console': { sender: window, senderFrame: { url: CONSOLE_URL, parent: {} } },
      'our window after navigating away': { sender: window, senderFrame: { url: 'https://evil.example/', parent: null } },
      'a frame already gone': { sender: window, senderFrame: null },
    };
    for (const [who, event] of Object.entries(strangers)) {
      for (const [method, params] of [
        ['connectionsList', {}],
        ['connectionSave', { name: 'x', url: 'postgres://a@b/c', mode: 'engine', password: PASSWORD }],
        ['connectionOpen', { target: 'local' }],
      ] as const) {
        expect(await invoke(method, params, event), `${who}: ${method}`).toMatchObject({ ok: false, error: { name: 'CleaverError', code: 'UNAUTHORIZED' } });
      }
    }
    expect(store.list()).toEqual([]);
    expect(manager.opened).toEqual([]);
  });

  it('lists the profiles, the current connection and the basic_text storage warning', async () => {
    const listed = await invoke('connectionsList', {});
    expect(listed).toMatchObject({ ok: true, data: { profiles: [], current: { kind: 'local' }, storageWarning: expect.stringContaining('basic_text') } });
  });

  it('saves a profile without ever returning or storing the plaintext password', async () => {
    const saved = await invoke('connectionSave', { name: 'Production', url: `postgres://ops:${URL_PASSWORD}@db.internal:5432/app`, password: PASSWORD, mode: 'administer', schema: 'cleaver' });
    expect(saved).toEqual({
      ok: true,
      data: { id: expect.any(String), name: 'Production', url: 'postgres://ops@db.internal:5432/app', mode: 'administer', schema: 'cleaver', hasPassword: true },
    });
    const listed = await invoke('connectionsList', {});
    const onDisk = await readFile(file, 'utf8');
    for (const [what, text] of [
      ['the save answer', JSON.stringify(saved)],
      ['the list answer', JSON.stringify(listed)],
      ['the profiles file', onDisk],
    ] as const) {
      expect(text, what).not.toContain('battery');
      expect(text, what).not.toContain(URL_PASSWORD);
      expect(text, what).not.toContain(encodeURIComponent(PASSWORD));
    }
    // The explicit password won over the one in the URL, and only main can get it back to connect.
    expect(new URL(store.connectionUrl(saved.data.id)).password).toBe(encodeURIComponent(PASSWORD));

    // Editing without a password keeps the saved one; '' removes it.
    const kept = await invoke('connectionSave', { id: saved.data.id, name: 'Production', url: 'postgres://ops@db.internal:5432/app', mode: 'engine' });
    expect(kept.data).toMatchObject({ mode: 'engine', schema: null, hasPassword: true });
    const cleared = await invoke('connectionSave', { id: saved.data.id, name: 'Production', url: 'postgres://ops@db.internal:5432/app', mode: 'engine', password: '' });
    expect(cleared.data).toMatchObject({ hasPassword: false });
  });

  it('refuses malformed saves with BAD_REQUEST, saying what was wrong', async () => {
    for (const params of [
      null,
      { name: 'x', url: 'postgres://a@b/c', mode: 'sometimes' },
      { name: 'x', url: 'https://example.com', mode: 'engine' },
      { name: 42, url: 'postgres://a@b/c', mode: 'engine' },
      { name: 'x', url: 'postgres://a@b/c', mode: 'engine', password: { toString: 'x' } },
      { name: 'x', url: 'postgres://a@b/c', mode: 'engine', schema: 's'.repeat(64) },
    ]) {
      expect(await invoke('connectionSave', params), JSON.stringify(params)).toMatchObject({ ok: false, error: { code: 'BAD_REQUEST', message: expect.any(String) } });
    }
    expect(store.list()).toEqual([]);
  });

  it('opens a connection through the ConnectionManager and answers which one is current', async () => {
    const { data: profile } = await invoke('connectionSave', { name: 'Staging', url: 'postgres://ops@staging:5432/app', mode: 'administer' });
    await expect(invoke('connectionOpen', { target: { profileId: profile.id } })).resolves.toEqual({ ok: true, data: { current: { kind: 'profile', id: profile.id } } });
    await expect(invoke('connectionsList', {})).resolves.toMatchObject({ ok: true, data: { current: { kind: 'profile', id: profile.id } } });
    await expect(invoke('connectionOpen', { target: 'local' })).resolves.toEqual({ ok: true, data: { current: { kind: 'local' } } });
    expect(manager.opened).toEqual([{ profileId: profile.id }, 'local']);

    for (const params of [{}, { target: 'remote' }, { target: { profileId: '' } }, { target: { id: profile.id } }]) {
      expect(await invoke('connectionOpen', params), JSON.stringify(params)).toMatchObject({ ok: false, error: { code: 'BAD_REQUEST' } });
    }
    expect(manager.opened).toHaveLength(2);
  });

  it('carries a too-new schema refusal as { name, code, message }, rebuilt as the shared error class', async () => {
    const message = '"Production" has a database schema at version 99, newer than this Cleaver knows (version 7); upgrade Cleaver to connect to it';
    manager.failWith = new CleaverError('SCHEMA_TOO_NEW', message);
    const result = await invoke('connectionOpen', { target: { profileId: 'p1' } });
    expect(result).toEqual({ ok: false, error: { name: 'CleaverError', code: 'SCHEMA_TOO_NEW', message } });
    const rebuilt = errorFromWire(result.error);
    expect(rebuilt).toBeInstanceOf(CleaverError);
    expect(rebuilt).toMatchObject({ code: 'SCHEMA_TOO_NEW', message });
  });

  it('refuses to remove the connection open now, and removes others', async () => {
    const { data: a } = await invoke('connectionSave', { name: 'A', url: 'postgres://a@h/db', mode: 'administer' });
    const { data: b } = await invoke('connectionSave', { name: 'B', url: 'postgres://b@h/db', mode: 'engine' });
    await invoke('connectionOpen', { target: { profileId: a.id } });
    await expect(invoke('connectionRemove', { id: a.id })).resolves.toMatchObject({ ok: false, error: { code: 'BAD_REQUEST', message: expect.stringContaining('switch to another connection') } });
    await expect(invoke('connectionRemove', { id: b.id })).resolves.toEqual({ ok: true, data: { removed: true } });
    await expect(invoke('connectionRemove', { id: b.id })).resolves.toEqual({ ok: true, data: { removed: false } });
    expect(store.list().map((p) => p.name)).toEqual(['A']);
  });
});

describe('the preload bridge’s connections', () => {
  it('carries the connections methods to main, and refuses any other name without touching IPC', async () => {
    const ipcRenderer = new FakeIpcRenderer(ipcMain, trusted());
    const bridge = createBridge(ipcRenderer);
    await expect(bridge.connections.call('connectionsList', {})).resolves.toMatchObject({ ok: true, data: { current: { kind: 'local' } } });
    expect(ipcRenderer.invoked).toEqual([`${CONNECTIONS_IPC_PREFIX}connectionsList`]);

    const call = bridge.connections.call as (method: unknown, params: unknown) => Promise<unknown>;
    for (const method of ['runsList', 'engineInfo', 'constructor', '__proto__', `${CONNECTIONS_IPC_PREFIX}connectionsList`, '../connectionOpen', 7, null]) {
      await expect(call(method, {}), String(method)).resolves.toMatchObject({ ok: false, error: { code: 'BAD_REQUEST' } });
    }
    // Nor do the connections methods go through the admin call.
    const adminCall = bridge.call as (method: unknown, params: unknown) => Promise<unknown>;
    await expect(adminCall('connectionOpen', { target: 'local' })).resolves.toMatchObject({ ok: false, error: { code: 'BAD_REQUEST' } });
    expect(ipcRenderer.invoked).toEqual([`${CONNECTIONS_IPC_PREFIX}connectionsList`]);
    expect(ipcRenderer.invoked.some((c) => c.startsWith(ADMIN_IPC_PREFIX))).toBe(false);
    expect(manager.opened).toEqual([]);
  });
});
