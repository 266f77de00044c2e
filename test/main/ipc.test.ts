import { pathToFileURL } from 'node:url';
import { describe, expect, it, vi } from 'vitest';
import { ADMIN_METHODS, type AdminApi, type AdminChange } from '../../shared/admin-api.ts';
import { ADMIN_CHANGE_CHANNEL, ADMIN_IPC_PREFIX } from '../../shared/admin-transport.ts';
import { CleaverError, errorFromWire } from '../../shared/errors.ts';
import { ChangeFeed } from '../../engine/admin/change-feed.ts';
import { createBridge } from '../../main/admin-bridge.ts';
import { forwardChanges, registerAdminIpc, type AdminIpcMain } from '../../main/ipc.ts';
import { FakeIpcMain, FakeIpcRenderer, FakeWebContents } from './fake-electron.ts';

const RENDERER_FILE = '/opt/Cleaver/dist/renderer/index.html';
const CONSOLE_URL = `${pathToFileURL(RENDERER_FILE).href}#/runs`;

/** An admin whose every method records its params and answers `{ method }`. */
function recordingAdmin(overrides: Partial<Record<keyof AdminApi, (params: unknown) => Promise<unknown>>> = {}) {
  const calls: Array<{ method: string; params: unknown }> = [];
  const admin = Object.fromEntries(
    ADMIN_METHODS.map((method) => [
      method,
      async (params: unknown) => {
        calls.push({ method, params });
        return overrides[method] ? overrides[method](params) : { method };
      },
    ]),
  ) as unknown as AdminApi;
  return { admin, calls };
}

function setup(admin: AdminApi | null = recordingAdmin().admin) {
  const ipcMain = new FakeIpcMain();
  const window = new FakeWebContents();
  const unregister = registerAdminIpc(ipcMain as unknown as AdminIpcMain, () => admin, { renderer: { file: RENDERER_FILE }, webContents: () => [window] });
  const trusted = { sender: window, senderFrame: { url: CONSOLE_URL, parent: null } };
  return { ipcMain, window, unregister, trusted };
}

describe('admin IPC in main', () => {
  it('registers exactly one channel per contract method, and unregisters them all', () => {
    const { ipcMain, unregister } = setup();
    expect([...ipcMain.handlers.keys()].sort()).toEqual(ADMIN_METHODS.map((m) => ADMIN_IPC_PREFIX + m).sort());
    unregister();
    expect(ipcMain.handlers.size).toBe(0);
  });

  it('calls the current admin with the params and answers { ok: true, data }', async () => {
    const { admin, calls } = recordingAdmin();
    const { ipcMain, trusted } = setup(admin);
    await expect(ipcMain.invoke(trusted, `${ADMIN_IPC_PREFIX}runsList`, { statuses: ['failed'] })).resolves.toEqual({ ok: true, data: { method: 'runsList' } });
    expect(calls).toEqual([{ method: 'runsList', params: { statuses: ['failed'] } }]);
  });

  it('asks getAdmin on every call, so a connection switch needs no re-registration', async () => {
    const first = recordingAdmin({ engineInfo: async () => 'first' });
    const second = recordingAdmin({ engineInfo: async () => 'second' });
    let current: AdminApi | null = first.admin;
    const ipcMain = new FakeIpcMain();
    const window = new FakeWebContents();
    registerAdminIpc(ipcMain as unknown as AdminIpcMain, () => current, { renderer: { file: RENDERER_FILE }, webContents: () => [window] });
    const event = { sender: window, senderFrame: { url: CONSOLE_URL, parent: null } };
    await expect(ipcMain.invoke(event, `${ADMIN_IPC_PREFIX}engineInfo`, {})).resolves.toEqual({ ok: true, data: 'first' });
    current = null;
    await expect(ipcMain.invoke(event, `${ADMIN_IPC_PREFIX}engineInfo`, {})).resolves.toMatchObject({ ok: false, error: { code: 'CONNECTION' } });
    current = second.admin;
    await expect(ipcMain.invoke(event, `${ADMIN_IPC_PREFIX}engineInfo`, {})).resolves.toEqual({ ok: true, data: 'second' });
  });

  it('refuses senders other than the console page in our window, without calling the admin', async () => {
    const { admin, calls } = recordingAdmin();
    const { ipcMain, window } = setup(admin);
    const strangers = {
      'another web contents': { sender: new FakeWebContents(), senderFrame: { url: CONSOLE_URL, parent: null } },
      'a frame inside the console': { sender: window, senderFrame: { url: CONSOLE_URL, parent: {} } },
      'our window after navigating away': { sender: window, senderFrame: { url: 'https://evil.example/', parent: null } },
      'another local file': { sender: window, senderFrame: { url: 'file:///tmp/evil.html', parent: null } },
      'a frame already gone': { sender: window, senderFrame: null },
    };
    for (const [who, event] of Object.entries(strangers)) {
      const result = await ipcMain.invoke(event, `${ADMIN_IPC_PREFIX}runsCancel`, { filter: {} });
      expect(result, who).toMatchObject({ ok: false, error: { name: 'CleaverError', code: 'UNAUTHORIZED' } });
    }
    expect(calls).toEqual([]);
  });

  it('never throws across IPC: errors travel as { name, code, message }', async () => {
    const { admin } = recordingAdmin({
      runGet: async () => {
        throw new CleaverError('NOT_FOUND', 'no run with id 0190');
      },
      workersList: async () => {
        throw new TypeError('boom');
      },
      eventsList: async () => {
        throw 'a string';
      },
    });
    const { ipcMain, trusted } = setup(admin);
    await expect(ipcMain.invoke(trusted, `${ADMIN_IPC_PREFIX}runGet`, { runId: 'x' })).resolves.toEqual({
      ok: false,
      error: { name: 'CleaverError', code: 'NOT_FOUND', message: 'no run with id 0190' },
    });
    await expect(ipcMain.invoke(trusted, `${ADMIN_IPC_PREFIX}workersList`, {})).resolves.toEqual({ ok: false, error: { name: 'TypeError', code: 'INTERNAL', message: 'boom' } });
    await expect(ipcMain.invoke(trusted, `${ADMIN_IPC_PREFIX}eventsList`, {})).resolves.toEqual({ ok: false, error: { name: 'Error', code: 'INTERNAL', message: 'a string' } });
  });
});

