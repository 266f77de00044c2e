/**
 * One Cleaver process per data dir. PGlite runs Postgres in single-user mode inside this process; a
 * second process opening the same files would corrupt them, and nothing inside Postgres would notice.
 *
 * The lock is `<dir>/cleaver.lock` holding {pid, hostname, startedAt}. Node has no portable flock, so
 * the lock outlives a crashed holder; a later opener recognises it as stale when its pid is gone.
 */

import { randomBytes } from 'node:crypto';
import { readFileSync, unlinkSync } from 'node:fs';
import { link, mkdir, open, readFile, stat, unlink, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { CleaverError, toError } from '../../shared/errors.ts';

export const LOCK_FILE_NAME = 'cleaver.lock';

export interface DataDirLock {
  /** Path of the lock file. */
  readonly path: string;
  /** Removes the lock file if it is still ours. Safe to call more than once. */
  release(): Promise<void>;
}

interface LockOwner {
  pid: number;
  hostname: string;
  startedAt: string;
}

/** A takeover marker older than this belongs to a process that died mid-takeover. */
const TAKEOVER_MARKER_STALE_MS = 10_000;
const MAX_ATTEMPTS = 20;
const RETRY_DELAY_MS = 25;

/**
 * Takes the data-dir lock or throws CleaverError('DATA_DIR_LOCKED') naming the live holder.
 * Creates `dir` (mode 0700) when missing.
 */
export async function acquireDataDirLock(dir: string): Promise<DataDirLock> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const lockPath = join(dir, LOCK_FILE_NAME);
  const content = JSON.stringify({
    pid: process.pid,
    hostname: hostname(),
    startedAt: new Date().toISOString(),
  } satisfies LockOwner);

  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    if (await createExclusive(lockPath, content)) return heldLock(lockPath, content);

    const existing = await readIfPresent(lockPath);
    if (existing === undefined) continue; // released between our create and our read
    const owner = parseOwner(existing);
    if (owner && isAlive(owner)) throw lockedError(dir, owner);

    // Stale. Only the process that creates the takeover marker may delete the stale file; the others
    // wait and look again, and then find the winner's live lock.
    if (await takeOverStale(lockPath, existing)) continue;
    await sleep(RETRY_DELAY_MS);
  }
  throw new CleaverError(
    'DATA_DIR_LOCKED',
    `data dir ${dir} is being taken over by another Cleaver process right now (see ${lockPath}); retry in a moment, and make sure only one Cleaver uses it`,
  );
}

/**
 * Creates the lock file only if absent, with its content complete from the first instant: the content
 * is written to a private temp file and hard-linked into place (link fails with EEXIST like O_EXCL).
 * A reader can therefore never see a half-written lock and mistake it for a stale one. Filesystems
 * without hard links fall back to O_EXCL + write.
 */
