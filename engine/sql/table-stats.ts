/**
 * Planner statistics of the hot tables. The hot statements are planned against what ANALYZE last saw;
 * a queue loaded from empty (a burn-down, a first deploy) or drained looks nothing like that, and the
 * planner then joins the batch of ids to a whole-table scan instead of looking each row up. Postgres's
 * autovacuum analyzes eventually (after a minute's nap); PGlite has no autovacuum at all.
 */
import type { Queryable } from '../db/driver.ts';

/** The tables whose plans matter on the hot path. */
export const HOT_TABLES = ['task_run', 'run', 'attempt'] as const;
export type HotTable = (typeof HOT_TABLES)[number];

export interface TableSize {
  table: HotTable;
  /** Pages now. */
  pages: number;
  /** Pages when last analyzed (or vacuumed); 0 if never. */
  analyzedPages: number;
  /** Whether it was ever analyzed. */
  analyzed: boolean;
}

/** Each hot table's size now and as its statistics last saw it (pg_class, in the current schema). */
export async function tableSizeList(db: Queryable): Promise<TableSize[]> {
  const result = await db.query<{ relname: HotTable; pages: string | number; relpages: number; reltuples: number }>(
    `SELECT c.relname, pg_relation_size(c.oid) / current_setting('block_size')::int AS pages, c.relpages, c.reltuples
       FROM pg_class c
      WHERE c.relnamespace = current_schema()::regnamespace AND c.relname = ANY($1::text[]) AND c.relkind = 'r'`,
    [HOT_TABLES],
  );
  return result.rows.map((r) => ({ table: r.relname, pages: Number(r.pages), analyzedPages: r.relpages, analyzed: r.reltuples >= 0 }));
}

/**
 * ANALYZE these hot tables (names from HOT_TABLES only: they are spliced into the statement). With
 * `statisticsTarget`, it samples 300 × that many rows instead of the server's default (100: 30,000
 * rows): for a database that runs every statement in the engine's own thread (PGlite, see
 * maintenance/table-stats.ts). The hot plans need the tables' sizes and the few values of their
 * status columns, which a small sample gives as well.
 */
export async function tableAnalyze(db: Queryable, params: { tables: readonly HotTable[]; statisticsTarget?: number }): Promise<void> {
  const tables = params.tables.filter((t) => (HOT_TABLES as readonly string[]).includes(t));
  if (tables.length === 0) return;
  const target = params.statisticsTarget;
  if (target === undefined) {
    await db.query(`ANALYZE ${tables.join(', ')}`);
    return;
  }
  if (!Number.isInteger(target) || target < 1 || target > 10_000) throw new RangeError(`statisticsTarget must be an integer from 1 to 10000, not ${target}`);
  // SET LOCAL ends with its transaction: nothing else on the connection plans with the smaller target.
  await db.query(`BEGIN; SET LOCAL default_statistics_target = ${target}; ANALYZE ${tables.join(', ')}; COMMIT`);
}
