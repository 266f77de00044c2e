// Bundles the Electron preload (main/preload.ts and what it imports) into one CommonJS file,
// <out>/preload.cjs (`node scripts/build-main.mjs dist-desktop/main`): a sandboxed preload can neither
// be an ES module nor require our other files. The rest of main/ is compiled by tsc with the engine
// (tsconfig.desktop.json).
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'vite';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const outDir = process.argv[2];
if (!outDir) throw new Error('usage: node scripts/build-main.mjs <output dir>');

await build({
  configFile: false,
  root,
  logLevel: 'warn',
  build: {
    outDir,
    emptyOutDir: false,
    minify: false,
    sourcemap: false,
    copyPublicDir: false,
    // Electron 45's Chromium.
    target: 'chrome140',
    lib: { entry: join(root, 'main/preload.ts'), formats: ['cjs'], fileName: () => 'preload.cjs' },
    rollupOptions: { external: ['electron'] },
  },
});
