import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ProfileStore, type ProfileSafeStorage } from '../../main/profiles.ts';

/** "Encrypts" by reversing the bytes: reversible, and never the plaintext. */
function fakeSafeStorage(options: { available?: boolean; backend?: ReturnType<NonNullable<ProfileSafeStorage['getSelectedStorageBackend']>> } = {}) {
  const calls = { encrypt: 0, decrypt: 0 };
  const storage: ProfileSafeStorage = {
    isEncryptionAvailable: () => options.available ?? true,
    encryptString: (plain) => {
      calls.encrypt++;
      return Buffer.from(Buffer.from(plain, 'utf8').reverse());
    },
    decryptString: (encrypted) => {
      calls.decrypt++;
      return Buffer.from(encrypted).reverse().toString('utf8');
    },
    ...(options.backend ? { getSelectedStorageBackend: () => options.backend! } : {}),
  };
  return { storage, calls };
}

const PASSWORD = 'correct horse%@:/battery';

let dir: string;
let file: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cleaver-profiles-'));
  file = join(dir, 'profiles.json');
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('ProfileStore', () => {
  it('keeps the password out of the file: only encrypted, base64', async () => {
    const { storage, calls } = fakeSafeStorage({ backend: 'gnome_libsecret' });
    const store = await ProfileStore.open({ file, safeStorage: storage });
    const profile = await store.save({ name: 'prod', url: 'postgres://ops@db.internal:5432/app', mode: 'administer', schema: 'cleaver', password: PASSWORD });
    expect(profile).toMatchObject({ name: 'prod', url: 'postgres://ops@db.internal:5432/app', mode: 'administer', schema: 'cleaver', hasPassword: true });
    const text = await readFile(file, 'utf8');
    expect(text).not.toContain(PASSWORD);
    expect(text).not.toContain('battery');
    expect(text).not.toContain(encodeURIComponent(PASSWORD));
    expect(JSON.parse(text).profiles[0].passwordEncrypted).toBe(storage.encryptString(PASSWORD).toString('base64'));
    expect(calls.decrypt).toBe(0);
    if (process.platform !== 'win32') expect((await stat(file)).mode & 0o777).toBe(0o600);
  });

  it('takes a password typed into the URL out of it and stores it encrypted', async () => {
    const { storage } = fakeSafeStorage();
    const store = await ProfileStore.open({ file, safeStorage: storage });
    const profile = await store.save({ name: 'p', url: `postgres://ops:${encodeURIComponent(PASSWORD)}@db:5432/app?sslmode=require`, mode: 'engine' });
    expect(profile.url).toBe('postgres://ops@db:5432/app?sslmode=require');
    expect(profile.hasPassword).toBe(true);
    const text = await readFile(file, 'utf8');
    expect(text).not.toContain('battery');
    expect(new URL(store.connectionUrl(profile.id)).password).toBe(encodeURIComponent(PASSWORD));
  });

  it('decrypts only to connect, into a URL that carries the password intact', async () => {
    const { storage, calls } = fakeSafeStorage();
    const saved = await (await ProfileStore.open({ file, safeStorage: storage })).save({ name: 'p', url: 'postgres://ops@db:5432/app', mode: 'administer', password: PASSWORD });
    const reopened = await ProfileStore.open({ file, safeStorage: storage });
    expect(reopened.list()).toEqual([saved]);
    expect(calls.decrypt).toBe(0);
    const url = new URL(reopened.connectionUrl(saved.id));
    expect(calls.decrypt).toBe(1);
    expect(decodeURIComponent(url.password)).toBe(PASSWORD);
    expect(url.username).toBe('ops');
    expect(url.host).toBe('db:5432');
  });

  it('keeps, replaces or removes the password on edit', async () => {
    const { storage } = fakeSafeStorage();
    const store = await ProfileStore.open({ file, safeStorage: storage });
    const p = await store.save({ name: 'p', url: 'postgres://ops@db/app', mode: 'administer', password: 'one' });
    await store.save({ id: p.id, name: 'renamed', url: 'postgres://ops@db/app', mode: 'engine' });
    expect(new URL(store.connectionUrl(p.id)).password).toBe('one');
    await store.save({ id: p.id, name: 'renamed', url: 'postgres://ops@db/app', mode: 'engine', password: 'two' });
    expect(new URL(store.connectionUrl(p.id)).password).toBe('two');
    await store.save({ id: p.id, name: 'renamed', url: 'postgres://ops@db/app', mode: 'engine', password: null });
    expect(store.get(p.id)).toMatchObject({ name: 'renamed', mode: 'engine', hasPassword: false });
    expect(store.connectionUrl(p.id)).toBe('postgres://ops@db/app');
    await store.remove(p.id);
    expect((await ProfileStore.open({ file, safeStorage: storage })).list()).toEqual([]);
  });

  it('warns when Linux has no keyring (basic_text), and still encrypts', async () => {
    const { storage } = fakeSafeStorage({ backend: 'basic_text' });
    const store = await ProfileStore.open({ file, safeStorage: storage });
    expect(store.storageWarning()).toMatch(/basic_text/);
    expect(store.storageWarning()).toMatch(/keyring/i);
    await store.save({ name: 'p', url: 'postgres://ops@db/app', mode: 'administer', password: PASSWORD });
    expect(await readFile(file, 'utf8')).not.toContain('battery');
  });

  it('has no warning with a real keyring, or off Linux', async () => {
    expect((await ProfileStore.open({ file, safeStorage: fakeSafeStorage({ backend: 'kwallet6' }).storage })).storageWarning()).toBeNull();
    expect((await ProfileStore.open({ file, safeStorage: fakeSafeStorage().storage })).storageWarning()).toBeNull();
  });

  it('refuses to store a password when the OS cannot encrypt, saying why; profiles without one still save', async () => {
    const { storage, calls } = fakeSafeStorage({ available: false });
    const store = await ProfileStore.open({ file, safeStorage: storage });
    expect(store.storageWarning()).toMatch(/cannot be saved/);
    await expect(store.save({ name: 'p', url: 'postgres://ops@db/app', mode: 'administer', password: PASSWORD })).rejects.toThrow(/cannot be saved/);
    await expect(store.save({ name: 'p', url: `postgres://ops:secret@db/app`, mode: 'administer' })).rejects.toThrow(/cannot be saved/);
    expect(calls.encrypt).toBe(0);
    await expect(store.save({ name: 'p', url: 'postgres://ops@db/app', mode: 'administer' })).resolves.toMatchObject({ hasPassword: false });
    expect(await readFile(file, 'utf8')).not.toContain('secret');
  });

  it('refuses what is not a postgres URL, or a profile without a name', async () => {
    const store = await ProfileStore.open({ file, safeStorage: fakeSafeStorage().storage });
    await expect(store.save({ name: 'p', url: 'mysql://db/app', mode: 'administer' })).rejects.toThrow(/postgres:\/\//);
    await expect(store.save({ name: 'p', url: 'db:5432', mode: 'administer' })).rejects.toThrow();
    await expect(store.save({ name: ' ', url: 'postgres://db/app', mode: 'administer' })).rejects.toThrow(/name/);
  });
});
