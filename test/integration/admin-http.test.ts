// The console's transport over HTTP + WebSocket (shared/admin-transport.ts), the files it serves, the
// `cleaver serve` banner and token file, and administering a database another engine runs.
import { execFile } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { AdminChange, EngineInfo, RunListPage } from '../../shared/admin-api.ts';
import { ADMIN_WS_PROTOCOL } from '../../shared/admin-transport.ts';
import { isLoopbackHost, startAdminHttp, type AdminHttpServer } from '../../engine/admin/http-server.ts';
import { adminSchemaCheck, openAdminOnly, type AdminOnly } from '../../engine/admin/admin-only.ts';
import { consoleToken } from '../../engine/admin/console-token.ts';
import { createPgliteDriver } from '../../engine/db/pglite/pglite-driver.ts';
import type { Driver } from '../../engine/db/driver.ts';
import { Engine } from '../../engine/engine.ts';
import { silentLogger } from '../../engine/log.ts';
import { migrate } from '../../engine/sql/migrate.ts';
import { DATABASE_URL, describePg, dropSchema, forEachDriver, freshSchemaName, openTestPgDriver } from '../driver/drivers.ts';
import { FAST, ROOT, executions, kill, removeDir, spawnChild, spawnWorker, startEngine, tempDir, waitFor, type WorkerProcess } from './harness.ts';

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
  json(): { ok: boolean; data?: unknown; error?: { name: string; code: string; message: string } };
}

/** A raw HTTP request: the path goes out exactly as given (no normalization) and Host can be forged. */
function request(port: number, options: { method?: string; path: string; headers?: Record<string, string>; body?: string | Buffer }): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method: options.method ?? 'GET', path: options.path, headers: options.headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        resolve({ status: res.statusCode!, headers: res.headers, text, json: () => JSON.parse(text) as ReturnType<Answer['json']> });
      });
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

function call(port: number, method: string, params: unknown, token: string | null): Promise<Answer> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (token !== null) headers.authorization = `Bearer ${token}`;
  return request(port, { method: 'POST', path: `/api/${method}`, headers, body: typeof params === 'string' ? params : JSON.stringify(params) });
}

