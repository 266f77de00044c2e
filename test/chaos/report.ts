/** How a scenario's report reads: one summary for the console, the problems for a failing test. */
import { INVARIANTS } from './invariants.ts';
import type { ScenarioReport } from './scenario.ts';

/** Every broken invariant and failure, with samples; '' when the scenario held. */
export function formatProblems(report: ScenarioReport): string {
  const lines: string[] = [];
  for (const v of report.violations) {
    lines.push(`${v.invariant} (${v.count}): ${INVARIANTS[v.invariant]}`);
    for (const sample of v.samples) lines.push(`    ${JSON.stringify(sample)}`);
  }
  for (const f of report.failures) lines.push(f);
  return lines.length === 0 ? '' : `${report.id} [${report.driver}]:\n  ${lines.join('\n  ')}`;
}

export function formatSummary(report: ScenarioReport): string {
  const f = report.figures;
  const lines = [`chaos ${report.id} [${report.driver}] in ${(report.durationMs / 1000).toFixed(1)} s — ${report.load}`];
  if (f) {
    lines.push(
      `  acknowledged ${f.acknowledged}, terminal ${f.terminal}, lost ${f.lost} (${statusText(f.byStatus)}); ` +
        `${f.executions} executions of ${f.taskRunsExecuted} task runs, ${f.duplicates} duplicates${f.duplicates ? ` (${causesText(f.duplicatesByCause)})` : ''}`,
    );
    lines.push(`  faults: ${causesText(f.faults) || 'none recorded'}`);
  }
  for (const [name, m] of Object.entries(report.measured)) lines.push(`  ${name}: ${m ? `p50 ${round(m.p50)}, max ${round(m.max)} (n ${m.n})` : 'no sample'}`);
  for (const note of report.notes) lines.push(`  note: ${note}`);
  const problems = report.violations.map((v) => `${v.invariant} ×${v.count}`).concat(report.failures);
  lines.push(`  ${problems.length === 0 ? 'all invariants held' : `BROKEN: ${problems.join('; ')}`}`);
  return lines.join('\n');
}

export function statusText(byStatus: Record<string, number>): string {
  return Object.entries(byStatus).map(([k, v]) => `${v} ${k}`).join(', ');
}

export function causesText(counts: Record<string, number>): string {
  return Object.entries(counts).map(([k, v]) => `${k} ${v}`).join(', ');
}

export function round(ms: number): string {
  return ms >= 100 ? String(Math.round(ms)) : ms.toFixed(1);
}
