// `npm start`: the desktop app from this checkout. Glue only: find (or fetch) Electron's binary first,
// so a missing one costs no build and gets a plain answer (scripts/electron-binary.ts); then build the
// app into dist-desktop/ (never dist/, which a running `cleaver serve` uses) and run it.
import { execFileSync, spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { downloadWithInstallScript, ensureElectronBinary } from './electron-binary.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
let electronDir: string;
try {
  electronDir = dirname(createRequire(import.meta.url).resolve('electron/package.json'));
} catch {
  process.stderr.write('The electron package is not installed (it is a devDependency): run `npm install`, or `npm run serve` to run without Electron.\n');
  process.exit(1);
}
const binary = await ensureElectronBinary({
  electronDir,
  env: process.env,
  download: () => downloadWithInstallScript(electronDir, process.env),
  say: (line) => process.stdout.write(`${line}\n`),
});
if (!binary.ok) {
  process.stderr.write(`${binary.message}\n`);
  process.exit(1);
}
execFileSync(process.execPath, [join(root, 'scripts/build.mjs'), '--desktop'], { stdio: 'inherit', cwd: root });
// What `electron .` does, with the binary already found: the app is package.json's "main".
const app = spawn(binary.path, [root, ...process.argv.slice(2)], { stdio: 'inherit' });
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => app.kill(signal));
app.once('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
