import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import type { AdminChange } from '../../shared/admin-api.ts';
import { ADMIN_IPC_PREFIX } from '../../shared/admin-transport.ts';
import { adminSchemaCheck, type AdminSchemaCheck } from '../../engine/admin/admin-only.ts';
import { createPgliteDriver } from '../../engine/db/pglite/pglite-driver.ts';
import { Engine } from '../../engine/engine.ts';
import { silentLogger } from '../../engine/log.ts';
import { schemaStatus } from '../../engine/sql/migrate.ts';
import { workflowRegister } from '../../engine/sql/workflow-register.ts';
import { ConnectionManager, migrationQuestion } from '../../main/connections.ts';
import { registerAdminIpc, type AdminIpcMain } from '../../main/ipc.ts';
import type { Profile } from '../../main/profiles.ts';
import { DATABASE_URL, describePg, dropSchema, freshSchemaName, openTestPgDriver } from '../driver/drivers.ts';
import { FakeIpcMain, FakeWebContents } from './fake-electron.ts';

/** Profiles as the ProfileStore hands them out; trust auth here, so the URL needs no password. */
function profileSource(profiles: Profile[]) {
  return {
    get: (id: string) => profiles.find((p) => p.id === id),
    connectionUrl: (id: string) => profiles.find((p) => p.id === id)!.url,
  };
}

function profile(id: string, schema: string, mode: Profile['mode']): Profile {
  return { id, name: `${id} profile`, url: DATABASE_URL, mode, schema, hasPassword: false };
}

