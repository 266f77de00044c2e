// A worker that holds attempts beyond its slots (WorkerOptions.prefetch): the engine hands them over only
// while the queue is deeper than every free slot, never for a task with flow rules, and never more than
// slots + prefetch; the SDK starts them in order as slots free, never runs more than its slots at once,
// and ends a held attempt that is cancelled before it starts without running it.
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { forEachDriver } from '../driver/drivers.ts';
import { PROTOCOL_VERSION } from '../../shared/protocol.ts';
import { FAST, RawClient, rawTask, useEngine, waitFor } from './harness.ts';

type Assign = { t: 'assign'; tasks: Array<{ taskRunId: string; runId: string; attempt: number }> };

forEachDriver('prefetch', (getDriver) => {
  const suite = useEngine(getDriver);

  /** A raw worker offering `task`, answering heartbeats; every assignment it gets, in order. */
  async function rawWorker(task: Record<string, unknown>, hello: { slots: number; prefetch?: number }) {
    const worker = new RawClient(join(suite.dir, 'engine.sock'));
    worker.send({ t: 'hello', protocol: PROTOCOL_VERSION, role: 'worker', workerId: randomUUID(), name: 'raw-prefetch', tasks: [task], ...hello });
    const welcome = await worker.next((m) => m.t === 'welcome' || m.t === 'error');
    const heartbeat = setInterval(() => worker.send({ t: 'heartbeat' }), FAST.heartbeatIntervalMs);
    return {
      welcome,
      /** Every attempt handed over so far, in the order the assignments came. */
      get assigned(): Assign['tasks'] {
        return worker.messages.filter((m) => m.t === 'assign').flatMap((m) => (m as unknown as Assign).tasks);
      },
      finish(t: Assign['tasks'][number]) {
        worker.send({ t: 'result', taskRunId: t.taskRunId, attempt: t.attempt, ok: true, output: null, startedAt: Date.now(), finishedAt: Date.now() });
      },
      close() {
        clearInterval(heartbeat);
        worker.socket.destroy();
      },
    };
  }

  it('hands a worker slots + prefetch attempts of a deep queue, oldest first, and one more per attempt it ends', async () => {
    const name = `prefetch-deep-${randomUUID().slice(0, 8)}`;
    const ref = suite.cleaver.task({ name, fn: () => undefined });
    const runs = await ref.runManyNoWait(Array.from({ length: 8 }, (_, i) => ({ i })));
    const worker = await rawWorker(rawTask(name), { slots: 2, prefetch: 2 });
    try {
      await waitFor('4 attempts handed over', () => worker.assigned.length >= 4);
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(worker.assigned.length).toBe(4);
      // Oldest first, as the queue orders them.
      expect(worker.assigned.map((t) => t.runId)).toEqual(runs.slice(0, 4).map((r) => r.runId));
      // Its slots are full and two more wait in it, as the engine's status and the admin list say.
      expect((await suite.engine.status()).workers.find((w) => w.name === 'raw-prefetch')).toMatchObject({ slots: 2, busy: 2, held: 2 });
      const listed = (await suite.engine.admin.workersList({})).workers.find((w) => w.name === 'raw-prefetch');
      expect(listed).toMatchObject({ slots: 2, busy: 2, held: 2 });
      const prometheus = (await suite.engine.metrics.prometheusText()).text;
      expect(prometheus).toMatch(/^cleaver_worker_slots\{state="used"\} 2$/m);
      expect(prometheus).toMatch(/^cleaver_worker_slots\{state="held"\} 2$/m);
      worker.finish(worker.assigned[0]!);
      await waitFor('one more after one ended', () => worker.assigned.length >= 5);
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(worker.assigned.length).toBe(5);
      // Ending the rest hands over the rest of the queue.
      for (const t of worker.assigned.slice(1)) worker.finish(t);
      await waitFor('every run handed over', () => worker.assigned.length >= 8);
      expect(new Set(worker.assigned.map((t) => t.runId)).size).toBe(8);
    } finally {
      worker.close();
    }
  });

  it('takes a free slot elsewhere before holding, and holds only past every free slot', async () => {
    const name = `prefetch-spread-${randomUUID().slice(0, 8)}`;
    const ref = suite.cleaver.task({ name, fn: () => undefined });
    const a = await rawWorker(rawTask(name), { slots: 1, prefetch: 1 });
    const b: Awaited<ReturnType<typeof rawWorker>>[] = [];
    try {
      const r1 = await ref.runNoWait({ n: 1 });
      await waitFor('a runs the first', () => a.assigned.length >= 1);
      b.push(await rawWorker(rawTask(name), { slots: 1 }));
      const r2 = await ref.runNoWait({ n: 2 });
      await waitFor('b runs the second', () => b[0]!.assigned.length >= 1);
      const r3 = await ref.runNoWait({ n: 3 });
      await waitFor('a holds the third', () => a.assigned.length >= 2);
      const r4 = await ref.runNoWait({ n: 4 });
      await new Promise((resolve) => setTimeout(resolve, 400));
      expect(a.assigned.map((t) => t.runId)).toEqual([r1.runId, r3.runId]);
      expect(b[0]!.assigned.map((t) => t.runId)).toEqual([r2.runId]);
      expect((await suite.cleaver.runs.get(r4.runId)).taskRuns[0]!.status).toBe('queued');
    } finally {
      a.close();
      b[0]?.close();
    }
  });

  it('never holds a task that a concurrency key decides, and refuses a prefetch above the slots', async () => {
    const name = `prefetch-keyed-${randomUUID().slice(0, 8)}`;
    const keyed = { ...rawTask(name), concurrency: [{ expression: 'input.k', maxRuns: 100, limitStrategy: 'GROUP_ROUND_ROBIN' }] };
    const ref = suite.cleaver.task({ name, fn: () => undefined, concurrency: { expression: 'input.k', maxRuns: 100 } });
    await ref.runManyNoWait(Array.from({ length: 6 }, (_, i) => ({ k: `k${i % 2}` })));
    const worker = await rawWorker(keyed, { slots: 2, prefetch: 2 });
    try {
      await waitFor('its slots filled', () => worker.assigned.length >= 2);
      await new Promise((resolve) => setTimeout(resolve, 400));
      expect(worker.assigned.length).toBe(2);
    } finally {
      worker.close();
    }

    const refused = await rawWorker(rawTask(`prefetch-refused-${randomUUID().slice(0, 8)}`), { slots: 2, prefetch: 3 });
    refused.close();
    expect(refused.welcome).toMatchObject({ t: 'error', error: { message: expect.stringContaining('prefetch must be an integer from 0 to slots (2)') } });
  });

  it('runs held attempts in order as slots free, never more than its slots at once, and never runs one cancelled while held', async () => {
    const name = `prefetch-sdk-${randomUUID().slice(0, 8)}`;
    let live = 0;
    let most = 0;
    const started: number[] = [];
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const task = suite.cleaver.task({
      name,
      fn: async (input: { i: number }) => {
        started.push(input.i);
        live++;
        most = Math.max(most, live);
        // The first two hold their slots until the test lets them go.
        if (input.i < 2) await gate;
        else await new Promise((resolve) => setTimeout(resolve, 5));
        live--;
        return input.i;
      },
    });
    const runs = await task.runManyNoWait(Array.from({ length: 12 }, (_, i) => ({ i })));
    const worker = await suite.cleaver.worker('prefetch-worker', { workflows: [task], slots: 2, prefetch: 2, handleSignals: false });
    await worker.start();
    try {
      // Runs 0 and 1 take the slots; 2 and 3 are held (assigned, not started).
      await waitFor('two held', async () => (await suite.cleaver.runs.get(runs[3]!.runId)).taskRuns[0]!.status === 'assigned');
      expect(started).toEqual([0, 1]);
      expect(await suite.cleaver.runs.cancel(runs[2]!.runId)).toEqual({ cancelled: [runs[2]!.runId], skipped: [] });
      await expect(runs[2]!.result()).rejects.toMatchObject({ failureReason: 'CANCELLED' });
      release();
      const outputs = await Promise.all(runs.filter((_, i) => i !== 2).map((r) => r.result()));
      expect(outputs).toEqual([0, 1, ...Array.from({ length: 9 }, (_, i) => i + 3)]);
      expect(started).not.toContain(2);
      expect(started.slice(0, 3)).toEqual([0, 1, 3]);
      expect(most).toBeLessThanOrEqual(2);
      expect((await suite.cleaver.runs.get(runs[2]!.runId)).run.status).toBe('cancelled');
    } finally {
      await worker.stop();
    }
  });

  it('runs what it holds before a stop returns, and hands a draining worker nothing more', async () => {
    const slow = `prefetch-stop-${randomUUID().slice(0, 8)}`;
    const ran: number[] = [];
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const task = suite.cleaver.task({
      name: slow,
      fn: async (input: { i: number }) => {
        ran.push(input.i);
        if (input.i === 0) await gate;
        return input.i;
      },
    });
    const queued = await task.runManyNoWait([{ i: 0 }, { i: 1 }, { i: 2 }]);
    const worker = await suite.cleaver.worker('prefetch-stopping', { workflows: [task], slots: 1, prefetch: 1, handleSignals: false });
    await worker.start();
    await waitFor('one held', async () => (await suite.cleaver.runs.get(queued[1]!.runId)).taskRuns[0]!.status === 'assigned');
    const stopped = worker.stop();
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(ran).toEqual([0]);
    release();
    await stopped;
    expect(ran).toEqual([0, 1]);
    expect(await queued[1]!.result()).toBe(1);
    // The third was never handed to a draining worker.
    expect((await suite.cleaver.runs.get(queued[2]!.runId)).taskRuns[0]!.status).toBe('queued');
  });

  it('refuses a prefetch above the slots in the SDK, saying so', async () => {
    const task = suite.cleaver.task({ name: `prefetch-bad-${randomUUID().slice(0, 8)}`, fn: () => undefined });
    await expect(suite.cleaver.worker('bad', { workflows: [task], slots: 2, prefetch: 5 })).rejects.toThrow('prefetch must be an integer from 0 to slots (2), got 5');
  });
});
