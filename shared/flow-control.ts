/**
 * Flow control as a worker declares it and an operator defines it (docs/flow-control.md): concurrency
 * keys and rate limits. Shapes and their rules only; CEL expressions are parsed by the engine when a
 * worker registers (engine/scheduler/flow-rules.ts), since `shared/` has no runtime dependencies.
 */

/** What happens to a run whose concurrency key already has `maxRuns` running (Hatchet's v1 names). */
export type ConcurrencyLimitStrategy = 'GROUP_ROUND_ROBIN' | 'CANCEL_IN_PROGRESS' | 'CANCEL_NEWEST';
export const ConcurrencyLimitStrategy = {
  GROUP_ROUND_ROBIN: 'GROUP_ROUND_ROBIN',
  CANCEL_IN_PROGRESS: 'CANCEL_IN_PROGRESS',
  CANCEL_NEWEST: 'CANCEL_NEWEST',
} as const satisfies Record<ConcurrencyLimitStrategy, ConcurrencyLimitStrategy>;
const STRATEGIES: readonly string[] = Object.values(ConcurrencyLimitStrategy);

/** A concurrency key on a task (held while the task run runs) or a workflow (held for its whole run). */
export interface ConcurrencyDefinition {
  /** CEL over `input` and `metadata` (and `parents` on a workflow's task) that yields a string. */
  expression: string;
  /** How many runs of one key may run at once: 1 to 100,000. */
  maxRuns: number;
  limitStrategy: ConcurrencyLimitStrategy;
}

export type RateLimitDuration = 'second' | 'minute' | 'hour' | 'day' | 'week' | 'month' | 'year';
/** A month is 30 days and a year 365: windows are fixed lengths, not calendar periods. */
export const RATE_LIMIT_DURATION_MS: Readonly<Record<RateLimitDuration, number>> = {
  second: 1_000,
  minute: 60_000,
  hour: 3_600_000,
  day: 86_400_000,
  week: 7 * 86_400_000,
  month: 30 * 86_400_000,
  year: 365 * 86_400_000,
};
export const RATE_LIMIT_DURATIONS = Object.keys(RATE_LIMIT_DURATION_MS) as RateLimitDuration[];

/**
 * A task's use of a rate limit: a static key (made with `rateLimits.upsert`), or a dynamic key computed
 * per run by CEL, whose bucket is made on first use with `limit` and `duration`.
 */
export type TaskRateLimit =
  | { staticKey: string; units: number }
  | { dynamicKey: string; units: number | string; limit: number | string; duration: RateLimitDuration };

/** A rate-limit key, as the admin API lists it. */
export interface RateLimitRecord {
  key: string;
  kind: 'static' | 'dynamic';
  limit: number;
  duration: RateLimitDuration;
  /** Units counted against the limit now. */
  used: number;
  /** When a unit is next free again, if any is counted (ISO 8601). */
  refillsAt: string | null;
  updatedAt: string;
}

/** A rate-limit key: what an event key may be, plus '=' and '@' for keys built from values. */
export const RATE_LIMIT_KEY_PATTERN = /^[A-Za-z0-9_.:\-/=@]{1,200}$/;
export const RATE_LIMIT_KEY_RULE = "1-200 letters, digits or _ . : - / = @";
export const MAX_RATE_LIMIT = 1_000_000_000;
export const MAX_CONCURRENCY_RUNS = 100_000;
export const MAX_EXPRESSION_LENGTH = 2_000;

