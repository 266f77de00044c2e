// Streaming end to end on both drivers: chunks a task puts with ctx.putStream reach SDK subscribers —
// what was streamed before they attached first, then live, in order, none twice — and the stream ends
// with the run. Slow subscribers lose chunks (and are told) without holding anyone else up; chunks
// that cannot be streamed are refused with the reason. Workers run in this process, so a task can
// wait for the test between chunks.
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { DATABASE_URL, describePg, dropSchema, forEachDriver, freshSchemaName, openTestPgDriver } from '../driver/drivers.ts';
import { Engine } from '../../engine/engine.ts';
import { silentLogger } from '../../engine/log.ts';
import type { Driver } from '../../engine/db/driver.ts';
import { Cleaver, NonRetryableError, type RunStreamEvent } from '../../sdk/index.ts';
import type { TaskDeclaration } from '../../sdk/task.ts';
import type { WorkflowDeclaration } from '../../sdk/workflow.ts';
import WebSocket from 'ws';
import { startAdminHttp } from '../../engine/admin/http-server.ts';
import { ADMIN_WS_PROTOCOL, type LiveStreamMessage } from '../../shared/admin-transport.ts';
import { PROTOCOL_VERSION } from '../../shared/protocol.ts';
import { FAST, RawClient, client, rawTask, removeDir, tempDir, useEngine, waitFor } from './harness.ts';

/** Small enough that a test streams past it in a moment. */
const RETENTION = 4 * 1024;

function gate(): { open(): void; opened: Promise<void> } {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { open, opened };
}

/** Everything the stream gives until it ends. */
async function collect(stream: AsyncIterable<RunStreamEvent>, into: RunStreamEvent[] = []): Promise<RunStreamEvent[]> {
  for await (const event of stream) into.push(event);
  return into;
}

const chunks = (events: RunStreamEvent[]) => events.filter((e) => e.type === 'chunk');
const texts = (events: RunStreamEvent[]) => chunks(events).map((c) => (c.kind === 'text' ? c.data : c.kind === 'json' ? JSON.stringify(c.data) : `bytes:${[...c.data].join(',')}`));

