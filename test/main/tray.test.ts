import { beforeEach, describe, expect, it, vi } from 'vitest';
import type { AdminApi, AdminChange, WorkerRecord } from '../../shared/admin-api.ts';
import type { ConnectionInfo } from '../../main/connections.ts';
import { followConnections, StatusTray, type TrayElectron } from '../../main/tray.ts';
import { FakeMenu, FakeTray } from './fake-electron.ts';

const electron = { Tray: FakeTray, Menu: FakeMenu } as unknown as TrayElectron;
const LOCAL: ConnectionInfo = { id: 'local', name: 'This computer', mode: 'engine', database: 'PGlite (/x)' };

function worker(status: WorkerRecord['status']): WorkerRecord {
  return { id: 'w', name: 'w', status, slots: 4, busy: 0, held: 0, actions: [], labels: {}, address: 'local', connectedAt: '', lastHeartbeatAt: '', disconnectedAt: null };
}

function makeTray() {
  const actions = { open: 0, quit: 0 };
  const tray = new StatusTray(electron, { icon: 'icon.png', onOpenConsole: () => actions.open++, onQuit: () => actions.quit++ });
  const fake = FakeTray.created.at(-1)!;
  return { tray, fake, actions };
}

beforeEach(() => {
  FakeTray.created.length = 0;
  FakeMenu.built.length = 0;
});

describe('the tray', () => {
  it('offers Open console and Quit, and opens the console on click', () => {
    const { fake, actions } = makeTray();
    expect(fake.toolTip).toBe('Cleaver — not connected');
    expect(fake.menu!.template.map((i) => i.label ?? i.type)).toEqual(['not connected', 'separator', 'Open console', 'Quit']);
    fake.menu!.click('Open console');
    fake.emit('click');
    fake.menu!.click('Quit');
    expect(actions).toEqual({ open: 2, quit: 1 });
  });

  it('shows the connection, its mode and the worker count', () => {
    const { tray, fake } = makeTray();
    tray.show({ state: 'connected', connection: LOCAL, workers: 1 });
    expect(fake.toolTip).toBe('Cleaver — This computer (engine) · 1 worker');
    tray.show({ state: 'connected', connection: { ...LOCAL, name: 'prod', mode: 'administer' }, workers: 3 });
    expect(fake.menu!.template[0]).toMatchObject({ label: 'prod (administer only) · 3 workers', enabled: false });
  });

  it('follows the connection: refreshes the worker count when workers change, not on every run change', async () => {
    const { tray, fake } = makeTray();
    const listeners = new Set<(change: AdminChange) => void>();
    const connectionListeners = new Set<(info: ConnectionInfo | null) => void>();
    let workers = [worker('active'), worker('draining')];
    const workersList = vi.fn(async () => ({ workers }));
    const source = {
      admin: { workersList } as unknown as AdminApi,
      info: LOCAL as ConnectionInfo | null,
      subscribe: (l: (change: AdminChange) => void) => {
        listeners.add(l);
        return () => listeners.delete(l);
      },
      onConnection: (l: (info: ConnectionInfo | null) => void) => {
        connectionListeners.add(l);
        return () => connectionListeners.delete(l);
      },
    };
    const stop = followConnections(tray, source);
    await vi.waitFor(() => expect(fake.toolTip).toBe('Cleaver — This computer (engine) · 2 workers'));
    for (const l of listeners) l({ runIds: ['r'], workers: false, workflows: false });
    expect(workersList).toHaveBeenCalledTimes(1);
    workers = [worker('active'), worker('draining'), worker('active')];
    for (const l of listeners) l({ runIds: [], workers: true, workflows: false });
    await vi.waitFor(() => expect(fake.toolTip).toContain('3 workers'));
    // A switch starts: the old connection is gone before the new one is there.
    source.info = null;
    for (const l of connectionListeners) l(null);
    await vi.waitFor(() => expect(fake.toolTip).toBe('Cleaver — not connected'));
    stop();
    expect(listeners.size + connectionListeners.size).toBe(0);
  });

  it('says the count is unknown when the database cannot tell', async () => {
    const { tray, fake } = makeTray();
    const admin = { workersList: async () => Promise.reject(new Error('connection refused')) } as unknown as AdminApi;
    followConnections(tray, { admin, info: LOCAL, subscribe: () => () => undefined, onConnection: () => () => undefined });
    await vi.waitFor(() => expect(fake.toolTip).toBe('Cleaver — This computer (engine) · workers unknown'));
  });
});
