/**
 * Checks of admin-call params. Every transport (worker socket, HTTP, IPC) hands the engine untrusted
 * JSON, so the checks live with the one implementation and say exactly which field is wrong.
 */
import { MAX_RUN_SEARCH_LENGTH, type EventListParams, type RunCountParams, type RunFilter, type RunListParams, type RunSelection } from '../../shared/admin-api.ts';
import { CleaverError } from '../../shared/errors.ts';
import { RATE_LIMIT_KEY_PATTERN, RATE_LIMIT_KEY_RULE, rateLimitProblem, type RateLimitDuration } from '../../shared/flow-control.ts';
import type { LogLevel, RunStatus, TriggerKind } from '../../shared/types.ts';
import { LOG_LEVELS, logSearchTerms } from '../../shared/task-log.ts';
import type { LogSearchQuery } from '../sql/task-log.ts';
import { EVENT_KEY_PATTERN, EVENT_KEY_RULE, RUN_STATUSES, TRIGGER_KINDS } from '../../shared/types.ts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function bad(message: string): CleaverError {
  return new CleaverError('BAD_REQUEST', message);
}

export function paramsObject(params: unknown, method: string): Record<string, unknown> {
  if (params === undefined) return {};
  if (params === null || typeof params !== 'object' || Array.isArray(params)) throw bad(`${method}: params must be an object`);
  return params as Record<string, unknown>;
}

export function uuidParam(value: unknown, what: string): string {
  if (typeof value !== 'string' || !UUID.test(value)) throw bad(`${what} must be a UUID, got ${JSON.stringify(value)}`);
  return value.toLowerCase();
}

function optionalString(value: unknown, what: string, max = 500): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string' || value.length === 0 || value.length > max) throw bad(`${what} must be a non-empty string of at most ${max} characters`);
  return value;
}

// A date, optionally with a time and a zone: Date.parse alone accepts nearly anything with a number in it
// ("x' OR '1'='1" parses as 2001), which would turn a typo into a silently wrong filter.
const ISO_TIME = /^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}(:?\d{2})?)?)?$/i;

function optionalTime(value: unknown, what: string): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string' || !ISO_TIME.test(value) || Number.isNaN(Date.parse(value))) {
    throw bad(`${what} must be an ISO 8601 time such as 2026-12-01T09:30:00Z, got ${JSON.stringify(value)}`);
  }
  return new Date(value).toISOString();
}

export function optionalLimit(value: unknown, what: string, max: number): number | undefined {
  if (value === undefined || value === null) return undefined;
  if (!Number.isInteger(value) || (value as number) < 1 || (value as number) > max) throw bad(`${what} must be an integer from 1 to ${max}`);
  return value as number;
}

