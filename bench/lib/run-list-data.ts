/**
 * The run-list benchmark's data: many runs written straight into the run and task_run tables by one
 * INSERT … SELECT over generate_series per chunk (the engine would take hours to trigger a million one
 * by one). The benchmark's own statements, like postgres-admin.ts: they build a test bench, not the
 * product, and run unchanged on Postgres and PGlite.
 *
 * The shape is a month of a small application's history:
 * - six workflows, from 35% of the runs down to 5%; one of them a three-task DAG (kind 'workflow');
 * - 92.5% succeeded, 5% failed, 2.5% cancelled; the newest 1,000 queued or running, and one run in
 *   40,000 still running from long ago (a durable wait), so a "running" list has a few to find far back;
 * - triggers: 60% manual, 25% event, 10% child (of a random task run), the cleanup workflow by cron;
 * - 70% carry metadata {tenant (200, skewed), env (prod 80%), customer (50,000)}, 30% none;
 * - inputs of 150-300 bytes of JSON with words drawn from RUN_WORDS with a steep skew (the first word
 *   is in about half the inputs, the last in a few in a thousand), an order id unique to each run and
 *   a customer id shared by about twenty; outputs and errors from a few templates each with variable parts.
 * Ids are UUIDv7 of each run's created_at, as the engine makes them.
 */
import { PGlite } from '@electric-sql/pglite';
import { withDatabase } from './postgres-admin.ts';

/** The words inputs are made of; earlier ones are far more frequent (index ~ n·random()³). */
export const RUN_WORDS = [
  'invoice', 'order', 'welcome', 'reminder', 'report', 'weekly', 'account', 'update', 'summary', 'payment',
  'receipt', 'shipping', 'confirm', 'password', 'reset', 'trial', 'upgrade', 'monthly', 'digest', 'alert',
  'thumbnail', 'banner', 'avatar', 'gallery', 'product', 'catalog', 'export', 'import', 'contact', 'lead',
  'renewal', 'refund', 'dispute', 'subscription', 'coupon', 'discount', 'feedback', 'survey', 'newsletter', 'launch',
  'security', 'login', 'device', 'verify', 'session', 'billing', 'quota', 'storage', 'backup', 'restore',
  'pipeline', 'dataset', 'training', 'evaluation', 'embedding', 'index', 'search', 'ranking', 'preview', 'draft',
  'approval', 'review', 'comment', 'mention', 'invite', 'team', 'workspace', 'project', 'milestone', 'deadline',
  'warehouse', 'inventory', 'supplier', 'purchase', 'quote', 'contract', 'signature', 'compliance', 'audit', 'policy',
  'holiday', 'schedule', 'calendar', 'meeting', 'agenda', 'minutes', 'travel', 'booking', 'flight', 'hotel',
  'loyalty', 'points', 'reward', 'referral', 'partner', 'affiliate', 'campaign', 'segment', 'cohort', 'retention',
  'ocelot', 'quasar', 'zeppelin', 'marmalade', 'obsidian', 'kumquat', 'juniper', 'tamarind', 'vermilion', 'xylophone',
];

/** The templates of a failed run's error message ({n} a number, {w} a word). */
const ERROR_MESSAGES = [
  'connect ECONNREFUSED 10.0.{n}.{n}:5432',
  'Request to api.stripe.com timed out after 30000ms',
  'card_declined: insufficient funds on card ending {n}',
  'RateLimitError: 429 Too Many Requests (retry after {n}s)',
  "TypeError: Cannot read properties of undefined (reading '{w}')",
  'S3 PutObject failed: AccessDenied for bucket media-{w}',
  'SMTP 550 mailbox unavailable for user{n}@example.com',
  'ValidationError: field {w} is required',
];

const WORKFLOWS = ['send-email', 'resize-image', 'sync-crm', 'charge-card', 'generate-report', 'nightly-cleanup'] as const;
export type BenchWorkflow = (typeof WORKFLOWS)[number];

