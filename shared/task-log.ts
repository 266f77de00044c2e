/**
 * Task logs (docs/logs.md): the lines tasks write with `ctx.log` and `ctx.logger`, kept per attempt with
 * their time and structured fields, capped per task run, searched across tasks.
 */
import { CleaverError } from './errors.ts';
import { validateJson } from './payload.ts';
import type { Json, LogLevel } from './types.ts';

export const LOG_LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error'];

/** What `ctx.logger.info(message, fields)` takes beside the message: a flat or nested JSON object. */
export type LogFields = Record<string, Json>;

/** Lines kept per task run, all its attempts together (the engine's `maxLogLinesPerTaskRun`). */
export const DEFAULT_MAX_LOG_LINES_PER_TASK_RUN = 1_000;
/** Bytes kept per task run: messages and fields' JSON as UTF-8 (the engine's `maxLogBytesPerTaskRun`). */
export const DEFAULT_MAX_LOG_BYTES_PER_TASK_RUN = 1024 * 1024;

export function logLevelProblem(level: unknown, what: string): string | null {
  return typeof level === 'string' && (LOG_LEVELS as readonly string[]).includes(level) ? null : `${what} must be one of ${LOG_LEVELS.join(', ')}, got ${JSON.stringify(level)}`;
}

/**
 * The fields of a log line as stored: undefined for none (absent or `{}`). An Error among the values
 * becomes `{ name, message }` (JSON would make it `{}`); anything else that is not JSON is refused
 * (BAD_PAYLOAD) saying where.
 */
export function logFieldsFrom(value: unknown, what: string): LogFields | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw new CleaverError('BAD_PAYLOAD', `${what} must be an object of JSON values, such as { orderId: 42 }; got ${Array.isArray(value) ? 'an array' : typeof value}`);
  }
  const entries = Object.entries(value).map(([key, item]): [string, unknown] => [key, item instanceof Error ? { name: item.name, message: item.message } : item]);
  if (entries.length === 0) return undefined;
  return validateJson(Object.fromEntries(entries), what) as LogFields;
}

/**
 * What a log search's text asks for: its words, and what it holds in "double" or 'single' quotes as one
 * phrase (an unclosed quote runs to the end; single quotes let a phrase hold JSON: '"orderId": 42').
 * A line matches when it contains every one, ignoring case.
 */
export function logSearchTerms(text: string): string[] {
  return [...text.matchAll(/"([^"]*)"?|'([^']*)'?|(\S+)/g)].map((m) => (m[1] ?? m[2] ?? m[3] ?? '').trim()).filter(Boolean);
}