export function runFilterParam(value: unknown, what = 'filter'): RunFilter {
  const f = paramsObject(value, what);
  const filter: RunFilter = {};
  const workflowName = optionalString(f.workflowName, `${what}.workflowName`, 200);
  if (workflowName) filter.workflowName = workflowName;
  if (f.statuses !== undefined) {
    if (!Array.isArray(f.statuses) || f.statuses.some((s) => !RUN_STATUSES.includes(s as RunStatus))) {
      throw bad(`${what}.statuses must be an array of ${RUN_STATUSES.join(', ')}`);
    }
    filter.statuses = f.statuses as RunStatus[];
  }
  const since = optionalTime(f.since, `${what}.since`);
  if (since) filter.since = since;
  const until = optionalTime(f.until, `${what}.until`);
  if (until) filter.until = until;
  if (f.metadata !== undefined) {
    const m = f.metadata;
    if (m === null || typeof m !== 'object' || Array.isArray(m) || Object.values(m).some((v) => typeof v !== 'string')) {
      throw bad(`${what}.metadata must be an object of string values`);
    }
    filter.metadata = m as Record<string, string>;
  }
  if (f.triggerKind !== undefined) throw bad(`${what}.triggerKind is now triggerKinds, an array: pass triggerKinds: [${JSON.stringify(f.triggerKind)}]`);
  if (f.triggerKinds !== undefined) {
    if (!Array.isArray(f.triggerKinds) || f.triggerKinds.some((k) => !TRIGGER_KINDS.includes(k as TriggerKind))) {
      throw bad(`${what}.triggerKinds must be an array of ${TRIGGER_KINDS.join(', ')}`);
    }
    filter.triggerKinds = f.triggerKinds as TriggerKind[];
  }
  if (f.parentTaskRunId !== undefined) filter.parentTaskRunId = uuidParam(f.parentTaskRunId, `${what}.parentTaskRunId`);
  if (f.parentRunId !== undefined) filter.parentRunId = uuidParam(f.parentRunId, `${what}.parentRunId`);
  if (f.topLevelOnly !== undefined) {
    if (typeof f.topLevelOnly !== 'boolean') throw bad(`${what}.topLevelOnly must be a boolean`);
    if (f.topLevelOnly) filter.topLevelOnly = true;
  }
  if (f.eventId !== undefined) filter.eventId = uuidParam(f.eventId, `${what}.eventId`);
  if (f.search !== undefined && f.search !== null) filter.search = runSearchParam(f.search, `${what}.search`);
  return filter;
}

/** Words to find in runs: some letter or digit to look for, within MAX_RUN_SEARCH_LENGTH characters. */
function runSearchParam(value: unknown, what: string): string {
  if (typeof value !== 'string') throw bad(`${what} must be a string of words to find in runs' input, metadata, output or error, got ${JSON.stringify(value)}`);
  if (value.length > MAX_RUN_SEARCH_LENGTH) {
    throw bad(`${what} is ${value.length} characters long; at most ${MAX_RUN_SEARCH_LENGTH}: search for a few distinctive words (an id, a name, an error code)`);
  }
  if (!/[\p{L}\p{N}]/u.test(value)) {
    throw bad(`${what} ${JSON.stringify(value)} has no word to find: give letters or digits (punctuation only separates words), or leave search out to list every run`);
  }
  return value;
}

/** The most run ids one runsList reads by id, as many as one page holds. */
export const MAX_LIST_RUN_IDS = 1000;

export function runListParam(value: unknown): RunListParams {
  const p = paramsObject(value, 'runsList');
  const { limit, cursor, runIds, ...filter } = p;
  const params: RunListParams = { ...runFilterParam(filter, 'runsList'), limit: optionalLimit(limit, 'runsList.limit', 1000), cursor: optionalString(cursor, 'runsList.cursor', 1000) };
  if (runIds !== undefined) {
    if (!Array.isArray(runIds) || runIds.length === 0 || runIds.length > MAX_LIST_RUN_IDS) {
      throw bad(`runsList.runIds must be an array of 1 to ${MAX_LIST_RUN_IDS} run ids; read more a thousand at a time`);
    }
    params.runIds = runIds.map((id, i) => uuidParam(id, `runsList.runIds[${i}]`));
  }
  return params;
}

export function runCountParam(value: unknown): RunCountParams {
  const p = paramsObject(value, 'runsCount');
  const { upTo, ...filter } = p;
  return { ...runFilterParam(filter, 'runsCount'), upTo: optionalLimit(upTo, 'runsCount.upTo', 10_000_000) };
}

/** Explicit run ids (at most 10,000) or a filter; one of them is required. */
export function runSelectionParam(value: unknown, method: string): RunSelection {
  const p = paramsObject(value, method);
  if (p.runIds !== undefined) {
    if (!Array.isArray(p.runIds) || p.runIds.length === 0 || p.runIds.length > 10_000) throw bad(`${method}.runIds must be an array of 1 to 10000 run ids`);
    if (p.filter !== undefined) throw bad(`${method}: pass runIds or filter, not both`);
    return { runIds: p.runIds.map((id, i) => uuidParam(id, `${method}.runIds[${i}]`)) };
  }
  if (p.filter === undefined) throw bad(`${method}: pass runIds, or a filter (an empty filter {} selects every run)`);
  return { filter: runFilterParam(p.filter, `${method}.filter`) };
}

