import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { CONSOLE_CSP, createConsoleWindow, hardenWebContents, isRendererUrl, type WindowElectron } from '../../main/window.ts';
import { FakeBrowserWindow, FakeEvent, FakeSession, FakeShell, FakeWebContents } from './fake-electron.ts';

const RENDERER_FILE = '/opt/Cleaver/resources/app.asar/dist/renderer/index.html';
const CONSOLE_URL = pathToFileURL(RENDERER_FILE).href;

function open(renderer: { file: string } | { url: string } = { file: RENDERER_FILE }) {
  const shell = new FakeShell();
  const session = new FakeSession();
  const electron = { BrowserWindow: FakeBrowserWindow, shell, session: { defaultSession: session } } as unknown as WindowElectron;
  const window = createConsoleWindow(electron, { preloadPath: '/app/dist/main/preload.cjs', renderer }) as unknown as FakeBrowserWindow;
  return { window, contents: window.webContents, shell, session };
}

const EXTERNAL = ['https://cleaver.dev/docs', 'http://localhost:8080/x'];
const NEVER_EXTERNAL = ['file:///etc/passwd', 'javascript:alert(1)', 'smb://fileserver/share', 'mailto:a@b.c', 'cleaver://run/1', 'ms-settings:privacy', 'not a url'];

describe('the console window', () => {
  it('runs isolated, sandboxed, without Node, with web security and our preload only', () => {
    const { window } = open();
    expect(window.options.webPreferences).toEqual({
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      webSecurity: true,
      preload: '/app/dist/main/preload.cjs',
    });
    expect(window.loaded).toEqual({ file: RENDERER_FILE });
  });

  it('shows once ready, not blank before', () => {
    const { window } = open();
    expect(window.options.show).toBe(false);
    window.emit('ready-to-show');
    expect(window.shown).toBe(true);
  });

  it('stays on the console: navigation elsewhere is blocked, in-console routes are not', () => {
    const { contents } = open();
    expect(contents.navigate(`${CONSOLE_URL}#/runs/123`).defaultPrevented).toBe(false);
    for (const url of ['file:///etc/passwd', 'file:///opt/Cleaver/resources/app.asar/dist/renderer/other.html', 'https://evil.example/', 'javascript:alert(1)', 'data:text/html,hi']) {
      expect(contents.navigate(url).defaultPrevented, url).toBe(true);
      expect(contents.navigate(url, 'will-redirect').defaultPrevented, url).toBe(true);
    }
  });

  it('from a dev server, allows its origin only', () => {
    const { window, contents } = open({ url: 'http://127.0.0.1:5173/' });
    expect(window.loaded).toEqual({ url: 'http://127.0.0.1:5173/' });
    expect(contents.navigate('http://127.0.0.1:5173/#/workers').defaultPrevented).toBe(false);
    expect(contents.navigate('http://127.0.0.1:5174/').defaultPrevented).toBe(true);
    expect(contents.navigate('https://127.0.0.1:5173/').defaultPrevented).toBe(true);
  });

  it('denies every window.open, handing http(s) links — and nothing else — to the browser', () => {
    const { contents, shell } = open();
    for (const url of [...EXTERNAL, ...NEVER_EXTERNAL, CONSOLE_URL]) {
      expect(contents.windowOpenHandler?.({ url }), url).toEqual({ action: 'deny' });
    }
    expect(shell.opened).toEqual(EXTERNAL);
  });

  it('sends a link the page navigates to to the browser only when it is http(s)', () => {
    const { contents, shell } = open();
    for (const url of [...EXTERNAL, ...NEVER_EXTERNAL]) contents.navigate(url);
    expect(shell.opened).toEqual(EXTERNAL);
  });

  it('refuses to attach webviews', () => {
    const { contents } = open();
    const event = new FakeEvent();
    contents.emit('will-attach-webview', event, {}, {});
    expect(event.defaultPrevented).toBe(true);
  });

  it('denies every permission request and check', () => {
    const { session } = open();
    for (const permission of ['media', 'geolocation', 'notifications', 'clipboard-read', 'openExternal', 'hid', 'unknown']) {
      let granted: boolean | undefined;
      session.requestHandler?.({}, permission, (g: boolean) => (granted = g), {});
      expect(granted, permission).toBe(false);
      expect(session.checkHandler?.({}, permission, 'file://', {}), permission).toBe(false);
    }
  });

  it('puts the CSP on every response, keeping the other headers', () => {
    const { session } = open();
    let headers: Record<string, string[]> | undefined;
    session.headersListener?.({ url: CONSOLE_URL, responseHeaders: { 'Content-Type': ['text/html'] } }, (r: { responseHeaders: Record<string, string[]> }) => (headers = r.responseHeaders));
    expect(headers).toEqual({ 'Content-Type': ['text/html'], 'Content-Security-Policy': [CONSOLE_CSP] });
    expect(CONSOLE_CSP).toContain("script-src 'self'");
    expect(CONSOLE_CSP).toContain("object-src 'none'");
    expect(CONSOLE_CSP).not.toMatch(/script-src[^;]*unsafe/);
  });

  it('hardens a web contents once, so app-wide hardening on top opens a link once', () => {
    const { contents, shell } = open();
    hardenWebContents(contents as never, { renderer: { file: RENDERER_FILE }, openExternal: (url) => shell.openExternal(url) });
    expect(contents.count('will-navigate')).toBe(1);
    contents.navigate('https://cleaver.dev/');
    expect(shell.opened).toEqual(['https://cleaver.dev/']);
  });

  it('hardens any other web contents the same way (app web-contents-created)', () => {
    const other = new FakeWebContents();
    const shell = new FakeShell();
    hardenWebContents(other as never, { renderer: { file: RENDERER_FILE }, openExternal: (url) => shell.openExternal(url) });
    expect(other.navigate('https://evil.example/').defaultPrevented).toBe(true);
    expect(other.windowOpenHandler?.({ url: 'file:///etc/passwd' })).toEqual({ action: 'deny' });
    expect(shell.opened).toEqual(['https://evil.example/']);
  });

  it('recognises the console file only, not a sibling or a look-alike', () => {
    expect(isRendererUrl({ file: RENDERER_FILE }, `${CONSOLE_URL}?x=1#/a`)).toBe(true);
    expect(isRendererUrl({ file: RENDERER_FILE }, `${CONSOLE_URL}.evil`)).toBe(false);
    expect(isRendererUrl({ file: RENDERER_FILE }, `file://remotehost${new URL(CONSOLE_URL).pathname}`)).toBe(false);
    expect(isRendererUrl({ url: 'http://127.0.0.1:5173' }, 'http://127.0.0.1:5173.evil.example/')).toBe(false);
  });
});