async function createExclusive(lockPath: string, content: string): Promise<boolean> {
  const tempPath = `${lockPath}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  await writeFile(tempPath, content, { mode: 0o600 });
  try {
    await link(tempPath, lockPath);
    return true;
  } catch (e: unknown) {
    const code = errnoOf(e);
    if (code === 'EEXIST') return false;
    if (code === 'EPERM' || code === 'ENOTSUP' || code === 'ENOSYS' || code === 'EXDEV') {
      return createWithOExcl(lockPath, content);
    }
    throw toError(e);
  } finally {
    await unlink(tempPath).catch(() => undefined);
  }
}

async function createWithOExcl(lockPath: string, content: string): Promise<boolean> {
  let handle;
  try {
    handle = await open(lockPath, 'wx', 0o600);
  } catch (e: unknown) {
    if (errnoOf(e) === 'EEXIST') return false;
    throw toError(e);
  }
  try {
    await handle.writeFile(content);
  } finally {
    await handle.close();
  }
  return true;
}

/**
 * Deletes the stale lock file, guarded by an O_EXCL takeover marker so that of several processes
 * racing for one stale lock exactly one deletes it. Without the marker a slow racer could read the
 * stale content, then delete the fresh lock a faster racer had just put in its place.
 * Returns false when another process holds the marker.
 */
async function takeOverStale(lockPath: string, staleContent: string): Promise<boolean> {
  const markerPath = `${lockPath}.takeover`;
  let marker;
  try {
    marker = await open(markerPath, 'wx', 0o600);
  } catch (e: unknown) {
    if (errnoOf(e) !== 'EEXIST') throw toError(e);
    await removeIfAbandoned(markerPath);
    return false;
  }
  try {
    await marker.close();
    // Re-read under the marker: if the file changed, someone already replaced the stale lock.
    if ((await readIfPresent(lockPath)) === staleContent) await unlink(lockPath).catch(ignoreMissing);
    return true;
  } finally {
    await unlink(markerPath).catch(ignoreMissing);
  }
}

async function removeIfAbandoned(markerPath: string): Promise<void> {
  try {
    const { mtimeMs } = await stat(markerPath);
    if (Date.now() - mtimeMs > TAKEOVER_MARKER_STALE_MS) await unlink(markerPath);
  } catch (e: unknown) {
    ignoreMissing(e);
  }
}

function heldLock(lockPath: string, content: string): DataDirLock {
  let released = false;
  // A best effort for a process that exits without closing its driver; SIGKILL and crashes leave the
  // file behind, which the next opener treats as stale.
  const releaseOnExit = (): void => {
    try {
      if (readFileSync(lockPath, 'utf8') === content) unlinkSync(lockPath);
    } catch {
      // Exiting anyway; a leftover lock file is recognised as stale later.
    }
  };
  process.on('exit', releaseOnExit);
  return {
    path: lockPath,
    async release() {
      if (released) return;
      released = true;
      process.off('exit', releaseOnExit);
      // Only our own file: after a stale-takeover mistake (a reused pid, a clock-less NFS) the file may
      // belong to someone else by now.
      if ((await readIfPresent(lockPath)) === content) await unlink(lockPath).catch(ignoreMissing);
    },
  };
}

async function readIfPresent(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (e: unknown) {
    ignoreMissing(e);
    return undefined;
  }
}

/** Unparseable content can only come from a crash mid-write on the O_EXCL fallback; treat it as stale. */
function parseOwner(content: string): LockOwner | undefined {
  try {
    const parsed: unknown = JSON.parse(content);
    if (typeof parsed !== 'object' || parsed === null) return undefined;
    const { pid, hostname: host, startedAt } = parsed as Record<string, unknown>;
    if (typeof pid !== 'number' || !Number.isInteger(pid) || pid <= 0) return undefined;
    return { pid, hostname: typeof host === 'string' ? host : '', startedAt: typeof startedAt === 'string' ? startedAt : '' };
  } catch {
    return undefined;
  }
}

/**
 * A pid on another host cannot be checked, so such a lock counts as live. A pid reused after a reboot
 * also counts as live; the error message names it so the user can remove the file.
 */
function isAlive(owner: LockOwner): boolean {
  if (owner.hostname !== hostname()) return true;
  try {
    process.kill(owner.pid, 0);
    return true;
  } catch (e: unknown) {
    return errnoOf(e) === 'EPERM';
  }
}

function lockedError(dir: string, owner: LockOwner): CleaverError {
  const where = owner.hostname === hostname() ? `pid ${owner.pid}` : `pid ${owner.pid} on host ${owner.hostname}`;
  return new CleaverError(
    'DATA_DIR_LOCKED',
    `data dir ${dir} is in use by another Cleaver process (${where}); stop it or choose another --data-dir`,
  );
}

function errnoOf(e: unknown): string | undefined {
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

function ignoreMissing(e: unknown): void {
  if (errnoOf(e) !== 'ENOENT') throw toError(e);
}
