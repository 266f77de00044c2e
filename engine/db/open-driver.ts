/**
 * Picks the driver from what the user configured: a database URL means Postgres (several engines
 * may share it); otherwise the embedded PGlite on a data dir, or in memory.
 */

import { CleaverError } from '../../shared/errors.ts';
import type { Driver } from './driver.ts';
import { createPgDriver } from './pg/pg-driver.ts';
import { createPgliteDriver } from './pglite/pglite-driver.ts';

export interface OpenDriverOptions {
  /** postgres://… — when set, Postgres is used and dataDir/inMemory must be absent. */
  databaseUrl?: string;
  /** Where PGlite keeps its files. */
  dataDir?: string;
  /** Postgres schema (created when missing); lets several Cleavers share one database. */
  schema?: string;
  /** PGlite in memory: nothing survives the process. */
  inMemory?: boolean;
}

export async function openDriver(options: OpenDriverOptions): Promise<Driver> {
  // An empty flag or environment variable means "not set", not "the schema named ''".
  const schema = options.schema === '' ? undefined : options.schema;
  if (options.databaseUrl !== undefined) {
    if (options.dataDir !== undefined || options.inMemory === true) {
      throw new CleaverError('BAD_REQUEST', 'a database URL and a data dir (or in-memory mode) were both given; choose one');
    }
    return createPgDriver({
      connectionString: options.databaseUrl,
      ...(schema !== undefined ? { schema } : {}),
    });
  }
  if (schema !== undefined) {
    throw new CleaverError('BAD_REQUEST', 'a schema applies only to Postgres; give a database URL too, or drop the schema');
  }
  if (options.inMemory === true) {
    if (options.dataDir !== undefined) {
      throw new CleaverError('BAD_REQUEST', 'a data dir and in-memory mode were both given; choose one');
    }
    return createPgliteDriver();
  }
  if (options.dataDir === undefined) {
    throw new CleaverError('BAD_REQUEST', 'no database configured: give a data dir, a database URL, or choose in-memory mode');
  }
  return createPgliteDriver({ dataDir: options.dataDir });
}
