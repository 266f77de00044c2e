/**
 * The chaos suite's verdict: loads a scenario's chaos log (effects and faults) and the run ids the
 * engine acknowledged into tables of the scenario's own database, next to the engine's task_run,
 * attempt and run rows, and checks the invariants with SQL. Test code: these statements read the
 * engine's tables from outside, as an auditor would, so they live with the suite and not in engine/sql.
 *
 * Terms: an execution is a (task run, attempt) whose function was called (a 'start' effect); a
 * duplicate is an execution of a task run followed by another execution of the same task run, for a
 * task that does not fail by design. A fault is in flight for an attempt when the fault's interval
 * [at, until] overlaps the attempt's [assigned_at, finished_at]; a fault that hits one worker process
 * counts only for attempts that ran in that process.
 */
import type { Queryable } from '../../engine/db/driver.ts';
import { MAX_FREE_WORKER_LOST_RETRIES } from '../../engine/sql/task-finish.ts';
import type { FailureReason } from '../../shared/types.ts';
import { WORKER_FAULTS, type ChaosRecord, type EffectRecord, type FaultRecord } from './chaos-log.ts';

export const INVARIANTS = {
  'acknowledged-run-ends': 'every run the engine acknowledged exists and reached a terminal state',
  'attempt-executed-once': 'no (task run, attempt) was executed twice (by two processes, or twice by one)',
  'duplicate-traceable': 'every duplicate execution follows an attempt that ended WORKER_LOST or EXECUTION_TIMEOUT with a fault in flight',
  'finished-result-kept': 'no duplicate comes from a finished result being thrown away: an attempt whose function returned, in a worker no fault hit, is not lost',
  'no-expired-lease': 'no task run is left assigned or running past its execution timeout',
  'retries-within-policy': 'attempts ≤ max_attempts + the free worker-lost allowance, and a task run that failed was retried as its policy says',
  'outcome-as-designed': 'every task run ended as its task is designed to (innocent tasks succeed despite the faults)',
  'output-from-its-attempt': 'a success was recorded from the attempt that produced it (its output names that attempt and process)',
  'key-within-max-runs': "no concurrency key ever had more than its maxRuns attempts live at once (chaos-keyed: input.key, maxRuns 2), from the attempts' recorded admission and end",
} as const;

/** chaos-keyed's maxRuns (test/chaos/fixtures/chaos-worker.ts). */
export const CHAOS_KEYED_MAX_RUNS = 2;

export type InvariantName = keyof typeof INVARIANTS;

export interface Violation {
  invariant: InvariantName;
  count: number;
  /** A few offending rows, for the report. */
  samples: Array<Record<string, unknown>>;
}

export interface ExpectedOutcome {
  status: 'succeeded' | 'failed';
  reason?: FailureReason;
}

export interface CheckOptions {
  records: ChaosRecord[];
  /** Every run id an engine acknowledged (a trigger that returned). */
  acknowledged: string[];
  /** When the scenario came to rest: a lease that expired more than LEASE_GRACE_MS before it is stuck. */
  endedAt: number;
  /** Actions (task names, 'workflow:task' for workflow tasks) that fail by design, and how. Others must succeed. */
  failByDesign?: Record<string, ExpectedOutcome>;
  /** Free worker-lost retries per task run (default the engine's MAX_FREE_WORKER_LOST_RETRIES). */
  workerLostAllowance?: number;
}

export interface Figures {
  acknowledged: number;
  terminal: number;
  lost: number;
  byStatus: Record<string, number>;
  executions: number;
  taskRunsExecuted: number;
  /** Executions beyond the first of a task run (fail-by-design tasks excluded). */
  duplicates: number;
  duplicatesByCause: Record<string, number>;
  faults: Record<string, number>;
  /** Worker faults: from the fault to the next start of a task run that was running in the hit process. */
  redispatchMs: number[];
  /** Engine kills: from the replacement engine being ready to the first task started after it. */
  resumeAfterEngineMs: number[];
}

export interface Verdict {
  violations: Violation[];
  figures: Figures;
}

/** Lease checks leave the maintenance sweep (1 s in `cleaver serve`) and a write batch time to act. */
const LEASE_GRACE_MS = 3_000;
/** Clock slack when comparing a fault's time (taken by another process) with an attempt's window. */
const WINDOW_SLACK_MS = 50;
const SAMPLES = 5;

