// Rate-limit keys as an operator manages them: through the SDK (`cleaver.rateLimits`), over the admin
// HTTP API with its token, and with `cleaver rate-limits`; what a key has counted (`used`, `refillsAt`)
// read from the scheduler's window; and mistakes answered with the field that is wrong.
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { AdminService } from '../../engine/admin/admin-service.ts';
import { startAdminHttp, type AdminHttpServer } from '../../engine/admin/http-server.ts';
import { createEngineEvents } from '../../engine/engine-events.ts';
import { silentLogger } from '../../engine/log.ts';
import { consume, createWindow } from '../../engine/scheduler/rate-window.ts';
import { CleaverError } from '../../shared/errors.ts';
import { forEachDriver } from '../driver/drivers.ts';
import { runCli, useEngine } from './harness.ts';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

function prefix(): string {
  return `rl-${randomBytes(4).toString('hex')}`;
}

forEachDriver('rate-limit keys through the admin API', (getDriver, kind) => {
  const suite = useEngine(getDriver);
  const token = randomBytes(16).toString('hex');
  let http: AdminHttpServer;

  beforeAll(async () => {
    http = await startAdminHttp({ admin: suite.engine.admin, changes: null, port: 0, token, staticDir: null, log: silentLogger });
  });
  afterAll(async () => {
    await http?.close();
  });

  /** What the scheduler would have written after admitting `units` at `at` under the key's current limit. */
  async function admitted(key: string, options: { limit: number; windowMs: number; units: number; at: number }): Promise<void> {
    const window = consume(createWindow(options), options.at, options.units);
    await getDriver().query(`UPDATE rate_limit SET state = $2::jsonb WHERE key = $1`, [key, JSON.stringify(window)]);
  }

  it('defines, changes, lists and deletes keys with cleaver.rateLimits', async () => {
    const p = prefix();
    const { cleaver } = suite;
    const made = await cleaver.rateLimits.upsert({ key: `${p}:openai`, limit: 100, duration: 'hour' });
    expect(made).toEqual({ key: `${p}:openai`, kind: 'static', limit: 100, duration: 'hour', used: 0, refillsAt: null, updatedAt: expect.any(String) });
    await cleaver.rateLimits.upsert({ key: `${p}:Anthropic`, limit: 5, duration: 'second' });
    expect((await cleaver.rateLimits.list({ search: p })).rateLimits.map((r) => r.key)).toEqual([`${p}:Anthropic`, `${p}:openai`]);
    expect((await cleaver.rateLimits.list({ search: `${p}:ANTH` })).rateLimits.map((r) => r.key)).toEqual([`${p}:Anthropic`]);
    expect((await cleaver.rateLimits.upsert({ key: `${p}:openai`, limit: 200, duration: 'minute' })).limit).toBe(200);
    expect(await cleaver.rateLimits.delete(`${p}:openai`)).toEqual({ deleted: true });
    expect(await cleaver.rateLimits.delete(`${p}:openai`)).toEqual({ deleted: false });
    expect((await cleaver.rateLimits.list({ search: p })).rateLimits.map((r) => r.key)).toEqual([`${p}:Anthropic`]);
  });

  it('shows what a key has counted, and keeps counting it through a change of limit or duration', async () => {
    const key = `${prefix()}:mail`;
    await suite.cleaver.rateLimits.upsert({ key, limit: 100, duration: 'hour' });
    const at = Date.now();
    await admitted(key, { limit: 100, windowMs: HOUR, units: 30, at });
    const [listed] = (await suite.cleaver.rateLimits.list({ search: key })).rateLimits;
    expect(listed).toMatchObject({ key, used: 30, limit: 100 });
    // Counted for at least the window after it was admitted, and at most 1 % of it longer.
    const refill = Date.parse(listed!.refillsAt!);
    expect(refill).toBeGreaterThanOrEqual(at + HOUR);
    expect(refill).toBeLessThanOrEqual(at + HOUR + HOUR / 100);

    // A lower limit than what is counted: nothing fits until those 30 units stop counting.
    const lowered = await suite.cleaver.rateLimits.upsert({ key, limit: 20, duration: 'hour' });
    expect(lowered).toMatchObject({ used: 30, limit: 20, refillsAt: listed!.refillsAt });
    // A longer window: what was admitted counts for the whole new window.
    const longer = await suite.cleaver.rateLimits.upsert({ key, limit: 20, duration: 'day' });
    expect(longer).toMatchObject({ used: 30, limit: 20, duration: 'day' });
    expect(Date.parse(longer.refillsAt!)).toBeGreaterThanOrEqual(at + DAY);
    expect(Date.parse(longer.refillsAt!)).toBeLessThanOrEqual(at + DAY + DAY / 100 + HOUR / 100);

    // Once everything it counted has expired, nothing is counted and nothing waits for a refill.
    await admitted(key, { limit: 20, windowMs: DAY, units: 20, at: at - 3 * DAY });
    expect((await suite.cleaver.rateLimits.list({ search: key })).rateLimits[0]).toMatchObject({ used: 0, refillsAt: null });
  });

  it('refuses bad input, naming the field and what it must be', async () => {
    const { cleaver } = suite;
    const cases: Array<[Promise<unknown>, RegExp]> = [
      [cleaver.rateLimits.upsert({ key: 'has space', limit: 1, duration: 'second' }), /^rateLimitUpsert\.key must be 1-200 letters, digits or _ \. : - \/ = @$/],
      [cleaver.rateLimits.upsert({ key: 'k', limit: 0, duration: 'second' }), /^rateLimitUpsert\.limit must be an integer from 1 to 1000000000$/],
      [cleaver.rateLimits.upsert({ key: 'k', limit: 1.5, duration: 'second' }), /^rateLimitUpsert\.limit must be an integer/],
      [cleaver.rateLimits.upsert({ key: 'k', limit: 1, duration: 'minutes' as 'minute' }), /^rateLimitUpsert\.duration must be one of second, minute, hour, day, week, month, year$/],
      [cleaver.rateLimits.delete(''), /^rateLimitDelete\.key "" must be 1-200 letters/],
      [cleaver.rateLimits.list({ search: 7 as unknown as string }), /^rateLimitsList\.search must be a non-empty string of at most 200 characters$/],
    ];
    for (const [promise, message] of cases) {
      await expect(promise).rejects.toBeInstanceOf(CleaverError);
      await expect(promise).rejects.toMatchObject({ code: 'BAD_REQUEST', message: expect.stringMatching(message) });
    }
    expect((await cleaver.rateLimits.list({ search: 'k' })).rateLimits.map((r) => r.key)).not.toContain('k');
  });

  it('carries the calls over HTTP, behind the same token as every other admin call', async () => {
    const key = `${prefix()}:http`;
    const post = async (method: string, params: unknown, withToken = true) => {
      const res = await fetch(`${http.url}/api/${method}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(withToken ? { authorization: `Bearer ${token}` } : {}) },
        body: JSON.stringify(params),
      });
      return { status: res.status, body: (await res.json()) as { ok: boolean; data?: unknown; error?: { code: string; message: string } } };
    };
    expect(await post('rateLimitUpsert', { key, limit: 3, duration: 'day' }, false)).toMatchObject({ status: 401, body: { ok: false, error: { code: 'UNAUTHORIZED' } } });
    expect(await post('rateLimitDelete', { key }, false)).toMatchObject({ status: 401 });
    expect(await post('rateLimitsList', {}, false)).toMatchObject({ status: 401 });
    expect(await post('rateLimitUpsert', { key, limit: 3, duration: 'day' })).toMatchObject({ status: 200, body: { ok: true, data: { key, kind: 'static', limit: 3, duration: 'day', used: 0 } } });
    expect(await post('rateLimitsList', { search: key })).toMatchObject({ status: 200, body: { data: { rateLimits: [{ key }] } } });
    expect(await post('rateLimitUpsert', { key, limit: 3 })).toMatchObject({ status: 400, body: { error: { code: 'BAD_REQUEST', message: expect.stringMatching(/^rateLimitUpsert\.duration must be one of/) } } });
    expect(await post('rateLimitDelete', { key })).toMatchObject({ status: 200, body: { data: { deleted: true } } });
  });

  it('emits rate-limits.changed for each committed change, and nothing else', async () => {
    const changed: string[] = [];
    const driver = getDriver();
    const events = createEngineEvents({ log: silentLogger });
    events.on('rate-limits.changed', ({ key }) => changed.push(key));
    const admin = new AdminService({
      driver,
      log: silentLogger,
      notifyFrom: null,
      events,
      info: () => ({ engineId: 'events', version: '0', database: driver.description, listening: [], mode: 'admin', retentionMs: null }),
    });
    const p = prefix();
    await admin.rateLimitUpsert({ key: `${p}-a`, limit: 1, duration: 'second' });
    await admin.rateLimitUpsert({ key: `${p}-a`, limit: 2, duration: 'second' });
    await expect(admin.rateLimitUpsert({ key: `${p}-b`, limit: -1, duration: 'second' })).rejects.toBeInstanceOf(CleaverError);
    await admin.rateLimitDelete({ key: `${p}-missing` });
    await admin.rateLimitDelete({ key: `${p}-a` });
    expect(changed).toEqual([`${p}-a`, `${p}-a`, `${p}-a`]);
  });

  // The CLI talks to the engine through the SDK whatever the driver: once is enough.
  it.skipIf(kind !== 'pglite')('manages keys with `cleaver rate-limits`, and answers mistakes before reaching the engine', async () => {
    const p = prefix();
    const address = `unix://${join(suite.dir, 'engine.sock')}`;
    const cli = (...args: string[]) => runCli(['rate-limits', ...args, '--address', address], { source: true });
    expect(await cli('put', `${p}:sms`, '10', 'minute')).toEqual({ code: 0, stdout: `${p}:sms: 0/10 per minute (static)\n`, stderr: '' });
    await admitted(`${p}:sms`, { limit: 10, windowMs: 60_000, units: 4, at: Date.now() });
    const [listed, put, missing, mistakes] = await Promise.all([
      cli('list', '--search', `${p}:SMS`),
      cli('put', `${p}:push`, '5', 'second'),
      cli('delete', `${p}:nothing`),
      Promise.all([
        cli('put', `${p}:x`, 'ten', 'minute'),
        cli('put', `${p}:x`, '10', 'minutes'),
        cli('put', 'no spaces', '10', 'minute'),
        cli('put', `${p}:x`, '10'),
        cli('delete'),
        cli('frob'),
        cli('delete', `${p}:x`, '--search', 'y'),
      ]),
    ]);
    expect(listed).toMatchObject({ code: 0, stderr: '', stdout: expect.stringMatching(new RegExp(`^${p}:sms: 4/10 per minute \\(static\\), a unit frees at \\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z\\n$`)) });
    expect(put).toMatchObject({ code: 0, stdout: `${p}:push: 0/5 per second (static)\n` });
    expect(missing).toMatchObject({ code: 1, stderr: `cleaver: no rate-limit key "${p}:nothing"; \`cleaver rate-limits list\` shows them [NOT_FOUND]\n` });
    const [notNumber, badDuration, badKey, tooFew, noKey, unknown, searchMisused] = mistakes;
    expect(notNumber).toMatchObject({ code: 2, stderr: expect.stringMatching(/^cleaver: the rate limit's limit must be an integer from 1 to 1000000000\nusage: cleaver rate-limits list/) });
    expect(badDuration).toMatchObject({ code: 2, stderr: expect.stringContaining("cleaver: the rate limit's duration must be one of second, minute, hour, day, week, month, year\n") });
    expect(badKey).toMatchObject({ code: 2, stderr: expect.stringContaining("cleaver: the rate limit's key must be 1-200 letters") });
    expect(tooFew).toMatchObject({ code: 2, stderr: expect.stringContaining('cleaver: cleaver rate-limits put takes <key> <limit> <duration>, e.g. put openai 100 minute\n') });
    expect(noKey).toMatchObject({ code: 2, stderr: expect.stringContaining('cleaver: cleaver rate-limits delete takes one key\n') });
    expect(unknown).toMatchObject({ code: 2, stderr: expect.stringContaining('cleaver: cleaver rate-limits takes list, put or delete\n') });
    expect(searchMisused).toMatchObject({ code: 2, stderr: expect.stringContaining('cleaver: --search is for cleaver rate-limits list\n') });

    expect(await cli('delete', `${p}:sms`)).toEqual({ code: 0, stdout: `deleted rate-limit key ${p}:sms\n`, stderr: '' });
    expect(await cli('list', '--search', p)).toEqual({ code: 0, stdout: `${p}:push: 0/5 per second (static)\n`, stderr: '' });
    expect(await cli('list', '--search', `${p}-none`)).toEqual({ code: 0, stdout: `no rate-limit key contains "${p}-none"\n`, stderr: '' });
  }, 60_000);
});
