/**
 * Metrics buckets (migration 000009, docs/metrics.md): what engines add to them, what ranges read from
 * them, the samples of queue depth and slots, and the deletion of resolutions no range reads any more.
 */
import type { NamedStatement, Queryable } from '../db/driver.ts';
import type { MetricsCounts } from '../../shared/metrics.ts';
import type { Histogram } from '../metrics/histogram.ts';

/** Columns added up when engines (or flushes) meet in one bucket, by their field. */
const ADDED = {
  runsCreated: 'runs_created',
  runsSucceeded: 'runs_succeeded',
  runsFailed: 'runs_failed',
  runsCancelled: 'runs_cancelled',
  tasksCreated: 'tasks_created',
  tasksSucceeded: 'tasks_succeeded',
  tasksFailed: 'tasks_failed',
  tasksCancelled: 'tasks_cancelled',
  tasksRetried: 'tasks_retried',
  concurrencyWaits: 'concurrency_waits',
  rateLimitWaits: 'rate_limit_waits',
  samples: 'samples',
  queueDepthSum: 'queue_depth_sum',
  slotsUsedSum: 'slots_used_sum',
  slotsFreeSum: 'slots_free_sum',
  queueSumMs: 'queue_sum_ms',
  durationSumMs: 'duration_sum_ms',
} as const;

const FLOAT_COLUMNS: ReadonlySet<string> = new Set(['queue_sum_ms', 'duration_sum_ms']);

/** What one engine counted for a workflow ('' for all of them) in one bucket of one resolution. */
export interface MetricBucketValues extends MetricsCounts {
  queueHist: Histogram;
  queueSumMs: number;
  durationHist: Histogram;
  durationSumMs: number;
  /** Gauge samples taken (on the '' row), and the sums and maximum of what they read. */
  samples: number;
  queueDepthSum: number;
  queueDepthMax: number;
  slotsUsedSum: number;
  slotsFreeSum: number;
}

export interface MetricBucketDelta extends MetricBucketValues {
  resolutionS: number;
  workflowName: string;
  /** Epoch seconds, a multiple of resolutionS. */
  bucketStartS: number;
}

export interface MetricCustomDelta {
  resolutionS: number;
  workflowName: string;
  name: string;
  bucketStartS: number;
  count: number;
  sum: number;
  min: number;
  max: number;
}

const added = Object.values(ADDED);

const METRIC_BUCKET_UPSERT: NamedStatement = {
  name: 'cleaver_metric_bucket_upsert',
  text: `INSERT INTO metric_bucket AS m (resolution_s, workflow_name, bucket_start, ${added.join(', ')},
                                     queue_depth_max, queue_hist, duration_hist)
     SELECT v.resolution_s, v.workflow_name, to_timestamp(v.bucket_s), ${added.map((c) => `v.${c}`).join(', ')},
            v.queue_depth_max, v.queue_hist, v.duration_hist
       FROM jsonb_to_recordset($1::jsonb) AS v(resolution_s int, workflow_name text, bucket_s bigint,
              ${added.map((c) => `${c} ${FLOAT_COLUMNS.has(c) ? 'float8' : 'bigint'}`).join(', ')},
              queue_depth_max bigint, queue_hist jsonb, duration_hist jsonb)
      -- In key order: engines flushing at once lock the rows they share in the same order (no deadlock).
      ORDER BY v.resolution_s, v.workflow_name, v.bucket_s
     ON CONFLICT (resolution_s, workflow_name, bucket_start) DO UPDATE
        SET ${added.map((c) => `${c} = m.${c} + excluded.${c}`).join(', ')},
            queue_depth_max = GREATEST(m.queue_depth_max, excluded.queue_depth_max),
            queue_hist = cleaver_histogram_add(m.queue_hist, excluded.queue_hist),
            duration_hist = cleaver_histogram_add(m.duration_hist, excluded.duration_hist)`,
};

