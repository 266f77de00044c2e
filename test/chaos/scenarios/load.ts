/** The producer side of the scenarios: a steady trigger rate, batched every tick. */
import type { Cleaver } from '../../../sdk/index.ts';
import { type Scenario, sleep } from '../scenario.ts';

const TICK_MS = 100;

/**
 * Triggers about `runsPerSecond` runs for `seconds`, one batch per workflow every 100 ms; `batch(i)`
 * says what run number i is. Triggers cut off by a fault are retried by Scenario.trigger, and do not
 * hold up the next tick (a slow tick's triggers overlap the next one's).
 */
export async function steadyLoad(
  scenario: Scenario,
  client: Cleaver,
  options: { seconds: number; runsPerSecond: number; batch: (i: number) => { workflow: string; input: unknown } },
): Promise<void> {
  const perTick = Math.max(1, Math.round((options.runsPerSecond * TICK_MS) / 1000));
  const ticks = Math.round((options.seconds * 1000) / TICK_MS);
  const inFlight: Array<Promise<unknown>> = [];
  let n = 0;
  const startedAt = Date.now();
  for (let tick = 0; tick < ticks; tick++) {
    const byWorkflow = new Map<string, unknown[]>();
    for (let k = 0; k < perTick; k++) {
      const { workflow, input } = options.batch(n++);
      byWorkflow.set(workflow, [...(byWorkflow.get(workflow) ?? []), input]);
    }
    for (const [workflow, inputs] of byWorkflow) inFlight.push(scenario.trigger(client, workflow, inputs));
    const next = startedAt + (tick + 1) * TICK_MS;
    await sleep(Math.max(0, next - Date.now()));
  }
  await Promise.all(inFlight);
}
