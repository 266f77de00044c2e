// Why a queued task run has not started, as run details and `status` say it: no worker offers the
// action; workers offer it but every slot is taken; task runs ahead of it; a retry in its backoff.
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { forEachDriver } from '../driver/drivers.ts';
import { PROTOCOL_VERSION } from '../../shared/protocol.ts';
import { FAST, RawClient, rawTask, useEngine, waitFor } from './harness.ts';

const task = rawTask;

forEachDriver('wait reasons', (getDriver) => {
  const suite = useEngine(getDriver);
  const reasonOf = async (runId: string) => (await suite.cleaver.runs.get(runId)).taskRuns[0]!.waitReason;

  it('says no worker offers the action, then that its one slot is taken, then how many go first', async () => {
    const name = `waits-${randomUUID().slice(0, 8)}`;
    // Declared by the producer, so it can be queued before any worker registers it.
    const ref = suite.cleaver.task({ name, fn: () => undefined });
    const first = await ref.runNoWait({});
    expect(await reasonOf(first.runId)).toEqual({ kind: 'no_worker', action: name });
    const status = await suite.cleaver.status();
    expect(status.waiting).toContainEqual({ action: name, queued: 1, reason: { kind: 'no_worker', action: name } });

    // A worker with one slot takes the first and never finishes it.
    const worker = new RawClient(join(suite.dir, 'engine.sock'));
    worker.send({ t: 'hello', protocol: PROTOCOL_VERSION, role: 'worker', workerId: randomUUID(), name: 'one-slot', slots: 1, tasks: [task(name)] });
    await worker.next((m) => m.t === 'welcome');
    const heartbeat = setInterval(() => worker.send({ t: 'heartbeat' }), FAST.heartbeatIntervalMs);
    try {
      await worker.next((m) => m.t === 'assign');
      const second = await ref.runNoWait({});
      const third = await ref.runNoWait({});
      await waitFor('the worker row to count its slot taken', async () => (await reasonOf(second.runId))?.kind === 'no_slot');
      expect(await reasonOf(second.runId)).toEqual({ kind: 'no_slot', action: name, workers: 1, slots: 1 });
      expect(await reasonOf(third.runId)).toEqual({ kind: 'no_slot', action: name, workers: 1, slots: 1 });
      // Started runs wait for nothing.
      expect(await reasonOf(first.runId)).toBeNull();
    } finally {
      clearInterval(heartbeat);
      worker.socket.destroy();
    }
  });

  it('says a retry waits out its backoff, and counts the task runs ahead of one whose turn is coming', async () => {
    const name = `ahead-${randomUUID().slice(0, 8)}`;
    const ref = suite.cleaver.task({ name, fn: () => undefined });
    const runs = [await ref.runNoWait({}), await ref.runNoWait({}), await ref.runNoWait({})];
    // A worker offers it with free slots, but the engine has not assigned yet: nothing is "wrong". (A
    // row only: it claims to be this engine's, so the scheduler, which decides for this engine's
    // workers from its own registry, never assigns to it.)
    const driver = getDriver();
    await driver.query(
      `INSERT INTO worker (id, session_id, name, engine_id, actions, slots, labels, address, status, connected_at, last_heartbeat_at)
       VALUES ($1, $2, 'idle', $3, ARRAY[$4], 5, '{}', 'test', 'active', now(), now() + interval '1 hour')`,
      [randomUUID(), randomUUID(), suite.engine.id, name],
    );
    expect(await reasonOf(runs[2]!.runId)).toEqual({ kind: 'queued', ahead: 2, atLeast: false });
    expect(await reasonOf(runs[0]!.runId)).toEqual({ kind: 'queued', ahead: 0, atLeast: false });
    const taskRunId = (await suite.cleaver.runs.get(runs[1]!.runId)).taskRuns[0]!.id;
    await driver.query(`UPDATE task_run SET available_at = now() + interval '1 hour' WHERE id = $1`, [taskRunId]);
    const reason = await reasonOf(runs[1]!.runId);
    expect(reason?.kind).toBe('backoff');
    expect(Date.parse((reason as { until: string }).until)).toBeGreaterThan(Date.now() + 3_000_000);
    // The one in backoff no longer counts as ahead.
    expect(await reasonOf(runs[2]!.runId)).toEqual({ kind: 'queued', ahead: 1, atLeast: false });
  });
});
