// The Logs page in a real browser against the built `cleaver serve`, with a worker in this process:
// the search finds a task's line by a word, narrows by level, links to the run at that task, and the
// task panel shows where a log was cut at its cap. Screenshots (1440×900, both themes) land in
// test-results/screenshots/ for a reviewer to look at: logs-* (a search's lines with their fields),
// logs-truncated-* (a search that finds a capped log's marker and lines), run-task-logs-* (a run's task
// panel with its structured lines) and logs-task-panel-truncated-* (the panel's truncated mark).
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cleaver, type Worker } from '../../sdk/index.ts';
import { tempDir, waitFor, type EngineProcess } from '../integration/harness.ts';
import { CHROMIUM, SCREENSHOTS, launchChromium, openConsolePage, shootBothThemes, startConsoleServe, stopConsoleSuite, type ConsoleServe } from './console-serve.ts';

const haveBrowser = existsSync(CHROMIUM);

if (!haveBrowser && process.env.CLEAVER_REQUIRE_BROWSER) {
  throw new Error(`CLEAVER_REQUIRE_BROWSER is set but there is no browser at ${CHROMIUM}: install chromium (apt-get install chromium) or point CLEAVER_CHROMIUM at one`);
}

/** The engine's default cap: the noisy task writes past it. */
const CAP = 1_000;