export async function checkInvariants(db: Queryable, options: CheckOptions): Promise<Verdict> {
  await loadChaosTables(db, options);
  const failByDesign = options.failByDesign ?? {};
  const designed = Object.keys(failByDesign);
  const allowance = options.workerLostAllowance ?? MAX_FREE_WORKER_LOST_RETRIES;
  const violations: Violation[] = [];
  const check = async (invariant: InvariantName, sql: string, params: unknown[] = []) => {
    const { rows } = await db.query<Record<string, unknown>>(sql, params);
    if (rows.length > 0) violations.push({ invariant, count: rows.length, samples: rows.slice(0, SAMPLES) });
  };

  await check(
    'acknowledged-run-ends',
    `SELECT k.run_id, r.status
       FROM chaos_ack k LEFT JOIN run r ON r.id = k.run_id
      WHERE r.id IS NULL OR r.status NOT IN ('succeeded', 'failed', 'cancelled')
      ORDER BY k.run_id`,
  );
  await check(
    'attempt-executed-once',
    `SELECT task_run_id, attempt, array_agg(pid ORDER BY at) AS pids
       FROM chaos_effect WHERE phase = 'start'
      GROUP BY task_run_id, attempt HAVING count(*) > 1
      ORDER BY task_run_id, attempt`,
  );

  const duplicates = await db.query<{ task_run_id: string; attempt: number; pid: number; task: string; failure_reason: string | null; cause: string }>(
    DUPLICATES_SQL,
    [designed, WORKER_FAULTS, WINDOW_SLACK_MS],
  );
  const untraceable = duplicates.rows.filter((d) => d.cause === 'untraceable');
  if (untraceable.length > 0) violations.push({ invariant: 'duplicate-traceable', count: untraceable.length, samples: untraceable.slice(0, SAMPLES) });
  const discarded = duplicates.rows.filter((d) => d.cause === 'finished-result-discarded');
  if (discarded.length > 0) violations.push({ invariant: 'finished-result-kept', count: discarded.length, samples: discarded.slice(0, SAMPLES) });

  // An attempt holds its key from its admission (assigned_at, the decision's time) to its recorded end:
  // at each admission, the attempts of the same key admitted no later and not ended before it.
  await check(
    'key-within-max-runs',
    `WITH a AS (
       SELECT x.task_run_id, x.attempt, r.input ->> 'key' AS key, x.assigned_at, x.finished_at
         FROM attempt x JOIN task_run t ON t.id = x.task_run_id JOIN run r ON r.id = t.run_id
        WHERE t.action = 'chaos-keyed'
     )
     SELECT a.key, a.task_run_id, a.attempt, a.assigned_at, count(*) AS live
       FROM a JOIN a b ON b.key = a.key AND b.assigned_at <= a.assigned_at AND b.finished_at > a.assigned_at
      GROUP BY a.key, a.task_run_id, a.attempt, a.assigned_at
     HAVING count(*) > $1::int
      ORDER BY a.assigned_at`,
    [CHAOS_KEYED_MAX_RUNS],
  );
  await check(
    'no-expired-lease',
    `SELECT id, action, status, attempt, timeout_at
       FROM task_run
      WHERE status IN ('assigned', 'running')
        AND COALESCE(timeout_at, assigned_at + execution_timeout_ms * interval '1 millisecond')
            < to_timestamp($1::float8 / 1000)
      ORDER BY id`,
    [options.endedAt - LEASE_GRACE_MS],
  );
  await check(
    'retries-within-policy',
    `SELECT id, action, status, failure_reason, attempt, attempt_offset, max_attempts, worker_lost_count
       FROM task_run
      WHERE attempt - attempt_offset > max_attempts + $1::int
         OR (status = 'failed' AND failure_reason IN ('ERROR', 'EXECUTION_TIMEOUT', 'WORKER_LOST')
             AND attempt - attempt_offset < max_attempts)
      ORDER BY id`,
    [allowance],
  );
  await check(
    'outcome-as-designed',
    `WITH expected AS (
       SELECT * FROM jsonb_to_recordset($1::jsonb) AS x(action text, status text, reason text)
     )
     SELECT t.id, t.action, t.status, t.failure_reason, t.attempt, t.worker_lost_count,
            left(t.error ->> 'message', 200) AS message,
            COALESCE(x.status, 'succeeded') AS expected_status, x.reason AS expected_reason
       FROM task_run t LEFT JOIN expected x ON x.action = t.action
      WHERE t.status IN ('succeeded', 'failed', 'cancelled')
        AND (t.status <> COALESCE(x.status, 'succeeded')
             OR (x.reason IS NOT NULL AND t.failure_reason IS DISTINCT FROM x.reason))
      ORDER BY t.id`,
    [JSON.stringify(designed.map((action) => ({ action, status: failByDesign[action]!.status, reason: failByDesign[action]!.reason ?? null })))],
  );
  await check(
    'output-from-its-attempt',
    `SELECT t.id, t.action, t.attempt, t.output
       FROM task_run t
      WHERE t.status = 'succeeded' AND t.output ? 'pid'
        AND ((t.output ->> 'attempt')::int IS DISTINCT FROM t.attempt
             OR NOT EXISTS (SELECT 1 FROM chaos_effect e
                             WHERE e.task_run_id = t.id AND e.attempt = t.attempt AND e.phase = 'start'
                               AND e.pid = (t.output ->> 'pid')::int)
             OR NOT EXISTS (SELECT 1 FROM attempt a
                             WHERE a.task_run_id = t.id AND a.attempt = t.attempt AND a.status = 'succeeded'))
      ORDER BY t.id`,
  );

  return { violations, figures: await figures(db, options, duplicates.rows) };
}

