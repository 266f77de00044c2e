// worker.mjs: a task, a worker that serves it, and one run. `node worker.mjs` runs it
// against the engine at CLEAVER_ADDRESS (tcp:// needs CLEAVER_TOKEN too), else at
// ~/.cleaver/engine.sock, where `cleaver serve` listens by default.
import { Cleaver } from 'cleaver-sdk';

const cleaver = Cleaver.connect();

const greet = cleaver.task({
  name: 'greet',
  fn: async (input, ctx) => {
    ctx.log(`greeting ${input.name}`);
    return { greeting: `hello ${input.name}` };
  },
});

const worker = await cleaver.worker('my-worker', { workflows: [greet], slots: 10 });
await worker.start();
console.log(await greet.run({ name: 'world' }));
console.log('my-worker serves greet until Ctrl-C');
