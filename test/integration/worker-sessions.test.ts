// Regression tests for faults a chaos probe found in how the engine keeps worker sessions: a session
// registered by a hello whose socket closed meanwhile (a zombie), a task that kills its worker every
// time (it must end), outcomes sent by a worker that does not hold the attempt, a busy-looping task
// (its attempts end as execution timeouts, not as lost workers), and what unauthenticated peers can
// make the engine hold (a small hello limit, a cap on pending handshakes and connections).
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { forEachDriver } from '../driver/drivers.ts';
import { Engine } from '../../engine/engine.ts';
import { silentLogger } from '../../engine/log.ts';
import { createPgliteDriver } from '../../engine/db/pglite/pglite-driver.ts';
import type { Driver, Queryable, Sql } from '../../engine/db/driver.ts';
import type { Cleaver } from '../../sdk/index.ts';
import { PROTOCOL_VERSION } from '../../shared/protocol.ts';
import { FAST, RawClient, client, kill, removeDir, spawnWorker, tempDir, rawTask, waitFor } from './harness.ts';

const task = rawTask;

function workerHello(name: string, tasks: unknown[], extra: Record<string, unknown> = {}) {
  return { t: 'hello', protocol: PROTOCOL_VERSION, role: 'worker', workerId: randomUUID(), name, slots: 10, tasks, ...extra };
}

type Assign = { tasks: Array<{ taskRunId: string; runId: string; attempt: number }> };

/** The driver (and its relaxed view, which the attempt writer uses), each query delayed by what `delayMs` says for it. */
function slowedDown(driver: Driver, delayMs: (sql: Sql) => number): Driver {
  const slowed = <T extends object>(target: T, extra: Record<PropertyKey, unknown> = {}): T =>
    new Proxy(target, {
      get(t, key) {
        if (key in extra) return extra[key];
        const value = Reflect.get(t, key, t) as unknown;
        if (key === 'query') {
          return async (sql: Sql, params?: readonly unknown[]) => {
            const ms = delayMs(sql);
            if (ms > 0) await new Promise((r) => setTimeout(r, ms));
            return (value as Queryable['query']).call(t, sql, params);
          };
        }
        return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(t) : value;
      },
    });
  return slowed(driver, { relaxed: slowed(driver.relaxed) });
}

