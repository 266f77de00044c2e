/**
 * What one engine counted and has not written yet, in 10 s buckets per workflow and for every workflow
 * together (workflow ''). Taking it for a write expands each bucket into the three stored resolutions
 * (see RESOLUTIONS), merged, so one flush touches each stored row once.
 */
import { METRICS_COUNT_FIELDS, type MetricsCounts } from '../../shared/metrics.ts';
import type { MetricBucketDelta, MetricBucketValues, MetricCustomDelta } from '../sql/metrics.ts';
import { histogramAdd, histogramMerge } from './histogram.ts';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/** The stored resolutions, and how long each is kept: as long as the ranges that read it need. */
export const RESOLUTIONS = [
  { seconds: 10, keepMs: 3 * HOUR },
  { seconds: 60, keepMs: 3 * DAY },
  { seconds: 3600, keepMs: 90 * DAY },
] as const;

const FINEST_S = RESOLUTIONS[0].seconds;

/** Every workflow together. */
export const ALL_WORKFLOWS = '';

export function emptyBucketValues(): MetricBucketValues {
  const counts = Object.fromEntries(METRICS_COUNT_FIELDS.map((f) => [f, 0])) as unknown as MetricsCounts;
  return { ...counts, queueHist: {}, queueSumMs: 0, durationHist: {}, durationSumMs: 0, samples: 0, queueDepthSum: 0, queueDepthMax: 0, slotsUsedSum: 0, slotsFreeSum: 0 };
}

const SUMMED = [
  ...METRICS_COUNT_FIELDS,
  'queueSumMs',
  'durationSumMs',
  'samples',
  'queueDepthSum',
  'slotsUsedSum',
  'slotsFreeSum',
] as const satisfies ReadonlyArray<keyof MetricBucketValues>;

/** Adds `from` into `into` (histograms merged, maxima kept). */
export function mergeBucketValues<T extends MetricBucketValues>(into: T, from: MetricBucketValues): T {
  for (const field of SUMMED) into[field] += from[field];
  into.queueDepthMax = Math.max(into.queueDepthMax, from.queueDepthMax);
  histogramMerge(into.queueHist, from.queueHist);
  histogramMerge(into.durationHist, from.durationHist);
  return into;
}

interface Bucket {
  startS: number;
  workflowName: string;
  values: MetricBucketValues;
}

interface CustomBucket {
  startS: number;
  workflowName: string;
  name: string;
  count: number;
  sum: number;
  min: number;
  max: number;
}

export class MetricsBuffer {
  private buckets = new Map<string, Bucket>();
  private custom = new Map<string, CustomBucket>();

  get empty(): boolean {
    return this.buckets.size === 0 && this.custom.size === 0;
  }

  /** Adds to a workflow's counts, and to every workflow's. */
  count(workflowName: string, add: Partial<MetricsCounts>, at = Date.now()): void {
    for (const values of this.both(workflowName, at)) {
      for (const [field, n] of Object.entries(add)) values[field as keyof MetricsCounts] += n;
    }
  }

  /** An attempt's time in the queue and its run time, as far as it got. */
  latency(workflowName: string, latency: { queueMs: number | null; durationMs: number | null }, at = Date.now()): void {
    for (const values of this.both(workflowName, at)) {
      if (latency.queueMs !== null) {
        histogramAdd(values.queueHist, latency.queueMs);
        values.queueSumMs += latency.queueMs;
      }
      if (latency.durationMs !== null) {
        histogramAdd(values.durationHist, latency.durationMs);
        values.durationSumMs += latency.durationMs;
      }
    }
  }