/** Opens /api/live; resolves with the socket, or with the HTTP status it was refused with. */
function openLive(port: number, protocols: string[], headers: Record<string, string> = {}): Promise<{ ws: WebSocket; status: null } | { ws: null; status: number }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/api/live`, protocols, { headers });
    ws.once('open', () => resolve({ ws, status: null }));
    ws.once('unexpected-response', (_req, res) => {
      resolve({ ws: null, status: res.statusCode ?? 0 });
      ws.terminate();
    });
    ws.once('error', (e) => reject(e));
  });
}

const CSP = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

describe('admin HTTP transport [pglite]', () => {
  let dir: string;
  let driver: Driver;
  let engine: Engine;
  let server: AdminHttpServer;
  let port: number;
  const token = randomBytes(32).toString('hex');

  beforeAll(async () => {
    dir = tempDir();
    const staticDir = join(dir, 'renderer');
    mkdirSync(join(staticDir, 'assets'), { recursive: true });
    writeFileSync(join(staticDir, 'index.html'), '<!doctype html><title>console</title><script type="module" src="/assets/x.js"></script>');
    writeFileSync(join(staticDir, 'assets', 'x.js'), 'console.log("x");');
    writeFileSync(join(dir, 'secret.txt'), 'outside the static dir');
    driver = await createPgliteDriver();
    engine = await startEngine(driver, dir);
    server = await startAdminHttp({ admin: engine.admin, changes: engine.changes, host: '127.0.0.1', port: 0, token, staticDir, log: silentLogger });
    port = server.port;
  });

  afterAll(async () => {
    await server?.close();
    await engine?.stop();
    await driver?.close();
    if (dir) removeDir(dir);
  });

  it('binds 127.0.0.1 and reports its URL', () => {
    expect(server.url).toBe(`http://127.0.0.1:${port}`);
  });

  it('refuses calls without the token, with a wrong one, and with one of another length', async () => {
    for (const header of [null, `Bearer ${'0'.repeat(64)}`, 'Bearer short', `Bearer ${token}x`, `Basic ${token}`, token]) {
      const headers: Record<string, string> = { 'content-type': 'application/json' };
      if (header !== null) headers.authorization = header;
      const answer = await request(port, { method: 'POST', path: '/api/engineInfo', headers, body: '{}' });
      expect(answer.status, String(header)).toBe(401);
      expect(answer.headers['www-authenticate']).toBe('Bearer');
      expect(answer.json()).toMatchObject({ ok: false, error: { code: 'UNAUTHORIZED', message: expect.stringMatching(/Authorization: Bearer/) } });
    }
  });

  it('answers real calls with { ok: true, data }', async () => {
    const info = await call(port, 'engineInfo', {}, token);
    expect(info.status).toBe(200);
    expect(info.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(info.headers['cache-control']).toBe('no-store');
    expect(info.json()).toMatchObject({ ok: true, data: { engineId: engine.id, mode: 'engine', listening: [`unix://${join(dir, 'engine.sock')}`] } });
    expect((await call(port, 'workflowsList', {}, token)).json()).toEqual({ ok: true, data: { workflows: [], runsCap: 1000 } });
    expect((await call(port, 'runsList', { limit: 10 }, token)).json()).toEqual({ ok: true, data: { runs: [], nextCursor: null } });
    // An empty body is no params.
    expect((await call(port, 'engineInfo', '', token)).status).toBe(200);
  });

  it('maps unknown methods to 404 and the service errors to their statuses, with the message', async () => {
    const unknown = await call(port, 'dropDatabase', {}, token);
    expect(unknown.status).toBe(404);
    expect(unknown.json().error).toMatchObject({ code: 'NOT_FOUND', message: expect.stringContaining('no admin method "dropDatabase"') });
    // Inherited object properties are not methods.
    expect((await call(port, 'constructor', {}, token)).status).toBe(404);

    const badParam = await call(port, 'runGet', { runId: 'nope' }, token);
    expect(badParam.status).toBe(400);
    expect(badParam.json()).toEqual({ ok: false, error: { name: 'CleaverError', code: 'BAD_REQUEST', message: 'runGet.runId must be a UUID, got "nope"' } });

    const missing = await call(port, 'runGet', { runId: randomUUID() }, token);
    expect(missing.status).toBe(404);
    expect(missing.json().error).toMatchObject({ code: 'NOT_FOUND', message: expect.stringMatching(/^no run with id /) });

    const unknownTask = await call(port, 'workflowTrigger', { name: 'nobody-declares-this', input: {} }, token);
    expect(unknownTask.status).toBe(404);
    expect(unknownTask.json().error).toMatchObject({ code: 'UNKNOWN_TASK' });

    for (const body of ['[1,2]', '"text"', 'null', '{not json']) {
      const answer = await call(port, 'runsList', body, token);
      expect(answer.status, body).toBe(400);
      expect(answer.json().error?.code).toBe('BAD_REQUEST');
    }
  });

  it('refuses a body over 1 MB with 413', async () => {
    const answer = await call(port, 'eventsPush', { events: [{ key: 'big', payload: { blob: 'x'.repeat(2 * 1024 * 1024) } }] }, token);
    expect(answer.status).toBe(413);
    expect(answer.json().error?.message).toMatch(/larger than 1048576 bytes/);
  });

  it('answers 405 to anything but POST on /api', async () => {
    for (const method of ['GET', 'PUT', 'DELETE']) {
      const answer = await request(port, { method, path: '/api/runsList', headers: { authorization: `Bearer ${token}` } });
      expect(answer.status, method).toBe(405);
      expect(answer.headers.allow).toBe('POST');
    }
    expect((await request(port, { path: '/api' })).status).toBe(405);
  });

  it('refuses a Host header naming another site (DNS rebinding), and accepts localhost', async () => {
    for (const host of ['evil.example', `evil.example:${port}`, `127.0.0.1.nip.io:${port}`, `localhost:${port + 1}`]) {
      const answer = await request(port, { method: 'POST', path: '/api/engineInfo', headers: { host, authorization: `Bearer ${token}` }, body: '{}' });
      expect(answer.status, host).toBe(421);
      expect((await request(port, { path: '/', headers: { host } })).status, host).toBe(421);
      expect((await openLive(port, [ADMIN_WS_PROTOCOL, `token.${token}`], { host })).status, host).toBe(421);
    }
    const viaLocalhost = await request(port, { method: 'POST', path: '/api/engineInfo', headers: { host: `localhost:${port}`, authorization: `Bearer ${token}` }, body: '{}' });
    expect(viaLocalhost.status).toBe(200);
  });

  it('refuses live connections without the token or the protocol', async () => {
    expect((await openLive(port, [])).status).toBe(401);
    expect((await openLive(port, [ADMIN_WS_PROTOCOL])).status).toBe(401);
    expect((await openLive(port, [ADMIN_WS_PROTOCOL, `token.${'0'.repeat(64)}`])).status).toBe(401);
    expect((await openLive(port, [ADMIN_WS_PROTOCOL, 'token.short'])).status).toBe(401);
    expect((await openLive(port, [`token.${token}`])).status).toBe(401);
    const ok = await openLive(port, [ADMIN_WS_PROTOCOL, `token.${token}`]);
    expect(ok.ws?.protocol).toBe(ADMIN_WS_PROTOCOL);
    ok.ws?.close();
  });

  it('serves the console with its security headers and cache rules', async () => {
    const index = await request(port, { path: '/' });
    expect(index.status).toBe(200);
    expect(index.text).toContain('<title>console</title>');
    expect(index.headers).toMatchObject({
      'content-type': 'text/html; charset=utf-8',
      'cache-control': 'no-cache',
      'content-security-policy': CSP,
      'x-content-type-options': 'nosniff',
      'referrer-policy': 'no-referrer',
    });
    const asset = await request(port, { path: '/assets/x.js' });
    expect(asset).toMatchObject({ status: 200, text: 'console.log("x");' });
    expect(asset.headers['content-type']).toBe('text/javascript; charset=utf-8');
    expect(asset.headers['cache-control']).toBe('public, max-age=31536000, immutable');
    // API answers carry the same headers.
    expect((await call(port, 'engineInfo', {}, null)).headers['content-security-policy']).toBe(CSP);
  });

  it('falls back to index.html for client-side routes, not for missing files', async () => {
    const route = await request(port, { path: `/runs/${randomUUID()}?tab=dag` });
    expect(route.status).toBe(200);
    expect(route.text).toContain('<title>console</title>');
    expect((await request(port, { path: '/assets/missing.js' })).status).toBe(404);
  });

  it('refuses paths that climb out of the static dir', async () => {
    for (const path of ['/../package.json', '/../secret.txt', '/%2e%2e/secret.txt', '/assets/%2E%2E/%2e%2e/secret.txt', '/..%2fsecret.txt', '/..%5csecret.txt', '/assets/..\\..\\secret.txt', '/%00']) {
      const answer = await request(port, { path });
      expect(answer.status, path).toBe(403);
      expect(answer.text).not.toContain('outside the static dir');
    }
    expect((await request(port, { path: '/%E0%A4%A' })).status).toBe(400);
  });

  it('says how to build the console when it is not built', async () => {
    const bare = await startAdminHttp({ admin: engine.admin, changes: null, port: 0, token, staticDir: join(dir, 'not-built'), log: silentLogger });
    try {
      for (const path of ['/', '/runs']) {
        const page = await request(bare.port, { path });
        expect(page.status).toBe(503);
        expect(page.headers['content-type']).toBe('text/html; charset=utf-8');
        expect(page.headers['content-security-policy']).toBe(CSP);
        expect(page.text).toMatch(/console is not built[\s\S]*npm run build/);
      }
      // The API works without the console's files, and a live socket opens with no feed behind it.
      expect((await call(bare.port, 'engineInfo', {}, token)).status).toBe(200);
      const live = await openLive(bare.port, [ADMIN_WS_PROTOCOL, `token.${token}`]);
      expect(live.ws).not.toBeNull();
      live.ws?.close();
    } finally {
      await bare.close();
    }
  });

  it('tells loopback addresses (no warning) from ones other machines reach', () => {
    expect(['127.0.0.1', '127.1.2.3', 'localhost', '::1', '[::1]'].filter(isLoopbackHost)).toHaveLength(5);
    expect(['0.0.0.0', '::', '192.168.1.20', 'myhost.lan'].filter(isLoopbackHost)).toEqual([]);
  });

  it('says which address is taken when the port is in use', async () => {
    await expect(startAdminHttp({ admin: engine.admin, changes: null, port, token, staticDir: null, log: silentLogger })).rejects.toThrow(
      `cannot serve the console: 127.0.0.1:${port} is already in use`,
    );
  });
});

