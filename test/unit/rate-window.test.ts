import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  available,
  consume,
  createWindow,
  parseWindow,
  reconfigureWindow,
  refillAt,
  used,
  type RateWindow,
} from '../../engine/scheduler/rate-window.ts';

/** Greedy admissions at the given times: each asks `units`, admitted when it fits. */
function admitAll(start: RateWindow, asks: ReadonlyArray<{ at: number; units: number }>) {
  let w = start;
  const admitted: Array<{ at: number; units: number }> = [];
  for (const ask of asks) {
    // A zero-unit ask passes even when full; it takes nothing, so the auditor does not see it.
    if (ask.units > 0 && available(w, ask.at) >= ask.units) {
      w = consume(w, ask.at, ask.units);
      admitted.push(ask);
    }
  }
  return { window: w, admitted };
}

/**
 * The auditor: the most units admitted in any closed interval of length windowMs (`among` restricts it
 * to intervals holding at least one admission it accepts). The maximum is reached by an interval starting
 * at an admission, so those are the only starts to try.
 */
function busiestInterval(admitted: ReadonlyArray<{ at: number; units: number }>, windowMs: number, among = (_: number) => true): number {
  let most = 0;
  for (const first of admitted) {
    const inside = admitted.map((a, i) => ({ a, i })).filter(({ a }) => a.at >= first.at && a.at <= first.at + windowMs);
    if (!inside.some(({ i }) => among(i))) continue;
    most = Math.max(most, inside.reduce((sum, { a }) => sum + a.units, 0));
  }
  return most;
}

