/** Conversions from database rows to shared types, used by every query module. */
import type { FailureReason, Json, TaskError } from '../../shared/types.ts';

export function toDate(value: unknown): Date {
  return value instanceof Date ? value : new Date(value as string);
}

export function toDateOrNull(value: unknown): Date | null {
  return value === null || value === undefined ? null : toDate(value);
}

/** A timestamptz column as ISO text (the admin contract's plain-JSON dates). */
export function toIsoOrNull(value: unknown): string | null {
  return toDateOrNull(value)?.toISOString() ?? null;
}

export function toTaskError(value: unknown): TaskError | null {
  if (value === null || value === undefined) return null;
  return value as TaskError;
}

export function toJsonOrNull(value: unknown): Json | null {
  return value === undefined ? null : (value as Json);
}

export function toFailureReason(value: unknown): FailureReason | null {
  return (value as FailureReason | null) ?? null;
}

/**
 * A run's output: a standalone task's is stored on the run; a workflow's, once it has succeeded, is
 * `{ [taskName]: output }` made from its task runs (not stored twice). Use with the run aliased `r`.
 */
export const RUN_OUTPUT_SQL = `CASE WHEN r.kind = 'workflow' AND r.status = 'succeeded'
                 THEN (SELECT jsonb_object_agg(t.task_name, t.output) FROM task_run t
                        WHERE t.run_id = r.id AND t.kind = 'dag')
                 ELSE r.output END`;

/** 0001-01-01T00:00:00Z (Date.UTC reads years below 100 as 19xx). */
const YEAR_1 = -62_135_596_800_000;
const YEAR_10000 = Date.UTC(10000, 0, 1);

/**
 * Whether epoch ms a worker reported is a time both a Date and a timestamptz hold (years 1 to 9999).
 * Beyond a Date's range toISOString throws, and a batch that throws before it is sent is retried for
 * ever; beyond Postgres's the whole batch is refused.
 */
export function isStorableTime(epochMs: unknown): epochMs is number {
  return typeof epochMs === 'number' && epochMs >= YEAR_1 && epochMs < YEAR_10000;
}

/** ISO text for timestamptz fields inside jsonb_to_recordset batches; null (the statement's default) for a time that cannot be stored. */
export function isoOrNull(epochMs: number | null | undefined): string | null {
  return isStorableTime(epochMs) ? new Date(epochMs).toISOString() : null;
}