  /** One sample of the gauges: queue depth per workflow (and in all), slots in use and free. */
  sample(sample: { queueDepth: ReadonlyMap<string, number>; slotsUsed: number; slotsFree: number }, at = Date.now()): void {
    let total = 0;
    for (const [workflowName, depth] of sample.queueDepth) {
      total += depth;
      const values = this.values(workflowName, at);
      values.queueDepthSum += depth;
      values.queueDepthMax = Math.max(values.queueDepthMax, depth);
    }
    const all = this.values(ALL_WORKFLOWS, at);
    all.samples += 1;
    all.queueDepthSum += total;
    all.queueDepthMax = Math.max(all.queueDepthMax, total);
    all.slotsUsedSum += sample.slotsUsed;
    all.slotsFreeSum += sample.slotsFree;
  }

  customValue(workflowName: string, name: string, value: number, at = Date.now()): void {
    const startS = bucketStart(at, FINEST_S);
    const key = `${startS}\n${workflowName}\n${name}`;
    const c = this.custom.get(key);
    if (c) {
      c.count++;
      c.sum += value;
      c.min = Math.min(c.min, value);
      c.max = Math.max(c.max, value);
    } else {
      this.custom.set(key, { startS, workflowName, name, count: 1, sum: value, min: value, max: value });
    }
  }

  /**
   * Everything counted so far, as rows of every resolution; `restore` puts it back (the write failed:
   * it goes with the next one).
   */
  take(): { buckets: MetricBucketDelta[]; custom: MetricCustomDelta[]; restore(): void } {
    const buckets = this.buckets;
    const custom = this.custom;
    this.buckets = new Map();
    this.custom = new Map();
    const rows = new Map<string, MetricBucketDelta>();
    for (const b of buckets.values()) {
      for (const { seconds } of RESOLUTIONS) {
        const startS = bucketStart(b.startS * 1000, seconds);
        const key = `${seconds}\n${b.workflowName}\n${startS}`;
        const row = rows.get(key);
        if (row) mergeBucketValues(row, b.values);
        else rows.set(key, mergeBucketValues({ resolutionS: seconds, workflowName: b.workflowName, bucketStartS: startS, ...emptyBucketValues() }, b.values));
      }
    }
    const customRows = new Map<string, MetricCustomDelta>();
    for (const c of custom.values()) {
      for (const { seconds } of RESOLUTIONS) {
        const startS = bucketStart(c.startS * 1000, seconds);
        const key = `${seconds}\n${c.workflowName}\n${c.name}\n${startS}`;
        const row = customRows.get(key);
        if (row) {
          row.count += c.count;
          row.sum += c.sum;
          row.min = Math.min(row.min, c.min);
          row.max = Math.max(row.max, c.max);
        } else {
          customRows.set(key, { resolutionS: seconds, workflowName: c.workflowName, name: c.name, bucketStartS: startS, count: c.count, sum: c.sum, min: c.min, max: c.max });
        }
      }
    }
    return {
      buckets: [...rows.values()],
      custom: [...customRows.values()],
      restore: () => {
        for (const [key, b] of buckets) {
          const now = this.buckets.get(key);
          if (now) mergeBucketValues(now.values, b.values);
          else this.buckets.set(key, b);
        }
        for (const [key, c] of custom) {
          const now = this.custom.get(key);
          if (!now) {
            this.custom.set(key, c);
            continue;
          }
          now.count += c.count;
          now.sum += c.sum;
          now.min = Math.min(now.min, c.min);
          now.max = Math.max(now.max, c.max);
        }
      },
    };
  }

  private both(workflowName: string, at: number): MetricBucketValues[] {
    const all = this.values(ALL_WORKFLOWS, at);
    return workflowName === ALL_WORKFLOWS ? [all] : [this.values(workflowName, at), all];
  }

  private values(workflowName: string, at: number): MetricBucketValues {
    const startS = bucketStart(at, FINEST_S);
    const key = `${startS}\n${workflowName}`;
    let b = this.buckets.get(key);
    if (!b) this.buckets.set(key, (b = { startS, workflowName, values: emptyBucketValues() }));
    return b.values;
  }
}

/** The start (epoch seconds) of the bucket of `seconds` that holds the time `atMs`. */
export function bucketStart(atMs: number, seconds: number): number {
  return Math.floor(atMs / 1000 / seconds) * seconds;
}
