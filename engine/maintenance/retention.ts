/**
 * Retention: deletes runs that ended longer ago than the configured age, with their task runs,
 * attempts and logs, then events older than the age that no run refers to any more
 * (engine/sql/retention.ts says which runs stay and why).
 *
 * A sweep walks the old end of the run table, then of the event table, in small batches, each its own
 * short transaction. A pass does a bounded number of batches, so a backlog (retention turned on over
 * years of runs) is worked off over many passes without holding the maintenance loop; once a sweep
 * has reached the young end, the next starts `sweepEveryMs` after it began. Several engines may sweep
 * one database at once: batches skip what another holds.
 */
import type { Driver } from '../db/driver.ts';
import type { Logger } from '../log.ts';
import { parseDuration, type Duration } from '../../shared/duration.ts';
import { CleaverError } from '../../shared/errors.ts';
import { retentionEventsDelete, retentionRunsDelete, type RetentionBatch, type RetentionBatchParams } from '../sql/retention.ts';
import type { KeysetPosition } from '../sql/run-list.ts';
import type { MaintenanceService } from './periodic.ts';

export interface RetentionOptions {
  driver: Driver;
  log: Logger;
  /** Runs that ended (and events created) longer ago than this are deleted. */
  ageMs: number;
  /** How often a sweep starts once the previous one has finished. */
  sweepEveryMs: number;
  batch?: number;
  batchesPerPass?: number;
}

const MAX_AGE_DAYS = 36_500;

/** How long ended runs are kept unless configured otherwise. */
export const DEFAULT_RETENTION: Duration = '30d';

/** The engine's `retention` option (or `--retention`) as an age in ms; null when off. */
export function retentionAgeMs(value: Duration | 'off' | string | null | undefined, what = 'retention'): number | null {
  if (value === null || value === 'off') return null;
  let ms: number;
  try {
    ms = parseDuration(value ?? DEFAULT_RETENTION, what);
  } catch (e: unknown) {
    throw new CleaverError('BAD_REQUEST', `${what}: ${JSON.stringify(value)} is not an age; use a duration like '30d', '12h' or '90m', or 'off' to keep every run`, { cause: e });
  }
  if (ms < 1000) {
    throw new CleaverError('BAD_REQUEST', `${what}: ${JSON.stringify(value)} is shorter than a second; use an age like '30d' or '12h', or 'off' to keep every run`);
  }
  // An age reaching before the earliest timestamp Postgres holds would fail every sweep; no run is a century old.
  if (ms > MAX_AGE_DAYS * 86_400_000) {
    throw new CleaverError('BAD_REQUEST', `${what}: ${JSON.stringify(value)} is more than ${MAX_AGE_DAYS} days; use 'off' to keep every run`);
  }
  return ms;
}

type Phase = 'runs' | 'events';

/** Runs (or events) read per batch: a batch's transaction stays short even when each run has many rows. */
const RETENTION_BATCH = 500;
/** Batches per pass: up to 10,000 runs a maintenance interval while a backlog lasts. */
const RETENTION_BATCHES_PER_PASS = 20;

export class Retention implements MaintenanceService {
  readonly name = 'retention';
  private readonly batch: number;
  private readonly batchesPerPass: number;
  /** Where the sweep under way has got to; null between sweeps. */
  private sweep: { phase: Phase; after: KeysetPosition | null; startedAt: number; runs: number; events: number } | null = null;
  private lastSweepAt = -Infinity;

  constructor(private readonly o: RetentionOptions) {
    this.batch = o.batch ?? RETENTION_BATCH;
    this.batchesPerPass = o.batchesPerPass ?? RETENTION_BATCHES_PER_PASS;
  }

  async runOnce(): Promise<void> {
    const now = Date.now();
    if (!this.sweep) {
      if (now - this.lastSweepAt < this.o.sweepEveryMs) return;
      this.sweep = { phase: 'runs', after: null, startedAt: now, runs: 0, events: 0 };
      this.lastSweepAt = now;
    }
    const sweep = this.sweep;
    for (let i = 0; i < this.batchesPerPass; i++) {
      const params: RetentionBatchParams = { ageMs: this.o.ageMs, limit: this.batch, after: sweep.after };
      const batch: RetentionBatch =
        sweep.phase === 'runs' ? await retentionRunsDelete(this.o.driver, params) : await retentionEventsDelete(this.o.driver, params);
      sweep[sweep.phase] += batch.deleted;
      sweep.after = batch.next;
      if (batch.next) continue;
      if (sweep.phase === 'runs') {
        sweep.phase = 'events';
        continue;
      }
      this.sweep = null;
      if (sweep.runs > 0 || sweep.events > 0) {
        this.o.log.info('retention deleted what ended before its age', { runs: sweep.runs, events: sweep.events, ms: Date.now() - sweep.startedAt });
      }
      // Metrics buckets (issue 13) do not exist yet. Their rollup belongs here, at the end of a sweep:
      // from now on the runs an old bucket counted may be gone, so only the bucket can say what they were.
      return;
    }
  }
}
