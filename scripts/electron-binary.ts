/**
 * Electron's binary for `npm start`. The electron package does not ship it: it fetches it from GitHub
 * into node_modules/electron/dist the first time it runs, and when that fails it dies with
 * `TypeError: fetch failed` and advice to delete node_modules. Here the lookup is done without that
 * side effect, the download is tried once, and a failure is told in plain words with the ways out
 * (including `npm run serve`, which needs no Electron at all).
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export type DownloadResult = { ok: true } | { ok: false; reason: string };

export type ElectronBinary = { ok: true; path: string } | { ok: false; message: string };

export interface EnsureOptions {
  /** The installed electron package's directory (node_modules/electron). */
  electronDir: string;
  env: NodeJS.ProcessEnv;
  /** Fetches the binary into electronDir (in `npm start`: electron's own install script). */
  download: () => Promise<DownloadResult>;
  /** Progress for the person waiting. */
  say: (line: string) => void;
}

/** Where the binary is, as electron's index.js finds it (path.txt, ELECTRON_OVERRIDE_DIST_PATH), or null. */
export function electronBinaryPath(electronDir: string, env: NodeJS.ProcessEnv): string | null {
  const pathFile = join(electronDir, 'path.txt');
  const executable = existsSync(pathFile) ? readFileSync(pathFile, 'utf8').trim() : null;
  const override = env.ELECTRON_OVERRIDE_DIST_PATH;
  if (override) return join(override, executable || 'electron');
  if (!executable) return null;
  const path = join(electronDir, 'dist', executable);
  return existsSync(path) ? path : null;
}

export async function ensureElectronBinary(options: EnsureOptions): Promise<ElectronBinary> {
  const { electronDir, env } = options;
  const version = electronVersion(electronDir);
  const override = env.ELECTRON_OVERRIDE_DIST_PATH;
  if (override) {
    // A binary the user placed themselves: nothing to download, only to report.
    const path = electronBinaryPath(electronDir, env)!;
    if (existsSync(path)) return { ok: true, path };
    return { ok: false, message: missingMessage({ version, problem: `ELECTRON_OVERRIDE_DIST_PATH is ${override}, but ${path} does not exist` }) };
  }
  const found = electronBinaryPath(electronDir, env);
  if (found) return { ok: true, path: found };
  options.say(`Electron's binary is not installed yet; downloading Electron ${version} (about 100 MB) from ${env.ELECTRON_MIRROR ?? 'GitHub'}…`);
  const downloaded = await options.download();
  const path = electronBinaryPath(electronDir, env);
  if (downloaded.ok && path) return { ok: true, path };
  const reason = downloaded.ok ? 'the download finished but left no binary in node_modules/electron/dist' : downloaded.reason;
  return { ok: false, message: missingMessage({ version, problem: `downloading it failed: ${reason}` }) };
}

function missingMessage(options: { version: string; problem: string }): string {
  return [
    `Electron's binary is not installed, so the desktop app cannot start (${options.problem}).`,
    `The electron package (${options.version}) fetches its binary from GitHub (github.com/electron/electron/releases) on first use.`,
    'To get it:',
    '  - with access to github.com, run `npx install-electron`, then `npm start` again;',
    '  - through a mirror or proxy, set ELECTRON_MIRROR (https://www.electronjs.org/docs/latest/tutorial/installation) and run `npx install-electron`;',
    `  - or point ELECTRON_OVERRIDE_DIST_PATH at a directory holding an Electron ${options.version} binary.`,
    'Or run without Electron: `npm run serve` starts the same engine and prints the console\'s address to open in a browser.',
  ].join('\n');
}

function electronVersion(electronDir: string): string {
  try {
    return (JSON.parse(readFileSync(join(electronDir, 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown version';
  }
}

/**
 * Runs electron's install script (what `npx install-electron` runs), keeping its output: on failure
 * the reason is its first line (for a failed fetch, `TypeError: fetch failed`), not a stack trace.
 */
export function downloadWithInstallScript(electronDir: string, env: NodeJS.ProcessEnv): Promise<DownloadResult> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [join(electronDir, 'install.js')], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    child.once('error', (e) => resolve({ ok: false, reason: e.message }));
    child.once('close', (code, signal) => {
      if (code === 0) return resolve({ ok: true });
      const first = output.split('\n').map((l) => l.trim()).find((l) => l.length > 0);
      resolve({ ok: false, reason: first ?? `its install script exited with ${signal ?? `code ${code}`}` });
    });
  });
}
