// The SDK as a user gets it: packages/sdk packed with `npm pack`, installed offline into fresh
// `npm init -y` projects (CommonJS, npm's default, and ES modules), the README's quick-start worker run
// from there against `cleaver serve`, and its types checked from both module systems.
import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, kill, removeDir, spawnChild, tempDir, type EngineProcess } from './harness.ts';

const exec = promisify(execFile);
const BIN = join(ROOT, 'dist/engine/cli.js');
const TSC = join(ROOT, 'node_modules/typescript/bin/tsc');
const FLAVORS = ['commonjs', 'module'] as const;
type Flavor = (typeof FLAVORS)[number];

// The npm that runs `npm test` passes its settings down as npm_* variables; a user's npm has none.
const npmEnv = Object.fromEntries(Object.entries(process.env).filter(([key]) => !/^npm_/i.test(key)));

async function npm(args: string[], cwd: string): Promise<string> {
  const { stdout } = await exec('npm', args, { cwd, env: npmEnv, timeout: 30_000 });
  return stdout;
}

/** The README's quick-start file: its first ```js block. */
function readmeWorker(): string {
  const block = /```js\n([\s\S]*?)```/.exec(readFileSync(join(ROOT, 'README.md'), 'utf8'))?.[1];
  if (!block) throw new Error('README.md has no ```js block (the quick start\'s worker.mjs)');
  return block;
}

