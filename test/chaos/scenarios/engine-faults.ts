/**
 * Faults that hit engines and their database connections: SIGKILL and restart mid-DAG, two engines on
 * one Postgres with one killed (its workers fail over), and pg_terminate_backend storms.
 */
import type { Cleaver } from '../../../sdk/index.ts';
import type { DriverKind } from '../../driver/drivers.ts';
import { readRecords, type EffectRecord } from '../chaos-log.ts';
import { percentiles } from '../invariants.ts';
import type { Profile } from '../profile.ts';
import { WorkerPool, seededRandom, sleep, withScenario, type Scenario, type ScenarioReport } from '../scenario.ts';
import { steadyLoad } from './load.ts';

const ENGINE_KILL_HEARTBEAT_TIMEOUT_MS = 5_000;

export async function engineKill(kind: DriverKind, profile: Profile): Promise<ScenarioReport> {
  const p = profile.engineKill;
  const kills = p.kills[kind] ?? 0;
  // The heartbeat timeout must outlast a worker's way back: the engine's restart plus the SDK's
  // reconnect backoff (up to 2 s). With 1.5 s, a worker back 1.6 s after the restart is rightly judged
  // gone and its attempts, finished or not, run again — a re-run this scenario would count as a
  // discarded result.
  return withScenario('engine-kill', kind, async (scenario) => {
    let engine = await scenario.startEngine();
    // The workers reconnect by themselves; the supervisor only replaces one that gave up and exited.
    const pool = new WorkerPool(scenario, { size: 2, address: engine.address });
    await pool.start();
    const client = scenario.client(engine.address);
    const random = seededRandom(Number(process.env.CHAOS_SEED ?? 7));
    const restartMs: number[] = [];
    const backMs: number[] = [];
    for (let k = 0; k < kills; k++) {
      // A round starts once both workers are back and the last round's work has drained, so that each
      // kill lands on work in flight rather than on a queue that grows round after round.
      const waitedMs = await untilServing(client, { workers: 2, withinMs: 30_000 });
      if (waitedMs === null) scenario.failures.push(`round ${k + 1}: the workers were not back at work 30 s after the engine restarted`);
      else if (k > 0) backMs.push(waitedMs);
      await scenario.trigger(client, 'chaos-dag', Array.from({ length: p.dagsPerRound }, () => ({ ms: 20 + Math.floor(random() * 130) })));
      await scenario.trigger(client, 'chaos-work', Array.from({ length: p.tasksPerRound }, () => ({ ms: 20 + Math.floor(random() * 300) })));
      // Keyed work too: a new engine must pick up the keys held across the kill, never start a third.
      await scenario.trigger(client, 'chaos-keyed', Array.from({ length: 12 }, (_, j) => ({ ms: 50 + Math.floor(random() * 200), key: `k${j % 3}` })));
      // A random point: some DAGs not started, some mid-way, some done.
      await sleep(100 + Math.floor(random() * 900));
      const killedAt = Date.now();
      engine = (await scenario.killEngine(engine, { restart: true }))!;
      restartMs.push(Date.now() - killedAt);
    }
    const endedAt = await scenario.settle(client, 60_000);
    scenario.measured['engine restart, SIGKILL to ready (ms)'] = percentiles(restartMs.sort((a, b) => a - b));
    scenario.measured['restart ready to workers back and backlog drained (ms)'] = percentiles(backMs.sort((a, b) => a - b));
    return await scenario.verdict({
      pools: [pool],
      endedAt,
      title: 'Engine SIGKILL and restart mid-DAG, at random points',
      load: `${scenario.acknowledged.size} runs: per round ${p.dagsPerRound} DAGs a → (b, c) → d of 20–150 ms steps, ${p.tasksPerRound} tasks of 20–320 ms and 12 of 50–250 ms behind 3 concurrency keys (maxRuns 2), then a SIGKILL of the engine 0.1–1 s later and an immediate restart; ${kills} rounds, each once the workers were back and the last round drained; 2 workers that reconnect by themselves; heartbeat timeout ${ENGINE_KILL_HEARTBEAT_TIMEOUT_MS / 1000} s`,
    });
  }, { heartbeatTimeoutMs: ENGINE_KILL_HEARTBEAT_TIMEOUT_MS });
}

/**
 * Waits until `workers` workers are connected and at most a few task runs are queued or active;
 * returns how long that took, or null if it did not happen within `withinMs`.
 */
async function untilServing(client: Cleaver, options: { workers: number; withinMs: number }): Promise<number | null> {
  const started = Date.now();
  while (Date.now() - started < options.withinMs) {
    const status = await client.status().catch(() => null);
    const backlog = status ? (status.counts.queued ?? 0) + (status.counts.assigned ?? 0) + (status.counts.running ?? 0) : Number.POSITIVE_INFINITY;
    if (status && status.workers.length >= options.workers && backlog <= 10) return Date.now() - started;
    await sleep(50);
  }
  return null;
}

const FAILOVER_TITLE = 'Two engines on one Postgres, one SIGKILLed: its workers fail over';

/**
 * Workers of group A list engine a first, group B engine b first; both lists hold both engines
 * (CLEAVER_ADDRESS=unix://a.sock,unix://b.sock). Engine a is killed halfway and not restarted.
 */
