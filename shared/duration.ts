/** Durations as users write them: '250ms', '30s', '5m', '2h', '30d', or a number of milliseconds. */
import { CleaverError } from './errors.ts';

export type Duration = `${number}${'ms' | 's' | 'm' | 'h' | 'd'}` | number;

/** A day is 24 hours: durations are fixed lengths, not calendar spans. */
const UNIT_MS = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
const PATTERN = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/;

/** Parses a duration to whole milliseconds; `what` names the option in the error message. */
export function parseDuration(value: Duration | string, what = 'duration'): number {
  if (typeof value === 'number') {
    if (Number.isFinite(value) && value >= 0) return Math.round(value);
  } else {
    const match = PATTERN.exec(value.trim());
    if (match) return Math.round(Number(match[1]) * UNIT_MS[match[2] as keyof typeof UNIT_MS]);
  }
  throw new CleaverError(
    'BAD_REQUEST',
    `${what}: ${JSON.stringify(value)} is not a duration; use a number of milliseconds or a string like '500ms', '30s', '5m', '1h', '30d'`,
  );
}

/** A whole number of ms in the largest unit that states it exactly, as parseDuration reads it back: 2592000000 → '30d'. */
export function durationFormat(ms: number): string {
  for (const unit of ['d', 'h', 'm', 's'] as const) {
    if (ms >= UNIT_MS[unit] && ms % UNIT_MS[unit] === 0) return `${ms / UNIT_MS[unit]}${unit}`;
  }
  return `${ms}ms`;
}
