// The chaos checker must be able to fail: on fabricated runs, attempts, effects and faults it flags a
// lost run, one attempt executed twice, an untraceable duplicate, a discarded finished result, a stuck
// lease, retries beyond policy and an outcome not as designed — and passes the same data without them.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createPgliteDriver } from '../../engine/db/pglite/pglite-driver.ts';
import type { Driver } from '../../engine/db/driver.ts';
import { migrate } from '../../engine/sql/migrate.ts';
import type { ChaosRecord } from './chaos-log.ts';
import { checkInvariants, type CheckOptions } from './invariants.ts';

const T0 = Date.parse('2026-01-01T00:00:00Z');
const at = (ms: number) => new Date(T0 + ms).toISOString();

describe('chaos invariant checker', () => {
  let db: Driver;
  beforeAll(async () => {
    db = await createPgliteDriver();
    await migrate(db);
  });
  afterAll(async () => db?.close());
  beforeEach(async () => {
    await db.query('TRUNCATE run, task_run, attempt');
  });

  interface Fabricated {
    action?: string;
    status: 'queued' | 'running' | 'succeeded' | 'failed';
    failureReason?: string;
    attempt: number;
    maxAttempts?: number;
    /** For running task runs: when the lease ends (ms after T0). */
    timeoutAt?: number;
    output?: unknown;
    /** Finished attempts: [attempt, failure reason or null for success, assigned, finished] (ms after T0). */
    attempts?: Array<[number, string | null, number, number]>;
  }

  /** One standalone run with its task run (same id for both, for reading ease) and attempt rows. */
  async function fabricate(f: Fabricated): Promise<string> {
    const id = randomUUID();
    await db.query(`INSERT INTO run (id, workflow_name, workflow_version, status, input) VALUES ($1, $2, 1, $3, '{}')`, [id, f.action ?? 'chaos-work', f.status]);
    await db.query(
      `INSERT INTO task_run (id, run_id, task_name, action, status, failure_reason, attempt, max_attempts, execution_timeout_ms,
                             schedule_timeout_ms, schedule_deadline, assigned_at, timeout_at, output)
       VALUES ($1, $1, $2, $2, $3, $4, $5, $6, 10000, 300000, now(), $7, $8, $9)`,
      [
        id,
        f.action ?? 'chaos-work',
        f.status,
        f.failureReason ?? null,
        f.attempt,
        f.maxAttempts ?? 5,
        f.timeoutAt === undefined ? null : at(f.timeoutAt - 10_000),
        f.timeoutAt === undefined ? null : at(f.timeoutAt),
        f.output === undefined ? null : JSON.stringify(f.output),
      ],
    );
    for (const [n, reason, assigned, finished] of f.attempts ?? []) {
      await db.query(
        `INSERT INTO attempt (task_run_id, attempt, status, failure_reason, assigned_at, finished_at) VALUES ($1, $2, $3, $4, $5, $6)`,
        [id, n, reason === null ? 'succeeded' : 'failed', reason, at(assigned), at(finished)],
      );
    }
    return id;
  }

  const start = (taskRunId: string, attempt: number, pid: number, ms: number, task = 'chaos-work'): ChaosRecord => ({
    type: 'effect', phase: 'start', task, taskRunId, attempt, pid, at: T0 + ms,
  });
  const end = (taskRunId: string, attempt: number, pid: number, ms: number): ChaosRecord => ({
    type: 'effect', phase: 'end', task: 'chaos-work', taskRunId, attempt, pid, at: T0 + ms,
  });

  it('passes a scenario where faults explain every duplicate', async () => {
    const once = await fabricate({ status: 'succeeded', attempt: 1, output: { pid: 100, attempt: 1 }, attempts: [[1, null, 0, 50]] });
    const twice = await fabricate({
      status: 'succeeded',
      attempt: 2,
      output: { pid: 200, attempt: 2 },
      attempts: [[1, 'WORKER_LOST', 0, 120], [2, null, 130, 180]],
    });
    const records: ChaosRecord[] = [
      start(once, 1, 100, 10), end(once, 1, 100, 40),
      start(twice, 1, 100, 10),
      { type: 'fault', kind: 'worker-kill', pid: 100, at: T0 + 100, until: T0 + 100 },
      start(twice, 2, 200, 140), end(twice, 2, 200, 170),
    ];
    const verdict = await checkInvariants(db, { records, acknowledged: [once, twice], endedAt: T0 + 60_000 });
    expect(verdict.violations).toEqual([]);
    expect(verdict.figures).toMatchObject({ acknowledged: 2, terminal: 2, lost: 0, duplicates: 1, duplicatesByCause: { 'worker-kill': 1 }, faults: { 'worker-kill': 1 } });
    // Killed at 100 ms, its task run started again at 140 ms.
    expect(verdict.figures.redispatchMs).toEqual([40]);
  });

  it('flags a lost run, a doubly executed attempt, an untraceable duplicate, a discarded result, a stuck lease, retries past policy and a wrong outcome', async () => {
    const stillQueued = await fabricate({ status: 'queued', attempt: 0 });
    const neverRecorded = randomUUID();
    const doubleExecuted = await fabricate({ status: 'succeeded', attempt: 1, output: { pid: 100, attempt: 1 }, attempts: [[1, null, 0, 50]] });
    // Executed twice, but its first attempt ended WORKER_LOST with no fault anywhere near it.
    const untraceable = await fabricate({
      status: 'succeeded',
      attempt: 2,
      output: { pid: 200, attempt: 2 },
      attempts: [[1, 'WORKER_LOST', 1_000, 1_200], [2, null, 1_300, 1_400]],
    });
    // Its first attempt returned before the engine was killed, in a worker nobody touched, and was failed as lost anyway.
    const discarded = await fabricate({
      status: 'succeeded',
      attempt: 2,
      output: { pid: 300, attempt: 2 },
      attempts: [[1, 'WORKER_LOST', 5_000, 7_000], [2, null, 7_100, 7_200]],
    });
    const stuck = await fabricate({ status: 'running', attempt: 1, timeoutAt: 10_000 });
    const crashing = await fabricate({ action: 'chaos-exit', status: 'queued', attempt: 18, maxAttempts: 2 });
    const wrongOutcome = await fabricate({ action: 'chaos-exit', status: 'failed', failureReason: 'ERROR', attempt: 2, maxAttempts: 2 });
    const records: ChaosRecord[] = [
      start(doubleExecuted, 1, 100, 10), start(doubleExecuted, 1, 101, 20), end(doubleExecuted, 1, 100, 40),
      start(untraceable, 1, 100, 1_010), start(untraceable, 2, 200, 1_310),
      // A kill of another worker in the same window explains nothing about this one.
      { type: 'fault', kind: 'worker-kill', pid: 999, at: T0 + 1_100, until: T0 + 1_100 },
      start(discarded, 1, 300, 5_010), end(discarded, 1, 300, 5_050),
      { type: 'fault', kind: 'engine-kill', pid: 1, at: T0 + 5_500, until: T0 + 6_500 },
      start(discarded, 2, 300, 7_110),
      start(crashing, 1, 400, 100, 'chaos-exit'),
      start(wrongOutcome, 1, 400, 100, 'chaos-exit'),
    ];
    const options: CheckOptions = {
      records,
      acknowledged: [stillQueued, neverRecorded, doubleExecuted, untraceable, discarded],
      endedAt: T0 + 60_000,
      failByDesign: { 'chaos-exit': { status: 'failed', reason: 'WORKER_LOST' } },
    };
    const verdict = await checkInvariants(db, options);
    const found = Object.fromEntries(verdict.violations.map((v) => [v.invariant, v.samples.map((s) => s.id ?? s.run_id ?? s.task_run_id)]));
    expect(found).toEqual({
      'acknowledged-run-ends': [stillQueued, neverRecorded].sort(),
      'attempt-executed-once': [doubleExecuted],
      'duplicate-traceable': [untraceable],
      'finished-result-kept': [discarded],
      'no-expired-lease': [stuck],
      'retries-within-policy': [crashing],
      'outcome-as-designed': [wrongOutcome],
    });
    expect(verdict.figures).toMatchObject({ acknowledged: 5, lost: 2, duplicates: 2, duplicatesByCause: { untraceable: 1, 'finished-result-discarded': 1 } });
  });

  it('flags a success recorded from an attempt other than the one that produced it', async () => {
    // Worker 200 never ran attempt 1, yet the output recorded says it did (another worker's result was accepted).
    const hijacked = await fabricate({ status: 'succeeded', attempt: 1, output: { pid: 200, attempt: 1 }, attempts: [[1, null, 0, 50]] });
    const verdict = await checkInvariants(db, { records: [start(hijacked, 1, 100, 10)], acknowledged: [hijacked], endedAt: T0 + 60_000 });
    expect(verdict.violations.map((v) => v.invariant)).toEqual(['output-from-its-attempt']);
  });
});
