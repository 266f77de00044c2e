// The Runs page under load in a real browser against the built `cleaver serve`: 10,000 runs, all
// loaded by scrolling, then ~10 s of a worker (test/e2e/fixtures/live-load-worker.ts) changing a few
// hundred runs a second while new runs arrive on top. The page must apply the pushed changes in
// batches — a bounded number of list reads per change, never the whole loaded list again — keep
// only the rows in view in the DOM, and still show what changed, off screen too.
//
// It measures, in the browser, what a person feels (time to the first row, frame intervals, long
// tasks) and what the page asks of the engine (requests and rows per second), prints the figures and
// writes them to test-results/live-load.json. They are figures, not assertions: the machine is
// shared. A 1440×900 screenshot under load lands in test-results/screenshots/runs-live-10k.png.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cleaver } from '../../sdk/index.ts';
import { ROOT, spawnChild, tempDir, type EngineProcess, type WorkerProcess } from '../integration/harness.ts';
import { SCREENSHOTS, browserAvailable, launchChromium, openConsolePage, startConsoleServe, stopConsoleSuite, type ConsoleServe } from './console-serve.ts';

const WORKER = join(ROOT, 'test/e2e/fixtures/live-load-worker.ts');
const RUNS = 10_000;
/** 20 slots of 100 ms: at most 200 runs a second start and finish, 400 changes of state. */
const SLOTS = 20;
const STEP_MS = 100;
const LIVE_MS = 10_000;
/** New runs every 500 ms, at the highest priority so the worker takes them at once: they change in view, on top. */
const NEW_EVERY_MS = 500;
const NEW_EACH = 10;

interface Call {
  at: number;
  method: string;
  params: Record<string, unknown>;
  /** From the call to its answer. */
  ms?: number;
}
/** What the init script keeps in the page (window.__live). */
interface LiveProbe {
  firstRowMs: number | null;
  firstRowPaintMs: number | null;
  calls: Call[];
  frames: number[];
  longTasks: number[];
  domRowsMax: number;
  recording: boolean;
}

