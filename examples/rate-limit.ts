// A third-party API's rate limit: the API allows 5 calls a second, so a static rate-limit key
// `example-api` admits at most 5 units in any 1-second interval, and the task asks 1 unit per call.
// 15 calls queued at once start 5 at a time, about a second apart; those over the limit wait (their
// run details say why), they do not fail. A task asking more units than the limit is refused when its
// worker registers: it could never start.
//
// With `npm run serve` running in another terminal: npx tsx examples/rate-limit.ts
import { Cleaver, type RunDetails } from 'cleaver-sdk';

const cleaver = Cleaver.connect(); // CLEAVER_ADDRESS / CLEAVER_TOKEN, else ~/.cleaver/engine.sock

// A static key must exist before a worker registers a task that uses it (also: `cleaver rate-limits put`).
const key = await cleaver.rateLimits.upsert({ key: 'example-api', limit: 5, duration: 'second' });
console.log(`rate limit ${key.key}: ${key.limit} per ${key.duration} (${key.kind})`);

const callApi = cleaver.task({
  name: 'call-example-api',
  rateLimits: [{ staticKey: 'example-api', units: 1 }],
  fn: async (input: { call: number }) => ({ call: input.call, status: 200 }),
});

const worker = await cleaver.worker('rate-limit-worker', { workflows: [callApi], slots: 20 });
await worker.start();

const refs = await callApi.runManyNoWait(Array.from({ length: 15 }, (_, i) => ({ call: i + 1 })));

// The last call waits for the window to refill; its run details say so.
const last = refs.at(-1)!;
for (let i = 0; i < 50; i++) {
  const reason = (await cleaver.runs.get(last.runId)).taskRuns[0]!.waitReason;
  if (reason?.kind === 'rate_limit') {
    console.log('call 15 waits ->', reason);
    break;
  }
  await new Promise((resolve) => setTimeout(resolve, 20));
}

await Promise.all(refs.map((ref) => ref.result()));

// assignedAt is when the scheduler admitted the call: the times the limit is kept against.
const details: RunDetails[] = await Promise.all(refs.map((ref) => cleaver.runs.get(ref.runId)));
const admitted = details.map((d) => Date.parse(d.taskRuns[0]!.assignedAt!)).sort((a, b) => a - b);
const t0 = admitted[0]!;
const perSecond = new Map<number, number[]>();
for (const at of admitted) {
  const second = Math.floor((at - t0) / 1000);
  perSecond.set(second, [...(perSecond.get(second) ?? []), at - t0]);
}
for (const [second, offsets] of perSecond) {
  console.log(`second ${second}: ${offsets.length} starts, at ${[...new Set(offsets)].map((ms) => `+${ms} ms`).join(', ')}`);
}
const most = Math.max(...admitted.map((at) => admitted.filter((x) => x >= at && x < at + 1000).length));
console.log(`most starts in any 1 s interval: ${most} (limit 5)`);

// Asking 6 units of a 5-unit limit could never start: the engine refuses the registration.
const greedy = cleaver.task({ name: 'greedy-api-call', rateLimits: [{ staticKey: 'example-api', units: 6 }], fn: () => null });
const refused = await cleaver.worker('greedy-worker', { workflows: [greedy] }).then((w) => w.start()).then(() => null, (e: unknown) => e);
console.log('greedy worker ->', refused instanceof Error ? refused.message : 'started (unexpected)');

await cleaver.close(); // drains the worker and disconnects
