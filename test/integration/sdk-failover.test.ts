// The SDK when engines go away: workers and clients fail over between engines on one database and keep
// their attempts, results finished while the engine was down are recorded once, stop() is bounded
// while no engine is reachable, and requests fail after a deadline instead of waiting forever.
import net from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { DATABASE_URL, describePg, dropSchema, forEachDriver, forEachDriverKind, freshSchemaName } from '../driver/drivers.ts';
import { Cleaver, CleaverError } from '../../sdk/index.ts';
import type { Engine } from '../../engine/engine.ts';
import { FrameDecoder, encodeFrame, executions, kill, removeDir, spawnEngine, spawnWorker, startEngine, tempDir, waitFor, type Execution } from './harness.ts';
import { PROTOCOL_VERSION } from '../../shared/protocol.ts';

/** Executions of `task` that began, by task run: a task run listed twice was executed twice. */
function startsByTaskRun(dir: string, task: string): Map<string, Execution[]> {
  const starts = new Map<string, Execution[]>();
  for (const e of executions(dir)) {
    if (e.task !== task || e.phase !== 'start') continue;
    starts.set(e.taskRunId, [...(starts.get(e.taskRunId) ?? []), e]);
  }
  return starts;
}

// Postgres only: two engines on one database (PGlite is one process by design).
describePg('worker and client failover between two engines [pg]', () => {
  let dirA: string;
  let dirB: string;
  let schema: string;
  const addressA = () => `unix://${join(dirA, 'engine.sock')}`;
  const addressB = () => `unix://${join(dirB, 'engine.sock')}`;

  beforeAll(() => {
    dirA = tempDir();
    dirB = tempDir();
    schema = freshSchemaName('failover');
  });

  afterAll(async () => {
    await dropSchema(DATABASE_URL, schema);
    removeDir(dirA);
    removeDir(dirB);
  });

  it('moves a worker whose engine is SIGKILLed to the live one before the heartbeat timeout, keeping its attempts: every run ends, none runs twice', async () => {
    const args = ['--database-url', DATABASE_URL, '--schema', schema];
    const engineA = spawnEngine({ dir: dirA, args });
    await engineA.ready;
    const engineB = spawnEngine({ dir: dirB, args });
    const worker = spawnWorker({ dir: dirA, tasks: ['slow'], slots: 4, address: `${addressA()},${addressB()}` });
    const cleaver = Cleaver.connect({ address: [addressA(), addressB()] });
    const viaB = Cleaver.connect({ address: addressB() });
    try {
      await Promise.all([engineB.ready, worker.ready]);
      const refs = await cleaver.ref<{ ms: number }, { pid: number }>('slow').runManyNoWait(Array.from({ length: 12 }, () => ({ ms: 1_000 })));
      const runningAtKill = await waitFor('four attempts to be running', () => {
        const starts = [...startsByTaskRun(dirA, 'slow').keys()];
        return starts.length >= 4 && starts;
      });
      await kill(engineA);

      // The worker is on B, holding the attempts it was running when A died.
      const adopted = await waitFor('engine B to list the worker', async () => (await viaB.status()).workers.find((w) => w.busy > 0));
      // Had it come later than the heartbeat timeout (1.5 s here), B would have failed those attempts
      // as lost and run them again: the checks below see that. How long it takes is measured by the
      // chaos run (docs/reliability.md), not asserted here.
      expect(adopted.name).toBe(`test-worker-${worker.child.pid}`);

      const results = await Promise.all(refs.map((r) => r.result()));
      expect(results.map((r) => r.pid)).toEqual(Array(12).fill(worker.child.pid));
      const starts = startsByTaskRun(dirA, 'slow');
      expect(starts.size).toBe(12);
      // No task run executed twice: the attempts in flight at the kill were kept, not retried.
      expect([...starts.values()].filter((s) => s.length > 1)).toEqual([]);
      for (const taskRunId of runningAtKill) expect(starts.get(taskRunId)!.map((e) => e.attempt)).toEqual([1]);
      // The client moved too: it was on A, and its requests now reach B.
      expect((await cleaver.status()).workers.map((w) => w.name)).toEqual([`test-worker-${worker.child.pid}`]);
    } finally {
      await cleaver.close();
      await viaB.close();
      await kill(worker);
      await kill(engineA);
      await kill(engineB, 'SIGTERM');
    }
  }, 90_000);
});

