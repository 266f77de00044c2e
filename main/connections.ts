/**
 * The desktop app's one database connection at a time: the embedded engine on PGlite in userData
 * ('local'), or a saved remote profile — administered only (no loops, no cron leadership, never a
 * silent migration) or with a full engine running here. Switching closes the old connection first
 * (PGlite's data dir admits one opener) and needs no restart: IPC asks `admin` on every call, and
 * live changes are relayed from whichever connection is current.
 */
import { join } from 'node:path';
import type { AdminApi, AdminChange } from '../shared/admin-api.ts';
import { CleaverError, toError } from '../shared/errors.ts';
import { defaultSocketPath } from '../shared/paths.ts';
import { adminSchemaCheck, openAdminOnly, type AdminSchemaCheck } from '../engine/admin/admin-only.ts';
import type { Driver } from '../engine/db/driver.ts';
import { openDriver } from '../engine/db/open-driver.ts';
import { Engine, type EngineOptions } from '../engine/engine.ts';
import { createLogger, type Logger } from '../engine/log.ts';
import { migrate } from '../engine/sql/migrate.ts';
import type { Profile, ProfileMode } from './profiles.ts';

export type ConnectionTarget = 'local' | { profileId: string };

export interface ConnectionInfo {
  /** 'local' or the profile's id. */
  id: string;
  name: string;
  mode: ProfileMode;
  /** For people: where the data lives, without any password. */
  database: string;
}

/** What the manager needs of the saved profiles (ProfileStore). */
export interface ProfileSource {
  get(id: string): Profile | undefined;
  /** The URL with the decrypted password; called only to connect. */
  connectionUrl(id: string): string;
}

export interface ConnectionManagerOptions {
  /** app.getPath('userData'): PGlite lives in <userData>/data, the workers' socket in <userData>. */
  userDataDir: string;
  profiles: ProfileSource;
  /** Asks the person whether to migrate a remote database (the bootstrap shows a dialog). */
  confirmMigration(profile: Profile, status: AdminSchemaCheck): Promise<boolean>;
  log?: Logger;
  /** Options for the engines opened here (tests shorten intervals). */
  engineOptions?: Partial<Omit<EngineOptions, 'driver' | 'socketPath' | 'migrate'>>;
  /** Where workers connect; default the usual socket in userData. */
  socketPath?: string | null;
  /** Seams for tests. */
  schemaCheck?: (driver: Driver) => Promise<AdminSchemaCheck>;
}

interface Open {
  info: ConnectionInfo;
  admin: AdminApi;
  changes: { subscribe(listener: (change: AdminChange) => void): () => void };
  driver: Driver;
  close(): Promise<void>;
}

/** Sent when the connection changes: every view refetches what it shows. */
const EVERYTHING_CHANGED: AdminChange = { runIds: [], workers: true, workflows: true };

export class ConnectionManager {
  private current: Open | null = null;
  private relay: (() => void) | null = null;
  private queue: Promise<unknown> = Promise.resolve();
  private readonly changeListeners = new Set<(change: AdminChange) => void>();
  private readonly connectionListeners = new Set<(info: ConnectionInfo | null) => void>();
  private readonly log: Logger;

  constructor(private readonly options: ConnectionManagerOptions) {
    this.log = options.log ?? createLogger();
  }

  /** The current connection's admin, or null while switching or after a failed open. */
  get admin(): AdminApi | null {
    return this.current?.admin ?? null;
  }

  get info(): ConnectionInfo | null {
    return this.current?.info ?? null;
  }

  /**
   * Opens `target` in place of the current connection. Refusals (a newer schema, a declined
   * migration, a bad profile) leave the current connection as it was; a failure after the old one
   * closed leaves none (admin is null) and throws.
   */
  open(target: ConnectionTarget): Promise<ConnectionInfo> {
    const next = this.queue.then(() => this.switchTo(target));
    this.queue = next.catch(() => undefined);
    return next;
  }

  /** Closes the current connection (on quit). */
  close(): Promise<void> {
    const next = this.queue.then(() => this.closeCurrent());
    this.queue = next.catch(() => undefined);
    return next;
  }

  /** AdminChanges of whichever connection is current, plus one when the connection changes. */
  subscribe(listener: (change: AdminChange) => void): () => void {
    this.changeListeners.add(listener);
    return () => this.changeListeners.delete(listener);
  }

  /** Called after every switch, with null when no connection is open. */
  onConnection(listener: (info: ConnectionInfo | null) => void): () => void {
    this.connectionListeners.add(listener);
    return () => this.connectionListeners.delete(listener);
  }

