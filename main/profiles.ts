/**
 * Remote Postgres connections the user saved, as JSON in userData. A password is stored only
 * encrypted by the OS (safeStorage), base64 in the file, and decrypted only to open a connection;
 * the URL itself never carries one.
 */
import { randomUUID } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { SafeStorage } from 'electron';
import { CleaverError, toError } from '../shared/errors.ts';

export type ProfileMode = 'administer' | 'engine';

export interface Profile {
  id: string;
  name: string;
  /** postgres://user@host:port/db, never with a password. */
  url: string;
  /** 'administer': no scheduling loops, no cron leadership — safe against production. 'engine': run an engine here. */
  mode: ProfileMode;
  schema?: string;
  hasPassword: boolean;
}

export interface ProfileInput {
  /** Absent for a new profile. */
  id?: string;
  name: string;
  url: string;
  mode: ProfileMode;
  schema?: string;
  /** undefined keeps the saved password, null removes it, a string replaces it. */
  password?: string | null;
}

export type ProfileSafeStorage = Pick<SafeStorage, 'isEncryptionAvailable' | 'encryptString' | 'decryptString'> &
  Partial<Pick<SafeStorage, 'getSelectedStorageBackend'>>;

interface StoredProfile extends Omit<Profile, 'hasPassword'> {
  /** safeStorage.encryptString(password), base64. */
  passwordEncrypted?: string;
}

interface ProfileFile {
  version: 1;
  profiles: StoredProfile[];
}

export class ProfileStore {
  private constructor(
    private readonly file: string,
    private readonly safeStorage: ProfileSafeStorage,
    private profiles: StoredProfile[],
  ) {}

