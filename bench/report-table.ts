/** The results as the text table the benchmark prints (and docs/benchmarks.md quotes). */
import type { Spread } from './lib/stats.ts';
import type { BenchResults, LatencySpread } from './results.ts';

const HEADER = ['system', 'workload', 'p50 ms', 'p90 ms', 'p99 ms', 'max ms', 'tasks/s'];

export function formatTable(results: BenchResults): string {
  const rows: string[][] = [];
  for (const record of results.cases) {
    const failed = record.reps.filter((r) => r.error !== null).length;
    const note = failed > 0 ? `  (${failed} of ${record.reps.length} reps FAILED)` : '';
    const reps = record.reps.length - failed;
    // An interrupted run leaves cases that never started.
    const missing = record.reps.length === 0 ? 'not run' : 'FAILED';
    if (record.workload === 'light-latency') {
      const latency = (label: string, s: LatencySpread | undefined) =>
        rows.push([record.system, `${label}${note}`, ...(s ? [s.p50, s.p90, s.p99, s.max].map((x) => cell(x, reps, ms)) : [missing, '', '', '']), '']);
      latency('light enqueue→start', record.summary?.enqueueToStartMs);
      latency('light enqueue→done', record.summary?.enqueueToDoneMs);
    } else {
      rows.push([record.system, `burn-down ${record.variant}${note}`, '', '', '', '', record.summary ? cell(record.summary.tasksPerSecond, reps, rate) : missing]);
    }
  }
  const widths = HEADER.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) => r.map((c, i) => (i < 2 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ').trimEnd();
  return [line(HEADER), ...rows.map(line)].join('\n');
}

/** One figure; over several repetitions, their median and (min–max). */
function cell(s: Spread, reps: number, format: (x: number) => string): string {
  return reps <= 1 ? format(s.median) : `${format(s.median)} (${format(s.min)}–${format(s.max)})`;
}

const ms = (x: number) => x.toFixed(2);
const rate = (x: number) => Math.round(x).toLocaleString('en-US');