describe('rate window', () => {
  it('admits up to the limit, then nothing until the admissions expire', () => {
    let w = createWindow({ limit: 3, windowMs: 1000 });
    expect(w.bucketMs).toBe(10);
    expect(available(w, 5_000)).toBe(3);
    w = consume(w, 5_000, 2);
    w = consume(w, 5_004, 1);
    expect(available(w, 5_004)).toBe(0);
    expect(() => consume(w, 5_004, 1)).toThrow(/1 units do not fit, 0 of 3 available/);
    // Both admissions sit in bucket 500 ([5000, 5010)): they count until its end plus the window.
    expect(available(w, 6_009)).toBe(0);
    expect(available(w, 6_010)).toBe(3);
  });

  it('counts an admission for at least windowMs after it, and at most one sub-window longer', () => {
    const w = consume(createWindow({ limit: 1, windowMs: 1000 }), 5_009, 1);
    expect(used(w, 5_009 + 1000)).toBe(1);
    expect(used(w, 5_010 + 1000)).toBe(0);
    const early = consume(createWindow({ limit: 1, windowMs: 1000 }), 5_000, 1);
    expect(used(early, 6_009)).toBe(1);
    expect(used(early, 6_010)).toBe(0);
  });

  it('lets a zero-unit ask through even when full, taking nothing', () => {
    const full = consume(createWindow({ limit: 1, windowMs: 100 }), 0, 1);
    expect(consume(full, 10, 0)).toBe(full);
    expect(refillAt(full, 10, 0)).toBe(10);
  });

  it('tells when units fit again, and that units above the limit never do', () => {
    let w = createWindow({ limit: 5, windowMs: 1000 });
    w = consume(w, 0, 2); // bucket 0, expires at 1010
    w = consume(w, 300, 2); // bucket 30, expires at 1310
    w = consume(w, 600, 1); // bucket 60, expires at 1610
    expect(refillAt(w, 700, 0)).toBe(700);
    expect(refillAt(w, 700, 2)).toBe(1010);
    expect(refillAt(w, 700, 3)).toBe(1310);
    expect(refillAt(w, 700, 5)).toBe(1610);
    expect(refillAt(w, 1_100, 2)).toBe(1_100);
    expect(refillAt(w, 700, 6)).toBeNull();
  });

  it('counts exactly for a clock up to a window behind, and admits nothing for one further behind', () => {
    let w = createWindow({ limit: 3, windowMs: 1000 });
    w = consume(w, 5_000, 1);
    w = consume(w, 4_500, 1); // half a window behind: booked where it happened
    expect(w.buckets).toEqual([[450, 1], [500, 1]]);
    expect(available(w, 4_500)).toBe(1);
    // The horizon is a window before the newest bucket (4000): a clock behind it is refused.
    expect(available(w, 3_999)).toBe(0);
    expect(() => consume(w, 3_999, 1)).toThrow(/do not fit/);
    expect(refillAt(w, 3_000, 1)).toBe(4_000);
    expect(refillAt(w, 3_000, 2)).toBe(5_510);
    expect(refillAt(createWindow({ limit: 1, windowMs: 1000 }), 3_000, 1)).toBe(3_000);
  });

  it('stays bounded in memory whatever the traffic', () => {
    let w = createWindow({ limit: 1_000_000, windowMs: 60_000 });
    for (let t = 0; t < 600_000; t += 7) w = consume(w, t, 1);
    expect(w.buckets.length).toBeLessThanOrEqual(203);
    expect(used(w, 600_000)).toBeGreaterThan(0);
  });

  it('refuses bad options and arguments with a clear error', () => {
    expect(() => createWindow({ limit: 0, windowMs: 1000 })).toThrow(/limit must be an integer ≥ 1/);
    expect(() => createWindow({ limit: 2.5, windowMs: 1000 })).toThrow(/limit/);
    expect(() => createWindow({ limit: 1, windowMs: 0 })).toThrow(/windowMs must be an integer ≥ 1/);
    const w = createWindow({ limit: 1, windowMs: 1000 });
    expect(() => consume(w, 0, -1)).toThrow(/units must be an integer ≥ 0/);
    expect(() => available(w, Number.NaN)).toThrow(/now must be a finite time/);
  });

  it('round-trips through JSON and refuses what is not a window', () => {
    let w = createWindow({ limit: 10, windowMs: 60_000 });
    w = consume(w, 1_000, 3);
    w = consume(w, 40_000, 4);
    const back = parseWindow(JSON.parse(JSON.stringify(w)));
    expect(back).toEqual(w);
    expect(available(back, 50_000)).toBe(3);
    expect(() => parseWindow(null)).toThrow(/expected an object/);
    expect(() => parseWindow({ ...w, limit: -1 })).toThrow(/limit must be a positive integer/);
    expect(() => parseWindow({ ...w, bucketMs: 0 })).toThrow(/bucketMs/);
    expect(() => parseWindow({ ...w, buckets: 'x' })).toThrow(/buckets must be an array/);
    expect(() => parseWindow({ ...w, buckets: [[2, 1], [1, 1]] })).toThrow(/indexes must increase/);
    expect(() => parseWindow({ ...w, buckets: [[1, 0]] })).toThrow(/positive integer of units/);
    expect(() => parseWindow({ ...w, buckets: [[1]] })).toThrow(/\[index, units\]/);
  });

  it('keeps what it admitted when the limit or the window changes', () => {
    let w = createWindow({ limit: 10, windowMs: 1000 });
    w = consume(w, 995, 4); // bucket 99 of 10 ms: its last millisecond is 999
    const longer = reconfigureWindow(w, { limit: 5, windowMs: 10_000 }); // buckets of 100 ms
    expect(longer.buckets).toEqual([[9, 4]]);
    expect(available(longer, 1_000)).toBe(1);
    expect(available(longer, 10_999)).toBe(1);
    expect(available(longer, 11_000)).toBe(5);
    const shorter = reconfigureWindow(w, { limit: 10, windowMs: 100 }); // buckets of 1 ms
    expect(shorter.buckets).toEqual([[999, 4]]);
    expect(available(shorter, 1_099)).toBe(6);
    expect(available(shorter, 1_100)).toBe(10);
  });

  const limitArb = fc.integer({ min: 1, max: 12 });
  const windowArb = fc.oneof(fc.integer({ min: 1, max: 50 }), fc.integer({ min: 50, max: 5_000 }));
  /** Times that go forward in steps, sometimes many in one millisecond, sometimes fractional. */
  const asksArb = (maxUnits: number) =>
    fc.array(
      fc.record({
        step: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 40 }), fc.integer({ min: 0, max: 3_000 }), fc.double({ min: 0, max: 50, noNaN: true })),
        units: fc.integer({ min: 0, max: maxUnits }),
      }),
      { maxLength: 120 },
    );
  const toTimes = (steps: ReadonlyArray<{ step: number; units: number }>, origin: number) => {
    let at = origin;
    return steps.map(({ step, units }) => ({ at: (at += step), units }));
  };

  it('never admits more than the limit in any interval of windowMs (property)', () => {
    fc.assert(
      fc.property(limitArb, windowArb, asksArb(6), fc.integer({ min: -10_000, max: 10_000 }), (limit, windowMs, steps, origin) => {
        const { admitted } = admitAll(createWindow({ limit, windowMs }), toTimes(steps, origin));
        expect(busiestInterval(admitted, windowMs)).toBeLessThanOrEqual(limit);
      }),
      { numRuns: 400 },
    );
  });

  it('holds the bound when calls come out of time order (engines with skewed clocks)', () => {
    fc.assert(
      fc.property(limitArb, windowArb, fc.array(fc.record({ at: fc.integer({ min: 0, max: 20_000 }), units: fc.integer({ min: 1, max: 4 }) }), { maxLength: 80 }), (limit, windowMs, asks) => {
        const { admitted } = admitAll(createWindow({ limit, windowMs }), asks);
        expect(busiestInterval(admitted, windowMs)).toBeLessThanOrEqual(limit);
      }),
      { numRuns: 300 },
    );
  });

  it('frees everything one sub-window after a full window of quiet, and refillAt is exact (property)', () => {
    fc.assert(
      fc.property(limitArb, windowArb, asksArb(6), fc.integer({ min: 0, max: 12 }), (limit, windowMs, steps, ask) => {
        const { window: w, admitted } = admitAll(createWindow({ limit, windowMs }), toTimes(steps, 0));
        const last = admitted.length > 0 ? admitted[admitted.length - 1]!.at : 0;
        expect(available(w, last + windowMs + w.bucketMs)).toBe(limit);
        const now = last + 1;
        const at = refillAt(w, now, ask);
        if (ask > limit) {
          expect(at).toBeNull();
          return;
        }
        expect(at).not.toBeNull();
        expect(available(w, at!)).toBeGreaterThanOrEqual(ask);
        if (at! > now) expect(available(w, at! - 0.5)).toBeLessThan(ask);
      }),
      { numRuns: 400 },
    );
  });

  it('keeps the bound across a change of limit or window (property)', () => {
    fc.assert(
      fc.property(limitArb, windowArb, limitArb, windowArb, asksArb(4), asksArb(4), (limit1, window1, limit2, longer, before, after) => {
        // A window remembers about two of its lengths: it may grow that much and still count everything.
        const window2 = Math.min(longer, 2 * window1);
        const first = admitAll(createWindow({ limit: limit1, windowMs: window1 }), toTimes(before, 0));
        const cut = first.admitted.length > 0 ? first.admitted[first.admitted.length - 1]!.at : 0;
        const second = admitAll(reconfigureWindow(first.window, { limit: limit2, windowMs: window2 }), toTimes(after, cut));
        const all = [...first.admitted, ...second.admitted];
        const isNew = (i: number) => i >= first.admitted.length;
        // Under the new rule, any interval holding a new admission stays within the new limit.
        expect(busiestInterval(all, window2, isNew)).toBeLessThanOrEqual(limit2);
      }),
      { numRuns: 300 },
    );
  });
});