export async function failover(kind: DriverKind, profile: Profile): Promise<ScenarioReport> {
  const p = profile.failover;
  return withScenario('failover', kind, async (scenario) => {
    const a = await scenario.startEngine({ name: 'a' });
    const b = await scenario.startEngine({ name: 'b' });
    const unsupported = await failoverUnsupported(scenario, b.address);
    if (unsupported) return scenario.skip(FAILOVER_TITLE, unsupported);
    const both = `${a.address},${b.address}`;
    const groupA = new WorkerPool(scenario, { size: 2, address: both });
    const groupB = new WorkerPool(scenario, { size: 1, address: `${b.address},${a.address}` });
    await Promise.all([groupA.start(), groupB.start()]);
    const client = scenario.client(both);
    let killedAt = 0;
    let pidsOfA: number[] = [];
    const killer = (async () => {
      await sleep((p.seconds * 1000) / 2);
      pidsOfA = groupA.pids();
      killedAt = Date.now();
      await scenario.killEngine(a, { restart: false });
    })();
    await steadyLoad(scenario, client, { seconds: p.seconds, runsPerSecond: p.runsPerSecond, batch: (i) => ({ workflow: 'chaos-work', input: { ms: 50 + (i % 150) } }) });
    await killer;
    const endedAt = await scenario.settle(client, 60_000);
    const firstStart = readRecords(scenario.logFile)
      .filter((r): r is EffectRecord => r.type === 'effect' && r.phase === 'start' && r.at > killedAt && pidsOfA.includes(r.pid))
      .reduce((min, r) => Math.min(min, r.at), Number.POSITIVE_INFINITY);
    const workerFailoverMs = firstStart - killedAt;
    scenario.measured['worker failover, kill to first task on the surviving engine (ms)'] = Number.isFinite(workerFailoverMs) ? { n: 1, p50: workerFailoverMs, max: workerFailoverMs } : null;
    const firstAck = scenario.acknowledgedAt.find((t) => t > killedAt);
    if (firstAck) scenario.measured['client failover, kill to first acknowledged trigger (ms)'] = { n: 1, p50: firstAck - killedAt, max: firstAck - killedAt };
    if (!(workerFailoverMs <= scenario.heartbeatTimeoutMs)) {
      scenario.failures.push(`the killed engine's workers took ${Number.isFinite(workerFailoverMs) ? `${workerFailoverMs} ms` : 'forever'} to take work from the surviving engine (bound: the heartbeat timeout, ${scenario.heartbeatTimeoutMs} ms)`);
    }
    return await scenario.verdict({
      pools: [groupA, groupB],
      endedAt,
      title: FAILOVER_TITLE,
      load: `${scenario.acknowledged.size} runs of 50–200 ms tasks at ${p.runsPerSecond}/s for ${p.seconds} s through a client given both engines; 2 workers listing engine a first, 1 listing b first; engine a SIGKILLed at ${p.seconds / 2} s and not restarted`,
    });
  });
}

/**
 * Why the SDK cannot fail over yet, or null when it can: a client given a dead address first and a
 * live one second must reach the live one.
 */
async function failoverUnsupported(scenario: Scenario, live: string): Promise<string | null> {
  const { Cleaver } = await import('../../../sdk/index.ts');
  const probe = Cleaver.connect({ address: `unix://${scenario.socketOf('nowhere')},${live}`, requestTimeout: '3s' });
  try {
    await probe.status();
    return null;
  } catch (e: unknown) {
    return `the SDK does not take several engine addresses yet (CLEAVER_ADDRESS=a,b; branch sdk-failover); a client given a dead address then a live one failed: ${e instanceof Error ? e.message.slice(0, 60) : String(e)}…`;
  } finally {
    await probe.close();
  }
}

export async function backendStorm(kind: DriverKind, profile: Profile): Promise<ScenarioReport> {
  const p = profile.backendStorm;
  return withScenario('backend-storm', kind, async (scenario) => {
    const { engine, pool, client } = await scenario.startWithWorkers({ workers: 3 });
    let terminated = 0;
    const storm = (async () => {
      for (let i = 0; i < p.storms; i++) {
        await sleep(p.everyMs);
        terminated += await scenario.terminateBackends();
      }
    })();
    await steadyLoad(scenario, client, {
      seconds: (p.storms * p.everyMs) / 1000 + 1,
      runsPerSecond: p.runsPerSecond,
      // One in five behind a concurrency key: a write cut off mid-statement must not leave the scheduler
      // counting fewer holders than the database has.
      batch: (i) =>
        i % 5 === 4
          ? { workflow: 'chaos-dag', input: { ms: 20 } }
          : i % 5 === 3
            ? { workflow: 'chaos-keyed', input: { ms: 20 + (i % 60), key: `k${i % 4}` } }
            : { workflow: 'chaos-work', input: { ms: 20 + (i % 100) } },
    });
    await storm;
    if (engine.child.exitCode !== null || engine.child.signalCode !== null) scenario.failures.push(`the engine exited during the storm:\n${engine.output().slice(-2000)}`);
    const endedAt = await scenario.settle(client, 60_000);
    return await scenario.verdict({
      pools: [pool],
      endedAt,
      title: 'pg_terminate_backend storms',
      load: `${scenario.acknowledged.size} runs (3 in 5 a 20–120 ms task, 1 in 5 one behind a concurrency key, 1 in 5 a 4-step DAG) at ${p.runsPerSecond}/s; every ${p.everyMs} ms all of the engine's Postgres backends terminated, ${p.storms} times (${terminated} backends in all)`,
    });
  });
}
