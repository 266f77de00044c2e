// A long-running worker for `hello`: trigger it from anywhere, e.g.
//   npx cleaver run hello --input '{"name":"x"}' --wait
// Kill it mid-task (try --input '{"name":"x","sleepMs":10000}') and start another: the run still completes.
import { cleaver, hello } from './hello-task.ts';

const worker = await cleaver.worker(`hello-worker-${process.pid}`, { workflows: [hello], slots: 10 });
await worker.start();
console.log(`worker ${worker.name} ready; Ctrl-C drains and exits`);
