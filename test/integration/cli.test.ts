// The installed surface: the built `cleaver` bin and `cleaver-sdk` imported from plain JavaScript.
// `npm test` builds dist/ first, so these run what `npm install` leaves behind. (The SDK installed
// into a project of its own: sdk-package.test.ts.)
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BUILT_CLI as BIN, ROOT, kill, removeDir, runCli, spawnChild, tempDir, type EngineProcess } from './harness.ts';

function cli(args: string[], env: NodeJS.ProcessEnv = {}) {
  return runCli(args, { env });
}

describe('cleaver bin and plain-JavaScript SDK', () => {
  let dir: string;
  let engine: EngineProcess;
  let address: string;

  beforeAll(async () => {
    dir = tempDir();
    address = `unix://${join(dir, 'e.sock')}`;
    engine = spawnChild([BIN, 'serve', '--data-dir', join(dir, 'data'), '--socket', join(dir, 'e.sock'), '--console', '127.0.0.1:0'], { env: process.env, readyLine: ' ready\n', what: 'cleaver serve' });
    await engine.ready;
  });

  afterAll(async () => {
    if (engine) await kill(engine, 'SIGTERM');
    removeDir(dir);
  });

  it('prints where it listens and which database it uses', () => {
    expect(engine.output()).toContain(`listening: ${address}`);
    expect(engine.output()).toContain(`database:  embedded PGlite in ${join(dir, 'data', 'pgdata')}`);
    expect(engine.output()).toContain('retention: runs that ended more than 30d ago are deleted');
  });

  it('runs a worker written in plain JavaScript against cleaver-sdk, and `cleaver run --wait` prints the output', async () => {
    const script = join(ROOT, `.cleaver-test-worker-${process.pid}.mjs`);
    writeFileSync(
      script,
      `import { Cleaver } from 'cleaver-sdk';
       const cleaver = Cleaver.connect();
       const shout = cleaver.task({ name: 'shout', fn: async (input) => ({ loud: String(input.word).toUpperCase() }) });
       const inputs = cleaver.task({ name: 'inputs', fn: async (input) => ({ got: input }) });
       const greet = cleaver.workflow({ name: 'greet', on: { events: ['greet:*'] } });
       const hello = greet.task({ name: 'hello', fn: async (input) => 'hello ' + input.name });
       greet.task({ name: 'bye', parents: [hello], fn: async (input, ctx) => ctx.parentOutput(hello) + ', bye' });
       const worker = await cleaver.worker('plain-js', { workflows: [shout, inputs, greet], slots: 2 });
       await worker.start();
       console.log('ready');`,
    );
    // A list whose first engine is not there: the worker and the CLI move on to the next.
    const list = `unix://${join(dir, 'gone.sock')},${address}`;
    const worker = spawnChild([script], { env: { ...process.env, CLEAVER_ADDRESS: list }, readyLine: 'ready', what: 'plain JS worker' });
    try {
      await worker.ready;
      const waited = await cli(['run', 'shout', '--input', '{"word":"hi"}', '--wait'], { CLEAVER_ADDRESS: address });
      expect(waited).toMatchObject({ code: 0, stderr: '' });
      expect(JSON.parse(waited.stdout)).toEqual({ loud: 'HI' });
      // --input is optional: a task that reads nothing gets {}.
      const noInput = await cli(['run', 'inputs', '--wait', '--address', address]);
      expect(noInput).toMatchObject({ code: 0, stderr: '' });
      expect(JSON.parse(noInput.stdout)).toEqual({ got: {} });
      const queued = await cli(['run', 'shout', '--input', '{"word":"x"}', '--address', list]);
      expect(queued.stdout.trim()).toMatch(/^[0-9a-f-]{36}$/);
      const status = await cli(['status', '--address', address]);
      expect(status.stdout).toMatch(/workers: {3}1\n {2}plain-js .* slots \d\/2 actions shout,inputs,greet:hello,greet:bye/);
      const pushed = await cli(['events', 'push', 'greet:you', '--payload', '{"name":"you"}', '--address', address]);
      expect(pushed).toMatchObject({ code: 0, stderr: '' });
      const [, runId] = /^event [0-9a-f-]{36}: runs ([0-9a-f-]{36})\n$/.exec(pushed.stdout)!;
      const client = (await import('../../sdk/index.ts')).Cleaver.connect({ address });
      try {
        expect(await client.awaitRun(runId!)).toMatchObject({ status: 'succeeded', output: { hello: 'hello you', bye: 'hello you, bye' } });
      } finally {
        await client.close();
      }
      const replayed = await cli(['runs', 'replay', runId!, '--from-task', 'bye', '--address', address]);
      expect(replayed).toMatchObject({ code: 0, stdout: 'replaying 1 of 1 run(s)\n' });
      const nothing = await cli(['events', 'push', 'nobody:listens', '--address', address]);
      expect(nothing.stdout).toMatch(/: no workflow matched\n$/);
    } finally {
      await kill(worker);
      removeDir(script);
    }
  });

  it('answers mistakes with what to do, and a non-zero exit', async () => {
    const badJson = await cli(['run', 'shout', '--input', '{nope', '--address', address]);
    expect(badJson.code).toBe(2);
    expect(badJson.stderr).toMatch(/--input is not valid JSON/);
    const unknown = await cli(['run', 'nothing-here', '--input', '{}', '--wait', '--address', address]);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/no workflow or task named "nothing-here" is registered.*\[UNKNOWN_TASK\]/);
    const badKey = await cli(['events', 'push', 'no spaces', '--address', address]);
    expect(badKey.code).toBe(1);
    expect(badKey.stderr).toMatch(/event.key "no spaces" must be 1-200 letters/);
    const notEnded = await cli(['runs', 'cancel', '--address', address]);
    expect(notEnded.code).toBe(2);
    const noEngine = await cli(['status', '--address', `unix://${join(dir, 'nobody.sock')}`]);
    expect(noEngine.code).toBe(1);
    expect(noEngine.stderr).toMatch(/the Cleaver engine at unix:\/\/.*nobody\.sock is unreachable.*Start one with `cleaver serve`.*\[CONNECTION\]/);
    const badList = await cli(['status', '--address', `${address},,${address}`]);
    expect(badList.code).toBe(2);
    expect(badList.stderr).toMatch(/address 2 of 3 .* is empty/);
    const noToken = await cli(['serve', '--listen', 'tcp://127.0.0.1:7999'], { CLEAVER_TOKEN: '' });
    expect(noToken.code).toBe(2);
    expect(noToken.stderr).toMatch(/--listen needs a token/);
    const badRetention = await cli(['serve', '--retention', 'soon']);
    expect(badRetention.code).toBe(2);
    expect(badRetention.stderr).toMatch(/--retention: "soon" is not an age; use a duration like '30d'.*or 'off'/);
    const badLogCap = await cli(['serve', '--max-log-lines', '0']);
    expect(badLogCap.code).toBe(2);
    expect(badLogCap.stderr).toMatch(/--max-log-lines must be a positive integer, got "0"/);
    const badListen = await cli(['serve', '--listen', 'http://127.0.0.1:80']);
    expect(badListen.code).toBe(2);
    expect(badListen.stderr).toMatch(/use unix:\/\/\/path/);
    const badCommand = await cli(['frobnicate']);
    expect(badCommand.code).toBe(2);
    expect(badCommand.stderr).toMatch(/unknown command "frobnicate"/);
  });

  it('refuses --input, --payload and --metadata that are not JSON objects, before reaching the engine', async () => {
    // No engine at this address: each refusal must come from the CLI itself.
    const nowhere = `unix://${join(dir, 'nobody.sock')}`;
    const runUsage = 'usage: cleaver run <task|workflow> [--input JSON] [--metadata JSON] [--wait] [--address ADDR] [--token T]\n';
    for (const [input, got] of [['"str"', 'a string'], ['[1,2]', 'an array'], ['7', 'a number'], ['null', 'null']] as const) {
      const refused = await cli(['run', 'shout', '--input', input, '--address', nowhere]);
      expect(refused.code).toBe(2);
      expect(refused.stderr).toBe(`cleaver: --input must be a JSON object, e.g. --input '{"name":"x"}'; got ${got}\n${runUsage}Run \`cleaver help\` for every command.\n`);
    }
    const payload = await cli(['events', 'push', 'greet:you', '--payload', '["you"]', '--address', nowhere]);
    expect(payload).toMatchObject({ code: 2, stderr: expect.stringContaining('--payload must be a JSON object') });
    const metadata = await cli(['run', 'shout', '--metadata', '{"n":1}', '--address', nowhere]);
    expect(metadata).toMatchObject({ code: 2, stderr: expect.stringContaining('--metadata.n must be a string, got number') });
  });

  it('names an unknown or incomplete flag and prints that command\'s usage, not parseArgs\'s text', async () => {
    const unknown = await cli(['run', 'shout', '--inptu', '{}']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toBe(
      'cleaver: unknown flag --inptu\n' +
        'usage: cleaver run <task|workflow> [--input JSON] [--metadata JSON] [--wait] [--address ADDR] [--token T]\n' +
        'Run `cleaver help` for every command.\n',
    );
    const missing = await cli(['run', 'shout', '--input']);
    expect(missing).toMatchObject({ code: 2, stderr: expect.stringMatching(/^cleaver: --input needs a value\nusage: cleaver run /) });
    const valued = await cli(['status', '--address', address, '--verbose']);
    expect(valued).toMatchObject({ code: 2, stderr: expect.stringMatching(/^cleaver: unknown flag --verbose\nusage: cleaver status /) });
    const help = await cli(['runs', '--help']);
    expect(help).toMatchObject({ code: 0, stdout: expect.stringMatching(/^cleaver runs cancel .*\ncleaver runs replay .*\n$/) });
  });

  it('prints the same usage as docs/cli.md', async () => {
    const help = await cli(['help']);
    expect(help.code).toBe(0);
    const docs = readFileSync(join(ROOT, 'docs/cli.md'), 'utf8');
    const block = /```\n(Usage:\n[\s\S]*?)```/.exec(docs)?.[1];
    expect(block, 'docs/cli.md opens with the `cleaver help` block').toBeDefined();
    expect(help.stdout.slice(help.stdout.indexOf('Usage:\n'))).toBe(block);
  });

  it('refuses a second engine on the same data dir', async () => {
    const second = await cli(['serve', '--data-dir', join(dir, 'data'), '--socket', join(dir, 'other.sock')]);
    expect(second.code).toBe(1);
    expect(second.stderr).toMatch(/data dir .* is in use by another Cleaver process/);
  });

  it('migrate --status reports the schema version', async () => {
    const fresh = tempDir();
    try {
      // Every migration shipped, in order.
      const n = readdirSync(join(ROOT, 'engine/sql/migrations')).filter((f) => /^\d{6}-.*\.sql$/.test(f)).length;
      const all = Array.from({ length: n }, (_, i) => i + 1).join(', ');
      expect((await cli(['migrate', '--data-dir', fresh])).stdout).toContain(`applied migrations ${all}; schema now at version ${n}`);
      expect((await cli(['migrate', '--status', '--data-dir', fresh])).stdout).toContain(`schema version ${n} of ${n}; up to date`);
    } finally {
      removeDir(fresh);
    }
    // Two cold starts of PGlite (a WASM Postgres), each creating a database: 10 s apiece on a busy machine.
  }, 60_000);
});
