import { createHash } from 'node:crypto';
import type { Driver } from '../db/driver.ts';
import type { TaskDefinition } from '../../shared/types.ts';

/** What a workflow version stores. Standalone tasks are one-task workflows. */
export interface WorkflowDefinition {
  kind: 'task';
  task: TaskDefinition;
}

/**
 * Records a workflow definition. Registering the same definition again is a no-op; a changed one
 * becomes the next version (runs already created keep the policy they were created with, since task
 * runs copy it). Safe when several engines register the same workflow at once: the workflow row is
 * locked while the version is decided.
 */
export async function workflowRegister(
  driver: Driver,
  params: { definition: WorkflowDefinition },
): Promise<{ name: string; version: number; created: boolean }> {
  const name = params.definition.task.name;
  const checksum = definitionChecksum(params.definition);
  return driver.transaction(async (tx) => {
    await tx.query(`INSERT INTO workflow (name, latest_version) VALUES ($1, 0) ON CONFLICT (name) DO NOTHING`, [name]);
    const current = await tx.query<{ latest_version: number; checksum: string | null }>(
      `SELECT w.latest_version, v.checksum
         FROM workflow w
         LEFT JOIN workflow_version v ON v.workflow_name = w.name AND v.version = w.latest_version
        WHERE w.name = $1
          FOR UPDATE OF w`,
      [name],
    );
    const row = current.rows[0]!;
    if (row.checksum === checksum) return { name, version: row.latest_version, created: false };
    const version = row.latest_version + 1;
    await tx.query(
      `INSERT INTO workflow_version (workflow_name, version, checksum, definition) VALUES ($1, $2, $3, $4)`,
      [name, version, checksum, JSON.stringify(params.definition)],
    );
    await tx.query(`UPDATE workflow SET latest_version = $2, updated_at = now() WHERE name = $1`, [name, version]);
    return { name, version, created: true };
  });
}

function definitionChecksum(definition: WorkflowDefinition): string {
  return createHash('sha256').update(canonicalJson(definition)).digest('hex');
}

/** JSON with object keys sorted, so equal definitions hash equally whatever their key order. */
function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}
