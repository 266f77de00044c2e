// Metrics end to end on both drivers (docs/metrics.md): the buckets hold what the runs a test made did
// — per workflow and in all, at every stored resolution — custom values are aggregated, engines sharing
// a database add up, and /metrics is Prometheus text with the documented series, behind the token.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { forEachDriver } from '../driver/drivers.ts';
import { startAdminHttp, type AdminHttpServer } from '../../engine/admin/http-server.ts';
import { EngineMetrics } from '../../engine/metrics/engine-metrics.ts';
import { metricsSeriesGet } from '../../engine/metrics/metrics-query.ts';
import { silentLogger } from '../../engine/log.ts';
import { CleaverError, NonRetryableError, TaskRunError, type Worker } from '../../sdk/index.ts';
import { METRICS_COUNT_FIELDS, METRICS_RANGES, type MetricsCounts, type MetricsSeries } from '../../shared/metrics.ts';
import { PROTOCOL_VERSION } from '../../shared/protocol.ts';
import { RawClient, client, rawTask, removeDir, startEngine, tempDir, useEngine, waitFor } from './harness.ts';
import { openDriver } from '../../engine/db/open-driver.ts';
import { join } from 'node:path';

/** A Prometheus text exposition, parsed strictly enough that a malformed line fails the test. */
interface PromSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

function parsePrometheus(text: string): { types: Map<string, string>; samples: PromSample[] } {
  const types = new Map<string, string>();
  const samples: PromSample[] = [];
  for (const line of text.split('\n')) {
    if (line === '') continue;
    if (line.startsWith('# HELP ')) continue;
    const type = /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$/.exec(line);
    if (type) {
      types.set(type[1]!, type[2]!);
      continue;
    }
    const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)(?: \d+)?$/.exec(line);
    if (!sample) throw new Error(`not a Prometheus text line: ${JSON.stringify(line)}`);
    const labels: Record<string, string> = {};
    const body = sample[2] ?? '';
    const label = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(,|$)/gy;
    let at = 0;
    for (let m = label.exec(body); m; m = label.exec(body)) {
      labels[m[1]!] = m[2]!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
      at = label.lastIndex;
    }
    if (at !== body.length) throw new Error(`malformed labels in ${JSON.stringify(line)}`);
    const raw = sample[3]!;
    const value = raw === '+Inf' ? Infinity : raw === '-Inf' ? -Infinity : Number(raw);
    if (Number.isNaN(value) && raw !== 'NaN') throw new Error(`malformed value in ${JSON.stringify(line)}`);
    const family = sample[1]!.replace(/_(bucket|sum|count)$/, '');
    if (!types.has(sample[1]!) && types.get(family) !== 'histogram') throw new Error(`sample ${sample[1]} has no # TYPE line before it`);
    samples.push({ name: sample[1]!, labels, value });
  }
  return { types, samples };
}

/** The counts of a series, summed over its points (they must add up to its totals). */
function summed(series: MetricsSeries): MetricsCounts {
  const sum = Object.fromEntries(METRICS_COUNT_FIELDS.map((f) => [f, 0])) as unknown as MetricsCounts;
  for (const p of series.points) for (const f of METRICS_COUNT_FIELDS) sum[f] += p[f];
  return sum;
}

/** Every count zero but those given. */
function counted(fields: Partial<MetricsCounts>): MetricsCounts {
  return { ...(Object.fromEntries(METRICS_COUNT_FIELDS.map((f) => [f, 0])) as unknown as MetricsCounts), ...fields };
}

