// Per-user fairness: a concurrency key on input.userId. Alice queues 8 exports before Bob and Carol
// queue 3 each; without a key the worker would run all of Alice's first (FIFO). With the key, at most
// 2 exports of one user run at once, and GROUP_ROUND_ROBIN serves the users in turn, so Bob and Carol
// start at once instead of waiting behind Alice's backlog.
//
// With `npm run serve` running in another terminal: npx tsx examples/per-user-fairness.ts
import { Cleaver } from 'cleaver-sdk';
import { setTimeout as sleep } from 'node:timers/promises';

const cleaver = Cleaver.connect(); // CLEAVER_ADDRESS / CLEAVER_TOKEN, else ~/.cleaver/engine.sock

let t0 = 0;
const seconds = () => ((Date.now() - t0) / 1000).toFixed(2).padStart(5);
const running = new Map<string, number>();
const mostAtOnce = new Map<string, number>();

const exportReport = cleaver.task({
  name: 'export-report',
  concurrency: { expression: 'input.userId', maxRuns: 2, limitStrategy: 'GROUP_ROUND_ROBIN' },
  fn: async (input: { userId: string; n: number }) => {
    const now = (running.get(input.userId) ?? 0) + 1;
    running.set(input.userId, now);
    mostAtOnce.set(input.userId, Math.max(now, mostAtOnce.get(input.userId) ?? 0));
    console.log(`+${seconds()}s  start  ${input.userId.padEnd(5)} #${input.n}  (${now} of ${input.userId}'s running)`);
    await sleep(300);
    running.set(input.userId, running.get(input.userId)! - 1);
    return { userId: input.userId, n: input.n };
  },
});

// Queued before any worker is there, Alice's first: the order a plain FIFO queue would run them in.
const batch = (userId: string, count: number) => Array.from({ length: count }, (_, i) => ({ userId, n: i + 1 }));
const refs = [
  ...(await exportReport.runManyNoWait(batch('alice', 8))),
  ...(await exportReport.runManyNoWait(batch('bob', 3))),
  ...(await exportReport.runManyNoWait(batch('carol', 3))),
];

// 4 slots for 3 users: slots are scarce, and the key's rotation decides who gets the next free one.
const worker = await cleaver.worker('fairness-worker', { workflows: [exportReport], slots: 4 });
t0 = Date.now();
await worker.start();

const done = new Map<string, number>();
await Promise.all(refs.map(async (ref) => {
  const out = await ref.result();
  done.set(out.userId, Date.now() - t0);
}));
for (const [userId, ms] of [...done].sort((a, b) => a[1] - b[1])) {
  console.log(`${userId.padEnd(5)} all done at +${(ms / 1000).toFixed(2)}s, at most ${mostAtOnce.get(userId)} running at once`);
}

await cleaver.close(); // drains the worker and disconnects
