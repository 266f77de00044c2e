/** The Logs page's search lives in the URL (#/logs?q=timeout&level=error&range=1h), so a search can be linked. */
import type { LogSearchParams } from '../../../shared/admin-api.ts';
import { LOG_LEVELS } from '../../../shared/task-log.ts';
import type { LogLevel } from '../../../shared/types.ts';

export { LOG_LEVELS };

export const LOG_TIME_RANGES = [
  { id: '', label: 'Any time', ms: 0 },
  { id: '15m', label: 'Last 15 minutes', ms: 15 * 60_000 },
  { id: '1h', label: 'Last hour', ms: 3_600_000 },
  { id: '24h', label: 'Last 24 hours', ms: 86_400_000 },
  { id: '7d', label: 'Last 7 days', ms: 7 * 86_400_000 },
  { id: 'custom', label: 'Between…', ms: 0 },
] as const;

export interface LogsQuery {
  /** As typed: words, "quoted phrases". */
  text: string;
  levels: LogLevel[];
  workflow: string;
  range: string;
  /** With range 'custom': local times as a datetime-local input gives them ('2026-03-01T09:30'); either may be empty. */
  from: string;
  to: string;
}

export const EMPTY_LOGS_QUERY: LogsQuery = { text: '', levels: [], workflow: '', range: '', from: '', to: '' };

export function readLogsQuery(query: URLSearchParams): LogsQuery {
  return {
    text: query.get('q') ?? '',
    levels: (query.get('level') ?? '').split(',').filter((l): l is LogLevel => (LOG_LEVELS as readonly string[]).includes(l)),
    workflow: query.get('workflow') ?? '',
    range: query.get('range') ?? '',
    from: query.get('from') ?? '',
    to: query.get('to') ?? '',
  };
}

export function logsQueryToUrl(q: LogsQuery): Record<string, string | string[]> {
  const custom = q.range === 'custom';
  return { q: q.text.trim(), level: q.levels, workflow: q.workflow, range: q.range, from: custom ? q.from : '', to: custom ? q.to : '' };
}

export function isFiltered(q: LogsQuery): boolean {
  return q.text.trim() !== '' || q.levels.length > 0 || q.workflow !== '' || q.range !== '';
}

/** A datetime-local value as ISO, or undefined when empty or not a time. */
function localTime(value: string): string | undefined {
  if (!value) return undefined;
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? undefined : new Date(ms).toISOString();
}

/**
 * What the range problem is (the custom bounds the wrong way round), for the filters to show; the
 * search then leaves the range out rather than ask for an impossible one.
 */
export function rangeProblem(q: LogsQuery): string | null {
  if (q.range !== 'custom') return null;
  const since = localTime(q.from);
  const until = localTime(q.to);
  return since && until && since >= until ? 'the start must be before the end' : null;
}

/** The server-side search. A preset range becomes a `since` rounded to the minute, so it is stable across renders. */
export function toLogSearch(q: LogsQuery, now = Date.now()): LogSearchParams {
  const params: LogSearchParams = {};
  if (q.text.trim()) params.text = q.text.trim();
  if (q.levels.length > 0) params.levels = q.levels;
  if (q.workflow) params.workflowName = q.workflow;
  const range = LOG_TIME_RANGES.find((r) => r.id === q.range);
  if (range && range.ms) params.since = new Date(Math.floor((now - range.ms) / 60_000) * 60_000).toISOString();
  if (q.range === 'custom' && !rangeProblem(q)) {
    const since = localTime(q.from);
    const until = localTime(q.to);
    if (since) params.since = since;
    if (until) params.until = until;
  }
  return params;
}
