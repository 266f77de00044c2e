// Stopping an engine whose database has stopped answering: stop() ends within its timeout instead of
// retrying forever, says what it could not write, and the worker keeps the unacknowledged result.
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openDriver } from '../../engine/db/open-driver.ts';
import { Engine } from '../../engine/engine.ts';
import type { LogFields } from '../../engine/log.ts';
import { CleaverError } from '../../shared/errors.ts';
import { FAST, client, executions, kill, removeDir, spawnWorker, tempDir, waitFor } from './harness.ts';

describe('engine shutdown', () => {
  const dir = tempDir();
  afterAll(() => removeDir(dir));

  it('ends within shutdownTimeoutMs when the database stops answering mid-run', async () => {
    const driver = await openDriver({ inMemory: true });
    const warnings: Array<{ event: string; fields?: LogFields }> = [];
    const log = { info() {}, error() {}, warn: (event: string, fields?: LogFields) => void warnings.push({ event, fields }) };
    const engine = new Engine({ driver, socketPath: join(dir, 'engine.sock'), log, ...FAST, shutdownTimeoutMs: 500 });
    await engine.start();
    const worker = spawnWorker({ dir, tasks: ['slow'] });
    const cleaver = client(dir);
    try {
      await worker.ready;
      await cleaver.ref('slow').runNoWait({ ms: 300 });
      await waitFor('the task to start', () => executions(dir).some((e) => e.phase === 'start'));
      // From now on every statement fails as if the database were gone.
      const query = driver.query.bind(driver);
      driver.query = () => Promise.reject(new CleaverError('DATABASE', 'connection refused (simulated)'));
      await waitFor('the task to end on the worker', () => executions(dir).some((e) => e.phase === 'end'));
      // The attempt's start is written first (one write in flight), and retried while the database is gone.
      await waitFor('the engine to retry the write', () => warnings.some((w) => /^writing (task starts|attempt outcomes) failed/.test(w.event)));
      // The result itself is on its way over the local socket: give it time to reach the writer.
      await new Promise((resolve) => setTimeout(resolve, 200));
      // Without the bound this never resolves and the test times out.
      await engine.stop();
      const unwritten = warnings.find((w) => w.event.startsWith('stopping without writing every outcome'));
      // The start being retried and the outcome waiting behind it.
      expect(unwritten?.fields?.['pending']).toBeGreaterThanOrEqual(2);
      driver.query = query;
    } finally {
      await cleaver.close();
      await kill(worker);
      await driver.close();
    }
  });
});
