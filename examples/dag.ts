// A DAG workflow: fetch → three resizes in parallel → publish, which combines their outputs.
// `resize-large` fails its first attempt and succeeds on the retry (after a 2 s backoff); a second run
// breaks `resize-small` for good to show what a failure does: `publish` is cancelled (UPSTREAM_FAILED),
// the other resizes still finish, the onFailure hook runs, and the run fails.
//
// With `npm run serve` running in another terminal: npx tsx examples/dag.ts
import { Cleaver, NonRetryableError, TaskRunError } from 'cleaver-sdk';

const cleaver = Cleaver.connect(); // CLEAVER_ADDRESS / CLEAVER_TOKEN, else ~/.cleaver/engine.sock

type Input = { url: string; corrupt?: boolean };
type Resized = { width: number; bytes: number };

const images = cleaver.workflow<Input>({ name: 'images', description: 'fetch an image, resize it three ways, publish' });

const fetchImage = images.task({
  name: 'fetch',
  fn: (input) => ({ url: input.url, bytes: 120_000 }),
});

const resize = (name: string, width: number) =>
  images.task<Resized>({
    name: `resize-${name}`,
    parents: [fetchImage],
    retries: 2,
    backoff: { factor: 2, maxSeconds: 10 }, // retry n waits min(10, 2 ** n) seconds
    executionTimeout: '30s',
    fn: (input, ctx) => {
      if (name === 'large' && ctx.attempt === 1) throw new Error('simulated crash on the first attempt');
      if (name === 'small' && input.corrupt) throw new NonRetryableError('the image is corrupt: retrying will not help');
      const original = ctx.parentOutput(fetchImage);
      ctx.log(`attempt ${ctx.attempt}: resizing ${original.url} to ${width}px`);
      return { width, bytes: Math.round((original.bytes * width) / 2048) };
    },
  });
const small = resize('small', 256);
const medium = resize('medium', 768);
const large = resize('large', 1536);

images.task({
  name: 'publish',
  parents: [small, medium, large],
  fn: (input, ctx) => {
    const sizes = [small, medium, large].map((task) => ctx.parentOutput(task));
    return { url: input.url, widths: sizes.map((s) => s.width), totalBytes: sizes.reduce((sum, s) => sum + s.bytes, 0) };
  },
});

// Runs once, after every other task of the run has ended, if any of them failed.
images.onFailure({
  name: 'alert',
  fn: (_input, ctx) => {
    const failed = ctx.failures.map((f) => `${f.taskName} (${f.failureReason}: ${f.error?.message})`);
    console.log('  [onFailure] failed:', failed.join(', '));
    return { alerted: failed.length };
  },
});

const worker = await cleaver.worker('dag-worker', { workflows: [images], slots: 10 });
await worker.start();

console.log('run 1: resize-large fails once, then succeeds on its retry');
const out = await images.run({ url: 'https://example.com/cat.png' });
console.log('output ->', out);

console.log('run 2: resize-small fails for good');
const ref = await images.runNoWait({ url: 'https://example.com/broken.png', corrupt: true });
const error = await ref.result().then(() => null, (e: unknown) => e);
console.log('result ->', error instanceof TaskRunError ? `TaskRunError: ${error.message}` : error);
const details = await cleaver.runs.get(ref.runId);
console.log('run status ->', details.run.status);
for (const t of details.taskRuns) console.log(`  ${t.taskName.padEnd(13)} ${t.status.padEnd(9)} attempts=${t.attempt} ${t.failureReason ?? ''}`);

await cleaver.close(); // drains the worker and disconnects
