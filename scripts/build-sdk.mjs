// Builds packages/sdk/dist, the `cleaver-sdk` package a user installs into their own project:
// sdk/ and the shared/ files it imports, compiled to CommonJS with declarations (tsconfig.sdk.json),
// plus an ES module entry (index.mjs) that re-exports that same CommonJS build, so `import` and
// `require()` get the same classes. Refuses a build that reaches beyond sdk/ and shared/ or requires a
// package: the SDK runs in a user's worker process with no dependencies at all.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { builtinModules, createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, 'packages/sdk/dist');
const require = createRequire(import.meta.url);

rmSync(out, { recursive: true, force: true });
const typescriptDir = dirname(require.resolve('typescript/package.json'));
const tsc = join(typescriptDir, require('typescript/package.json').bin.tsc);
execFileSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.sdk.json')], { stdio: 'inherit', cwd: root });

const emitted = readdirSync(out, { recursive: true, withFileTypes: true })
  .filter((e) => e.isFile())
  .map((e) => join(e.parentPath, e.name));
const builtins = new Set(builtinModules);
for (const file of emitted) {
  const path = relative(out, file);
  if (!/^(sdk|shared)\//.test(path)) {
    throw new Error(`the SDK build emitted ${path}: sdk/ must import only sdk/ and shared/ (the package has no engine code)`);
  }
  if (file.endsWith('.js')) {
    for (const [, specifier] of readFileSync(file, 'utf8').matchAll(/require\("([^"]+)"\)/g)) {
      if (!specifier.startsWith('.') && !builtins.has(specifier.replace(/^node:/, ''))) {
        throw new Error(`${path} requires "${specifier}": the SDK package has no dependencies; use Node's built-ins or shared/`);
      }
    }
  }
  if (file.endsWith('.d.ts')) {
    // tsc keeps the sources' `./x.ts` specifiers in declarations; `./x.js` is what every TypeScript
    // version a user may have resolves.
    const text = readFileSync(file, 'utf8');
    writeFileSync(file, text.replace(/(from\s+|import\()(['"])(\.{1,2}\/[^'"]+)\.ts\2/g, '$1$2$3.js$2'));
  }
}

// The ES module entry lists the CommonJS build's exports by name, read from the build itself.
const names = Object.keys(require(join(out, 'sdk/index.js'))).filter((n) => n !== '__esModule').sort();
writeFileSync(
  join(out, 'index.mjs'),
  `// The ES module entry of cleaver-sdk: the CommonJS build re-exported, so import and require() share one copy.\n` +
    `import sdk from './sdk/index.js';\n\nexport const { ${names.join(', ')} } = sdk;\n`,
);
writeFileSync(join(out, 'index.d.mts'), `export * from './sdk/index.js';\n`);
