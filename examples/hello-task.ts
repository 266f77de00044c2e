// The `hello` task, shared by hello.ts (worker + trigger in one process) and hello-worker.ts (worker only).
import { Cleaver } from 'cleaver-sdk';
import { setTimeout as sleep } from 'node:timers/promises';

export const cleaver = Cleaver.connect(); // CLEAVER_ADDRESS / CLEAVER_TOKEN, else ~/.cleaver/engine.sock

export const hello = cleaver.task({
  name: 'hello',
  retries: 3,
  backoff: { factor: 2, maxSeconds: 30 },
  executionTimeout: '30s',
  scheduleTimeout: '5m',
  fn: async (input: { name: string; sleepMs?: number }, ctx) => {
    ctx.log(`attempt ${ctx.attempt} saying hi to ${input.name}`);
    // A slow hello (sleepMs) lets you kill the worker mid-task and watch another one finish it.
    if (input.sleepMs) await sleep(input.sleepMs, undefined, { signal: ctx.signal });
    return { greeting: `hi ${input.name}` };
  },
});
