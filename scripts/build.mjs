// Builds what the checkout runs. `node scripts/build.mjs` (npm install's prepare, npm test) compiles
// engine/, sdk/ and shared/ to dist/ with the SQL migrations beside the compiled migration runner, so
// `npm install` leaves a runnable `cleaver` bin; bundles the console (renderer/) into dist/renderer,
// which `cleaver serve` serves; and builds the SDK package users install (packages/sdk, cleaver-sdk).
// `node scripts/build.mjs --desktop` (npm start, npm run dist) builds the desktop app into its own
// dist-desktop/ instead (the engine, main/ with its bundled preload, the console), so starting the app
// never deletes or rewrites the files of a `cleaver serve` running from dist/.
import { execFileSync } from 'node:child_process';
import { chmodSync, cpSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const { values } = parseArgs({ options: { desktop: { type: 'boolean', default: false } } });
const out = join(root, values.desktop ? 'dist-desktop' : 'dist');

rmSync(out, { recursive: true, force: true });
// typescript's "exports" hide bin/, so find it from its package.json.
const typescriptDir = dirname(require.resolve('typescript/package.json'));
const tsc = join(typescriptDir, require('typescript/package.json').bin.tsc);
const tsconfig = values.desktop ? 'tsconfig.desktop.json' : 'tsconfig.build.json';
execFileSync(process.execPath, [tsc, '-p', join(root, tsconfig)], { stdio: 'inherit', cwd: root });
cpSync(join(root, 'engine/sql/migrations'), join(out, 'engine/sql/migrations'), { recursive: true });
if (values.desktop) {
  execFileSync(process.execPath, [join(root, 'scripts/build-main.mjs'), join(out, 'main')], { stdio: 'inherit', cwd: root });
} else {
  chmodSync(join(out, 'engine/cli.js'), 0o755);
  execFileSync(process.execPath, [join(root, 'scripts/build-sdk.mjs')], { stdio: 'inherit', cwd: root });
}
// Vite's JavaScript API, not its bin: no shell, and the same code path on every OS.
const { build } = await import('vite');
await build({ configFile: join(root, 'vite.config.ts'), logLevel: 'warn', build: { outDir: join(out, 'renderer') } });
