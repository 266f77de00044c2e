/**
 * `node --import tsx bench/chart.ts [results.json] [out.svg]` — draws the comparison from a results file
 * (default bench/results/latest.json) as an SVG (default docs/benchmarks-chart.svg): one panel per figure,
 * one bar per system, each bar's length its performance relative to the best system on that figure
 * (value / best for throughput, best / value for latency and backlog: longer is better), labelled with
 * the measured value.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { format } from './report-table.ts';
import { isCleaver, isReference, type BenchResults } from './results.ts';
import { ROOT } from './systems/cleaver.ts';

const [input = join(ROOT, 'bench/results/latest.json'), output = join(ROOT, 'docs/benchmarks-chart.svg')] = process.argv.slice(2);
const results = JSON.parse(readFileSync(input, 'utf8')) as BenchResults;

const PEER_COLORS = ['#4c72b0', '#55a868', '#8172b2', '#64b5cd', '#937860', '#8c8c8c'];
const CLEAVER_COLORS = ['#dd5500', '#f28e2b', '#ffbe7d'];
const REFERENCE_COLOR = '#333333';
const systems = results.systems.map((s) => s.id);
const colors = new Map<string, string>();
let peers = 0;
let cleavers = 0;
for (const system of systems) {
  // The limit is a reference, not a peer: drawn in near-black so it does not read as one.
  const color = isReference(system) ? REFERENCE_COLOR : isCleaver(system) ? CLEAVER_COLORS[cleavers++ % CLEAVER_COLORS.length]! : PEER_COLORS[peers++ % PEER_COLORS.length]!;
  colors.set(system, color);
}

// Growth in % and memory in MiB are the engine's own (no peer has an engine process): in the tables only.
const panels = results.comparisons.filter((c) => Object.keys(c.values).length > 0 && c.figure.unit !== '%' && c.figure.unit !== 'MiB');
const COLUMNS = 2;
const PANEL_W = 470;
const LABEL_W = 170;
const BAR_MAX = PANEL_W - LABEL_W - 80;
const ROW_H = 15;
const PANEL_H = 28 + systems.length * ROW_H + 12;
const TOP = 70;
const width = COLUMNS * PANEL_W + 20;
const height = TOP + Math.ceil(panels.length / COLUMNS) * PANEL_H + 10;
const esc = (s: string) => s.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;');

const parts: string[] = [];
parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="Helvetica, Arial, sans-serif" font-size="11">`);
parts.push(`<rect width="100%" height="100%" fill="#ffffff"/>`);
parts.push(`<text x="10" y="22" font-size="15" font-weight="bold">Cleaver and its peers: ${esc(results.mode)} run, ${esc(results.startedAt.slice(0, 10))}, commit ${esc(results.machine.commit)}</text>`);
parts.push(`<text x="10" y="40" fill="#444">${esc(`${results.machine.cpu}, ${results.machine.cores} cores; Node ${results.machine.node}; Postgres ${results.machine.postgres ?? '?'}. Bar: relative to the best system on the figure (longer is better); label: the median.`)}</text>`);
// Legend on one line, wrapped by measured text length estimate.
let lx = 10;
let ly = 56;
for (const system of systems) {
  const w = 18 + system.length * 6.2;
  if (lx + w > width - 10) {
    lx = 10;
    ly += 14;
  }
  parts.push(`<rect x="${lx}" y="${ly - 9}" width="10" height="10" fill="${colors.get(system)}"/><text x="${lx + 14}" y="${ly}">${esc(system)}</text>`);
  lx += w + 10;
}
panels.forEach((c, i) => {
  const x0 = 10 + (i % COLUMNS) * PANEL_W;
  const y0 = TOP + Math.floor(i / COLUMNS) * PANEL_H;
  const values = Object.entries(c.values).filter(([system]) => !c.excluded.includes(system)).map(([, v]) => v);
  const best = c.figure.better === 'higher' ? Math.max(...values) : Math.min(...values);
  parts.push(`<text x="${x0}" y="${y0 + 16}" font-weight="bold">${esc(`${c.label} · ${c.figure.label}`)}${c.figure.better === 'lower' ? ' (lower is better)' : ''}</text>`);
  systems.forEach((system, j) => {
    const y = y0 + 26 + j * ROW_H;
    parts.push(`<text x="${x0 + LABEL_W - 6}" y="${y + 10}" text-anchor="end" fill="#333">${esc(system)}</text>`);
    const value = c.excluded.includes(system) ? undefined : c.values[system];
    if (value === undefined) {
      parts.push(`<text x="${x0 + LABEL_W}" y="${y + 10}" fill="#999">${c.values[system] === undefined ? 'not measured' : 'dropped enqueues: not compared'}</text>`);
      return;
    }
    const relative = best === 0 ? (value === 0 ? 1 : 0) : c.figure.better === 'higher' ? value / best : value === 0 ? 1 : best / value;
    const w = Math.max(1, relative * BAR_MAX);
    parts.push(`<rect x="${x0 + LABEL_W}" y="${y + 1}" width="${w.toFixed(1)}" height="${ROW_H - 4}" fill="${colors.get(system)}"/>`);
    parts.push(`<text x="${x0 + LABEL_W + w + 4}" y="${y + 10}">${esc(format(value, c.figure))}${c.figure.unit === 'ms' ? ' ms' : ''}</text>`);
  });
});
parts.push('</svg>');
writeFileSync(output, `${parts.join('\n')}\n`);
process.stdout.write(`chart: ${output} (${panels.length} figures from ${input})\n`);
