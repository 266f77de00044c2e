// The local socket is private to the user; TCP requires the token; a stale socket is replaced only
// after a liveness probe.
import { chmodSync, statSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Engine } from '../../engine/engine.ts';
import { openDriver } from '../../engine/db/open-driver.ts';
import { silentLogger } from '../../engine/log.ts';
import { Cleaver, CleaverError } from '../../sdk/index.ts';
import { FAST, kill, removeDir, spawnWorker, tempDir } from './harness.ts';

describe('listeners', () => {
  const cleanups: Array<() => Promise<void> | void> = [];
  afterEach(async () => {
    for (const c of cleanups.reverse()) await c();
    cleanups.length = 0;
  });

  async function engineIn(dir: string, extra: Partial<ConstructorParameters<typeof Engine>[0]> = {}) {
    const driver = await openDriver({ inMemory: true });
    const engine = new Engine({ driver, socketPath: join(dir, 'sock', 'engine.sock'), log: silentLogger, ...FAST, ...extra });
    await engine.start();
    cleanups.push(async () => {
      await engine.stop();
      await driver.close();
    });
    return engine;
  }

  it('creates the socket 0600 in a 0700 directory, tightening a looser directory', async () => {
    const dir = tempDir();
    cleanups.push(() => removeDir(dir));
    const { mkdirSync } = await import('node:fs');
    mkdirSync(join(dir, 'sock'), { mode: 0o755 });
    chmodSync(join(dir, 'sock'), 0o755);
    await engineIn(dir);
    expect(statSync(join(dir, 'sock')).mode & 0o777).toBe(0o700);
    expect(statSync(join(dir, 'sock', 'engine.sock')).mode & 0o777).toBe(0o600);
  });

  it('refuses a shared (sticky) socket directory instead of tightening it, even one it owns', async () => {
    const dir = tempDir();
    cleanups.push(() => removeDir(dir));
    const { mkdirSync } = await import('node:fs');
    mkdirSync(join(dir, 'sock'));
    chmodSync(join(dir, 'sock'), 0o1777);
    await expect(engineIn(dir)).rejects.toThrow(/is a shared directory \(sticky bit, like \/tmp\); put the socket in a directory of its own/);
    expect(statSync(join(dir, 'sock')).mode & 0o7777).toBe(0o1777);
  });

  it('replaces a stale socket file but refuses to take over a live engine socket', async () => {
    const dir = tempDir();
    cleanups.push(() => removeDir(dir));
    const { mkdirSync } = await import('node:fs');
    mkdirSync(join(dir, 'sock'), { mode: 0o700 });
    // A stale socket: bound by a process that was killed, which leaves the file behind.
    const { spawn } = await import('node:child_process');
    const holder = spawn(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(join(dir, 'sock', 'engine.sock'))}, () => console.log('up'))`], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise((r) => holder.stdout!.once('data', r));
    holder.kill('SIGKILL');
    await new Promise((r) => holder.once('exit', r));
    expect(statSync(join(dir, 'sock', 'engine.sock')).isSocket()).toBe(true);
    const engine = await engineIn(dir);
    expect(engine.addresses[0]).toBe(`unix://${join(dir, 'sock', 'engine.sock')}`);

    const driver = await openDriver({ inMemory: true });
    const second = new Engine({ driver, socketPath: join(dir, 'sock', 'engine.sock'), log: silentLogger, ...FAST });
    await expect(second.start()).rejects.toThrow(/another Cleaver engine is already listening/);
    await second.stop();
    await driver.close();
  });

  it('refuses a path that is not a socket', async () => {
    const dir = tempDir();
    cleanups.push(() => removeDir(dir));
    const { mkdirSync } = await import('node:fs');
    mkdirSync(join(dir, 'sock'), { mode: 0o700 });
    writeFileSync(join(dir, 'sock', 'engine.sock'), 'important data');
    const driver = await openDriver({ inMemory: true });
    const engine = new Engine({ driver, socketPath: join(dir, 'sock', 'engine.sock'), log: silentLogger });
    await expect(engine.start()).rejects.toThrow(/exists and is not a socket/);
    await engine.stop();
    await driver.close();
  });

  it('TCP requires the token: refused without it or with a wrong one, served with it', async () => {
    expect(() => new Engine({ driver: null as never, socketPath: null, tcp: { host: '127.0.0.1', port: 0 } })).toThrow(/requires a token/);
    const dir = tempDir();
    cleanups.push(() => removeDir(dir));
    const engine = await engineIn(dir, { tcp: { host: '127.0.0.1', port: 0 }, token: 's3cret' });
    const address = `tcp://127.0.0.1:${engine.tcpPort}`;
    const worker = spawnWorker({ dir, tasks: ['echo'], address, token: 's3cret' });
    cleanups.push(() => kill(worker).then(() => undefined));
    await worker.ready;

    for (const token of [undefined, 'wrong']) {
      const c = Cleaver.connect({ address, token: token ?? '' });
      const error = await c.ref('echo').run({}).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(CleaverError);
      expect((error as CleaverError).code).toBe('UNAUTHORIZED');
      await c.close();
    }
    const good = Cleaver.connect({ address, token: 's3cret' });
    expect(await good.ref('echo').run({ via: 'tcp' })).toMatchObject({ input: { via: 'tcp' } });
    await good.close();
  });
});