/** Runs of each workflow, as a share of all runs (cumulative thresholds in the generator below). */
export const WORKFLOW_SHARES: Record<BenchWorkflow, number> = {
  'send-email': 0.35,
  'resize-image': 0.25,
  'sync-crm': 0.15,
  'charge-card': 0.12,
  'generate-report': 0.08,
  'nightly-cleanup': 0.05,
};

/** How many runs the newest ones in the queued/running state are. */
export const LIVE_RUNS = 1_000;

export interface RunListDataParams {
  /** Runs in all. */
  total: number;
  /** This chunk: runs number `from` to `to` (1-based, inclusive) of `total`, oldest first. */
  from: number;
  to: number;
  /** When the newest run was created (epoch ms); the oldest is `spanMs` before it. */
  endMs: number;
  spanMs: number;
}

/**
 * One chunk of runs and their task runs, as one statement and its parameters. Chunks of 50,000-100,000
 * keep each statement's memory and WAL bounded.
 */
export function runListDataInsert(params: RunListDataParams): { text: string; values: unknown[] } {
  const wordPick = `($6::text[])[1 + floor(cardinality($6::text[]) * power(random(), 3))::int]`;
  const errorPick = `replace(replace(($7::text[])[1 + floor(cardinality($7::text[]) * random())::int], '{n}', (floor(random() * 250))::text), '{w}', ${wordPick})`;
  let cumulative = 0;
  const workflowCase = WORKFLOWS.map((w) => {
    cumulative += WORKFLOW_SHARES[w];
    return `WHEN r_wf < ${cumulative.toFixed(4)} THEN '${w}'`;
  }).join(' ');
  const text = `
    WITH g AS (
      SELECT i,
             to_timestamp(($4::float8 - ($3::bigint - i) * ($5::float8 / $3::bigint)) / 1000) AS created_at,
             random() AS r_wf, random() AS r_status, random() AS r_trig, random() AS r_meta, random() AS r_dur
        FROM generate_series($1::bigint, $2::bigint) AS i
    ),
    w AS (
      SELECT g.*, CASE ${workflowCase} ELSE 'nightly-cleanup' END AS workflow_name
        FROM g
    ),
    s AS (
      SELECT w.*,
             CASE WHEN w.workflow_name = 'generate-report' THEN 'workflow' ELSE 'task' END AS kind,
             CASE WHEN w.i > $3::bigint - ${LIVE_RUNS} THEN CASE WHEN w.r_status < 0.4 THEN 'queued' ELSE 'running' END
                  WHEN w.r_status < 0.000025 THEN 'running'
                  WHEN w.r_status < 0.925 THEN 'succeeded'
                  WHEN w.r_status < 0.975 THEN 'failed'
                  ELSE 'cancelled' END AS status,
             CASE WHEN w.workflow_name = 'nightly-cleanup' THEN 'cron'
                  WHEN w.r_trig < 0.60 THEN 'manual' WHEN w.r_trig < 0.85 THEN 'event' ELSE 'child' END AS trigger_kind
        FROM w
    ),
    v AS (
      SELECT s.*,
             CASE WHEN s.r_meta < 0.7
                  THEN jsonb_build_object('tenant', 't-' || floor(200 * power(random(), 2))::int,
                                          'env', CASE WHEN random() < 0.8 THEN 'prod' ELSE 'staging' END,
                                          'customer', 'c-' || floor(random() * 50000)::int)
                  ELSE '{}'::jsonb END AS metadata,
             CASE s.workflow_name
               WHEN 'send-email' THEN jsonb_build_object('to', 'user' || floor(random() * 100000)::int || '@example.com',
                 'template', ${wordPick}, 'subject', ${wordPick} || ' ' || ${wordPick} || ' ' || ${wordPick} || ' ' || ${wordPick},
                 'orderId', 'ord_' || s.i, 'batch', 'batch' || floor(random() * 2000)::int)
               WHEN 'resize-image' THEN jsonb_build_object('url', 'https://cdn.example.com/' || ${wordPick} || '/' || substr(md5(s.i::text), 1, 16) || '.jpg',
                 'width', 64 * (1 + floor(random() * 30))::int, 'height', 64 * (1 + floor(random() * 20))::int,
                 'caption', ${wordPick} || ' ' || ${wordPick} || ' ' || ${wordPick}, 'orderId', 'ord_' || s.i)
               WHEN 'sync-crm' THEN jsonb_build_object('account', 'acct_' || floor(random() * 20000)::int,
                 'fields', jsonb_build_array(${wordPick}, ${wordPick}),
                 'note', ${wordPick} || ' ' || ${wordPick} || ' ' || ${wordPick} || ' ' || ${wordPick} || ' ' || ${wordPick}, 'orderId', 'ord_' || s.i)
               WHEN 'charge-card' THEN jsonb_build_object('customer', 'c-' || floor(random() * 50000)::int, 'amountCents', floor(random() * 100000)::int,
                 'currency', CASE WHEN random() < 0.7 THEN 'usd' ELSE 'eur' END,
                 'description', ${wordPick} || ' ' || ${wordPick} || ' ' || ${wordPick}, 'orderId', 'ord_' || s.i)
               WHEN 'generate-report' THEN jsonb_build_object('report', ${wordPick}, 'period', to_char(s.created_at, 'YYYY-MM'),
                 'title', ${wordPick} || ' ' || ${wordPick} || ' ' || ${wordPick}, 'orderId', 'ord_' || s.i)
               ELSE jsonb_build_object('olderThanDays', 30, 'dryRun', false, 'orderId', 'ord_' || s.i)
             END AS input,
             CASE WHEN s.status = 'succeeded' AND s.kind = 'task'
                  THEN jsonb_build_object('ok', true, 'provider', CASE s.workflow_name WHEN 'send-email' THEN 'sendgrid' WHEN 'resize-image' THEN 'imgproxy'
                                          WHEN 'sync-crm' THEN 'hubspot' WHEN 'charge-card' THEN 'stripe' ELSE 'cron' END,
                                          'id', substr(md5('out' || s.i), 1, 12), 'ms', floor(random() * 2000)::int)
             END AS output,
             CASE WHEN s.status = 'failed' THEN jsonb_build_object('message', ${errorPick}, 'name', 'Error')
                  WHEN s.status = 'cancelled' THEN jsonb_build_object('message', 'cancelled by an operator', 'name', 'Cancelled')
             END AS error,
             encode(set_bit(set_bit(overlay(uuid_send(gen_random_uuid())
                                            PLACING substring(int8send(floor(extract(epoch FROM s.created_at) * 1000)::bigint) FROM 3)
                                            FROM 1 FOR 6), 52, 1), 53, 1), 'hex')::uuid AS id
        FROM s
    ),
    runs AS (
      INSERT INTO run (id, workflow_name, workflow_version, kind, status, input, output, error, failure_reason, metadata,
                       trigger_kind, parent_task_run_id, child_key, created_at, finished_at, tasks_remaining, tasks_failed)
      SELECT v.id, v.workflow_name, 1, v.kind, v.status, v.input, v.output, v.error,
             CASE v.status WHEN 'failed' THEN 'TASK_ERROR' WHEN 'cancelled' THEN 'CANCELLED' END,
             v.metadata, v.trigger_kind,
             CASE WHEN v.trigger_kind = 'child' THEN gen_random_uuid() END,
             CASE WHEN v.trigger_kind = 'child' THEN '0' END,
             v.created_at,
             CASE WHEN v.status IN ('succeeded', 'failed', 'cancelled') THEN v.created_at + v.r_dur * interval '5 seconds' END,
             CASE WHEN v.status IN ('queued', 'running') THEN CASE v.kind WHEN 'workflow' THEN 3 ELSE 1 END ELSE 0 END,
             CASE WHEN v.status = 'failed' THEN 1 ELSE 0 END
        FROM v
      RETURNING id, workflow_name, kind, status, output, error, created_at, finished_at
    )
    INSERT INTO task_run (id, run_id, task_name, action, kind, status, output, error, failure_reason, attempt, max_attempts,
                          execution_timeout_ms, schedule_timeout_ms, schedule_deadline, created_at, started_at, finished_at)
    SELECT encode(set_bit(set_bit(overlay(uuid_send(gen_random_uuid())
                                          PLACING substring(int8send(floor(extract(epoch FROM r.created_at) * 1000)::bigint) FROM 3)
                                          FROM 1 FOR 6), 52, 1), 53, 1), 'hex')::uuid,
           r.id,
           CASE r.kind WHEN 'workflow' THEN (ARRAY['fetch', 'render', 'upload'])[n] ELSE r.workflow_name END,
           CASE r.kind WHEN 'workflow' THEN r.workflow_name || ':' || (ARRAY['fetch', 'render', 'upload'])[n] ELSE r.workflow_name END,
           CASE r.kind WHEN 'workflow' THEN 'dag' ELSE 'standalone' END,
           CASE WHEN r.status IN ('queued', 'running') AND n > 1 THEN 'pending' ELSE r.status END,
           r.output, r.error,
           CASE r.status WHEN 'failed' THEN 'TASK_ERROR' WHEN 'cancelled' THEN 'CANCELLED' END,
           CASE WHEN r.status = 'queued' THEN 0 ELSE 1 END, 1, 60000, 300000,
           r.created_at + interval '5 minutes', r.created_at,
           CASE WHEN r.status <> 'queued' THEN r.created_at END, r.finished_at
      FROM runs r
      CROSS JOIN LATERAL generate_series(1, CASE r.kind WHEN 'workflow' THEN 3 ELSE 1 END) AS n`;
  return { text, values: [params.from, params.to, params.total, params.endMs, params.spanMs, RUN_WORDS, ERROR_MESSAGES] };
}

