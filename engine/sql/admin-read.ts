import type { Driver, Queryable } from '../db/driver.ts';

/**
 * Runs the admin contract's reads (lists, counts, a run's details) with Postgres JIT compilation off.
 * They are index lookups returning a page, but their per-row subqueries (a run's child count, its
 * parent) are estimated from the statistics of parent_task_run_id, which one big fan-out skews: every
 * child probe is then costed like thousands of rows, the estimate passes jit_above_cost, and each list
 * refresh spent ~0.5 s compiling for a query that runs in 40 ms (measured at 250k runs). PGlite has
 * no JIT, so it runs fn on the driver itself.
 */
export async function adminRead<T>(driver: Driver, fn: (db: Queryable) => Promise<T>): Promise<T> {
  if (driver.kind !== 'pg') return fn(driver);
  return driver.transaction(async (tx) => {
    await tx.query('SET LOCAL jit = off');
    return fn(tx);
  });
}
