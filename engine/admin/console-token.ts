/**
 * The console's bearer token: kept in `<dataDir>/console-token` (0600) so it survives restarts and a
 * person can read it again, or given by CLEAVER_CONSOLE_TOKEN. Whoever holds it can administer every
 * run, so the file is created private and tightened when found looser.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, closeSync, lstatSync, mkdirSync, openSync, readFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { CleaverError, toError } from '../../shared/errors.ts';
import { defaultDataDir } from '../../shared/paths.ts';

/** Characters a WebSocket subprotocol (`token.<token>`) and a bearer header carry unchanged. */
const TOKEN_PATTERN = /^[A-Za-z0-9._~+-]{16,512}$/;

export function consoleTokenPath(dataDir: string): string {
  return join(dataDir, 'console-token');
}

/**
 * The token, from CLEAVER_CONSOLE_TOKEN or the data dir's file (created when missing). Without a data
 * dir (an engine on Postgres) the default one is used, so the token still has a home.
 */
export function consoleToken(dataDir: string | null, env: Record<string, string | undefined> = process.env): string {
  const fromEnv = env.CLEAVER_CONSOLE_TOKEN;
  if (fromEnv !== undefined && fromEnv !== '') {
    if (!TOKEN_PATTERN.test(fromEnv)) {
      throw new CleaverError('BAD_REQUEST', 'CLEAVER_CONSOLE_TOKEN must be 16 to 512 letters, digits or . _ ~ + -; e.g. openssl rand -hex 32');
    }
    return fromEnv;
  }
  const dir = dataDir ?? defaultDataDir(env);
  const file = consoleTokenPath(dir);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const created = randomBytes(32).toString('hex');
  try {
    // O_EXCL: of two processes creating it at once, one writes and the other reads what was written.
    const fd = openSync(file, 'wx', 0o600);
    try {
      writeSync(fd, `${created}\n`);
    } finally {
      closeSync(fd);
    }
    return created;
  } catch (e: unknown) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') {
      throw new CleaverError('INTERNAL', `cannot create the console token file ${file}: ${toError(e).message}`, { cause: e });
    }
  }
  return readExisting(file);
}

function readExisting(file: string): string {
  const stat = lstatSync(file);
  if (!stat.isFile()) throw new CleaverError('BAD_REQUEST', `${file} is not a regular file; remove it and a new console token is created`);
  if (process.platform !== 'win32' && (stat.mode & 0o077) !== 0) {
    try {
      chmodSync(file, 0o600);
    } catch (e: unknown) {
      throw new CleaverError('BAD_REQUEST', `${file} is readable by other users and cannot be made private (${toError(e).message}); remove it and a new token is created`, { cause: e });
    }
  }
  // A process that created the file an instant ago may not have written it yet.
  for (let tries = 0; ; tries++) {
    const token = readFileSync(file, 'utf8').trim();
    if (TOKEN_PATTERN.test(token)) return token;
    if (tries >= 20) throw new CleaverError('BAD_REQUEST', `${file} does not hold a valid console token; remove it and a new one is created`);
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 50);
  }
}
