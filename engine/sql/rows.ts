/** Conversions from database rows to shared types, used by every query module. */
import type { FailureReason, Json, TaskError } from '../../shared/types.ts';

export function toDate(value: unknown): Date {
  return value instanceof Date ? value : new Date(value as string);
}

export function toDateOrNull(value: unknown): Date | null {
  return value === null || value === undefined ? null : toDate(value);
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

/** ISO text for timestamptz fields inside jsonb_to_recordset batches. */
export function isoOrNull(epochMs: number | null | undefined): string | null {
  return typeof epochMs === 'number' && Number.isFinite(epochMs) ? new Date(epochMs).toISOString() : null;
}
