// A worker that never answers a cancel: the run ends cancelled at once, and the worker's slot is given
// to other work after the grace period, not held forever. The worker here speaks the raw protocol so
// it can misbehave in ways the SDK never would.
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { forEachDriver } from '../driver/drivers.ts';
import { Engine } from '../../engine/engine.ts';
import { silentLogger } from '../../engine/log.ts';
import type { Cleaver } from '../../sdk/index.ts';
import { PROTOCOL_VERSION } from '../../shared/protocol.ts';
import { FAST, RawClient, client, removeDir, tempDir } from './harness.ts';

const GRACE_MS = 400;
const stubborn = { name: 'stubborn', retries: 0, backoff: null, executionTimeoutMs: 60_000, scheduleTimeoutMs: 60_000, defaultPriority: 1 };

forEachDriver('cancel grace', (getDriver) => {
  let dir: string;
  let engine: Engine;
  let cleaver: Cleaver;
  beforeAll(async () => {
    dir = tempDir();
    engine = new Engine({ driver: getDriver(), socketPath: join(dir, 'engine.sock'), log: silentLogger, ...FAST, cancelGraceMs: GRACE_MS });
    await engine.start();
    cleaver = client(dir);
  });
  afterAll(async () => {
    await cleaver?.close();
    await engine?.stop();
    if (dir) removeDir(dir);
  });

  it('ends a cancelled run at once and reclaims the slot of a worker that ignores the cancel', async () => {
    const worker = new RawClient(join(dir, 'engine.sock'));
    worker.send({ t: 'hello', protocol: PROTOCOL_VERSION, role: 'worker', workerId: crypto.randomUUID(), name: 'stubborn-worker', slots: 1, tasks: [stubborn] });
    await worker.next((m) => m.t === 'welcome');
    // It answers heartbeats (it is alive), it just ignores cancels.
    const heartbeat = setInterval(() => worker.send({ t: 'heartbeat' }), FAST.heartbeatIntervalMs);
    const [first, second] = await cleaver.ref('stubborn').runManyNoWait([{ n: 1 }, { n: 2 }]);
    const assigned = (await worker.next((m) => m.t === 'assign')) as { tasks: Array<{ taskRunId: string; runId: string; attempt: number }> };
    expect(assigned.tasks.map((t) => t.runId)).toEqual([first!.runId]);

    const cancelledAt = Date.now();
    expect(await cleaver.runs.cancel(first!.runId)).toEqual({ cancelled: [first!.runId], skipped: [] });
    await expect(first!.result()).rejects.toMatchObject({ failureReason: 'CANCELLED' });
    const cancel = await worker.next((m) => m.t === 'cancel');
    expect(cancel).toMatchObject({ taskRunId: assigned.tasks[0]!.taskRunId, attempt: 1, reason: 'CANCELLED' });

    // The worker says nothing; after the grace period its one slot takes the second run.
    const next = (await worker.next((m) => m.t === 'assign' && m !== assigned, 10_000)) as typeof assigned;
    expect(Date.now() - cancelledAt).toBeGreaterThanOrEqual(GRACE_MS - 50);
    expect(next.tasks.map((t) => t.runId)).toEqual([second!.runId]);

    // Its late result for the cancelled attempt is refused; the run stays cancelled.
    const late = assigned.tasks[0]!;
    worker.send({ t: 'result', taskRunId: late.taskRunId, attempt: late.attempt, ok: true, output: 'too late', startedAt: Date.now(), finishedAt: Date.now() });
    const ack = await worker.next((m) => m.t === 'ack');
    expect(ack).toMatchObject({ accepted: [], rejected: [{ taskRunId: late.taskRunId, attempt: 1 }] });
    expect((await cleaver.runs.get(first!.runId)).run.status).toBe('cancelled');
    clearInterval(heartbeat);
    worker.socket.destroy();
  });
});