forEachDriver('admin HTTP live changes', (getDriver) => {
  let dir: string;
  let engine: Engine;
  let worker: WorkerProcess;
  let server: AdminHttpServer;
  const token = randomBytes(32).toString('hex');

  beforeAll(async () => {
    dir = tempDir();
    engine = await startEngine(getDriver(), dir);
    worker = spawnWorker({ dir, tasks: ['echo'] });
    await worker.ready;
    server = await startAdminHttp({ admin: engine.admin, changes: engine.changes, port: 0, token, staticDir: null, log: silentLogger });
  });

  afterAll(async () => {
    await server?.close();
    if (worker) await kill(worker);
    await engine?.stop();
    if (dir) removeDir(dir);
  });

  it('pushes a change naming a run triggered through the API, and the run can be read back', async () => {
    const live = await openLive(server.port, [ADMIN_WS_PROTOCOL, `token.${token}`]);
    const changes: AdminChange[] = [];
    live.ws!.on('message', (data: Buffer) => changes.push(JSON.parse(data.toString()) as AdminChange));
    try {
      const workflows = (await call(server.port, 'workflowsList', {}, token)).json();
      expect(workflows).toMatchObject({ ok: true, data: { workflows: [expect.objectContaining({ name: 'echo', kind: 'task' })] } });
      const triggered = await call(server.port, 'workflowTrigger', { name: 'echo', input: { hello: 'console' } }, token);
      expect(triggered.status).toBe(200);
      const { runId } = triggered.json().data as { runId: string };
      await waitFor('a change naming the run', () => changes.some((c) => c.runIds.includes(runId)));
      const run = await waitFor('the run to succeed', async () => {
        const details = (await call(server.port, 'runGet', { runId }, token)).json().data as { run: { status: string; output: unknown } };
        return details.run.status === 'succeeded' && details.run;
      });
      expect(run.output).toMatchObject({ input: { hello: 'console' } });
      const page = (await call(server.port, 'runsList', { workflowName: 'echo' }, token)).json().data as RunListPage;
      expect(page.runs.map((r) => r.id)).toContain(runId);
    } finally {
      live.ws!.close();
    }
  });

  it('triggers with a priority, as the SDK does, and refuses one out of range', async () => {
    const triggered = (await call(server.port, 'workflowTrigger', { name: 'echo', input: {}, priority: 3 }, token)).json().data as { runId: string };
    const details = (await call(server.port, 'runGet', { runId: triggered.runId }, token)).json().data as { taskRuns: Array<{ priority: number }> };
    expect(details.taskRuns[0]!.priority).toBe(3);
    const refused = await call(server.port, 'workflowTrigger', { name: 'echo', input: {}, priority: 7 }, token);
    expect(refused.status).toBe(400);
    expect(refused.json().error?.message).toContain('priority must be 1, 2 or 3');
  });
});