describe.skipIf(!browserAvailable())('the Runs page with 10,000 runs changing', () => {
  let dir: string;
  let serve: ConsoleServe;
  let engine: EngineProcess;
  let worker: WorkerProcess | null = null;
  let browser: Browser;
  let page: Page;
  let cleaver: Cleaver;
  const seeded: string[] = [];
  const pageErrors: string[] = [];
  /** Rows each runsList response carried, with when it came (test clock). */
  const responses: Array<{ at: number; method: string; rows: number }> = [];
  const changeMessages: number[] = [];
  const figures: Record<string, unknown> = {};

  beforeAll(async () => {
    dir = tempDir('clv-live-');
    mkdirSync(SCREENSHOTS, { recursive: true });
    serve = await startConsoleServe(dir);
    engine = serve.engine;
    cleaver = Cleaver.connect({ address: `unix://${join(dir, 'e.sock')}` });
    // The worker's task, declared here too, so its runs can be queued before the worker starts.
    const step = cleaver.task({ name: 'live-step', fn: () => ({ ok: true }) });
    for (let i = 0; i < RUNS; i += 1000) {
      const refs = await step.runManyNoWait(Array.from({ length: 1000 }, () => ({ ms: STEP_MS })));
      seeded.push(...refs.map((r) => r.runId));
    }
    browser = await launchChromium();
  }, 180_000);

  afterAll(async () => {
    await cleaver?.close();
    await stopConsoleSuite({ browser, worker, engine, dir });
  });

  it('loads 10,000 runs, applies a worker’s changes in batches, and shows them', { timeout: 240_000 }, async () => {
    page = await openConsolePage(browser, 'about:blank');
    page.on('pageerror', (e) => pageErrors.push(e.message));
    await page.addInitScript(probe);
    page.on('response', async (response) => {
      const method = /\/api\/([A-Za-z]+)$/.exec(new URL(response.url()).pathname)?.[1];
      if (!method) return;
      const at = Date.now();
      const body = (await response.json().catch(() => null)) as { data?: { runs?: unknown[] } } | null;
      responses.push({ at, method, rows: body?.data?.runs?.length ?? 0 });
    });
    page.on('websocket', (ws) => ws.on('framereceived', () => changeMessages.push(Date.now())));

    // ---- Load: the first row, then scrolled through until every run is in the list.
    const loadStart = Date.now();
    await page.goto(serve.printed.href);
    await page.waitForSelector('[data-testid="runs-row"]');
    await page.waitForFunction(() => (window as unknown as { __live: LiveProbe }).__live.firstRowPaintMs !== null);
    const first = await live((p) => ({ firstRowMs: p.firstRowMs, firstRowPaintMs: p.firstRowPaintMs }));
    const loaded = () => page.$eval('[role="table"]', (t) => Number(t.getAttribute('aria-rowcount')));
    // As a person scrolls: to the end, and when the list does not grow there, up a little and down again.
    for (let stalls = 0; (await loaded()) < RUNS || (await page.$('.row-more')); ) {
      const before = await loaded();
      await page.$eval('[data-testid="runs-scroll"]', (el) => (el.scrollTop = el.scrollHeight));
      const grew = await page
        .waitForFunction((n) => Number(document.querySelector('[role="table"]')!.getAttribute('aria-rowcount')) > n || !document.querySelector('.row-more'), before, { timeout: 3_000 })
        .then(() => true, () => false);
      if (grew) continue;
      expect(++stalls, 'the list kept loading as it was scrolled').toBeLessThan(40);
      await page.$eval('[data-testid="runs-scroll"]', (el) => (el.scrollTop -= 400));
    }
    const loadMs = Date.now() - loadStart;
    expect(await loaded()).toBe(RUNS);
    const loadCalls = await live((p) => p.calls.length);
    const loadRows = responses.filter((r) => r.method === 'runsList').reduce((n, r) => n + r.rows, 0);
    // The oldest runs, at the bottom: the worker takes them first, while they are off screen.
    await page.$eval('[data-testid="runs-scroll"]', (el) => (el.scrollTop = el.scrollHeight));
    await page.waitForSelector(`[data-testid="runs-row"][data-run-id="${seeded[0]}"]`).catch(async (e: unknown) => {
      // Where the list was instead, so a failure says what it saw.
      const at = await page.$eval('[data-testid="runs-scroll"]', (el) => ({ top: el.scrollTop, height: el.scrollHeight, view: el.clientHeight }));
      const ids = (await shownRows()).map((r) => r.id);
      const where = ids.map((id) => seeded.indexOf(id));
      throw new Error(`the oldest run did not show at the end of the list: scroll ${JSON.stringify(at)}, ${await loaded()} runs loaded, rows shown are seeded #${where[0]}…#${where.at(-1)} (${String(e)})`);
    });
    const bottomIds = await shownRows().then((rows) => rows.map((r) => r.id));
    expect(bottomIds.every((id) => seeded.slice(0, 100).includes(id))).toBe(true);
    await page.$eval('[data-testid="runs-scroll"]', (el) => (el.scrollTop = 0));

    // ---- Live: the worker works through the queue, new runs arrive on top, the page stays open.
    worker = spawnChild(['--import', 'tsx', WORKER], { env: { ...process.env, CLEAVER_ADDRESS: `unix://${join(dir, 'e.sock')}`, CLEAVER_TEST_SLOTS: String(SLOTS) }, readyLine: 'ready\n', what: 'live-load worker' });
    await worker.ready;
    const finishedBefore = (await cleaver.runs.count({ statuses: ['succeeded'] })).count;
    const added: string[] = [];
    let producing = true;
    const producer = (async () => {
      while (producing) {
        const refs = await cleaver.ref('live-step').runManyNoWait(Array.from({ length: NEW_EACH }, () => ({ ms: STEP_MS })), { priority: 3 });
        added.push(...refs.map((r) => r.runId));
        await new Promise((resolve) => setTimeout(resolve, NEW_EVERY_MS));
      }
    })();
    const liveFrom = await live((p) => ((p.recording = true), (p.frames = []), (p.longTasks = []), (p.domRowsMax = 0), p.calls.length));
    const liveStart = Date.now();
    await page.evaluate(startFrames);
    await new Promise((resolve) => setTimeout(resolve, LIVE_MS));
    const recorded = await live((p) => ((p.recording = false), { frames: p.frames, longTasks: p.longTasks, domRowsMax: p.domRowsMax, calls: p.calls }));
    const liveMs = Date.now() - liveStart;
    const finishedDuring = (await cleaver.runs.count({ statuses: ['succeeded'] })).count - finishedBefore;
    await page.screenshot({ path: join(SCREENSHOTS, 'runs-live-10k.png') });
    producing = false;
    await producer;

    // ---- Figures.
    const calls = recorded.calls.slice(liveFrom);
    const lists = calls.filter((c) => c.method === 'runsList');
    const liveResponses = responses.filter((r) => r.at >= liveStart && r.at < liveStart + liveMs);
    const rowsFetched = liveResponses.filter((r) => r.method === 'runsList').reduce((n, r) => n + r.rows, 0);
    const intervals = recorded.frames.slice(1).map((t, i) => t - recorded.frames[i]!);
    const byMethod: Record<string, { calls: number; meanMs: number }> = {};
    for (const c of calls) {
      const m = (byMethod[c.method] ??= { calls: 0, meanMs: 0 });
      m.meanMs = round((m.meanMs * m.calls + (c.ms ?? 0)) / ++m.calls);
    }
    const perSecond = (n: number) => round((n * 1000) / liveMs);
    Object.assign(figures, {
      runs: RUNS,
      load: { firstRowMs: round(first.firstRowMs!), firstRowPaintMs: round(first.firstRowPaintMs!), allLoadedMs: loadMs, adminRequests: loadCalls, runsListRowsFetched: loadRows },
      live: {
        seconds: round(liveMs / 1000),
        runsFinishedPerSecond: perSecond(finishedDuring),
        newRunsPerSecond: perSecond(added.length),
        changeMessagesPerSecond: perSecond(changeMessages.filter((t) => t >= liveStart && t < liveStart + liveMs).length),
        frames: { count: intervals.length, p50Ms: round(percentile(intervals, 0.5)), p95Ms: round(percentile(intervals, 0.95)), maxMs: round(Math.max(...intervals)), over50Ms: intervals.filter((d) => d > 50).length },
        longTasks: { count: recorded.longTasks.length, totalMs: round(recorded.longTasks.reduce((a, b) => a + b, 0)) },
        adminRequestsPerSecond: perSecond(calls.length),
        requestsByMethod: byMethod,
        runsListPerSecond: perSecond(lists.length),
        runsListMaxIn500Ms: maxInWindow(lists.map((c) => c.at), 500),
        runsListRowsPerSecond: perSecond(rowsFetched),
        runsListRowsTotal: rowsFetched,
        domRowsMax: recorded.domRowsMax,
      },
    });
    writeFileSync(join(ROOT, 'test-results/live-load.json'), `${JSON.stringify(figures, null, 2)}\n`);
    console.log(`live load figures (test-results/live-load.json):\n${JSON.stringify(figures, null, 2)}`);

    // ---- Behaviour.
    expect(pageErrors).toEqual([]);
    expect(finishedDuring, 'the worker changed runs throughout').toBeGreaterThan(500);
    // Batched: one refresh at a time, at most two list reads each, and never the loaded list again.
    expect(maxInWindow(lists.map((c) => c.at), 500)).toBeLessThanOrEqual(2);
    expect(rowsFetched).toBeLessThan(RUNS);
    expect(Math.max(...lists.map((c) => Number(c.params.limit ?? 50)))).toBeLessThanOrEqual(1000);
    // Virtualized: a screenful of rows and the overscan, not 10,000.
    expect(recorded.domRowsMax).toBeGreaterThan(10);
    expect(recorded.domRowsMax).toBeLessThan(100);

    // New runs came in on top, and the oldest runs, finished off screen, show it when scrolled to.
    const newest = added.at(-1)!;
    await page.waitForFunction((id) => document.querySelector('[data-testid="runs-row"]')?.getAttribute('data-run-id') === id, newest, { timeout: 10_000 });
    expect(await loaded()).toBeGreaterThanOrEqual(RUNS + added.length - NEW_EACH);
    const ended = await Promise.all(bottomIds.map((id) => cleaver.runs.get(id).then((d) => d.run.status)));
    expect(ended.every((s) => s === 'succeeded')).toBe(true);
    // Read as the rows first appear, before the slow timer could have read them again in view: what
    // they show came from the changes pushed while they were off screen.
    await page.$eval('[data-testid="runs-scroll"]', (el) => (el.scrollTop = el.scrollHeight));
    const shownBottom = (await page
      .waitForFunction((want) => {
        const rows = [...document.querySelectorAll('[data-testid="runs-row"]')].map((e) => ({ id: e.getAttribute('data-run-id')!, status: e.getAttribute('data-status')! }));
        const bottom = rows.filter((r) => want.includes(r.id));
        return bottom.length > 10 && bottom;
      }, bottomIds)
      .then((handle) => handle.jsonValue())) as Array<{ id: string; status: string }>;
    expect(shownBottom.filter((r) => r.status !== 'succeeded')).toEqual([]);
  });

  function live<T>(fn: (probe: LiveProbe) => T): Promise<T> {
    return page.evaluate(`(${fn.toString()})(window.__live)`) as Promise<T>;
  }

  function shownRows(): Promise<Array<{ id: string; status: string }>> {
    return page.$$eval('[data-testid="runs-row"]', (els) => els.map((e) => ({ id: e.getAttribute('data-run-id')!, status: e.getAttribute('data-status')! })));
  }
});

