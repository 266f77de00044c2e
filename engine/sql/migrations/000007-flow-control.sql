-- Flow control (docs/flow-control.md): rate limits and concurrency keys, decided by the scheduler.

-- A rate-limit key. Static keys are made by rateLimits.upsert; dynamic ones by the scheduler on a task's
-- first use, with the limit and duration its definition gives. `state` is the scheduler's sliding window
-- (engine/scheduler/rate-window.ts), written by the lease holder in the same fenced statement as the
-- assignments that consumed it, so a new holder continues from exactly what was admitted.
CREATE TABLE rate_limit (
  key          text PRIMARY KEY,
  kind         text NOT NULL CHECK (kind IN ('static', 'dynamic')),
  limit_units  integer NOT NULL CHECK (limit_units > 0),
  duration     text NOT NULL CHECK (duration IN ('second', 'minute', 'hour', 'day', 'week', 'month', 'year')),
  state        jsonb,
  created_at   timestamptz NOT NULL DEFAULT now(),
  updated_at   timestamptz NOT NULL DEFAULT now()
);

-- The concurrency keys a task run holds while it is assigned or running: [[rule, key], …], evaluated by
-- the scheduler and written with its assignment, so a new holder knows what runs under each key.
ALTER TABLE task_run DROP COLUMN concurrency_key;
ALTER TABLE task_run ADD COLUMN concurrency_keys jsonb;
CREATE INDEX task_run_keyed_idx ON task_run (action) WHERE concurrency_keys IS NOT NULL AND status IN ('assigned', 'running');

-- A workflow's keys hold for its whole run: written when its first task run is admitted, cleared when
-- the run ends. The index's predicate leaves `status` out on purpose: a column in a predicate counts as
-- indexed, and every run's status change would stop being a HOT update.
ALTER TABLE run ADD COLUMN concurrency_keys jsonb;
CREATE INDEX run_keyed_idx ON run (id) WHERE concurrency_keys IS NOT NULL;
