// A producer can queue work for a task or workflow it declared before any worker has registered it
// (a web server that boots before its workers): its declaration is registered with the first trigger.
// A name known only by reference still needs a worker to have registered it.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { forEachDriver } from '../driver/drivers.ts';
import type { Engine } from '../../engine/engine.ts';
import type { Cleaver } from '../../sdk/index.ts';
import { client, removeDir, startEngine, tempDir } from './harness.ts';

forEachDriver('trigger before any worker', (getDriver) => {
  let dir: string;
  let engine: Engine;
  let producer: Cleaver;
  let workerSide: Cleaver;
  beforeAll(async () => {
    dir = tempDir();
    engine = await startEngine(getDriver(), dir);
    producer = client(dir);
    workerSide = client(dir);
  });
  afterAll(async () => {
    await producer?.close();
    await workerSide?.close();
    await engine?.stop();
    if (dir) removeDir(dir);
  });

  it('queues runs of a declared task and workflow until a worker for them starts', async () => {
    const name = `early-${randomUUID().slice(0, 8)}`;
    const declare = (c: Cleaver) => c.task({ name, retries: 2, fn: (input: { n: number }) => ({ doubled: input.n * 2 }) });
    const flowName = `${name}-flow`;
    const declareFlow = (c: Cleaver) => {
      const wf = c.workflow<{ n: number }>({ name: flowName });
      const a = wf.task({ name: 'a', fn: (input) => input.n + 1 });
      wf.task({ name: 'b', parents: [a], fn: (_i, ctx) => (ctx.parentOutput(a) as number) * 10 });
      return wf;
    };

    // Only a reference: unknown, as before.
    await expect(producer.ref(name).runNoWait({ n: 1 })).rejects.toMatchObject({ code: 'UNKNOWN_TASK' });

    const task = declare(producer);
    const flow = declareFlow(producer);
    const queued = await task.runManyNoWait([{ n: 1 }, { n: 2 }]);
    const flowRun = await flow.runNoWait({ n: 4 });
    expect((await producer.runs.get(queued[0]!.runId)).run.status).toBe('queued');
    // Later triggers (the declaration is registered now) and refs by name work too.
    const byRef = await producer.ref(name).runNoWait({ n: 3 });

    const worker = await workerSide.worker(`${name}-worker`, { workflows: [declare(workerSide), declareFlow(workerSide)], handleSignals: false });
    await worker.start();
    expect(await Promise.all([...queued, byRef].map((r) => r.result()))).toEqual([{ doubled: 2 }, { doubled: 4 }, { doubled: 6 }]);
    expect(await flowRun.result()).toEqual({ a: 5, b: 50 });
    // The worker's identical declaration is the same version: no second one was made.
    const workflow = (await producer.runs.get(queued[0]!.runId)).run;
    expect(workflow.workflowVersion).toBe(1);
    await worker.stop();
  });
});
