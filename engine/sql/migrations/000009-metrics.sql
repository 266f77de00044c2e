-- Metrics (docs/metrics.md). Each engine counts in memory and adds what it counted to these rows every
-- few seconds (upsert-add), so engines sharing one database add up. Every count is written at three
-- resolutions at once — 10 s, 1 min, 1 h buckets — so no job rolls the fine rows up; the fine ones
-- are deleted once no range reads them (10 s after 3 h, 1 min after 3 days, 1 h after 90 days).

-- workflow_name '' is every workflow together (names are 1-200 characters, so it is no workflow's).
CREATE TABLE metric_bucket (
  resolution_s       integer NOT NULL,
  workflow_name      text NOT NULL,
  bucket_start       timestamptz NOT NULL,
  runs_created       bigint NOT NULL DEFAULT 0,
  runs_succeeded     bigint NOT NULL DEFAULT 0,
  runs_failed        bigint NOT NULL DEFAULT 0,
  runs_cancelled     bigint NOT NULL DEFAULT 0,
  tasks_created      bigint NOT NULL DEFAULT 0,
  tasks_succeeded    bigint NOT NULL DEFAULT 0,
  tasks_failed       bigint NOT NULL DEFAULT 0,
  tasks_cancelled    bigint NOT NULL DEFAULT 0,
  tasks_retried      bigint NOT NULL DEFAULT 0,
  concurrency_waits  bigint NOT NULL DEFAULT 0,
  rate_limit_waits   bigint NOT NULL DEFAULT 0,
  -- Log-scale latency histograms, sparse: {"<bucket index>": count} (engine/metrics/histogram.ts).
  queue_hist         jsonb NOT NULL DEFAULT '{}',
  queue_sum_ms       double precision NOT NULL DEFAULT 0,
  duration_hist      jsonb NOT NULL DEFAULT '{}',
  duration_sum_ms    double precision NOT NULL DEFAULT 0,
  -- Sampled gauges: sums of the samples taken in the bucket, and how many (on the '' row only: a
  -- workflow's average queue depth is its sum over the samples every workflow had).
  samples            integer NOT NULL DEFAULT 0,
  queue_depth_sum    bigint NOT NULL DEFAULT 0,
  queue_depth_max    bigint NOT NULL DEFAULT 0,
  slots_used_sum     bigint NOT NULL DEFAULT 0,
  slots_free_sum     bigint NOT NULL DEFAULT 0,
  PRIMARY KEY (resolution_s, workflow_name, bucket_start)
);

-- What tasks record with ctx.metric(name, value), per workflow and name.
CREATE TABLE metric_custom (
  resolution_s   integer NOT NULL,
  workflow_name  text NOT NULL,
  name           text NOT NULL,
  bucket_start   timestamptz NOT NULL,
  count          bigint NOT NULL,
  sum            double precision NOT NULL,
  min            double precision NOT NULL,
  max            double precision NOT NULL,
  PRIMARY KEY (resolution_s, workflow_name, name, bucket_start)
);

-- Adds two sparse histograms key by key.
CREATE FUNCTION cleaver_histogram_add(a jsonb, b jsonb) RETURNS jsonb AS $$
  SELECT COALESCE(jsonb_object_agg(k, n), '{}'::jsonb)
    FROM (SELECT k, sum(n) AS n
            FROM (SELECT key AS k, value::text::bigint AS n FROM jsonb_each(a)
                  UNION ALL
                  SELECT key, value::text::bigint FROM jsonb_each(b)) x
           GROUP BY k) y
$$ LANGUAGE sql IMMUTABLE;

-- Merges the histograms of many rows (a range, a step).
CREATE AGGREGATE cleaver_histogram_sum(jsonb) (SFUNC = cleaver_histogram_add, STYPE = jsonb, INITCOND = '{}');
