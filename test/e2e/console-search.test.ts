// The Runs page's search box in a real browser against the built `cleaver serve` and a worker: typing
// words finds the runs whose input or error holds them, the search goes into the address, and the
// other filters narrow it. 1440×900 screenshots with a search applied, in both themes, land in
// test-results/screenshots/runs-search-{dark,light}.png.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cleaver } from '../../sdk/index.ts';
import { spawnWorker, tempDir, type EngineProcess, type WorkerProcess } from '../integration/harness.ts';
import { SCREENSHOTS, browserAvailable, launchChromium, openConsolePage, shootBothThemes, startConsoleServe, stopConsoleSuite } from './console-serve.ts';

const CUSTOMERS = ['acme', 'globex', 'initech', 'umbrella'];

describe.skipIf(!browserAvailable())('searching runs on the Runs page', () => {
  let dir: string;
  let engine: EngineProcess;
  let worker: WorkerProcess | null = null;
  let browser: Browser;
  let page: Page;
  let cleaver: Cleaver;
  const id = (testId: string) => `[data-testid="${testId}"]`;
  /** The rows the table shows, newest first. */
  const rows = () => page.$$eval('[data-testid="runs-row"]', (els) => els.map((e) => ({ id: e.getAttribute('data-run-id'), status: e.getAttribute('data-status') })));
  const search = async (text: string) => {
    await page.fill(id('run-search'), text);
    await page.press(id('run-search'), 'Enter');
  };
  /** Waits for the table to show exactly these runs (in any order). */
  const showsRuns = (ids: string[]) =>
    page.waitForFunction((want) => {
      const shown = [...document.querySelectorAll('[data-testid="runs-row"]')].map((e) => e.getAttribute('data-run-id'));
      return shown.length === want.length && want.every((w) => shown.includes(w));
    }, ids);

  let invoices: string[] = [];
  let refunds: string[] = [];
  let declined: string[] = [];

  beforeAll(async () => {
    dir = tempDir('clv-search-');
    mkdirSync(SCREENSHOTS, { recursive: true });
    const serve = await startConsoleServe(dir);
    engine = serve.engine;
    worker = spawnWorker({ dir, address: `unix://${join(dir, 'e.sock')}`, tasks: ['echo', 'fatal'] });
    await worker.ready;
    cleaver = Cleaver.connect({ address: `unix://${join(dir, 'e.sock')}` });
    // Eighteen runs: invoices and refunds for a few customers, and charges that fail with an error.
    const echo = cleaver.ref('echo');
    const sent = await Promise.all(
      Array.from({ length: 12 }, (_, i) => {
        const kind = i % 3 === 0 ? 'refund' : 'invoice';
        const customer = CUSTOMERS[i % CUSTOMERS.length]!;
        return echo.runNoWait({ note: `${kind} ${1000 + i} for ${customer}`, email: `billing@${customer}.example` }, { metadata: { customer } });
      }),
    );
    await Promise.all(sent.map((ref) => ref.result()));
    invoices = sent.filter((_, i) => i % 3 !== 0).map((r) => r.runId);
    refunds = sent.filter((_, i) => i % 3 === 0).map((r) => r.runId);
    const failing = await Promise.all(Array.from({ length: 6 }, (_, i) => cleaver.ref('fatal').runNoWait({ note: `charge ${2000 + i} for ${CUSTOMERS[i % CUSTOMERS.length]}` })));
    await Promise.allSettled(failing.map((ref) => ref.result()));
    declined = failing.map((r) => r.runId);
    browser = await launchChromium();
    page = await openConsolePage(browser, serve.printed.href);
    await page.waitForSelector(id('page-runs'));
    await page.waitForFunction(() => document.querySelectorAll('[data-testid="runs-row"]').length === 18);
  }, 120_000);

  afterAll(async () => {
    await cleaver?.close();
    await stopConsoleSuite({ browser, worker, engine, dir });
  });

  it('finds the runs whose input holds the words, and puts the search in the address', async () => {
    await search('invoice');
    await showsRuns(invoices);
    expect(page.url()).toContain('q=invoice');
    expect(await page.getAttribute(id('runs-count'), 'data-count')).toBe(String(invoices.length));

    await search('refund 1003');
    await showsRuns([refunds[1]!]);
    // Punctuation separates words: the email billing@acme.example holds acme, then example.
    await search('acme.example');
    await showsRuns(await runsFor('acme'));
  });

  it("finds failed runs by their error's words, and narrows a search by status", async () => {
    await search('cannot work');
    await showsRuns(declined);
    expect((await rows()).every((r) => r.status === 'failed')).toBe(true);

    await search('for acme');
    await showsRuns(await runsFor('acme', { withFailed: true }));
    await page.click(id('status-filter'));
    await page.click(`${id('status-option-failed')} input`);
    await page.keyboard.press('Escape');
    await showsRuns(await runsFor('acme', { onlyFailed: true }));
    expect(page.url()).toContain('status=failed');
    await page.click(id('status-filter'));
    await page.click(`${id('status-option-failed')} input`);
    await page.keyboard.press('Escape');
  });

  it('searches as one types, says when nothing matches, and clears with Escape', async () => {
    await page.fill(id('run-search'), 'invo');
    await showsRuns(invoices);
    await page.fill(id('run-search'), 'nosuchword');
    await page.waitForSelector(id('runs-empty'));
    expect(await page.textContent(id('runs-empty'))).toContain('A search finds whole words');
    await page.press(id('run-search'), 'Escape');
    await page.waitForFunction(() => document.querySelectorAll('[data-testid="runs-row"]').length === 18);
    expect(page.url()).not.toContain('q=');

    // A filter changed right after Enter stays: the typing's debounce does not fire later with the
    // filters it started under (it used to undo the status 350 ms on).
    await search('refund');
    await page.click(id('status-filter'));
    await page.click(`${id('status-option-failed')} input`);
    await page.keyboard.press('Escape');
    await page.waitForTimeout(600);
    expect(page.url()).toContain('status=failed');
    expect(page.url()).toContain('q=refund');
    await page.click(id('status-filter'));
    await page.click(`${id('status-option-failed')} input`);
    await page.keyboard.press('Escape');
    expect(page.url()).not.toContain('status=');

    await page.fill(id('run-search'), '--');
    expect(await page.getAttribute(id('run-search'), 'aria-invalid')).toBe('true');
    await page.fill(id('run-search'), '');
  });

  it('shows a search applied (screenshot)', async () => {
    await search('acme');
    await showsRuns(await runsFor('acme', { withFailed: true }));
    await shootBothThemes(page, 'runs-search');
  });

  /** The invoices and refunds of one customer (by their metadata), and with `withFailed` or `onlyFailed` its failed charges. */
  async function runsFor(customer: string, options: { withFailed?: boolean; onlyFailed?: boolean } = {}): Promise<string[]> {
    const ofCustomer = (await cleaver.runs.list({ metadata: { customer }, limit: 100 })).runs.map((r) => r.id);
    const failed = declined.filter((_, i) => CUSTOMERS[i % CUSTOMERS.length] === customer);
    if (options.onlyFailed) return failed;
    return options.withFailed ? [...ofCustomer, ...failed] : ofCustomer;
  }
});