forEachDriver('metrics', (getDriver) => {
  // Written only when a test says so (flush), so each check sees exactly what came before it.
  const suite = useEngine(getDriver, { metricsIntervalMs: 3_600_000 });
  const unique = (prefix: string) => `${prefix}-${randomUUID().slice(0, 8)}`;
  const names = { ok: unique('metric-ok'), bad: unique('metric-bad'), flow: unique('metric-flow'), hold: unique('metric-hold'), unserved: unique('metric-unserved') };
  let worker: Worker;
  let http: AdminHttpServer;
  const TOKEN = 'metrics-test-token';
  const SLOTS = 7;

  beforeAll(async () => {
    const { cleaver } = suite;
    const ok = cleaver.task<{ n: number }, number>({
      name: names.ok,
      fn: (input, ctx) => {
        ctx.metric('items', input.n);
        ctx.metric('tokens.used', input.n * 10);
        return input.n;
      },
    });
    const bad = cleaver.task({ name: names.bad, retries: 1, fn: () => Promise.reject(new Error('always fails')) });
    const flow = cleaver.workflow({ name: names.flow });
    const a = flow.task({ name: 'a', fn: () => 'a' });
    const b = flow.task({ name: 'b', parents: [a], fn: () => Promise.reject(new NonRetryableError('b fails')) });
    flow.task({ name: 'c', parents: [b], fn: () => 'never' });
    const hold = cleaver.task({ name: names.hold, fn: (_input: unknown, ctx) => new Promise((resolve) => ctx.signal.addEventListener('abort', resolve)) });
    worker = await cleaver.worker(unique('metrics-worker'), { workflows: [ok, bad, flow, hold], slots: SLOTS, handleSignals: false });
    await worker.start();

    expect(await ok.runMany([1, 2, 3, 4, 5].map((n) => ({ n })))).toEqual([1, 2, 3, 4, 5]);
    for (const ref of await bad.runManyNoWait([{}, {}, {}])) await expect(ref.result()).rejects.toBeInstanceOf(TaskRunError);
    for (const ref of await flow.runManyNoWait([{}, {}])) await expect(ref.result()).rejects.toBeInstanceOf(TaskRunError);
    const held = await hold.runManyNoWait([{}, {}]);
    await waitFor('both held tasks to run', async () => (await Promise.all(held.map((r) => cleaver.runs.get(r.runId)))).every((d) => d.run.status === 'running'));
    expect((await cleaver.runs.cancel({ runIds: held.map((r) => r.runId) })).cancelled).toHaveLength(2);
    // Queued with no worker for it (registered by its declaration): the queue-depth samples and gauge see them.
    await cleaver.task({ name: names.unserved, fn: () => 'never' }).runManyNoWait([{}, {}, {}]);
    await suite.engine.metrics.flush();

    http = await startAdminHttp({ admin: suite.engine.admin, changes: null, prometheus: () => suite.engine.metrics.prometheusText(), port: 0, token: TOKEN, staticDir: null, log: silentLogger });
  }, 60_000);

  afterAll(async () => {
    await http?.close();
    await worker?.stop();
  });

  const query = (workflowName?: string, range: (typeof METRICS_RANGES)[number] = '15m') => suite.engine.admin.metricsQuery({ range, workflowName });

  it('counts the runs and tasks each workflow created and ended, at every range', async () => {
    const expected: Record<string, Partial<MetricsCounts>> = {
      [names.ok]: { runsCreated: 5, runsSucceeded: 5, tasksCreated: 5, tasksSucceeded: 5 },
      // Two attempts each: the first retried, the second failed for good.
      [names.bad]: { runsCreated: 3, runsFailed: 3, tasksCreated: 3, tasksFailed: 3, tasksRetried: 3 },
      // a succeeds, b fails, c never runs (cancelled with its upstream).
      [names.flow]: { runsCreated: 2, runsFailed: 2, tasksCreated: 6, tasksSucceeded: 2, tasksFailed: 2, tasksCancelled: 2 },
      [names.hold]: { runsCreated: 2, runsCancelled: 2, tasksCreated: 2, tasksCancelled: 2 },
      [names.unserved]: { runsCreated: 3, tasksCreated: 3 },
    };
    for (const range of METRICS_RANGES) {
      for (const [workflow, counts] of Object.entries(expected)) {
        const series = await query(workflow, range);
        expect(summed(series), `${workflow} over ${range}`).toEqual(counted(counts));
        expect(series.totals).toMatchObject(counts);
      }
      const all = await query(undefined, range);
      const total = counted({});
      for (const counts of Object.values(expected)) for (const [f, n] of Object.entries(counts)) total[f as keyof MetricsCounts] += n;
      expect(summed(all), `every workflow over ${range}`).toEqual(total);
      expect(all.workflows.map((w) => w.workflowName).sort()).toEqual(Object.keys(expected).sort());
      expect(all.workflows.find((w) => w.workflowName === names.bad)).toMatchObject({ runsFailed: 3, errorRate: 1 });
      expect(all.workflows.find((w) => w.workflowName === names.ok)).toMatchObject({ runsSucceeded: 5, errorRate: 0 });
    }
  });

  it('gives steps of the range, oldest first, ending with the one now falls in', async () => {
    const steps = { '15m': 90, '1h': 60, '24h': 96, '7d': 84 } as const;
    for (const range of METRICS_RANGES) {
      const series = await query(names.ok, range);
      expect(series.points).toHaveLength(steps[range]);
      const at = series.points.map((p) => Date.parse(p.at));
      expect(at.slice(1).every((t, i) => t - at[i]! === series.stepMs)).toBe(true);
      expect(Date.parse(series.to) - at.at(-1)!).toBe(series.stepMs);
      expect(Date.parse(series.to)).toBeGreaterThan(Date.now());
    }
  });

  it('keeps latency percentiles of every attempt that ran', async () => {
    const ok = await query(names.ok);
    expect(ok.totals.queueMs).toMatchObject({ count: 5 });
    expect(ok.totals.durationMs).toMatchObject({ count: 5 });
    const { p50, p95, p99 } = ok.totals.durationMs!;
    expect(p50).toBeLessThanOrEqual(p95);
    expect(p95).toBeLessThanOrEqual(p99);
    // Both attempts of each bad run ran.
    expect((await query(names.bad)).totals.durationMs).toMatchObject({ count: 6 });
    const withLatency = ok.points.filter((p) => p.durationMs !== null);
    expect(withLatency.reduce((n, p) => n + p.durationMs!.count, 0)).toBe(5);
  });

  it('aggregates custom metrics per workflow and name: count, sum, min, max', async () => {
    const series = await query(names.ok);
    expect(series.custom.map((c) => c.name)).toEqual(['items', 'tokens.used']);
    expect(series.custom[0]!.total).toEqual({ count: 5, sum: 15, min: 1, max: 5, mean: 3 });
    expect(series.custom[1]!.total).toEqual({ count: 5, sum: 150, min: 10, max: 50, mean: 30 });
    expect(series.custom[0]!.points).toHaveLength(series.points.length);
    expect(series.custom[0]!.points.reduce((n, p) => n + p.count, 0)).toBe(5);
    expect((await query(names.bad)).custom).toEqual([]);
  });

  it('samples queue depth and slots into the buckets', async () => {
    await waitFor('the held tasks to give their slots back', async () => (await suite.engine.status()).workers.every((w) => w.busy === 0));
    await suite.engine.metrics.runOnce();
    const unserved = (await query(names.unserved)).points.filter((p) => p.queueDepth !== null);
    expect(unserved.at(-1)).toMatchObject({ queueDepth: 3, queueDepthMax: 3, slotsUsed: null });
    const all = (await query()).points.filter((p) => p.queueDepth !== null).at(-1)!;
    expect(all).toMatchObject({ queueDepth: 3, slotsUsed: 0, slotsFree: SLOTS });
  });

  it('counts the decisions at which a task run waited on a full concurrency key', async () => {
    const { cleaver } = suite;
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    const keyed = cleaver.task({ name: unique('metric-keyed'), concurrency: { expression: "'one'", maxRuns: 1 }, fn: () => released });
    const keyedWorker = await cleaver.worker(unique('keyed-worker'), { workflows: [keyed], slots: 5, handleSignals: false });
    await keyedWorker.start();
    const refs = await keyed.runManyNoWait([{}, {}, {}]);
    try {
      const waiting = async (runId: string) => (await suite.engine.admin.runGet({ runId })).taskRuns[0]!.waitReason?.kind === 'concurrency';
      await waitFor('a decision at which one waited on the key', async () => (await waiting(refs[1]!.runId)) || (await waiting(refs[2]!.runId)));
    } finally {
      release();
    }
    await Promise.all(refs.map((r) => r.result()));
    await keyedWorker.stop();
    await suite.engine.metrics.flush();
    const series = await query(keyed.name);
    expect(series.totals.concurrencyWaits).toBeGreaterThanOrEqual(1);
    expect(series.totals).toMatchObject({ runsSucceeded: 3, rateLimitWaits: 0 });
  });

  it('adds up what several engines counted in the same buckets', async () => {
    const db = getDriver();
    const workflowName = unique('metric-shared');
    const engines = [0, 1].map(() => new EngineMetrics({ driver: db, log: silentLogger, holding: () => false, localSlots: () => ({ used: 0, free: 0, held: 0 }), staleMs: 1000 }));
    for (const [i, m] of engines.entries()) {
      m.runsCreated({ workflowName, runs: 10 + i, taskRuns: 10 + i });
      m.customValue({ action: `${workflowName}:step`, name: 'rows', value: i === 0 ? -2 : 40 });
    }
    await Promise.all(engines.map((m) => m.flush()));
    const series = await metricsSeriesGet(db, { range: '1h', workflowName });
    expect(series.totals).toMatchObject({ runsCreated: 21, tasksCreated: 21 });
    expect(series.custom).toEqual([expect.objectContaining({ name: 'rows', total: { count: 2, sum: 38, min: -2, max: 40, mean: 19 } })]);
  });

  it('serves /metrics as Prometheus text with the documented series, only with the token', async () => {
    const url = new URL('/metrics', http.url);
    expect((await fetch(url)).status).toBe(401);
    expect((await fetch(url, { headers: { authorization: 'Bearer wrong' } })).status).toBe(401);
    const response = await fetch(url, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const { types, samples } = parsePrometheus(await response.text());
    expect(Object.fromEntries(['cleaver_tasks_total', 'cleaver_queue_depth', 'cleaver_task_queue_seconds', 'cleaver_task_duration_seconds', 'cleaver_worker_slots'].map((n) => [n, types.get(n)]))).toEqual({
      cleaver_tasks_total: 'counter',
      cleaver_queue_depth: 'gauge',
      cleaver_task_queue_seconds: 'histogram',
      cleaver_task_duration_seconds: 'histogram',
      cleaver_worker_slots: 'gauge',
    });
    const value = (name: string, labels: Record<string, string>) =>
      samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v) && Object.keys(s.labels).length === Object.keys(labels).length)?.value;
    expect(value('cleaver_tasks_total', { workflow: names.ok, status: 'succeeded' })).toBe(5);
    expect(value('cleaver_tasks_total', { workflow: names.bad, status: 'failed' })).toBe(3);
    expect(value('cleaver_tasks_total', { workflow: names.flow, status: 'cancelled' })).toBe(2);
    expect(value('cleaver_runs_total', { workflow: names.hold, status: 'cancelled' })).toBe(2);
    expect(value('cleaver_queue_depth', { action: names.unserved })).toBe(3);
    expect(value('cleaver_task_queue_seconds_count', { workflow: names.ok })).toBe(5);
    expect(value('cleaver_task_duration_seconds_count', { workflow: names.bad })).toBe(6);
    expect(value('cleaver_task_duration_seconds_bucket', { workflow: names.ok, le: '+Inf' })).toBe(5);
    expect(value('cleaver_worker_slots', { state: 'used' })).toBe(0);
    expect(value('cleaver_worker_slots', { state: 'free' })).toBe(SLOTS);
  });

  it('refuses bad custom metrics and bad queries, saying what is wrong', async () => {
    const { cleaver } = suite;
    const task = cleaver.task({
      name: unique('metric-refused'),
      fn: (_input: unknown, ctx) => {
        const problems = [];
        for (const [name, value] of [['9lives', 1], ['ok', Number.NaN], ['ok', '3'], ['x'.repeat(101), 1]] as const) {
          try {
            ctx.metric(name, value as number);
          } catch (e: unknown) {
            problems.push(`${(e as CleaverError).code}: ${(e as Error).message}`);
          }
        }
        return problems;
      },
    });
    const w = await cleaver.worker(unique('refusing-worker'), { workflows: [task], handleSignals: false });
    await w.start();
    const problems = await task.run({});
    await w.stop();
    expect(problems).toEqual([
      'BAD_PAYLOAD: ctx.metric: the metric name "9lives" must be 1-100 letters, digits or _ . - /, starting with a letter',
      'BAD_PAYLOAD: ctx.metric: the value of metric ok must be a finite number, got NaN',
      'BAD_PAYLOAD: ctx.metric: the value of metric ok must be a finite number, got "3"',
      expect.stringMatching(/^BAD_PAYLOAD: ctx\.metric: the metric name "x+" must be 1-100/),
    ]);
    await expect(suite.engine.admin.metricsQuery({ range: '2w' as never })).rejects.toThrow('metricsQuery.range must be one of 15m, 1h, 24h, 7d, got "2w"');
    await expect(suite.engine.admin.metricsQuery({ range: '1h', workflowName: 'no spaces' })).rejects.toThrow(/^metricsQuery\.workflowName must be a workflow or task name/);

    // A worker speaking the protocol itself is checked by the engine too.
    const raw = new RawClient(join(suite.dir, 'engine.sock'));
    const action = unique('raw-metric');
    raw.send({ t: 'hello', protocol: PROTOCOL_VERSION, role: 'worker', workerId: randomUUID(), name: 'raw', slots: 1, tasks: [rawTask(action)] });
    await raw.next((m) => m.t === 'welcome');
    raw.send({ t: 'metric', taskRunId: randomUUID(), attempt: 1, action, name: 'bad name', value: 1 });
    const error = await raw.next((m) => m.t === 'error');
    expect((error.error as { message: string }).message).toBe('metric: the metric name "bad name" must be 1-100 letters, digits or _ . - /, starting with a letter');
    raw.socket.destroy();
  });
});

describe('an engine that stops', () => {
  it('writes what it counted since its last write', async () => {
    const driver = await openDriver({ inMemory: true });
    const dir = tempDir();
    try {
      const engine = await startEngine(driver, dir, { metricsIntervalMs: 3_600_000 });
      const cleaver = client(dir);
      const name = `metric-stop-${randomUUID().slice(0, 8)}`;
      // Declared by the producer, served by nobody: created and queued, nothing more.
      await cleaver.task({ name, fn: () => 'never' }).runManyNoWait([{}, {}]);
      await cleaver.close();
      await engine.stop();
      expect((await metricsSeriesGet(driver, { range: '15m', workflowName: name })).totals).toMatchObject({ runsCreated: 2, tasksCreated: 2 });
    } finally {
      await driver.close();
      removeDir(dir);
    }
  });
});