describePg('administer only [pg]', () => {
  let dir: string;
  let schema: string;
  let engineDriver: Driver;
  let adminDriver: Driver;
  let engine: Engine;
  let worker: WorkerProcess;
  let adminOnly: AdminOnly;

  beforeAll(async () => {
    dir = tempDir();
    schema = freshSchemaName('admin_only');
    engineDriver = await openTestPgDriver({ schema });
    // The poll fallback is far beyond the test's timeouts: only NOTIFY can wake this engine in time.
    engine = new Engine({ driver: engineDriver, socketPath: join(dir, 'engine.sock'), log: silentLogger, ...FAST, pollIntervalMs: 10 * 60_000 });
    await engine.start();
    worker = spawnWorker({ dir, tasks: ['patience'] });
    await worker.ready;
    adminDriver = await openTestPgDriver({ schema });
    adminOnly = openAdminOnly({ driver: adminDriver, log: silentLogger });
  });

  afterAll(async () => {
    await adminOnly?.close();
    if (worker) await kill(worker);
    await engine?.stop();
    await adminDriver?.close();
    await engineDriver?.close();
    if (schema) await dropSchema(DATABASE_URL, schema);
    if (dir) removeDir(dir);
  });

  it('reads the schema as current and describes itself as admin', async () => {
    expect(await adminSchemaCheck(adminDriver)).toMatchObject({ state: 'current', message: null });
    const info: EngineInfo = await adminOnly.admin.engineInfo();
    expect(info).toMatchObject({ mode: 'admin', listening: [] });
    expect(info.engineId).not.toBe(engine.id);
  });

  it('triggers a run the engine picks up, lists it, and cancels it on the engine’s worker', async () => {
    const { runId } = await adminOnly.admin.workflowTrigger({ name: 'patience', input: {} });
    await waitFor('the wait task to start on the engine’s worker', () => executions(dir).some((e) => e.task === 'patience:wait'), 10_000);
    const running = await waitFor('the run to be listed as running', async () => {
      const page = await adminOnly.admin.runsList({ statuses: ['running'] });
      return page.runs.find((r) => r.id === runId);
    });
    expect(running).toMatchObject({ workflowName: 'patience', kind: 'workflow' });
    expect(await adminOnly.admin.runsCancel({ runIds: [runId] })).toEqual({ cancelled: [runId], skipped: [] });
    // The engine heard cleaver_cancel and told its worker: ctx.signal aborted.
    const aborted = await waitFor('the worker to abort the attempt', () => executions(dir).find((e) => e.task === 'patience:wait' && e.aborted), 10_000);
    expect(aborted.aborted).toMatch(/CANCELLED|cancel/i);
    const details = await adminOnly.admin.runGet({ runId });
    expect(details.run.status).toBe('cancelled');
    expect(details.taskRuns.find((t) => t.taskName === 'after')?.status).toBe('cancelled');
  });

  it('never migrates: an empty schema needs migration, a newer one is refused', async () => {
    const empty = freshSchemaName('admin_empty');
    const newer = freshSchemaName('admin_newer');
    const emptyDriver = await openTestPgDriver({ schema: empty });
    const newerDriver = await openTestPgDriver({ schema: newer });
    try {
      const fresh = openAdminOnly({ driver: emptyDriver, log: silentLogger });
      await fresh.close();
      expect(await adminSchemaCheck(emptyDriver)).toMatchObject({ state: 'needs-migration', current: 0, message: expect.stringMatching(/no Cleaver schema yet/) });
      const { current } = await migrate(newerDriver);
      await newerDriver.query(`INSERT INTO cleaver_migration (version, name) VALUES ($1, 'from-the-future')`, [current + 1]);
      expect(await adminSchemaCheck(newerDriver)).toMatchObject({ state: 'too-new', current: current + 1, latest: current, message: expect.stringMatching(/upgrade Cleaver/) });
    } finally {
      await emptyDriver.close();
      await newerDriver.close();
      await dropSchema(DATABASE_URL, empty);
      await dropSchema(DATABASE_URL, newer);
    }
  });
});

