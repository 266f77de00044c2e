// `npm start` under plain Node: without Electron's binary it says so and builds nothing, and the desktop
// build it runs writes dist-desktop/ only, never the dist/ a running `cleaver serve` uses.
import { execFile } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { electronBinaryPath } from '../../scripts/electron-binary.ts';
import { ROOT, removeDir, tempDir } from './harness.ts';

const exec = promisify(execFile);
const DESKTOP = join(ROOT, 'dist-desktop');

function stamp(path: string): string | null {
  if (!existsSync(path)) return null;
  const s = statSync(path);
  return `${s.ino}:${s.mtimeMs}`;
}

describe('npm start', () => {
  let cache: string;
  beforeAll(() => {
    cache = tempDir('clv-electron-cache-');
  });
  afterAll(() => removeDir(cache));

  // Where Electron is installed this would start the desktop app; there the unit tests cover the check.
  it.skipIf(electronBinaryPath(join(ROOT, 'node_modules/electron'), process.env) !== null)(
    "without Electron's binary, says so plainly, builds nothing and exits 1",
    async () => {
      const before = stamp(DESKTOP);
      // An unreachable mirror and an empty download cache: the download fails here and everywhere.
      const env = { ...process.env, ELECTRON_MIRROR: 'http://127.0.0.1:9/', electron_config_cache: cache };
      const result = await exec(process.execPath, ['--import', 'tsx', join(ROOT, 'scripts/start.ts')], { cwd: ROOT, env, timeout: 30_000 }).then(
        () => ({ code: 0, stderr: '' }),
        (e: { code: number; stderr: string }) => ({ code: e.code, stderr: e.stderr }),
      );
      expect(result.code).toBe(1);
      expect(result.stderr).toMatch(/^Electron's binary is not installed, so the desktop app cannot start \(downloading it failed: .+\)\.\n/);
      expect(result.stderr).toContain('`npm run serve`');
      expect(result.stderr).not.toMatch(/\n\s+at /); // no stack trace
      expect(stamp(DESKTOP)).toBe(before);
    },
  );

  it('builds the desktop app into dist-desktop/ and leaves dist/ as it was', async () => {
    const served = [join(ROOT, 'dist/engine/cli.js'), join(ROOT, 'dist/renderer/index.html'), join(ROOT, 'dist/renderer')];
    const before = served.map(stamp);
    expect(before).not.toContain(null); // npm test builds dist/ first
    await exec(process.execPath, [join(ROOT, 'scripts/build.mjs'), '--desktop'], { cwd: ROOT, timeout: 120_000 });
    expect(served.map(stamp)).toEqual(before);
    // What main.js loads, beside it: the preload, the console, the engine's migrations.
    for (const file of ['main/main.js', 'main/preload.cjs', 'renderer/index.html', 'engine/sql/migrations/000001-foundation.sql']) {
      expect(existsSync(join(DESKTOP, file)), file).toBe(true);
    }
  });
});