  /** Reads `file` (missing means no profiles yet). */
  static async open(options: { file: string; safeStorage: ProfileSafeStorage }): Promise<ProfileStore> {
    let profiles: StoredProfile[] = [];
    try {
      const parsed = JSON.parse(await readFile(options.file, 'utf8')) as Partial<ProfileFile>;
      if (!Array.isArray(parsed.profiles)) throw new Error('it has no "profiles" list');
      profiles = parsed.profiles;
    } catch (e: unknown) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') {
        throw new CleaverError('BAD_REQUEST', `cannot read the saved connections in ${options.file}: ${toError(e).message}; fix or delete the file`, { cause: e });
      }
    }
    return new ProfileStore(options.file, options.safeStorage, profiles);
  }

  list(): Profile[] {
    return this.profiles.map(toProfile);
  }

  get(id: string): Profile | undefined {
    const stored = this.profiles.find((p) => p.id === id);
    return stored && toProfile(stored);
  }

  /**
   * Shown wherever passwords are entered: null when the OS keeps them properly, otherwise why not.
   */
  storageWarning(): string | null {
    if (!this.safeStorage.isEncryptionAvailable()) {
      return 'Passwords cannot be saved: this system offers no encryption for stored secrets. Save profiles without a password (use a ~/.pgpass file or trust/certificate authentication), or set up an OS keyring and restart Cleaver.';
    }
    if (backend(this.safeStorage) === 'basic_text') {
      return 'No OS keyring was found (Linux "basic_text" storage): saved passwords are only obfuscated with a fixed key, so anyone who can read your files can read them. Install and unlock GNOME Keyring or KWallet and restart Cleaver, or do not save passwords.';
    }
    return null;
  }

  async save(input: ProfileInput): Promise<Profile> {
    const { url, urlPassword } = splitUrl(input.url);
    const name = input.name.trim();
    if (name === '') throw new CleaverError('BAD_REQUEST', 'a connection needs a name');
    if (input.mode !== 'administer' && input.mode !== 'engine') throw new CleaverError('BAD_REQUEST', 'a connection\'s mode is "administer" or "engine"');
    const existing = input.id === undefined ? undefined : this.profiles.find((p) => p.id === input.id);
    if (input.id !== undefined && !existing) throw new CleaverError('NOT_FOUND', `no saved connection with id ${input.id}`);
    const password = input.password !== undefined ? input.password : urlPassword;
    const stored: StoredProfile = {
      id: existing?.id ?? randomUUID(),
      name,
      url,
      mode: input.mode,
      ...(input.schema ? { schema: input.schema } : {}),
    };
    if (password === undefined) {
      if (existing?.passwordEncrypted !== undefined) stored.passwordEncrypted = existing.passwordEncrypted;
    } else if (password !== null && password !== '') {
      stored.passwordEncrypted = this.encrypt(password);
    }
    this.profiles = existing ? this.profiles.map((p) => (p.id === stored.id ? stored : p)) : [...this.profiles, stored];
    await this.write();
    return toProfile(stored);
  }

  async remove(id: string): Promise<void> {
    this.profiles = this.profiles.filter((p) => p.id !== id);
    await this.write();
  }

  /** The URL to connect with, password included: call it only to open the connection. */
  connectionUrl(id: string): string {
    const stored = this.profiles.find((p) => p.id === id);
    if (!stored) throw new CleaverError('NOT_FOUND', `no saved connection with id ${id}`);
    if (stored.passwordEncrypted === undefined) return stored.url;
    let password: string;
    try {
      password = this.safeStorage.decryptString(Buffer.from(stored.passwordEncrypted, 'base64'));
    } catch (e: unknown) {
      throw new CleaverError('CONNECTION', `the saved password of "${stored.name}" cannot be decrypted (${toError(e).message}); the OS keyring may have changed: enter the password again`, { cause: e });
    }
    const url = new URL(stored.url);
    // encodeURIComponent first: the URL setter leaves '%' alone, and pg decodes the password.
    url.password = encodeURIComponent(password);
    return url.href;
  }

  private encrypt(password: string): string {
    const warning = this.storageWarning();
    if (!this.safeStorage.isEncryptionAvailable()) throw new CleaverError('BAD_REQUEST', warning ?? 'passwords cannot be saved here');
    return this.safeStorage.encryptString(password).toString('base64');
  }

  private async write(): Promise<void> {
    const file: ProfileFile = { version: 1, profiles: this.profiles };
    await mkdir(dirname(this.file), { recursive: true });
    // Write then rename, so a crash never leaves half a file.
    const temporary = `${this.file}.${process.pid}.tmp`;
    await writeFile(temporary, `${JSON.stringify(file, null, 2)}\n`, { mode: 0o600 });
    await rename(temporary, this.file);
  }
}

function backend(safeStorage: ProfileSafeStorage): string | undefined {
  try {
    return safeStorage.getSelectedStorageBackend?.();
  } catch {
    // Not Linux: the OS keychain is always there.
    return undefined;
  }
}

function toProfile(stored: StoredProfile): Profile {
  const { passwordEncrypted, ...profile } = stored;
  return { ...profile, hasPassword: passwordEncrypted !== undefined };
}

/** Checks a postgres URL and takes any password out of it (it is stored apart, encrypted). */
function splitUrl(input: string): { url: string; urlPassword: string | undefined } {
  let url: URL;
  try {
    url = new URL(input.trim());
  } catch {
    throw new CleaverError('BAD_REQUEST', `${JSON.stringify(input)} is not a URL; write it as postgres://user@host:5432/database`);
  }
  if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:') {
    throw new CleaverError('BAD_REQUEST', `a connection URL starts with postgres:// (got ${url.protocol}//)`);
  }
  if (url.hostname === '') throw new CleaverError('BAD_REQUEST', 'the connection URL names no host; write it as postgres://user@host:5432/database');
  let urlPassword: string | undefined;
  if (url.password !== '') {
    urlPassword = decodeURIComponent(url.password);
    url.password = '';
  }
  const queryPassword = url.searchParams.get('password');
  if (queryPassword !== null) {
    urlPassword ??= queryPassword;
    url.searchParams.delete('password');
  }
  return { url: url.href, urlPassword };
}
