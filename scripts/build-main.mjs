// Bundles the Electron preload (main/preload.ts and what it imports) into one CommonJS file,
// dist/main/preload.cjs: a sandboxed preload can neither be an ES module nor require our other files.
// The rest of main/ is compiled by tsc with the engine (tsconfig.build.json).
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'vite';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

await build({
  configFile: false,
  root,
  logLevel: 'warn',
  build: {
    outDir: join(root, 'dist/main'),
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