forEachDriverKind('an engine killed while a worker holds an unacknowledged result', (kind, databaseUrl) => {
  let dir: string;
  let schema: string;
  let args: string[];

  beforeAll(() => {
    dir = tempDir();
    schema = freshSchemaName('unacked');
    // The restart must come within the heartbeat timeout, as for any worker that is to keep its
    // attempts; starting `cleaver serve` from source takes longer than the suites' usual 1.5 s.
    args = [...(kind === 'pg' ? ['--database-url', databaseUrl!, '--schema', schema] : ['--data-dir', join(dir, 'data')]), '--heartbeat-timeout', '15s'];
  });

  afterAll(async () => {
    if (kind === 'pg') await dropSchema(databaseUrl!, schema);
    removeDir(dir);
  });

  it('records the result once after the restart, and does not run the task again', async () => {
    const first = spawnEngine({ dir, args });
    await first.ready;
    const worker = spawnWorker({ dir, tasks: ['slow'], slots: 4 });
    const cleaver = Cleaver.connect({ address: `unix://${join(dir, 'engine.sock')}` });
    try {
      await worker.ready;
      const refs = await cleaver.ref<{ ms: number }, { pid: number }>('slow').runManyNoWait([{ ms: 1_000 }, { ms: 1_000 }]);
      await waitFor('both attempts to be running', () => startsByTaskRun(dir, 'slow').size === 2);
      await kill(first);
      // Both finish while no engine is up: their results wait, unacknowledged, in the worker.
      await waitFor('both attempts to finish', () => executions(dir).filter((e) => e.phase === 'end').length === 2);

      const second = spawnEngine({ dir, args });
      try {
        await second.ready;
        const results = await Promise.all(refs.map((r) => r.result()));
        expect(results.map((r) => r.pid)).toEqual([worker.child.pid, worker.child.pid]);
        for (const ref of refs) {
          const details = await cleaver.runs.get(ref.runId);
          expect(details.run.status).toBe('succeeded');
          expect(details.attempts.map((a) => [a.attempt, a.status])).toEqual([[1, 'succeeded']]);
        }
        expect([...startsByTaskRun(dir, 'slow').values()].map((s) => s.length)).toEqual([1, 1]);
      } finally {
        await kill(second, 'SIGTERM');
      }
    } finally {
      await cleaver.close();
      await kill(worker);
    }
  }, 90_000);
});

