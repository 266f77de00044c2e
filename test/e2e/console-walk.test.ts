// What a newcomer's walk through the console found (issue 14), checked in a real browser against the
// built `cleaver serve` and a worker (test/e2e/fixtures/walk-worker.ts): a 24-way fan-out with long
// names stays legible in the run and the workflow views, 1,500 child runs sit under their parent with
// the right count, actions ask first and say what they did, and the smaller things. Screenshots land
// in test-results/screenshots/walk-*.png; the ones the issue asks for are kept in docs/screenshots/.
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, kill, spawnChild, tempDir, waitFor, type EngineProcess, type WorkerProcess } from '../integration/harness.ts';
import { CHROMIUM, SCREENSHOTS, launchChromium, shootBothThemes, startConsoleServe, stopConsoleSuite, type ConsoleServe } from './console-serve.ts';

const WORKER = join(ROOT, 'test/e2e/fixtures/walk-worker.ts');
const haveBrowser = existsSync(CHROMIUM);
const RESOURCES = Array.from({ length: 24 }, (_, i) => `provision-resource-${String(i + 1).padStart(2, '0')}`);
const CHILDREN = 1500;

if (!haveBrowser && process.env.CLEAVER_REQUIRE_BROWSER) {
  throw new Error(`CLEAVER_REQUIRE_BROWSER is set but there is no browser at ${CHROMIUM}: install chromium (apt-get install chromium) or point CLEAVER_CHROMIUM at one`);
}