describe.skipIf(!haveBrowser)('the Logs page in a browser, against cleaver serve', () => {
  let dir: string;
  let engine: EngineProcess;
  let serve: ConsoleServe;
  let cleaver: Cleaver;
  let worker: Worker;
  let browser: Browser;
  let page: Page;
  const id = (testId: string) => `[data-testid="${testId}"]`;
  const go = (hash: string) => page.evaluate((h) => (location.hash = h), hash);
  let chargeRun: string;
  let noisyRun: string;

  beforeAll(async () => {
    dir = tempDir('clv-logs-');
    mkdirSync(SCREENSHOTS, { recursive: true });
    serve = await startConsoleServe(dir);
    engine = serve.engine;
    cleaver = Cleaver.connect({ address: `unix://${join(dir, 'e.sock')}` });
    const checkout = cleaver.workflow<{ order: string }>({ name: 'checkout' });
    const reserve = checkout.task({
      name: 'reserve-stock',
      fn: (input, ctx) => {
        ctx.logger.debug('looking up stock', { order: input.order, sku: 'SKU-1182' });
        ctx.logger.info('stock reserved', { order: input.order, items: 3 });
        return { reserved: 3 };
      },
    });
    checkout.task({
      name: 'charge-card',
      parents: [reserve],
      fn: (input, ctx) => {
        ctx.logger.info('charging card', { order: input.order, amount: 42.5, currency: 'EUR' });
        ctx.logger.warn('card issuer slow to answer; retrying once', { order: input.order, waitedMs: 1840 });
        ctx.logger.error('payment declined by issuer', { order: input.order, code: 'do_not_honor', error: new Error('issuer said no') });
        ctx.log(`order ${input.order} left for manual review`, 'warn');
        return { charged: false };
      },
    });
    const noisy = cleaver.task({
      name: 'import-catalog',
      fn: (_input: unknown, ctx) => {
        for (let i = 1; i <= CAP + 25; i++) ctx.logger.info(`imported row ${i}`, { row: i, status: 'stored' });
        return { rows: CAP + 25 };
      },
    });
    worker = await cleaver.worker('logs-e2e-worker', { workflows: [checkout, noisy], handleSignals: false });
    await worker.start();
    chargeRun = (await checkout.runNoWait({ order: 'ord_5521' })).runId;
    noisyRun = (await noisy.runNoWait({})).runId;
    for (const runId of [chargeRun, noisyRun]) await waitFor(`run ${runId} to end`, async () => (await serve.api('runGet', { runId })).run.status === 'succeeded', 60_000);
    // Lines are written in batches beside the outcomes: wait until the last of them is counted.
    const noisyTask = (await serve.api('runGet', { runId: noisyRun })).taskRuns[0]!.id;
    await waitFor('the noisy task run to be counted past its cap', async () => (await serve.api('taskLogs', { taskRunId: noisyTask, limit: 1 })).truncated?.droppedLines === 25, 30_000);
    browser = await launchChromium();
    page = await openConsolePage(browser, serve.printed.href);
    await page.waitForSelector(id('page-runs'));
  }, 120_000);

  afterAll(async () => {
    await worker?.stop();
    await cleaver?.close();
    await stopConsoleSuite({ browser, engine, dir });
  });

  it('finds a line by a word, narrows it by level, and opens the run at the task that wrote it', { timeout: 60_000 }, async () => {
    await page.click(id('nav-logs'));
    await page.waitForSelector(id('log-results'));
    await page.fill(id('log-search'), 'declined');
    await page.press(id('log-search'), 'Enter');
    await page.waitForFunction(() => document.querySelectorAll('[data-testid="log-row"]').length === 1);
    const row = page.locator(id('log-row')).first();
    expect(await row.textContent()).toContain('payment declined by issuer');
    expect(await row.textContent()).toContain('code=do_not_honor');
    expect(await row.getAttribute('data-run-id')).toBe(chargeRun);
    expect(await row.locator('mark').textContent()).toBe('declined');
    expect(page.url()).toContain('q=declined');

    // Every line of the order, then only its warnings and errors (the search box keeps the order's id).
    await page.fill(id('log-search'), 'ord_5521');
    await page.press(id('log-search'), 'Enter');
    await page.waitForFunction(() => document.querySelectorAll('[data-testid="log-row"]').length === 6);
    await page.click(id('log-level-warn'));
    await page.click(id('log-level-error'));
    await page.waitForFunction(() => document.querySelectorAll('[data-testid="log-row"]').length === 3);
    expect(await page.$$eval('[data-testid="log-row"]', (rows) => rows.map((r) => r.getAttribute('data-level')))).toEqual(['warn', 'error', 'warn']);
    await page.click(id('log-level-warn'));
    await page.click(id('log-level-error'));
    await page.waitForFunction(() => document.querySelectorAll('[data-testid="log-row"]').length === 6);
    await shootBothThemes(page, 'logs');

    await page.locator(id('log-run-link')).first().click();
    await page.waitForURL(new RegExp(`#/runs/${chargeRun}\\?task=charge-card`));
    await page.waitForSelector(`${id('task-panel')}[aria-label="task charge-card"]`);
    await page.waitForSelector(`${id('task-logs')} >> text=payment declined by issuer`);
    expect(await page.textContent(id('task-logs'))).toContain('code=do_not_honor');
    await page.$eval(id('task-logs'), (el) => el.scrollIntoView({ block: 'center' }));
    await shootBothThemes(page, 'run-task-logs');
  });

  it('pages through a task run cut at its cap, and the task panel shows the truncated mark with the count', { timeout: 60_000 }, async () => {
    await go(`#/logs?q=${encodeURIComponent('"imported row"')}`);
    await page.waitForFunction(() => document.querySelectorAll('[data-testid="log-row"]').length === 100);
    await page.click(id('logs-load-more'));
    await page.waitForFunction(() => document.querySelectorAll('[data-testid="log-row"]').length === 200);
    // Newest first: the last stored line (row 1,000) leads; nothing past the cap was stored to be found.
    expect(await page.locator(id('log-row')).first().textContent()).toContain(`imported row ${CAP}`);

    // A word in the lines' fields and in the marker's message: the marker leads, the last lines kept follow it.
    await go('#/logs?q=stored');
    await page.waitForFunction(() => document.querySelectorAll('[data-testid="log-row"]').length === 100);
    expect(await page.locator(id('log-row')).first().locator(id('log-truncated')).textContent()).toContain('25 more lines');
    expect(await page.locator(id('log-row')).nth(1).textContent()).toContain(`imported row ${CAP}`);
    await shootBothThemes(page, 'logs-truncated');

    await go(`#/logs?q=${encodeURIComponent('log truncated')}&level=warn`);
    await page.waitForSelector(`${id('log-row')}[data-run-id="${noisyRun}"] ${id('log-truncated')}`);
    expect(await page.textContent(`${id('log-row')}[data-run-id="${noisyRun}"]`)).toContain('25 more lines');

    await page.click(`${id('log-row')}[data-run-id="${noisyRun}"] ${id('log-run-link')}`);
    await page.waitForSelector(`${id('task-panel')}[aria-label="task import-catalog"] ${id('log-truncated')}`);
    const mark = await page.textContent(`${id('task-panel')} ${id('log-truncated')}`);
    expect(mark).toContain('25 more lines');
    expect(mark).toContain(`after the first 1,000 lines`);
    await page.locator(`${id('task-panel')} ${id('log-truncated')}`).scrollIntoViewIfNeeded();
    await shootBothThemes(page, 'logs-task-panel-truncated');
  });
});
