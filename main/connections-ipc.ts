/**
 * The connections contract (shared/connections-api.ts) in main: what the Connections screen asks of
 * the saved profiles (ProfileStore) and the open connection (ConnectionManager), and its IPC handlers,
 * registered like the admin ones (registerContractIpc: same sender checks, every answer an AdminResult).
 * Params come from the renderer, so each is checked here before it reaches the store or the manager.
 */
import type { ConnectionProfile, ConnectionSaveParams, ConnectionsApi, ConnectionTarget, CurrentConnection } from '../shared/connections-api.ts';
import { CONNECTION_METHODS, CONNECTIONS_IPC_PREFIX } from '../shared/connections-api.ts';
import { CleaverError } from '../shared/errors.ts';
import type { ConnectionManager } from './connections.ts';
import { registerContractIpc, type AdminIpcMain, type TrustedSenders } from './ipc.ts';
import type { Profile, ProfileStore } from './profiles.ts';

export interface ConnectionsServiceOptions {
  profiles: Pick<ProfileStore, 'list' | 'get' | 'save' | 'remove' | 'storageWarning'>;
  manager: Pick<ConnectionManager, 'open' | 'info'>;
}

/** Postgres truncates identifiers longer than this, so a longer schema name would silently be another one. */
const MAX_SCHEMA_LENGTH = 63;

export function connectionsService({ profiles, manager }: ConnectionsServiceOptions): ConnectionsApi {
  const current = (): CurrentConnection => {
    const info = manager.info;
    if (!info) return null;
    return info.id === 'local' ? { kind: 'local' } : { kind: 'profile', id: info.id };
  };
  return {
    async connectionsList() {
      return { profiles: profiles.list().map(toConnectionProfile), current: current(), storageWarning: profiles.storageWarning() };
    },
    async connectionSave(params) {
      const input = saveParams(params);
      return toConnectionProfile(await profiles.save(input));
    },
    async connectionRemove(params) {
      const id = stringField(params, 'id', 'connectionRemove needs the id of the connection to remove');
      const now = current();
      if (now?.kind === 'profile' && now.id === id) {
        throw new CleaverError('BAD_REQUEST', `"${profiles.get(id)?.name ?? id}" is the connection open now; switch to another connection before removing it`);
      }
      const existed = profiles.get(id) !== undefined;
      if (existed) await profiles.remove(id);
      return { removed: existed };
    },
    async connectionOpen(params) {
      await manager.open(target(params));
      return { current: current() };
    },
  };
}

export function registerConnectionsIpc(ipcMain: AdminIpcMain, service: ConnectionsApi, trusted: TrustedSenders): () => void {
  return registerContractIpc(ipcMain, { prefix: CONNECTIONS_IPC_PREFIX, methods: CONNECTION_METHODS, trusted, target: () => service });
}

function toConnectionProfile(profile: Profile): ConnectionProfile {
  return { id: profile.id, name: profile.name, url: profile.url, mode: profile.mode, schema: profile.schema ?? null, hasPassword: profile.hasPassword };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function stringField(params: unknown, key: string, missing: string): string {
  const value = isObject(params) ? params[key] : undefined;
  if (typeof value !== 'string' || value === '') throw new CleaverError('BAD_REQUEST', missing);
  return value;
}

function optionalString(params: Record<string, unknown>, key: string): string | null | undefined {
  const value = params[key];
  if (value === undefined || value === null || typeof value === 'string') return value;
  throw new CleaverError('BAD_REQUEST', `a connection's ${key} is text (got ${typeof value})`);
}

function saveParams(params: unknown): Parameters<ProfileStore['save']>[0] {
  if (!isObject(params)) throw new CleaverError('BAD_REQUEST', 'connectionSave needs { name, url, mode }');
  const { name, url, mode } = params as Partial<ConnectionSaveParams>;
  if (typeof name !== 'string') throw new CleaverError('BAD_REQUEST', 'a connection needs a name');
  if (typeof url !== 'string') throw new CleaverError('BAD_REQUEST', 'a connection needs a URL, such as postgres://user@host:5432/database');
  if (mode !== 'administer' && mode !== 'engine') throw new CleaverError('BAD_REQUEST', 'a connection\'s mode is "administer" or "engine"');
  const id = optionalString(params, 'id');
  const password = optionalString(params, 'password');
  const schema = optionalString(params, 'schema')?.trim();
  if (schema && schema.length > MAX_SCHEMA_LENGTH) throw new CleaverError('BAD_REQUEST', `a schema name has at most ${MAX_SCHEMA_LENGTH} characters (Postgres cuts longer ones)`);
  return {
    ...(id ? { id } : {}),
    name,
    url,
    mode,
    ...(schema ? { schema } : {}),
    // '' from an emptied password field means "no password", as null does.
    ...(password !== undefined ? { password: password === '' ? null : password } : {}),
  };
}

function target(params: unknown): ConnectionTarget {
  const value = isObject(params) ? params['target'] : undefined;
  if (value === 'local') return 'local';
  if (isObject(value) && typeof value['profileId'] === 'string' && value['profileId'] !== '') return { profileId: value['profileId'] };
  throw new CleaverError('BAD_REQUEST', 'connectionOpen needs a target: "local" or { profileId }');
}
