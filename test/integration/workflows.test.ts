// DAG workflows, child runs, events, cancellation and replay, end to end with a real worker process,
// on both drivers. Executions are counted from the worker's log, so "did not run again" is checked
// where the code runs, not inferred from the database.
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, expect, it } from 'vitest';
import { forEachDriver } from '../driver/drivers.ts';
import { TaskRunError, type Cleaver } from '../../sdk/index.ts';
import { executions, useEngineAndWorker, waitFor } from './harness.ts';

const WORKFLOWS = ['echo', 'diamond', 'pipeline', 'patience', 'spawner', 'order-any', 'order-created', 'payment-any'];

forEachDriver('workflows', (getDriver) => {
  const ctx = useEngineAndWorker(getDriver, WORKFLOWS);
  let dir: string;
  let cleaver: Cleaver;
  beforeAll(() => {
    ({ dir, cleaver } = ctx);
  });
  const ran = (task: string, runTaskIds?: Set<string>) =>
    executions(dir).filter((e) => e.task === task && (!runTaskIds || runTaskIds.has(e.taskRunId)));
  const taskRunIds = async (runId: string) => new Set((await cleaver.runs.get(runId)).taskRuns.map((t) => t.id));

  it('runs a 5-task diamond, passing each parent output downstream; the run output maps tasks to outputs', async () => {
    const out = await cleaver.ref<{ n: number }, Record<string, { v: number }>>('diamond').run({ n: 3 }, { metadata: { tenant: 'acme' } });
    expect(out).toEqual({ a: { v: 3 }, b: { v: 4 }, c: { v: 6 }, d: { v: 10 }, e: { v: 100, metadata: { tenant: 'acme' } } });
    const many = await cleaver.ref<{ n: number }, Record<string, { v: number }>>('diamond').runMany([{ n: 1 }, { n: 2 }]);
    expect(many.map((o) => o.e!.v)).toEqual([40, 70]);
  });

  it('returns the run details with the DAG shape, every task run and attempt', async () => {
    const ref = await cleaver.ref('diamond').runNoWait({ n: 5 });
    await ref.result();
    const details = await cleaver.runs.get(ref.runId);
    expect(details.run).toMatchObject({ id: ref.runId, workflowName: 'diamond', kind: 'workflow', status: 'succeeded', triggerKind: 'manual' });
    expect(details.shape.nodes.map((n) => n.taskName).sort()).toEqual(['a', 'b', 'c', 'd', 'e']);
    expect(details.shape.edges).toHaveLength(5);
    expect(details.taskRuns.every((t) => t.status === 'succeeded' && t.attempt === 1)).toBe(true);
    expect(details.attempts).toHaveLength(5);
  });

  it('a task failing for good cancels its descendants, runs on-failure with the failures, and fails the run; replay from it re-runs only what did not succeed', async () => {
    const marker = join(dir, 'transform-broken');
    writeFileSync(marker, '');
    const ref = await cleaver.ref<{ marker: string }>('pipeline').runNoWait({ marker });
    const error = await ref.result().then(() => null, (e: unknown) => e);
    expect(error).toBeInstanceOf(TaskRunError);
    expect((error as TaskRunError).message).toContain('transform is broken');

    let details = await cleaver.runs.get(ref.runId);
    const byName = () => Object.fromEntries(details.taskRuns.map((t) => [t.taskName, t]));
    expect(details.run.status).toBe('failed');
    expect(byName().fetch).toMatchObject({ status: 'succeeded', output: { rows: 3 } });
    expect(byName().side).toMatchObject({ status: 'succeeded' });
    expect(byName().transform).toMatchObject({ status: 'failed', attempt: 2 });
    expect(byName().load).toMatchObject({ status: 'cancelled', failureReason: 'UPSTREAM_FAILED' });
    expect(byName().alert).toMatchObject({ kind: 'on_failure', status: 'succeeded', output: { alerted: 1 } });
    const ids = await taskRunIds(ref.runId);
    expect(ran('pipeline:alert', ids).map((e) => (e as unknown as { failed: string }).failed)).toEqual(['transform']);
    expect(ran('pipeline:load', ids)).toHaveLength(0);

    rmSync(marker);
    expect(await cleaver.runs.replay(ref.runId, { fromTask: 'transform' })).toEqual({ replayed: [ref.runId], skipped: [] });
    const replayed = await waitFor('the replayed run to succeed', async () => {
      const d = await cleaver.runs.get(ref.runId);
      return d.run.status === 'succeeded' ? d : undefined;
    });
    details = replayed;
    expect(details.run.output).toEqual({ fetch: { rows: 3 }, side: 'side', transform: { rows: 6 }, load: { loaded: 6 } });
    // Upstream successes kept their outputs and did not run again; the failed task and its descendant did.
    expect(ran('pipeline:fetch', ids)).toHaveLength(1);
    expect(ran('pipeline:side', ids)).toHaveLength(1);
    expect(ran('pipeline:transform', ids).map((e) => e.attempt)).toEqual([1, 2, 3]);
    expect(ran('pipeline:load', ids)).toHaveLength(1);
    const transform = byName().transform!;
    expect(details.attempts.filter((a) => a.taskRunId === transform.id).map((a) => a.status)).toEqual(['failed', 'failed', 'succeeded']);
  });

  it('retries one failed task run of an ended run', async () => {
    const marker = join(dir, 'transform-broken-2');
    writeFileSync(marker, '');
    const ref = await cleaver.ref<{ marker: string }>('pipeline').runNoWait({ marker });
    await ref.result().catch(() => undefined);
    const transform = (await cleaver.runs.get(ref.runId)).taskRuns.find((t) => t.taskName === 'transform')!;
    rmSync(marker);
    expect(await cleaver.runs.retryTask(transform.id)).toEqual({ runId: ref.runId });
    await waitFor('the retried run to succeed', async () => (await cleaver.runs.get(ref.runId)).run.status === 'succeeded');
    await expect(cleaver.runs.retryTask(transform.id)).rejects.toMatchObject({ code: 'BAD_REQUEST' });
    await expect(cleaver.runs.replay(ref.runId)).rejects.toThrow(/succeeded; name a task/);
    await expect(cleaver.runs.replay(ref.runId, { fromTask: 'nope' })).rejects.toThrow(/no task named "nope"; its tasks are/);
  });

  it('cancelling a running run aborts ctx.signal in the worker process; downstream tasks never start', async () => {
    const ref = await cleaver.ref('patience').runNoWait({});
    const ids = await taskRunIds(ref.runId);
    await waitFor('the task to start', () => ran('patience:wait', ids).length > 0);
    expect(await cleaver.runs.cancel(ref.runId)).toEqual({ cancelled: [ref.runId], skipped: [] });
    const aborted = await waitFor('the worker to see the abort', () => ran('patience:wait', ids).find((e) => e.aborted));
    expect(aborted.aborted).toContain('cancelled');
    await expect(ref.result()).rejects.toMatchObject({ failureReason: 'CANCELLED' });
    const details = await cleaver.runs.get(ref.runId);
    expect(details.run.status).toBe('cancelled');
    expect(details.taskRuns.map((t) => [t.taskName, t.status]).sort()).toEqual([
      ['after', 'cancelled'],
      ['wait', 'cancelled'],
    ]);
    await new Promise((r) => setTimeout(r, 300));
    expect(ran('patience:after', ids)).toHaveLength(0);
    // Cancelling again changes nothing; cancelling by filter finds only runs not yet ended.
    expect(await cleaver.runs.cancel(ref.runId)).toEqual({ cancelled: [], skipped: [{ runId: ref.runId, reason: 'ended', status: 'cancelled' }] });
    const queued = await cleaver.ref('patience').runManyNoWait([{}, {}]);
    const { cancelled } = await cleaver.runs.cancel({ filter: { workflowName: 'patience' } });
    expect(cancelled.sort()).toEqual(queued.map((q) => q.runId).sort());
  });

  it('a parent retried after spawning 1,000 children gets the same children back, not new ones; metadata propagates', async () => {
    const out = await cleaver.ref<{ count: number }, { count: number; sum: number; metadata: Record<string, string>; single: unknown }>('spawner').run(
      { count: 1000 },
      { metadata: { tenant: 'fan-out' } },
    );
    expect(out).toMatchObject({ count: 1000, sum: (999 * 1000) / 2, metadata: { tenant: 'fan-out' }, single: { input: { single: true } } });
    const spawnerRun = ran('spawner').at(-1)!;
    expect(ran('spawner').filter((e) => e.taskRunId === spawnerRun.taskRunId).map((e) => e.attempt)).toEqual([1, 2]);
    let children = 0;
    let cursor: string | null | undefined;
    do {
      const page = await cleaver.runs.list({ parentTaskRunId: spawnerRun.taskRunId, limit: 1000, cursor: cursor ?? undefined });
      children += page.runs.length;
      expect(page.runs.every((r) => r.triggerKind === 'child' && r.metadata.tenant === 'fan-out')).toBe(true);
      cursor = page.nextCursor;
    } while (cursor);
    expect(children).toBe(1001);
  });

  it('an event triggers exactly the workflows whose patterns match, in one transaction; replaying it triggers them again', async () => {
    const pushed = await cleaver.events.push('order:created', { orderId: 7 }, { metadata: { source: 'test' } });
    expect(pushed.runIds).toHaveLength(2);
    const runs = await Promise.all(pushed.runIds.map((id) => cleaver.runs.get(id)));
    expect(runs.map((r) => r.run.workflowName).sort()).toEqual(['order-any', 'order-created']);
    expect(runs.every((r) => r.run.triggerKind === 'event' && r.run.eventId === pushed.eventId && r.events[0]?.key === 'order:created')).toBe(true);
    await waitFor('both runs to finish', async () => (await Promise.all(pushed.runIds.map((id) => cleaver.runs.get(id)))).every((r) => r.run.status === 'succeeded'));
    const handled = [...ran('order-any:handle'), ...ran('order-created:handle')];
    expect(handled).toHaveLength(2);
    expect(handled.every((e) => (e as unknown as { metadata: string }).metadata === JSON.stringify({ source: 'test' }))).toBe(true);
    expect(ran('payment-any:handle')).toHaveLength(0);

    const again = await cleaver.events.replay(pushed.eventId);
    expect(again.eventId).toBe(pushed.eventId);
    expect(again.runIds).toHaveLength(2);
    await waitFor('the replayed runs to run', () => ran('order-any:handle').length + ran('order-created:handle').length === 4);
    const listed = await cleaver.events.list({ key: 'order:created' });
    expect(listed.events[0]).toMatchObject({ id: pushed.eventId, payload: { orderId: 7 } });
    expect(listed.events[0]!.runIds.sort()).toEqual([...pushed.runIds, ...again.runIds].sort());

    const none = await cleaver.events.push('orders:created', {});
    expect(none.runIds).toEqual([]);
    const many = await cleaver.events.pushMany([{ key: 'payment:settled' }, { key: 'refund:issued' }, { key: 'order:x' }]);
    expect(many.map((e) => e.runIds.length)).toEqual([1, 1, 1]);
    await expect(cleaver.events.push('bad key!', {})).rejects.toMatchObject({ code: 'BAD_REQUEST' });
  });

  it('refuses bad admin calls with a clear error and changes nothing', async () => {
    await expect(cleaver.runs.get('not-a-uuid')).rejects.toThrow(/runGet.runId must be a UUID/);
    await expect(cleaver.runs.get('00000000-0000-7000-8000-000000000000')).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await expect(cleaver.runs.list({ statuses: ['nope' as 'queued'] })).rejects.toThrow(/statuses must be an array of/);
    await expect(cleaver.runs.list({ cursor: 'garbage' })).rejects.toMatchObject({ code: 'BAD_REQUEST' });
    await expect(cleaver.runs.cancel({} as { runIds: string[] })).rejects.toThrow(/pass runIds, or a filter/);
    await expect(cleaver.ref('no-such-workflow').run({})).rejects.toMatchObject({ code: 'UNKNOWN_TASK' });
  });
});
