// The hot tables' planner statistics: read on both drivers, and analyzed again by the lease holder when
// a table doubled since (PGlite has no autovacuum; Postgres's naps a minute).
import { expect, it } from 'vitest';
import { forEachDriver } from './drivers.ts';
import { tableAnalyze, tableSizeList } from '../../engine/sql/table-stats.ts';
import { TableStats } from '../../engine/maintenance/table-stats.ts';

forEachDriver('table statistics', (getDriver, kind) => {
  const attemptSize = async () => (await tableSizeList(getDriver())).find((t) => t.table === 'attempt')!;
  const fill = (rows: number) =>
    getDriver().query(
      `INSERT INTO attempt (task_run_id, attempt, status, assigned_at, finished_at)
       SELECT gen_random_uuid(), 1, 'succeeded', now(), now() FROM generate_series(1, $1::int)`,
      [rows],
    );

  it('sees each hot table in the current schema', async () => {
    expect((await tableSizeList(getDriver())).map((t) => t.table).sort()).toEqual(['attempt', 'run', 'task_run']);
  });

  it('analyzes a table that grew from nothing, only while holding the lease, and again once it doubled', async () => {
    await fill(20_000);
    const before = await attemptSize();
    expect(before.pages).toBeGreaterThanOrEqual(64);
    await new TableStats({ driver: getDriver(), holding: () => false }).runOnce();
    expect((await attemptSize()).analyzedPages).toBe(before.analyzedPages);

    const stats = new TableStats({ driver: getDriver(), holding: () => true });
    await stats.runOnce();
    const analyzed = await attemptSize();
    expect(analyzed.analyzed).toBe(true);
    expect(analyzed.analyzedPages).toBe(analyzed.pages);

    // Grown by half: not yet. Doubled: analyzed again.
    await fill(10_000);
    await stats.runOnce();
    expect((await attemptSize()).analyzedPages).toBe(analyzed.pages);
    await fill(20_000);
    await stats.runOnce();
    const again = await attemptSize();
    expect(again.analyzedPages).toBe(again.pages);
    expect(again.pages).toBeGreaterThan(2 * analyzed.pages);
  });

  it('in process (PGlite) stops analyzing a table once analyzed past its cap; a server goes on', async () => {
    await fill(20_000);
    await tableAnalyze(getDriver(), { tables: ['attempt'] });
    const analyzed = await attemptSize();
    expect(analyzed.analyzedPages).toBe(analyzed.pages);
    expect(analyzed.pages).toBeGreaterThanOrEqual(64);
    const rows = await getDriver().query<{ n: number }>(`SELECT count(*)::int AS n FROM attempt`);
    await fill(2 * rows.rows[0]!.n + 1_000);
    const grown = await attemptSize();
    expect(grown.pages).toBeGreaterThan(2 * analyzed.pages);
    await new TableStats({ driver: getDriver(), holding: () => true, inProcessMaxAnalyzedPages: 64 }).runOnce();
    // An ANALYZE holds PGlite's one thread for as long as it reads the table: past the cap, no more.
    expect((await attemptSize()).analyzedPages).toBe(kind === 'pglite' ? analyzed.pages : grown.pages);
  });

  it('analyzes with a smaller sample when asked, and refuses a target out of range', async () => {
    await fill(1_000);
    await tableAnalyze(getDriver(), { tables: ['attempt'], statisticsTarget: 20 });
    const setting = await getDriver().query<{ target: string }>(`SELECT current_setting('default_statistics_target') AS target`);
    // SET LOCAL ended with its transaction.
    expect(setting.rows[0]!.target).toBe('100');
    await expect(tableAnalyze(getDriver(), { tables: ['attempt'], statisticsTarget: 0 })).rejects.toThrow(/statisticsTarget must be an integer from 1 to 10000/);
  });

  it('in process (PGlite) analyzes one table a pass, so the thread is never held for two; a server does all at once', async () => {
    const db = getDriver();
    const fillRuns = (rows: number) =>
      db.query(`INSERT INTO run (id, workflow_name, workflow_version, status, input) SELECT gen_random_uuid(), 'stats', 1, 'succeeded', '{}' FROM generate_series(1, $1::int)`, [rows]);
    const count = async (table: 'attempt' | 'run') => (await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${table}`)).rows[0]!.n;
    await fill(10_000);
    await fillRuns(10_000);
    await tableAnalyze(db, { tables: ['attempt', 'run'] });
    const before = Object.fromEntries((await tableSizeList(db)).map((t) => [t.table, t.analyzedPages]));
    await fill(2 * (await count('attempt')) + 1_000);
    await fillRuns(2 * (await count('run')) + 1_000);
    const stats = new TableStats({ driver: db, holding: () => true, inProcessMaxAnalyzedPages: Number.MAX_SAFE_INTEGER });
    const analyzedNow = async () => (await tableSizeList(db)).filter((t) => (t.table === 'attempt' || t.table === 'run') && t.analyzedPages !== before[t.table]).map((t) => t.table).sort();
    await stats.runOnce();
    expect(await analyzedNow()).toHaveLength(kind === 'pglite' ? 1 : 2);
    await stats.runOnce();
    expect(await analyzedNow()).toEqual(['attempt', 'run']);
  });
});
