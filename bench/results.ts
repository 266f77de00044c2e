/**
 * The results file (bench/results/latest.json): everything measured, per repetition, plus each figure's
 * median and range and, per figure, the best peer and Cleaver's ratio to it, every system's ratio to
 * the limit (bench/systems/limit.ts), and for a variant of another measurement each system's ratio to
 * its own figure there. Plain JSON, so the docs table and the chart (bench/chart.ts) are built from it.
 */
import { spread, type Spread } from './lib/stats.ts';
import type { MachineInfo } from './lib/machine.ts';

export const RESULTS_FORMAT = 3;

/** One number a workload reports, and which way is better. */
export interface FigureDef {
  key: string;
  label: string;
  unit: 'ms' | 'tasks/s' | '%' | 'tasks' | 'MiB';
  better: 'higher' | 'lower';
  /** A value key (not a figure) that must be non-zero in a system's median for this figure to enter the comparison. */
  comparableIf?: string;
}

export interface RepRecord {
  rep: number;
  /** Everything the workload measured (its own result type). */
  result: unknown;
  /** The figures, by FigureDef.key; null when the repetition failed. */
  values: Record<string, number | null> | null;
  /** Why this repetition failed; null when it succeeded. */
  error: string | null;
}

export interface CaseRecord {
  /** Measurement id, e.g. "burn-down/100" (what --only matches). */
  measurement: string;
  /** Human label, e.g. "burn-down 100,000 tasks, slots 100". */
  label: string;
  system: string;
  figures: FigureDef[];
  reps: RepRecord[];
  /** Each figure's median and range over the successful repetitions. */
  summary: Record<string, Spread> | null;
  /** Why this system does not run this workload (it is then not measured). */
  skipped: string | null;
  /** The measurement this one is a variant of (Measurement.baseline), or null. */
  baseline: string | null;
}

export interface Comparison {
  measurement: string;
  label: string;
  figure: FigureDef;
  values: Record<string, number>;
  /** Systems measured but left out of the comparison (FigureDef.comparableIf). */
  excluded: string[];
  bestPeer: { system: string; value: number } | null;
  /** cleaver / best peer, per Cleaver system; read with `figure.better`. */
  ratios: Record<string, number>;
  /** The limit's median and every other system's value over it (read with `figure.better`); null when the limit was not compared. */
  limit: { value: number; ratios: Record<string, number> } | null;
  /** For a variant: each system's value over its own median in the `measurement` it varies; null otherwise. */
  baseline: { measurement: string; label: string; ratios: Record<string, number> } | null;
}

export interface BenchResults {
  format: typeof RESULTS_FORMAT;
  mode: 'quick' | 'full';
  startedAt: string;
  finishedAt: string;
  machine: MachineInfo;
  profile: unknown;
  systems: Array<{ id: string; label: string; details: Record<string, string> }>;
  cases: CaseRecord[];
  comparisons: Comparison[];
  /** 1-minute load average when the benchmark ended (machine.loadAverage is at its start). */
  loadAverageAtEnd: number;
  /** Things that do not fail the run but qualify its figures (a stale build, clock anomalies). */
  warnings: string[];
  /** Every failure (setup, workload, teardown), one line each; non-empty means the run exits 1. */
  failures: string[];
}

export const isCleaver = (system: string) => system.startsWith('cleaver-');
/** The id of the reference every system's ratio is printed against (bench/systems/limit.ts). */
export const LIMIT_SYSTEM = 'limit';
/** The limit and its variants are references, not peers: never the "best peer". */
export const isReference = (system: string) => system === LIMIT_SYSTEM || system.startsWith(`${LIMIT_SYSTEM}-`);

export function summarize(record: CaseRecord): void {
  const ok = record.reps.flatMap((r) => (r.values ? [r.values] : []));
  if (ok.length === 0) {
    record.summary = null;
    return;
  }
  const summary: Record<string, Spread> = {};
  const keys = new Set([...record.figures.map((f) => f.key), ...record.figures.flatMap((f) => (f.comparableIf ? [f.comparableIf] : []))]);
  for (const key of keys) {
    const values = ok.map((v) => v[key]).filter((v): v is number => typeof v === 'number');
    if (values.length > 0) summary[key] = spread(values);
  }
  record.summary = summary;
}

/**
 * Per measurement and figure: every system's median, the best peer's, each Cleaver system's ratio to
 * it, every system's ratio to the limit, and for a variant every system's ratio to its baseline.
 */
export function compare(cases: CaseRecord[]): Comparison[] {
  const comparisons: Comparison[] = [];
  const measurements = [...new Set(cases.map((c) => c.measurement))];
  for (const measurement of measurements) {
    const group = cases.filter((c) => c.measurement === measurement);
    const first = group[0]!;
    for (const figure of first.figures) {
      const values: Record<string, number> = {};
      const excluded: string[] = [];
      for (const c of group) {
        const median = c.summary?.[figure.key]?.median;
        if (median === undefined) continue;
        values[c.system] = median;
        if (figure.comparableIf && !c.summary?.[figure.comparableIf]?.median) excluded.push(c.system);
      }
      const compared = Object.entries(values).filter(([system]) => !excluded.includes(system));
      const peers = compared.filter(([system]) => !isCleaver(system) && !isReference(system));
      const best = peers.length === 0 ? null : peers.reduce((a, b) => ((figure.better === 'higher' ? b[1] > a[1] : b[1] < a[1]) ? b : a));
      const ratios = best ? ratiosTo(best[1], compared.filter(([system]) => isCleaver(system))) : {};
      const limitValue = excluded.includes(LIMIT_SYSTEM) ? undefined : values[LIMIT_SYSTEM];
      const limit = limitValue === undefined ? null : { value: limitValue, ratios: ratiosTo(limitValue, compared.filter(([system]) => system !== LIMIT_SYSTEM)) };
      comparisons.push({ measurement, label: first.label, figure, values, excluded, bestPeer: best ? { system: best[0], value: best[1] } : null, ratios, limit, baseline: baselineRatios(cases, first, figure, values) });
    }
  }
  return comparisons;
}

/** Each value over `reference` to two decimals; empty when the reference is 0. */
function ratiosTo(reference: number, entries: Array<[string, number]>): Record<string, number> {
  const ratios: Record<string, number> = {};
  if (reference !== 0) for (const [system, value] of entries) ratios[system] = Math.round((value / reference) * 100) / 100;
  return ratios;
}

/** For a variant measurement, each system's median over its own median in the baseline measurement. */
function baselineRatios(cases: CaseRecord[], variant: CaseRecord, figure: FigureDef, values: Record<string, number>): Comparison['baseline'] {
  if (!variant.baseline) return null;
  const base = cases.filter((c) => c.measurement === variant.baseline);
  const ratios: Record<string, number> = {};
  for (const [system, value] of Object.entries(values)) {
    const reference = base.find((c) => c.system === system)?.summary?.[figure.key]?.median;
    if (reference !== undefined && reference !== 0) ratios[system] = Math.round((value / reference) * 100) / 100;
  }
  return { measurement: variant.baseline, label: base[0]?.label ?? variant.baseline, ratios };
}

/** Cleaver is at least as good as the best peer on this figure. */
export function leads(figure: FigureDef, ratio: number): boolean {
  return figure.better === 'higher' ? ratio >= 1 : ratio <= 1;
}
