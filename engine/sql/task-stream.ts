/**
 * Stream chunks (docs/streaming.md): appended in batches, trimmed to a byte bound per task run, read
 * per run after a cursor. Migration 000008 holds the tables.
 */
import type { Queryable } from '../db/driver.ts';
import type { RunStatus } from '../../shared/types.ts';
import type { StreamChunkEvent, StreamChunkKind, StreamCursor } from '../../shared/stream.ts';
import { toDate } from './rows.ts';

export interface StreamChunkToStore {
  taskRunId: string;
  attempt: number;
  seq: number;
  kind: StreamChunkKind;
  /** Text as is, JSON as its text, bytes base64-encoded. */
  data: string;
  bytes: number;
  /** Epoch ms on the worker. */
  at: number;
}

export interface StoredStreamChunk extends StreamChunkEvent {
  runId: string;
  /** What the task run keeps now, this chunk included (before any trim). */
  keptBytes: number;
}

interface ChunkRow {
  task_run_id: string;
  task_name: string;
  attempt: number;
  seq: number;
  kind: StreamChunkKind;
  data: string;
  bytes: number;
  created_at: Date | string;
}

/**
 * Stores chunks (one copy of each (task run, attempt, seq): a chunk sent again is skipped) and returns
 * those stored now, with their run and task, in (task run, attempt, seq) order.
 */
export async function taskStreamAppend(db: Queryable, params: { chunks: readonly StreamChunkToStore[] }): Promise<StoredStreamChunk[]> {
  if (params.chunks.length === 0) return [];
  const c = params.chunks;
  const result = await db.query<ChunkRow & { run_id: string; kept_bytes: string | number }>(
    `WITH input AS (
       SELECT DISTINCT ON (task_run_id, attempt, seq) *
         FROM unnest($1::uuid[], $2::int[], $3::int[], $4::text[], $5::text[], $6::int[], $7::timestamptz[])
           AS i(task_run_id, attempt, seq, kind, data, bytes, created_at)
     ),
     inserted AS (
       INSERT INTO task_stream_chunk (task_run_id, attempt, seq, kind, data, bytes, created_at)
       SELECT task_run_id, attempt, seq, kind, data, bytes, created_at FROM input
       ON CONFLICT DO NOTHING
       RETURNING task_run_id, attempt, seq, kind, data, bytes, created_at
     ),
     kept AS (
       INSERT INTO task_stream AS s (task_run_id, kept_bytes)
       SELECT task_run_id, sum(bytes) FROM inserted GROUP BY task_run_id
       ON CONFLICT (task_run_id) DO UPDATE SET kept_bytes = s.kept_bytes + excluded.kept_bytes
       RETURNING task_run_id, kept_bytes
     )
     SELECT n.task_run_id, n.attempt, n.seq, n.kind, n.data, n.bytes, n.created_at, t.run_id, t.task_name, k.kept_bytes
       FROM inserted n
       JOIN task_run t ON t.id = n.task_run_id
       JOIN kept k ON k.task_run_id = n.task_run_id
      ORDER BY n.task_run_id, n.attempt, n.seq`,
    [
      c.map((x) => x.taskRunId),
      c.map((x) => x.attempt),
      c.map((x) => x.seq),
      c.map((x) => x.kind),
      c.map((x) => x.data),
      c.map((x) => x.bytes),
      c.map((x) => new Date(x.at).toISOString()),
    ],
  );
  return result.rows.map((r) => ({ ...toChunkEvent(r), runId: r.run_id, keptBytes: Number(r.kept_bytes) }));
}

/**
 * Deletes the oldest chunks of these task runs beyond `retentionBytes` (the newest chunk is always
 * kept), counting what was cut on their task_stream rows.
 */
export async function taskStreamTrim(db: Queryable, params: { taskRunIds: readonly string[]; retentionBytes: number }): Promise<void> {
  if (params.taskRunIds.length === 0) return;
  await db.query(
    `WITH ranked AS (
       SELECT task_run_id, attempt, seq,
              sum(bytes) OVER w AS newest_bytes,
              row_number() OVER w AS newest_rank
         FROM task_stream_chunk
        WHERE task_run_id = ANY($1::uuid[])
       WINDOW w AS (PARTITION BY task_run_id ORDER BY attempt DESC, seq DESC)
     ),
     gone AS (
       DELETE FROM task_stream_chunk c USING ranked r
        WHERE c.task_run_id = r.task_run_id AND c.attempt = r.attempt AND c.seq = r.seq
          AND r.newest_rank > 1 AND r.newest_bytes > $2
       RETURNING c.task_run_id, c.bytes
     )
     UPDATE task_stream s
        SET kept_bytes = s.kept_bytes - g.bytes, cut_chunks = s.cut_chunks + g.chunks, cut_bytes = s.cut_bytes + g.bytes
       FROM (SELECT task_run_id, sum(bytes) AS bytes, count(*) AS chunks FROM gone GROUP BY task_run_id) g
      WHERE s.task_run_id = g.task_run_id`,
    [params.taskRunIds, params.retentionBytes],
  );
}

