import { createHash } from 'node:crypto';
import type { DeclaredDefinition } from '../../shared/protocol.ts';
import type { Driver, Queryable } from '../db/driver.ts';
import { staticRateLimitKeys } from '../scheduler/flow-rules.ts';
import type { TaskDefinition, WorkflowDefinition, WorkflowTaskDefinition } from '../../shared/types.ts';
import { eventPatternToLike, workflowAncestors } from '../../shared/workflow-definition.ts';
import { CleaverError } from '../../shared/errors.ts';

/** What is registered: a worker's declarations, or a producer's (a trigger before any worker). */
export type RegisteredDefinition = DeclaredDefinition;

/**
 * What a workflow version stores: the definition, with each workflow task's transitive parents worked
 * out once here so the statements that create and fail task runs need no recursion.
 */
export type StoredDefinition =
  | { kind: 'task'; task: TaskDefinition }
  | { kind: 'workflow'; workflow: Omit<WorkflowDefinition, 'tasks'> & { tasks: Array<WorkflowTaskDefinition & { ancestors: string[] }> } };

export function definitionName(definition: RegisteredDefinition): string {
  return definition.kind === 'task' ? definition.task.name : definition.workflow.name;
}

/**
 * Records a definition. A definition seen before (by checksum) is found, not added again — an older
 * worker registering the version it was built with is accepted and changes nothing. A new one becomes
 * the next version and the latest, which triggers use; runs already created keep their version (task
 * runs copy their policy). A workflow's event patterns follow its latest version. Safe when several
 * engines register at once: the workflow row is locked while the version is decided.
 */
export async function workflowRegister(
  driver: Driver,
  params: { definition: RegisteredDefinition },
): Promise<{ name: string; version: number; created: boolean }> {
  const { definition } = params;
  const name = definitionName(definition);
  const checksum = definitionChecksum(definition);
  return driver.transaction(async (tx) => {
    await requireRateLimits(tx, definition);
    await tx.query(`INSERT INTO workflow (name, latest_version) VALUES ($1, 0) ON CONFLICT (name) DO NOTHING`, [name]);
    const current = await tx.query<{ latest_version: number; latest_kind: string | null; known_version: number | null }>(
      `SELECT w.latest_version, v.definition ->> 'kind' AS latest_kind,
              (SELECT max(k.version) FROM workflow_version k WHERE k.workflow_name = w.name AND k.checksum = $2) AS known_version
         FROM workflow w
         LEFT JOIN workflow_version v ON v.workflow_name = w.name AND v.version = w.latest_version
        WHERE w.name = $1
          FOR UPDATE OF w`,
      [name, checksum],
    );
    const row = current.rows[0]!;
    if (row.known_version !== null) return { name, version: row.known_version, created: false };
    if (row.latest_kind !== null && row.latest_kind !== definition.kind) {
      const was = row.latest_kind === 'task' ? 'a standalone task' : 'a workflow';
      throw new CleaverError('BAD_REQUEST', `${JSON.stringify(name)} is already registered as ${was}; give the ${definition.kind === 'task' ? 'task' : 'workflow'} another name`);
    }
    const version = row.latest_version + 1;
    await tx.query(
      `INSERT INTO workflow_version (workflow_name, version, checksum, definition) VALUES ($1, $2, $3, $4)`,
      [name, version, checksum, JSON.stringify(stored(definition))],
    );
    await tx.query(`UPDATE workflow SET latest_version = $2, updated_at = now() WHERE name = $1`, [name, version]);
    // The scheduler holder, wherever it is, applies the new version's flow rules from its next decision
    // (delivered before any queued-work notification committed after this one).
    if (driver.capabilities.listenNotify) await tx.query(`SELECT pg_notify('cleaver_workflow', $1)`, [name]);
    const patterns = definition.kind === 'workflow' ? definition.workflow.events : [];
    await tx.query(`DELETE FROM workflow_event_trigger WHERE workflow_name = $1`, [name]);
    await tx.query(
      `INSERT INTO workflow_event_trigger (workflow_name, pattern, like_pattern)
       SELECT $1, p.pattern, p.like_pattern FROM jsonb_to_recordset($2::jsonb) AS p(pattern text, like_pattern text)`,
      [name, JSON.stringify(patterns.map((pattern) => ({ pattern, like_pattern: eventPatternToLike(pattern) })))],
    );
    return { name, version, created: true };
  });
}

/**
 * Refuses a definition that uses a static rate-limit key nobody defined, or asks one for more units than
 * its limit (it could never start): both are mistakes to fix before any run waits on them.
 */
async function requireRateLimits(tx: Queryable, definition: RegisteredDefinition): Promise<void> {
  const uses = staticRateLimitKeys(definition);
  if (uses.length === 0) return;
  const found = await tx.query<{ key: string; limit_units: number }>(`SELECT key, limit_units FROM rate_limit WHERE key = ANY($1::text[]) AND kind = 'static'`, [
    [...new Set(uses.map((u) => u.key))],
  ]);
  const limits = new Map(found.rows.map((r) => [r.key, r.limit_units]));
  for (const use of uses) {
    const limit = limits.get(use.key);
    if (limit === undefined) {
      throw new CleaverError('BAD_REQUEST', `${definitionName(definition)}: ${use.where} uses the rate limit ${JSON.stringify(use.key)}, which does not exist; create it first (cleaver.rateLimits.upsert({ key, limit, duration }) or \`cleaver rate-limits put\`)`);
    }
    if (use.units > limit) {
      throw new CleaverError('BAD_REQUEST', `${definitionName(definition)}: ${use.where} asks ${use.units} units of the rate limit ${JSON.stringify(use.key)}, whose limit is ${limit}: it could never start`);
    }
  }
}

function stored(definition: RegisteredDefinition): StoredDefinition {
  if (definition.kind === 'task') return definition;
  const ancestors = workflowAncestors(definition.workflow);
  return {
    kind: 'workflow',
    workflow: { ...definition.workflow, tasks: definition.workflow.tasks.map((t) => ({ ...t, ancestors: ancestors.get(t.name) ?? [] })) },
  };
}

function definitionChecksum(definition: RegisteredDefinition): string {
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
