// One Cleaver process per data dir: a live holder is refused with a message naming it, a crashed
// holder's lock is taken over, and of several processes racing for a stale lock exactly one wins.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { acquireDataDirLock, LOCK_FILE_NAME } from '../../engine/db/data-dir-lock.ts';
import { CleaverError } from '../../shared/errors.ts';

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const LOCK_CHILD = fileURLToPath(new URL('./fixtures/lock-child.ts', import.meta.url));

let root: string;
let counter = 0;
beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'clv-lock-'));
});
afterAll(() => {
  rmSync(root, { recursive: true, force: true });
});

const freshDir = (): string => join(root, `d${++counter}`);

function writeLock(dir: string, owner: { pid: number; hostname?: string }): void {
  writeFileSync(
    join(dir, LOCK_FILE_NAME),
    JSON.stringify({ pid: owner.pid, hostname: owner.hostname ?? hostname(), startedAt: new Date().toISOString() }),
  );
}

/** The pid of a process that has exited (and, so soon after, has not been reused). */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '']);
  await new Promise((resolve) => child.on('exit', resolve));
  return child.pid!;
}

async function refusal(promise: Promise<unknown>): Promise<CleaverError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(CleaverError);
  expect((error as CleaverError).code).toBe('DATA_DIR_LOCKED');
  return error as CleaverError;
}

function spawnLockChild(dir: string, mode: 'race' | 'exit'): { child: ChildProcessWithoutNullStreams; firstLine: Promise<string> } {
  const child = spawn(process.execPath, ['--import', 'tsx', LOCK_CHILD, dir, mode], { cwd: REPO_ROOT });
  child.stdin.on('error', () => undefined); // ending the stdin of a child that already exited
  let out = '';
  let err = '';
  child.stderr.on('data', (chunk: Buffer) => {
    err += chunk.toString();
  });
  const firstLine = new Promise<string>((resolve, reject) => {
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const newline = out.indexOf('\n');
      if (newline >= 0) resolve(out.slice(0, newline));
    });
    // 'close', not 'exit': it comes after stdout has been read to the end.
    child.on('close', (code) => reject(new Error(`lock child exited (${code}) before answering: ${err}`)));
  });
  return { child, firstLine };
}

