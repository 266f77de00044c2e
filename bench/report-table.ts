/**
 * The results as the text tables the benchmark prints (and docs/benchmarks.md quotes): every figure for
 * every system (median, and (min–max) over several repetitions), each followed by every system's ratio
 * to the limit and, for a variant, to its own baseline; then per figure the best peer and each Cleaver
 * system's ratio to it and to the limit.
 */
import type { Spread } from './lib/stats.ts';
import { LIMIT_SYSTEM, isCleaver, leads, type BenchResults, type FigureDef } from './results.ts';

export function formatTable(results: BenchResults): string {
  const systems = results.systems.map((s) => s.id);
  const rows: string[][] = [];
  for (const comparison of results.comparisons) {
    const group = results.cases.filter((c) => c.measurement === comparison.measurement);
    const cells = systems.map((system) => {
      const record = group.find((c) => c.system === system);
      if (!record) return '';
      if (record.skipped) return 'skip';
      if (record.reps.length === 0) return 'not run';
      const s = record.summary?.[comparison.figure.key];
      if (!s) return record.reps.some((r) => r.values) ? '–' : 'FAILED';
      const failed = record.reps.filter((r) => r.error !== null).length;
      const excluded = comparison.excluded.includes(system) ? '*' : '';
      return `${cell(s, record.reps.length - failed, comparison.figure)}${excluded}${failed > 0 ? ` (${failed} FAILED)` : ''}`;
    });
    rows.push([`${comparison.label} · ${comparison.figure.label}`, ...cells]);
    const ratioRow = (label: string, ratios: Record<string, number>) => {
      if (Object.keys(ratios).length > 0) rows.push([`  ↳ ${label}`, ...systems.map((system) => (ratios[system] === undefined ? '' : times(ratios[system])))]);
    };
    if (comparison.limit) ratioRow(`/ ${LIMIT_SYSTEM}`, comparison.limit.ratios);
    if (comparison.baseline) ratioRow(`/ ${comparison.baseline.label}`, comparison.baseline.ratios);
  }
  const table = align(['figure', ...systems], rows);
  return results.comparisons.some((c) => c.excluded.length > 0) ? `${table}\n* not compared: the system dropped enqueues (it did not keep up with the offered rate)` : table;
}

export function formatComparison(results: BenchResults): string {
  const cleavers = results.systems.map((s) => s.id).filter(isCleaver);
  // Figures only Cleaver measured (a variant of its own, its engine's memory) have nothing to compare here.
  const compared = results.comparisons.filter((c) => c.bestPeer || c.limit);
  if (compared.length === 0) return 'No peer or limit measured: nothing to compare.';
  const withLimit = compared.some((c) => c.limit);
  const rows = compared.map((c) => [
    `${c.label} · ${c.figure.label}`,
    c.figure.better === 'higher' ? 'higher' : 'lower',
    c.bestPeer ? `${format(c.bestPeer.value, c.figure)} ${c.bestPeer.system}` : '–',
    ...cleavers.map((system) => {
      const ratio = c.ratios[system];
      return ratio === undefined ? '–' : `${times(ratio)}${leads(c.figure, ratio) ? ' ✓' : ''}`;
    }),
    ...(withLimit ? [c.limit ? format(c.limit.value, c.figure) : '–', ...cleavers.map((system) => (c.limit?.ratios[system] === undefined ? '–' : times(c.limit.ratios[system])))] : []),
  ]);
  const limitColumns = withLimit ? [LIMIT_SYSTEM, ...cleavers.map((s) => `${s} / ${LIMIT_SYSTEM}`)] : [];
  return align(['figure', 'better', 'best peer', ...cleavers.map((s) => `${s} / best`), ...limitColumns], rows);
}

const times = (ratio: number) => `${ratio.toFixed(2)}×`;

function align(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ').trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}

/** One figure; over several repetitions, their median and (min–max). */
function cell(s: Spread, reps: number, figure: FigureDef): string {
  return reps <= 1 ? format(s.median, figure) : `${format(s.median, figure)} (${format(s.min, figure)}–${format(s.max, figure)})`;
}

export function format(x: number, figure: FigureDef): string {
  if (figure.unit === 'ms') return x < 100 ? x.toFixed(2) : x.toFixed(0);
  if (figure.unit === '%') return `${x.toFixed(1)}%`;
  if (figure.unit === 'MiB') return x.toFixed(1);
  return Math.round(x).toLocaleString('en-US');
}