const METRIC_CUSTOM_UPSERT: NamedStatement = {
  name: 'cleaver_metric_custom_upsert',
  text: `INSERT INTO metric_custom AS m (resolution_s, workflow_name, name, bucket_start, count, sum, min, max)
     SELECT v.resolution_s, v.workflow_name, v.name, to_timestamp(v.bucket_s), v.count, v.sum, v.min, v.max
       FROM jsonb_to_recordset($1::jsonb) AS v(resolution_s int, workflow_name text, name text, bucket_s bigint,
                                               count bigint, sum float8, min float8, max float8)
      ORDER BY v.resolution_s, v.workflow_name, v.name, v.bucket_s
     ON CONFLICT (resolution_s, workflow_name, name, bucket_start) DO UPDATE
        SET count = m.count + excluded.count, sum = m.sum + excluded.sum,
            min = LEAST(m.min, excluded.min), max = GREATEST(m.max, excluded.max)`,
};

/** Adds counts to their buckets (created as needed). */
export async function metricBucketUpsert(db: Queryable, params: { rows: readonly MetricBucketDelta[] }): Promise<void> {
  if (params.rows.length === 0) return;
  const items = params.rows.map((r) => {
    const item: Record<string, unknown> = {
      resolution_s: r.resolutionS,
      workflow_name: r.workflowName,
      bucket_s: r.bucketStartS,
      queue_depth_max: r.queueDepthMax,
      queue_hist: r.queueHist,
      duration_hist: r.durationHist,
    };
    for (const [field, column] of Object.entries(ADDED)) item[column] = r[field as keyof typeof ADDED];
    return item;
  });
  await db.query(METRIC_BUCKET_UPSERT, [JSON.stringify(items)]);
}

export async function metricCustomUpsert(db: Queryable, params: { rows: readonly MetricCustomDelta[] }): Promise<void> {
  if (params.rows.length === 0) return;
  const items = params.rows.map((r) => ({ resolution_s: r.resolutionS, workflow_name: r.workflowName, name: r.name, bucket_s: r.bucketStartS, count: r.count, sum: r.sum, min: r.min, max: r.max }));
  await db.query(METRIC_CUSTOM_UPSERT, [JSON.stringify(items)]);
}

/** Sums over a range, per workflow and (with stepMs) per step of the range. */
export interface MetricBucketSum extends MetricBucketValues {
  workflowName: string;
  /** The step's start in epoch ms; null without stepMs. */
  atMs: number | null;
}

/**
 * Sums of the buckets of one resolution in [fromMs, toMs): of the workflows named ('' is every workflow
 * together), or of every workflow but '' when `workflowNames` is null; grouped by workflow, and by
 * step of `stepMs` (a multiple of the resolution) when given.
 */
export async function metricBucketSums(
  db: Queryable,
  params: { resolutionS: number; fromMs: number; toMs: number; workflowNames: string[] | null; stepMs: number | null },
): Promise<MetricBucketSum[]> {
  const result = await db.query<Record<string, unknown>>(
    `SELECT workflow_name,
            CASE WHEN $5::float8 > 0 THEN floor(extract(epoch FROM bucket_start) * 1000 / $5::float8) * $5::float8 END AS at_ms,
            ${added.map((c) => `sum(${c})::float8 AS ${c}`).join(', ')},
            max(queue_depth_max)::float8 AS queue_depth_max,
            cleaver_histogram_sum(queue_hist) AS queue_hist, cleaver_histogram_sum(duration_hist) AS duration_hist
       FROM metric_bucket
      WHERE resolution_s = $1 AND bucket_start >= to_timestamp($2::float8 / 1000) AND bucket_start < to_timestamp($3::float8 / 1000)
        AND (CASE WHEN $4::text[] IS NULL THEN workflow_name <> '' ELSE workflow_name = ANY($4::text[]) END)
      GROUP BY workflow_name, at_ms`,
    [params.resolutionS, params.fromMs, params.toMs, params.workflowNames, params.stepMs ?? 0],
  );
  return result.rows.map((row) => {
    const sum = {
      workflowName: row.workflow_name as string,
      atMs: row.at_ms === null ? null : Number(row.at_ms),
      queueDepthMax: Number(row.queue_depth_max),
      queueHist: (row.queue_hist ?? {}) as Histogram,
      durationHist: (row.duration_hist ?? {}) as Histogram,
    } as MetricBucketSum;
    for (const [field, column] of Object.entries(ADDED)) (sum as unknown as Record<string, number>)[field] = Number(row[column]);
    return sum;
  });
}

