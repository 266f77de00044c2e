/**
 * Faults that hit workers: SIGKILL every second under a steady load, SIGSTOP past the heartbeat timeout,
 * and tasks that take their own worker down (exit, uncaught exception, a busy loop) or throw non-Errors.
 */
import type { DriverKind } from '../../driver/drivers.ts';
import type { Profile } from '../profile.ts';
import { HEARTBEAT_TIMEOUT_MS, seededRandom, sleep, withScenario, type ScenarioReport } from '../scenario.ts';
import { steadyLoad } from './load.ts';

export async function workerKill(kind: DriverKind, profile: Profile): Promise<ScenarioReport> {
  const p = profile.workerKill;
  return withScenario('worker-kill', kind, async (scenario) => {
    const { engine, pool, client } = await scenario.startWithWorkers({ workers: p.workers });
    const random = seededRandom(Number(process.env.CHAOS_SEED ?? 1));
    let kills = 0;
    let loadDone = false;
    const killer = (async () => {
      await sleep(p.killEveryMs);
      while (!loadDone) {
        if (pool.killOne(random) !== null) kills++;
        await sleep(p.killEveryMs);
      }
    })();
    await steadyLoad(scenario, client, {
      seconds: p.seconds,
      runsPerSecond: p.runsPerSecond,
      // Mostly chaos-work of 20–200 ms; one in ten a DAG of four such steps; two in ten behind a
      // concurrency key (5 keys, maxRuns 2), whose count the kills must never push past 2.
      batch: (i) =>
        i % 10 === 9
          ? { workflow: 'chaos-dag', input: { ms: 20 + Math.floor(random() * 100) } }
          : i % 10 < 2
            ? { workflow: 'chaos-keyed', input: { ms: 20 + Math.floor(random() * 100), key: `k${i % 5}` } }
            : { workflow: 'chaos-work', input: { ms: 20 + Math.floor(random() * 180) } },
    });
    loadDone = true;
    await killer;
    const endedAt = await scenario.settle(client, 60_000);
    return await scenario.verdict({
      pools: [pool],
      endedAt,
      title: 'Worker SIGKILL every second',
      load: `${scenario.acknowledged.size} runs (7 in 10 a 20–200 ms task, 2 in 10 a 20–120 ms task behind a concurrency key, 1 in 10 a 4-step DAG) over ${p.seconds} s at ${p.runsPerSecond}/s; ${p.workers} workers × 20 slots, restarted by a supervisor (${pool.spawned} processes in all); ${kills} SIGKILLs, one every ${p.killEveryMs} ms`,
    });
  });
}

export async function workerStop(kind: DriverKind, profile: Profile): Promise<ScenarioReport> {
  const p = profile.workerStop;
  return withScenario('worker-stop', kind, async (scenario) => {
    const { engine, pool, client } = await scenario.startWithWorkers({ workers: 3 });
    const stopMs = HEARTBEAT_TIMEOUT_MS + 1_000;
    for (let i = 0; i < p.stops; i++) {
      // Long enough tasks that the stopped worker holds several when it stops.
      await scenario.trigger(client, 'chaos-work', Array.from({ length: 60 }, (_, k) => ({ ms: 300 + ((k * 37) % 500) })));
      await sleep(400);
      await pool.stopOne(stopMs);
      await sleep(300);
    }
    const endedAt = await scenario.settle(client, 60_000);
    return await scenario.verdict({
      pools: [pool],
      endedAt,
      title: 'Worker SIGSTOP past the heartbeat timeout, then SIGCONT',
      load: `${scenario.acknowledged.size} runs of 300–800 ms tasks on 3 workers; ${p.stops} times a worker holding attempts is SIGSTOPped for ${stopMs} ms (heartbeat timeout ${HEARTBEAT_TIMEOUT_MS} ms), then SIGCONTed`,
    });
  });
}

/**
 * Busy loops run past the heartbeat timeout, which is itself well past their 1 s executionTimeout (as
 * 30 s of loop, 12 s and 5 s would be in production): the engine must time the attempt out before it
 * judges the frozen worker lost, with room for a loaded machine's late maintenance sweeps.
 */
