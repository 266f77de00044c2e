/**
 * Rate-limit windows: how many units a key may admit at a moment, under a conservative sliding window.
 *
 * The promise, which an auditor checks from recorded admission times: in ANY interval of length
 * `windowMs` (closed at both ends), the units admitted under one key never exceed `limit`. A token bucket
 * breaks it (a full bucket spent at the end of one window and refilled at the start of the next lets
 * nearly 2 × limit through within windowMs), and so does a fixed window (limit just before a boundary,
 * limit again just after it).
 *
 * How: time is cut into sub-windows ("buckets") of `bucketMs = ceil(windowMs / 100)`. Admissions are
 * summed per bucket, and an admission in bucket b counts against the limit until the END of bucket b plus
 * windowMs, i.e. while `now < (b + 1) · bucketMs + windowMs`. Since it happened before `(b + 1) · bucketMs`,
 * it counts for more than windowMs after it really happened (never under-counted) and for at most
 * bucketMs longer than needed: 1 % of the window is the price of bounded memory, whatever the traffic.
 *
 * Why the bound holds: take the admissions inside any interval of length windowMs and let a be the one
 * processed last, at time t. Every other admission in the interval, at t_i in bucket b_i (t_i <
 * (b_i + 1) · bucketMs), was still counted when a was checked, because t ≤ t_i + windowMs <
 * (b_i + 1) · bucketMs + windowMs. a was admitted only if the counted units plus its own fit the limit,
 * so the interval holds at most `limit` units.
 *
 * That argument does not need the calls to come in time order (engines sharing a key, their clocks a
 * little apart), only that nothing still counted at `now` was forgotten. So a window forgets a bucket
 * only once it no longer counts one whole window before the start of its newest bucket (the "horizon"),
 * keeping about 2 × 100 buckets, and a `now` behind the horizon — a clock more than a window behind the
 * key's newest admission — admits nothing until it catches up: refused, never miscounted. One clock per
 * key (the database's, when engines share keys) avoids the question. The auditor must read the times
 * given here as `now` (the decision's time), not a later start time: admissions windowMs + 1 ms apart
 * whose starts are delayed unequally can start closer than windowMs.
 *
 * Units and limits are non-negative integers, so sums are exact. A window is plain JSON-able data (the
 * service keeps it in a database row): `JSON.stringify` writes one, `parseWindow` reads one back with its
 * shape checked. Every function is pure: `consume` and `reconfigureWindow` return a new window.
 */

/** Sub-windows per window: the granularity of expiry, and so the bound on memory. */
const SUB_WINDOWS = 100;

export interface RateWindow {
  readonly limit: number;
  readonly windowMs: number;
  readonly bucketMs: number;
  /** Buckets that may still count, oldest first, with strictly increasing index: [index, units]. */
  readonly buckets: ReadonlyArray<readonly [index: number, units: number]>;
}

export function createWindow(options: { limit: number; windowMs: number }): RateWindow {
  checkCount('limit', options.limit, 1);
  checkCount('windowMs', options.windowMs, 1);
  return { limit: options.limit, windowMs: options.windowMs, bucketMs: bucketMsFor(options.windowMs), buckets: [] };
}

/** Units counted against the limit at `now` (what the window remembers; see `available` for a decision). */
export function used(w: RateWindow, now: number): number {
  let sum = 0;
  for (let i = firstLive(w, checkNow(now)); i < w.buckets.length; i++) sum += w.buckets[i]![1];
  return sum;
}

/** Units that may be admitted at `now`: none behind the horizon (see the header). */
export function available(w: RateWindow, now: number): number {
  if (now < horizon(w)) return 0;
  return Math.max(0, w.limit - used(w, now));
}

/**
 * Records `units` admitted at `now`. Refuses (RangeError) units that do not fit: the caller checks
 * `available` first, and admitting past the limit would break the window's promise.
 */
export function consume(w: RateWindow, now: number, units: number): RateWindow {
  checkCount('units', units, 0);
  const free = available(w, now);
  if (units > free) throw new RangeError(`rate window: ${units} units do not fit, ${free} of ${w.limit} available`);
  if (units === 0) return w;
  const index = Math.floor(now / w.bucketMs);
  const buckets = w.buckets.slice();
  // Usually the newest bucket or a new one; an engine whose clock is behind lands further back.
  let at = buckets.length;
  while (at > 0 && buckets[at - 1]![0] > index) at--;
  const before = buckets[at - 1];
  if (before !== undefined && before[0] === index) buckets[at - 1] = [index, before[1] + units];
  else buckets.splice(at, 0, [index, units]);
  const next = { ...w, buckets };
  return { ...next, buckets: buckets.slice(forgettable(next)) };
}

/**
 * The earliest time at or after `now` at which `units` fit by time alone (no further admissions):
 * `now` itself when they fit already, null when they never can (`units` > `limit`).
 */
