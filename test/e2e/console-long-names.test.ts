// The console with realistic names, in a real browser against the built `cleaver serve` and a worker
// (test/e2e/fixtures/long-names-worker.ts) whose tasks and workflow are named with 40-70 characters:
// the Overview's by-workflow table keeps every heading whole and shows every name, the Logs filter
// bar keeps its controls on one line, and a log line shows its workflow and task in full.
// 1440×900 screenshots of both themes land in test-results/screenshots/: long-names-overview-*,
// long-names-logs-*.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cleaver } from '../../sdk/index.ts';
import { ROOT, spawnChild, tempDir, type EngineProcess, type WorkerProcess } from '../integration/harness.ts';
import { SCREENSHOTS, browserAvailable, launchChromium, openConsolePage, shootBothThemes, startConsoleServe, stopConsoleSuite } from './console-serve.ts';

const WORKER = join(ROOT, 'test/e2e/fixtures/long-names-worker.ts');
const RECONCILE = 'reconcile-customer-invoices-against-general-ledger-entries-eu-west-1';
const THUMBNAILS = 'generate-product-image-thumbnails-and-upload-to-cdn';
const CLOSE = 'quarterly-financial-close-with-multi-entity-consolidation';
const EXTRACT = 'extract-trial-balances-from-subsidiaries';

/** Elements matching `selector` whose text is cut (wider than the box that shows it), by their text. */
function cut(page: Page, selector: string): Promise<string[]> {
  return page.$$eval(selector, (els) => els.filter((e) => e.scrollWidth > e.clientWidth + 1).map((e) => e.textContent ?? ''));
}

describe.skipIf(!browserAvailable())('the console with long names', () => {
  let dir: string;
  let engine: EngineProcess;
  let worker: WorkerProcess | null = null;
  let browser: Browser;
  let page: Page;
  let cleaver: Cleaver;
  const go = (hash: string) => page.evaluate((h) => (location.hash = h), hash);

  beforeAll(async () => {
    dir = tempDir('clv-long-names-');
    mkdirSync(SCREENSHOTS, { recursive: true });
    const serve = await startConsoleServe(dir);
    engine = serve.engine;
    worker = spawnChild(['--import', 'tsx', WORKER], { env: { ...process.env, CLEAVER_ADDRESS: `unix://${join(dir, 'e.sock')}` }, readyLine: 'ready\n', what: 'long-names worker' });
    await worker.ready;
    cleaver = Cleaver.connect({ address: `unix://${join(dir, 'e.sock')}` });
    const customers = ['acme-industrial-holdings-gmbh', 'northwind-traders-international', 'globex-corporation-emea'];
    const runs = [];
    for (let i = 0; i < 90; i++) runs.push(cleaver.ref(RECONCILE).run({ n: i, customer: customers[i % 3]! }, { metadata: { tenant: customers[i % 3]! } }).catch(() => null));
    for (let i = 0; i < 30; i++) runs.push(cleaver.ref(THUMBNAILS).run({ images: 1 + (i % 12) }));
    for (let i = 0; i < 3; i++) runs.push(cleaver.ref(CLOSE).run({}));
    await Promise.all(runs);
    browser = await launchChromium();
    page = await openConsolePage(browser, serve.printed.toString());
  }, 120_000);

  afterAll(async () => {
    await cleaver?.close();
    await stopConsoleSuite({ browser, worker, engine, dir });
  });

  it("keeps every heading of the Overview's workflow table whole and shows every workflow's name", { timeout: 60_000 }, async () => {
    await go('#/overview?range=15m');
    // The counts arrive with the metrics buckets, written every few seconds.
    await page.waitForFunction((n) => document.querySelectorAll('[data-testid="overview-workflow-row"]').length === n, 3, { timeout: 30_000 });
    const table = page.locator('[data-testid="overview-workflows"]');
    await table.scrollIntoViewIfNeeded();
    expect(await cut(page, '[data-testid="overview-workflows"] .thead .cell')).toEqual([]);
    expect(await cut(page, '[data-testid="overview-workflow-row"] .cell')).toEqual([]);
    expect((await page.$$eval('[data-testid="overview-drill"]', (els) => els.map((e) => e.textContent))).sort()).toEqual([CLOSE, THUMBNAILS, RECONCILE].sort());
    await shootBothThemes(page, 'long-names-overview');
  });

  it('keeps the Logs filters on one line and shows a line\'s workflow and task whole', { timeout: 60_000 }, async () => {
    await go(`#/logs?q=${encodeURIComponent('subsidiaries')}`);
    await page.waitForSelector('[data-testid="log-row"]');
    // The workflow filter lists the long names, yet leaves room for the rest of the bar.
    await page.waitForFunction((name) => [...document.querySelectorAll('[data-testid="log-workflow-filter"] option')].some((o) => o.textContent === name), RECONCILE);
    const top = (testId: string) => page.$eval(`[data-testid="${testId}"]`, (e) => Math.round(e.getBoundingClientRect().top));
    expect(await top('log-range-filter')).toBe(await top('log-workflow-filter'));
    expect(await top('log-range-filter')).toBe(await top('log-search-submit'));
    expect(await cut(page, '[data-testid="log-run-link"]')).toEqual([]);
    expect(await page.textContent('[data-testid="log-run-link"]')).toBe(`${CLOSE} · ${EXTRACT}`);
    await shootBothThemes(page, 'long-names-logs');
  });
});
