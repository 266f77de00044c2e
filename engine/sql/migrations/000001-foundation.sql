-- Foundation: workflows and their versions, runs, task runs, attempts, workers, task logs.
-- Hot tables carry no foreign keys (they cost a lookup per inserted row on the enqueue path); the
-- engine keeps them consistent by writing related rows in one statement or transaction.
-- Columns marked "reserved" give flow control (keys, limits, leases) a place without a rewrite.

CREATE TABLE workflow (
  name            text PRIMARY KEY,
  latest_version  integer NOT NULL,
  created_at      timestamptz NOT NULL DEFAULT now(),
  updated_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE workflow_version (
  workflow_name   text NOT NULL,
  version         integer NOT NULL,
  checksum        text NOT NULL,
  -- The registered definition: { kind: 'task', task: TaskDefinition } for a standalone task.
  definition      jsonb NOT NULL,
  created_at      timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (workflow_name, version)
);

CREATE TABLE run (
  id                uuid PRIMARY KEY,
  workflow_name     text NOT NULL,
  workflow_version  integer NOT NULL,
  status            text NOT NULL CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
  input             jsonb NOT NULL,
  output            jsonb,
  error             jsonb,
  failure_reason    text,
  metadata          jsonb NOT NULL DEFAULT '{}',
  trigger_kind      text NOT NULL DEFAULT 'manual',   -- manual | event | child | cron
  parent_task_run_id uuid,                            -- reserved: child runs
  created_at        timestamptz NOT NULL DEFAULT now(),
  finished_at       timestamptz
) WITH (fillfactor = 80);  -- room on each page, so finishing a run can be a HOT update
CREATE INDEX run_workflow_created_idx ON run (workflow_name, created_at DESC);
CREATE INDEX run_created_idx ON run (created_at DESC);

CREATE TABLE task_run (
  id                  uuid PRIMARY KEY,
  run_id              uuid NOT NULL,
  task_name           text NOT NULL,
  action              text NOT NULL,                 -- what a worker registers to run; the queue it waits in
  status              text NOT NULL CHECK (status IN ('queued', 'assigned', 'running', 'succeeded', 'failed', 'cancelled')),
  priority            smallint NOT NULL DEFAULT 1,
  input               jsonb,                         -- NULL: the run's input (standalone and root tasks)
  output              jsonb,
  error               jsonb,                         -- the last failed attempt's {message, name, stack}
  failure_reason      text,
  attempt             integer NOT NULL DEFAULT 0,    -- current (or last) attempt; 0 before the first claim
  max_attempts        integer NOT NULL,              -- retries + 1
  worker_lost_count   integer NOT NULL DEFAULT 0,    -- attempts lost with their worker: not charged to retries
  backoff_factor      double precision,
  backoff_max_seconds double precision,
  execution_timeout_ms integer NOT NULL,
  schedule_timeout_ms integer NOT NULL,
  worker_id           uuid,
  available_at        timestamptz NOT NULL DEFAULT now(),  -- not claimable before (retry backoff)
  schedule_deadline   timestamptz NOT NULL,                -- still queued after it: SCHEDULE_TIMEOUT
  assigned_at         timestamptz,
  started_at          timestamptz,
  timeout_at          timestamptz,                         -- lease of the current attempt
  finished_at         timestamptz,
  created_at          timestamptz NOT NULL DEFAULT now(),
  concurrency_key     text,                                -- reserved: flow control
  sticky_worker_id    uuid                                 -- reserved: worker affinity
) WITH (fillfactor = 80);
CREATE INDEX task_run_run_idx ON task_run (run_id);
-- The claim path: queued task runs of one action, best priority first, then oldest (ids are UUIDv7).
CREATE INDEX task_run_queue_idx ON task_run (action, priority DESC, id) WHERE status = 'queued';
-- Maintenance: leases that can expire and queued runs that can miss their schedule deadline.
CREATE INDEX task_run_lease_idx ON task_run (timeout_at) WHERE status IN ('assigned', 'running');
CREATE INDEX task_run_worker_idx ON task_run (worker_id) WHERE status IN ('assigned', 'running');
CREATE INDEX task_run_deadline_idx ON task_run (schedule_deadline) WHERE status = 'queued';

-- One row per finished attempt. The attempt in progress lives on its task_run row (worker_id,
-- assigned_at, started_at, timeout_at) and becomes a row here when it ends, whatever way it ends.
CREATE TABLE attempt (
  task_run_id     uuid NOT NULL,
  attempt         integer NOT NULL,
  worker_id       uuid,
  status          text NOT NULL CHECK (status IN ('succeeded', 'failed', 'cancelled')),
  failure_reason  text,
  error           jsonb,
  assigned_at     timestamptz NOT NULL,
  started_at      timestamptz,
  finished_at     timestamptz NOT NULL,
  PRIMARY KEY (task_run_id, attempt)
);

CREATE TABLE worker (
  id                uuid PRIMARY KEY,
  name              text NOT NULL,
  engine_id         uuid NOT NULL,
  session_id        uuid NOT NULL,                   -- one per connection: stale updates of an old one are ignored
  actions           text[] NOT NULL,
  slots             integer NOT NULL,
  labels            jsonb NOT NULL DEFAULT '{}',
  address           text NOT NULL,
  status            text NOT NULL CHECK (status IN ('active', 'draining', 'disconnected')),
  connected_at      timestamptz NOT NULL DEFAULT now(),
  last_heartbeat_at timestamptz NOT NULL DEFAULT now(),
  disconnected_at   timestamptz
);
CREATE INDEX worker_heartbeat_idx ON worker (last_heartbeat_at) WHERE status <> 'disconnected';

CREATE TABLE task_log (
  id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  task_run_id  uuid NOT NULL,
  attempt      integer NOT NULL,
  level        text NOT NULL,
  message      text NOT NULL,
  created_at   timestamptz NOT NULL
);
CREATE INDEX task_log_task_run_idx ON task_log (task_run_id, id);
