/** The runs page's filters live in the URL (#/runs?status=failed&workflow=x), so a view can be linked. */
import type { RunFilter } from '../../../shared/admin-api.ts';
import type { RunStatus, TriggerKind } from '../../../shared/types.ts';

export const RUN_STATUSES: RunStatus[] = ['queued', 'running', 'succeeded', 'failed', 'cancelled'];
export const TRIGGER_KINDS: TriggerKind[] = ['manual', 'event', 'child', 'cron'];
export const TIME_RANGES = [
  { id: '', label: 'Any time', ms: 0 },
  { id: '15m', label: 'Last 15 minutes', ms: 15 * 60_000 },
  { id: '1h', label: 'Last hour', ms: 3_600_000 },
  { id: '24h', label: 'Last 24 hours', ms: 86_400_000 },
  { id: '7d', label: 'Last 7 days', ms: 7 * 86_400_000 },
  { id: '30d', label: 'Last 30 days', ms: 30 * 86_400_000 },
] as const;

export interface RunsQuery {
  workflow: string;
  statuses: RunStatus[];
  range: string;
  /** "key=value, key2=value2" as typed. */
  metadata: string;
  trigger: TriggerKind | '';
  /** Runs triggered by this event (linked from the Events page). */
  eventId: string;
}

export function readRunsQuery(query: URLSearchParams): RunsQuery {
  const statuses = (query.get('status') ?? '').split(',').filter((s): s is RunStatus => (RUN_STATUSES as string[]).includes(s));
  const trigger = query.get('trigger') ?? '';
  return {
    workflow: query.get('workflow') ?? '',
    statuses,
    range: query.get('range') ?? '',
    metadata: query.get('meta') ?? '',
    trigger: (TRIGGER_KINDS as string[]).includes(trigger) ? (trigger as TriggerKind) : '',
    eventId: query.get('event') ?? '',
  };
}

export function runsQueryToUrl(q: RunsQuery): Record<string, string | string[]> {
  return { workflow: q.workflow, status: q.statuses, range: q.range, meta: q.metadata, trigger: q.trigger, event: q.eventId };
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

/**
 * The server-side filter. The time range is resolved to a `since` rounded to the minute, so the filter
 * (and the list it keys) does not change on every render.
 */
export function toRunFilter(q: RunsQuery, now = Date.now()): RunFilter {
  const filter: RunFilter = {};
  if (q.workflow) filter.workflowName = q.workflow;
  if (q.statuses.length) filter.statuses = q.statuses;
  const range = TIME_RANGES.find((r) => r.id === q.range);
  if (range && range.ms) filter.since = new Date(Math.floor((now - range.ms) / 60_000) * 60_000).toISOString();
  const { metadata, problem } = parseMetadata(q.metadata);
  if (!problem && Object.keys(metadata).length) filter.metadata = metadata;
  if (q.trigger) filter.triggerKind = q.trigger;
  if (q.eventId) filter.eventId = q.eventId;
  return filter;
}
