/**
 * Keeps the hot tables' planner statistics near the truth (see engine/sql/table-stats.ts): a table
 * whose size doubled or halved since it was last analyzed is analyzed again. Run by the scheduler lease
 * holder only (one engine analyzes, whatever the number sharing the database); ANALYZE samples a fixed
 * number of rows, so a pass costs the same whatever the table's size (a smaller sample in process).
 */
import type { Driver } from '../db/driver.ts';
import { tableAnalyze, tableSizeList, type HotTable } from '../sql/table-stats.ts';
import type { MaintenanceService } from './periodic.ts';

/** Below this many pages (8 KiB each) any plan is fast: not worth an ANALYZE. */
const MIN_PAGES = 64;
/**
 * The statistics target of an ANALYZE on a database that runs in the engine's own process (PGlite):
 * a 6,000-row sample. It spares the statistics' computation, not the reading (below): `run` and
 * `task_run` at the open loop's last doubling took 519 ms with the default, 281 ms with this. A server
 * (Postgres) analyzes in its own backend, beside the engine's statements, with its default.
 */
const IN_PROCESS_STATISTICS_TARGET = 20;
/**
 * In process, a table analyzed at this many pages or more (4 MiB) is not analyzed again as it keeps
 * growing: ANALYZE reads every page of a table smaller than its sample, so each doubling's pass held
 * the one thread longer (about 280 ms a table at the open loop's third doubling, while 1,000 enqueues a
 * second waited behind it: the loop dropped 300–390 of them).
 * Past that size the planner scales the last statistics by the table's pages, and the hot statements
 * look their rows up by id whatever the statistics say.
 */
const IN_PROCESS_MAX_ANALYZED_PAGES = 512;

export class TableStats implements MaintenanceService {
  readonly name = 'table statistics';
  constructor(private readonly o: { driver: Driver; holding: () => boolean; inProcessMaxAnalyzedPages?: number }) {}

  async runOnce(): Promise<void> {
    if (!this.o.holding()) return;
    const inProcess = !this.o.driver.capabilities.multiEngine;
    const maxAnalyzed = this.o.inProcessMaxAnalyzedPages ?? IN_PROCESS_MAX_ANALYZED_PAGES;
    const stale: HotTable[] = [];
    for (const t of await tableSizeList(this.o.driver)) {
      if (t.pages < MIN_PAGES && t.analyzed) continue;
      if (inProcess && t.analyzed && t.analyzedPages >= maxAnalyzed) continue;
      const then = Math.max(t.analyzedPages, 1);
      if (!t.analyzed ? t.pages >= MIN_PAGES : t.pages > 2 * then || t.pages * 2 < then) stale.push(t.table);
    }
    // Routine (a few times as a table grows by doublings): not logged.
    if (stale.length === 0) return;
    // In process, one table a pass, the next one two seconds on: `run` then `task_run` back to back
    // held the thread 260 ms, and the enqueues of that time waited behind both.
    await tableAnalyze(this.o.driver, inProcess ? { tables: stale.slice(0, 1), statisticsTarget: IN_PROCESS_STATISTICS_TARGET } : { tables: stale });
  }
}