/** The first problem with a task's or workflow's concurrency list, as a sentence; null when valid. */
export function concurrencyProblem(value: unknown, where: string): string | null {
  if (!Array.isArray(value)) return `${where}: concurrency must be a list of { expression, maxRuns, limitStrategy }`;
  if (value.length > 10) return `${where}: at most 10 concurrency keys`;
  for (const [i, c] of value.entries()) {
    const at = value.length > 1 ? `${where}: concurrency[${i}]` : `${where}: concurrency`;
    if (c === null || typeof c !== 'object') return `${at} must be an object { expression, maxRuns, limitStrategy }`;
    const { expression, maxRuns, limitStrategy } = c as Record<string, unknown>;
    if (typeof expression !== 'string' || expression.trim() === '' || expression.length > MAX_EXPRESSION_LENGTH) {
      return `${at}.expression must be a CEL expression of 1 to ${MAX_EXPRESSION_LENGTH} characters, such as "input.userId"`;
    }
    if (!Number.isInteger(maxRuns) || (maxRuns as number) < 1 || (maxRuns as number) > MAX_CONCURRENCY_RUNS) {
      return `${at}.maxRuns must be an integer from 1 to ${MAX_CONCURRENCY_RUNS}`;
    }
    if (typeof limitStrategy !== 'string' || !STRATEGIES.includes(limitStrategy)) {
      return `${at}.limitStrategy must be one of ${STRATEGIES.join(', ')}`;
    }
  }
  return null;
}

/** The first problem with a task's rate limits, as a sentence; null when valid. */
export function taskRateLimitsProblem(value: unknown, where: string): string | null {
  if (!Array.isArray(value)) return `${where}: rateLimits must be a list of { staticKey, units } or { dynamicKey, units, limit, duration }`;
  if (value.length > 10) return `${where}: at most 10 rate limits`;
  for (const [i, r] of value.entries()) {
    const at = `${where}: rateLimits[${i}]`;
    if (r === null || typeof r !== 'object') return `${at} must be an object`;
    const o = r as Record<string, unknown>;
    if ('staticKey' in o) {
      if (typeof o.staticKey !== 'string' || !RATE_LIMIT_KEY_PATTERN.test(o.staticKey)) return `${at}.staticKey must be ${RATE_LIMIT_KEY_RULE}`;
      if (!isUnits(o.units)) return `${at}.units must be an integer from 1 to ${MAX_RATE_LIMIT}`;
      if ('dynamicKey' in o) return `${at} has both staticKey and dynamicKey; give one`;
      continue;
    }
    if (!('dynamicKey' in o)) return `${at} needs a staticKey or a dynamicKey`;
    if (!isExpression(o.dynamicKey)) return `${at}.dynamicKey must be a CEL expression of 1 to ${MAX_EXPRESSION_LENGTH} characters`;
    if (!isUnits(o.units) && !isExpression(o.units)) return `${at}.units must be an integer from 1 to ${MAX_RATE_LIMIT} or a CEL expression`;
    if (!isUnits(o.limit) && !isExpression(o.limit)) return `${at}.limit must be an integer from 1 to ${MAX_RATE_LIMIT} or a CEL expression`;
    if (typeof o.duration !== 'string' || !RATE_LIMIT_DURATIONS.includes(o.duration as RateLimitDuration)) {
      return `${at}.duration must be one of ${RATE_LIMIT_DURATIONS.join(', ')}`;
    }
    if (isUnits(o.units) && isUnits(o.limit) && (o.units as number) > (o.limit as number)) {
      return `${at} asks ${o.units} units of a limit of ${o.limit}: it could never start`;
    }
  }
  return null;
}

/** The first problem with a rate limit an operator defines, as a sentence; null when valid. */
export function rateLimitProblem(value: { key?: unknown; limit?: unknown; duration?: unknown }): string | null {
  if (typeof value.key !== 'string' || !RATE_LIMIT_KEY_PATTERN.test(value.key)) return `key must be ${RATE_LIMIT_KEY_RULE}`;
  if (!isUnits(value.limit)) return `limit must be an integer from 1 to ${MAX_RATE_LIMIT}`;
  if (typeof value.duration !== 'string' || !RATE_LIMIT_DURATIONS.includes(value.duration as RateLimitDuration)) {
    return `duration must be one of ${RATE_LIMIT_DURATIONS.join(', ')}`;
  }
  return null;
}

function isUnits(v: unknown): boolean {
  return Number.isInteger(v) && (v as number) >= 1 && (v as number) <= MAX_RATE_LIMIT;
}

function isExpression(v: unknown): boolean {
  return typeof v === 'string' && v.trim() !== '' && v.length <= MAX_EXPRESSION_LENGTH;
}
