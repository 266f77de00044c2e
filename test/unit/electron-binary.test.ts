// `npm start`'s answer when Electron's binary is missing (scripts/electron-binary.ts), under plain Node:
// Electron's binary cannot be fetched here, and the check must not need it.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { downloadWithInstallScript, ensureElectronBinary, type DownloadResult } from '../../scripts/electron-binary.ts';
import { removeDir, tempDir } from '../integration/harness.ts';

describe("npm start's Electron binary check", () => {
  let electronDir: string;
  const said: string[] = [];
  const say = (line: string) => said.push(line);

  beforeEach(() => {
    electronDir = tempDir('clv-electron-');
    writeFileSync(join(electronDir, 'package.json'), JSON.stringify({ name: 'electron', version: '45.5.0' }));
    said.length = 0;
  });
  afterEach(() => removeDir(electronDir));

  /** What electron's install script leaves behind: the binary in dist/ and its name in path.txt. */
  function install(): void {
    mkdirSync(join(electronDir, 'dist'));
    writeFileSync(join(electronDir, 'dist', 'electron'), '');
    writeFileSync(join(electronDir, 'path.txt'), 'electron');
  }

  it('uses an installed binary without downloading', async () => {
    install();
    const result = await ensureElectronBinary({ electronDir, env: {}, say, download: () => Promise.reject(new Error('must not download')) });
    expect(result).toEqual({ ok: true, path: join(electronDir, 'dist', 'electron') });
    expect(said).toEqual([]);
  });

  it('downloads a missing binary once, saying so, and uses it', async () => {
    let downloads = 0;
    const download = async (): Promise<DownloadResult> => {
      downloads++;
      install();
      return { ok: true };
    };
    const result = await ensureElectronBinary({ electronDir, env: {}, say, download });
    expect(result).toEqual({ ok: true, path: join(electronDir, 'dist', 'electron') });
    expect(downloads).toBe(1);
    expect(said).toEqual(["Electron's binary is not installed yet; downloading Electron 45.5.0 (about 100 MB) from GitHub…"]);
  });

  it('when the download fails, says plainly that the binary is missing, why, and how to get it or do without', async () => {
    const result = await ensureElectronBinary({ electronDir, env: {}, say, download: async () => ({ ok: false, reason: 'TypeError: fetch failed' }) });
    expect(result.ok).toBe(false);
    const message = result.ok ? '' : result.message;
    expect(message).toMatch(/^Electron's binary is not installed, so the desktop app cannot start \(downloading it failed: TypeError: fetch failed\)\./);
    expect(message).toContain('npx install-electron');
    expect(message).toContain('ELECTRON_MIRROR');
    expect(message).toContain('`npm run serve` starts the same engine');
    // Electron's own advice (delete node_modules) does not help when the network is the problem.
    expect(message).not.toMatch(/delete/i);
  });

  it('reports a download that "succeeded" but left no binary', async () => {
    const result = await ensureElectronBinary({ electronDir, env: {}, say, download: async () => ({ ok: true }) });
    expect(result).toMatchObject({ ok: false, message: expect.stringContaining('the download finished but left no binary in node_modules/electron/dist') });
  });

  it('trusts ELECTRON_OVERRIDE_DIST_PATH: no download, and a missing binary there is named', async () => {
    const override = join(electronDir, 'elsewhere');
    const download = () => Promise.reject(new Error('must not download'));
    const missing = await ensureElectronBinary({ electronDir, env: { ELECTRON_OVERRIDE_DIST_PATH: override }, say, download });
    expect(missing).toMatchObject({ ok: false, message: expect.stringContaining(`ELECTRON_OVERRIDE_DIST_PATH is ${override}, but ${join(override, 'electron')} does not exist`) });
    mkdirSync(override);
    writeFileSync(join(override, 'electron'), '');
    expect(await ensureElectronBinary({ electronDir, env: { ELECTRON_OVERRIDE_DIST_PATH: override }, say, download })).toEqual({ ok: true, path: join(override, 'electron') });
  });

  it("reads a failed install script's reason from its first line, not its stack", async () => {
    writeFileSync(
      join(electronDir, 'install.js'),
      `console.error('TypeError: fetch failed\\n    at node:internal/deps/undici/undici:14976:13\\n    at async downloadArtifact (index.js:154:12)'); process.exit(1);`,
    );
    expect(await downloadWithInstallScript(electronDir, process.env)).toEqual({ ok: false, reason: 'TypeError: fetch failed' });
    writeFileSync(join(electronDir, 'install.js'), 'process.exit(3);');
    expect(await downloadWithInstallScript(electronDir, process.env)).toEqual({ ok: false, reason: 'its install script exited with code 3' });
    writeFileSync(join(electronDir, 'install.js'), 'process.exit(0);');
    expect(await downloadWithInstallScript(electronDir, process.env)).toEqual({ ok: true });
  });
});
