/**
 * Schema migrations: `migrations/NNNNNN-name.sql`, applied in order, each in its own transaction with
 * its `cleaver_migration` row, so a crash mid-way leaves the schema at a known version.
 *
 * Several engines may start at once against one Postgres schema. They serialize on an advisory lock
 * keyed by the schema name: the first applies what is pending, the others wait, then find nothing to
 * do. A schema newer than this code is refused rather than run against with the wrong SQL.
 */

import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CleaverError } from '../../shared/errors.ts';
import { toDatabaseError } from '../db/database-error.ts';
import { sqlState } from '../db/sql-state.ts';
import type { Driver, Queryable } from '../db/driver.ts';

export interface Migration {
  version: number;
  /** The file name without `.sql`, e.g. `000001-foundation`. */
  name: string;
  sql: string;
}

export interface MigrateOptions {
  /** Directory of `NNNNNN-name.sql` files; default: the migrations shipped beside this module. */
  migrationsDir?: string | URL;
}

export interface MigrateResult {
  /** Versions applied by this call, in order; empty when the schema was already current. */
  applied: number[];
  /** The schema version afterwards. */
  current: number;
}

export interface SchemaStatus {
  /** Highest applied version; 0 for an empty schema. */
  current: number;
  /** Highest version this code ships. */
  latest: number;
  pending: number[];
}

// Resolved from this module so it works from source and from dist/, where the build copies the
// .sql files beside migrate.js.
const DEFAULT_MIGRATIONS_DIR = new URL('./migrations/', import.meta.url);

const MIGRATION_FILE = /^(\d{6})-([a-z0-9][a-z0-9-]*)\.sql$/;

const CREATE_MIGRATION_TABLE = `CREATE TABLE IF NOT EXISTS cleaver_migration (
  version     integer PRIMARY KEY,
  name        text NOT NULL,
  applied_at  timestamptz NOT NULL DEFAULT now()
)`;

/**
 * Errors another process causes by creating the same object at the same moment (duplicate table,
 * duplicate object, the catalog's unique index); "it already exists" is the outcome we wanted.
 */
const ALREADY_EXISTS = new Set(['42P07', '42710', '23505']);

export async function migrate(driver: Driver, options: MigrateOptions = {}): Promise<MigrateResult> {
  const migrations = await loadMigrations(options.migrationsDir);
  const latest = migrations.at(-1)?.version ?? 0;
  const schema = await currentSchema(driver);
  return driver.withAdvisoryLock(migrationLockKey(schema), async (conn) => {
    await createMigrationTable(conn);
    const current = await appliedVersion(conn);
    if (current > latest) throw schemaTooNew(current, latest);
    const applied: number[] = [];
    for (const migration of migrations) {
      if (migration.version <= current) continue;
      await applyMigration(conn, migration);
      applied.push(migration.version);
    }
    return { applied, current: Math.max(current, latest) };
  });
}

/** What `cleaver migrate --status` shows; changes nothing (an unmigrated database reads as version 0). */
export async function schemaStatus(driver: Driver, options: MigrateOptions = {}): Promise<SchemaStatus> {
  const migrations = await loadMigrations(options.migrationsDir);
  const latest = migrations.at(-1)?.version ?? 0;
  const exists = await driver.query<{ exists: boolean }>(
    `SELECT to_regclass('cleaver_migration') IS NOT NULL AS exists`,
  );
  const current = exists.rows[0]?.exists === true ? await appliedVersion(driver) : 0;
  return { current, latest, pending: migrations.filter((m) => m.version > current).map((m) => m.version) };
}

/**
 * Reads and checks the migration files: numbered from 1 without gaps, so a misnamed or missing file
 * fails loudly instead of being skipped.
 */
export async function loadMigrations(dir: string | URL = DEFAULT_MIGRATIONS_DIR): Promise<Migration[]> {
  const path = dir instanceof URL ? fileURLToPath(dir) : dir;
  let entries: string[];
  try {
    entries = await readdir(path);
  } catch (e: unknown) {
    throw new CleaverError('INTERNAL', `cannot read the migrations directory ${path}: ${String(e)}`, { cause: e });
  }
  const files = entries.filter((entry) => entry.endsWith('.sql')).sort();
  const migrations: Migration[] = [];
  for (const file of files) {
    const match = MIGRATION_FILE.exec(file);
    if (match === null || match[1] === undefined) {
      throw new CleaverError('INTERNAL', `migration file ${join(path, file)} is not named NNNNNN-name.sql (six digits, lowercase name)`);
    }
    const version = Number(match[1]);
    const expected = migrations.length + 1;
    if (version !== expected) {
      throw new CleaverError('INTERNAL', `migration ${file} should be numbered ${String(expected).padStart(6, '0')}: versions start at 1 and have no gaps or duplicates (in ${path})`);
    }
    migrations.push({ version, name: file.slice(0, -'.sql'.length), sql: await readFile(join(path, file), 'utf8') });
  }
  return migrations;
}

/**
 * A signed 64-bit advisory-lock key derived from the schema name, so that Cleavers in different
 * schemas of one database migrate independently.
 */
export function migrationLockKey(schema: string): bigint {
  return schemaLockKey('migrate', schema);
}

/** A signed 64-bit advisory-lock key for one purpose within one schema. */
export function schemaLockKey(purpose: string, schema: string): bigint {
  return createHash('sha256').update(`cleaver:${purpose}:${schema}`).digest().readBigInt64BE(0);
}

export async function currentSchema(driver: Driver): Promise<string> {
  const result = await driver.query<{ schema: string | null }>('SELECT current_schema() AS schema');
  const schema = result.rows[0]?.schema;
  if (schema === null || schema === undefined) {
    throw new CleaverError(
      'DATABASE',
      'no schema to migrate: the search_path names no existing schema; create the schema or fix the search_path',
    );
  }
  return schema;
}

async function createMigrationTable(conn: Queryable): Promise<void> {
  try {
    await conn.query(CREATE_MIGRATION_TABLE);
  } catch (e: unknown) {
    if (!ALREADY_EXISTS.has(sqlState(e) ?? '')) throw e;
  }
}

async function appliedVersion(conn: Queryable): Promise<number> {
  const result = await conn.query<{ version: number }>('SELECT coalesce(max(version), 0) AS version FROM cleaver_migration');
  return result.rows[0]?.version ?? 0;
}

async function applyMigration(conn: Queryable, migration: Migration): Promise<void> {
  await conn.query('BEGIN');
  try {
    await conn.query(migration.sql);
    await conn.query('INSERT INTO cleaver_migration (version, name) VALUES ($1, $2)', [migration.version, migration.name]);
    await conn.query('COMMIT');
  } catch (e: unknown) {
    await conn.query('ROLLBACK').catch(() => undefined);
    const cause = toDatabaseError(e);
    throw new CleaverError('DATABASE', `migration ${migration.name} failed and was rolled back: ${cause.message}`, { cause });
  }
}

function schemaTooNew(current: number, latest: number): CleaverError {
  return new CleaverError(
    'SCHEMA_TOO_NEW',
    `database schema is at version ${current} but this Cleaver knows only up to ${latest}; upgrade Cleaver (or point it at another database)`,
  );
}
