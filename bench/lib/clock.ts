/**
 * The one wall-clock reading used across processes. `performance.timeOrigin` is sampled from the
 * system clock when a process starts and `performance.now()` is monotonic after that, so two processes
 * on one machine agree to within the error of their two start-up samples (microseconds, unless the
 * clock is stepped between their starts) while each keeps sub-millisecond resolution.
 */
export function epochMs(): number {
  return performance.timeOrigin + performance.now();
}
