/**
 * The "limit" system's whole queue: one table and a handful of statements, shared by its producer
 * (bench/systems/limit.ts) and its worker (bench/systems/limit-worker.ts). It is the least a durable
 * Postgres queue must do per job — insert a row, find it through an index in order, mark it taken under
 * a lock no other taker waits on, mark it done — with nothing else: no run/attempt split, no workflow
 * columns, no leases renewed, no maintenance. These statements belong to the benchmark, not to the
 * product, which is why they live here and not in engine/sql/.
 */

import type pg from 'pg';

/**
 * What a commit waits for. Both profiles flush an enqueue to the WAL before it is acknowledged.
 * `relaxed` (the system "limit") then commits claims and completions with synchronous_commit off, as
 * Cleaver does (engine/db/driver.ts `relaxed`: a crash of the server can cost a job running again, never
 * a lost job); `durable` ("limit-durable") flushes those too, as graphile-worker and pg-boss do.
 */
export type LimitProfile = 'relaxed' | 'durable';

/** Connection settings for the worker's claim loops under `profile`. */
export function limitWorkerConnection(connectionString: string, profile: LimitProfile): pg.ClientConfig {
  return { connectionString, ...(profile === 'relaxed' ? { options: '-c synchronous_commit=off' } : {}) };
}

/** Jobs keep their row when done (status 'succeeded'), as Cleaver keeps its runs; ids are in enqueue order. */
export const LIMIT_SCHEMA = `
  CREATE TABLE limit_job (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    action text NOT NULL,
    status text NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'running', 'succeeded')),
    payload jsonb NOT NULL,
    attempts int NOT NULL DEFAULT 0,
    locked_by text,
    locked_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz
  );
  -- The queue: only queued rows, per action in enqueue order (Cleaver's task_run_queue_idx, less priority).
  CREATE INDEX limit_job_queue_idx ON limit_job (action, id) WHERE status = 'queued';`;

/**
 * Workers LISTEN here. The producer NOTIFYs after each enqueue has committed, in a transaction of its
 * own: Postgres holds the lock that orders notifications from a commit's start through its WAL flush,
 * so a NOTIFY inside the enqueue's transaction makes every durable commit wait for the one before it
 * (measured here, 16 single enqueues in flight: 640/s with the NOTIFY inside, 4,700/s after). A NOTIFY
 * alone writes no WAL and holds that lock for microseconds. A crash between the two loses only the
 * wake-up: the job is stored, and an idle worker's backstop poll finds it.
 */
export const JOBS_CHANNEL = 'limit_jobs';
export const WAKE_WORKERS = { name: 'limit_wake_workers', text: `SELECT pg_notify('${JOBS_CHANNEL}', '')` };

/** $1 action, $2 payload: one job. */
export const ENQUEUE_ONE = {
  name: 'limit_enqueue_one',
  text: `INSERT INTO limit_job (action, payload) VALUES ($1, $2::jsonb)`,
};

/** $1 action, $2 a JSON array of payloads: one row each, in array order. */
export const ENQUEUE_MANY = {
  name: 'limit_enqueue_many',
  text: `WITH jobs AS (
           INSERT INTO limit_job (action, payload)
           SELECT $1, p FROM jsonb_array_elements($2::jsonb) WITH ORDINALITY AS e(p, n) ORDER BY n
           RETURNING id)
         SELECT count(*)::int AS n FROM jobs`,
};

/**
 * The worker's one statement per batch: marks the previous batch done ($4, held by this worker $1) and
 * claims up to $3 queued jobs of action $2, oldest first, skipping rows another worker has locked. Both
 * updates read one snapshot; they cannot touch the same row (the batch being finished is 'running', the
 * claim takes only 'queued' rows), so the order between them does not matter. Finishing and claiming in
 * one round trip is what a queue can do when a worker asks for its next work as it reports the last.
 */
export const COMPLETE_AND_CLAIM = {
  name: 'limit_complete_and_claim',
  text: `WITH done AS (
           UPDATE limit_job SET status = 'succeeded', finished_at = now()
            WHERE id = ANY($4::bigint[]) AND locked_by = $1 AND status = 'running'
           RETURNING id),
         claimed AS (
           UPDATE limit_job j SET status = 'running', attempts = j.attempts + 1, locked_by = $1, locked_at = now()
            WHERE j.id IN (SELECT q.id FROM limit_job q
                            WHERE q.status = 'queued' AND q.action = $2
                            ORDER BY q.id
                            LIMIT $3
                              FOR UPDATE SKIP LOCKED)
           RETURNING j.id, j.payload, j.attempts)
         SELECT (SELECT count(*)::int FROM done) AS done, c.id::text AS id, c.payload, c.attempts
           FROM (SELECT 1) one LEFT JOIN claimed c ON true`,
};

/** Jobs not done yet (queued or running), for one action. */
export const COUNT_UNFINISHED = `SELECT count(*)::int AS n FROM limit_job WHERE action = $1 AND status <> 'succeeded'`;

/** Per status, with how many ran more than once (the benchmark's jobs are never retried). */
export const COUNT_BY_STATUS = `SELECT status, count(*)::int AS n, count(*) FILTER (WHERE attempts > 1)::int AS repeated
                                  FROM limit_job WHERE action = $1 GROUP BY status`;

/** The done signal for latency runs (bench/systems/postgres-peer.ts): a job carrying a doneKey reached 'succeeded'. */
export function limitDoneTriggerSql(channel: string): string {
  return `
    CREATE FUNCTION bench_notify_done() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN PERFORM pg_notify('${channel}', NEW.payload->>'doneKey'); RETURN NULL; END $$;
    CREATE TRIGGER bench_done AFTER UPDATE OF status ON limit_job
      FOR EACH ROW WHEN (NEW.status = 'succeeded' AND (NEW.payload->>'doneKey') IS NOT NULL) EXECUTE FUNCTION bench_notify_done();`;
}
