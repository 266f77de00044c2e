// Bad frames and bad messages: a clear error to that client, the engine keeps serving everyone else,
// and nothing already accepted is lost.
import { join } from 'node:path';
import { beforeAll, expect, it } from 'vitest';
import { forEachDriver } from '../driver/drivers.ts';
import type { Cleaver } from '../../sdk/index.ts';
import { randomUUID } from 'node:crypto';
import { RawClient, encodeFrame, rawTask, useEngineAndWorker } from './harness.ts';
import { PROTOCOL_VERSION } from '../../shared/protocol.ts';

forEachDriver('bad input', (getDriver) => {
  const ctx = useEngineAndWorker(getDriver, ['echo', 'slow']);
  let socketPath: string;
  let cleaver: Cleaver;
  beforeAll(() => {
    socketPath = join(ctx.dir, 'engine.sock');
    cleaver = ctx.cleaver;
  });

  it('answers malformed frames, unknown types and bad requests with errors and keeps the connection', async () => {
    const raw = new RawClient(socketPath);
    await raw.hello();
    const header = Buffer.alloc(4);
    header.writeUInt32BE(9);
    raw.socket.write(Buffer.concat([header, Buffer.from('{"t":nope')]));
    expect(await raw.next((m) => m.t === 'error')).toMatchObject({ fatal: false, error: { code: 'BAD_FRAME' } });
    raw.send({ t: 'launch-missiles', id: 7 });
    expect(await raw.next((m) => m.t === 'reply' && m.id === 7)).toMatchObject({ ok: false, error: { code: 'UNKNOWN_MESSAGE' } });
    raw.send({ t: 'trigger', id: 8, workflow: 'echo', items: 'not-an-array' });
    expect(await raw.next((m) => m.id === 8)).toMatchObject({ ok: false, error: { code: 'BAD_REQUEST' } });
    raw.send({ t: 'trigger', id: 9, workflow: 'nope', items: [{ input: {} }] });
    expect(await raw.next((m) => m.id === 9)).toMatchObject({ ok: false, error: { code: 'UNKNOWN_TASK' } });
    raw.send({ t: 'trigger', id: 10, workflow: 'echo', items: [{ input: { ok: 1 } }, { input: { s: 'nul\u0000here' } }] });
    const nul = await raw.next((m) => m.id === 10);
    expect(nul).toMatchObject({ ok: false, error: { code: 'BAD_PAYLOAD' } });
    expect((nul.error as { message: string }).message).toMatch(/items\[1\]\.input\.s contains a NUL character/);
    raw.send({ t: 'result', taskRunId: '00000000-0000-7000-8000-000000000000', attempt: 1, ok: true, startedAt: 1, finishedAt: 2 });
    expect(await raw.next((m) => m.t === 'error' && (m.error as { message: string }).message.includes('worker'))).toMatchObject({ fatal: false });
    // Still usable after all of that.
    raw.send({ t: 'trigger', id: 11, workflow: 'echo', items: [{ input: { after: 'errors' } }], wait: true });
    const ok = await raw.next((m) => m.id === 11);
    expect(ok).toMatchObject({ ok: true });
    expect((ok.data as { outcomes: Array<{ output: unknown }> }).outcomes[0]!.output).toMatchObject({ input: { after: 'errors' } });
    raw.socket.destroy();
  });

  it('closes a connection that sends an oversized frame or skips the hello, and serves everyone else', async () => {
    const accepted = await cleaver.ref<{ ms: number }, { pid: number }>('slow').runNoWait({ ms: 300 });
    const big = new RawClient(socketPath);
    await big.hello();
    const header = Buffer.alloc(4);
    header.writeUInt32BE(64 * 1024 * 1024);
    big.socket.write(header);
    expect(await big.next((m) => m.t === 'error')).toMatchObject({ fatal: true, error: { code: 'FRAME_TOO_LARGE' } });
    await new Promise((r) => setTimeout(r, 100));
    expect(big.closed).toBe(true);

    const rude = new RawClient(socketPath);
    rude.send({ t: 'trigger', id: 1, workflow: 'echo', items: [{ input: {} }] });
    expect(await rude.next((m) => m.t === 'error')).toMatchObject({ fatal: true, error: { code: 'PROTOCOL_VERSION' } });

    const old = new RawClient(socketPath);
    old.send({ t: 'hello', protocol: 999, role: 'client' });
    expect(await old.next((m) => m.t === 'error')).toMatchObject({ error: { code: 'PROTOCOL_VERSION' } });

    const garbage = new RawClient(socketPath);
    garbage.socket.write(Buffer.from([0, 0, 0, 3, 0xff, 0xfe, 0xfd]));
    expect(await garbage.next((m) => m.t === 'error')).toMatchObject({ error: { code: 'BAD_FRAME' } });
    garbage.socket.destroy();

    // The run accepted before all of this completes; new work is served.
    expect(await accepted.result()).toMatchObject({ sleptMs: 300 });
    expect(await cleaver.ref('echo').run({ still: 'serving' })).toMatchObject({ input: { still: 'serving' } });
  });

  it('records outcomes and log lines whose worker clock is beyond what a date holds, and goes on writing', async () => {
    const name = `clock-${randomUUID().slice(0, 8)}`;
    const raw = new RawClient(socketPath);
    raw.send({ t: 'hello', protocol: PROTOCOL_VERSION, role: 'worker', workerId: randomUUID(), name: 'far-future', slots: 1, tasks: [rawTask(name)] });
    await raw.next((m) => m.t === 'welcome');
    const ref = await cleaver.ref(name).runNoWait({});
    const { taskRunId, attempt } = ((await raw.next((m) => m.t === 'assign')) as unknown as { tasks: Array<{ taskRunId: string; attempt: number }> }).tasks[0]!;
    raw.send({ t: 'started', taskRunId, attempt, at: 1e20 });
    raw.send({ t: 'log', taskRunId, attempt, level: 'info', message: 'from the far future', at: 1e20 });
    raw.send({ t: 'result', taskRunId, attempt, ok: true, output: 'late', startedAt: -1e20, finishedAt: 1e20 });
    expect(await ref.result()).toBe('late');
    // The writer is not stuck on them: everyone else's outcomes are still written.
    expect(await cleaver.ref('echo').run({ after: 'the far future' })).toMatchObject({ input: { after: 'the far future' } });
    raw.socket.destroy();
  });

  it('refuses a worker hello that declares no or invalid tasks', async () => {
    const raw = new RawClient(socketPath);
    raw.send({ t: 'hello', protocol: PROTOCOL_VERSION, role: 'worker', workerId: '00000000-0000-4000-8000-000000000001', name: 'w', slots: 1, tasks: [] });
    expect(await raw.next((m) => m.t === 'error')).toMatchObject({ fatal: true, error: { code: 'BAD_REQUEST' } });
  });
});
