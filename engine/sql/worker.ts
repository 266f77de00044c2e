import type { Queryable } from '../db/driver.ts';
import type { WorkerRecord } from '../../shared/admin-api.ts';
import { toDate, toIsoOrNull } from './rows.ts';

/**
 * A worker's attempts split into the slots they fill (at most its slots) and what it holds beyond them,
 * waiting in it for a slot (its prefetch): what every view of slots in use counts.
 */
export function slotUse(attempts: number, slots: number): { busy: number; held: number } {
  return { busy: Math.min(attempts, slots), held: Math.max(0, attempts - slots) };
}

/** Records a worker as connected to an engine (insert, or take over the row on reconnect). */
export async function workerUpsert(
  db: Queryable,
  params: {
    id: string;
    sessionId: string;
    name: string;
    engineId: string;
    actions: string[];
    slots: number;
    labels: Record<string, string>;
    address: string;
  },
): Promise<void> {
  await db.query(
    `INSERT INTO worker (id, session_id, name, engine_id, actions, slots, labels, address, status, connected_at, last_heartbeat_at)
     VALUES ($1, $8, $2, $3, $4::text[], $5, $6::jsonb, $7, 'active', now(), now())
     ON CONFLICT (id) DO UPDATE
        SET session_id = EXCLUDED.session_id, name = EXCLUDED.name, engine_id = EXCLUDED.engine_id, actions = EXCLUDED.actions,
            slots = EXCLUDED.slots, labels = EXCLUDED.labels, address = EXCLUDED.address, status = 'active',
            connected_at = now(), last_heartbeat_at = now(), disconnected_at = NULL`,
    [params.id, params.name, params.engineId, params.actions, params.slots, JSON.stringify(params.labels), params.address, params.sessionId],
  );
}

/**
 * Renews the heartbeat of the worker sessions an engine holds (one statement for all). A session that
 * another engine's reaper marked disconnected while it was in fact alive comes back to life here.
 */
export async function workerHeartbeat(db: Queryable, params: { sessionIds: string[] }): Promise<void> {
  if (params.sessionIds.length === 0) return;
  await db.query(
    `UPDATE worker SET last_heartbeat_at = now(), disconnected_at = NULL,
            status = CASE WHEN status = 'disconnected' THEN 'active' ELSE status END
      WHERE session_id = ANY($1::uuid[])`,
    [params.sessionIds],
  );
}

/** Changes the status of one connection's worker row; a newer session of the same worker is untouched. */
export async function workerSetStatus(
  db: Queryable,
  params: { sessionId: string; status: 'draining' | 'disconnected' },
): Promise<void> {
  await db.query(
    `UPDATE worker SET status = $2,
            disconnected_at = CASE WHEN $2 = 'disconnected' THEN now() ELSE disconnected_at END
      WHERE session_id = $1`,
    [params.sessionId, params.status],
  );
}

/**
 * Marks as disconnected the workers whose heartbeat is older than `staleMs` (their engine died or
 * lost them) and returns their ids, so their attempts can be failed as WORKER_LOST.
 */
export async function workerReapStale(db: Queryable, params: { staleMs: number }): Promise<string[]> {
  const result = await db.query<{ id: string }>(
    `UPDATE worker SET status = 'disconnected', disconnected_at = now()
      WHERE status <> 'disconnected' AND last_heartbeat_at < now() - $1::int * interval '1 millisecond'
     RETURNING id`,
    [params.staleMs],
  );
  return result.rows.map((r) => r.id);
}

/**
 * Attempts that belong to no live worker: their worker row is disconnected (or missing). Catches
 * attempts assigned in the instant a worker went away, and those left behind by a crashed engine.
 */
export async function taskOrphanedList(
  db: Queryable,
  params: { limit: number },
): Promise<Array<{ taskRunId: string; attempt: number; workerId: string | null; sessionId: string | null }>> {
  const result = await db.query<{ id: string; attempt: number; worker_id: string | null; session_id: string | null }>(
    `SELECT t.id, t.attempt, t.worker_id, w.session_id
       FROM task_run t
       LEFT JOIN worker w ON w.id = t.worker_id
      WHERE t.status IN ('assigned', 'running') AND (w.id IS NULL OR w.status = 'disconnected')
      LIMIT $1`,
    [params.limit],
  );
  return result.rows.map((r) => ({ taskRunId: r.id, attempt: r.attempt, workerId: r.worker_id, sessionId: r.session_id }));
}

/**
 * Workers as the database knows them (across engines), with how many attempts each holds now. Active
 * and draining ones first; disconnected ones only when asked (the latest 200).
 */
export async function workerList(db: Queryable, params: { includeDisconnected: boolean }): Promise<WorkerRecord[]> {
  const result = await db.query<{
    id: string;
    name: string;
    status: WorkerRecord['status'];
    slots: number;
    n: string;
    actions: string[];
    labels: Record<string, string>;
    address: string;
    connected_at: Date | string;
    last_heartbeat_at: Date | string;
    disconnected_at: Date | string | null;
  }>(
    `SELECT w.*, (SELECT count(*) FROM task_run t WHERE t.worker_id = w.id AND t.status IN ('assigned', 'running')) AS n
       FROM (SELECT * FROM worker WHERE status <> 'disconnected'
             UNION ALL
             (SELECT * FROM worker WHERE $1 AND status = 'disconnected' ORDER BY disconnected_at DESC NULLS LAST LIMIT 200)) w
      ORDER BY w.status = 'disconnected', w.name, w.id`,
    [params.includeDisconnected],
  );
  return result.rows.map((w) => ({
    id: w.id,
    name: w.name,
    status: w.status,
    slots: w.slots,
    ...slotUse(Number(w.n), w.slots),
    actions: w.actions,
    labels: w.labels,
    address: w.address,
    connectedAt: toDate(w.connected_at).toISOString(),
    lastHeartbeatAt: toDate(w.last_heartbeat_at).toISOString(),
    disconnectedAt: toIsoOrNull(w.disconnected_at),
  }));
}
