import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Child processes (PGlite, engines, workers) and WASM startup need room; a hang still fails.
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Forks, not threads: tests spawn and SIGKILL processes, and PGlite's WASM heap is per process.
    pool: 'forks',
    // The CI machine has 2 cores; more workers only make PGlite startups and child processes contend.
    maxWorkers: 2,
  },
});
