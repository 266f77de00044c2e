import type { Queryable } from '../db/driver.ts';
import type { WorkflowDetails, WorkflowSummary, WorkflowVersionRecord } from '../../shared/admin-api.ts';
import type { Json } from '../../shared/types.ts';
import { runShape } from './run-details.ts';
import { runList } from './run-list.ts';
import { toIsoOrNull } from './rows.ts';
import type { StoredDefinition } from './workflow-register.ts';

interface WorkflowRow {
  name: string;
  latest_version: number;
  definition: StoredDefinition | null;
  created_at: unknown;
  updated_at: unknown;
}

function toSummary(row: WorkflowRow): WorkflowSummary {
  const definition = row.definition;
  const workflow = definition?.kind === 'workflow' ? definition.workflow : null;
  return {
    name: row.name,
    kind: definition?.kind ?? 'task',
    latestVersion: row.latest_version,
    description: workflow?.description ?? null,
    versionLabel: workflow?.versionLabel ?? null,
    events: workflow?.events ?? [],
    createdAt: toIsoOrNull(row.created_at)!,
    updatedAt: toIsoOrNull(row.updated_at)!,
  };
}

const WORKFLOW_COLUMNS = `w.name, w.latest_version, v.definition, w.created_at, w.updated_at
   FROM workflow w
   LEFT JOIN workflow_version v ON v.workflow_name = w.name AND v.version = w.latest_version`;

/** Every registered workflow and standalone task with its latest version, by name. */
export async function workflowList(db: Queryable): Promise<WorkflowSummary[]> {
  const result = await db.query<WorkflowRow>(`SELECT ${WORKFLOW_COLUMNS} WHERE w.latest_version > 0 ORDER BY w.name`);
  return result.rows.map(toSummary);
}

/** One workflow with all its versions (newest first, each with its DAG shape) and its latest runs. */
export async function workflowGet(db: Queryable, params: { name: string }): Promise<WorkflowDetails | null> {
  const [workflow, versions, recent] = await Promise.all([
    db.query<WorkflowRow>(`SELECT ${WORKFLOW_COLUMNS} WHERE w.name = $1 AND w.latest_version > 0`, [params.name]),
    db.query<{ version: number; checksum: string; definition: StoredDefinition; created_at: unknown }>(
      `SELECT version, checksum, definition, created_at FROM workflow_version WHERE workflow_name = $1 ORDER BY version DESC`,
      [params.name],
    ),
    runList(db, { workflowName: params.name, limit: 20 }),
  ]);
  const row = workflow.rows[0];
  if (!row) return null;
  return {
    workflow: toSummary(row),
    versions: versions.rows.map(
      (v): WorkflowVersionRecord => ({
        version: v.version,
        checksum: v.checksum,
        versionLabel: v.definition.kind === 'workflow' ? v.definition.workflow.versionLabel : null,
        createdAt: toIsoOrNull(v.created_at)!,
        shape: runShape(v.definition),
        definition: v.definition as unknown as Json,
      }),
    ),
    recentRuns: recent.runs,
  };
}
