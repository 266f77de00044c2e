/**
 * Latency histograms (hdr-histogram-js): recorded in microseconds with 3 significant digits, so a
 * percentile is within 0.1 % of the exact sample; a worker process sends only its summary back.
 */
import * as hdr from 'hdr-histogram-js';
import { round2, type LatencySummary } from './stats.ts';

export class LatencyHistogram {
  private readonly histogram = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 3_600_000_000, numberOfSignificantValueDigits: 3 });
  /** Readings below zero (a cross-process clock disagreement); recorded as 0. */
  negative = 0;

  record(ms: number): void {
    if (ms < 0) this.negative++;
    this.histogram.recordValue(Math.max(0, Math.round(ms * 1000)));
  }

  get count(): number {
    return this.histogram.totalCount;
  }

  summary(): LatencySummary | null {
    if (this.histogram.totalCount === 0) return null;
    const at = (p: number) => round2(this.histogram.getValueAtPercentile(p) / 1000);
    return {
      samples: this.histogram.totalCount,
      p50: at(50),
      p90: at(90),
      p99: at(99),
      max: round2(this.histogram.maxValue / 1000),
      mean: round2(this.histogram.mean / 1000),
    };
  }
}