forEachDriver('streaming', (getDriver) => {
  const ctx = useEngine(getDriver, { streamRetentionBytes: RETENTION });
  let cleaver: Cleaver;
  let engine: Engine;
  beforeAll(() => {
    ({ cleaver, engine } = ctx);
  });

  const unique = (label: string) => `${label}-${randomUUID().slice(0, 8)}`;
  async function startWorker(workflows: Array<TaskDeclaration<any, any> | WorkflowDeclaration<any, any>>) {
    const worker = await cleaver.worker(unique('stream-worker'), { workflows, handleSignals: false });
    await worker.start();
    return worker;
  }
  const keptChunks = async (runId: string) => chunks((await engine.admin.runStreamRead({ runId })).events as RunStreamEvent[]).length;

  it('a subscriber attaching late gets what was streamed first, then live chunks, in order, none twice; it ends with the run', async () => {
    const between = gate();
    const task = cleaver.task({
      name: unique('tokens'),
      fn: async (_input: unknown, c) => {
        for (let i = 1; i <= 5; i++) await c.putStream(`tok${i} `);
        await c.putStream({ progress: 0.5 });
        await c.putStream(new Uint8Array([0, 1, 255]));
        await between.opened;
        for (let i = 6; i <= 10; i++) await c.putStream(`tok${i} `);
        return 'done';
      },
    });
    const worker = await startWorker([task]);
    const ref = await task.runNoWait({});
    await waitFor('the first 7 chunks to be stored', async () => (await keptChunks(ref.runId)) === 7);

    const late = cleaver.runs.stream(ref.runId);
    const events: RunStreamEvent[] = [];
    const done = collect(late, events);
    await waitFor('the replay', () => chunks(events).length === 7);
    between.open();
    await done;

    expect(texts(events)).toEqual(['tok1 ', 'tok2 ', 'tok3 ', 'tok4 ', 'tok5 ', '{"progress":0.5}', 'bytes:0,1,255', 'tok6 ', 'tok7 ', 'tok8 ', 'tok9 ', 'tok10 ']);
    expect(chunks(events).map((c) => c.seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    expect(chunks(events).every((c) => c.taskName === task.name && c.attempt === 1 && c.at instanceof Date)).toBe(true);
    expect(events.filter((e) => e.type !== 'chunk')).toEqual([]);
    expect(late.status).toBe('succeeded');
    expect(await ref.result()).toBe('done');

    // Attaching after the end: everything kept, then the end at once.
    const after = await collect(cleaver.runs.stream(ref.runId));
    expect(texts(after)).toEqual(texts(events));
    await worker.stop();
  });

  it("ref.stream() follows the run runNoWait started; in a task, a child run's reference streams too", async () => {
    const child = cleaver.task({
      name: unique('child'),
      fn: async (input: { n: number }, c) => {
        for (let i = 1; i <= input.n; i++) await c.putStream(`c${i}`);
        return 'child done';
      },
    });
    const parent = cleaver.task({
      name: unique('parent'),
      fn: async (_i: unknown, c) => {
        const ref = await c.runChildNoWait(child, { n: 3 });
        const seen: string[] = [];
        for await (const event of ref.stream()) {
          if (event.type !== 'chunk' || event.kind !== 'text') continue;
          seen.push(event.data);
          await c.putStream(`relayed ${event.data}`);
        }
        return seen;
      },
    });
    const worker = await startWorker([child, parent]);
    const ref = await parent.runNoWait({});
    const stream = ref.stream();
    expect(texts(await collect(stream))).toEqual(['relayed c1', 'relayed c2', 'relayed c3']);
    expect(stream.status).toBe('succeeded');
    expect(await ref.result()).toEqual(['c1', 'c2', 'c3']);
    await worker.stop();
  });

  it('tags each chunk with its task across a workflow, and ends when the run fails or is cancelled', async () => {
    const flow = cleaver.workflow({ name: unique('flow') });
    const first = flow.task({
      name: 'first',
      fn: async (_i: unknown, c) => {
        await c.putStream('from first');
        return 1;
      },
    });
    flow.task({
      name: 'second',
      parents: [first],
      fn: async (_i: unknown, c) => {
        await c.putStream('from second');
        throw new NonRetryableError('second gives up');
      },
    });
    const hold = cleaver.task({
      name: unique('hold'),
      fn: async (_i: unknown, c) => {
        await c.putStream('waiting');
        await new Promise((resolve) => c.signal.addEventListener('abort', resolve));
      },
    });
    const worker = await startWorker([flow, hold]);

    const failing = await flow.runNoWait({});
    const failed = cleaver.runs.stream(failing.runId);
    const failedEvents = await collect(failed);
    expect(chunks(failedEvents).map((c) => [c.taskName, c.data])).toEqual([
      ['first', 'from first'],
      ['second', 'from second'],
    ]);
    expect(failed.status).toBe('failed');

    const held = await hold.runNoWait({});
    const cancelled = cleaver.runs.stream(held.runId);
    const cancelledEvents: RunStreamEvent[] = [];
    const done = collect(cancelled, cancelledEvents);
    await waitFor('the chunk before the cancel', () => chunks(cancelledEvents).length === 1);
    await cleaver.runs.cancel(held.runId);
    await done;
    expect(cancelled.status).toBe('cancelled');
    await worker.stop();
  });

  it('keeps the newest chunks within the retention bound and tells a late subscriber how many older ones were cut', async () => {
    const line = 'x'.repeat(99);
    const task = cleaver.task({
      name: unique('long'),
      fn: async (_i: unknown, c) => {
        for (let i = 1; i <= 100; i++) await c.putStream(`${String(i).padStart(3, '0')}${line.slice(3)}`);
      },
    });
    const worker = await startWorker([task]);
    const ref = await task.runNoWait({});
    await ref.result();
    const events = await collect(cleaver.runs.stream(ref.runId));
    const kept = chunks(events);
    const cut = events.find((e) => e.type === 'cut');
    expect(events[0]).toBe(cut);
    expect(cut).toMatchObject({ type: 'cut', taskName: task.name, retentionBytes: RETENTION });
    // The newest chunks, up to the bound, and nothing in between lost: cut + kept = all 100.
    expect(kept.reduce((sum, c) => sum + c.bytes, 0)).toBeLessThanOrEqual(RETENTION);
    expect(kept.length).toBeGreaterThan(RETENTION / 100 - 2);
    expect(kept.at(-1)!.seq).toBe(100);
    expect(kept.map((c) => c.seq)).toEqual(Array.from({ length: kept.length }, (_, i) => 101 - kept.length + i));
    expect(cut!.type === 'cut' && cut!.chunks).toBe(100 - kept.length);
    await worker.stop();
  });

  it('a subscriber that does not keep up is told how many chunks it lost, while another subscriber and the worker carry on', async () => {
    const go = gate();
    // 3.2 MB: more than a socket's buffers and the engine's 1 MiB for a subscriber that does not read.
    const count = 200;
    const body = 'y'.repeat(16 * 1024 - 8);
    const task = cleaver.task({
      name: unique('flood'),
      fn: async (_i: unknown, c) => {
        await go.opened;
        for (let i = 1; i <= count; i++) {
          await c.putStream(`${String(i).padStart(8, '0')}${body}`);
          // Paced a little, as real producers are: the eager subscriber, in this same process, then
          // never lags by the megabyte the engine holds for it.
          await new Promise((resolve) => setTimeout(resolve, 1));
        }
        return 'flooded';
      },
    });
    const worker = await startWorker([task]);
    const ref = await task.runNoWait({});
    // One subscriber reads as chunks come; one (on a client of its own) holds only 64 KiB and is not
    // read until the end; one raw connection does not read its socket at all, so the engine drops for it.
    const eager = collect(cleaver.runs.stream(ref.runId));
    const other = client(ctx.dir);
    const slow = other.runs.stream(ref.runId, { bufferBytes: 64 * 1024 });
    const raw = new RawClient(join(ctx.dir, 'engine.sock'));
    await raw.hello();
    raw.send({ t: 'stream_subscribe', id: 1, subscription: 7, runId: ref.runId });
    await raw.next((m) => m.t === 'reply' && m.id === 1);
    raw.socket.pause();
    go.open();

    expect(await ref.result()).toBe('flooded');
    const eagerEvents = await eager;
    expect(chunks(eagerEvents).map((c) => c.seq)).toEqual(Array.from({ length: count }, (_, i) => i + 1));
    expect(eagerEvents.some((e) => e.type === 'dropped')).toBe(false);

    const slowEvents = await collect(slow);
    const slowDropped = slowEvents.filter((e) => e.type === 'dropped').reduce((sum, e) => sum + (e.type === 'dropped' ? e.chunks : 0), 0);
    expect(slowDropped).toBeGreaterThan(0);
    expect(chunks(slowEvents).length + slowDropped).toBe(count);
    expect(slow.status).toBe('succeeded');

    raw.socket.resume();
    await raw.next((m) => m.t === 'stream_events' && (m.events as Array<{ type: string }>).some((e) => e.type === 'end'), 15_000);
    const rawEvents = raw.messages.filter((m) => m.t === 'stream_events' && m.subscription === 7).flatMap((m) => m.events as Array<{ type: string; chunks?: number; seq?: number }>);
    const rawDropped = rawEvents.filter((e) => e.type === 'dropped').reduce((sum, e) => sum + e.chunks!, 0);
    expect(rawDropped).toBeGreaterThan(0);
    expect(rawEvents.filter((e) => e.type === 'chunk').length + rawDropped).toBe(count);
    expect(rawEvents.at(-1)).toEqual({ type: 'end', status: 'succeeded' });
    raw.socket.destroy();
    await other.close();
    await worker.stop();
  }, 30_000);

  it('refuses chunks that cannot be streamed, saying why, and streams the next one', async () => {
    const task = cleaver.task({
      name: unique('picky'),
      fn: async (_i: unknown, c) => {
        const refusals: string[] = [];
        for (const bad of ['z'.repeat(64 * 1024 + 1), () => 1, undefined, 10n, 'nul\u0000inside', new Uint8Array(64 * 1024 + 1)]) {
          await c.putStream(bad as never).then(
            () => refusals.push('accepted'),
            (e: { code: string; message: string }) => refusals.push(`${e.code}: ${e.message}`),
          );
        }
        await c.putStream('fine');
        return refusals;
      },
    });
    const worker = await startWorker([task]);
    const ref = await task.runNoWait({});
    const refusals = (await ref.result()) as string[];
    expect(refusals).toEqual([
      'BAD_PAYLOAD: putStream: a stream chunk of 65537 bytes is larger than the engine\'s limit of 65536 bytes; put it in smaller chunks',
      'BAD_PAYLOAD: putStream: the chunk is a function, which is not JSON; put a string, bytes (a Uint8Array) or a JSON value',
      'BAD_PAYLOAD: putStream: the chunk is undefined, which is not JSON; put a string, bytes (a Uint8Array) or a JSON value',
      'BAD_PAYLOAD: putStream: the chunk is a bigint, which is not JSON; put a string, bytes (a Uint8Array) or a JSON value',
      'BAD_PAYLOAD: putStream: a text chunk cannot hold a NUL character (\\u0000); put it as bytes (a Uint8Array)',
      'BAD_PAYLOAD: putStream: a stream chunk of 65537 bytes is larger than the engine\'s limit of 65536 bytes; put it in smaller chunks',
    ]);
    expect(texts(await collect(cleaver.runs.stream(ref.runId)))).toEqual(['fine']);
    await worker.stop();
  });

  it('refuses bad stream frames with a clear error and keeps the connection and the engine serving', async () => {
    const name = unique('raw-stream');
    const raw = new RawClient(join(ctx.dir, 'engine.sock'));
    raw.send({ t: 'hello', protocol: PROTOCOL_VERSION, role: 'worker', workerId: randomUUID(), name: 'raw-streamer', slots: 1, tasks: [rawTask(name)] });
    await raw.next((m) => m.t === 'welcome');
    const ref = await cleaver.ref(name).runNoWait({});
    const assign = (await raw.next((m) => m.t === 'assign')) as unknown as { tasks: Array<{ taskRunId: string; attempt: number }> };
    const { taskRunId, attempt } = assign.tasks[0]!;
    const chunk = (extra: Record<string, unknown>) => ({ t: 'stream', taskRunId, attempt, seq: 1, kind: 'text', data: 'ok', at: Date.now(), ...extra });
    const errorAfter = async (message: unknown) => {
      const seen = raw.messages.length;
      raw.send(message);
      const error = await raw.next((m) => raw.messages.indexOf(m) >= seen && m.t === 'error');
      expect(error.fatal).toBe(false);
      return (error.error as { code: string; message: string });
    };
    expect(await errorAfter(chunk({ kind: 'video' }))).toEqual({ name: 'CleaverError', code: 'BAD_REQUEST', message: 'stream.kind must be text, json or bytes' });
    expect(await errorAfter(chunk({ seq: 0 }))).toMatchObject({ code: 'BAD_REQUEST', message: 'stream.seq must be a positive integer (1, 2, … within the attempt)' });
    expect(await errorAfter(chunk({ kind: 'bytes', data: 'not base64!' }))).toMatchObject({ code: 'BAD_PAYLOAD', message: 'stream.data of a bytes chunk must be base64' });
    expect(await errorAfter(chunk({ data: 42 }))).toMatchObject({ code: 'BAD_PAYLOAD', message: 'stream.data of a text chunk must be a string' });
    expect(await errorAfter(chunk({ data: 'w'.repeat(64 * 1024 + 1) }))).toMatchObject({ code: 'BAD_PAYLOAD', message: expect.stringContaining('larger than the engine\'s limit of 65536 bytes') });
    // A subscription to an unknown run, and a bad cursor, are refused too.
    raw.send({ t: 'stream_subscribe', id: 5, subscription: 1, runId: randomUUID() });
    expect(await raw.next((m) => m.t === 'reply' && m.id === 5)).toMatchObject({ ok: false, error: { code: 'NOT_FOUND' } });
    raw.send({ t: 'stream_subscribe', id: 6, subscription: 1, runId: ref.runId, after: { [taskRunId]: [1] } });
    expect(await raw.next((m) => m.t === 'reply' && m.id === 6)).toMatchObject({ ok: false, error: { code: 'BAD_REQUEST', message: `stream_subscribe.after.${taskRunId} must be [attempt, seq], two non-negative integers` } });

    // Still serving: a good chunk is stored and acknowledged (a clock out of range is replaced by the
    // engine's), and the attempt finishes.
    raw.send(chunk({ data: 'good', at: 1e20 }));
    expect(await raw.next((m) => m.t === 'stream_ack')).toEqual({ t: 'stream_ack', acks: [{ taskRunId, attempt, seq: 1 }] });
    raw.send({ t: 'result', taskRunId, attempt, ok: true, output: 'raw', startedAt: Date.now(), finishedAt: Date.now() });
    expect(await ref.result()).toBe('raw');
    expect(texts(await collect(cleaver.runs.stream(ref.runId)))).toEqual(['good']);
    raw.socket.destroy();
  });
  it('serves subscriptions on the console\'s live WebSocket, refusing bad messages there with the reason', async () => {
    const task = cleaver.task({
      name: unique('console'),
      fn: async (_i: unknown, c) => {
        await c.putStream('for the console');
        await c.putStream({ step: 2 });
      },
    });
    const worker = await startWorker([task]);
    const ref = await task.runNoWait({});
    await ref.result();
    const token = randomUUID();
    const server = await startAdminHttp({ admin: engine.admin, changes: engine.changes, streams: engine.streams, port: 0, token, staticDir: null, log: silentLogger });
    const ws = new WebSocket(`ws://127.0.0.1:${server.port}/api/live`, [ADMIN_WS_PROTOCOL, `token.${token}`]);
    const received: LiveStreamMessage[] = [];
    ws.on('message', (data) => {
      const message = JSON.parse(String(data)) as LiveStreamMessage | Record<string, unknown>;
      if ('t' in message) received.push(message as LiveStreamMessage);
    });
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
    try {
      const answer = async (message: unknown) => {
        const seen = received.length;
        ws.send(typeof message === 'string' ? message : JSON.stringify(message));
        return waitFor('an answer', () => received.length > seen && received.at(-1));
      };
      expect(await answer('not json')).toMatchObject({ t: 'stream_error', subscription: null, error: { code: 'BAD_REQUEST', message: expect.stringContaining('must be JSON text') } });
      expect(await answer({ t: 'stream_subscribe', subscription: 1, runId: 'nope' })).toMatchObject({ t: 'stream_error', subscription: 1, error: { message: 'stream_subscribe.runId must be a run id (UUID)' } });
      expect(await answer({ t: 'stream_subscribe', subscription: 2, runId: randomUUID() })).toMatchObject({ t: 'stream_error', subscription: 2, error: { code: 'NOT_FOUND' } });
      ws.send(JSON.stringify({ t: 'stream_subscribe', subscription: 3, runId: ref.runId }));
      const ofThree = () => received.flatMap((m) => (m.t === 'stream_events' && m.subscription === 3 ? m.events : []));
      await waitFor('the end of the stream', () => ofThree().at(-1)?.type === 'end');
      const events = ofThree();
      expect(events).toEqual([
        expect.objectContaining({ type: 'chunk', kind: 'text', data: 'for the console', seq: 1 }),
        expect.objectContaining({ type: 'chunk', kind: 'json', data: { step: 2 }, seq: 2 }),
        { type: 'end', status: 'succeeded' },
      ]);
      // Over the admin contract too (what the desktop app polls), after a cursor.
      const page = await engine.admin.runStreamRead({ runId: ref.runId, after: { [(events[0] as { taskRunId: string }).taskRunId]: [1, 1] } });
      expect(page).toMatchObject({ more: false, status: 'succeeded', events: [{ type: 'chunk', seq: 2 }] });
    } finally {
      ws.close();
      await server.close();
      await worker.stop();
    }
  });
});

// Several engines on one Postgres: the worker streams through one engine and the subscriber follows on
// another (told by NOTIFY, then reading the table); when the worker's engine stops mid-stream, the
// worker moves to a third one with its attempt and goes on, and the subscriber still gets every chunk
// once, in order. Then the subscriber's own engine stops, and it resumes on another from its cursor.
describePg('streaming across engines [pg]', () => {
  let dir: string;
  let schema: string;
  const drivers: Driver[] = [];
  const engines: Engine[] = [];
  let producer: Cleaver;
  let viewer: Cleaver;
  const socket = (name: string) => join(dir, `${name}.sock`);

  beforeAll(async () => {
    dir = tempDir();
    schema = freshSchemaName('stream');
    for (const name of ['a', 'b', 'c']) {
      const driver = await openTestPgDriver({ schema });
      drivers.push(driver);
      // The poll fallback is far beyond the test: chunks reach the other engines by NOTIFY.
      const engine = new Engine({ driver, socketPath: socket(name), log: silentLogger, ...FAST, pollIntervalMs: 10 * 60_000 });
      await engine.start();
      engines.push(engine);
    }
    // The worker's client prefers engine a, then c; the subscriber's prefers b, then c.
    producer = Cleaver.connect({ address: [`unix://${socket('a')}`, `unix://${socket('c')}`] });
    viewer = Cleaver.connect({ address: [`unix://${socket('b')}`, `unix://${socket('c')}`] });
  });

  afterAll(async () => {
    await viewer?.close();
    await producer?.close();
    for (const e of engines) await e.stop();
    for (const d of drivers) await d.close();
    await dropSchema(DATABASE_URL, schema);
    removeDir(dir);
  });

  it('a subscriber on another engine gets what was streamed, then live chunks, through a worker failover and its own', async () => {
    const steps = [gate(), gate(), gate()];
    const task = producer.task({
      name: `relay-${randomUUID().slice(0, 8)}`,
      fn: async (_i: unknown, c) => {
        for (let i = 1; i <= 40; i++) {
          if (i % 10 === 1 && i > 1) await steps[(i - 11) / 10]!.opened;
          await c.putStream(`part ${i}`);
        }
        return 'relayed';
      },
    });
    const worker = await producer.worker('relay-worker', { workflows: [task], handleSignals: false });
    await worker.start();
    const ref = await task.runNoWait({});
    await waitFor('the first 10 chunks to be stored', async () => chunks((await engines[1]!.admin.runStreamRead({ runId: ref.runId })).events as RunStreamEvent[]).length === 10);

    const events: RunStreamEvent[] = [];
    const done = collect(viewer.runs.stream(ref.runId), events);
    await waitFor('the replay on engine b', () => chunks(events).length === 10);
    steps[0]!.open();
    await waitFor('live chunks from engine a', () => chunks(events).length === 20);
    // Engine a goes away: the worker reconnects to c with its attempt and goes on streaming there.
    await engines[0]!.stop();
    steps[1]!.open();
    await waitFor('live chunks from engine c', () => chunks(events).length === 30);
    // Engine b goes away: the subscriber resumes on c after the last chunk it got.
    await engines[1]!.stop();
    steps[2]!.open();
    expect(await ref.result()).toBe('relayed');
    await done;
    expect(chunks(events).map((c) => c.data)).toEqual(Array.from({ length: 40 }, (_, i) => `part ${i + 1}`));
    expect(chunks(events).every((c) => c.attempt === 1)).toBe(true);
    expect(events.filter((e) => e.type !== 'chunk')).toEqual([]);
    await worker.stop();
  }, 30_000);
});
