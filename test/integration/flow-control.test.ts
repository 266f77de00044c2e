// Concurrency keys, rate limits and LIFO ordering end to end, on both drivers: declared with the SDK,
// registered by a worker, decided by the scheduler, audited from the attempts the database recorded
// (assigned_at is the decision's time, finished_at the worker's report).
import { randomUUID } from 'node:crypto';
import { expect, it } from 'vitest';
import { forEachDriver } from '../driver/drivers.ts';
import { CleaverError, TaskRunError, type Cleaver, type Worker } from '../../sdk/index.ts';
import type { Driver } from '../../engine/db/driver.ts';
import { useEngine, waitFor } from './harness.ts';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Interval {
  key: string;
  start: number;
  end: number;
}

/** Each finished attempt of a task's runs: its key (from the run's input), when it was admitted and ended. */
async function attempts(db: Driver, action: string, keyField: string): Promise<Interval[]> {
  const result = await db.query<{ key: string; start: number; end: number }>(
    `SELECT r.input ->> $2 AS key, extract(epoch FROM a.assigned_at) * 1000 AS start, extract(epoch FROM a.finished_at) * 1000 AS end
       FROM attempt a JOIN task_run t ON t.id = a.task_run_id JOIN run r ON r.id = t.run_id
      WHERE t.action = $1 ORDER BY a.assigned_at`,
    [action, keyField],
  );
  return result.rows.map((r) => ({ key: r.key, start: Number(r.start), end: Number(r.end) }));
}

/** The most attempts of one key that overlapped at any moment. */
function maxOverlap(intervals: readonly Interval[]): Map<string, number> {
  const byKey = new Map<string, number>();
  for (const key of new Set(intervals.map((i) => i.key))) {
    const events = intervals.filter((i) => i.key === key).flatMap((i) => [[i.start, 1] as const, [i.end, -1] as const]);
    // An end and a start at the same millisecond: the end first (the slot was given back).
    events.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
    let now = 0;
    let max = 0;
    for (const [, d] of events) max = Math.max(max, (now += d));
    byKey.set(key, max);
  }
  return byKey;
}

