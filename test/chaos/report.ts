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

/** Where a broken invariant most likely comes from, among the defects issue 9 lists (for the report's reader). */
const LIKELY_CAUSE: Partial<Record<string, string>> = {
  'finished-result-kept': 'issue 9, defect 4: at reconnect the engine fails as lost attempts the worker finished but holds unacknowledged results for',
  'retries-within-policy': 'issue 9, defect 2: worker-lost attempts past the free allowance are never charged to retries',
  'outcome-as-designed': 'issue 9, defects 2 and 9: a crashing task never ends, tasks beside it fail after 6 losses, a busy loop fails as WORKER_LOST',
  'acknowledged-run-ends': 'issue 9, defect 2 when the runs are those of crashing tasks (still queued after many attempts)',
};

export interface RunInfo {
  command: string;
  commit: string;
  profile: string;
  startedAt: Date;
  durationMs: number;
  machine: string;
}

function measuredText(report: ScenarioReport): string {
  return Object.entries(report.measured)
    .map(([name, m]) => `${name}: ${m ? `p50 ${round(m.p50)}, max ${round(m.max)}${m.n > 1 ? ` (n ${m.n})` : ''}` : 'no sample'}`)
    .join('; ');
}

/** docs/reliability.md: how the suite judges, what the run held, and every scenario's figures. */
export function reliabilityMarkdown(reports: ScenarioReport[], run: RunInfo): string {
  const ran = reports.filter((r) => !r.skipped);
  const broken = ran.filter((r) => r.violations.length > 0 || r.failures.length > 0);
  const cell = (s: string) => s.replaceAll('|', '\\|').replaceAll('\n', ' ');
  const out: string[] = [];
  out.push('# Reliability', '');
  out.push(
    'What Cleaver held under the chaos suite (`test/chaos/`): workers and engines killed, stopped and cut off from',
    'their database, tasks that crash their own workers, and hostile peers on the socket and the admin API. This',
    'page is written by `npm run chaos`; the figures below are from the run it names. A smaller profile of the same',
    'scenarios runs inside `npm test`.',
    '',
    `- **Command:** \`${run.command}\` (profile ${run.profile})`,
    `- **Commit:** ${run.commit}`,
    `- **When:** ${run.startedAt.toISOString()}, ${(run.durationMs / 60_000).toFixed(1)} minutes`,
    `- **Machine:** ${run.machine}`,
    `- **Result:** ${broken.length === 0 ? `every invariant held in all ${ran.length} scenario runs` : `${broken.length} of ${ran.length} scenario runs broke an invariant (see below)`}${reports.length > ran.length ? `; ${reports.length - ran.length} not run` : ''}`,
    '',
  );
  out.push('## How a scenario is judged', '');
  out.push(
    'Every task of the chaos worker (`test/chaos/fixtures/chaos-worker.ts`, on the real SDK) appends an *effect*',
    '{task run, attempt, pid, time} to a log file when it starts and when it is about to return — synchronously, so',
    'the record survives a SIGKILL an instant later. Every second worker of a pool holds up to half its slots',
    'again beyond them (`prefetch`), so attempts waiting in a worker are killed and re-adopted with the running ones.',
    'The harness logs every fault it injects with its time (and',
    'its end, for a stop or an engine restart); tasks that hurt their own worker log that too. The producer keeps',
    'every run id a trigger returned. After the scenario the engines are stopped, the database is opened from the',
    'test (the Postgres schema, or the PGlite data dir), the log is loaded into `chaos_effect`, `chaos_fault` and',
    '`chaos_ack`, and SQL joined against `run`, `task_run` and `attempt` checks:',
    '',
  );
  for (const [name, text] of Object.entries(INVARIANTS)) out.push(`- \`${name}\`: ${text}.`);
  out.push(
    '',
    'A *duplicate* is an execution of a task run followed by another execution of the same task run (tasks that',
    'fail by design excluded). A fault is *in flight* for an attempt when its interval overlaps the attempt\'s',
    '[assigned, finished]; a fault that hits one worker process (kill, stop, crash, busy loop) explains only work',
    'that ran in that process. A duplicate whose only explanation is an engine fault, although its function had',
    'returned in a worker nothing hit, is a finished result thrown away.',
    '',
    '*Recovery after a worker fault*: from the SIGKILL (or the crash) to the next start, on any worker, of a task run',
    'that was running in the process hit. *Work resumes after an engine restart*: from the replacement engine',
    'being ready to the first task started after it. *Worker failover*: from the SIGKILL of an engine to the first',
    'task a worker of that engine starts through the other one.',
    '',
  );
  out.push('## Summary', '');
  out.push('| Scenario | Driver | Runs acknowledged | Lost | Duplicates (causes) | Faults injected | Recovery (ms) | Verdict |');
  out.push('| --- | --- | ---: | ---: | --- | --- | --- | --- |');
  for (const r of reports) {
    if (r.skipped) {
      out.push(`| ${r.id} | ${r.driver} | | | | | | not run: ${cell(r.skipped)} |`);
      continue;
    }
    const f = r.figures;
    if (!f) {
      out.push(`| ${r.id} | ${r.driver} | | | | | | **broken**: ${cell(r.failures.join('; ').slice(0, 300))} |`);
      continue;
    }
    const verdict = r.violations.length + r.failures.length === 0 ? 'held' : `**broken**: ${r.violations.map((v) => `${v.invariant} ×${v.count}`).concat(r.failures.length ? [`${r.failures.length} other`] : []).join(', ')}`;
    out.push(
      `| ${r.id} | ${r.driver} | ${f.acknowledged} | ${f.lost} | ${f.duplicates}${f.duplicates ? ` (${causesText(f.duplicatesByCause)})` : ''} | ${causesText(f.faults) || '—'} | ${cell(measuredText(r)) || '—'} | ${cell(verdict)} |`,
    );
  }
  out.push('');
  for (const r of reports) {
    out.push(`## ${r.title} [${r.driver}]`, '');
    if (r.skipped) {
      out.push(`Not run: ${r.skipped}.`, '');
      continue;
    }
    const f = r.figures;
    if (!f) {
      out.push('**Broken:**', '', ...r.failures.map((failure) => `- ${failure.split('\n')[0]}`), '');
      continue;
    }
    out.push(`- **Load:** ${r.load}`);
    out.push(`- **Faults injected:** ${causesText(f.faults) || 'none (hostile input only)'}`);
    for (const b of r.badInputs) out.push(`- **Bad input:** ${b}`);
    out.push(
      `- **Runs:** ${f.acknowledged} acknowledged, ${f.terminal} ended (${statusText(f.byStatus)}), **lost ${f.lost}**; ${f.executions} executions of ${f.taskRunsExecuted} task runs; ${f.duplicates} duplicates${f.duplicates ? ` (${causesText(f.duplicatesByCause)})` : ''}`,
    );
    if (Object.keys(r.measured).length > 0) out.push(`- **Measured:** ${measuredText(r)}`);
    for (const n of r.notes) out.push(`- ${n}`);
    out.push(`- Took ${(r.durationMs / 1000).toFixed(0)} s.`);
    if (r.violations.length + r.failures.length === 0) {
      out.push('', 'Every invariant held.', '');
      continue;
    }
    out.push('', '**Broken:**', '');
    for (const v of r.violations) {
      out.push(`- \`${v.invariant}\` — ${v.count} row(s)${LIKELY_CAUSE[v.invariant] ? `; likely ${LIKELY_CAUSE[v.invariant]}` : ''}. For example:`);
      for (const s of v.samples.slice(0, 3)) out.push(`  - \`${JSON.stringify(s)}\``);
    }
    for (const failure of r.failures) out.push(`- ${failure}`);
    out.push('');
  }
  return `${out.join('\n')}\n`;
}
