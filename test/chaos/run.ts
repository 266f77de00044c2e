/**
 * `npm run chaos`: every chaos scenario in the LONG profile (about ten minutes), one after the other,
 * then docs/reliability.md with what they held. Exits 1 when any invariant broke.
 *
 *   node --import tsx test/chaos/run.ts [--profile long|fast] [--only id,id] [--out docs/reliability.md]
 *
 * CHAOS_SEED changes the random choices (which worker is killed, where an engine kill lands);
 * CHAOS_KEEP=1 keeps each scenario's directory and schema to look at afterwards.
 */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { isPgAvailable } from '../driver/drivers.ts';
import { ROOT } from '../integration/harness.ts';
import { PROFILES } from './profile.ts';
import { formatSummary, reliabilityMarkdown } from './report.ts';
import type { ScenarioReport } from './scenario.ts';
import { SCENARIOS } from './scenarios/index.ts';

const { values } = parseArgs({ options: { profile: { type: 'string', default: 'long' }, only: { type: 'string' }, out: { type: 'string' } } });
const profile = PROFILES[values.profile as keyof typeof PROFILES];
if (!profile) throw new Error(`--profile takes ${Object.keys(PROFILES).join(' or ')}`);
const only = values.only?.split(',');
const out = values.out ?? join(ROOT, 'docs/reliability.md');

const git = (...args: string[]) => execFileSync('git', ['-C', ROOT, ...args], { encoding: 'utf8' }).trim();
const dirty = git('status', '--porcelain', '--untracked-files=no') !== '';
const commit = `${git('rev-parse', '--short', 'HEAD')}${dirty ? ' (with uncommitted changes)' : ''} — ${git('log', '-1', '--format=%s')}`;

const startedAt = new Date();
// The machine may be shared: its load says how far the timings can be trusted.
const loadAtStart = loadavg()[0]!;
const reports: ScenarioReport[] = [];
for (const entry of SCENARIOS.filter((s) => !only || only.includes(s.id))) {
  for (const kind of entry.drivers(profile)) {
    if (kind === 'pg' && !isPgAvailable()) {
      process.stdout.write(`chaos ${entry.id} [pg] NOT RUN: Postgres is unreachable (set DATABASE_URL)\n`);
      continue;
    }
    process.stdout.write(`chaos ${entry.id} [${kind}] ...\n`);
    try {
      const report = await entry.run(kind, profile);
      reports.push(report);
      process.stdout.write(`${report.skipped ? `chaos ${report.id} [${kind}] NOT RUN: ${report.skipped}` : formatSummary(report)}\n`);
    } catch (e: unknown) {
      const error = e instanceof Error ? (e.stack ?? e.message) : String(e);
      process.stdout.write(`chaos ${entry.id} [${kind}] CRASHED: ${error}\n`);
      reports.push({ id: entry.id, title: entry.test, driver: kind, load: '', badInputs: [], figures: null, measured: {}, violations: [], failures: [`the scenario crashed: ${error}`], notes: [], durationMs: 0 });
    }
  }
}

const machine = `${availableParallelism()} cores (${cpus()[0]?.model.trim() ?? 'unknown CPU'}), ${(totalmem() / 2 ** 30).toFixed(0)} GB, Node ${process.version}, ${process.platform}; load average ${loadAtStart.toFixed(1)} at the start, ${loadavg()[0]!.toFixed(1)} at the end`;
const command = `npm run chaos${values.profile !== 'long' ? ` -- --profile ${values.profile}` : ''}${only ? ` -- --only ${only.join(',')}` : ''}`;
writeFileSync(out, reliabilityMarkdown(reports, { command, commit, profile: profile.name, startedAt, durationMs: Date.now() - startedAt.getTime(), machine }));
process.stdout.write(`wrote ${out}\n`);
const broken = reports.filter((r) => r.violations.length > 0 || r.failures.length > 0);
process.exit(broken.length > 0 ? 1 : 0);
