// The runnable examples a new user copies from still run: each against an engine of its own, through the
// built SDK (`cleaver-sdk`, as a user imports it), to its own exit. Guards against an example that no
// longer matches the API, or one that hangs.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describe } from 'vitest';
import { openDriver } from '../../engine/db/open-driver.ts';
import type { Engine } from '../../engine/engine.ts';
import type { Driver } from '../../engine/db/driver.ts';
import { ROOT, removeDir, startEngine, tempDir } from './harness.ts';

/** Each example with what its output must show. */
const EXAMPLES: Array<{ file: string; shows: RegExp[] }> = [
  { file: 'per-user-fairness.ts', shows: [/bob/i, /carol/i] },
  { file: 'rate-limit.ts', shows: [/most starts in any 1 s interval: 5 \(limit 5\)/, /asks 6 units of the rate limit "example-api"/] },
  { file: 'newest-wins.ts', shows: [/CONCURRENCY_LIMIT/, /aborted/] },
  { file: 'streaming.ts', shows: [/run ended   -> succeeded/] },
];

function runExample(file: string, address: string): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'examples', file)], {
      env: { ...process.env, CLEAVER_ADDRESS: address },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

describe('examples', () => {
  let dir: string;
  let driver: Driver;
  let engine: Engine;
  beforeAll(async () => {
    dir = tempDir();
    driver = await openDriver({ inMemory: true });
    engine = await startEngine(driver, dir);
  });
  afterAll(async () => {
    await engine?.stop();
    await driver?.close();
    if (dir) removeDir(dir);
  });

  for (const example of EXAMPLES) {
    it(`runs examples/${example.file} to its end`, async () => {
      const { code, output } = await runExample(example.file, `unix://${join(dir, 'engine.sock')}`);
      expect({ code, output }).toMatchObject({ code: 0 });
      for (const pattern of example.shows) expect(output).toMatch(pattern);
    }, 90_000);
  }
});
