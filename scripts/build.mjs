// Compiles engine/, sdk/ and shared/ to dist/ and copies the SQL migrations beside the compiled
// migration runner, so `npm install` leaves a runnable `cleaver` bin and an importable `cleaver/sdk`;
// then bundles the console (renderer/) into dist/renderer, which `cleaver serve` and the desktop app load.
import { execFileSync } from 'node:child_process';
import { chmodSync, cpSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
rmSync(join(root, 'dist'), { recursive: true, force: true });
// typescript's "exports" hide bin/, so find it from its package.json.
const typescriptDir = dirname(require.resolve('typescript/package.json'));
const tsc = join(typescriptDir, require('typescript/package.json').bin.tsc);
execFileSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.build.json')], { stdio: 'inherit', cwd: root });
cpSync(join(root, 'engine/sql/migrations'), join(root, 'dist/engine/sql/migrations'), { recursive: true });
chmodSync(join(root, 'dist/engine/cli.js'), 0o755);
execFileSync(process.execPath, [join(root, 'scripts/build-main.mjs')], { stdio: 'inherit', cwd: root });
// Vite's JavaScript API, not its bin: no shell, and the same code path on every OS.
const { build } = await import('vite');
await build({ configFile: join(root, 'vite.config.ts'), logLevel: 'warn' });
