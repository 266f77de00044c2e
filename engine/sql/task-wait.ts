import type { NamedStatement, Queryable } from '../db/driver.ts';
import type { WaitReason } from '../../shared/types.ts';
import { SUSPECT_AFTER_LOSSES } from './task-assign.ts';

/** Past this many task runs ahead, the count is given as "at least". */
const AHEAD_CAP = 10_000;

const TASK_WAIT_LIST: NamedStatement = {
  name: 'cleaver_task_wait_list',
  text: `SELECT t.id, t.action, t.available_at, t.available_at > now() AS in_backoff,
            t.worker_lost_count >= ${SUSPECT_AFTER_LOSSES} AS suspect,
            o.workers, o.slots, o.busy,
            (SELECT count(*) FROM (
               SELECT 1 FROM task_run q
                WHERE q.status = 'queued' AND q.action = t.action AND q.available_at <= now()
                  AND (q.priority > t.priority OR (q.priority = t.priority AND q.id < t.id))
                LIMIT ${AHEAD_CAP + 1}) a) AS ahead
       FROM task_run t
       CROSS JOIN LATERAL (
         SELECT count(*) AS workers, COALESCE(sum(w.slots), 0) AS slots,
                COALESCE(sum((SELECT count(*) FROM task_run x WHERE x.worker_id = w.id AND x.status IN ('assigned', 'running'))), 0) AS busy
           FROM worker w
          WHERE w.status = 'active' AND t.action = ANY(w.actions)
            AND w.last_heartbeat_at > now() - $2::int * interval '1 millisecond'
       ) o
      WHERE t.id = ANY($1::uuid[]) AND t.status = 'queued'`,
};

/**
 * Why each of these task runs, if queued, has not started: the first that applies of a backoff not
 * over, no live worker offering the action, every such worker's slots taken, a suspect waiting for a
 * worker free of suspects, or simply the task runs of its action ahead of it. Task runs not queued are
 * left out. A worker not heard from for `staleMs` counts as gone, as the scheduler counts it.
 */
export async function taskWaitList(db: Queryable, params: { taskRunIds: readonly string[]; staleMs: number }): Promise<Map<string, WaitReason>> {
  const out = new Map<string, WaitReason>();
  if (params.taskRunIds.length === 0) return out;
  const result = await db.query<{
    id: string;
    action: string;
    available_at: Date | string;
    in_backoff: boolean;
    suspect: boolean;
    workers: string | number;
    slots: string | number;
    busy: string | number;
    ahead: string | number;
  }>(TASK_WAIT_LIST, [params.taskRunIds, Math.round(params.staleMs)]);
  for (const r of result.rows) {
    const workers = Number(r.workers);
    const slots = Number(r.slots);
    const ahead = Number(r.ahead);
    let reason: WaitReason;
    if (r.in_backoff) reason = { kind: 'backoff', until: new Date(r.available_at).toISOString() };
    else if (workers === 0) reason = { kind: 'no_worker', action: r.action };
    else if (Number(r.busy) >= slots) reason = { kind: 'no_slot', action: r.action, workers, slots };
    else if (r.suspect) reason = { kind: 'suspect' };
    else reason = { kind: 'queued', ahead: Math.min(ahead, AHEAD_CAP), atLeast: ahead > AHEAD_CAP };
    out.set(r.id, reason);
  }
  return out;
}

/**
 * Per action with queued task runs: how many, and the one that goes first (best priority, oldest), for
 * `cleaver status` to say why that queue does not move. One index scan per action.
 */
export async function taskQueueHeadList(db: Queryable): Promise<Array<{ action: string; queued: number; headTaskRunId: string }>> {
  const result = await db.query<{ action: string; queued: string | number; head: string }>(
    `SELECT a.action, a.queued, h.id AS head
       FROM (SELECT action, count(*) AS queued FROM task_run WHERE status = 'queued' GROUP BY action) a
       CROSS JOIN LATERAL (SELECT id FROM task_run t WHERE t.status = 'queued' AND t.action = a.action
                            ORDER BY t.priority DESC, t.id LIMIT 1) h
      ORDER BY a.queued DESC, a.action
      LIMIT 100`,
  );
  return result.rows.map((r) => ({ action: r.action, queued: Number(r.queued), headTaskRunId: r.head }));
}