describe('the preload bridge', () => {
  function connected(admin: AdminApi) {
    const { ipcMain, trusted } = setup(admin);
    const ipcRenderer = new FakeIpcRenderer(ipcMain, trusted);
    return { bridge: createBridge(ipcRenderer), ipcRenderer };
  }

  it('carries a call to main and its answer back', async () => {
    const { bridge, ipcRenderer } = connected(recordingAdmin({ runsList: async () => ({ runs: [], nextCursor: null }) }).admin);
    await expect(bridge.call('runsList', { limit: 10 })).resolves.toEqual({ ok: true, data: { runs: [], nextCursor: null } });
    expect(ipcRenderer.invoked).toEqual([`${ADMIN_IPC_PREFIX}runsList`]);
  });

  it('hands the renderer errors it rebuilds into the shared error class with errorFromWire', async () => {
    const { bridge } = connected(
      recordingAdmin({
        runGet: async () => {
          throw new CleaverError('NOT_FOUND', 'no run with id 0190');
        },
      }).admin,
    );
    const result = await bridge.call('runGet', { runId: '0190' });
    if (result.ok) throw new Error('expected a failure');
    const error = errorFromWire(result.error);
    expect(error).toBeInstanceOf(CleaverError);
    expect(error).toMatchObject({ name: 'CleaverError', code: 'NOT_FOUND', message: 'no run with id 0190' });
  });

  it('refuses any method outside the contract without touching IPC', async () => {
    const { bridge, ipcRenderer } = connected(recordingAdmin().admin);
    const call = bridge.call as (method: unknown, params: unknown) => Promise<unknown>;
    for (const method of ['shutdown', 'constructor', '__proto__', 'toString', `${ADMIN_IPC_PREFIX}runsList`, '../runsList', 42, null]) {
      await expect(call(method, {}), String(method)).resolves.toMatchObject({ ok: false, error: { code: 'BAD_REQUEST' } });
    }
    expect(ipcRenderer.invoked).toEqual([]);
  });

  it('answers a failure, not a rejection, when main has no handler', async () => {
    const ipcMain = new FakeIpcMain();
    const bridge = createBridge(new FakeIpcRenderer(ipcMain, {}));
    await expect(bridge.call('engineInfo', {})).resolves.toMatchObject({ ok: false, error: { code: 'CONNECTION' } });
  });

  it('delivers changes without the IPC event, and stops on unsubscribe', () => {
    const ipcRenderer = new FakeIpcRenderer(new FakeIpcMain(), {});
    const bridge = createBridge(ipcRenderer);
    const seen: unknown[][] = [];
    const unsubscribe = bridge.onChange((...args: unknown[]) => seen.push(args));
    const change: AdminChange = { runIds: ['r1'], workers: false, workflows: false };
    ipcRenderer.emit(ADMIN_CHANGE_CHANNEL, { sender: 'the IPC event must not reach the page' }, change);
    unsubscribe();
    ipcRenderer.emit(ADMIN_CHANGE_CHANNEL, {}, change);
    expect(seen).toEqual([[change]]);
  });
});

describe('forwardChanges', () => {
  it('sends each AdminChange on the change channel, and stops once the window is gone', async () => {
    vi.useFakeTimers();
    try {
      const feed = new ChangeFeed();
      const contents = new FakeWebContents();
      forwardChanges(feed, contents);
      feed.runs(['r1', 'r2']);
      feed.workers();
      await vi.advanceTimersByTimeAsync(150);
      expect(contents.sent).toEqual([{ channel: ADMIN_CHANGE_CHANNEL, args: [{ runIds: ['r1', 'r2'], workers: true, workflows: false }] }]);
      contents.destroyed = true;
      feed.runs(['r3']);
      await vi.advanceTimersByTimeAsync(150);
      feed.runs(['r4']);
      await vi.advanceTimersByTimeAsync(150);
      expect(contents.sent).toHaveLength(1);
    } finally {
      vi.useRealTimers();
    }
  });
});