forEachDriver('worker sessions', (getDriver) => {
  let slowRegistration = false;
  let slowFinish = false;
  let dir: string;
  let engine: Engine;
  let cleaver: Cleaver;
  let socket: string;
  beforeAll(async () => {
    dir = tempDir();
    socket = join(dir, 'engine.sock');
    engine = new Engine({ driver: slowedDown(getDriver(), (sql) => (slowRegistration ? 20 : slowFinish && typeof sql !== 'string' && sql.name === 'cleaver_task_finish' ? 600 : 0)), socketPath: socket, log: silentLogger, ...FAST });
    await engine.start();
    cleaver = client(dir);
  });
  afterAll(async () => {
    await cleaver?.close();
    await engine?.stop();
    if (dir) removeDir(dir);
  });

  it('leaves no session behind for a worker whose connection closed while its hello was processed', async () => {
    const name = `zombie-${randomUUID().slice(0, 8)}`;
    // Registration made slow, as on a loaded engine, so the sockets close while it is in flight.
    slowRegistration = true;
    for (let i = 0; i < 30; i++) {
      const raw = new RawClient(socket);
      raw.socket.once('connect', () => {
        raw.send(workerHello(name, [task(name)]));
        if (i % 6 === 0) raw.socket.destroy();
        else setTimeout(() => raw.socket.destroy(), (i % 6) / 2);
      });
      await waitFor('the raw socket to close', () => raw.closed);
    }
    slowRegistration = false;
    await waitFor('every zombie session to be gone', async () => (await engine.status()).workers.every((w) => w.name !== name) || undefined, 5_000);
    // Stays gone (a zombie lingered, re-registered by nothing, and kept its heartbeat row fresh).
    await new Promise((r) => setTimeout(r, FAST.heartbeatTimeoutMs));
    expect((await engine.status()).workers.filter((w) => w.name === name)).toEqual([]);
    const rows = await getDriver().query<{ status: string }>(`SELECT status FROM worker WHERE name = $1`, [name]);
    expect(rows.rows.length).toBeGreaterThan(0);
    expect(rows.rows.every((r) => r.status === 'disconnected')).toBe(true);

    // Work goes to a live worker, never to a zombie.
    const live = new RawClient(socket);
    live.send(workerHello(name, [task(name)]));
    await live.next((m) => m.t === 'welcome');
    const run = await cleaver.ref(name).runNoWait({});
    const assign = (await live.next((m) => m.t === 'assign')) as unknown as Assign;
    expect(assign.tasks[0]!.runId).toBe(run.runId);
    live.send({ t: 'result', taskRunId: assign.tasks[0]!.taskRunId, attempt: 1, ok: true, output: 'live', startedAt: Date.now(), finishedAt: Date.now() });
    expect(await run.result()).toBe('live');
    live.socket.destroy();
  });

  it('never pushes a reconnected worker an attempt it was declared to have lost, while that loss is being written', async () => {
    const name = `relisted-${randomUUID().slice(0, 8)}`;
    const workerId = randomUUID();
    const assigns = (w: RawClient) => w.messages.filter((m) => m.t === 'assign').flatMap((m) => (m as unknown as Assign).tasks);
    const first = new RawClient(socket);
    first.send(workerHello(name, [task(name)], { workerId, slots: 1 }));
    await first.next((m) => m.t === 'welcome');
    const run = await cleaver.ref(name).runNoWait({});
    // This connection's assignment is lost: the worker never acts on it, and comes back on a new
    // connection listing nothing. Its loss is written slowly, as on a loaded engine; meanwhile the
    // database still shows the attempt assigned to the worker, and the delivery poll reads it.
    const { taskRunId } = assigns(await first.next((m) => m.t === 'assign').then(() => first))[0]!;
    slowFinish = true;
    const second = new RawClient(socket);
    second.send(workerHello(name, [task(name)], { workerId, slots: 1, inflight: [] }));
    await second.next((m) => m.t === 'welcome');
    const heartbeat = setInterval(() => second.send({ t: 'heartbeat' }), FAST.heartbeatIntervalMs);
    try {
      await waitFor('the retry on the new connection', () => assigns(second).length > 0 || undefined, 5_000);
      slowFinish = false;
      // Attempt 1 was given up (WORKER_LOST): the worker is given its retry, never attempt 1 itself,
      // which would run the task once more than the retry does.
      expect(assigns(second)).toEqual([expect.objectContaining({ taskRunId, attempt: 2 })]);
      second.send({ t: 'result', taskRunId, attempt: 2, ok: true, output: 'done', startedAt: Date.now(), finishedAt: Date.now() });
      expect(await run.result()).toBe('done');
      const details = await cleaver.runs.get(run.runId);
      expect(details.attempts.map((a) => [a.attempt, a.status, a.failureReason ?? null])).toEqual([
        [1, 'failed', 'WORKER_LOST'],
        [2, 'succeeded', null],
      ]);
    } finally {
      slowFinish = false;
      clearInterval(heartbeat);
      second.socket.destroy();
      first.socket.destroy();
    }
  });

  it('accepts a start or result only from the worker that holds the attempt', async () => {
    const name = `owned-${randomUUID().slice(0, 8)}`;
    const owner = new RawClient(socket);
    owner.send(workerHello(`${name}-owner`, [task(name)], { slots: 1 }));
    await owner.next((m) => m.t === 'welcome');
    const run = await cleaver.ref(name).runNoWait({});
    const assign = (await owner.next((m) => m.t === 'assign')) as unknown as Assign;
    const { taskRunId, attempt } = assign.tasks[0]!;

    // A second worker offering the same task (its only free slot stays free) forges the outcome.
    const intruder = new RawClient(socket);
    intruder.send(workerHello(`${name}-intruder`, [task(name)], { slots: 1 }));
    await intruder.next((m) => m.t === 'welcome');
    intruder.send({ t: 'started', taskRunId, attempt, at: Date.now() });
    intruder.send({ t: 'log', taskRunId, attempt, level: 'info', message: 'forged line', at: Date.now() });
    intruder.send({ t: 'result', taskRunId, attempt, ok: true, output: 'forged', startedAt: Date.now(), finishedAt: Date.now() });
    const refused = await intruder.next((m) => m.t === 'ack');
    expect(refused).toMatchObject({ accepted: [], rejected: [{ taskRunId, attempt }] });
    await new Promise((r) => setTimeout(r, 150)); // past the attempt writer's start delay
    const during = await cleaver.runs.get(run.runId);
    expect(during.taskRuns[0]).toMatchObject({ status: 'assigned' });

    owner.send({ t: 'result', taskRunId, attempt, ok: true, output: 'real', startedAt: Date.now(), finishedAt: Date.now() });
    expect(await owner.next((m) => m.t === 'ack')).toMatchObject({ accepted: [{ taskRunId, attempt }], rejected: [] });
    expect(await run.result()).toBe('real');
    const logs = await getDriver().query(`SELECT 1 FROM task_log WHERE task_run_id = $1`, [taskRunId]);
    expect(logs.rows).toEqual([]);
    owner.socket.destroy();
    intruder.socket.destroy();
  });

  it('ends a task that kills its worker every time: lost attempts past the free allowance are charged', async () => {
    const name = `crasher-${randomUUID().slice(0, 8)}`;
    const run = await cleaver.ref(name).runNoWait({}).catch(() => null);
    expect(run).toBeNull(); // not registered yet: the first worker registers it
    let started: { runId: string; result(): Promise<unknown> } | null = null;
    const attempts: number[] = [];
    // A supervisor restarting a worker that dies on every attempt it is given.
    for (let i = 0; i < 20; i++) {
      const worker = new RawClient(socket);
      worker.send(workerHello(name, [task(name, { retries: 1 })], { slots: 1 }));
      await worker.next((m) => m.t === 'welcome');
      // Alive until the task kills it (a silent worker is given no work).
      const heartbeat = setInterval(() => worker.send({ t: 'heartbeat' }), FAST.heartbeatIntervalMs);
      started ??= await cleaver.ref(name).runNoWait({});
      const assign = (await worker.next((m) => m.t === 'assign', 5_000).catch(() => null)) as unknown as Assign | null;
      clearInterval(heartbeat);
      worker.socket.destroy();
      if (!assign) break;
      attempts.push(assign.tasks[0]!.attempt);
    }
    // 5 free losses, then the attempt and the one retry its policy allows.
    expect(attempts).toEqual([1, 2, 3, 4, 5, 6, 7]);
    const error = await started!.result().then(
      () => null,
      (e: unknown) => e as { failureReason: string; message: string },
    );
    expect(error).toMatchObject({ failureReason: 'WORKER_LOST' });
    expect(error!.message).toMatch(/lost with its worker on attempt 7.*does the task crash its worker process/);
  });

  it('gives a worker one suspect at a time: task runs lost together twice are not claimed together again', async () => {
    const name = `suspect-${randomUUID().slice(0, 8)}`;
    const assigned = (w: RawClient) => w.messages.filter((m) => m.t === 'assign').flatMap((m) => (m as unknown as Assign).tasks);
    const connect = async () => {
      const w = new RawClient(socket);
      w.send(workerHello(name, [task(name)], { slots: 10 }));
      await w.next((m) => m.t === 'welcome');
      const heartbeat = setInterval(() => w.send({ t: 'heartbeat' }), FAST.heartbeatIntervalMs);
      return { w, kill: () => (clearInterval(heartbeat), w.socket.destroy()) };
    };
    const first = await connect();
    const runs = [await cleaver.ref(name).runNoWait({}), await cleaver.ref(name).runNoWait({})];
    await waitFor('both on the first worker', () => assigned(first.w).length === 2);
    first.kill();
    // Lost once: no suspicion, both come back at once, together.
    const second = await connect();
    await waitFor('both on the second worker', () => assigned(second.w).length === 2);
    second.kill();
    // Lost twice: suspects. A worker with ten free slots runs one of them, the other only once it is done.
    const third = await connect();
    await waitFor('a suspect on the third worker', () => assigned(third.w).length >= 1);
    await new Promise((r) => setTimeout(r, 300));
    expect(assigned(third.w)).toHaveLength(1);
    const finish = (t: Assign['tasks'][number]) =>
      third.w.send({ t: 'result', taskRunId: t.taskRunId, attempt: t.attempt, ok: true, output: t.attempt, startedAt: Date.now(), finishedAt: Date.now() });
    finish(assigned(third.w)[0]!);
    await waitFor('the other suspect, after the first ended', () => assigned(third.w).length === 2);
    finish(assigned(third.w)[1]!);
    expect(await Promise.all(runs.map((r) => r.result()))).toEqual([3, 3]);
    third.kill();
  });

  it('ends a busy-looping attempt as an execution timeout and gives the blocked worker no more work', async () => {
    const worker = spawnWorker({ dir, tasks: ['busy'], slots: 1 });
    try {
      await worker.ready;
      // Each attempt blocks its worker's event loop for 1.8 s: past its 500 ms executionTimeout and
      // past the 1.5 s heartbeat timeout. The retry must wait for the worker to come back, not be
      // handed to it while it cannot even read it (and then be lost with it).
      const run = await cleaver.ref('busy').runNoWait({ ms: 1_800 });
      await expect(run.result()).rejects.toMatchObject({ failureReason: 'EXECUTION_TIMEOUT' });
      const details = await cleaver.runs.get(run.runId);
      expect(details.attempts.map((a) => [a.attempt, a.failureReason])).toEqual([
        [1, 'EXECUTION_TIMEOUT'],
        [2, 'EXECUTION_TIMEOUT'],
        [3, 'EXECUTION_TIMEOUT'],
        [4, 'EXECUTION_TIMEOUT'],
      ]);
    } finally {
      await kill(worker);
    }
  }, 30_000);
});

