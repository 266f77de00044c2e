import type { Queryable } from '../db/driver.ts';
import type { WorkflowDetails, WorkflowListItem, WorkflowSummary, WorkflowVersionRecord } from '../../shared/admin-api.ts';
import { RUN_STATUSES, type Json, type RunStatus } from '../../shared/types.ts';
import { workflowActions } from '../../shared/workflow-definition.ts';
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

const WORKFLOW_COLUMNS = `w.name, w.latest_version, v.definition, w.created_at, w.updated_at`;
const WORKFLOW_FROM = `FROM workflow w
   LEFT JOIN workflow_version v ON v.workflow_name = w.name AND v.version = w.latest_version`;

/** The workflow list's recent figures read at most this many runs per workflow (its newest in 24 h). */
export const WORKFLOW_RECENT_CAP = 1000;

/**
 * Every registered workflow and standalone task with its latest version, by name; with its runs of
 * the last 24 hours by status (the newest WORKFLOW_RECENT_CAP of them, through run_workflow_created_idx,
 * so the cost is bounded however busy it is) and which of its actions no connected worker offers.
 */
export async function workflowList(db: Queryable): Promise<WorkflowListItem[]> {
  const recentRuns = `FROM run r WHERE r.workflow_name = w.name AND r.created_at >= now() - interval '24 hours' ORDER BY r.created_at DESC`;
  const [result, workers] = await Promise.all([
    db.query<WorkflowRow & { recent: Array<{ status: RunStatus; n: number }> | null; capped: boolean }>(
      `SELECT ${WORKFLOW_COLUMNS}, recent.recent, recent.capped ${WORKFLOW_FROM}
         LEFT JOIN LATERAL (
           SELECT jsonb_agg(jsonb_build_object('status', c.status, 'n', c.n)) AS recent,
                  EXISTS (SELECT 1 ${recentRuns} OFFSET $1 LIMIT 1) AS capped
             FROM (SELECT x.status, count(*)::int AS n FROM (SELECT r.status ${recentRuns} LIMIT $1) x GROUP BY x.status) c
         ) recent ON true
        WHERE w.latest_version > 0 ORDER BY w.name`,
      [WORKFLOW_RECENT_CAP],
    ),
    db.query<{ actions: string[] }>(`SELECT actions FROM worker WHERE status <> 'disconnected'`),
  ]);
  return result.rows.map((row): WorkflowListItem => {
    const byStatus = Object.fromEntries(RUN_STATUSES.map((s) => [s, 0])) as Record<RunStatus, number>;
    for (const c of row.recent ?? []) byStatus[c.status] = Number(c.n);
    const actions = definitionActions(row.definition);
    const serving = workers.rows.filter((w) => w.actions.some((a) => actions.includes(a)));
    const offered = new Set(serving.flatMap((w) => w.actions));
    return {
      ...toSummary(row),
      recent: { total: RUN_STATUSES.reduce((n, s) => n + byStatus[s], 0), capped: row.capped === true, byStatus },
      workers: serving.length,
      unservedActions: actions.filter((a) => !offered.has(a)),
    };
  });
}

/** The actions a worker must offer to run a definition: a standalone task's name, or a workflow's tasks and hooks. */
function definitionActions(definition: StoredDefinition | null): string[] {
  if (definition === null) return [];
  return definition.kind === 'task' ? [definition.task.name] : workflowActions(definition.workflow);
}

/** One workflow with all its versions (newest first, each with its DAG shape) and its latest runs. */
export async function workflowGet(db: Queryable, params: { name: string }): Promise<WorkflowDetails | null> {
  // One statement at a time: callers may pass a transaction (adminRead), which runs one at a time anyway.
  const workflow = await db.query<WorkflowRow>(`SELECT ${WORKFLOW_COLUMNS} ${WORKFLOW_FROM} WHERE w.name = $1 AND w.latest_version > 0`, [params.name]);
  const row = workflow.rows[0];
  if (!row) return null;
  const versions = await db.query<{ version: number; checksum: string; definition: StoredDefinition; created_at: unknown }>(
    `SELECT version, checksum, definition, created_at FROM workflow_version WHERE workflow_name = $1 ORDER BY version DESC`,
    [params.name],
  );
  const recent = await runList(db, { workflowName: params.name, limit: 20 });
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
