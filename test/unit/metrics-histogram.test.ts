// The stored latency histograms (engine/metrics/histogram.ts) and the in-memory buffer that feeds the
// buckets (engine/metrics/metrics-buffer.ts): percentiles from the log-scale buckets stay within a
// bucket's width of an exact histogram's (HDR, 3 significant digits), merging buckets is the same as
// counting everything in one, and a flush writes each count once at every resolution.
import fc from 'fast-check';
import * as hdr from 'hdr-histogram-js';
import { describe, expect, it } from 'vitest';
import { histogramAdd, histogramMerge, histogramQuantile, latencyPercentiles, type Histogram } from '../../engine/metrics/histogram.ts';
import { ALL_WORKFLOWS, MetricsBuffer, RESOLUTIONS } from '../../engine/metrics/metrics-buffer.ts';

/** What a bucket 2^(1/4) wide can be off by, either way. */
const WIDTH = 2 ** 0.25;

function exact(values: readonly number[]) {
  const h = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 10 * 24 * 3_600_000, numberOfSignificantValueDigits: 3, useWebAssembly: false });
  for (const v of values) h.recordValue(Math.max(1, Math.round(v)));
  return h;
}

describe('latency histograms', () => {
  it('give p50, p95 and p99 within one bucket width of an exact histogram', () => {
    const latency = fc.double({ min: 1, max: 3_600_000, noNaN: true });
    fc.assert(
      fc.property(fc.array(latency, { minLength: 1, maxLength: 400 }), (values) => {
        const h: Histogram = {};
        for (const v of values) histogramAdd(h, Math.round(v));
        const reference = exact(values);
        for (const q of [0.5, 0.95, 0.99]) {
          const ours = histogramQuantile(h, q)!;
          const truth = reference.getValueAtPercentile(q * 100);
          expect(ours / truth, `q=${q} of ${values.length} values`).toBeLessThanOrEqual(WIDTH * 1.002);
          expect(truth / ours, `q=${q} of ${values.length} values`).toBeLessThanOrEqual(WIDTH * 1.002);
        }
      }),
      { numRuns: 200 },
    );
  });

  it('merged from parts, answer as one histogram of everything would', () => {
    fc.assert(
      fc.property(fc.array(fc.array(fc.integer({ min: 0, max: 10_000_000 }), { maxLength: 50 }), { minLength: 1, maxLength: 8 }), (parts) => {
        const whole: Histogram = {};
        const merged: Histogram = {};
        for (const part of parts) {
          const h: Histogram = {};
          for (const v of part) {
            histogramAdd(h, v);
            histogramAdd(whole, v);
          }
          histogramMerge(merged, h);
        }
        const sum = parts.flat().reduce((a, b) => a + b, 0);
        expect(latencyPercentiles(merged, sum)).toEqual(latencyPercentiles(whole, sum));
      }),
    );
  });

  it('keep sub-millisecond and very long latencies in the end buckets', () => {
    const h: Histogram = {};
    histogramAdd(h, 0);
    histogramAdd(h, 0.4);
    histogramAdd(h, 90 * 24 * 3_600_000);
    expect(histogramQuantile(h, 0.5)).toBeLessThan(1);
    expect(histogramQuantile(h, 1)).toBeGreaterThan(2 ** 32);
    expect(latencyPercentiles({}, 0)).toBeNull();
  });
});

describe('the metrics buffer', () => {
  it('writes each count once at every resolution, per workflow and for all of them', () => {
    const buffer = new MetricsBuffer();
    const t0 = Date.UTC(2025, 0, 1, 10, 0, 5);
    // Three 10 s buckets in one minute, and one in the next minute.
    for (const [i, at] of [t0, t0 + 10_000, t0 + 20_000, t0 + 60_000].entries()) buffer.count('orders', { runsCreated: i + 1 }, at);
    buffer.latency('orders', { queueMs: 12, durationMs: 300 }, t0);
    const { buckets } = buffer.take();
    const hour = Date.UTC(2025, 0, 1, 10) / 1000;
    const created = (seconds: number, workflow: string) =>
      buckets.filter((b) => b.resolutionS === seconds && b.workflowName === workflow).map((b) => [b.bucketStartS - hour, b.runsCreated]);
    expect(created(10, 'orders')).toEqual([[0, 1], [10, 2], [20, 3], [60, 4]]);
    expect(created(60, 'orders')).toEqual([[0, 6], [60, 4]]);
    expect(created(3600, ALL_WORKFLOWS)).toEqual([[0, 10]]);
    for (const { seconds } of RESOLUTIONS) {
      expect(buckets.filter((b) => b.resolutionS === seconds).reduce((n, b) => n + b.runsCreated, 0)).toBe(20);
      expect(buckets.filter((b) => b.resolutionS === seconds && b.workflowName === 'orders').reduce((n, b) => n + (b.durationHist[Object.keys(b.durationHist)[0]!] ?? 0), 0)).toBe(1);
    }
    expect(buffer.empty).toBe(true);
  });

  it('puts back what a failed write took, added to what came meanwhile', () => {
    const buffer = new MetricsBuffer();
    const at = Date.UTC(2025, 0, 1);
    buffer.count('orders', { tasksFailed: 2 }, at);
    buffer.customValue('orders', 'rows', 5, at);
    const failed = buffer.take();
    buffer.count('orders', { tasksFailed: 1 }, at);
    buffer.customValue('orders', 'rows', -1, at);
    failed.restore();
    const again = buffer.take();
    expect(again.buckets.find((b) => b.resolutionS === 10 && b.workflowName === 'orders')?.tasksFailed).toBe(3);
    expect(again.custom.filter((c) => c.resolutionS === 60)).toEqual([{ resolutionS: 60, workflowName: 'orders', name: 'rows', bucketStartS: at / 1000, count: 2, sum: 4, min: -1, max: 5 }]);
  });
});
