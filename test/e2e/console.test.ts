// The console in a real browser against the built `cleaver serve` (dist/, made by `npm run build`, which
// `npm test` runs first) and a real worker process: what a user does in it, end to end. Screenshots
// land in test-results/screenshots/ for a reviewer to look at: the Runs, Workers and Events pages and a
// task panel's live stream in both themes (<page>-dark.png, <page>-light.png), the other steps in dark.
// The Workflows list is taken by console-overview.test.ts, after a workload.
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, spawnWorker, tempDir, type EngineProcess, type WorkerProcess } from '../integration/harness.ts';
import { CHROMIUM, SCREENSHOTS, launchChromium, openConsolePage, shootBothThemes, startConsoleServe, stopConsoleSuite, type ConsoleServe } from './console-serve.ts';

const haveBrowser = existsSync(CHROMIUM);

if (!haveBrowser && process.env.CLEAVER_REQUIRE_BROWSER) {
  throw new Error(`CLEAVER_REQUIRE_BROWSER is set but there is no browser at ${CHROMIUM}: install chromium (apt-get install chromium) or point CLEAVER_CHROMIUM at one`);
}
if (!haveBrowser) {
  console.warn(`test/e2e/console.test.ts skipped: no browser at ${CHROMIUM}. Install chromium (or set CLEAVER_CHROMIUM) to run the console's browser tests; CI sets CLEAVER_REQUIRE_BROWSER=1 so they cannot be skipped there.`);
}

