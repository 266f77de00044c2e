/**
 * The desktop app's connections contract: which database the console is looking at, and the remote
 * Postgres profiles saved to choose from. Only main/ implements it (the browser console served by
 * `cleaver serve` is tied to that server's database and has no connections to manage). It crosses
 * Electron IPC as the admin contract does (admin-transport.ts): one channel per method,
 * `CONNECTIONS_IPC_PREFIX + method`, every answer an AdminResult, errors as `{ name, code, message }`.
 *
 * A password goes in (connectionSave) and never comes out: profiles say only whether one is saved.
 */
import type { AdminResult } from './admin-transport.ts';

/** 'administer': no scheduling loops, no cron leadership — safe against production. 'engine': run an engine here. */
export type ConnectionMode = 'administer' | 'engine';

export interface ConnectionProfile {
  id: string;
  name: string;
  /** postgres://user@host:port/db, never with a password. */
  url: string;
  mode: ConnectionMode;
  /** The Postgres schema Cleaver's tables live in; null for the server's default search path. */
  schema: string | null;
  /** Whether a password is saved (encrypted by the OS) for this profile. */
  hasPassword: boolean;
}

/** The embedded database on this computer, a saved profile, or nothing (a switch failed half-way). */
export type CurrentConnection = { kind: 'local' } | { kind: 'profile'; id: string } | null;

export type ConnectionTarget = 'local' | { profileId: string };

export interface ConnectionsList {
  profiles: ConnectionProfile[];
  current: CurrentConnection;
  /** Shown wherever a password is entered: null when the OS keeps passwords properly, else why not. */
  storageWarning: string | null;
}

export interface ConnectionSaveParams {
  /** Absent for a new profile. */
  id?: string;
  name: string;
  /** A password written in the URL is taken out of it and saved like `password`. */
  url: string;
  /** Absent or undefined keeps the saved password, null or '' removes it, a string replaces it. */
  password?: string | null;
  mode: ConnectionMode;
  /** Absent, null or '' for the server's default. */
  schema?: string | null;
}

export interface ConnectionsApi {
  connectionsList(params: Record<string, never>): Promise<ConnectionsList>;
  /** BAD_REQUEST for a bad URL, name or mode, or a password the OS cannot encrypt; NOT_FOUND for an unknown id. */
  connectionSave(params: ConnectionSaveParams): Promise<ConnectionProfile>;
  /** BAD_REQUEST for the profile connected now (switch away first). */
  connectionRemove(params: { id: string }): Promise<{ removed: boolean }>;
  /**
   * Switches the whole app to `target`, without a restart. A remote database with an older schema is
   * migrated only after main asks the person (a dialog of its own); SCHEMA_TOO_NEW for a newer schema,
   * BAD_REQUEST when migrating was declined, CONNECTION or DATABASE when the server cannot be used.
   * A refusal leaves the current connection as it was.
   */
  connectionOpen(params: { target: ConnectionTarget }): Promise<{ current: CurrentConnection }>;
}

export type ConnectionsMethod = keyof ConnectionsApi;

export const CONNECTION_METHODS: readonly ConnectionsMethod[] = ['connectionsList', 'connectionSave', 'connectionRemove', 'connectionOpen'];

export const CONNECTIONS_IPC_PREFIX = 'cleaver:connections:';

/** What the desktop preload puts on `window.cleaver.connections`: the contract's methods, nothing else. */
export interface ConnectionsBridge {
  call<M extends ConnectionsMethod>(method: M, params: Parameters<ConnectionsApi[M]>[0]): Promise<AdminResult<Awaited<ReturnType<ConnectionsApi[M]>>>>;
}
