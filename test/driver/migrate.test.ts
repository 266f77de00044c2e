// Migrations on both drivers: ordered, once, atomic per file, refusing a newer schema, and safe when
// several engines start at once against one Postgres schema.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, it } from 'vitest';
import type { Driver } from '../../engine/db/driver.ts';
import { loadMigrations, migrate, migrationLockKey, schemaStatus } from '../../engine/sql/migrate.ts';
import { CleaverError } from '../../shared/errors.ts';
import { describePg, dropSchema, DATABASE_URL, forEachDriver, freshSchemaName, openTestPgDriver } from './drivers.ts';

const shipped = await loadMigrations();
const LATEST = shipped.at(-1)!.version;
const ALL_VERSIONS = shipped.map((m) => m.version);

const tempDirs: string[] = [];
afterAll(() => {
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
});

function migrationsDir(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'clv-mig-'));
  tempDirs.push(dir);
  for (const [name, sql] of Object.entries(files)) writeFileSync(join(dir, name), sql);
  return dir;
}

async function tableExists(driver: Driver, table: string): Promise<boolean> {
  const { rows } = await driver.query<{ exists: boolean }>('SELECT to_regclass($1) IS NOT NULL AS exists', [table]);
  return rows[0]!.exists;
}

async function rejectionOf(promise: Promise<unknown>): Promise<CleaverError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(CleaverError);
  return error as CleaverError;
}

describe('migration files', () => {
  it('ships 000001-foundation first', () => {
    expect(shipped[0]).toMatchObject({ version: 1, name: '000001-foundation' });
    expect(ALL_VERSIONS).toEqual(Array.from({ length: LATEST }, (_, i) => i + 1));
  });

  it('refuses misnamed, gapped or duplicated files instead of skipping them', async () => {
    const cases: Array<Record<string, string>> = [
      { '000001-one.sql': '', '1-two.sql': '' },
      { '000001-one.sql': '', '000003-three.sql': '' },
      { '000001-one.sql': '', '000001-again.sql': '' },
      { '000001-One.sql': '' },
    ];
    for (const files of cases) {
      const error = await rejectionOf(loadMigrations(migrationsDir(files)));
      expect(error.code).toBe('INTERNAL');
    }
  });

  it('derives a distinct signed 64-bit lock key per schema', () => {
    const a = migrationLockKey('public');
    expect(migrationLockKey('public')).toBe(a);
    expect(migrationLockKey('tenant_b')).not.toBe(a);
    expect(a >= -(2n ** 63n) && a < 2n ** 63n).toBe(true);
  });
});

forEachDriver(
  'migrate',
  (getDriver) => {
    it('reports an unmigrated schema as version 0 with everything pending', async () => {
      expect(await schemaStatus(getDriver())).toEqual({ current: 0, latest: LATEST, pending: ALL_VERSIONS });
    });

    it('applies every migration once; running it again is a no-op', async () => {
      expect(await migrate(getDriver())).toEqual({ applied: ALL_VERSIONS, current: LATEST });
      expect(await migrate(getDriver())).toEqual({ applied: [], current: LATEST });
      expect(await schemaStatus(getDriver())).toEqual({ current: LATEST, latest: LATEST, pending: [] });
      const { rows } = await getDriver().query<{ version: number; name: string; applied_at: Date }>(
        'SELECT version, name, applied_at FROM cleaver_migration ORDER BY version',
      );
      expect(rows.map((r) => [r.version, r.name])).toEqual(shipped.map((m) => [m.version, m.name]));
      expect(rows[0]!.applied_at).toBeInstanceOf(Date);
      expect(await tableExists(getDriver(), 'task_run')).toBe(true);
    });

    it('refuses a schema newer than this code with SCHEMA_TOO_NEW', async () => {
      const future = LATEST + 1;
      await getDriver().query('INSERT INTO cleaver_migration (version, name) VALUES ($1, $2)', [future, 'from-the-future']);
      try {
        const error = await rejectionOf(migrate(getDriver()));
        expect(error.code).toBe('SCHEMA_TOO_NEW');
        expect(error.message).toBe(
          `database schema is at version ${future} but this Cleaver knows only up to ${LATEST}; upgrade Cleaver (or point it at another database)`,
        );
        expect(await schemaStatus(getDriver())).toEqual({ current: future, latest: LATEST, pending: [] });
      } finally {
        await getDriver().query('DELETE FROM cleaver_migration WHERE version = $1', [future]);
      }
    });
  },
  { migrate: false },
);

