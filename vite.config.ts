// Builds the console (renderer/) into dist/renderer. base './' keeps every asset URL relative, so the
// same build loads from file:// in the desktop app and from / when `cleaver serve` serves it.
import { defineConfig, type Plugin } from 'vite';
import react from '@vitejs/plugin-react';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('./renderer', import.meta.url));

// `vite dev` injects an inline script (React refresh) that the CSP in index.html forbids; the CSP is
// for what ships, so the dev server alone drops it.
const devWithoutCsp: Plugin = {
  name: 'cleaver-dev-without-csp',
  apply: 'serve',
  transformIndexHtml: (html) => html.replace(/\s*<meta http-equiv="Content-Security-Policy"[^>]*>/, ''),
};

export default defineConfig({
  root,
  base: './',
  plugins: [react(), devWithoutCsp],
  build: {
    outDir: fileURLToPath(new URL('./dist/renderer', import.meta.url)),
    emptyOutDir: true,
    target: 'es2022',
    chunkSizeWarningLimit: 1500,
  },
  server: { host: '127.0.0.1' },
});