forEachDriver('flow control', (getDriver) => {
  const suite = useEngine(getDriver);
  const started: Worker[] = [];
  const startWorker = async (cleaver: Cleaver, workflows: Parameters<Cleaver['worker']>[1]['workflows'], slots = 20) => {
    const worker = await cleaver.worker(`w-${randomUUID().slice(0, 6)}`, { workflows, slots, handleSignals: false });
    await worker.start();
    started.push(worker);
    return worker;
  };
  const unique = (prefix: string) => `${prefix}-${randomUUID().slice(0, 8)}`;

  it('runs at most maxRuns of one key at once, every key progressing (GROUP_ROUND_ROBIN)', async () => {
    const name = unique('per-user');
    const task = suite.cleaver.task<{ user: string; i: number }, number>({
      name,
      concurrency: { expression: 'input.user', maxRuns: 2 },
      fn: async (input) => {
        await sleep(30);
        return input.i;
      },
    });
    await startWorker(suite.cleaver, [task], 20);
    const inputs = ['a', 'b', 'c'].flatMap((user) => Array.from({ length: 8 }, (_, i) => ({ user, i })));
    expect(await task.runMany(inputs)).toEqual(inputs.map((x) => x.i));
    const overlap = maxOverlap(await attempts(getDriver(), name, 'user'));
    expect([...overlap.values()].every((n) => n <= 2)).toBe(true);
    // Keys ran side by side: with 20 slots and 3 keys, each key kept its 2 slots busy.
    expect([...overlap.values()]).toEqual([2, 2, 2]);
  });

  it("serves a quiet key within one rotation while a noisy key has many waiting", async () => {
    const name = unique('fair');
    const order: string[] = [];
    const task = suite.cleaver.task<{ user: string }, void>({
      name,
      concurrency: { expression: 'input.user', maxRuns: 100 },
      fn: async (input) => {
        order.push(input.user);
        await sleep(5);
      },
    });
    // Queued before any worker: 200 of the noisy key first, then one quiet run.
    const noisy = await task.runManyNoWait(Array.from({ length: 200 }, () => ({ user: 'noisy' })));
    const quiet = await task.runNoWait({ user: 'quiet' });
    await startWorker(suite.cleaver, [task], 1);
    await quiet.result();
    // One slot, two keys taking turns: the quiet run is among the first two to start.
    expect(order.indexOf('quiet')).toBeLessThanOrEqual(1);
    await Promise.all(noisy.map((r) => r.result()));
  });

  it('CANCEL_NEWEST cancels a new run of a full key before it starts', async () => {
    const name = unique('newest-cancelled');
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const task = suite.cleaver.task<{ doc: string; n: number }, number>({
      name,
      concurrency: { expression: 'input.doc', maxRuns: 1, limitStrategy: 'CANCEL_NEWEST' },
      fn: async (input) => {
        if (input.n === 1) await gate;
        return input.n;
      },
    });
    await startWorker(suite.cleaver, [task]);
    const first = await task.runNoWait({ doc: 'x', n: 1 });
    await waitFor('the first run to start', async () => (await suite.cleaver.runs.get(first.runId)).run.status === 'running');
    const second = await task.runNoWait({ doc: 'x', n: 2 });
    const other = await task.runNoWait({ doc: 'y', n: 3 });
    const error = await second.result().then(() => null, (e: unknown) => e);
    expect(error).toBeInstanceOf(TaskRunError);
    expect((error as TaskRunError).failureReason).toBe('CONCURRENCY_LIMIT');
    expect(await other.result()).toBe(3);
    release();
    expect(await first.result()).toBe(1);
  });

  it('CANCEL_IN_PROGRESS cancels the running run of a full key for the new one, aborting its signal', async () => {
    const name = unique('newest-wins');
    const aborted: number[] = [];
    const task = suite.cleaver.task<{ doc: string; n: number }, number>({
      name,
      concurrency: { expression: 'input.doc', maxRuns: 1, limitStrategy: 'CANCEL_IN_PROGRESS' },
      fn: async (input, ctx) => {
        if (input.n === 1) {
          await new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => resolve()));
          aborted.push(input.n);
          throw new Error('stopped');
        }
        return input.n;
      },
    });
    await startWorker(suite.cleaver, [task]);
    const first = await task.runNoWait({ doc: 'x', n: 1 });
    await waitFor('the first run to start', async () => (await suite.cleaver.runs.get(first.runId)).run.status === 'running');
    const second = await task.runNoWait({ doc: 'x', n: 2 });
    expect(await second.result()).toBe(2);
    const error = await first.result().then(() => null, (e: unknown) => e);
    expect((error as TaskRunError).failureReason).toBe('CONCURRENCY_LIMIT');
    await waitFor('the worker to see the abort', () => aborted.length === 1);
  });

  it('says a queued run waits on its full concurrency key, or on a used-up rate limit with its refill time', async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const keyedTask = suite.cleaver.task<{ doc: string }, void>({ name: unique('why-key'), concurrency: { expression: 'input.doc', maxRuns: 1 }, fn: () => gate });
    const apiKey = unique('why-api');
    await suite.cleaver.rateLimits.upsert({ key: apiKey, limit: 1, duration: 'minute' });
    const limitedTask = suite.cleaver.task<object, void>({ name: unique('why-rate'), rateLimits: [{ staticKey: apiKey, units: 1 }], fn: () => undefined });
    await startWorker(suite.cleaver, [keyedTask, limitedTask]);
    const reasonOf = async (runId: string) => (await suite.cleaver.runs.get(runId)).taskRuns[0]!.waitReason;
    await keyedTask.runNoWait({ doc: 'd' });
    const second = await keyedTask.runNoWait({ doc: 'd' });
    const waiting = await waitFor('the key wait', async () => ((await reasonOf(second.runId))?.kind === 'concurrency' ? reasonOf(second.runId) : undefined));
    expect(waiting).toMatchObject({ kind: 'concurrency', key: 'd', maxRuns: 1 });
    await limitedTask.run({});
    const later = await limitedTask.runNoWait({});
    const limited = await waitFor('the rate wait', async () => ((await reasonOf(later.runId))?.kind === 'rate_limit' ? reasonOf(later.runId) : undefined));
    expect(limited).toMatchObject({ kind: 'rate_limit', key: apiKey });
    const refill = Date.parse((limited as { refillsAt: string }).refillsAt) - Date.now();
    expect(refill).toBeGreaterThan(50_000);
    expect(refill).toBeLessThanOrEqual(61_000);
    release();
    await second.result();
    await suite.cleaver.runs.cancel({ runIds: [later.runId] });
  });

  it('refuses a worker whose key expression is not valid CEL, saying why', async () => {
    const client = suite.cleaver;
    const task = client.task({ name: unique('bad-cel'), concurrency: { expression: 'input.user +' }, fn: () => 1 });
    const worker = await client.worker('bad', { workflows: [task], handleSignals: false });
    const error = await worker.start().then(() => null, (e: unknown) => e);
    expect(error).toBeInstanceOf(CleaverError);
    expect((error as Error).message).toMatch(/concurrency.*expression "input\.user \+" is not valid CEL: Unexpected token/);
  });

  it('fails a run whose key cannot be worked out from its input, with the reason', async () => {
    const name = unique('no-user');
    const task = suite.cleaver.task<{ user?: string }, number>({ name, concurrency: { expression: 'input.user' }, fn: () => 1 });
    await startWorker(suite.cleaver, [task]);
    const error = await task.run({}).then(() => null, (e: unknown) => e);
    expect((error as TaskRunError).failureReason).toBe('FLOW_RULE');
    expect((error as Error).message).toContain('No such key: user');
    expect(await task.run({ user: 'u' })).toBe(1);
  });

  it('holds a workflow key for the whole run: a second run of the key starts only after the first ends', async () => {
    const name = unique('per-group');
    const wf = suite.cleaver.workflow<{ group: string }>({ name, concurrency: { expression: 'input.group', maxRuns: 1 } });
    const first = wf.task({ name: 'first', fn: async () => sleep(20) });
    wf.task({ name: 'second', parents: [first], fn: async () => sleep(20) });
    await startWorker(suite.cleaver, [wf]);
    await wf.runMany([{ group: 'g' }, { group: 'g' }, { group: 'h' }]);
    const rows = await getDriver().query<{ run_id: string; group: string; start: number; end: number }>(
      `SELECT t.run_id, r.input ->> 'group' AS group, min(extract(epoch FROM a.assigned_at) * 1000) AS start, max(extract(epoch FROM a.finished_at) * 1000) AS end
         FROM attempt a JOIN task_run t ON t.id = a.task_run_id JOIN run r ON r.id = t.run_id
        WHERE r.workflow_name = $1 GROUP BY t.run_id, r.input ->> 'group' ORDER BY 3`,
      [name],
    );
    const overlap = maxOverlap(rows.rows.map((r) => ({ key: r.group, start: Number(r.start), end: Number(r.end) })));
    expect(overlap.get('g')).toBe(1);
    // The other key was not held up by it.
    const g = rows.rows.filter((r) => r.group === 'g');
    const h = rows.rows.find((r) => r.group === 'h')!;
    expect(Number(h.start)).toBeLessThan(Number(g[1]!.start));
  });

  it('starts at most `limit` units of a static rate limit in any window, and waits (not fails) past it', async () => {
    const key = unique('api');
    await suite.cleaver.rateLimits.upsert({ key, limit: 4, duration: 'second' });
    const name = unique('limited');
    const task = suite.cleaver.task<{ i: number }, number>({ name, rateLimits: [{ staticKey: key, units: 1 }], fn: (input) => input.i });
    await startWorker(suite.cleaver, [task]);
    const t0 = Date.now();
    expect(await task.runMany(Array.from({ length: 10 }, (_, i) => ({ i })))).toHaveLength(10);
    // 10 starts at 4 per second: the last ones waited for two refills.
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1_900);
    const starts = (await attempts(getDriver(), name, 'i')).map((a) => a.start);
    for (const s of starts) expect(starts.filter((x) => x >= s && x < s + 1_000).length).toBeLessThanOrEqual(4);
  });

  it('makes a dynamic key per value on first use, each with its own limit', async () => {
    const name = unique('per-team');
    const task = suite.cleaver.task<{ team: string }, string>({
      name,
      rateLimits: [{ dynamicKey: `"${name}:" + input.team`, units: 1, limit: 2, duration: 'second' }],
      fn: (input) => input.team,
    });
    await startWorker(suite.cleaver, [task]);
    await task.runMany([...Array(3).fill({ team: 'a' }), ...Array(3).fill({ team: 'b' })]);
    const rows = await getDriver().query<{ key: string; kind: string; limit_units: number }>(`SELECT key, kind, limit_units FROM rate_limit WHERE key LIKE $1 ORDER BY key`, [`${name}:%`]);
    expect(rows.rows).toEqual([
      { key: `${name}:a`, kind: 'dynamic', limit_units: 2 },
      { key: `${name}:b`, kind: 'dynamic', limit_units: 2 },
    ]);
    const all = await attempts(getDriver(), name, 'team');
    for (const team of ['a', 'b']) {
      const starts = all.filter((a) => a.key === team).map((a) => a.start);
      for (const s of starts) expect(starts.filter((x) => x >= s && x < s + 1_000).length).toBeLessThanOrEqual(2);
    }
  });

  it('refuses a worker using a static rate limit that does not exist, or asking more units than its limit', async () => {
    const missing = unique('nope');
    const task = suite.cleaver.task({ name: unique('uses-missing'), rateLimits: [{ staticKey: missing, units: 1 }], fn: () => 1 });
    const worker = await suite.cleaver.worker('missing', { workflows: [task], handleSignals: false });
    const error = await worker.start().then(() => null, (e: unknown) => e);
    expect((error as Error).message).toContain(`uses the rate limit "${missing}", which does not exist`);

    const key = unique('small');
    await suite.cleaver.rateLimits.upsert({ key, limit: 2, duration: 'minute' });
    const greedy = suite.cleaver.task({ name: unique('greedy'), rateLimits: [{ staticKey: key, units: 3 }], fn: () => 1 });
    const worker2 = await suite.cleaver.worker('greedy', { workflows: [greedy], handleSignals: false });
    const error2 = await worker2.start().then(() => null, (e: unknown) => e);
    expect((error2 as Error).message).toContain('asks 3 units');
  });

  it("takes the newest first from a LIFO queue, by priority first", async () => {
    const name = unique('lifo');
    const order: number[] = [];
    const task = suite.cleaver.task<{ n: number }, void>({ name, ordering: 'lifo', fn: (input) => void order.push(input.n) });
    const low = await task.runManyNoWait([1, 2, 3].map((n) => ({ n })));
    const high = await task.runNoWait({ n: 9 }, { priority: 3 });
    const newest = await task.runNoWait({ n: 4 });
    await startWorker(suite.cleaver, [task], 1);
    await Promise.all([...low, high, newest].map((r) => r.result()));
    expect(order).toEqual([9, 4, 3, 2, 1]);
  });

  it('stops the workers it started', async () => {
    await Promise.all(started.map((w) => w.stop()));
  });
});