  private async switchTo(target: ConnectionTarget): Promise<ConnectionInfo> {
    if (target === 'local') {
      await this.closeCurrent();
      return this.adopt(await this.openLocal());
    }
    const profile = this.options.profiles.get(target.profileId);
    if (!profile) throw new CleaverError('NOT_FOUND', `no saved connection with id ${target.profileId}`);
    // Checked on a driver of its own before the current connection is touched, so a refusal changes nothing.
    const driver = await openDriver({ databaseUrl: this.options.profiles.connectionUrl(profile.id), ...(profile.schema ? { schema: profile.schema } : {}) });
    try {
      await this.ensureSchema(profile, driver);
      await this.closeCurrent();
      return this.adopt(await this.openRemote(profile, driver));
    } catch (e: unknown) {
      await driver.close().catch(() => undefined);
      throw e;
    }
  }

  private async ensureSchema(profile: Profile, driver: Driver): Promise<void> {
    const check = this.options.schemaCheck ?? adminSchemaCheck;
    const status = await check(driver);
    if (status.state === 'current') return;
    if (status.state === 'too-new') {
      throw new CleaverError('SCHEMA_TOO_NEW', `"${profile.name}" has a database schema at version ${status.current}, newer than this Cleaver knows (version ${status.latest}); upgrade Cleaver to connect to it`);
    }
    const confirmed = await this.options.confirmMigration(profile, status);
    if (!confirmed) {
      throw new CleaverError('BAD_REQUEST', `not connected to "${profile.name}": its schema is at version ${status.current} and this Cleaver needs version ${status.latest}, and migrating was declined`);
    }
    const { applied, current } = await migrate(driver);
    this.log.info('remote database migrated', { profile: profile.name, to: current, applied: applied.join(',') });
  }

  private async openLocal(): Promise<Open> {
    const driver = await openDriver({ dataDir: join(this.options.userDataDir, 'data') });
    return this.startEngine(driver, { id: 'local', name: 'This computer', mode: 'engine', database: driver.description }, true);
  }

  private async openRemote(profile: Profile, driver: Driver): Promise<Open> {
    const info: ConnectionInfo = { id: profile.id, name: profile.name, mode: profile.mode, database: driver.description };
    if (profile.mode === 'engine') return this.startEngine(driver, info, false);
    const adminOnly = await openAdminOnly({ driver, log: this.log });
    return {
      info,
      admin: adminOnly.admin,
      changes: adminOnly.changes,
      driver,
      close: async () => {
        await adminOnly.close();
        await driver.close();
      },
    };
  }

  /** `migrate`: only the embedded database migrates by itself; a remote one was migrated (or not) with consent. */
  private async startEngine(driver: Driver, info: ConnectionInfo, migrate: boolean): Promise<Open> {
    const engine = new Engine({
      ...this.options.engineOptions,
      driver,
      socketPath: this.options.socketPath !== undefined ? this.options.socketPath : defaultSocketPath(this.options.userDataDir),
      migrate,
      log: this.log,
    });
    try {
      await engine.start();
    } catch (e: unknown) {
      await engine.stop().catch(() => undefined);
      await driver.close().catch(() => undefined);
      throw e;
    }
    return {
      info,
      admin: engine.admin,
      changes: engine.changes,
      driver,
      close: async () => {
        await engine.stop();
        await driver.close();
      },
    };
  }

  private adopt(open: Open): ConnectionInfo {
    this.current = open;
    this.relay = open.changes.subscribe((change) => this.emitChange(change));
    this.log.info('connected', { connection: open.info.name, mode: open.info.mode, database: open.info.database });
    this.emitConnection(open.info);
    this.emitChange(EVERYTHING_CHANGED);
    return open.info;
  }

  private async closeCurrent(): Promise<void> {
    const old = this.current;
    if (!old) return;
    this.current = null;
    this.relay?.();
    this.relay = null;
    this.emitConnection(null);
    try {
      await old.close();
    } catch (e: unknown) {
      this.log.warn('closing the previous connection failed', { connection: old.info.name, error: toError(e).message });
    }
  }

  private emitChange(change: AdminChange): void {
    for (const listener of this.changeListeners) listener(change);
  }

  private emitConnection(info: ConnectionInfo | null): void {
    for (const listener of this.connectionListeners) listener(info);
  }
}

/** The question the bootstrap's dialog asks before migrating a remote database. */
export function migrationQuestion(profile: Profile, status: AdminSchemaCheck): { message: string; detail: string } {
  return {
    message: `Migrate "${profile.name}" to schema version ${status.latest}?`,
    detail: `${status.message ?? `Its schema is at version ${status.current}.`}\n\nEvery engine and worker using this database is affected; older Cleavers will refuse the newer schema.`,
  };
}
