/**
 * The results file (bench/results/latest.json): everything measured, per repetition, plus the summary
 * the table shows. Plain JSON so a later run, a peer comparison or a docs table can be built from it.
 */
import { spread, type LatencySummary, type Spread } from './lib/stats.ts';
import type { MachineInfo } from './lib/machine.ts';
import type { BurnDownResult } from './workloads/burn-down.ts';
import type { LightLatencyResult } from './workloads/light-latency.ts';

export const RESULTS_FORMAT = 1;

export interface RepRecord<R> {
  rep: number;
  result: R | null;
  /** Why this repetition failed; null when it succeeded. */
  error: string | null;
}

type Percentiles = 'p50' | 'p90' | 'p99' | 'max';
export type LatencySpread = Record<Percentiles, Spread>;

export interface LatencyCase {
  workload: 'light-latency';
  system: string;
  variant: string;
  reps: Array<RepRecord<LightLatencyResult>>;
  /** Each percentile's median and range over the successful repetitions. */
  summary: { enqueueToStartMs: LatencySpread; enqueueToDoneMs: LatencySpread } | null;
}

export interface BurnDownCase {
  workload: 'burn-down';
  system: string;
  variant: string;
  reps: Array<RepRecord<BurnDownResult>>;
  summary: { tasksPerSecond: Spread } | null;
}

export type CaseRecord = LatencyCase | BurnDownCase;

export interface BenchResults {
  format: typeof RESULTS_FORMAT;
  mode: 'quick' | 'full';
  startedAt: string;
  finishedAt: string;
  machine: MachineInfo;
  profile: unknown;
  systems: Array<{ id: string; label: string; details: Record<string, string> }>;
  cases: CaseRecord[];
  /** 1-minute load average when the benchmark ended (machine.loadAverage is at its start). */
  loadAverageAtEnd: number;
  /** Things that do not fail the run but qualify its figures (a stale build, clock anomalies). */
  warnings: string[];
  /** Every failure (setup, workload, teardown), one line each; non-empty means the run exits 1. */
  failures: string[];
}

export function summarize(record: CaseRecord): void {
  if (record.workload === 'light-latency') {
    const ok = record.reps.flatMap((r) => (r.result ? [r.result] : []));
    record.summary = ok.length === 0 ? null : { enqueueToStartMs: latencySpread(ok.map((r) => r.enqueueToStartMs)), enqueueToDoneMs: latencySpread(ok.map((r) => r.enqueueToDoneMs)) };
  } else {
    const ok = record.reps.flatMap((r) => (r.result ? [r.result] : []));
    record.summary = ok.length === 0 ? null : { tasksPerSecond: spread(ok.map((r) => r.tasksPerSecond)) };
  }
}

function latencySpread(summaries: LatencySummary[]): LatencySpread {
  return {
    p50: spread(summaries.map((s) => s.p50)),
    p90: spread(summaries.map((s) => s.p90)),
    p99: spread(summaries.map((s) => s.p99)),
    max: spread(summaries.map((s) => s.max)),
  };
}
