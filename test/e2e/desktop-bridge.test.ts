// The desktop app's console without Electron: the BUILT renderer (dist/renderer) in chromium, its
// `window.cleaver` a bridge whose calls reach Node, where the REAL preload bridge (main/admin-bridge.ts)
// talks over an in-memory ipcMain/ipcRenderer pair to the REAL handlers (main/ipc.ts,
// main/connections-ipc.ts) on a real ConnectionManager: an embedded PGlite engine and Postgres
// profiles. What a user does on the Connections screen, end to end. Screenshots land in
// test-results/screenshots/connections-*.png for a reviewer.
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AdminChange } from '../../shared/admin-api.ts';
import { ADMIN_CHANGE_CHANNEL } from '../../shared/admin-transport.ts';
import type { AdminSchemaCheck } from '../../engine/admin/admin-only.ts';
import { Engine } from '../../engine/engine.ts';
import { silentLogger } from '../../engine/log.ts';
import { migrate } from '../../engine/sql/migrate.ts';
import { workflowRegister } from '../../engine/sql/workflow-register.ts';
import { createBridge, type CleaverBridge } from '../../main/admin-bridge.ts';
import { ConnectionManager } from '../../main/connections.ts';
import { connectionsService, registerConnectionsIpc } from '../../main/connections-ipc.ts';
import { forwardChanges, registerAdminIpc, type AdminIpcMain } from '../../main/ipc.ts';
import { ProfileStore, type ProfileSafeStorage } from '../../main/profiles.ts';
import { ROOT, removeDir, tempDir } from '../integration/harness.ts';
import { DATABASE_URL, describePg, dropSchema, freshSchemaName, openTestPgDriver } from '../driver/drivers.ts';
import { FakeIpcMain, FakeIpcRenderer, FakeWebContents } from '../main/fake-electron.ts';

const CHROMIUM = process.env.CLEAVER_CHROMIUM ?? '/usr/bin/chromium';
const RENDERER_FILE = join(ROOT, 'dist/renderer/index.html');
const SCREENSHOTS = join(ROOT, 'test-results/screenshots');
const haveBrowser = existsSync(CHROMIUM);
/** Typed into the form; trust auth ignores it, but it must be stored encrypted and never shown again. */
const TYPED_PASSWORD = 'not-needed-with-trust-auth';

if (!haveBrowser && process.env.CLEAVER_REQUIRE_BROWSER) {
  throw new Error(`CLEAVER_REQUIRE_BROWSER is set but there is no browser at ${CHROMIUM}: install chromium (apt-get install chromium) or point CLEAVER_CHROMIUM at one`);
}
if (!haveBrowser) {
  console.warn(`test/e2e/desktop-bridge.test.ts skipped: no browser at ${CHROMIUM}. Install chromium (or set CLEAVER_CHROMIUM) to run the desktop console's browser tests; CI sets CLEAVER_REQUIRE_BROWSER=1 so they cannot be skipped there.`);
}

/** Linux without a keyring: safeStorage "encrypts" with a fixed key (here, reversing), and says so. */
const basicTextSafeStorage: ProfileSafeStorage = {
  isEncryptionAvailable: () => true,
  encryptString: (plain) => Buffer.from(Buffer.from(plain, 'utf8').reverse()),
  decryptString: (encrypted) => Buffer.from(encrypted).reverse().toString('utf8'),
  getSelectedStorageBackend: () => 'basic_text',
};

/** What the preload would put on window.cleaver: every call and change crosses to Node and back. */
function pageBridge() {
  type Result = { ok: boolean };
  const w = window as unknown as {
    cleaverIpc(contract: string, method: unknown, params: unknown): Promise<Result>;
    cleaverChange(change: unknown): void;
    cleaver: unknown;
  };
  const listeners = new Set<(change: unknown) => void>();
  w.cleaverChange = (change) => {
    for (const listener of listeners) listener(change);
  };
  w.cleaver = {
    call: (method: unknown, params: unknown) => w.cleaverIpc('admin', method, params),
    onChange(listener: (change: unknown) => void) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    connections: { call: (method: unknown, params: unknown) => w.cleaverIpc('connections', method, params) },
  };
}

