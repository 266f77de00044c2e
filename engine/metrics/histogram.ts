/**
 * Latency histograms with fixed log-scale buckets, stored sparse ({ index: count }) so that buckets of
 * any engines, steps and workflows merge by adding counts, and percentiles over a range come from the
 * merged counts. Bucket k ≥ 1 holds [2^((k-1)/4), 2^(k/4)) ms, a width of 19 %; bucket 0 holds [0, 1) ms;
 * the last one everything from 2^32 ms (about 50 days) up.
 */
import type { LatencyPercentiles } from '../../shared/metrics.ts';

export type Histogram = Record<string, number>;

const PER_DOUBLING = 4;
const LAST = 32 * PER_DOUBLING + 1;

export function histogramIndex(ms: number): number {
  if (!(ms >= 1)) return 0;
  return Math.min(LAST, Math.floor(Math.log2(ms) * PER_DOUBLING) + 1);
}

function lowerBound(index: number): number {
  return index === 0 ? 0 : 2 ** ((index - 1) / PER_DOUBLING);
}

function upperBound(index: number): number {
  return index === 0 ? 1 : 2 ** (index / PER_DOUBLING);
}

export function histogramAdd(into: Histogram, ms: number, count = 1): void {
  const k = histogramIndex(ms);
  into[k] = (into[k] ?? 0) + count;
}

export function histogramMerge(into: Histogram, from: Histogram | null | undefined): Histogram {
  if (!from) return into;
  for (const [k, n] of Object.entries(from)) into[k] = (into[k] ?? 0) + Number(n);
  return into;
}

export function histogramCount(h: Histogram): number {
  let n = 0;
  for (const c of Object.values(h)) n += c;
  return n;
}

/**
 * The value below which a fraction q of the samples fall, interpolated within its bucket (so within
 * the bucket's 19 % of the exact value).
 */
export function histogramQuantile(h: Histogram, q: number): number | null {
  const entries = Object.entries(h)
    .map(([k, n]) => [Number(k), n] as const)
    .filter(([, n]) => n > 0)
    .sort((a, b) => a[0] - b[0]);
  const total = entries.reduce((s, [, n]) => s + n, 0);
  if (total === 0) return null;
  const rank = Math.min(Math.max(q, 0), 1) * total;
  let below = 0;
  for (const [k, n] of entries) {
    if (below + n >= rank) {
      const lo = lowerBound(k);
      return lo + (upperBound(k) - lo) * Math.max(0, rank - below) / n;
    }
    below += n;
  }
  return upperBound(entries.at(-1)![0]);
}

/** p50, p95, p99 and the mean; null when the histogram is empty. */
export function latencyPercentiles(h: Histogram, sumMs: number): LatencyPercentiles | null {
  const count = histogramCount(h);
  if (count === 0) return null;
  const at = (q: number) => Math.round(histogramQuantile(h, q)! * 10) / 10;
  return { count, meanMs: Math.round((sumMs / count) * 10) / 10, p50: at(0.5), p95: at(0.95), p99: at(0.99) };
}