const BAD_TASKS_HEARTBEAT_TIMEOUT_MS = 4_000;
const BUSY_MS = 6_000;

const THROWN_KINDS = ['string', 'number', 'null', 'undefined', 'object', 'array', 'symbol', 'circular'];

export async function badTasks(kind: DriverKind, profile: Profile): Promise<ScenarioReport> {
  const p = profile.badTasks;
  return withScenario('bad-tasks', kind, async (scenario) => {
    const { engine, pool, client } = await scenario.startWithWorkers({ workers: 3 });
    // First the throws, alone: what each one ends as must be its own doing.
    const throwing = THROWN_KINDS.flatMap((k) => [{ kind: k }, { kind: k, async: true }]);
    const thrownRuns = await scenario.trigger(client, 'chaos-throw', throwing);
    for (const [i, runId] of thrownRuns.entries()) {
      const outcome = await client.awaitRun(runId);
      const message = outcome.error?.message;
      const what = `${throwing[i]!.async ? 'async ' : ''}throw of a ${throwing[i]!.kind}`;
      scenario.notes.push(`${what}: ${outcome.status} (${outcome.failureReason ?? '-'}) "${message ?? ''}"`);
      if (outcome.status !== 'failed' || typeof message !== 'string' || message.length === 0) {
        scenario.failures.push(`${what} did not fail with a message saying what was thrown: ${JSON.stringify(outcome)}`);
      }
    }
    // Then the tasks that take their worker down, with innocent tasks arriving all the while: those
    // share the crashing workers, and must still report their own outcome.
    const crashers = Promise.all([
      scenario.trigger(client, 'chaos-exit', Array.from({ length: p.exits }, () => ({}))),
      scenario.trigger(client, 'chaos-crash', Array.from({ length: p.crashes }, () => ({}))),
      scenario.trigger(client, 'chaos-busy', Array.from({ length: p.busy }, () => ({ ms: BUSY_MS }))),
    ]).then((ids) => Promise.all(ids.flat().map((id) => client.awaitRun(id))));
    let crashersDone = false;
    void crashers.finally(() => (crashersDone = true));
    const deadline = Date.now() + 40_000;
    let innocent = 0;
    while (!crashersDone && Date.now() < deadline) {
      const batch = Math.min(20, p.innocent - innocent);
      if (batch > 0) await scenario.trigger(client, 'chaos-work', Array.from({ length: batch }, (_, i) => ({ ms: 10 + ((innocent + i) % 40) })));
      innocent += batch;
      await sleep(200);
    }
    // Bounded: a crashing task that is retried without end must not hold the suite up.
    const endedAt = await scenario.settle(client, Math.max(5_000, deadline - Date.now()));
    return await scenario.verdict({
      pools: [pool],
      endedAt,
      title: 'Tasks that exit, crash, busy-loop or throw non-Errors',
      load: `${throwing.length} throws of non-Error values (${THROWN_KINDS.join(', ')}; sync and async), then ${p.exits} process.exit(1) and ${p.crashes} uncaught-exception tasks (retries 1) and ${p.busy} busy loops of ${BUSY_MS / 1000} s (executionTimeout 1 s, heartbeat timeout ${BAD_TASKS_HEARTBEAT_TIMEOUT_MS / 1000} s), with ${innocent} innocent 10–50 ms tasks triggered 20 every 200 ms while they ran; 3 supervised workers`,
      failByDesign: {
        'chaos-exit': { status: 'failed', reason: 'WORKER_LOST' },
        'chaos-crash': { status: 'failed', reason: 'WORKER_LOST' },
        'chaos-busy': { status: 'failed', reason: 'EXECUTION_TIMEOUT' },
        'chaos-throw': { status: 'failed', reason: 'ERROR' },
      },
    });
  }, { heartbeatTimeoutMs: BAD_TASKS_HEARTBEAT_TIMEOUT_MS });
}