export interface RunListLoad {
  runs: number;
  endMs: number;
  spanMs: number;
}

/** Runs per statement: each one's memory and WAL stay bounded. */
const CHUNK = 50_000;

/** The tables a load fills, with their indexes, for the report. */
const SIZES_SQL = `SELECT c.relname AS name, pg_size_pretty(pg_total_relation_size(c.oid)) AS size
                     FROM pg_class c WHERE c.oid IN ('run'::regclass, 'task_run'::regclass)`;

async function loadChunks(query: (text: string, values: unknown[]) => Promise<unknown>, options: RunListLoad): Promise<void> {
  for (let from = 1; from <= options.runs; from += CHUNK) {
    const statement = runListDataInsert({ total: options.runs, from, to: Math.min(options.runs, from + CHUNK - 1), endMs: options.endMs, spanMs: options.spanMs });
    await query(statement.text, statement.values);
  }
}

/** Loads runs into a Cleaver schema on Postgres (its engine may be running: it has no work to do). */
export function loadRunsPostgres(options: RunListLoad & { url: string; schema: string }): Promise<Record<string, string>> {
  return withDatabase(options.url, async (client) => {
    await client.query(`SET search_path = "${options.schema.replaceAll('"', '""')}"`);
    await loadChunks((text, values) => client.query(text, values), options);
    await client.query('ANALYZE run');
    await client.query('ANALYZE task_run');
    const sizes = await client.query<{ name: string; size: string }>(SIZES_SQL);
    return Object.fromEntries(sizes.rows.map((r) => [r.name, r.size]));
  });
}

/** Loads runs into a Cleaver PGlite data dir whose engine is stopped (PGlite has one connection). */
export async function loadRunsPglite(options: RunListLoad & { pgdata: string }): Promise<Record<string, string>> {
  const db = await PGlite.create({ dataDir: options.pgdata });
  try {
    await loadChunks((text, values) => db.query(text, values), options);
    await db.exec('ANALYZE run; ANALYZE task_run; CHECKPOINT');
    const sizes = await db.query<{ name: string; size: string }>(SIZES_SQL);
    return Object.fromEntries(sizes.rows.map((r) => [r.name, r.size]));
  } finally {
    await db.close();
  }
}