describe('console token file', () => {
  it('is created 0600, read back, tightened when looser, and overridden by CLEAVER_CONSOLE_TOKEN', () => {
    const dir = tempDir();
    try {
      const dataDir = join(dir, 'data');
      const token = consoleToken(dataDir, {});
      expect(token).toMatch(/^[0-9a-f]{64}$/);
      const file = join(dataDir, 'console-token');
      expect(statSync(file).mode & 0o777).toBe(0o600);
      expect(consoleToken(dataDir, {})).toBe(token);
      chmodSync(file, 0o644);
      expect(consoleToken(dataDir, {})).toBe(token);
      expect(statSync(file).mode & 0o777).toBe(0o600);
      expect(consoleToken(dataDir, { CLEAVER_CONSOLE_TOKEN: 'from-the-environment-1234' })).toBe('from-the-environment-1234');
      expect(() => consoleToken(dataDir, { CLEAVER_CONSOLE_TOKEN: 'has spaces, commas' })).toThrow(/CLEAVER_CONSOLE_TOKEN must be/);
      // No data dir (an engine on Postgres): the default one, CLEAVER_DATA_DIR here.
      expect(consoleToken(null, { CLEAVER_DATA_DIR: dataDir })).toBe(token);
    } finally {
      removeDir(dir);
    }
  });
});