forEachDriver('SDK requests and stop() while no engine is reachable', (getDriver) => {
  let dir: string;
  let engine: Engine | null = null;
  const address = () => `unix://${join(dir, 'engine.sock')}`;
  const nowhere = () => `unix://${join(dir, 'nobody.sock')}`;
  const closing: Array<{ close(): Promise<void> }> = [];

  beforeAll(() => {
    dir = tempDir();
  });

  afterEach(async () => {
    for (const c of closing.splice(0)) await c.close();
    await engine?.stop();
    engine = null;
    vi.restoreAllMocks();
  });

  afterAll(() => removeDir(dir));

  /** A client and an in-process worker offering `task`, which sleeps `input.ms`. */
  async function clientAndWorker(name: string) {
    const cleaver = Cleaver.connect({ address: [nowhere(), address()] });
    closing.push(cleaver);
    const task = cleaver.task({ name, retries: 1, fn: async (input: { ms: number }) => (await sleep(input.ms), 'done') });
    const worker = await cleaver.worker(`${name}-worker`, { workflows: [task], slots: 2, handleSignals: false });
    await worker.start();
    return { cleaver, task, worker };
  }

  it('fails a request after requestTimeout with a CONNECTION error naming the engines, and works again once one is back', async () => {
    engine = await startEngine(getDriver(), dir);
    const cleaver = Cleaver.connect({ address: [nowhere(), address()], requestTimeout: '300ms' });
    closing.push(cleaver);
    // The first address has no engine: the client moves past it.
    expect((await cleaver.status()).engineId).toBe(engine.id);
    await engine.stop();
    engine = null;

    const error = await cleaver.status().then(
      () => null,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(CleaverError);
    expect(error).toMatchObject({ code: 'CONNECTION' });
    expect((error as Error).message).toContain(`the Cleaver engine at ${nowhere()}, ${address()} is unreachable`);
    expect((error as Error).message).toMatch(/Start one with `cleaver serve`/);
    const trigger = await cleaver.ref('anything').runNoWait({}).catch((e: unknown) => e);
    expect(trigger).toMatchObject({ code: 'CONNECTION', message: expect.stringMatching(/unreachable.*the request was not sent/) });

    engine = await startEngine(getDriver(), dir);
    expect((await cleaver.status()).engineId).toBe(engine.id);
  });

  it('lets run() wait for a run far longer than requestTimeout: only time without a connection counts', async () => {
    engine = await startEngine(getDriver(), dir);
    await clientAndWorker('sdk-slow');
    // Not the worker's client: a worker's handshake writes its registration, which may take a while.
    const cleaver = Cleaver.connect({ address: [nowhere(), address()], requestTimeout: '1s' });
    closing.push(cleaver);
    expect(await cleaver.run('sdk-slow', { ms: 2_500 })).toBe('done');
  });

  it('bounds stop() while the engine is down, says what it leaves unacknowledged, and the attempt runs again elsewhere', async () => {
    engine = await startEngine(getDriver(), dir);
    const { task, worker } = await clientAndWorker('sdk-hold');
    const ref = await task.runNoWait({ ms: 500 });
    await waitFor('the attempt to be running', () => worker.busy === 1);
    await engine.stop();
    engine = null;

    const stderr = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    await worker.stop({ timeout: '300ms' });
    const said = stderr.mock.calls.map((c) => String(c[0])).join('');
    stderr.mockRestore();
    expect(said).toMatch(/stopping with 1 result\(s\) the engine did not acknowledge within 300 ms \(no engine reachable at .*engine\.sock\)/);
    expect(said).toMatch(/attempt 1\b.*runs those attempts again/);

    // At least once: with the engine back, another worker runs the attempt that was given up on.
    engine = await startEngine(getDriver(), dir);
    const again = Cleaver.connect({ address: address() });
    closing.push(again);
    const other = await again.worker('sdk-hold-again', { workflows: [again.task({ name: 'sdk-hold', retries: 1, fn: () => 'again' })], handleSignals: false });
    await other.start();
    expect(await ref.result()).toBe('again');
  });

  it('exits at once on a second SIGTERM while draining with the engine down, saying what it abandons', async () => {
    engine = await startEngine(getDriver(), dir);
    const worker = spawnWorker({ dir, tasks: ['slow'], slots: 1 });
    try {
      await worker.ready;
      const cleaver = Cleaver.connect({ address: address() });
      closing.push(cleaver);
      const ref = await cleaver.ref('slow').runNoWait({ ms: 20_000 });
      await waitFor('the attempt to be running', () => executions(dir).some((e) => e.phase === 'start'));
      await engine.stop();
      engine = null;
      worker.child.kill('SIGTERM');
      await waitFor('the worker to start draining', () => worker.output().includes('SIGTERM received, draining (1 running'));
      worker.child.kill('SIGTERM');
      expect(await worker.exited).toBe(143);
      expect(worker.output()).toMatch(/SIGTERM again, exiting without waiting; abandoning 1 running attempt\(s\) \(task run [0-9a-f-]{36} attempt 1\)/);
    } finally {
      await kill(worker);
    }
  });
});

/**
 * A stand-in engine on a socket, to see exactly what the SDK sends: welcomes every hello, then hands
 * every message to `answer`. `received` holds all messages, hellos included; `sockets` the open ones.
 */
interface FakeEngine {
  server: net.Server;
  received: Array<Record<string, unknown>>;
  sockets: Set<net.Socket>;
}

function fakeEngine(path: string, answer: (message: Record<string, unknown>, socket: net.Socket) => void = () => undefined): Promise<FakeEngine> {
  const fake: FakeEngine = { server: net.createServer(), received: [], sockets: new Set() };
  fake.server.on('connection', (socket) => {
    fake.sockets.add(socket);
    socket.on('close', () => fake.sockets.delete(socket));
    socket.on('error', () => undefined);
    const decoder = new FrameDecoder({ maxFrameBytes: 1 << 20 });
    socket.on('data', (chunk: Buffer) => {
      for (const event of decoder.push(chunk)) {
        if (event.kind !== 'message') continue;
        const message = event.message as Record<string, unknown>;
        fake.received.push(message);
        if (message.t === 'hello') {
          socket.write(encodeFrame({ t: 'welcome', protocol: PROTOCOL_VERSION, engineId: path, heartbeatIntervalMs: 60_000, maxFrameBytes: 1 << 20 }));
        } else answer(message, socket);
      }
    });
  });
  return new Promise((resolve) => fake.server.listen(path, () => resolve(fake)));
}

describe('requests in flight when the connection drops', () => {
  it('fail a trigger saying it may or may not have been recorded, and re-send an await to the next engine', async () => {
    const dir = tempDir();
    // The first engine dies (drops the connection) on the first request it gets; the second answers.
    const dying = await fakeEngine(join(dir, 'a.sock'), (_message, socket) => socket.destroy());
    const live = await fakeEngine(join(dir, 'b.sock'), (message, socket) => {
      if (message.t === 'await') {
        const outcome = { runId: message.runId, status: 'succeeded', output: 'from b', error: null, failureReason: null };
        socket.write(encodeFrame({ t: 'reply', id: message.id, ok: true, data: outcome }));
      }
    });
    const cleaver = Cleaver.connect({ address: [`unix://${join(dir, 'a.sock')}`, `unix://${join(dir, 'b.sock')}`] });
    try {
      const [trigger, awaited] = await Promise.allSettled([cleaver.trigger('t', [{ input: {} }], false), cleaver.awaitRun('run-1')]);
      expect(trigger).toMatchObject({ status: 'rejected', reason: { code: 'CONNECTION', message: expect.stringMatching(/dropped before it replied; the request may or may not have been recorded/) } });
      expect(awaited).toMatchObject({ status: 'fulfilled', value: { runId: 'run-1', output: 'from b' } });
    } finally {
      await cleaver.close();
      dying.server.close();
      live.server.close();
      removeDir(dir);
    }
  });
});

// The SDK half of keeping finished attempts across a reconnect, at the protocol level: what the
// worker's hello lists, and that the result follows the welcome.
describe('a worker reconnecting with a result the engine never acknowledged', () => {
  it('lists the finished attempt in hello.inflight with the running one, once each, and sends the result again after welcome', async () => {
    const dir = tempDir();
    const path = join(dir, 'engine.sock');
    const engine = await fakeEngine(path);
    const cleaver = Cleaver.connect({ address: `unix://${path}` });
    const task = cleaver.task({ name: 'sdk-quick', fn: async (input: { ms: number }) => (await sleep(input.ms), 'done') });
    const worker = await cleaver.worker('sdk-reconnecting', { workflows: [task], handleSignals: false });
    const attempt = (taskRunId: string, ms: number) => ({ taskRunId, runId: `run-${taskRunId}`, attempt: 1, action: 'sdk-quick', input: { ms }, metadata: {}, timeoutMs: 60_000 });
    try {
      await worker.start();
      const [socket] = engine.sockets;
      socket!.write(encodeFrame({ t: 'assign', tasks: [attempt('tr-quick', 0), attempt('tr-slow', 1_500)] }));
      // The quick result arrives and is never acknowledged; then the engine goes away.
      await waitFor('the quick result', () => engine.received.some((m) => m.t === 'result' && m.taskRunId === 'tr-quick'));
      socket!.destroy();

      const hello = await waitFor('the second hello', () => engine.received.filter((m) => m.t === 'hello')[1]);
      expect(hello.inflight).toEqual(expect.arrayContaining([{ taskRunId: 'tr-quick', attempt: 1 }, { taskRunId: 'tr-slow', attempt: 1 }]));
      expect(hello.inflight).toHaveLength(2);
      const since = engine.received.indexOf(hello);
      await waitFor('the result sent again', () => engine.received.slice(since).some((m) => m.t === 'result' && m.taskRunId === 'tr-quick'));
    } finally {
      await worker.stop({ timeout: 0 });
      await cleaver.close();
      engine.server.close();
      removeDir(dir);
    }
  });

  it('lists an attempt it holds beyond its slots (prefetch) with the running one, and has not started it', async () => {
    const dir = tempDir();
    const path = join(dir, 'engine.sock');
    const engine = await fakeEngine(path);
    const cleaver = Cleaver.connect({ address: `unix://${path}` });
    const started: string[] = [];
    const task = cleaver.task({ name: 'sdk-held', fn: async (input: { ms: number }, ctx) => (started.push(ctx.taskRunId), await sleep(input.ms), 'done') });
    const worker = await cleaver.worker('sdk-holding', { workflows: [task], slots: 1, prefetch: 1, handleSignals: false });
    const attempt = (taskRunId: string, ms: number) => ({ taskRunId, runId: `run-${taskRunId}`, attempt: 1, action: 'sdk-held', input: { ms }, metadata: {}, timeoutMs: 60_000 });
    try {
      await worker.start();
      const [socket] = engine.sockets;
      socket!.write(encodeFrame({ t: 'assign', tasks: [attempt('tr-running', 2_000), attempt('tr-held', 0)] }));
      await waitFor('the first started', () => started.length === 1);
      socket!.destroy();
      const hello = await waitFor('the second hello', () => engine.received.filter((m) => m.t === 'hello')[1]);
      expect(hello).toMatchObject({ slots: 1, prefetch: 1 });
      expect(hello.inflight).toEqual(expect.arrayContaining([{ taskRunId: 'tr-running', attempt: 1 }, { taskRunId: 'tr-held', attempt: 1 }]));
      expect(hello.inflight).toHaveLength(2);
      expect(started).toEqual(['tr-running']);
    } finally {
      await worker.stop({ timeout: 0 });
      await cleaver.close();
      engine.server.close();
      removeDir(dir);
    }
  });
});