/**
 * A run's kept chunks after `after`, in (task run, attempt, seq) order, a page of at most `maxBytes`
 * (at least one chunk) and `maxChunks`; `more` when the page stopped short of the end.
 */
export async function taskStreamRead(
  db: Queryable,
  params: { runId: string; after: StreamCursor; maxBytes: number; maxChunks: number },
): Promise<{ chunks: StreamChunkEvent[]; more: boolean }> {
  const after = Object.entries(params.after);
  const result = await db.query<ChunkRow & { total: string | number }>(
    `SELECT task_run_id, task_name, attempt, seq, kind, data, bytes, created_at, total FROM (
       SELECT c.task_run_id, t.task_name, c.attempt, c.seq, c.kind, c.data, c.bytes, c.created_at,
              sum(c.bytes) OVER w AS running,
              row_number() OVER w AS n,
              count(*) OVER () AS total
         FROM task_run t
         JOIN task_stream_chunk c ON c.task_run_id = t.id
         LEFT JOIN unnest($2::uuid[], $3::int[], $4::int[]) AS k(task_run_id, attempt, seq) ON k.task_run_id = t.id
        WHERE t.run_id = $1 AND (k.task_run_id IS NULL OR (c.attempt, c.seq) > (k.attempt, k.seq))
       WINDOW w AS (ORDER BY c.task_run_id, c.attempt, c.seq)
     ) page
     WHERE (n = 1 OR running <= $5) AND n <= $6
     ORDER BY task_run_id, attempt, seq`,
    [params.runId, after.map(([id]) => id), after.map(([, p]) => p[0]), after.map(([, p]) => p[1]), params.maxBytes, params.maxChunks],
  );
  const total = result.rows.length > 0 ? Number(result.rows[0]!.total) : 0;
  return { chunks: result.rows.map(toChunkEvent), more: total > result.rows.length };
}

/**
 * A run's status and, for its task runs whose older chunks were trimmed, how many; null for an
 * unknown run.
 */
export async function taskStreamRunState(
  db: Queryable,
  params: { runId: string },
): Promise<{ status: RunStatus; cuts: Array<{ taskRunId: string; taskName: string; chunks: number; bytes: number }> } | null> {
  const result = await db.query<{ status: RunStatus; cuts: Array<{ taskRunId: string; taskName: string; chunks: number; bytes: number }> }>(
    `SELECT r.status,
            COALESCE((SELECT jsonb_agg(jsonb_build_object('taskRunId', t.id, 'taskName', t.task_name, 'chunks', s.cut_chunks, 'bytes', s.cut_bytes) ORDER BY t.id)
                        FROM task_run t JOIN task_stream s ON s.task_run_id = t.id
                       WHERE t.run_id = r.id AND s.cut_chunks > 0), '[]'::jsonb) AS cuts
       FROM run r WHERE r.id = $1`,
    [params.runId],
  );
  const row = result.rows[0];
  return row ? { status: row.status, cuts: row.cuts } : null;
}

/** Tells other engines which runs have new chunks: one NOTIFY per payload ('<engine id>:<run id>,…'). */
export async function taskStreamNotify(db: Queryable, params: { payloads: readonly string[] }): Promise<void> {
  if (params.payloads.length === 0) return;
  await db.query(`SELECT count(pg_notify('cleaver_stream', p)) FROM unnest($1::text[]) AS p`, [params.payloads]);
}

function toChunkEvent(r: ChunkRow): StreamChunkEvent {
  return {
    type: 'chunk',
    taskRunId: r.task_run_id,
    taskName: r.task_name,
    attempt: r.attempt,
    seq: r.seq,
    kind: r.kind,
    data: r.kind === 'json' ? (JSON.parse(r.data) as StreamChunkEvent['data']) : r.data,
    bytes: r.bytes,
    at: toDate(r.created_at).toISOString(),
  };
}