describe.skipIf(!haveBrowser)("the console after a newcomer's walk (issue 14)", () => {
  let dir: string;
  let engine: EngineProcess;
  let worker: WorkerProcess | null = null;
  let browser: Browser;
  let page: Page;
  let consoleUrl: URL;
  let serve: ConsoleServe;
  const api: ConsoleServe['api'] = (method, params) => serve.api(method, params);
  async function runUntil(runId: string, statuses: string[], timeoutMs = 60_000): Promise<void> {
    await waitFor(`run ${runId} to be ${statuses.join(' or ')}`, async () => statuses.includes((await api('runGet', { runId })).run.status), timeoutMs);
  }
  const shot = (name: string) => page.screenshot({ path: join(SCREENSHOTS, `walk-${name}.png`) });
  /** The whole 1440×900 window, in the dark theme and in the light one (for a reviewer to look at). */
  const bothThemes = (name: string) => shootBothThemes(page, `walk-${name}`);
  /** Only the part of the page a check is about: smaller files, for docs/screenshots. */
  const shotOf = async (name: string, selector: string, maxHeight = 760) => {
    const box = (await page.locator(selector).first().boundingBox())!;
    await page.screenshot({ path: join(SCREENSHOTS, `walk-${name}.png`), clip: { ...box, height: Math.min(box.height, maxHeight) } });
  };
  const id = (testId: string) => `[data-testid="${testId}"]`;
  const go = (hash: string) => page.evaluate((h) => (location.hash = h), hash);

  /** Every fan-out name drawn whole (no ellipsis, not marked truncated), inside the graph's visible area, at a readable size. */
  async function expectNamesLegible(graph: string): Promise<void> {
    const report = await page.$$eval(
      `${graph} [data-testid^="dag-node-provision-resource-"]`,
      (nodes, viewportSel) => {
        const viewport = document.querySelector(viewportSel)!.getBoundingClientRect();
        return nodes.map((node) => {
          const name = node.querySelector('[data-testid="dag-node-name"]')!;
          const box = name.getBoundingClientRect();
          const fontSize = Number.parseFloat(getComputedStyle(name).fontSize);
          const scale = (node.closest('svg') as SVGSVGElement).getBoundingClientRect().width / (node.closest('svg') as SVGSVGElement).viewBox.baseVal.width;
          return {
            testId: node.getAttribute('data-testid'),
            text: name.textContent,
            truncated: node.hasAttribute('data-truncated'),
            inView: box.top >= viewport.top - 1 && box.bottom <= viewport.bottom + 1 && box.left >= viewport.left - 1 && box.right <= viewport.right + 1,
            px: fontSize * scale,
          };
        });
      },
      `${graph} .dag-viewport`,
    );
    expect(report.map((r) => r.text)).toEqual(RESOURCES);
    for (const r of report) {
      expect(r.text, r.testId!).not.toContain('…');
      expect(r.truncated, r.testId!).toBe(false);
      expect(r.inView, `${r.testId} is inside the graph's visible area`).toBe(true);
      expect(r.px, `${r.testId} is drawn at a readable size`).toBeGreaterThanOrEqual(11);
    }
  }

  beforeAll(async () => {
    dir = tempDir('clv-walk-');
    mkdirSync(SCREENSHOTS, { recursive: true });
    serve = await startConsoleServe(dir);
    engine = serve.engine;
    consoleUrl = serve.printed;
    worker = spawnChild(['--import', 'tsx', WORKER], { env: { ...process.env, CLEAVER_ADDRESS: `unix://${join(dir, 'e.sock')}` }, readyLine: 'ready\n', what: 'walk worker' });
    await worker.ready;
    browser = await launchChromium();
    // A context of its own (a browser profile), so a second tab can be opened in it.
    page = await (await browser.newContext({ viewport: { width: 1440, height: 900 }, colorScheme: 'dark' })).newPage();
    page.setDefaultTimeout(20_000);
    page.on('pageerror', (e) => console.error('page error:', e.message));
    await page.goto(consoleUrl.href);
    await page.waitForSelector(id('page-runs'));
  }, 120_000);

  afterAll(() => stopConsoleSuite({ browser, worker, engine, dir }));

  let provisionRun: string;

  it('draws a 24-way fan-out with long names whole and readable in the run view, the task panel open or not', { timeout: 60_000 }, async () => {
    provisionRun = (await api('workflowTrigger', { name: 'provision-fleet', input: { region: 'eu-west' } })).runId;
    await runUntil(provisionRun, ['succeeded']);
    await go(`#/runs/${provisionRun}`);
    await page.waitForSelector('[data-testid="dag-node-verify-provisioned-resources"][data-status="succeeded"]');
    expect(await page.textContent(id('dag-group'))).toContain('24 tasks in parallel · 24 succeeded');
    await expectNamesLegible(id('dag'));
    await shotOf('dag-24-run', '.card-dag');

    await page.click(id('dag-node-provision-resource-07'));
    await page.waitForSelector(id('task-panel'));
    // The layout is redone for the narrower space instead of the text being shrunk.
    await page.waitForFunction(() => document.querySelector('[data-testid="dag"]')!.getBoundingClientRect().width < 1000);
    await expectNamesLegible(id('dag'));
    expect(Number(await page.getAttribute(id('dag'), 'data-scale'))).toBeGreaterThanOrEqual(0.9);
    await shotOf('dag-24-run-panel', '.run-body');
    await bothThemes('dag-24-run-panel-window');

    // Zoom is the reader's: out and back to actual size.
    await page.click(id('dag-zoom-out'));
    expect(Number(await page.getAttribute(id('dag'), 'data-scale'))).toBeLessThan(0.9);
    await page.click(id('dag-zoom-reset'));
    expect(await page.getAttribute(id('dag'), 'data-scale')).toBe('1');
  });

  it('draws the same fan-out legibly on the workflow page, with each task\u2019s policy inside its box', async () => {
    await go('#/workflows/provision-fleet');
    await page.waitForSelector(id('workflow-dag'));
    await expectNamesLegible(id('workflow-dag'));
    // The subtitle (policy, not the repeated 'workflow:task' action) fits inside its box.
    const spill = await page.$$eval('[data-testid="workflow-dag"] .dag-node', (nodes) =>
      nodes.filter((n) => {
        const box = n.querySelector('.dag-node-box')!.getBoundingClientRect();
        const detail = n.querySelector('.dag-node-detail')!.getBoundingClientRect();
        return detail.right > box.right + 0.5 || detail.left < box.left;
      }).length,
    );
    expect(spill).toBe(0);
    expect(await page.textContent(id('dag-node-provision-resource-01'))).toContain('no retries · 1m timeout');
    await shotOf('dag-24-workflow', '.workflow-main .card');
    await bothThemes('workflow-dag-window');
  });

  it('shows the full task names on the timeline too', async () => {
    await go(`#/runs/${provisionRun}?tab=timeline`);
    await page.waitForSelector(id('gantt-row-provision-resource-24'));
    const labels = await page.$$eval('[data-testid^="gantt-row-"] .gantt-name', (els) => els.map((e) => ({ text: e.textContent, clipped: e.scrollHeight > e.clientHeight + 1 || e.scrollWidth > e.clientWidth + 1 })));
    expect(labels.map((l) => l.text)).toEqual(['plan-provisioning-batch', ...RESOURCES, 'verify-provisioned-resources']);
    expect(labels.filter((l) => l.clipped)).toEqual([]);
  });

  let fanOutRun: string;

  it('groups 1,500 child runs under their parent, with the right count, an expander and a filter to list them all', { timeout: 120_000 }, async () => {
    fanOutRun = (await api('workflowTrigger', { name: 'fan-out', input: { count: CHILDREN } })).runId;
    await runUntil(fanOutRun, ['succeeded'], 100_000);
    await go('#/runs');
    const parentRow = `[data-testid="runs-row"][data-run-id="${fanOutRun}"]`;
    await page.waitForSelector(`${parentRow} ${id('expand-children')}`);
    expect(await page.getAttribute(`${parentRow} ${id('expand-children')}`, 'data-count')).toBe(String(CHILDREN));
    expect(await page.textContent(`${parentRow} ${id('expand-children')}`)).toContain('1,500 children');
    // Only top-level runs are listed: no square child among them, and the header counts both exactly.
    const topLevel = await page.$$eval(id('runs-row'), (rows) => rows.map((r) => r.querySelector('.cell-workflow .strong')!.textContent));
    expect(topLevel).not.toContain('square');
    const { count } = await api('runsCount', { topLevelOnly: true });
    await page.waitForFunction((n) => document.querySelector('[data-testid="runs-count"]')?.getAttribute('data-count') === String(n), count);
    expect(await page.textContent(id('runs-count'))).toBe(`${count} run${count === 1 ? '' : 's'} · 1,500 child runs listed under their parents`);
    await bothThemes('runs-grouped-window');

    await page.click(`${parentRow} ${id('expand-children')}`);
    await page.waitForSelector(id('child-runs-row'));
    expect(await page.getAttribute(`${parentRow} ${id('expand-children')}`, 'aria-expanded')).toBe('true');
    await page.waitForFunction(() => document.querySelector('[data-testid="children-more"]')?.textContent?.includes('Showing 25 of 1,500 child runs'));
    await shotOf('runs-children-grouped', '.runs-table', 420);
    await page.click(id('children-more-button'));
    // The table is virtualized: its paging line is now further down, rendered once scrolled to.
    await page.waitForFunction(() => {
      document.querySelector('[data-testid="runs-scroll"]')!.scrollTop = 1e6;
      return document.querySelector('[data-testid="children-more"]')?.textContent?.includes('Showing 50 of 1,500 child runs');
    });

    await page.selectOption(id('children-filter'), 'all');
    await page.waitForFunction(() => [...document.querySelectorAll('[data-testid="runs-row"] .cell-workflow .strong')].some((e) => e.textContent === 'square'));
    expect(page.url()).toContain('children=all');
    await page.selectOption(id('children-filter'), 'grouped');
  });

  it("pages a parent's children with the true total, and links parent and child both ways", { timeout: 60_000 }, async () => {
    await go(`#/runs/${fanOutRun}`);
    await page.waitForSelector(id('run-children'));
    expect(await page.textContent(id('child-count'))).toBe('1,500');
    await page.waitForFunction(() => document.querySelector('[data-testid="child-paging"]')?.textContent?.includes('Showing 50 of 1,500 child runs'));
    await page.click(id('child-more'));
    await page.waitForFunction(() => document.querySelector('[data-testid="child-paging"]')?.textContent?.includes('Showing 100 of 1,500 child runs'));
    await page.$eval(id('run-children'), (el) => el.scrollIntoView({ block: 'start' }));
    await shotOf('run-children', id('run-children'));

    await page.click(`${id('child-row')} >> nth=0`);
    await page.waitForSelector(id('run-parent'));
    expect(await page.textContent(id('run-parent'))).toContain('Spawned by task fan-out of run');
    await page.click(id('parent-link'));
    await page.waitForURL(new RegExp(`#/runs/${fanOutRun}`));
    await page.waitForSelector(id('run-children'));
  });

  it('asks before cancelling a run, says what will happen, and cancels only on the answer', { timeout: 60_000 }, async () => {
    const { runId } = await api('workflowTrigger', { name: 'wait-for-cancel', input: {} });
    await runUntil(runId, ['running']);
    await go(`#/runs/${runId}`);
    await page.waitForSelector('[data-testid="dag-node-wait-for-cancel"][data-status="running"]');
    await page.click(id('cancel-run'));
    await page.waitForSelector(id('cancel-dialog'));
    expect(await page.textContent(id('cancel-effects'))).toContain('1 running task (wait-for-cancel) is told to stop');
    await shotOf('cancel-confirm', id('cancel-dialog'));
    await page.click(id('confirm-dismiss'));
    await page.waitForSelector(id('cancel-dialog'), { state: 'detached' });
    expect((await api('runGet', { runId })).run.status).toBe('running');

    await page.click(id('cancel-run'));
    await page.click(id('confirm-accept'));
    await page.waitForSelector(`${id('run-detail-status')}[data-status="cancelled"]`);
    expect(await page.isDisabled(id('cancel-run'))).toBe(true);
  });

  it('enables bulk actions only for runs they can act on, confirms with the count, and names what it left alone', { timeout: 60_000 }, async () => {
    const { runId: waiting } = await api('workflowTrigger', { name: 'wait-for-cancel', input: {} });
    await runUntil(waiting, ['running']);
    await go('#/runs');
    const check = (runId: string) => page.click(`[data-testid="runs-row"][data-run-id="${runId}"] ${id('row-check')}`);
    await page.waitForSelector(`[data-testid="runs-row"][data-run-id="${waiting}"]`);
    // Only an ended (succeeded) run selected: nothing to cancel, nothing that failed to replay.
    await check(provisionRun);
    expect(await page.isDisabled(id('bulk-cancel'))).toBe(true);
    expect(await page.isDisabled(id('bulk-replay'))).toBe(true);
    expect(await page.getAttribute(id('bulk-replay'), 'title')).toContain('nothing failed to run again');

    await check(waiting);
    expect(await page.textContent(id('bulk-cancel'))).toBe('Cancel 1 run…');
    await page.click(id('bulk-cancel'));
    await page.waitForSelector(id('bulk-cancel-dialog'));
    expect(await page.textContent(id('bulk-cancel-dialog'))).toContain('1 selected run already ended and is left as it is');
    await page.click(id('confirm-accept'));
    await page.waitForSelector(`${id('notice-info')} >> text=Cancelled 1 run. Left alone: 1 run had already ended.`);
    await runUntil(waiting, ['cancelled']);
  });

  it("shows a failed run's error in its header, and wraps its stack", async () => {
    const { runId } = await api('workflowTrigger', { name: 'charge-card', input: {} });
    await runUntil(runId, ['failed']);
    await go(`#/runs/${runId}`);
    await page.waitForSelector(id('run-failure'));
    expect(await page.textContent(id('run-failure'))).toMatch(/NON_RETRYABLE\s*in charge-card\s*NonRetryableError: card 4242 was declined by the issuer: insufficient funds/);
    await page.click(id('run-failure-task'));
    await page.waitForSelector(`${id('task-error')} ${id('error-stack')}`);
    const stack = await page.$eval(`${id('task-error')} ${id('error-stack')}`, (el) => ({ whiteSpace: getComputedStyle(el).whiteSpace, overflows: el.scrollWidth > el.clientWidth + 1 }));
    expect(stack).toEqual({ whiteSpace: 'pre-wrap', overflows: false });
    await shot('failed-run');
  });

  it('replays a succeeded run from a task it asks for, then counts its duration from the replay and keeps the earlier attempts as history', { timeout: 60_000 }, async () => {
    const { runId } = await api('workflowTrigger', { name: 'flaky-import', input: {} });
    await runUntil(runId, ['succeeded']);
    const before = (await api('runGet', { runId })).run;
    await go(`#/runs/${runId}`);
    await page.waitForSelector(`${id('run-detail-status')}[data-status="succeeded"]`);
    await page.click(id('replay-run'));
    await page.waitForSelector(id('replay-dialog'));
    const text = await page.textContent(id('replay-dialog'));
    expect(text).toContain('Every task of this run succeeded, so nothing failed to run again: choose the task to start from.');
    expect(await page.textContent(id('replay-rerun'))).toContain('1 task — flaky-import');
    expect(text).not.toContain('fromTask');
    await page.click(id('confirm-accept'));
    await page.waitForSelector(id('run-replayed'));
    await runUntil(runId, ['succeeded']);
    const after = (await api('runGet', { runId })).run;
    expect(Date.parse(after.replayedAt!)).toBeGreaterThan(Date.parse(before.finishedAt!));
    // The duration is the replay's, not creation-to-now.
    await page.waitForFunction(() => document.querySelector('[data-testid="run-detail-status"]')?.getAttribute('data-status') === 'succeeded');
    await go(`#/runs/${runId}?tab=timeline`);
    await page.waitForSelector(id('timeline-history'));
    expect(await page.textContent(id('timeline-history'))).toMatch(/with 2 earlier attempts before it/);
    // Each try's failed attempt is drawn as failed, followed by a retry wait — not folded into "waiting".
    const kinds = await page.$$eval('[data-testid="gantt-row-flaky-import"] .gantt-bar', (bars) => bars.map((b) => `${b.getAttribute('data-kind')}${b.getAttribute('data-status') ? `:${b.getAttribute('data-status')}` : ''}`));
    expect(kinds).toContain('run:failed');
    expect(kinds).toContain('retry');
    expect(kinds.at(-1)).toBe('run:succeeded');
    await page.click(id('timeline-show-history'));
    await page.waitForFunction(() => document.querySelectorAll('[data-testid="gantt-row-flaky-import"] .gantt-history-bar').length > 0);
    await shotOf('replay-history', id('timeline'));
  });

  it('opens a run in a new tab of the same browser without asking for the token again; another browser profile still asks', async () => {
    const tab = await page.context().newPage();
    try {
      await tab.goto(new URL(`/#/runs/${provisionRun}`, consoleUrl).href);
      await tab.waitForSelector(id('page-run'));
      expect(await tab.$(id('token-screen'))).toBeNull();
    } finally {
      await tab.close();
    }
    const stranger = await browser.newPage();
    // Another profile's tabs cannot hear this one's.
    try {
      await stranger.goto(new URL(`/#/runs/${provisionRun}`, consoleUrl).href);
      await stranger.waitForSelector(id('token-screen'));
    } finally {
      await stranger.close();
    }
  });

  it('expands an event from anywhere on its row, and asks before replaying it', async () => {
    await api('eventsPush', { events: [{ key: 'order:created', payload: { id: 7 } }] });
    await go('#/events');
    await page.waitForSelector(id('events-row'));
    expect(await page.getAttribute(id('event-expand'), 'aria-expanded')).toBe('false');
    await page.click(`${id('events-row-main')} .cell >> nth=3`);
    await page.waitForSelector(id('event-details'));
    expect(await page.getAttribute(id('event-expand'), 'aria-expanded')).toBe('true');
    await page.click(`${id('events-row-main')} .cell >> nth=1`);
    await page.waitForSelector(id('event-details'), { state: 'detached' });
    await page.click(id('event-replay'));
    await page.waitForSelector(id('event-replay-dialog'));
    await page.click(id('confirm-dismiss'));
  });

  it('shows a not-found page for an unknown address', async () => {
    await go('#/nosuchpage');
    await page.waitForSelector(id('page-not-found'));
    expect(await page.textContent(id('not-found'))).toContain('no page at #/nosuchpage');
  });

  it('filters by several trigger kinds and does not offer cron', async () => {
    await go('#/runs');
    await page.click(id('trigger-filter'));
    expect(await page.$$eval('[data-testid^="trigger-option-"]', (els) => els.map((e) => e.getAttribute('data-testid')))).toEqual(['trigger-option-manual', 'trigger-option-event', 'trigger-option-child']);
    await page.click(`${id('trigger-option-manual')} input`);
    await page.click(`${id('trigger-option-child')} input`);
    await page.keyboard.press('Escape');
    expect(page.url()).toContain('trigger=manual%2Cchild');
    await page.waitForFunction(() => [...document.querySelectorAll('[data-testid="runs-row"] .tag-child')].length > 0);
    const kinds = new Set(await page.$$eval('[data-testid="runs-row"] .cell-trigger .tag', (els) => els.map((e) => e.textContent)));
    expect([...kinds].sort()).toEqual(['child', 'manual']);
  });

  it('checks the trigger form\u2019s JSON as it is typed, with the line and column, and formats it', async () => {
    await go('#/workflows/provision-fleet');
    await page.waitForSelector(id('trigger-input-text'));
    await page.fill(id('trigger-input-text'), '{\n  "region": "eu-west",\n  "count": \n}');
    await page.waitForSelector(id('trigger-input-problem'));
    expect(await page.textContent(id('trigger-input-problem'))).toMatch(/^Line 4, column 1: /);
    expect(await page.textContent('.json-editor-gutter-error')).toBe('4');
    expect(await page.isDisabled(id('trigger-button'))).toBe(true);
    await shotOf('json-editor-invalid', id('trigger-form'));
    await page.fill(id('trigger-input-text'), '{"region":"eu-west","count":3}');
    await page.waitForSelector(id('trigger-input-ok'));
    await page.click(`${id('trigger-input')} >> text=Format`);
    expect(await page.inputValue(id('trigger-input-text'))).toBe('{\n  "region": "eu-west",\n  "count": 3\n}');
  });

  it('lists workflows with their runs, success rate, and a warning when no worker serves them', { timeout: 30_000 }, async () => {
    await go('#/workflows');
    const row = (name: string) => `[data-testid="workflows-row"][data-name="${name}"]`;
    await page.waitForSelector(row('charge-card'));
    expect(await page.textContent(`${row('charge-card')} ${id('workflow-runs')}`)).toBe('1 · 1 failed');
    expect(await page.textContent(`${row('charge-card')} ${id('workflow-success')}`)).toBe('0%');
    expect(await page.textContent(`${row('square')} ${id('workflow-runs')}`)).toBe('1,000+');
    expect(await page.textContent(`${row('provision-fleet')} ${id('workflow-workers')}`)).toBe('1 worker');
    await kill(worker!);
    worker = null;
    await page.waitForSelector(`${row('provision-fleet')} ${id('no-worker')}`, { timeout: 15_000 });
    await shotOf('workflows-no-worker', '.static-table');
  });
});