/**
 * One row per execution followed by another execution of its task run, with its cause:
 *   'untraceable': its attempt did not end WORKER_LOST / EXECUTION_TIMEOUT, or no fault was in flight;
 *   'finished-result-discarded': only engine-side faults were in flight, the function had returned, and
 *     the engine still failed the attempt as lost — the worker held a result the engine threw away;
 *   otherwise the fault kinds in flight (those that hit the executing process first).
 */
const DUPLICATES_SQL = `
  WITH exec AS (
    SELECT DISTINCT ON (task_run_id, attempt) task_run_id, attempt, pid, task
      FROM chaos_effect WHERE phase = 'start' ORDER BY task_run_id, attempt, at
  ),
  earlier AS (
    SELECT e.* FROM exec e
     WHERE e.task <> ALL($1::text[])
       AND EXISTS (SELECT 1 FROM exec l WHERE l.task_run_id = e.task_run_id AND l.attempt > e.attempt)
  ),
  judged AS (
    SELECT e.task_run_id, e.attempt, e.pid, e.task, a.failure_reason, left(a.error ->> 'message', 160) AS message,
           EXISTS (SELECT 1 FROM chaos_effect x
                    WHERE x.task_run_id = e.task_run_id AND x.attempt = e.attempt AND x.phase = 'end') AS returned,
           (SELECT string_agg(DISTINCT f.kind, '+' ORDER BY f.kind) FROM chaos_fault f
             WHERE f.kind = ANY($2::text[]) AND f.pid = e.pid
               AND f.at <= a.finished_at + $3 * interval '1 millisecond'
               AND f.until >= a.assigned_at - $3 * interval '1 millisecond') AS own_faults,
           (SELECT string_agg(DISTINCT f.kind, '+' ORDER BY f.kind) FROM chaos_fault f
             WHERE f.kind <> ALL($2::text[])
               AND f.at <= a.finished_at + $3 * interval '1 millisecond'
               AND f.until >= a.assigned_at - $3 * interval '1 millisecond') AS engine_faults
      FROM earlier e
      LEFT JOIN attempt a ON a.task_run_id = e.task_run_id AND a.attempt = e.attempt
  )
  SELECT task_run_id, attempt, pid, task, failure_reason, message,
         CASE
           WHEN failure_reason IS NULL OR failure_reason NOT IN ('WORKER_LOST', 'EXECUTION_TIMEOUT') THEN 'untraceable'
           WHEN own_faults IS NOT NULL THEN own_faults
           WHEN engine_faults IS NULL THEN 'untraceable'
           WHEN returned AND failure_reason = 'WORKER_LOST' THEN 'finished-result-discarded'
           ELSE engine_faults
         END AS cause
    FROM judged
   ORDER BY task_run_id, attempt`;

