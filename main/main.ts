// The desktop app's bootstrap: glue only. What it wires are plain modules in main/, tested under Node.
import { app, BrowserWindow, dialog, ipcMain, Menu, nativeImage, safeStorage, session, shell, Tray } from 'electron';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { toError } from '../shared/errors.ts';
import { ConnectionManager, migrationQuestion } from './connections.ts';
import { connectionsService, registerConnectionsIpc } from './connections-ipc.ts';
import { forwardChanges, registerAdminIpc } from './ipc.ts';
import { ProfileStore } from './profiles.ts';
import { TRAY_ICON_DATA_URL } from './tray-icon.ts';
import { followConnections, StatusTray } from './tray.ts';
import { createConsoleWindow, hardenWebContents } from './window.ts';

// Both beside this file in the desktop build (dist-desktop/ in a checkout, inside the app when packaged).
const renderer = { file: fileURLToPath(new URL('../renderer/index.html', import.meta.url)) };
const preloadPath = fileURLToPath(new URL('./preload.cjs', import.meta.url));
const openExternal = (url: string) => shell.openExternal(url);
let window: BrowserWindow | null = null;
let connections: ConnectionManager | null = null;
let quitting = false;

app.enableSandbox();
// One app per userData: the embedded database admits one process.
if (!app.requestSingleInstanceLock()) app.exit(0);
app.on('web-contents-created', (_event, contents) => hardenWebContents(contents, { renderer, openExternal }));
app.on('second-instance', () => showConsole());
app.on('window-all-closed', () => undefined); // the engine keeps running; the tray brings the console back

function showConsole(): void {
  if (!connections) return;
  if (window && !window.isDestroyed()) return window.show();
  window = createConsoleWindow({ BrowserWindow, shell, session }, { preloadPath, renderer });
  forwardChanges(connections, window.webContents);
}

app.on('before-quit', (event) => {
  if (quitting || !connections) return;
  quitting = true;
  event.preventDefault();
  void connections.close().finally(() => app.quit());
});

app.whenReady().then(async () => {
  const userDataDir = app.getPath('userData');
  const profiles = await ProfileStore.open({ file: join(userDataDir, 'profiles.json'), safeStorage });
  const manager = new ConnectionManager({
    userDataDir,
    profiles,
    // Attached to the console window (modal there); Cancel is the default and what Esc or closing means.
    confirmMigration: async (profile, status) => {
      const options = { type: 'warning' as const, buttons: ['Migrate', 'Cancel'], defaultId: 1, cancelId: 1, noLink: true, ...migrationQuestion(profile, status) };
      const answer = window && !window.isDestroyed() ? await dialog.showMessageBox(window, options) : await dialog.showMessageBox(options);
      return answer.response === 0;
    },
  });
  connections = manager;
  const trusted = { renderer, webContents: () => (window && !window.isDestroyed() ? [window.webContents] : []) };
  registerAdminIpc(ipcMain, () => manager.admin, trusted);
  registerConnectionsIpc(ipcMain, connectionsService({ profiles, manager }), trusted);
  await manager.open('local');
  if (quitting) return;
  showConsole();
  const tray = new StatusTray({ Tray, Menu }, { icon: nativeImage.createFromDataURL(TRAY_ICON_DATA_URL), onOpenConsole: showConsole, onQuit: () => app.quit() });
  followConnections(tray, manager);
}).catch((e: unknown) => {
  dialog.showErrorBox('Cleaver could not start', toError(e).message);
  app.exit(1);
});
