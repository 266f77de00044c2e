// cleaver.runs.list({ search }) end to end, over both drivers: runs a worker really ran are found by
// words of their input, of their output and of their error, with the other filters, counted, and
// selected for a bulk operation; a search the engine cannot run is refused with what to do instead.
import { randomBytes } from 'node:crypto';
import { expect, it } from 'vitest';
import { forEachDriver } from '../driver/drivers.ts';
import { CleaverError } from '../../shared/errors.ts';
import { useEngineAndWorker, waitFor } from './harness.ts';

/** A word no other run of the suite holds. */
const word = (label: string): string => `${label}${randomBytes(4).toString('hex')}`;

forEachDriver('run search', (getDriver) => {
  const ctx = useEngineAndWorker(getDriver, ['echo', 'fatal', 'slow']);

  it('finds runs by a word of their input, output or error, with the other filters', { timeout: 30_000 }, async () => {
    const { cleaver } = ctx;
    const tag = word('tag');
    const inInput = word('order');
    const echoed = await cleaver.ref('echo').runNoWait({ note: `ship ${inInput} today` }, { metadata: { tag } });
    const slow = await cleaver.ref<{ ms: number }, { sleptMs: number; pid: number }>('slow').runNoWait({ ms: 1 }, { metadata: { tag } });
    const failing = await cleaver.ref('fatal').runNoWait({}, { metadata: { tag } });
    await echoed.result();
    const { pid } = await slow.result();
    await expect(failing.result()).rejects.toThrow(/cannot work/);
    const found = async (filter: Parameters<typeof cleaver.runs.list>[0]) => (await cleaver.runs.list({ metadata: { tag }, ...filter })).runs.map((r) => r.id).sort();

    expect(await found({ search: inInput })).toEqual([echoed.runId]);
    expect(await found({ search: `SHIP ${inInput}` })).toEqual([echoed.runId]);
    // The slow task's output holds its worker's pid; its input does not.
    expect(await found({ search: String(pid), workflowName: 'slow' })).toEqual([slow.runId]);
    expect(await found({ search: 'cannot work' })).toEqual([failing.runId]);
    expect(await found({ search: 'cannot work', statuses: ['succeeded'] })).toEqual([]);
    expect(await found({ search: 'cannot work', statuses: ['failed'], workflowName: 'fatal' })).toEqual([failing.runId]);
    expect(await cleaver.runs.count({ metadata: { tag }, search: 'cannot' })).toEqual({ count: 1, exact: true });
  });

  it('selects the runs of a search for a bulk cancel, and leaves the others', { timeout: 30_000 }, async () => {
    const { cleaver } = ctx;
    const target = word('batch');
    const slow = cleaver.ref<{ ms: number; note: string }, unknown>('slow');
    const hit = await Promise.all([slow.runNoWait({ ms: 20_000, note: `${target} a` }), slow.runNoWait({ ms: 20_000, note: `${target} b` })]);
    const spared = await slow.runNoWait({ ms: 300, note: 'another batch' });
    const { cancelled } = await cleaver.runs.cancel({ filter: { search: target, statuses: ['queued', 'running'] } });
    expect(cancelled.sort()).toEqual(hit.map((r) => r.runId).sort());
    await spared.result();
    await waitFor('the cancelled runs to end', async () => (await cleaver.runs.list({ search: target })).runs.every((r) => r.status === 'cancelled'));
  });

  it('refuses a search it cannot run, saying what to pass instead', async () => {
    const { cleaver } = ctx;
    const refused = async (search: unknown): Promise<CleaverError> => {
      const error = await cleaver.runs.list({ search } as { search: string }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(CleaverError);
      expect((error as CleaverError).code).toBe('BAD_REQUEST');
      return error as CleaverError;
    };
    expect((await refused('x'.repeat(201))).message).toMatch(/runsList\.search is 201 characters long; at most 200: search for a few distinctive words/);
    expect((await refused('!!! ...')).message).toMatch(/runsList\.search "!!! \.\.\." has no word to find: give letters or digits/);
    expect((await refused(7)).message).toMatch(/runsList\.search must be a string of words/);
    await expect(cleaver.runs.cancel({ filter: { search: '' } })).rejects.toThrow(/runsCancel\.filter\.search "" has no word to find/);
  });
});