forEachDriver(
  'migrate (a failing migration)',
  (getDriver) => {
    it('rolls back a failing migration together with its version row, then applies the fixed one', async () => {
      const one = '000001-one.sql';
      const broken = migrationsDir({
        [one]: 'CREATE TABLE mig_one (id int);',
        '000002-two.sql': 'CREATE TABLE mig_two (id int);\nSELECT 1 / 0;',
      });
      const error = await rejectionOf(migrate(getDriver(), { migrationsDir: broken }));
      expect(error.code).toBe('DATABASE');
      expect(error.message).toBe('migration 000002-two failed and was rolled back: division by zero (SQLSTATE 22012)');
      expect(await schemaStatus(getDriver(), { migrationsDir: broken })).toEqual({ current: 1, latest: 2, pending: [2] });
      expect(await tableExists(getDriver(), 'mig_one')).toBe(true);
      expect(await tableExists(getDriver(), 'mig_two')).toBe(false);

      const fixed = migrationsDir({
        [one]: 'CREATE TABLE mig_one (id int);',
        '000002-two.sql': 'CREATE TABLE mig_two (id int);\nINSERT INTO mig_two VALUES (2);',
      });
      expect(await migrate(getDriver(), { migrationsDir: fixed })).toEqual({ applied: [2], current: 2 });
      expect((await getDriver().query('SELECT id FROM mig_two')).rows).toEqual([{ id: 2 }]);
    });
  },
  { migrate: false },
);

describePg('migrate with several engines on one Postgres', () => {
  const schemas: string[] = [];
  const drivers: Driver[] = [];
  const open = async (schema: string): Promise<Driver> => {
    if (!schemas.includes(schema)) schemas.push(schema);
    const driver = await openTestPgDriver({ schema, poolSize: 2 });
    drivers.push(driver);
    return driver;
  };

  afterAll(async () => {
    await Promise.all(drivers.map((d) => d.close()));
    for (const schema of schemas) await dropSchema(DATABASE_URL, schema);
  });

  it('lets two engines migrate one schema at once: one applies, the other finds nothing to do', async () => {
    const schema = freshSchemaName('migrate_race');
    const [a, b] = await Promise.all([open(schema), open(schema)]);
    const results = await Promise.all([migrate(a!), migrate(b!)]);
    expect(results.map((r) => r.current)).toEqual([LATEST, LATEST]);
    expect(results.flatMap((r) => r.applied).sort((x, y) => x - y)).toEqual(ALL_VERSIONS);
    const { rows } = await a!.query<{ n: number }>('SELECT count(*) AS n FROM cleaver_migration');
    expect(rows[0]!.n).toBe(LATEST);
  });

  it('waits for the schema lock held by another engine, while other schemas migrate independently', async () => {
    const busy = freshSchemaName('migrate_busy');
    const other = freshSchemaName('migrate_other');
    const holder = await open(busy);
    const waiter = await open(busy);
    const independent = await open(other);

    let release!: () => void;
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    let lockHeld!: () => void;
    const held = new Promise<void>((resolve) => {
      lockHeld = resolve;
    });
    const holding = holder.withAdvisoryLock(migrationLockKey(busy), async () => {
      lockHeld();
      await released;
    });
    await held;

    let waiterDone = false;
    const waiting = migrate(waiter).then((result) => {
      waiterDone = true;
      return result;
    });
    await expect(migrate(independent)).resolves.toEqual({ applied: ALL_VERSIONS, current: LATEST });
    await sleep(200);
    expect(waiterDone).toBe(false);

    release();
    await holding;
    await expect(waiting).resolves.toEqual({ applied: ALL_VERSIONS, current: LATEST });
  });
});
