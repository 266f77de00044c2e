// An event-triggered workflow: pushing `order:created` starts one run of every workflow whose `on.events`
// patterns match the key ('*' matches anything), in the same transaction that stores the event. The
// event's metadata is copied onto the runs it triggers, and a stored event can be replayed.
//
// With `npm run serve` running in another terminal: npx tsx examples/events.ts
// (or keep this worker out of it and push from a shell: npx cleaver events push order:created --payload '{"id":1}')
import { Cleaver } from 'cleaver-sdk';

const cleaver = Cleaver.connect(); // CLEAVER_ADDRESS / CLEAVER_TOKEN, else ~/.cleaver/engine.sock

// The event's payload is the run's input.
const orders = cleaver.workflow<{ id: number; total: number }>({ name: 'order-notify', on: { events: ['order:*'] } });
const receipt = orders.task({
  name: 'receipt',
  fn: (input, ctx) => ({ orderId: input.id, text: `order ${input.id}: ${input.total} EUR`, source: ctx.metadata.source }),
});
orders.task({
  name: 'email',
  parents: [receipt],
  fn: (_input, ctx) => ({ sent: ctx.parentOutput(receipt).text }),
});

const worker = await cleaver.worker('events-worker', { workflows: [orders], slots: 10 });
await worker.start();

// Waits for the runs an event triggered; awaitRun gives each run's outcome (status, output, error).
const outputs = (runIds: string[]) => Promise.all(runIds.map(async (id) => (await cleaver.awaitRun(id)).output));

const pushed = await cleaver.events.push('order:created', { id: 1, total: 42 }, { metadata: { source: 'example' } });
console.log('push order:created ->', pushed);
console.log('its runs output    ->', await outputs(pushed.runIds));

const unmatched = await cleaver.events.push('invoice:paid', { id: 1 });
console.log('push invoice:paid  ->', unmatched, '(no workflow listens for it)');

const replayed = await cleaver.events.replay(pushed.eventId);
console.log('replay             ->', replayed);
console.log('its runs output    ->', await outputs(replayed.runIds));

const [stored] = (await cleaver.events.list({ key: 'order:created', limit: 1 })).events;
console.log('stored event       ->', { id: stored?.id, payload: stored?.payload, replayedAt: stored?.replayedAt, runIds: stored?.runIds });

await cleaver.close(); // drains the worker and disconnects
