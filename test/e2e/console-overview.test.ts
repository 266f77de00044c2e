// The Overview page in a real browser against the built `cleaver serve` and a worker
// (test/e2e/fixtures/overview-worker.ts): after a small workload its charts are drawn with data, the
// totals are the workload's, a workflow drills down, a workflow's page charts its custom metrics, and
// serve's /metrics gives the same counts as Prometheus text.
// 1440×900 screenshots of both themes land in test-results/screenshots/: overview-*, workflows-*
// (the list after the workload) and workflow-metrics-* (a workflow's page with its ctx.metric charts).
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cleaver } from '../../sdk/index.ts';
import { ROOT, spawnChild, tempDir, type EngineProcess, type WorkerProcess } from '../integration/harness.ts';
import { SCREENSHOTS, browserAvailable, launchChromium, openConsolePage, shootBothThemes, startConsoleServe, stopConsoleSuite, type ConsoleServe } from './console-serve.ts';

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

  /** The throughput bars are filled with the current theme's succeeded color. */
  const chartsInThemeColors = () =>
    page
      .waitForFunction(() => {
        const bar = document.querySelector('[data-testid="chart-throughput"] .recharts-bar-rectangle path');
        return bar !== null && bar.getAttribute('fill') === getComputedStyle(document.documentElement).getPropertyValue('--s-succeeded').trim();
      })
      .then(() => undefined);

  beforeAll(async () => {
    dir = tempDir('clv-overview-');
    mkdirSync(SCREENSHOTS, { recursive: true });
    serve = await startConsoleServe(dir);
    engine = serve.engine;
    worker = spawnChild(['--import', 'tsx', WORKER], { env: { ...process.env, CLEAVER_ADDRESS: `unix://${join(dir, 'e.sock')}` }, readyLine: 'ready\n', what: 'overview worker' });
    await worker.ready;
    cleaver = Cleaver.connect({ address: `unix://${join(dir, 'e.sock')}` });
    // The workload, in 16 waves 8 s apart: two minutes of 10 s steps, so the screenshots show a
    // workload over time rather than one spike. 40 ingests, 12 charges of which 3 are declined (twice
    // each), 6 reports.
    const WAVES = 16;
    for (let wave = 0; wave < WAVES; wave++) {
      if (wave > 0) await new Promise((resolve) => setTimeout(resolve, 8_000));
      // Each kind spread evenly over the waves, so every part of the two minutes has each kind.
      const share = <T,>(items: T[]) => items.filter((_, i) => Math.floor((i * WAVES) / items.length) === wave);
      const reports = share(Array.from({ length: 6 }, () => ({})));
      await Promise.all([
        cleaver.ref('ingest-orders').runMany(share(Array.from({ length: 40 }, (_, i) => ({ rows: 5 + ((i * 37) % 60) })))),
        Promise.allSettled(share(Array.from({ length: 12 }, (_, i) => i)).map((i) => cleaver.ref('charge-card').run({ declined: i % 4 === 0 }))),
        reports.length > 0 && cleaver.ref('nightly-report').runMany(reports),
      ]);
    }
    browser = await launchChromium();
    page = await openConsolePage(browser, serve.printed.href);
    await page.waitForSelector(id('page-runs'));
  }, 240_000);

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
    // Each theme's shot waits for the bars to be drawn in that theme's colors (read after the switch).
    await shootBothThemes(page, 'overview', { ready: chartsInThemeColors });
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
    // The workload's two minutes, at 10 s steps.
    await page.click(id('custom-range-15m'));
    await page.waitForFunction(() => document.querySelector('[data-testid="custom-metric-bytes"]')?.getAttribute('data-points') === '90');
    await page.locator(id('custom-metrics')).scrollIntoViewIfNeeded();
    await shootBothThemes(page, 'workflow-metrics');
  });

  it('lists the workflows with their runs and success rate after the workload (screenshot)', async () => {
    await go('#/workflows');
    await page.waitForSelector('[data-testid="workflows-row"][data-name="charge-card"]');
    await page.waitForFunction(() => document.querySelector('[data-testid="workflows-row"][data-name="charge-card"] [data-testid="workflow-runs"]')?.textContent === '12 · 3 failed');
    expect(await page.textContent('[data-testid="workflows-row"][data-name="ingest-orders"] [data-testid="workflow-success"]')).toBe('100%');
    await shootBothThemes(page, 'workflows');
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