export function eventKeyParam(value: unknown, what: string): string {
  if (typeof value !== 'string' || !EVENT_KEY_PATTERN.test(value)) throw bad(`${what} ${JSON.stringify(value)} must be ${EVENT_KEY_RULE}`);
  return value;
}

export function eventListParam(value: unknown): EventListParams {
  const p = paramsObject(value, 'eventsList');
  return {
    key: p.key === undefined ? undefined : eventKeyParam(p.key, 'eventsList.key'),
    since: optionalTime(p.since, 'eventsList.since'),
    until: optionalTime(p.until, 'eventsList.until'),
    limit: optionalLimit(p.limit, 'eventsList.limit', 1000),
    cursor: optionalString(p.cursor, 'eventsList.cursor', 1000),
  };
}

export function optionalTaskName(value: unknown, what: string): string | null {
  return optionalString(value, what, 200) ?? null;
}

export function rateLimitKeyParam(value: unknown, what: string): string {
  if (typeof value !== 'string' || !RATE_LIMIT_KEY_PATTERN.test(value)) throw bad(`${what} ${JSON.stringify(value)} must be ${RATE_LIMIT_KEY_RULE}`);
  return value;
}

/** A rate limit an operator defines: `{ key, limit, duration }`. */
export function rateLimitParam(value: unknown, method: string): { key: string; limit: number; duration: RateLimitDuration } {
  const p = paramsObject(value, method);
  const problem = rateLimitProblem(p);
  if (problem) throw bad(`${method}.${problem}`);
  return { key: p.key as string, limit: p.limit as number, duration: p.duration as RateLimitDuration };
}

export function rateLimitListParam(value: unknown): { search?: string } {
  return { search: optionalString(paramsObject(value, 'rateLimitsList').search, 'rateLimitsList.search', 200) };
}

/** A search's words, at most this many: each one is a condition on every line read. */
const MAX_LOG_SEARCH_TERMS = 16;

/** `logsSearch` params, checked; the text becomes the terms that must all appear (logSearchTerms). */
export function logSearchParam(value: unknown): LogSearchQuery {
  const p = paramsObject(value, 'logsSearch');
  const text = optionalString(p.text, 'logsSearch.text', 500);
  const terms = text === undefined ? [] : logSearchTerms(text);
  if (terms.length > MAX_LOG_SEARCH_TERMS) throw bad(`logsSearch.text has ${terms.length} words; search with at most ${MAX_LOG_SEARCH_TERMS}`);
  let levels: LogLevel[] | undefined;
  if (p.levels !== undefined && p.levels !== null) {
    if (!Array.isArray(p.levels) || p.levels.length === 0 || p.levels.some((l) => !LOG_LEVELS.includes(l as LogLevel))) {
      throw bad(`logsSearch.levels must be a non-empty array of ${LOG_LEVELS.join(', ')} (leave it out for every level), got ${JSON.stringify(p.levels)}`);
    }
    levels = [...new Set(p.levels as LogLevel[])];
  }
  const since = optionalTime(p.since, 'logsSearch.since');
  const until = optionalTime(p.until, 'logsSearch.until');
  if (since !== undefined && until !== undefined && Date.parse(since) >= Date.parse(until)) {
    throw bad(`logsSearch.since (${since}) must be before logsSearch.until (${until})`);
  }
  return {
    terms,
    levels,
    workflowName: optionalString(p.workflowName, 'logsSearch.workflowName', 200),
    since,
    until,
    limit: optionalLimit(p.limit, 'logsSearch.limit', 1000),
    cursor: optionalString(p.cursor, 'logsSearch.cursor', 1000),
  };
}
