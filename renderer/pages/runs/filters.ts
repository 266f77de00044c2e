/** The runs page's filters live in the URL (#/runs?status=failed&workflow=x), so a view can be linked. */
import { MAX_RUN_SEARCH_LENGTH, type RunFilter } from '../../../shared/admin-api.ts';
import { RUN_STATUSES, type RunStatus, type TriggerKind } from '../../../shared/types.ts';

export { RUN_STATUSES };
/** The ways a run is created today ('cron' is reserved in the contract, and offered once it exists). */
export const TRIGGER_KINDS: TriggerKind[] = ['manual', 'event', 'child'];
export const TIME_RANGES = [
  { id: '', label: 'Any time', ms: 0 },
  { id: '15m', label: 'Last 15 minutes', ms: 15 * 60_000 },
  { id: '1h', label: 'Last hour', ms: 3_600_000 },
  { id: '24h', label: 'Last 24 hours', ms: 86_400_000 },
  { id: '7d', label: 'Last 7 days', ms: 7 * 86_400_000 },
  { id: '30d', label: 'Last 30 days', ms: 30 * 86_400_000 },
] as const;

export interface RunsQuery {
  /** Words to find in input, metadata, output or error, as typed. */
  search: string;
  workflow: string;
  statuses: RunStatus[];
  range: string;
  /** "key=value, key2=value2" as typed. */
  metadata: string;
  triggers: TriggerKind[];
  /** Runs triggered by this event (linked from the Events page). */
  eventId: string;
  /** Children of this run (linked from a run's page). */
  parentRunId: string;
  /** 'all' lists child runs among the others; by default they are grouped under their parent. */
  children: 'grouped' | 'all';
}

export const EMPTY_QUERY: RunsQuery = { search: '', workflow: '', statuses: [], range: '', metadata: '', triggers: [], eventId: '', parentRunId: '', children: 'grouped' };

function list<T extends string>(value: string | null, allowed: readonly T[]): T[] {
  return (value ?? '').split(',').filter((s): s is T => (allowed as readonly string[]).includes(s));
}

export function readRunsQuery(query: URLSearchParams): RunsQuery {
  return {
    search: query.get('q') ?? '',
    workflow: query.get('workflow') ?? '',
    statuses: list(query.get('status'), RUN_STATUSES),
    range: query.get('range') ?? '',
    metadata: query.get('meta') ?? '',
    triggers: list(query.get('trigger'), TRIGGER_KINDS),
    eventId: query.get('event') ?? '',
    parentRunId: query.get('parent') ?? '',
    children: query.get('children') === 'all' ? 'all' : 'grouped',
  };
}

export function runsQueryToUrl(q: RunsQuery): Record<string, string | string[]> {
  return {
    q: q.search,
    workflow: q.workflow,
    status: q.statuses,
    range: q.range,
    meta: q.metadata,
    trigger: q.triggers,
    event: q.eventId,
    parent: q.parentRunId,
    children: q.children === 'all' ? 'all' : '',
  };
}

/** "a=1, b=2" → { a: '1', b: '2' }; pairs without '=' are reported, not silently dropped. */
export function parseMetadata(text: string): { metadata: Record<string, string>; problem: string | null } {
  const metadata: Record<string, string> = {};
  for (const part of text.split(',').map((p) => p.trim()).filter(Boolean)) {
    const eq = part.indexOf('=');
    if (eq <= 0) return { metadata, problem: `"${part}" is not key=value` };
    metadata[part.slice(0, eq).trim()] = part.slice(eq + 1).trim();
  }
  return { metadata, problem: null };
}

/** What is wrong with a search as typed (the engine's rule, said before asking it), or null. */
export function searchProblem(text: string): string | null {
  if (text.trim() === '') return null;
  if (text.length > MAX_RUN_SEARCH_LENGTH) return `At most ${MAX_RUN_SEARCH_LENGTH} characters: a few distinctive words find a run`;
  if (!/[\p{L}\p{N}]/u.test(text)) return 'Type letters or digits: punctuation only separates words';
  return null;
}

/**
 * Whether child runs are left out of the list (and counted on their parent's row instead): by default,
 * unless the filter is about children (a parent's, or the "child" trigger) or asks for every run.
 */
export function groupsChildren(q: RunsQuery): boolean {
  return q.children === 'grouped' && !q.parentRunId && !q.triggers.includes('child');
}

/**
 * The server-side filter. The time range is resolved to a `since` rounded to the minute, so the filter
 * (and the list it keys) does not change on every render.
 */
export function toRunFilter(q: RunsQuery, now = Date.now()): RunFilter {
  const filter: RunFilter = {};
  if (q.search.trim() && !searchProblem(q.search)) filter.search = q.search.trim();
  if (q.workflow) filter.workflowName = q.workflow;
  if (q.statuses.length) filter.statuses = q.statuses;
  const range = TIME_RANGES.find((r) => r.id === q.range);
  if (range && range.ms) filter.since = new Date(Math.floor((now - range.ms) / 60_000) * 60_000).toISOString();
  const { metadata, problem } = parseMetadata(q.metadata);
  if (!problem && Object.keys(metadata).length) filter.metadata = metadata;
  if (q.triggers.length) filter.triggerKinds = q.triggers;
  if (q.eventId) filter.eventId = q.eventId;
  if (q.parentRunId) filter.parentRunId = q.parentRunId;
  if (groupsChildren(q)) filter.topLevelOnly = true;
  return filter;
}

/** Whether any filter narrows the list (grouping children is the default view, not a filter). */
export function isFiltered(q: RunsQuery): boolean {
  return !!(q.search.trim() || q.workflow || q.statuses.length || q.range || q.metadata || q.triggers.length || q.eventId || q.parentRunId);
}
