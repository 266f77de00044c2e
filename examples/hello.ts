// Quick start: `npm run serve` in one terminal, then `npx tsx examples/hello.ts` in another.
import { cleaver, hello } from './hello-task.ts';

const worker = await cleaver.worker('hello-worker', { workflows: [hello], slots: 10 });
await worker.start(); // resolves once the engine has registered the worker

const out = await hello.run({ name: 'world' });
console.log('hello.run   ->', out);

const ref = await hello.runNoWait({ name: 'later' });
console.log('runNoWait   ->', ref.runId, await ref.result());

const many = await hello.runMany([{ name: 'a' }, { name: 'b' }, { name: 'c' }]);
console.log('runMany     ->', many);

await cleaver.close(); // drains the worker and disconnects