describePg('ConnectionManager', () => {
  let userDataDir: string;
  const migrated = freshSchemaName('main_administer');
  const empty = freshSchemaName('main_unmigrated');
  const profiles = [profile('administer', migrated, 'administer'), profile('engine', migrated, 'engine'), profile('unmigrated', empty, 'administer')];
  const confirmations: Array<{ profile: string; status: AdminSchemaCheck }> = [];
  let confirm = false;
  /** Replaces the real schema check when set. */
  let fakeCheck: AdminSchemaCheck | null = null;
  let manager: ConnectionManager;
  const changes: AdminChange[] = [];
  // The IPC handlers as the bootstrap registers them: they ask the manager for the admin on every call.
  const ipcMain = new FakeIpcMain();
  const window = new FakeWebContents();
  const event = { sender: window, senderFrame: { url: pathToFileURL('/app/index.html').href, parent: null } };
  const viaIpc = (method: string, params: unknown) => ipcMain.invoke(event, ADMIN_IPC_PREFIX + method, params) as Promise<{ ok: boolean; data?: any; error?: any }>;

  beforeAll(async () => {
    userDataDir = await mkdtemp(join(tmpdir(), 'cleaver-main-'));
    // A database a real engine has run on, so it is migrated the way production ones are.
    const driver = await openTestPgDriver({ schema: migrated });
    const engine = new Engine({ driver, socketPath: null, log: silentLogger });
    await engine.start();
    await engine.stop();
    await workflowRegister(driver, {
      definition: { kind: 'task', task: { name: 'main-test-task', retries: 0, backoff: null, executionTimeoutMs: 60_000, scheduleTimeoutMs: 300_000, defaultPriority: 1 } },
    });
    await driver.close();
    manager = new ConnectionManager({
      userDataDir,
      profiles: profileSource(profiles),
      confirmMigration: async (p, status) => {
        confirmations.push({ profile: p.id, status });
        return confirm;
      },
      log: silentLogger,
      schemaCheck: async (driver) => fakeCheck ?? adminSchemaCheck(driver),
    });
    manager.subscribe((change) => changes.push(change));
    registerAdminIpc(ipcMain as unknown as AdminIpcMain, () => manager.admin, { renderer: { file: '/app/index.html' }, webContents: () => [window] });
  });

  afterAll(async () => {
    await manager?.close();
    await dropSchema(DATABASE_URL, migrated);
    await dropSchema(DATABASE_URL, empty);
    await rm(userDataDir, { recursive: true, force: true });
  });

  // The first open creates and migrates the PGlite database: slow on a loaded machine.
  it('starts the embedded engine on PGlite in userData', { timeout: 120_000 }, async () => {
    const info = await manager.open('local');
    expect(info).toMatchObject({ id: 'local', mode: 'engine' });
    expect(info.database).toContain(join(userDataDir, 'data'));
    const engineInfo = await viaIpc('engineInfo', {});
    expect(engineInfo).toMatchObject({ ok: true, data: { mode: 'engine', listening: [`unix://${join(userDataDir, 'engine.sock')}`] } });
    await expect(viaIpc('runsList', {})).resolves.toEqual({ ok: true, data: { runs: [], nextCursor: null } });
  });

  it('switches to an administer-only profile without a restart, closing the embedded engine first', async () => {
    changes.length = 0;
    const info = await manager.open({ profileId: 'administer' });
    expect(info).toMatchObject({ id: 'administer', name: 'administer profile', mode: 'administer' });
    expect(info.database).not.toContain('PGlite');
    await expect(viaIpc('engineInfo', {})).resolves.toMatchObject({ ok: true, data: { mode: 'admin', listening: [] } });
    await expect(viaIpc('runsList', {})).resolves.toEqual({ ok: true, data: { runs: [], nextCursor: null } });
    // The views were told to refetch everything.
    expect(changes).toContainEqual({ runIds: [], workers: true, workflows: true });
    // PGlite's data dir was released: another opener gets it.
    const pglite = await createPgliteDriver({ dataDir: join(userDataDir, 'data') });
    await pglite.close();
  });

  it('relays the changes made through the new connection', async () => {
    changes.length = 0;
    const triggered = await viaIpc('workflowTrigger', { name: 'main-test-task', input: { n: 1 } });
    expect(triggered).toMatchObject({ ok: true, data: { runId: expect.any(String) } });
    await vi.waitFor(() => expect(changes.flatMap((c) => c.runIds)).toContain(triggered.data.runId));
    await expect(viaIpc('runsList', {})).resolves.toMatchObject({ ok: true, data: { runs: [{ id: triggered.data.runId, workflowName: 'main-test-task' }] } });
  });

  it('switches back to the embedded engine, and to a full engine on the remote database', async () => {
    await expect(manager.open('local')).resolves.toMatchObject({ id: 'local' });
    // The embedded database, not the remote one.
    await expect(viaIpc('runsList', {})).resolves.toMatchObject({ ok: true, data: { runs: [] } });
    await expect(manager.open({ profileId: 'engine' })).resolves.toMatchObject({ id: 'engine', mode: 'engine' });
    await expect(viaIpc('engineInfo', {})).resolves.toMatchObject({ ok: true, data: { mode: 'engine' } });
    await expect(viaIpc('runsList', {})).resolves.toMatchObject({ ok: true, data: { runs: [{ workflowName: 'main-test-task' }] } });
    await expect(manager.open('local')).resolves.toMatchObject({ id: 'local' });
  });

  it('refuses a schema newer than this Cleaver, naming both versions, and keeps the current connection', async () => {
    fakeCheck = { state: 'too-new', current: 99, latest: 7, message: 'newer' };
    try {
      await expect(manager.open({ profileId: 'administer' })).rejects.toMatchObject({ code: 'SCHEMA_TOO_NEW', message: expect.stringMatching(/version 99.*version 7/) });
    } finally {
      fakeCheck = null;
    }
    expect(confirmations).toEqual([]);
    expect(manager.info).toMatchObject({ id: 'local' });
    await expect(viaIpc('runsList', {})).resolves.toMatchObject({ ok: true, data: { runs: [] } });
  });

  it('asks before migrating: declined leaves the database untouched and the connection as it was; accepted migrates', async () => {
    confirm = false;
    await expect(manager.open({ profileId: 'unmigrated' })).rejects.toMatchObject({ code: 'BAD_REQUEST', message: expect.stringMatching(/declined/) });
    expect(confirmations).toHaveLength(1);
    expect(confirmations[0]).toMatchObject({ profile: 'unmigrated', status: { state: 'needs-migration', current: 0 } });
    expect(manager.info).toMatchObject({ id: 'local' });
    await expect(viaIpc('runsList', {})).resolves.toMatchObject({ ok: true });
    const check = await openTestPgDriver({ schema: empty });
    try {
      expect((await schemaStatus(check)).current).toBe(0);
    } finally {
      await check.close();
    }

    confirm = true;
    await expect(manager.open({ profileId: 'unmigrated' })).resolves.toMatchObject({ id: 'unmigrated', mode: 'administer' });
    expect(confirmations).toHaveLength(2);
    await expect(viaIpc('runsList', {})).resolves.toEqual({ ok: true, data: { runs: [], nextCursor: null } });
    const after = await openTestPgDriver({ schema: empty });
    try {
      const status = await schemaStatus(after);
      expect(status.current).toBe(status.latest);
    } finally {
      await after.close();
    }
  });

  it('words the migration question with both versions', () => {
    const q = migrationQuestion(profiles[0]!, { state: 'needs-migration', current: 3, latest: 5, message: 'the database schema is at version 3; this Cleaver needs version 5' });
    expect(q.message).toContain('administer profile');
    expect(q.message).toContain('5');
    expect(q.detail).toContain('version 3');
  });
});