describe('data-dir lock', () => {
  it('records the holder and refuses a second opener, naming the pid and what to do', async () => {
    const dir = freshDir();
    const lock = await acquireDataDirLock(dir);
    try {
      const content: unknown = JSON.parse(readFileSync(join(dir, LOCK_FILE_NAME), 'utf8'));
      expect(content).toEqual({ pid: process.pid, hostname: hostname(), startedAt: expect.any(String) });
      const error = await refusal(acquireDataDirLock(dir));
      expect(error.message).toBe(
        `data dir ${dir} is in use by another Cleaver process (pid ${process.pid}); stop it or choose another --data-dir`,
      );
    } finally {
      await lock.release();
      await lock.release(); // idempotent
    }
    expect(existsSync(join(dir, LOCK_FILE_NAME))).toBe(false);
    await (await acquireDataDirLock(dir)).release();
  });

  it('refuses a lock held by another live process', async () => {
    const dir = freshDir();
    const holder = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60_000)']);
    try {
      await acquireDataDirLock(dir).then((l) => l.release());
      writeLock(dir, { pid: holder.pid! });
      const error = await refusal(acquireDataDirLock(dir));
      expect(error.message).toContain(`(pid ${holder.pid})`);
    } finally {
      holder.kill('SIGKILL');
    }
  });

  it('refuses a lock from another host, whose pid it cannot check', async () => {
    const dir = freshDir();
    await acquireDataDirLock(dir).then((l) => l.release());
    writeLock(dir, { pid: 1234, hostname: 'some-other-host' });
    const error = await refusal(acquireDataDirLock(dir));
    expect(error.message).toContain('(pid 1234 on host some-other-host)');
  });

  it('takes over a stale lock whose process is gone, and an unreadable one', async () => {
    for (const plant of [
      async (dir: string) => writeLock(dir, { pid: await deadPid() }),
      async (dir: string) => writeFileSync(join(dir, LOCK_FILE_NAME), 'not json'),
    ]) {
      const dir = freshDir();
      await acquireDataDirLock(dir).then((l) => l.release());
      await plant(dir);
      const lock = await acquireDataDirLock(dir);
      expect(JSON.parse(readFileSync(join(dir, LOCK_FILE_NAME), 'utf8'))).toMatchObject({ pid: process.pid });
      await lock.release();
    }
  });

  it('does not remove a lock file that is no longer its own', async () => {
    const dir = freshDir();
    const lock = await acquireDataDirLock(dir);
    writeLock(dir, { pid: 999_999, hostname: 'someone-else' });
    await lock.release();
    expect(existsSync(join(dir, LOCK_FILE_NAME))).toBe(true);
  });

  it('leaves a stale lock alone while another process is taking it over', async () => {
    const dir = freshDir();
    await acquireDataDirLock(dir).then((l) => l.release());
    writeLock(dir, { pid: await deadPid() });
    const stale = readFileSync(join(dir, LOCK_FILE_NAME), 'utf8');
    const marker = join(dir, `${LOCK_FILE_NAME}.takeover`);
    writeFileSync(marker, ''); // another opener is between "this lock is stale" and replacing it

    const attempt = acquireDataDirLock(dir).then(
      (lock) => lock,
      (e: unknown) => e,
    );
    await sleep(100);
    expect(readFileSync(join(dir, LOCK_FILE_NAME), 'utf8')).toBe(stale);

    // The other opener finishes: its own live lock replaces the stale one.
    writeLock(dir, { pid: process.pid });
    rmSync(marker);
    const outcome = await attempt;
    expect(outcome).toBeInstanceOf(CleaverError);
    expect((outcome as CleaverError).code).toBe('DATA_DIR_LOCKED');
  });

  it('clears a takeover marker abandoned by a process that died mid-takeover', async () => {
    const dir = freshDir();
    await acquireDataDirLock(dir).then((l) => l.release());
    writeLock(dir, { pid: await deadPid() });
    const marker = join(dir, `${LOCK_FILE_NAME}.takeover`);
    writeFileSync(marker, '');
    const longAgo = new Date(Date.now() - 60_000);
    utimesSync(marker, longAgo, longAgo);
    const lock = await acquireDataDirLock(dir);
    expect(existsSync(marker)).toBe(false);
    await lock.release();
  });

  it('lets exactly one of several concurrent openers in this process take a stale lock', async () => {
    const dir = freshDir();
    await acquireDataDirLock(dir).then((l) => l.release());
    writeLock(dir, { pid: await deadPid() });
    const outcomes = await Promise.allSettled(Array.from({ length: 8 }, () => acquireDataDirLock(dir)));
    const winners = outcomes.filter((o) => o.status === 'fulfilled');
    expect(winners).toHaveLength(1);
    for (const o of outcomes) {
      if (o.status === 'rejected') expect((o.reason as CleaverError).code).toBe('DATA_DIR_LOCKED');
    }
    await (winners[0] as PromiseFulfilledResult<{ release(): Promise<void> }>).value.release();
  });

  it('lets exactly one of several racing processes take a stale lock', async () => {
    const dir = freshDir();
    await acquireDataDirLock(dir).then((l) => l.release());
    writeLock(dir, { pid: await deadPid() });
    const racers = Array.from({ length: 4 }, () => spawnLockChild(dir, 'race'));
    try {
      const answers = await Promise.all(racers.map((r) => r.firstLine));
      expect(answers.filter((a) => a === 'won')).toHaveLength(1);
      expect(answers.filter((a) => a === 'refused DATA_DIR_LOCKED')).toHaveLength(3);
    } finally {
      for (const { child } of racers) child.stdin.end();
      await Promise.all(racers.map(({ child }) => (child.exitCode !== null ? undefined : new Promise((r) => child.on('exit', r)))));
    }
    expect(existsSync(join(dir, LOCK_FILE_NAME))).toBe(false);
  });

  it('removes its lock when the process exits without releasing it', async () => {
    const dir = freshDir();
    const { child, firstLine } = spawnLockChild(dir, 'exit');
    expect(await firstLine).toBe('acquired');
    if (child.exitCode === null) await new Promise((r) => child.on('exit', r));
    expect(existsSync(join(dir, LOCK_FILE_NAME))).toBe(false);
  });
});