/**
 * Runs in the page before its own scripts: when the first run row appears (and the frame after it),
 * every admin call the page makes (browser clock), and long tasks while recording.
 */
function probe(): void {
  const p: LiveProbe = { firstRowMs: null, firstRowPaintMs: null, calls: [], frames: [], longTasks: [], domRowsMax: 0, recording: false };
  (window as unknown as { __live: LiveProbe }).__live = p;
  const rows = new MutationObserver(() => {
    if (p.firstRowMs !== null || !document.querySelector('[data-testid="runs-row"]')) return;
    p.firstRowMs = performance.now();
    requestAnimationFrame(() => (p.firstRowPaintMs = performance.now()));
    rows.disconnect();
  });
  rows.observe(document, { childList: true, subtree: true });
  new PerformanceObserver((list) => {
    if (p.recording) for (const entry of list.getEntries()) p.longTasks.push(entry.duration);
  }).observe({ type: 'longtask' });
  const fetch = window.fetch;
  window.fetch = function (input: RequestInfo | URL, init?: RequestInit) {
    const method = /\/api\/([A-Za-z]+)$/.exec(new URL(input instanceof Request ? input.url : String(input), location.href).pathname)?.[1];
    if (!method) return fetch.call(this, input, init);
    const call: Call = { at: performance.now(), method, params: typeof init?.body === 'string' ? (JSON.parse(init.body) as Record<string, unknown>) : {} };
    p.calls.push(call);
    return fetch.call(this, input, init).then((response) => ((call.ms = performance.now() - call.at), response));
  };
}

/** Records every frame while recording, and the most rows the table had in the DOM. */
function startFrames(): void {
  const p = (window as unknown as { __live: LiveProbe }).__live;
  let n = 0;
  const tick = (t: number) => {
    if (!p.recording) return;
    p.frames.push(t);
    if (n++ % 10 === 0) p.domRowsMax = Math.max(p.domRowsMax, document.querySelectorAll('[data-testid="runs-scroll"] .row').length);
    requestAnimationFrame(tick);
  };
  requestAnimationFrame(tick);
}

function percentile(values: number[], q: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

/** The most timestamps within any `ms`-long window. */
function maxInWindow(times: number[], ms: number): number {
  const sorted = [...times].sort((a, b) => a - b);
  let most = 0;
  for (let i = 0, j = 0; i < sorted.length; i++) {
    while (sorted[i]! - sorted[j]! >= ms) j++;
    most = Math.max(most, i - j + 1);
  }
  return most;
}

function round(n: number): number {
  return Math.round(n * 10) / 10;
}
