/**
 * What the scheduler holder reads to apply flow rules (docs/scheduler.md): the definitions its queues
 * were created under, the concurrency keys held now, and the rate windows. Read when it takes the lease
 * and when a notification says they changed; between reads it keeps them itself.
 */
import type { Queryable } from '../db/driver.ts';
import type { StoredDefinition } from './workflow-register.ts';
import type { KeyPairs } from './task-assign.ts';

export interface VersionedDefinition {
  name: string;
  version: number;
  definition: StoredDefinition;
  latest: boolean;
}

/**
 * The latest version of each named workflow, plus the given older versions (the ones queued task runs
 * were created under).
 */
export async function workflowDefinitionList(
  db: Queryable,
  params: { latestOf: readonly string[]; versions?: ReadonlyArray<{ name: string; version: number }> },
): Promise<VersionedDefinition[]> {
  const versions = params.versions ?? [];
  if (params.latestOf.length === 0 && versions.length === 0) return [];
  const result = await db.query<{ name: string; version: number; definition: StoredDefinition; latest: boolean }>(
    `SELECT v.workflow_name AS name, v.version, v.definition, v.version = w.latest_version AS latest
       FROM workflow_version v JOIN workflow w ON w.name = v.workflow_name
      WHERE (v.workflow_name = ANY($1::text[]) AND v.version = w.latest_version)
         OR (v.workflow_name, v.version) IN (SELECT * FROM unnest($2::text[], $3::int[]))`,
    [params.latestOf, versions.map((v) => v.name), versions.map((v) => v.version)],
  );
  return result.rows;
}

export interface HeldKeys {
  /** A task run's id, or `run:<id>` for a run holding its workflow's keys. */
  unitId: string;
  runId: string;
  keys: KeyPairs;
}

/** Every concurrency key held now: by task runs assigned or running, and by runs admitted and not ended (an ended run clears its keys). */
export async function heldKeysList(db: Queryable): Promise<HeldKeys[]> {
  const result = await db.query<{ unit_id: string; run_id: string; keys: KeyPairs }>(
    `SELECT t.id::text AS unit_id, t.run_id, t.concurrency_keys AS keys
       FROM task_run t WHERE t.concurrency_keys IS NOT NULL AND t.status IN ('assigned', 'running')
     UNION ALL
     SELECT 'run:' || r.id, r.id, r.concurrency_keys
       FROM run r WHERE r.concurrency_keys IS NOT NULL`,
  );
  return result.rows.map((r) => ({ unitId: r.unit_id, runId: r.run_id, keys: r.keys }));
}