export function refillAt(w: RateWindow, now: number, units: number): number | null {
  checkCount('units', units, 0);
  if (units > w.limit) return null;
  const from = Math.max(checkNow(now), horizon(w));
  const start = firstLive(w, from);
  let excess = -w.limit + units;
  for (let i = start; i < w.buckets.length; i++) excess += w.buckets[i]![1];
  if (excess <= 0) return from;
  for (let i = start; i < w.buckets.length; i++) {
    excess -= w.buckets[i]![1];
    if (excess <= 0) return expiresAt(w, w.buckets[i]![0]);
  }
  // Unreachable: once every live bucket has expired, excess is units - limit ≤ 0.
  throw new Error('rate window: refill time not found');
}

/**
 * The same key with a new limit or window length (an upserted rate limit), keeping what it admitted:
 * each bucket moves to the new bucket holding its last millisecond, so every earlier admission still
 * counts for at least the new windowMs after it happened. Resetting instead would let a full new limit
 * through right after a full old one. A window remembers about two of its own lengths, so a window made
 * more than twice as long does not count what the old one had already forgotten.
 */
export function reconfigureWindow(w: RateWindow, options: { limit: number; windowMs: number }): RateWindow {
  const next = createWindow(options);
  const buckets: Array<[number, number]> = [];
  for (const [index, units] of w.buckets) {
    const moved = Math.floor(((index + 1) * w.bucketMs - 1) / next.bucketMs);
    const last = buckets[buckets.length - 1];
    if (last !== undefined && last[0] === moved) last[1] += units;
    else buckets.push([moved, units]);
  }
  return { ...next, buckets: buckets.slice(forgettable({ ...next, buckets })) };
}

/** Reads a window stored as JSON, refusing anything that is not one (a corrupt row must not admit). */
export function parseWindow(value: unknown): RateWindow {
  const fail = (what: string): never => {
    throw new TypeError(`rate window: ${what} (got ${JSON.stringify(value)})`);
  };
  if (typeof value !== 'object' || value === null) return fail('expected an object');
  const v = value as Record<string, unknown>;
  const limit = v['limit'];
  const windowMs = v['windowMs'];
  const bucketMs = v['bucketMs'];
  if (!isCount(limit, 1)) return fail('limit must be a positive integer');
  if (!isCount(windowMs, 1)) return fail('windowMs must be a positive integer');
  if (!isCount(bucketMs, 1) || bucketMs > windowMs) return fail('bucketMs must be a positive integer no larger than windowMs');
  const raw = v['buckets'];
  if (!Array.isArray(raw)) return fail('buckets must be an array');
  const buckets: Array<readonly [number, number]> = [];
  for (const bucket of raw as unknown[]) {
    if (!Array.isArray(bucket) || bucket.length !== 2) return fail('each bucket must be [index, units]');
    const [index, units] = bucket as unknown[];
    if (typeof index !== 'number' || !Number.isSafeInteger(index)) return fail('a bucket index must be an integer');
    if (!isCount(units, 1)) return fail('a bucket must hold a positive integer of units');
    const previous = buckets[buckets.length - 1];
    if (previous !== undefined && previous[0] >= index) return fail('bucket indexes must increase');
    buckets.push([index, units]);
  }
  return { limit, windowMs, bucketMs, buckets };
}

function bucketMsFor(windowMs: number): number {
  return Math.ceil(windowMs / SUB_WINDOWS);
}

/** Counted while now < this. */
function expiresAt(w: RateWindow, index: number): number {
  return (index + 1) * w.bucketMs + w.windowMs;
}

/** A `now` before this may have lost buckets it would count: it admits nothing. */
function horizon(w: RateWindow): number {
  const newest = w.buckets[w.buckets.length - 1];
  return newest === undefined ? -Infinity : newest[0] * w.bucketMs - w.windowMs;
}

/** How many of the oldest buckets count at no time from the horizon on, and may be dropped. */
function forgettable(w: RateWindow): number {
  return firstLive(w, horizon(w));
}

/** Index in `buckets` of the oldest bucket still counted at `now` (expiry grows with the index). */
function firstLive(w: RateWindow, now: number): number {
  let i = 0;
  while (i < w.buckets.length && expiresAt(w, w.buckets[i]![0]) <= now) i++;
  return i;
}

function isCount(value: unknown, min: number): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= min;
}

function checkCount(name: string, value: number, min: number): void {
  if (!isCount(value, min)) throw new RangeError(`rate window: ${name} must be an integer ≥ ${min}, got ${String(value)}`);
}

function checkNow(now: number): number {
  if (!Number.isFinite(now)) throw new RangeError(`rate window: now must be a finite time in ms, got ${String(now)}`);
  return now;
}
