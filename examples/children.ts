// Child runs: a task fans out over another task with ctx.runChildren, waits for all of them and sums
// their outputs. The parent fails its first attempt *after* spawning, to show that a retried parent
// gets the same children back: children are keyed by (parent task run, key), the key defaulting to
// the call order ('#0', '#1', ...), so the retry finds the 20 runs of the first attempt, already done,
// instead of creating 20 more. Give an explicit key when the order of calls may change between tries.
//
// With `npm run serve` running in another terminal: npx tsx examples/children.ts
import { Cleaver } from 'cleaver-sdk';

const cleaver = Cleaver.connect(); // CLEAVER_ADDRESS / CLEAVER_TOKEN, else ~/.cleaver/engine.sock

const square = cleaver.task({
  name: 'square',
  fn: (input: { n: number }, ctx) => ({ n: input.n, squared: input.n * input.n, batch: ctx.metadata.batch }),
});

const sumOfSquares = cleaver.task({
  name: 'sum-of-squares',
  retries: 1,
  executionTimeout: '60s',
  fn: async (input: { count: number }, ctx) => {
    // One bulk insert for all the children; the outputs come back in the order of the array.
    const squares = await ctx.runChildren<{ squared: number; batch?: string }>(
      Array.from({ length: input.count }, (_, i) => ({ task: square, input: { n: i + 1 } })),
    );
    // One child with an explicit key: a retry asking for key 'largest' gets this same run back.
    const largest = await ctx.runChild(square, { n: input.count }, { key: 'largest' });
    if (ctx.attempt === 1) throw new Error('simulated crash after spawning the children');
    return {
      attempt: ctx.attempt,
      sum: squares.reduce((sum, s) => sum + s.squared, 0),
      largest: largest.squared,
      childMetadata: squares[0]?.batch, // children inherit the parent run's metadata
    };
  },
});

// The parent holds its slot while it awaits its children: give the worker enough slots for both.
const worker = await cleaver.worker('children-worker', { workflows: [square, sumOfSquares], slots: 10 });
await worker.start();

const ref = await sumOfSquares.runNoWait({ count: 20 }, { metadata: { batch: 'demo' } });
console.log('sum-of-squares ->', await ref.result());

const parent = (await cleaver.runs.get(ref.runId)).taskRuns[0]!;
const children = await cleaver.runs.list({ parentTaskRunId: parent.id, limit: 1000 });
console.log(`parent ran ${parent.attempt} attempts and spawned ${children.runs.length} child runs (20 + 'largest'), not ${2 * children.runs.length}`);

await cleaver.close(); // drains the worker and disconnects
