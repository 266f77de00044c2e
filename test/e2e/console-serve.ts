// What the browser suites share: the built `cleaver serve` with its console on a free port, the
// token it printed, the admin API it serves (for setting up what a scenario is not about) and Chromium.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import type { AdminApi, AdminMethod } from '../../shared/admin-api.ts';
import { ROOT, kill, removeDir, spawnChild, type EngineProcess, type WorkerProcess } from '../integration/harness.ts';

export const CHROMIUM = process.env.CLEAVER_CHROMIUM ?? '/usr/bin/chromium';

/** Whether a browser suite can run; where one is required (CI: CLEAVER_REQUIRE_BROWSER) and missing, it fails. */
export function browserAvailable(): boolean {
  if (existsSync(CHROMIUM)) return true;
  if (process.env.CLEAVER_REQUIRE_BROWSER) {
    throw new Error(`CLEAVER_REQUIRE_BROWSER is set but there is no browser at ${CHROMIUM}: install chromium (apt-get install chromium) or point CLEAVER_CHROMIUM at one`);
  }
  return false;
}
export const SCREENSHOTS = join(ROOT, 'test-results/screenshots');
const BIN = join(ROOT, 'dist/engine/cli.js');

export interface ConsoleServe {
  engine: EngineProcess;
  /** The URL serve printed, token included. */
  printed: URL;
  token: string;
  api<M extends AdminMethod>(method: M, params: Parameters<AdminApi[M]>[0]): Promise<Awaited<ReturnType<AdminApi[M]>>>;
}

/** Starts `cleaver serve` from dist/ with its data in `dir` and waits for its console URL. */
export async function startConsoleServe(dir: string): Promise<ConsoleServe> {
  if (!existsSync(BIN) || !existsSync(join(ROOT, 'dist/renderer/index.html'))) {
    throw new Error('the console e2e tests need the build: run `npm run build` (npm test does it first)');
  }
  const engine = spawnChild([BIN, 'serve', '--data-dir', join(dir, 'data'), '--socket', join(dir, 'e.sock'), '--console', '127.0.0.1:0', '--heartbeat-timeout', '1500ms'], {
    env: { ...process.env, CLEAVER_CONSOLE_TOKEN: '' },
    readyLine: ' ready\n',
    what: 'cleaver serve',
  });
  await engine.ready;
  const printed = /console: +(http:\/\/\S+)/.exec(engine.output())?.[1];
  if (!printed) throw new Error(`cleaver serve printed no console URL:\n${engine.output()}`);
  const url = new URL(printed);
  const token = /#token=(.+)$/.exec(printed)![1]!;
  return {
    engine,
    printed: url,
    token,
    async api(method, params) {
      const response = await fetch(new URL(`/api/${method}`, url), {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify(params),
      });
      const body = (await response.json()) as { ok: boolean; data: never; error?: { message: string } };
      if (!body.ok) throw new Error(`${method}: ${body.error?.message}`);
      return body.data;
    },
  };
}

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
}

/**
 * A console page as every browser suite opens it: 1440×900 (the size the screenshots are kept at), the
 * dark theme, a 20 s default timeout, and the page's own errors printed; then loaded at `href`.
 */
export async function openConsolePage(browser: Browser, href: string): Promise<Page> {
  const page = await browser.newPage({ viewport: { width: 1440, height: 900 }, colorScheme: 'dark' });
  page.setDefaultTimeout(20_000);
  page.on('pageerror', (e) => console.error('page error:', e.message));
  await page.goto(href);
  return page;
}

/**
 * The whole window as a reviewer looks at it, in both themes: `<name>-dark.png` and `<name>-light.png`
 * in test-results/screenshots/. Notices left by earlier steps are dismissed and the mouse is moved off
 * the theme toggle, so neither covers or highlights anything; `ready` runs after each switch (a page
 * with charts waits for them to take the theme's colors). The page is left in the theme it was in.
 */
export async function shootBothThemes(page: Page, name: string, options: { ready?: () => Promise<void> } = {}): Promise<void> {
  const start = await page.evaluate(() => document.documentElement.dataset.theme ?? 'dark');
  const other = start === 'dark' ? 'light' : 'dark';
  const switchTo = async (theme: string) => {
    await page.click('[data-testid="theme-toggle"]');
    await page.waitForFunction((t) => document.documentElement.dataset.theme === t, theme);
  };
  const shoot = async (theme: string) => {
    // A notice can time out on its own between being found and clicked: then it is gone, as wanted.
    for (const notice of await page.$$('.notice')) await notice.click({ timeout: 2_000 }).catch(() => undefined);
    await page.waitForFunction(() => document.querySelectorAll('.notice').length === 0);
    await page.mouse.move(100, 560); // the sidebar's empty middle
    // Two frames: the charts read the theme's colors in an effect after the theme is set.
    await page.evaluate(() => new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve))));
    await options.ready?.();
    await page.screenshot({ path: join(SCREENSHOTS, `${name}-${theme}.png`) });
  };
  await shoot(start);
  await switchTo(other);
  await shoot(other);
  await switchTo(start);
}

/** Ends what a browser suite started, in order: the browser, then the worker, then serve; and its files. */
export async function stopConsoleSuite(parts: { browser?: Browser; worker?: WorkerProcess | null; engine?: EngineProcess; dir?: string }): Promise<void> {
  await parts.browser?.close();
  if (parts.worker) await kill(parts.worker);
  if (parts.engine) await kill(parts.engine, 'SIGTERM');
  if (parts.dir) removeDir(parts.dir);
}
