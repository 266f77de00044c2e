/**
 * The benchmark's own statements against Postgres: reading the server's version and durability
 * settings for the report, and dropping the schema a run created. They concern the test bench, not the
 * product, which is why they live here and not in engine/sql/.
 */
import pg from 'pg';

export const DEFAULT_DATABASE_URL = 'postgres://root@127.0.0.1:5432/test';

export function benchDatabaseUrl(): string {
  return process.env.BENCH_DATABASE_URL || process.env.DATABASE_URL || DEFAULT_DATABASE_URL;
}

const SETTINGS = ['server_version', 'fsync', 'synchronous_commit', 'wal_sync_method', 'full_page_writes', 'shared_buffers'] as const;

async function withClient<T>(url: string, use: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5_000, application_name: 'cleaver-bench' });
  // A dropped connection after connect() must not crash the benchmark; the query in flight fails instead.
  client.on('error', () => undefined);
  await client.connect();
  try {
    return await use(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** server_version and the settings that decide what a commit costs. */
export function postgresSettings(url: string): Promise<Record<string, string>> {
  return withClient(url, async (client) => {
    const settings: Record<string, string> = {};
    for (const name of SETTINGS) {
      const result = await client.query<Record<string, string>>(`SHOW ${name}`);
      settings[name] = String(result.rows[0]?.[name] ?? '?');
    }
    return settings;
  });
}

export function dropSchema(url: string, schema: string): Promise<void> {
  if (!/^bench_[a-z0-9_]+$/.test(schema)) throw new Error(`refusing to drop schema ${JSON.stringify(schema)}: not one the benchmark created`);
  return withClient(url, async (client) => {
    await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  });
}

/** Creates an empty database for one measurement of a peer (fresh state per case); returns its URL. */
export async function createDatabase(url: string, name: string): Promise<string> {
  if (!/^bench_[a-z0-9_]+$/.test(name)) throw new Error(`refusing to create database ${JSON.stringify(name)}: not a bench_ name`);
  await withClient(url, async (client) => {
    await client.query(`CREATE DATABASE "${name}"`);
  });
  const target = new URL(url);
  target.pathname = `/${name}`;
  return target.toString();
}

/** Drops a database createDatabase made, disconnecting whatever is still attached. */
export function dropDatabase(url: string, name: string): Promise<void> {
  if (!/^bench_[a-z0-9_]+$/.test(name)) throw new Error(`refusing to drop database ${JSON.stringify(name)}: not one the benchmark created`);
  return withClient(url, async (client) => {
    await client.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
  });
}

/** Runs statements of the benchmark's own (emulation helpers, counts) against one database. */
export function withDatabase<T>(url: string, use: (client: pg.Client) => Promise<T>): Promise<T> {
  return withClient(url, use);
}