export interface MetricCustomSum {
  name: string;
  atMs: number;
  count: number;
  sum: number;
  min: number;
  max: number;
}

/** A workflow's custom metrics in [fromMs, toMs), per name and step, names in order (at most `maxNames` of them). */
export async function metricCustomSums(
  db: Queryable,
  params: { resolutionS: number; workflowName: string; fromMs: number; toMs: number; stepMs: number; maxNames: number },
): Promise<MetricCustomSum[]> {
  const result = await db.query<{ name: string; at_ms: number | string; count: number | string; sum: number; min: number; max: number }>(
    `SELECT name, floor(extract(epoch FROM bucket_start) * 1000 / $5::float8) * $5::float8 AS at_ms,
            sum(count)::float8 AS count, sum(sum) AS sum, min(min) AS min, max(max) AS max
       FROM metric_custom
      WHERE resolution_s = $1 AND workflow_name = $2
        AND bucket_start >= to_timestamp($3::float8 / 1000) AND bucket_start < to_timestamp($4::float8 / 1000)
        AND name IN (SELECT DISTINCT name FROM metric_custom
                      WHERE resolution_s = $1 AND workflow_name = $2
                        AND bucket_start >= to_timestamp($3::float8 / 1000) AND bucket_start < to_timestamp($4::float8 / 1000)
                      ORDER BY name LIMIT $6)
      GROUP BY name, at_ms
      ORDER BY name, at_ms`,
    [params.resolutionS, params.workflowName, params.fromMs, params.toMs, params.stepMs, params.maxNames],
  );
  return result.rows.map((r) => ({ name: r.name, atMs: Number(r.at_ms), count: Number(r.count), sum: Number(r.sum), min: Number(r.min), max: Number(r.max) }));
}

/** Deletes the buckets of a resolution older than `keepMs`. */
export async function metricBucketExpire(db: Queryable, params: { resolutionS: number; keepMs: number }): Promise<void> {
  for (const table of ['metric_bucket', 'metric_custom']) {
    await db.query(`DELETE FROM ${table} WHERE resolution_s = $1 AND bucket_start < now() - $2::float8 * interval '1 millisecond'`, [params.resolutionS, params.keepMs]);
  }
}

/** Queued task runs per action (those in a retry's backoff included). One pass over the queued index. */
export async function metricQueueDepthList(db: Queryable): Promise<Array<{ action: string; queued: number }>> {
  const result = await db.query<{ action: string; queued: string | number }>(`SELECT action, count(*) AS queued FROM task_run WHERE status = 'queued' GROUP BY action`);
  return result.rows.map((r) => ({ action: r.action, queued: Number(r.queued) }));
}

/**
 * Worker slots across every engine: in use (task runs assigned or running) and free (the slots of
 * active workers heard from within `staleMs`, less what runs on them).
 */
export async function metricSlotsGet(db: Queryable, params: { staleMs: number }): Promise<{ used: number; free: number }> {
  const result = await db.query<{ used: string | number; slots: string | number; busy: string | number; held: string | number }>(
    `SELECT (SELECT count(*) FROM task_run WHERE status IN ('assigned', 'running')) AS used,
            COALESCE(sum(w.slots), 0) AS slots, COALESCE(sum(LEAST(b.n, w.slots)), 0) AS busy,
            COALESCE(sum(GREATEST(b.n - w.slots, 0)), 0) AS held
       FROM worker w
       CROSS JOIN LATERAL (SELECT count(*) AS n FROM task_run t WHERE t.worker_id = w.id AND t.status IN ('assigned', 'running')) b
      WHERE w.status = 'active' AND w.last_heartbeat_at > now() - $1::int * interval '1 millisecond'`,
    [Math.round(params.staleMs)],
  );
  const row = result.rows[0]!;
  // What live workers hold beyond their slots (prefetch) waits in them: counted in neither.
  return { used: Math.max(0, Number(row.used) - Number(row.held)), free: Math.max(0, Number(row.slots) - Number(row.busy)) };
}
