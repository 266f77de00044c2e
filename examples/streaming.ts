// Streaming: a task puts chunks as it produces them — the words of an answer, a progress value, some
// bytes — and whoever follows the run gets them as they come. The follower here attaches late, after
// the first words were put: it gets those first (the engine keeps the newest 64 KiB of each task
// run's stream), then the rest live, in order, and its loop ends when the run does. Open the run in
// the console (`npm run serve` prints its address) to watch the same stream in the task's panel.
//
// With `npm run serve` running in another terminal: npx tsx examples/streaming.ts
import { setTimeout as sleep } from 'node:timers/promises';
import { Cleaver } from 'cleaver-sdk';

const cleaver = Cleaver.connect(); // CLEAVER_ADDRESS / CLEAVER_TOKEN, else ~/.cleaver/engine.sock

const answer = cleaver.task({
  name: 'answer',
  executionTimeout: '60s',
  fn: async (input: { question: string }, ctx) => {
    const words = `You asked: ${input.question} Here is the answer, one word at a time.`.split(' ');
    for (const [i, word] of words.entries()) {
      // Resolves at once while the engine keeps up (it acknowledges chunks in batches).
      await ctx.putStream(`${word} `);
      if ((i + 1) % 5 === 0) await ctx.putStream({ progress: (i + 1) / words.length });
      await sleep(100);
    }
    await ctx.putStream(new Uint8Array([0xca, 0xfe]));
    return { words: words.length };
  },
});

const worker = await cleaver.worker('streaming-worker', { workflows: [answer], slots: 10 });
await worker.start();

const ref = await answer.runNoWait({ question: 'what does streaming look like?' });
await sleep(450); // attach late: the first words were streamed before anyone listened

process.stdout.write('stream      -> ');
const stream = ref.stream(); // or cleaver.runs.stream(runId), from any client
for await (const event of stream) {
  if (event.type === 'chunk' && event.kind === 'text') process.stdout.write(event.data);
  else if (event.type === 'chunk' && event.kind === 'json') process.stdout.write(`[${JSON.stringify(event.data)}] `);
  else if (event.type === 'chunk') process.stdout.write(`[${event.data.length} bytes] `);
  else if (event.type === 'cut') process.stdout.write(`[${event.chunks} older chunks no longer kept] `);
  else process.stdout.write(`[${event.chunks} chunks dropped: this loop fell behind] `);
}
console.log(`\nrun ended   -> ${stream.status}`, await ref.result());

await cleaver.close(); // drains the worker and disconnects
