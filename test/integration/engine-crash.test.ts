// SIGKILL the engine (a real `cleaver serve` process) with tasks queued and running: after a restart,
// every run completes and none is lost. On PGlite this also proves committed writes survive the crash.
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { forEachDriverKind, freshSchemaName, dropSchema } from '../driver/drivers.ts';
import type { Cleaver } from '../../sdk/index.ts';
import { client, executions, kill, removeDir, spawnEngine, spawnWorker, tempDir, waitFor } from './harness.ts';

forEachDriverKind('engine crash', (kind, databaseUrl) => {
  let dir: string;
  let schema: string;
  let args: string[];
  let cleaver: Cleaver | undefined;

  beforeAll(() => {
    dir = tempDir();
    schema = freshSchemaName('crash');
    args = kind === 'pg' ? ['--database-url', databaseUrl!, '--schema', schema] : ['--data-dir', join(dir, 'data')];
  });

  afterAll(async () => {
    await cleaver?.close();
    if (kind === 'pg') await dropSchema(databaseUrl!, schema);
    removeDir(dir);
  });

  it('loses no run when the engine is SIGKILLed with tasks queued and running', async () => {
    const first = spawnEngine({ dir, args });
    await first.ready;
    const worker = spawnWorker({ dir, tasks: ['slow'], slots: 4 });
    try {
      await worker.ready;
      cleaver = client(dir);
      const refs = await cleaver.ref<{ ms: number }, { pid: number }>('slow').runManyNoWait(Array.from({ length: 16 }, () => ({ ms: 400 })));
      await waitFor('some tasks to be running', () => executions(dir).filter((e) => e.phase === 'start').length >= 4);
      await kill(first);

      const second = spawnEngine({ dir, args });
      try {
        await second.ready;
        const results = await Promise.all(refs.map((r) => r.result()));
        expect(results).toHaveLength(16);
        const ends = executions(dir).filter((e) => e.phase === 'end');
        const completedRuns = new Set(ends.map((e) => e.taskRunId));
        expect(completedRuns.size).toBe(16);
        const output = second.output();
        expect(output).toMatch(/ready/);
      } finally {
        await kill(second, 'SIGTERM');
      }
    } finally {
      await kill(worker);
    }
  }, 60_000);
});
