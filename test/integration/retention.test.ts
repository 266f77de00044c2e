// The engine's retention service, on both drivers: with an age of a second, runs a worker finished go
// with their rows soon after, while a run still working stays; engineInfo says what the retention is.
import { expect, it } from 'vitest';
import { forEachDriver } from '../driver/drivers.ts';
import { useEngineAndWorker, waitFor } from './harness.ts';
import { Engine } from '../../engine/engine.ts';
import { silentLogger } from '../../engine/log.ts';
import type { Duration } from '../../shared/duration.ts';

forEachDriver('retention', (getDriver) => {
  const suite = useEngineAndWorker(getDriver, ['echo', 'slow'], { retention: '1s' });

  async function left(table: 'run' | 'task_run' | 'attempt', column: string, ids: string[]): Promise<number> {
    const result = await getDriver().query<{ n: string }>(`SELECT count(*) AS n FROM ${table} WHERE ${column} = ANY($1::uuid[])`, [ids]);
    return Number(result.rows[0]!.n);
  }

  it('deletes finished runs with their task runs and attempts once they are older than the age, and keeps a run still working', async () => {
    expect(await suite.engine.admin.engineInfo()).toMatchObject({ mode: 'engine', retentionMs: 1000 });
    const working = await suite.cleaver.ref('slow').runNoWait({ ms: 3000 });
    const refs = await suite.cleaver.ref('echo').runManyNoWait(Array.from({ length: 20 }, (_, i) => ({ i })));
    for (const ref of refs) await ref.result();
    const runIds = refs.map((r) => r.runId);
    const taskRunIds = (await getDriver().query<{ id: string }>(`SELECT id FROM task_run WHERE run_id = ANY($1::uuid[])`, [runIds])).rows.map((r) => r.id);
    expect(taskRunIds).toHaveLength(20);

    await waitFor('the finished runs to be deleted', async () => (await left('run', 'id', runIds)) === 0, 10_000);
    expect(await left('task_run', 'id', taskRunIds)).toBe(0);
    expect(await left('attempt', 'task_run_id', taskRunIds)).toBe(0);
    // Swept past by now, the run a worker is still on stays, and ends as it would have.
    expect(await left('run', 'id', [working.runId])).toBe(1);
    expect(await working.result()).toMatchObject({ sleptMs: 3000 });
  });

  it('says in engineInfo how long runs are kept, null when retention is off, and refuses an age it cannot read', async () => {
    const info = (retention: Duration | 'off') => new Engine({ driver: getDriver(), socketPath: null, retention, log: silentLogger }).admin.engineInfo();
    expect(await info('12h')).toMatchObject({ retentionMs: 12 * 3_600_000 });
    expect(await info('off')).toMatchObject({ retentionMs: null });
    expect(() => new Engine({ driver: getDriver(), socketPath: null, retention: 'a while' as Duration })).toThrow(/retention: "a while" is not an age/);
  });
});
