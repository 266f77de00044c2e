/**
 * The console window and the rules every web contents in the app lives by: isolated, sandboxed, no
 * Node, a CSP, no navigation away from the console, no new windows or webviews, no permissions.
 * External http(s) links open in the user's browser; nothing else is handed to the OS.
 */
import type { BrowserWindow, BrowserWindowConstructorOptions, Session, WebContents } from 'electron';
import { pathToFileURL } from 'node:url';

/** Where the renderer comes from: the built files (file://) or a dev server. */
export type RendererLocation = { file: string } | { url: string };

/**
 * The CSP for the console, sent as a response header (file:// responses may carry none, so the
 * renderer's index.html repeats it in a <meta>). Styles allow inline for the chart and graph
 * libraries; scripts and connections are the console's own only.
 */
export const CONSOLE_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "font-src 'self' data:",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-src 'none'",
  "frame-ancestors 'none'",
].join('; ');

/** The parts of Electron this module uses (the real module fits; tests pass fakes). */
export interface WindowElectron<W extends ConsoleWindow = ConsoleWindow> {
  BrowserWindow: new (options: BrowserWindowConstructorOptions) => W;
  shell: { openExternal(url: string): Promise<void> };
  session: { defaultSession: ConsoleSession };
}

export type ConsoleWindow = Pick<BrowserWindow, 'loadFile' | 'loadURL' | 'once' | 'show'> & { webContents: HardenableWebContents };
export type ConsoleSession = Pick<Session, 'setPermissionRequestHandler' | 'setPermissionCheckHandler'> & {
  webRequest: Pick<Session['webRequest'], 'onHeadersReceived'>;
};
export type HardenableWebContents = Pick<WebContents, 'on' | 'setWindowOpenHandler'>;

export interface ConsoleWindowOptions {
  preloadPath: string;
  renderer: RendererLocation;
  width?: number;
  height?: number;
}

export function createConsoleWindow<W extends ConsoleWindow>(electron: WindowElectron<W>, options: ConsoleWindowOptions): W {
  secureSession(electron.session.defaultSession);
  const window = new electron.BrowserWindow({
    width: options.width ?? 1280,
    height: options.height ?? 820,
    minWidth: 720,
    minHeight: 480,
    show: false,
    title: 'Cleaver',
    webPreferences: {
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      webSecurity: true,
      preload: options.preloadPath,
    },
  });
  hardenWebContents(window.webContents, { renderer: options.renderer, openExternal: (url) => electron.shell.openExternal(url) });
  window.once('ready-to-show', () => window.show());
  void ('file' in options.renderer ? window.loadFile(options.renderer.file) : window.loadURL(options.renderer.url));
  return window;
}

/** Installed once per session: the CSP header and permission handlers that refuse everything. */
const securedSessions = new WeakSet<object>();

export function secureSession(session: ConsoleSession): void {
  if (securedSessions.has(session)) return;
  securedSessions.add(session);
  session.webRequest.onHeadersReceived((details, callback) => {
    callback({ responseHeaders: { ...details.responseHeaders, 'Content-Security-Policy': [CONSOLE_CSP] } });
  });
  session.setPermissionRequestHandler((_webContents, _permission, callback) => callback(false));
  session.setPermissionCheckHandler(() => false);
}

const hardened = new WeakSet<object>();

/**
 * Applied to the console window and, from app 'web-contents-created', to any web contents at all;
 * once per contents, so a link is never opened twice.
 */
export function hardenWebContents(contents: HardenableWebContents, options: { renderer: RendererLocation; openExternal(url: string): Promise<void> }): void {
  if (hardened.has(contents)) return;
  hardened.add(contents);
  const leave = (event: { preventDefault(): void }, url: string) => {
    if (isRendererUrl(options.renderer, url)) return;
    event.preventDefault();
    openIfWeb(url, options.openExternal);
  };
  contents.on('will-navigate', (event, url) => leave(event, url));
  contents.on('will-redirect', (event, url) => leave(event, url));
  contents.setWindowOpenHandler(({ url }) => {
    openIfWeb(url, options.openExternal);
    return { action: 'deny' };
  });
  contents.on('will-attach-webview', (event) => event.preventDefault());
}

/** Only http(s) goes to the OS: file:, smb:, javascript: and custom schemes could run or fetch things. */
export function isWebUrl(url: string): boolean {
  try {
    const { protocol } = new URL(url);
    return protocol === 'http:' || protocol === 'https:';
  } catch {
    return false;
  }
}

function openIfWeb(url: string, openExternal: (url: string) => Promise<void>): void {
  if (isWebUrl(url)) void openExternal(url).catch(() => undefined);
}

/**
 * Whether `url` is the console itself: the same file (any fragment or query; the console routes in
 * the fragment) or the same origin as the dev server.
 */
export function isRendererUrl(renderer: RendererLocation, url: string): boolean {
  let target: URL;
  try {
    target = new URL(url);
  } catch {
    return false;
  }
  if ('file' in renderer) {
    const own = pathToFileURL(renderer.file);
    return target.protocol === 'file:' && target.host === own.host && decodeURIComponent(target.pathname) === decodeURIComponent(own.pathname);
  }
  const origin = new URL(renderer.url).origin;
  return origin !== 'null' && target.origin === origin;
}
