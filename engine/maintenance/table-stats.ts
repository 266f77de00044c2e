/**
 * Keeps the hot tables' planner statistics near the truth (see engine/sql/table-stats.ts): a table
 * whose size doubled or halved since it was last analyzed is analyzed again. Run by the scheduler lease
 * holder only (one engine analyzes, whatever the number sharing the database); ANALYZE samples a fixed
 * number of rows, so a pass costs milliseconds whatever the table's size.
 */
import type { Driver } from '../db/driver.ts';
import { tableAnalyze, tableSizeList, type HotTable } from '../sql/table-stats.ts';
import type { MaintenanceService } from './periodic.ts';

/** Below this many pages (8 KiB each) any plan is fast: not worth an ANALYZE. */
const MIN_PAGES = 64;

export class TableStats implements MaintenanceService {
  readonly name = 'table statistics';
  constructor(private readonly o: { driver: Driver; holding: () => boolean }) {}

  async runOnce(): Promise<void> {
    if (!this.o.holding()) return;
    const stale: HotTable[] = [];
    for (const t of await tableSizeList(this.o.driver)) {
      if (t.pages < MIN_PAGES && t.analyzed) continue;
      const then = Math.max(t.analyzedPages, 1);
      if (!t.analyzed ? t.pages >= MIN_PAGES : t.pages > 2 * then || t.pages * 2 < then) stale.push(t.table);
    }
    // Routine (a few times as a table grows by doublings): not logged.
    if (stale.length > 0) await tableAnalyze(this.o.driver, { tables: stale });
  }
}
