// worker.mjs: a task, a worker that serves it, and one run. Run it with `node worker.mjs`; it finds
// the engine at CLEAVER_ADDRESS (CLEAVER_TOKEN too for tcp://), else at ~/.cleaver/engine.sock.
import { Cleaver } from 'cleaver-sdk';

const cleaver = Cleaver.connect();

const hello = cleaver.task({
  name: 'hello',
  fn: async (input, ctx) => {
    ctx.log(`greeting ${input.name}`);
    return { greeting: `hello ${input.name}` };
  },
});

const worker = await cleaver.worker('my-worker', { workflows: [hello], slots: 10 });
await worker.start();
console.log(await hello.run({ name: 'world' }));
console.log('my-worker serves hello until Ctrl-C');
