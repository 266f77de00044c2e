// "Newest wins": a concurrency key on the document id with CANCEL_IN_PROGRESS. Saving a document takes
// a while; a new save of the same document cancels the one in flight (its ctx.signal aborts, and its
// run ends cancelled with reason CONCURRENCY_LIMIT), so only the latest version is written. Saves of
// another document are not affected.
//
// With `npm run serve` running in another terminal: npx tsx examples/newest-wins.ts
import { Cleaver, TaskRunError } from 'cleaver-sdk';
import { setTimeout as sleep } from 'node:timers/promises';

const cleaver = Cleaver.connect(); // CLEAVER_ADDRESS / CLEAVER_TOKEN, else ~/.cleaver/engine.sock

let t0 = Date.now();
const at = () => `+${((Date.now() - t0) / 1000).toFixed(2)}s`;

const saveDocument = cleaver.task({
  name: 'save-document',
  concurrency: { expression: 'input.docId', maxRuns: 1, limitStrategy: 'CANCEL_IN_PROGRESS' },
  fn: async (input: { docId: string; version: number }, ctx) => {
    const name = `${input.docId} v${input.version}`;
    console.log(`${at()}  ${name}: saving`);
    ctx.signal.addEventListener('abort', () => console.log(`${at()}  ${name}: ctx.signal aborted, a newer save took over`));
    await sleep(1_500, undefined, { signal: ctx.signal }); // rejects with an AbortError when the signal aborts
    console.log(`${at()}  ${name}: saved`);
    return { saved: name };
  },
});

const worker = await cleaver.worker('newest-wins-worker', { workflows: [saveDocument], slots: 10 });
await worker.start();
t0 = Date.now();

const isRunning = async (runId: string) => (await cleaver.runs.get(runId)).run.status === 'running';
const save = async (docId: string, version: number) => {
  const ref = await saveDocument.runNoWait({ docId, version });
  while (!(await isRunning(ref.runId))) await sleep(20);
  return { name: `${docId} v${version}`, ref };
};

// Three saves of doc-1, each while the previous one is still saving; one save of doc-2 alongside.
const saves = [await save('doc-1', 1), await save('doc-2', 1)];
await sleep(300);
saves.push(await save('doc-1', 2));
await sleep(300);
saves.push(await save('doc-1', 3));

const outcomes = await Promise.all(saves.map(({ ref }) => ref.result().then(
  (out) => `succeeded ${JSON.stringify(out)}`,
  (e: unknown) => (e instanceof TaskRunError ? `${e.failureReason}: ${e.message}` : String(e)),
)));
saves.forEach(({ name }, i) => console.log(`${name.padEnd(9)} -> ${outcomes[i]}`));

await cleaver.close(); // drains the worker and disconnects
