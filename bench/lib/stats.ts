/**
 * Percentiles from the full sorted sample (nearest-rank), not a histogram: samples number in the
 * thousands, so exact values cost nothing and leave no bucket error to explain.
 */

export interface LatencySummary {
  samples: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  mean: number;
}

/** Nearest-rank percentile of an ascending array: the smallest value with at least p% of samples at or below it. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) throw new Error('percentile of an empty sample');
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!;
}

export function summarizeLatency(samples: readonly number[]): LatencySummary {
  const sorted = [...samples].sort((a, b) => a - b);
  return {
    samples: sorted.length,
    p50: round2(percentile(sorted, 50)),
    p90: round2(percentile(sorted, 90)),
    p99: round2(percentile(sorted, 99)),
    max: round2(sorted[sorted.length - 1]!),
    mean: round2(sorted.reduce((sum, x) => sum + x, 0) / sorted.length),
  };
}

export interface Spread {
  median: number;
  min: number;
  max: number;
}

/** Median and range of one figure over repetitions (the median of an even count is the mean of the middle two). */
export function spread(values: readonly number[]): Spread {
  if (values.length === 0) throw new Error('spread of no values');
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  const median = sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  return { median: round2(median), min: round2(sorted[0]!), max: round2(sorted[sorted.length - 1]!) };
}

export function round2(x: number): number {
  return Math.round(x * 100) / 100;
}