// Through the built bin, as a user runs it (`npm run build` first, as `npm test` does).
describe('cleaver serve with the console', () => {
  const BIN = join(ROOT, 'dist/engine/cli.js');
  const run = promisify(execFile);
  let dir: string;

  // One data dir, used by one engine at a time. Creating the embedded database is the slow part (many
  // seconds on a busy machine), so it happens once, here, and every serve below starts on it.
  beforeAll(async () => {
    dir = tempDir();
    await run(process.execPath, [BIN, 'migrate', '--data-dir', join(dir, 'data')], { timeout: 120_000 });
  }, 120_000);

  afterAll(() => {
    if (dir) removeDir(dir);
  });

  function serve(args: string[]) {
    return spawnChild([BIN, 'serve', '--data-dir', join(dir, 'data'), '--socket', join(dir, 'e.sock'), ...args], {
      env: { ...process.env, CLEAVER_CONSOLE_TOKEN: '' },
      readyLine: ' ready\n',
      what: 'cleaver serve',
    });
  }

  it('prints the console URL with its token, keeps the token 0600 in the data dir, and answers with it', async () => {
    const engine = serve(['--console', '127.0.0.1:0']);
    try {
      await engine.ready;
      const match = /\n {2}console: {3}http:\/\/127\.0\.0\.1:(\d+)\/#token=([0-9a-f]{64})\n/.exec(engine.output());
      expect(match, engine.output()).not.toBeNull();
      const [, port, token] = match!;
      const file = join(dir, 'data', 'console-token');
      expect(readFileSync(file, 'utf8').trim()).toBe(token);
      expect(statSync(file).mode & 0o777).toBe(0o600);
      const info = await call(Number(port), 'engineInfo', {}, token!);
      expect(info.json()).toMatchObject({ ok: true, data: { mode: 'engine' } });
      expect((await call(Number(port), 'engineInfo', {}, null)).status).toBe(401);
      // The console's page (or, before the renderer is built, the page saying how to build it).
      const page = await request(Number(port), { path: '/' });
      expect([200, 503]).toContain(page.status);
      expect(page.headers['content-security-policy']).toBe(CSP);
    } finally {
      await kill(engine, 'SIGTERM');
    }
  }, 60_000);

  it('prints no console with --console off', async () => {
    const engine = serve(['--console', 'off']);
    try {
      await engine.ready;
      expect(engine.output()).not.toContain('console:');
      expect(engine.output()).toContain('listening: ');
    } finally {
      await kill(engine, 'SIGTERM');
    }
  }, 60_000);

  it('fails clearly when the console address asked for is taken, and on a malformed one', async () => {
    const blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const taken = (blocker.address() as net.AddressInfo).port;
    try {
      const result = await run(process.execPath, [BIN, 'serve', '--data-dir', join(dir, 'data'), '--socket', join(dir, 'e.sock'), '--console', `127.0.0.1:${taken}`], { timeout: 30_000 }).then(
        () => ({ code: 0, stderr: '' }),
        (e: { code: number; stderr: string }) => ({ code: e.code, stderr: e.stderr }),
      );
      expect(result.code).toBe(1);
      expect(result.stderr).toContain(`cannot serve the console: 127.0.0.1:${taken} is already in use`);
      const malformed = await run(process.execPath, [BIN, 'serve', '--console', 'http://x'], { timeout: 30_000 }).then(
        () => ({ code: 0, stderr: '' }),
        (e: { code: number; stderr: string }) => ({ code: e.code, stderr: e.stderr }),
      );
      expect(malformed.code).toBe(2);
      expect(malformed.stderr).toMatch(/--console takes HOST:PORT/);
    } finally {
      blocker.close();
    }
  }, 60_000);
});