describe.skipIf(!haveBrowser)('the console in a browser, against cleaver serve and a worker', () => {
  let dir: string;
  let engine: EngineProcess;
  let worker: WorkerProcess | null = null;
  let browser: Browser;
  let page: Page;
  let consoleUrl: URL;
  let serve: ConsoleServe;
  const socket = () => join(dir, 'e.sock');
  /** The same HTTP API the console calls, for setting up data the scenario is not about. */
  const api: ConsoleServe['api'] = (method, params) => serve.api(method, params);

  const shot = (name: string) => page.screenshot({ path: join(SCREENSHOTS, `${name}.png`) });
  const byTestId = (id: string) => `[data-testid="${id}"]`;
  const go = async (hash: string) => {
    await page.evaluate((h) => (location.hash = h), hash);
  };
  const runIdFromUrl = () => /#\/runs\/([0-9a-f-]{36})/.exec(page.url())?.[1];

  async function triggerFromWorkflowsPage(name: string, input: string): Promise<string> {
    await go('#/workflows');
    await page.click(`[data-testid="workflows-row"][data-name="${name}"]`);
    await page.waitForSelector(byTestId('trigger-input-text'));
    await page.fill(byTestId('trigger-input-text'), input);
    await page.click(byTestId('trigger-button'));
    await page.waitForURL(/#\/runs\/[0-9a-f-]{36}/);
    return runIdFromUrl()!;
  }

  beforeAll(async () => {
    dir = tempDir('clv-e2e-');
    // Each run overwrites its own files; the other browser suites write beside them, maybe in parallel.
    mkdirSync(SCREENSHOTS, { recursive: true });
    serve = await startConsoleServe(dir);
    engine = serve.engine;
    consoleUrl = serve.printed;
    browser = await launchChromium();
    page = await openConsolePage(browser, consoleUrl.href);
  }, 120_000);

  afterAll(() => stopConsoleSuite({ browser, worker, engine, dir }));

  it('opens from the printed URL, drops the token from the address bar and goes live', async () => {
    await page.waitForSelector(byTestId('page-runs'));
    expect(page.url()).not.toContain('token=');
    await page.waitForSelector(`${byTestId('live-state')}.live-live`);
    await page.waitForSelector(byTestId('runs-empty'));
    await shot('runs-empty');
  });

  it('without a token, explains where to find it', async () => {
    const other = await browser.newPage({ viewport: { width: 1440, height: 900 }, colorScheme: 'dark' });
    try {
      await other.goto(new URL('/', consoleUrl).href);
      const text = await other.textContent(byTestId('token-screen'));
      expect(text).toContain('cleaver serve');
      expect(text).toContain('console-token');
      await other.screenshot({ path: join(SCREENSHOTS, 'token-needed.png') });
    } finally {
      await other.close();
    }
  });

  it('with no worker connected, shows the socket path and a worker to copy', async () => {
    await page.keyboard.press('g');
    await page.keyboard.press('k');
    await page.waitForSelector(byTestId('workers-empty'));
    expect(await page.textContent(byTestId('socket-path'))).toBe(`unix://${socket()}`);
    // The README's quick-start file, verbatim, and the command that points it at this engine.
    expect(await page.textContent(byTestId('worker-file'))).toBe(readFileSync(join(ROOT, 'examples/worker.mjs'), 'utf8'));
    expect(await page.textContent(byTestId('worker-command'))).toBe(`CLEAVER_ADDRESS=unix://${socket()} node worker.mjs`);
    await shot('workers-empty');
  });

  it('shows the worker once it connects, with its slots and actions', async () => {
    worker = spawnWorker({ dir, address: `unix://${socket()}`, tasks: ['echo', 'diamond', 'pipeline', 'patience', 'order-any', 'streamer'] });
    await worker.ready;
    const row = await page.waitForSelector(byTestId('workers-row'), { timeout: 10_000 });
    const text = await row.textContent();
    expect(text).toContain('0/10');
    expect(text).toContain('diamond:a');
  });

  it('triggers the diamond workflow from the Workflows page and watches every node succeed', { timeout: 60_000 }, async () => {
    await go('#/workflows');
    await page.waitForSelector('[data-testid="workflows-row"][data-name="diamond"]');
    await page.click('[data-testid="workflows-row"][data-name="diamond"]');
    await page.waitForSelector(byTestId('workflow-dag'));
    // A bad input is refused before anything is sent.
    await page.fill(byTestId('trigger-input-text'), '{"n": ');
    expect(await page.textContent(byTestId('trigger-problem'))).toMatch(/not valid JSON/);
    expect(await page.isDisabled(byTestId('trigger-button'))).toBe(true);
    await shot('workflow-detail');

    await page.fill(byTestId('trigger-input-text'), '{"n":3}');
    await page.click(byTestId('trigger-button'));
    await page.waitForURL(/#\/runs\/[0-9a-f-]{36}/);
    for (const task of ['a', 'b', 'c', 'd', 'e']) await page.waitForSelector(`[data-testid="dag-node-${task}"][data-status="succeeded"]`);
    await page.waitForSelector(`${byTestId('run-detail-status')}[data-status="succeeded"]`);
    await page.click(byTestId('dag-node-e'));
    expect(await page.textContent(byTestId('task-output'))).toContain('"v": 100');
    await shot('run-dag');
    await page.click(byTestId('tab-timeline'));
    await page.waitForSelector(byTestId('gantt-row-e'));
    await shot('run-timeline');
  });

  it("opens a failed task's error, replays from it once fixed, and the run succeeds", { timeout: 60_000 }, async () => {
    const marker = join(dir, 'transform-broken');
    writeFileSync(marker, '');
    const runId = await triggerFromWorkflowsPage('pipeline', JSON.stringify({ marker }));
    await page.waitForSelector(`${byTestId('run-detail-status')}[data-status="failed"]`, { timeout: 30_000 });
    await page.waitForSelector('[data-testid="dag-node-transform"][data-status="failed"]');
    expect(await page.getAttribute(byTestId('dag-node-load'), 'data-status')).toBe('cancelled');
    await page.click(byTestId('dag-node-transform'));
    await page.waitForSelector(byTestId('task-panel'));
    expect(await page.textContent(byTestId('task-error'))).toContain('transform is broken while the marker file exists');
    await shot('run-failed-task');

    rmSync(marker);
    await page.click(byTestId('replay-from-task'));
    // The dialog names what runs again before anything does.
    await page.waitForSelector(byTestId('replay-dialog'));
    expect(await page.textContent(byTestId('replay-rerun'))).toContain('transform and load');
    await page.click(byTestId('confirm-accept'));
    await page.waitForSelector(`${byTestId('run-detail-status')}[data-status="succeeded"]`, { timeout: 30_000 });
    await page.waitForSelector('[data-testid="dag-node-load"][data-status="succeeded"]');
    expect(runIdFromUrl()).toBe(runId);
    // Esc closes the panel.
    await page.keyboard.press('Escape');
    await page.waitForSelector(byTestId('task-panel'), { state: 'detached' });
  });

  it('filters runs by status on the server', { timeout: 60_000 }, async () => {
    const marker = join(dir, 'stays-broken');
    writeFileSync(marker, '');
    const { runId: failing } = await api('workflowTrigger', { name: 'pipeline', input: { marker } });
    await waitForRun(failing, 'failed');
    await go('#/runs');
    await page.waitForSelector(`[data-testid="runs-row"][data-run-id="${failing}"]`);

    await page.click(byTestId('status-filter'));
    await page.click(`${byTestId('status-option-failed')} input`);
    await page.keyboard.press('Escape');
    await page.waitForFunction(() => {
      const rows = [...document.querySelectorAll('[data-testid="runs-row"]')];
      return rows.length > 0 && rows.every((r) => r.getAttribute('data-status') === 'failed');
    });
    expect(await runRows()).toEqual([{ id: failing, status: 'failed' }]);
    expect(page.url()).toContain('status=failed');
    await shot('runs-filtered-failed');

    await page.click(byTestId('status-filter'));
    await page.click(`${byTestId('status-option-failed')} input`);
    await page.click(`${byTestId('status-option-succeeded')} input`);
    await page.keyboard.press('Escape');
    await page.waitForFunction(() => {
      const rows = [...document.querySelectorAll('[data-testid="runs-row"]')];
      return rows.length > 0 && rows.every((r) => r.getAttribute('data-status') === 'succeeded');
    });
    const succeeded = await runRows();
    // diamond and the replayed pipeline.
    expect(succeeded).toHaveLength(2);
    expect(succeeded.map((r) => r.id)).not.toContain(failing);
  });

  it('says in the sidebar how long ended runs are kept', async () => {
    await go('#/runs');
    await page.waitForSelector(byTestId('runs-row'));
    expect(await page.textContent(byTestId('engine-retention'))).toBe('retention 30d');
    expect(await page.getAttribute(byTestId('engine-retention'), 'title')).toBe('runs that ended more than 30d ago are deleted, with their logs');
    await shot('retention');
  });

  it('cancels a running run from its page', { timeout: 60_000 }, async () => {
    await triggerFromWorkflowsPage('patience', '{}');
    await page.waitForSelector('[data-testid="dag-node-wait"][data-status="running"]');
    await page.waitForSelector('[data-testid="dag-node-after"][data-status="pending"]');
    await shot('run-running');
    await page.click(byTestId('cancel-run'));
    await page.click(byTestId('confirm-accept'));
    await page.waitForSelector(`${byTestId('run-detail-status')}[data-status="cancelled"]`);
    await page.waitForSelector('[data-testid="dag-node-wait"][data-status="cancelled"]');
    await page.waitForSelector('[data-testid="dag-node-after"][data-status="cancelled"]');
  });

  it("shows a task's stream in its panel as the worker puts it: text, JSON and bytes", { timeout: 60_000 }, async () => {
    const { runId } = await api('workflowTrigger', { name: 'streamer', input: { delayMs: 150 } });
    await go(`#/runs/${runId}?task=streamer`);
    await page.waitForSelector(byTestId('task-stream'));
    const streamed = () => page.$$eval('[data-testid="stream-text"]', (blocks) => blocks.map((b) => b.textContent ?? '').join(''));
    // Live: words arrive one by one while the task is still running.
    await page.waitForFunction(() => (document.querySelector('[data-testid="stream-text"]')?.textContent ?? '').split(' ').length > 3);
    const notEnded = ['assigned', 'running'];
    expect(notEnded).toContain(await page.getAttribute(byTestId('task-status'), 'data-status'));
    const early = (await streamed()).trim().split(' ').length;
    await page.waitForFunction((n) => ([...document.querySelectorAll('[data-testid="stream-text"]')].map((b) => b.textContent).join('').trim().split(' ').length > n), early + 2);
    expect(notEnded).toContain(await page.getAttribute(byTestId('task-status'), 'data-status'));
    await page.waitForSelector(byTestId('stream-json'));
    expect(await page.textContent(byTestId('stream-json'))).toBe('{\n  "progress": 0.35,\n  "words": 8\n}');
    await shootBothThemes(page, 'streaming-live');
    await page.waitForSelector(`${byTestId('run-detail-status')}[data-status="succeeded"]`, { timeout: 30_000 });
    await page.waitForSelector(byTestId('stream-bytes'));
    expect(await streamed()).toBe('The worker puts each word as it comes and the console shows it at once, in order, while the task is still running. ');
    expect(await page.textContent(byTestId('stream-bytes'))).toBe('8 B ca fe ba be 00 01 02 03');
    expect(await page.textContent(byTestId('stream-state'))).toContain('stream ended');
    await shot('streaming');
  });

  it('lists events with the runs they triggered, and replays one', { timeout: 60_000 }, async () => {
    // Events no workflow listens for are listed too, with none.
    await api('eventsPush', {
      events: [
        { key: 'user:signed-up', payload: { userId: 'u_193', plan: 'team' } },
        { key: 'invoice:paid', payload: { invoice: 'inv_2041', amount: 129 } },
      ],
    });
    const pushed = await api('eventsPush', { events: [{ key: 'order:created', payload: { id: 7 } }] });
    const [event] = pushed.events;
    expect(event!.runIds).toHaveLength(1);
    await page.keyboard.press('g');
    await page.keyboard.press('e');
    const row = `[data-testid="events-row"][data-key="order:created"]`;
    await page.waitForSelector(`${row} ${byTestId('event-run-link')}`);
    await page.click(`${row} ${byTestId('event-replay')}`);
    await page.click(byTestId('confirm-accept'));
    await page.waitForFunction((sel) => document.querySelectorAll(`${sel} [data-testid="event-run-link"]`).length === 2, row);
    await shootBothThemes(page, 'events');
  });

  it('shows the connected worker on the Workers page, and every run so far on the Runs page (screenshots)', async () => {
    await go('#/workers');
    await page.waitForSelector(byTestId('workers-row'));
    await shootBothThemes(page, 'workers');
    // diamond, two pipelines, patience, streamer and the two runs of order:created.
    await go('#/runs');
    await page.waitForFunction(() => document.querySelectorAll('[data-testid="runs-row"]').length === 7);
    await shootBothThemes(page, 'runs');
   });

  async function runRows(): Promise<Array<{ id: string; status: string }>> {
    return page.$$eval('[data-testid="runs-row"]', (rows) => rows.map((r) => ({ id: r.getAttribute('data-run-id')!, status: r.getAttribute('data-status')! })));
  }

  async function waitForRun(runId: string, status: string): Promise<void> {
    const deadline = Date.now() + 30_000;
    for (;;) {
      const { run } = await api('runGet', { runId });
      if (run.status === status) return;
      if (Date.now() > deadline) throw new Error(`run ${runId} is ${run.status}, not ${status}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
});