describe('cleaver-sdk installed into a project of its own', () => {
  let dir: string;
  let engine: EngineProcess;
  let address: string;
  let packed: { filename: string; files: { path: string }[] };
  const projects = {} as Record<Flavor, string>;

  async function makeProject(flavor: Flavor): Promise<string> {
    const project = join(dir, flavor);
    mkdirSync(project);
    await npm(['init', '-y'], project);
    const written = JSON.parse(readFileSync(join(project, 'package.json'), 'utf8')) as { type?: string };
    // What npm 11 writes (older npm writes no "type", which means the same).
    expect(written.type ?? 'commonjs').toBe('commonjs');
    if (flavor === 'module') await npm(['pkg', 'set', 'type=module'], project);
    await npm(['install', '--offline', '--no-audit', '--no-fund', join(dir, packed.filename)], project);
    return project;
  }

  beforeAll(async () => {
    dir = tempDir('clv-sdk-');
    address = `unix://${join(dir, 'e.sock')}`;
    engine = spawnChild([BIN, 'serve', '--data-dir', join(dir, 'data'), '--socket', join(dir, 'e.sock'), '--console', 'off'], {
      env: process.env,
      readyLine: ' ready\n',
      what: 'cleaver serve',
    });
    [packed] = JSON.parse(await npm(['pack', '--json', '--pack-destination', dir], join(ROOT, 'packages/sdk'))) as [typeof packed];
    const [commonjs, module] = await Promise.all(FLAVORS.map(makeProject));
    Object.assign(projects, { commonjs, module });
    await engine.ready;
  });

  afterAll(async () => {
    if (engine) await kill(engine, 'SIGTERM');
    removeDir(dir);
  });

  it('packs the compiled SDK alone: no engine code, no dependencies', () => {
    const paths = packed.files.map((f) => f.path).sort();
    expect(paths.filter((p) => !/^(package\.json|README\.md|dist\/index\.(mjs|d\.mts)|dist\/(sdk|shared)\/[a-z-]+\.(js|d\.ts))$/.test(p))).toEqual([]);
    expect(paths).toEqual(expect.arrayContaining(['dist/index.mjs', 'dist/index.d.mts', 'dist/sdk/index.js', 'dist/sdk/index.d.ts', 'dist/sdk/worker.js']));
    const manifest = JSON.parse(readFileSync(join(projects.commonjs, 'node_modules/cleaver-sdk/package.json'), 'utf8')) as Record<string, unknown>;
    expect(manifest.dependencies).toBeUndefined();
    // Released with the engine whose protocol it speaks.
    expect(manifest.version).toBe((JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version);
    for (const project of Object.values(projects)) expect(readdirSync(join(project, 'node_modules')).sort()).toEqual(['.package-lock.json', 'cleaver-sdk']);
  });

  it('the console shows the README\'s worker file', () => {
    expect(readmeWorker()).toBe(readFileSync(join(ROOT, 'examples/worker.mjs'), 'utf8'));
    expect(readFileSync(join(ROOT, 'renderer/pages/workers/components/no-workers.tsx'), 'utf8')).toContain(
      "import WORKER_FILE from '../../../../examples/worker.mjs?raw';",
    );
  });

  for (const flavor of FLAVORS) {
    it(`runs the README's worker.mjs with \`node worker.mjs\` in a "type": "${flavor}" project`, async () => {
      const file = join(projects[flavor], 'worker.mjs');
      writeFileSync(file, readmeWorker());
      const worker = spawnChild([file], { env: { ...process.env, CLEAVER_ADDRESS: address }, readyLine: 'my-worker serves greet until Ctrl-C\n', what: 'worker.mjs' });
      try {
        await worker.ready;
        expect(worker.output()).toBe("{ greeting: 'hello world' }\nmy-worker serves greet until Ctrl-C\n");
        // It stays a worker: a run triggered from elsewhere is served by it.
        const { stdout } = await exec(process.execPath, [BIN, 'run', 'greet', '--input', '{"name":"cli"}', '--wait', '--address', address], { timeout: 20_000 });
        expect(JSON.parse(stdout)).toEqual({ greeting: 'hello cli' });
        // Ctrl-C drains it and it exits cleanly.
        expect(await kill(worker, 'SIGINT')).toBe(0);
      } finally {
        await kill(worker);
      }
    });
  }

  it('require() gives the same SDK as import, and loads nothing outside the package', async () => {
    const file = join(projects.commonjs, 'check.js');
    writeFileSync(
      file,
      `const sdk = require('cleaver-sdk');
       const { dirname } = require('node:path');
       (async () => {
         const esm = await import('cleaver-sdk');
         const cleaver = sdk.Cleaver.connect();
         const add = cleaver.task({ name: 'add-cjs', fn: async (input) => ({ sum: input.a + input.b }) });
         const worker = await cleaver.worker('cjs-worker', { workflows: [add], slots: 1, handleSignals: false });
         await worker.start();
         const out = await add.run({ a: 2, b: 3 });
         await cleaver.close();
         const home = dirname(require.resolve('cleaver-sdk/package.json'));
         const outside = Object.keys(require.cache).filter((f) => f !== __filename && !f.startsWith(home + '/'));
         console.log(JSON.stringify({ out, same: esm.Cleaver === sdk.Cleaver && esm.CleaverError === sdk.CleaverError, outside }));
       })();`,
    );
    const { stdout } = await exec(process.execPath, [file], { env: { ...process.env, CLEAVER_ADDRESS: address }, timeout: 20_000 });
    expect(JSON.parse(stdout)).toEqual({ out: { sum: 5 }, same: true, outside: [] });
  });

  it('type-checks TypeScript consumers without @types/node, from CommonJS and from ES modules', async () => {
    const results = await Promise.all(
      FLAVORS.map(async (flavor) => {
        const project = projects[flavor];
        writeFileSync(
          join(project, 'tsconfig.json'),
          JSON.stringify({ compilerOptions: { target: 'ES2022', module: 'nodenext', moduleResolution: 'nodenext', strict: true, noEmit: true, types: [] }, include: ['consumer.ts'] }),
        );
        writeFileSync(
          join(project, 'consumer.ts'),
          `import { Cleaver, NonRetryableError, type Context } from 'cleaver-sdk';
           const cleaver = Cleaver.connect();
           const add = cleaver.task({ name: 'add', retries: 1, executionTimeout: '5s', fn: async (input: { a: number }, ctx: Context) => ({ sum: input.a + ctx.attempt }) });
           export async function use(): Promise<number> {
             const out: { sum: number } = await add.run({ a: 1 });
             // @ts-expect-error the input's type reaches run(): proof the declarations were read, not any
             await add.run({ a: 'one' });
             if (out.sum < 0) throw new NonRetryableError('negative');
             return out.sum;
           }`,
        );
        return exec(process.execPath, [TSC, '-p', project], { timeout: 30_000 }).then(
          () => ({ flavor, output: '' }),
          (e: { stdout: string }) => ({ flavor, output: e.stdout }),
        );
      }),
    );
    expect(results).toEqual(FLAVORS.map((flavor) => ({ flavor, output: '' })));
  });
});
