// The Overview page in a real browser against the built `cleaver serve` and a worker
// (test/e2e/fixtures/overview-worker.ts): after a small workload its charts are drawn with data, the
// totals are the workload's, a workflow drills down, a workflow's page charts its custom metrics, and
// serve's /metrics gives the same counts as Prometheus text.
// Screenshots of both themes at 1440×900 land in test-results/screenshots/overview-{light,dark}.png.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cleaver } from '../../sdk/index.ts';
import { ROOT, spawnChild, tempDir, type EngineProcess, type WorkerProcess } from '../integration/harness.ts';
import { SCREENSHOTS, browserAvailable, launchChromium, openConsolePage, startConsoleServe, stopConsoleSuite, type ConsoleServe } from './console-serve.ts';

const WORKER = join(ROOT, 'test/e2e/fixtures/overview-worker.ts');

describe.skipIf(!browserAvailable())('the Overview after a workload', () => {
  let dir: string;
  let engine: EngineProcess;
  let worker: WorkerProcess | null = null;
  let browser: Browser;
  let page: Page;
  let cleaver: Cleaver;
  let serve: ConsoleServe;
  const id = (testId: string) => `[data-testid="${testId}"]`;
  const go = (hash: string) => page.evaluate((h) => (location.hash = h), hash);
  /** Drawn marks inside a chart: bars with a height, curves with a length, dots of a sparse line. */
  const marks = (chart: string) =>
    page.$$eval(`${id(chart)} .recharts-bar-rectangle path, ${id(chart)} .recharts-line-curve, ${id(chart)} .recharts-area-area, ${id(chart)} .recharts-line-dots circle`, (els) =>
      els.filter((e) => {
        const box = (e as SVGGraphicsElement).getBBox();
        return box.height > 0 || box.width > 0;
      }).length,
    );

  beforeAll(async () => {
    dir = tempDir('clv-overview-');
    mkdirSync(SCREENSHOTS, { recursive: true });
    serve = await startConsoleServe(dir);
    engine = serve.engine;
    worker = spawnChild(['--import', 'tsx', WORKER], { env: { ...process.env, CLEAVER_ADDRESS: `unix://${join(dir, 'e.sock')}` }, readyLine: 'ready\n', what: 'overview worker' });
    await worker.ready;
    cleaver = Cleaver.connect({ address: `unix://${join(dir, 'e.sock')}` });
    // The workload, in six waves 4 s apart (so the 10 s steps of 15 minutes show a few bars, not one):
    // 40 ingests, 12 charges of which 3 are declined (twice each), 6 reports.
    const WAVES = 6;
    for (let wave = 0; wave < WAVES; wave++) {
      if (wave > 0) await new Promise((resolve) => setTimeout(resolve, 4_000));
      const share = <T,>(items: T[]) => items.filter((_, i) => i % WAVES === wave);
      await Promise.all([
        cleaver.ref('ingest-orders').runMany(share(Array.from({ length: 40 }, (_, i) => ({ rows: 5 + ((i * 37) % 60) })))),
        Promise.allSettled(share(Array.from({ length: 12 }, (_, i) => i)).map((i) => cleaver.ref('charge-card').run({ declined: i % 4 === 0 }))),
        cleaver.ref('nightly-report').runMany(share(Array.from({ length: 6 }, () => ({})))),
      ]);
    }
    browser = await launchChromium();
    page = await openConsolePage(browser, serve.printed.href);
    await page.waitForSelector(id('page-runs'));
  }, 120_000);

  afterAll(async () => {
    await cleaver?.close();
    await stopConsoleSuite({ browser, worker, engine, dir });
  });

  it('draws throughput, error rate, latency and queue charts with the workload in them', { timeout: 60_000 }, async () => {
    await page.click(id('nav-overview'));
    await page.waitForSelector(id('page-overview'));
    // The engine writes what it counted every 5 s, and the page reads every 5 s.
    await page.waitForFunction(() => document.querySelector('[data-testid="stat-runs-created"] .stat-value')?.textContent === '58', undefined, { timeout: 30_000 });
    expect(await page.textContent(`${id('stat-runs-succeeded')} .stat-value`)).toBe('55');
    expect(await page.textContent(`${id('stat-runs-failed')} .stat-value`)).toBe('3');
    expect(await page.textContent(`${id('stat-error-rate')} .stat-value`)).toBe('5%');
    for (const chart of ['chart-throughput', 'chart-errors', 'chart-duration', 'chart-queue-time']) {
      await page.waitForSelector(`${id(chart)} svg`);
      expect(await marks(chart), `${chart} draws its data`).toBeGreaterThan(0);
      expect(await page.$(`${id(`${chart}-card`)} .chart-empty`), `${chart} does not say it is empty`).toBeNull();
    }
    // 60 points of a minute each over the last hour.
    expect(await page.getAttribute(id('chart-throughput'), 'data-points')).toBe('60');
    const rows = await page.$$eval('[data-testid="overview-workflow-row"]', (els) => els.map((e) => e.getAttribute('data-name')));
    expect(rows.sort()).toEqual(['charge-card', 'ingest-orders', 'nightly-report']);

    await page.click(id('range-15m'));
    await page.waitForFunction(() => document.querySelector('[data-testid="chart-throughput"]')?.getAttribute('data-points') === '90');
    await page.waitForSelector(`${id('chart-queue-depth')} svg`);
    await page.waitForFunction(() => !document.querySelector('[data-testid="chart-queue-depth-card"] .chart-empty'), undefined, { timeout: 15_000 });
    await page.screenshot({ path: join(SCREENSHOTS, 'overview-dark.png') });
    await page.click(id('theme-toggle'));
    await page.waitForFunction(() => document.documentElement.dataset.theme === 'light');
    // The charts take the new theme's colors (read after the switch).
    await page.waitForFunction(() => {
      const rect = document.querySelector('[data-testid="chart-throughput"] .recharts-bar-rectangle path');
      return rect !== null && rect.getAttribute('fill') !== getComputedStyle(document.documentElement).getPropertyValue('--bg');
    });
    await page.screenshot({ path: join(SCREENSHOTS, 'overview-light.png') });
    await page.click(id('theme-toggle'));
  });

  it('drills down to one workflow, whose page charts its custom metrics', { timeout: 60_000 }, async () => {
    await page.click('[data-testid="overview-workflow-row"][data-name="charge-card"] [data-testid="overview-drill"]');
    await page.waitForFunction(() => document.querySelector('.page-title')?.textContent === 'charge-card');
    await page.waitForFunction(() => document.querySelector('[data-testid="stat-runs-created"] .stat-value')?.textContent === '12');
    expect(await page.textContent(`${id('stat-runs-failed')} .stat-value`)).toBe('3');
    expect(await page.textContent(`${id('stat-runs-failed')} .stat-detail`)).toContain('3 retried');
    expect(await marks('chart-retries')).toBeGreaterThan(0);

    await go('#/workflows/ingest-orders');
    await page.waitForSelector(id('custom-metrics'));
    await page.waitForSelector(`${id('custom-metric-rows')} svg`);
    expect(await marks('custom-metric-rows')).toBeGreaterThan(0);
    expect(await page.textContent(`${id('custom-metric-rows-card')} .chart-head`)).toContain('40 values');
    expect(await page.$(id('custom-metric-bytes'))).not.toBeNull();
    await page.click(id('custom-metric-rows-mean'));
    await page.waitForSelector(`${id('custom-metric-rows')} .recharts-line-dots circle`);
    expect(await marks('custom-metric-rows')).toBeGreaterThan(0);
    await page.locator(id('custom-metrics')).screenshot({ path: join(SCREENSHOTS, 'overview-custom-metrics.png') });
  });

  it('serves the same counts as Prometheus text at /metrics on the console address, with the token', async () => {
    const url = new URL('/metrics', serve.printed.origin);
    expect((await fetch(url)).status).toBe(401);
    const text = await (await fetch(url, { headers: { authorization: `Bearer ${serve.token}` } })).text();
    expect(text).toContain('cleaver_tasks_total{workflow="ingest-orders",status="succeeded"} 40');
    expect(text).toContain('cleaver_runs_total{workflow="charge-card",status="failed"} 3');
    expect(text).toMatch(/^cleaver_task_queue_seconds_count\{workflow="ingest-orders"\} 40$/m);
    expect(text).toMatch(/^cleaver_worker_slots\{state="free"\} 16$/m);
  });
});