describe('what an unauthenticated peer can make the engine hold', () => {
  let dir: string;
  let driver: Driver;
  let engine: Engine;
  const HELLO_LIMIT = 64 * 1024;
  const PENDING = 4;
  beforeAll(async () => {
    dir = tempDir();
    driver = await createPgliteDriver();
    engine = new Engine({
      driver,
      socketPath: join(dir, 'engine.sock'),
      tcp: { host: '127.0.0.1', port: 0 },
      token: 'secret-token',
      log: silentLogger,
      ...FAST,
      maxHelloBytes: HELLO_LIMIT,
      maxPendingHandshakes: PENDING,
      handshakeTimeoutMs: 500,
    });
    await engine.start();
  });
  afterAll(async () => {
    await engine?.stop();
    await driver?.close();
    if (dir) removeDir(dir);
  });

  const tcp = async () => {
    const peer = new RawClient({ host: '127.0.0.1', port: engine.tcpPort! });
    await new Promise((resolve) => peer.socket.once('connect', resolve));
    return peer;
  };
  const closedOf = (peer: RawClient) => waitFor('the engine to close the connection', () => peer.closed, 5_000);
  const errorOf = async (peer: RawClient) => (await peer.next((m) => m.t === 'error')).error as { code: string; message: string };

  it('refuses a hello larger than the limit as soon as its length is read, before any token check', async () => {
    const peer = await tcp();
    const header = Buffer.alloc(4);
    header.writeUInt32BE(15 * 1024 * 1024);
    peer.socket.write(header);
    peer.socket.write(Buffer.alloc(256 * 1024, 0x20)); // the start of a 15 MB body that never ends
    const error = await errorOf(peer);
    expect(error).toMatchObject({ code: 'FRAME_TOO_LARGE' });
    expect(error.message).toMatch(/before the handshake completed/);
    await closedOf(peer);
  });

  it('caps connections in their handshake, and frees them at the handshake timeout', async () => {
    const idle = await Promise.all(Array.from({ length: PENDING }, () => tcp()));
    const extra = await tcp();
    expect(await errorOf(extra)).toMatchObject({ code: 'CONNECTION', message: expect.stringMatching(/still in their handshake/) });
    // The idle ones are closed by the handshake timeout, after which peers are accepted again.
    await Promise.all(idle.map(closedOf));
    const later = await tcp();
    later.send({ t: 'hello', protocol: PROTOCOL_VERSION, role: 'client', token: 'secret-token' });
    await later.next((m) => m.t === 'welcome');
    later.socket.destroy();
  });

  it('still takes full-size frames from a peer once its token checked out', async () => {
    const peer = await tcp();
    peer.send({ t: 'hello', protocol: PROTOCOL_VERSION, role: 'client', token: 'secret-token' });
    await peer.next((m) => m.t === 'welcome');
    // Larger than the hello limit, well under the frame limit: a normal (if bad) request, answered.
    peer.send({ t: 'status', id: 1, padding: 'x'.repeat(HELLO_LIMIT * 4) });
    await waitFor('a reply', () => peer.messages.find((m) => m.t === 'reply'));
    expect(peer.closed).toBe(false);
    peer.socket.destroy();
  });
});