describePg('the desktop console over the IPC bridge', () => {
  describe.skipIf(!haveBrowser)('connections', () => {
    let dir: string;
    const remoteSchema = freshSchemaName('desktop_remote');
    const newerSchema = freshSchemaName('desktop_newer');
    const emptySchema = freshSchemaName('desktop_empty');
    let remoteRunId: string;
    let store: ProfileStore;
    let manager: ConnectionManager;
    const migrationQuestions: Array<{ profile: string; status: AdminSchemaCheck }> = [];
    let browser: Browser;
    let page: Page;

    const shot = (name: string) => page.screenshot({ path: join(SCREENSHOTS, `${name}.png`) });
    const byTestId = (id: string) => `[data-testid="${id}"]`;
    const row = (id: string) => `[data-testid="connection-row"][data-id="${id}"]`;
    const go = (hash: string) => page.evaluate((h) => (location.hash = h), hash);

    beforeAll(async () => {
      if (!existsSync(RENDERER_FILE)) throw new Error('the desktop console e2e test needs the build: run `npm run build` (npm test does it first)');
      dir = tempDir('clv-desk-');
      mkdirSync(SCREENSHOTS, { recursive: true });
      for (const old of ['connections-runs-local', 'connections-empty', 'connections-form', 'connections-connected', 'connections-runs-remote', 'connections-too-new', 'connections-declined', 'connections-back-local', 'connections-light']) {
        rmSync(join(SCREENSHOTS, `${old}.png`), { force: true });
      }

      // A remote database a real engine has run on, holding one run of its own.
      const remote = await openTestPgDriver({ schema: remoteSchema });
      const engine = new Engine({ driver: remote, socketPath: null, log: silentLogger });
      await engine.start();
      await workflowRegister(remote, {
        definition: { kind: 'task', task: { name: 'nightly-report', retries: 0, backoff: null, executionTimeoutMs: 60_000, scheduleTimeoutMs: 300_000, defaultPriority: 1 } },
      });
      remoteRunId = (await engine.admin.workflowTrigger({ name: 'nightly-report', input: { day: '2025-01-31' } })).runId;
      await engine.stop();
      await remote.close();
      // One a newer Cleaver has migrated, and one no Cleaver has touched.
      const newer = await openTestPgDriver({ schema: newerSchema });
      const { current } = await migrate(newer);
      await newer.query(`INSERT INTO cleaver_migration (version, name) VALUES ($1, 'from-the-future')`, [current + 1]);
      await newer.close();

      store = await ProfileStore.open({ file: join(dir, 'userData/profiles.json'), safeStorage: basicTextSafeStorage });
      manager = new ConnectionManager({
        userDataDir: join(dir, 'userData'),
        profiles: store,
        // The bootstrap shows a dialog; here the person always answers Cancel.
        confirmMigration: async (profile, status) => {
          migrationQuestions.push({ profile: profile.name, status });
          return false;
        },
        log: silentLogger,
        socketPath: join(dir, 'e.sock'),
      });
      await manager.open('local');

      browser = await chromium.launch({
        executablePath: CHROMIUM,
        // file:// pages may load their own module scripts only with this flag; Electron allows it for the app.
        args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--allow-file-access-from-files'],
      });
      page = await browser.newPage({ viewport: { width: 1440, height: 900 }, colorScheme: 'dark' });
      page.setDefaultTimeout(20_000);
      page.on('pageerror', (e) => console.error('page error:', e.message));

      // main's side, as main/main.ts wires it, with our page as the console window.
      const ipcMain = new FakeIpcMain();
      const consoleWindow = new FakeWebContents();
      const trusted = { renderer: { file: RENDERER_FILE }, webContents: () => [consoleWindow] };
      registerAdminIpc(ipcMain as unknown as AdminIpcMain, () => manager.admin, trusted);
      registerConnectionsIpc(ipcMain as unknown as AdminIpcMain, connectionsService({ profiles: store, manager }), trusted);
      // The preload's side: every invoke comes from the page's main frame at whatever URL it shows now.
      const ipcRenderer = new FakeIpcRenderer(ipcMain, {
        sender: consoleWindow,
        get senderFrame() {
          return { url: page.url(), parent: null };
        },
      });
      consoleWindow.send = (channel: string, ...args: unknown[]) => ipcRenderer.emit(channel, {}, ...args);
      forwardChanges(manager, consoleWindow);
      const bridge: CleaverBridge = createBridge(ipcRenderer);
      bridge.onChange((change: AdminChange) => {
        void page.evaluate((c) => (window as unknown as { cleaverChange(c: unknown): void }).cleaverChange(c), change).catch(() => undefined);
      });
      expect(ADMIN_CHANGE_CHANNEL).toBe('cleaver:change');
      await page.exposeFunction('cleaverIpc', (contract: string, method: never, params: never) =>
        contract === 'connections' ? bridge.connections.call(method, params) : bridge.call(method, params),
      );
      await page.addInitScript(pageBridge);
      await page.goto(`${pathToFileURL(RENDERER_FILE).href}#/runs`);
    }, 180_000);

    afterAll(async () => {
      await browser?.close();
      await manager?.close();
      for (const schema of [remoteSchema, newerSchema, emptySchema]) await dropSchema(DATABASE_URL, schema).catch(() => undefined);
      if (dir) removeDir(dir);
    });

    it('loads over the IPC bridge with no token screen, on the embedded engine', async () => {
      await page.waitForSelector(byTestId('page-runs'));
      expect(await page.$(byTestId('token-screen'))).toBeNull();
      await page.waitForSelector(byTestId('runs-empty'));
      await page.waitForSelector(`${byTestId('live-state')}.live-live`);
      expect(await page.textContent('.engine-info')).toContain('desktop');
      await page.waitForSelector(byTestId('nav-connections'));
      await shot('connections-runs-local');
    });

    it('shows the Connections page with the basic_text warning and the embedded database connected', async () => {
      await page.click(byTestId('nav-connections'));
      await page.waitForSelector(byTestId('page-connections'));
      expect(await page.textContent(byTestId('storage-warning'))).toContain('basic_text');
      await page.waitForSelector(`${row('local')}[data-current="true"]`);
      await page.waitForSelector(byTestId('connections-empty'));
      await shot('connections-empty');
    });

    it('adds a Postgres profile to administer, with its password stored encrypted only', async () => {
      await page.click(byTestId('connection-add'));
      await page.fill(byTestId('connection-name'), 'Shared Postgres');
      await page.fill(byTestId('connection-url'), DATABASE_URL);
      await page.fill(byTestId('connection-password'), TYPED_PASSWORD);
      await page.fill(byTestId('connection-schema'), remoteSchema);
      await page.check(byTestId('connection-mode-administer'));
      expect(await page.textContent(byTestId('connection-form'))).toContain('Administer only (no scheduling — safe against production)');
      await shot('connections-form');
      await page.click(byTestId('connection-save'));
      await page.waitForSelector(byTestId('connection-form'), { state: 'detached' });

      const [profile] = store.list();
      expect(profile).toMatchObject({ name: 'Shared Postgres', mode: 'administer', schema: remoteSchema, hasPassword: true });
      expect(readFileSync(join(dir, 'userData/profiles.json'), 'utf8')).not.toContain(TYPED_PASSWORD);
      const text = await page.textContent(row(profile!.id));
      expect(text).toContain('Administer only');
      expect(text).toContain('password saved');
      expect(text).not.toContain(TYPED_PASSWORD);
    });

    it('connects to it without a restart, and the Runs page shows that database', async () => {
      const [profile] = store.list();
      await page.click(`${row(profile!.id)} ${byTestId('connection-connect')}`);
      await page.waitForSelector(`${row(profile!.id)}[data-current="true"]`);
      await page.waitForSelector(`${row('local')}[data-current="false"]`);
      expect(await page.textContent(byTestId('connections-showing'))).toBe('Shared Postgres');
      expect(manager.info).toMatchObject({ id: profile!.id, mode: 'administer' });
      // The switch's change reaches the views already mounted: the sidebar names the new database.
      await page.waitForFunction(() => document.querySelector('.engine-info')?.textContent?.includes('admin only'));
      await shot('connections-connected');

      await page.click(byTestId('nav-runs'));
      await page.waitForSelector(`[data-testid="runs-row"][data-run-id="${remoteRunId}"]`);
      await shot('connections-runs-remote');
    });

    it('refuses a database with a newer schema, saying so, and stays connected where it was', async () => {
      const newer = await store.save({ name: 'Upgraded elsewhere', url: DATABASE_URL, mode: 'administer', schema: newerSchema });
      await go('#/connections');
      await page.click(`${row(newer.id)} ${byTestId('connection-connect')}`);
      const error = await page.waitForSelector(byTestId('connections-error'));
      const text = (await error.textContent())!;
      expect(text).toContain('SCHEMA_TOO_NEW');
      expect(text).toMatch(/needs a newer Cleaver/);
      expect(text).toMatch(/upgrade Cleaver/);
      expect(await page.getAttribute(row(store.list()[0]!.id), 'data-current')).toBe('true');
      expect(migrationQuestions).toEqual([]);
      await shot('connections-too-new');
    });

    it('asks before migrating an unmigrated database; declined, it says so and changes nothing', async () => {
      const empty = await store.save({ name: 'Fresh database', url: DATABASE_URL, mode: 'engine', schema: emptySchema });
      await go('#/runs');
      await go('#/connections');
      await page.click(`${row(empty.id)} ${byTestId('connection-connect')}`);
      await page.waitForFunction(() => document.querySelector('[data-testid="connections-error"]')?.textContent?.includes('declined'));
      expect(migrationQuestions).toMatchObject([{ profile: 'Fresh database', status: { state: 'needs-migration', current: 0 } }]);
      expect(await page.getAttribute(row(store.list()[0]!.id), 'data-current')).toBe('true');
      await shot('connections-declined');
    });

    it('switches back to this computer, and the Runs page shows the embedded database again', async () => {
      await page.click(`${row('local')} ${byTestId('connection-connect')}`);
      await page.waitForSelector(`${row('local')}[data-current="true"]`);
      expect(await page.$(byTestId('connections-error'))).toBeNull();
      await page.waitForFunction(() => document.querySelector('.engine-info')?.textContent?.includes('PGlite'));
      await shot('connections-back-local');
      await page.click(byTestId('theme-toggle'));
      await page.waitForFunction(() => document.documentElement.dataset.theme === 'light');
      await page.click(`${row(store.list()[0]!.id)} ${byTestId('connection-edit')}`);
      await page.waitForSelector(byTestId('connection-form'));
      expect(await page.inputValue(byTestId('connection-password'))).toBe('');
      expect(await page.getAttribute(byTestId('connection-password'), 'placeholder')).toMatch(/saved/);
      await shot('connections-light');
      await page.click(byTestId('connection-cancel'));
      await page.click(byTestId('theme-toggle'));
      await page.click(byTestId('nav-runs'));
      await page.waitForSelector(byTestId('runs-empty'));
      expect(manager.info).toMatchObject({ id: 'local' });
    });

    it('has no Connections page when the bridge offers none (the browser console’s case)', async () => {
      const other = await browser.newPage({ viewport: { width: 1200, height: 700 } });
      try {
        await other.exposeFunction('cleaverIpc', async () => ({ ok: false, error: { name: 'CleaverError', code: 'CONNECTION', message: 'not wired in this page' } }));
        await other.addInitScript(() => {
          pageBridgeWithout();
          function pageBridgeWithout() {
            const w = window as unknown as { cleaverIpc(...args: unknown[]): Promise<unknown>; cleaver: unknown };
            w.cleaver = { call: (m: unknown, p: unknown) => w.cleaverIpc('admin', m, p), onChange: () => () => undefined };
          }
        });
        await other.goto(`${pathToFileURL(RENDERER_FILE).href}#/connections`);
        // The address names no page this console has: it says so, rather than showing Runs in its place.
        await other.waitForSelector(byTestId('page-not-found'));
        expect(await other.$(byTestId('nav-connections'))).toBeNull();
        expect(await other.$(byTestId('page-connections'))).toBeNull();
      } finally {
        await other.close();
      }
    });
  });
});
