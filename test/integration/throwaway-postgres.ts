/**
 * A Postgres cluster of a test's own, in a temp dir, that the test may stop, crash and restart: the
 * shared server at DATABASE_URL must never be restarted under other test files. Built from the
 * server binaries (Debian: /usr/lib/postgresql/<version>/bin). initdb refuses to run as root, so when
 * the tests run as root the cluster is created and run as an unprivileged system user owning the dir.
 */
import { execFile } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface ThrowawayPostgres {
  /** postgres://cleaver@127.0.0.1:<port>/postgres (trust auth). */
  url: string;
  /** `pg_ctl stop -m <mode>`: fast ends sessions cleanly; immediate is a crash (recovery at the next start). */
  stop(mode: 'fast' | 'immediate'): Promise<void>;
  /** Starts it again on the same port; resolves once it accepts connections. */
  start(): Promise<void>;
  /** `pg_ctl restart -m <mode>`: down for a fraction of a second. */
  restart(mode: 'fast' | 'immediate'): Promise<void>;
  /** Stops it and deletes its files. */
  destroy(): Promise<void>;
}

/** The newest server bin dir, or a sentence saying why there is none. */
function findBinDir(): string | { missing: string } {
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root) ? readdirSync(root).filter((v) => existsSync(join(root, v, 'bin', 'pg_ctl')) && existsSync(join(root, v, 'bin', 'initdb'))) : [];
  if (versions.length === 0) return { missing: `no Postgres server binaries (initdb, pg_ctl) under ${root}` };
  versions.sort((a, b) => Number(b) - Number(a));
  return join(root, versions[0]!, 'bin');
}

/** The user to run the cluster as when we are root (initdb refuses root), or null to run as ourselves. */
async function clusterUser(): Promise<string | null | { missing: string }> {
  if (process.getuid?.() !== 0) return null;
  for (const name of ['postgres', 'nobody']) {
    try {
      await run('id', ['-u', name]);
      return name;
    } catch {
      // No such user: try the next.
    }
  }
  return { missing: 'running as root, and neither a postgres nor a nobody user exists to run initdb as' };
}

/** Why a throwaway cluster cannot run here, or undefined when it can. */
export async function throwawayPostgresUnavailable(): Promise<string | undefined> {
  const bin = findBinDir();
  if (typeof bin !== 'string') return bin.missing;
  const user = await clusterUser();
  if (user !== null && typeof user !== 'string') return user.missing;
  if (user !== null && !existsSync('/usr/sbin/runuser') && !existsSync('/sbin/runuser')) return 'running as root without runuser to drop to another user';
  return undefined;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

export async function startThrowawayPostgres(): Promise<ThrowawayPostgres> {
  const bin = findBinDir();
  if (typeof bin !== 'string') throw new Error(bin.missing);
  const user = await clusterUser();
  if (user !== null && typeof user !== 'string') throw new Error(user.missing);
  const dir = mkdtempSync(join(tmpdir(), 'clv-pg-'));
  const data = join(dir, 'data');
  const log = join(dir, 'server.log');
  if (user !== null) {
    const { stdout } = await run('id', ['-u', user]);
    const { stdout: gid } = await run('id', ['-g', user]);
    chownSync(dir, Number(stdout.trim()), Number(gid.trim()));
  }
  const as = (command: string, args: string[]) =>
    user === null ? run(join(bin, command), args) : run('runuser', ['-u', user, '--', join(bin, command), ...args]);
  const port = await freePort();
  await as('initdb', ['-D', data, '-A', 'trust', '-U', 'cleaver', '-E', 'UTF8', '--no-sync']);
  // fsync off: a crash of the server process (immediate stop) still loses only what was in its own
  // memory, which is what these tests are about; the OS keeps the rest. Unix socket in the temp dir.
  const options = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=100`;
  const pgCtl = (args: string[]) => as('pg_ctl', ['-D', data, '-l', log, ...args]);
  await pgCtl(['-w', '-o', options, 'start']);
  let destroyed = false;
  return {
    url: `postgres://cleaver@127.0.0.1:${port}/postgres`,
    stop: async (mode) => void (await pgCtl(['-w', '-m', mode, 'stop'])),
    start: async () => void (await pgCtl(['-w', '-o', options, 'start'])),
    restart: async (mode) => void (await pgCtl(['-w', '-m', mode, '-o', options, 'restart'])),
    destroy: async () => {
      if (destroyed) return;
      destroyed = true;
      await pgCtl(['-w', '-m', 'immediate', 'stop']).catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