async function figures(db: Queryable, options: CheckOptions, duplicates: Array<{ cause: string }>): Promise<Figures> {
  const runs = await db.query<{ status: string | null; n: string }>(
    `SELECT r.status, count(*) AS n FROM chaos_ack k LEFT JOIN run r ON r.id = k.run_id GROUP BY r.status`,
  );
  const byStatus: Record<string, number> = {};
  for (const r of runs.rows) byStatus[r.status ?? 'missing'] = Number(r.n);
  const terminal = (byStatus.succeeded ?? 0) + (byStatus.failed ?? 0) + (byStatus.cancelled ?? 0);
  const effects = options.records.filter((r): r is EffectRecord => r.type === 'effect' && r.phase === 'start');
  const faults: Record<string, number> = {};
  for (const f of options.records) if (f.type === 'fault') faults[f.kind] = (faults[f.kind] ?? 0) + 1;
  const duplicatesByCause: Record<string, number> = {};
  for (const d of duplicates) duplicatesByCause[d.cause] = (duplicatesByCause[d.cause] ?? 0) + 1;
  const redispatch = await db.query<{ ms: number }>(
    `WITH inflight AS (
       SELECT f.id, f.at AS fault_at, s.task_run_id
         FROM chaos_fault f
         JOIN chaos_effect s ON s.pid = f.pid AND s.phase = 'start' AND s.at <= f.at
        WHERE f.kind = ANY($1::text[])
          AND NOT EXISTS (SELECT 1 FROM chaos_effect x
                           WHERE x.task_run_id = s.task_run_id AND x.attempt = s.attempt AND x.phase = 'end' AND x.at <= f.at)
     )
     SELECT extract(epoch FROM min(r.at) - i.fault_at) * 1000 AS ms
       FROM inflight i JOIN chaos_effect r ON r.task_run_id = i.task_run_id AND r.phase = 'start' AND r.at > i.fault_at
      GROUP BY i.id, i.fault_at`,
    [['worker-kill', 'task-crash']],
  );
  const resume = await db.query<{ ms: number }>(
    `SELECT extract(epoch FROM (SELECT min(e.at) FROM chaos_effect e WHERE e.phase = 'start' AND e.at >= f.until) - f.until) * 1000 AS ms
       FROM chaos_fault f WHERE f.kind = 'engine-kill' AND f.until > f.at`,
  );
  return {
    acknowledged: options.acknowledged.length,
    terminal,
    lost: options.acknowledged.length - terminal,
    byStatus,
    executions: effects.length,
    taskRunsExecuted: new Set(effects.map((e) => e.taskRunId)).size,
    duplicates: duplicates.length,
    duplicatesByCause,
    faults,
    redispatchMs: redispatch.rows.map((r) => Number(r.ms)).sort((a, b) => a - b),
    resumeAfterEngineMs: resume.rows.filter((r) => r.ms !== null).map((r) => Number(r.ms)).sort((a, b) => a - b),
  };
}

/** (Re)creates chaos_effect, chaos_fault and chaos_ack and fills them, in batches. */
async function loadChaosTables(db: Queryable, options: CheckOptions): Promise<void> {
  await db.query(`DROP TABLE IF EXISTS chaos_effect, chaos_fault, chaos_ack`);
  await db.query(`CREATE TABLE chaos_effect (
    task_run_id uuid NOT NULL, attempt int NOT NULL, pid int NOT NULL, task text NOT NULL,
    phase text NOT NULL CHECK (phase IN ('start', 'end')), at timestamptz NOT NULL)`);
  await db.query(`CREATE INDEX chaos_effect_attempt_idx ON chaos_effect (task_run_id, attempt)`);
  await db.query(`CREATE INDEX chaos_effect_pid_idx ON chaos_effect (pid, at)`);
  await db.query(`CREATE TABLE chaos_fault (
    id serial PRIMARY KEY, kind text NOT NULL, pid int, at timestamptz NOT NULL, until timestamptz NOT NULL, detail text)`);
  await db.query(`CREATE TABLE chaos_ack (run_id uuid PRIMARY KEY)`);
  const effects = options.records.filter((r): r is EffectRecord => r.type === 'effect');
  const faults = options.records.filter((r): r is FaultRecord => r.type === 'fault');
  for (const batch of chunks(effects, 5_000)) {
    await db.query(
      `INSERT INTO chaos_effect (task_run_id, attempt, pid, task, phase, at)
       SELECT "taskRunId", attempt, pid, task, phase, to_timestamp(at / 1000)
         FROM jsonb_to_recordset($1::jsonb) AS x("taskRunId" uuid, attempt int, pid int, task text, phase text, at float8)`,
      [JSON.stringify(batch)],
    );
  }
  for (const batch of chunks(faults, 5_000)) {
    await db.query(
      `INSERT INTO chaos_fault (kind, pid, at, until, detail)
       SELECT kind, pid, to_timestamp(at / 1000), to_timestamp(until / 1000), detail
         FROM jsonb_to_recordset($1::jsonb) AS x(kind text, pid int, at float8, until float8, detail text)`,
      [JSON.stringify(batch)],
    );
  }
  for (const batch of chunks([...new Set(options.acknowledged)], 5_000)) {
    await db.query(`INSERT INTO chaos_ack (run_id) SELECT jsonb_array_elements_text($1::jsonb)::uuid`, [JSON.stringify(batch)]);
  }
}

function chunks<T>(items: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/** p50 and max of a sorted list, or null when empty. */
export function percentiles(sorted: number[]): { n: number; p50: number; max: number } | null {
  if (sorted.length === 0) return null;
  return { n: sorted.length, p50: sorted[Math.floor((sorted.length - 1) / 2)]!, max: sorted[sorted.length - 1]! };
}
