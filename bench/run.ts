/**
 * `node --import tsx bench/run.ts [--quick] [--only SELECTION]` — the benchmark harness.
 *
 * For each repetition, each measurement and each system it builds fresh state (setup), runs the
 * workload, and tears everything down, so no measurement inherits rows, caches or processes from
 * another; systems are interleaved within a measurement so slow drift in the machine's load spreads over
 * all of them. Every step runs under a deadline; a failure is recorded and the run goes on with the
 * next measurement, and the process exits 1 at the end if anything failed. Results go to
 * bench/results/latest.json and to stdout as a table.
 */
import { existsSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { killAllChildren } from './lib/child-process.ts';
import { toError } from './lib/deadline.ts';
import { machineInfo, type MachineInfo } from './lib/machine.ts';
import { benchDatabaseUrl, postgresSettings } from './lib/postgres-admin.ts';
import { PROFILES, measurements, type Measurement, type PlannedMeasurement, type Profile } from './plan.ts';
import { formatComparison, formatTable } from './report-table.ts';
import { LIMIT_SYSTEM, RESULTS_FORMAT, compare, summarize, type BenchResults, type CaseRecord } from './results.ts';
import { createBullMqSystem } from './systems/bullmq.ts';
import { createCleaverSystem, ENGINE_CLI, ROOT } from './systems/cleaver.ts';
import { createGraphileWorkerSystem } from './systems/graphile-worker.ts';
import { createLimitSystem } from './systems/limit.ts';
import { createPgBossSystem } from './systems/pg-boss.ts';
import type { SystemUnderTest } from './systems/system.ts';

const USAGE = `Usage: node --import tsx bench/run.ts [--quick] [--only SELECTION]

  --quick          small counts, one repetition (under 3 minutes)
  --only SELECTION comma-separated SYSTEM, SYSTEM/WORKLOAD or */WORKLOAD entries, e.g.
                   "pg,bullmq", "graphile-worker-tuned/burn-down", "*/light-latency".
                   Systems: cleaver-pg, cleaver-pglite, cleaver-pg-relaxed and cleaver-pg-prefetch
                   (workers holding as many attempts again as their slots; these two only when named
                   here; or pg, pglite, pg-relaxed, pg-prefetch),
                   graphile-worker-default, graphile-worker-tuned, pg-boss-notify, pg-boss-batched, bullmq,
                   limit (raw claim-and-complete SQL, the reference), limit-durable (only when named here).
                   Workloads (a prefix matches): bulk-enqueue/100, bulk-enqueue/1000, single-enqueue/1,
                   single-enqueue/16, burn-down/100, burn-down/10, burn-down-backlog/100,
                   burn-down-keyed/100, burn-down-rate-limited/100, light-latency, open-loop,
                   engine-memory, dag-chain, dag-diamond, run-list. A workload named here runs even where
                   the profile leaves it out by default (--quick: bulk-enqueue/1000, single-enqueue/16,
                   burn-down/100, burn-down-backlog/100, light-latency, open-loop, dag-chain). A variant
                   (burn-down-…) brings its baseline. run-list (1,000,000 runs on pg, 100,000 on
                   pglite, loaded in bulk) runs only when named: --only pg/run-list,pglite/run-list.

Environment: BENCH_DATABASE_URL (else DATABASE_URL, else postgres://root@127.0.0.1:5432/test),
             BENCH_REDIS_URL (else redis://127.0.0.1:6379)
`;

const SYSTEM_ALIASES: Record<string, string> = { pg: 'cleaver-pg', 'pg-relaxed': 'cleaver-pg-relaxed', 'pg-prefetch': 'cleaver-pg-prefetch', pglite: 'cleaver-pglite' };

/** Which (system, measurement) pairs the run measures. */
type Selection = (system: string, measurement: string) => boolean;

class UsageError extends Error {}

let interrupted = false;
const out = (line = '') => process.stdout.write(`${line}\n`);
const indent = (text: string) => `  ${text.replaceAll('\n', '\n  ')}`;

async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, strict: true, options: { quick: { type: 'boolean' }, only: { type: 'string' }, help: { type: 'boolean', short: 'h' } } });
  if (values.help) {
    out(USAGE);
    return 0;
  }
  const mode = values.quick ? 'quick' : 'full';
  const profile = PROFILES[mode];
  const databaseUrl = benchDatabaseUrl();
  const all = [
    createCleaverSystem({ backend: 'pg', databaseUrl }),
    createCleaverSystem({ backend: 'pg', databaseUrl, enqueueCommit: 'relaxed' }),
    createCleaverSystem({ backend: 'pg', databaseUrl, prefetch: true }),
    createCleaverSystem({ backend: 'pglite', databaseUrl }),
    createGraphileWorkerSystem({ databaseUrl, profile: 'default' }),
    createGraphileWorkerSystem({ databaseUrl, profile: 'tuned' }),
    createPgBossSystem({ databaseUrl, profile: 'notify' }),
    createPgBossSystem({ databaseUrl, profile: 'batched' }),
    createBullMqSystem(),
    createLimitSystem({ databaseUrl, profile: 'relaxed' }),
    createLimitSystem({ databaseUrl, profile: 'durable' }),
  ];
  const plan = measurements(profile);
  const selected = parseSelection(values.only, all, plan);
  const systems = all.filter((s) => plan.some((m) => selected(s.id, m.id)));

  const warnings = checkBuild();
  const machine = machineInfo(ROOT);
  if (systems.some((s) => !s.id.endsWith('-pglite') && s.id !== 'bullmq')) {
    try {
      machine.postgres = (await postgresSettings(databaseUrl)).server_version;
    } catch (e: unknown) {
      throw new Error(`Postgres at ${databaseUrl} is not reachable (${toError(e).message}); start it, set BENCH_DATABASE_URL, or pass --only pglite`);
    }
  }
  const startedAt = new Date();
  printHeader(mode, startedAt, machine, warnings);

  const { records, details, failures } = await measureAll(systems, plan, selected, profile);
  for (const record of records) {
    summarize(record);
    for (const r of record.reps) {
      const anomalies = (r.result as { clockAnomalies?: number } | null)?.clockAnomalies ?? 0;
      if (anomalies > 0) warnings.push(`${record.system} ${record.measurement} rep ${r.rep}: ${anomalies} enqueue→start readings were negative (cross-process clock)`);
    }
  }
  const results: BenchResults = {
    format: RESULTS_FORMAT,
    mode,
    startedAt: startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    machine,
    profile,
    systems: systems.map((s) => ({ id: s.id, label: s.label, details: details.get(s.id) ?? {} })),
    cases: records,
    comparisons: compare(records),
    loadAverageAtEnd: Math.round(os.loadavg()[0]! * 100) / 100,
    warnings,
    failures,
  };
  const resultsFile = join(ROOT, 'bench/results/latest.json');
  mkdirSync(join(ROOT, 'bench/results'), { recursive: true });
  writeFileSync(resultsFile, `${JSON.stringify(results, null, 2)}\n`);
  printReport(results, profile, resultsFile);
  if (interrupted) return 130;
  return failures.length > 0 ? 1 : 0;
}

/**
 * Measured only when --only names them: a non-default engine setting, and the limit with every commit
 * flushed (what the durable peers pay), left out to keep the full run within its budget.
 */
const NOT_BY_DEFAULT = ['cleaver-pg-relaxed', 'cleaver-pg-prefetch', 'limit-durable'];

function repsOf(profile: Profile, measurement: string): number {
  const entry = Object.entries(profile.repsFor).find(([prefix]) => measurement.startsWith(prefix));
  return entry ? entry[1] : profile.reps;
}

/**
 * Without --only: every default system on the profile's default measurements. An entry naming a system
 * only takes that system's default measurements; one naming a workload takes every measurement it
 * prefixes, default or not.
 */
function parseSelection(only: string | undefined, all: SystemUnderTest[], plan: PlannedMeasurement[]): Selection {
  const byDefault = (measurement: string) => plan.some((m) => m.id === measurement && m.byDefault);
  if (only === undefined) return (system, measurement) => !NOT_BY_DEFAULT.includes(system) && byDefault(measurement);
  const entries = only.split(',').map((e) => e.trim()).filter(Boolean).map((entry) => {
    const [system = '', workload = ''] = entry.split('/', 2).length === 2 ? [entry.slice(0, entry.indexOf('/')), entry.slice(entry.indexOf('/') + 1)] : [entry, ''];
    const id = system === '*' ? '*' : (SYSTEM_ALIASES[system] ?? system);
    if (id !== '*' && !all.some((s) => s.id === id)) throw new UsageError(`unknown system ${JSON.stringify(system)}; choose from ${all.map((s) => s.id).join(', ')} (or pg, pg-relaxed, pglite, *)`);
    if (workload && !plan.some((m) => m.id.startsWith(workload))) throw new UsageError(`unknown workload ${JSON.stringify(workload)}; choose from ${plan.map((m) => m.id).join(', ')}`);
    return { id, workload };
  });
  if (entries.length === 0) throw new UsageError(`--only ${JSON.stringify(only)} selects nothing`);
  const named: Selection = (system, measurement) => entries.some((e) => (e.id === '*' || e.id === system) && (e.workload ? measurement.startsWith(e.workload) : byDefault(measurement)));
  // A variant is read against its baseline in the same run, so selecting one selects its baseline too.
  return (system, measurement) => named(system, measurement) || plan.some((m) => m.baseline === measurement && named(system, m.id));
}

/** The harness measures the build: refuse a missing one, and flag one older than the sources. */
function checkBuild(): string[] {
  if (!existsSync(ENGINE_CLI) || !existsSync(join(ROOT, 'dist/sdk/index.js'))) {
    throw new Error('dist/ is missing: run `npm run build` first (`npm run bench` does)');
  }
  const built = statSync(ENGINE_CLI).mtimeMs;
  const newer: string[] = [];
  const walk = (dir: string) => {
    for (const entry of readdirSync(join(ROOT, dir), { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (/\.(ts|sql)$/.test(entry.name) && statSync(join(ROOT, path)).mtimeMs > built) newer.push(path);
    }
  };
  for (const dir of ['engine', 'sdk', 'shared']) walk(dir);
  if (newer.length === 0) return [];
  const named = `${newer.slice(0, 3).join(', ')}${newer.length > 3 ? ', …' : ''}`;
  return [`${newer.length} source file(s) changed after dist/ was built (${named}); the figures are for the build — run \`npm run build\` to measure the working tree`];
}

async function measureAll(systems: SystemUnderTest[], plan: Measurement[], selected: Selection, profile: Profile): Promise<{ records: CaseRecord[]; details: Map<string, Record<string, string>>; failures: string[] }> {
  const records: CaseRecord[] = [];
  const details = new Map<string, Record<string, string>>();
  const failures: string[] = [];
  const cases = plan.flatMap((measurement) => systems.filter((sut) => selected(sut.id, measurement.id)).map((sut) => {
    const skipped = measurement.skip(sut);
    const record: CaseRecord = { measurement: measurement.id, label: measurement.label, system: sut.id, figures: measurement.figures, reps: [], summary: null, skipped, baseline: measurement.baseline ?? null };
    records.push(record);
    return { sut, measurement, record };
  }));
  // One line per measurement and reason, naming every system it skips.
  const skips = new Map<string, string[]>();
  for (const { sut, record } of cases) {
    if (!record.skipped) continue;
    const what = `${record.label}: skipped (${record.skipped})`;
    skips.set(what, [...(skips.get(what) ?? []), sut.id]);
  }
  for (const [what, ids] of skips) out(`${ids.join(', ')} ${what}`);
  for (let rep = 1; rep <= profile.reps && !interrupted; rep++) {
    for (const { sut, measurement, record } of cases) {
      if (interrupted) break;
      if (record.skipped) continue;
      const reps = repsOf(profile, measurement.id);
      if (rep > reps) continue;
      const name = `${sut.id} ${record.label}${reps > 1 ? ` rep ${rep}/${reps}` : ''}`;
      process.stdout.write(`${name} … `);
      const began = performance.now();
      try {
        await sut.setup();
        if (!details.has(sut.id)) details.set(sut.id, await sut.describe().catch((e: unknown) => ({ error: `describe failed: ${toError(e).message}` })));
        const { result, values, line } = await measurement.run(sut);
        record.reps.push({ rep, result, values, error: null });
        out(`${line}  [${((performance.now() - began) / 1000).toFixed(1)} s]`);
      } catch (e: unknown) {
        const message = interrupted ? 'interrupted' : toError(e).message;
        record.reps.push({ rep, result: null, values: null, error: message });
        failures.push(`${name}: ${message}`);
        out('FAILED');
        process.stderr.write(`${indent(message)}\n`);
      }
      try {
        await sut.teardown();
      } catch (e: unknown) {
        failures.push(`${name}: ${toError(e).message}`);
        process.stderr.write(`${indent(toError(e).message)}\n`);
      }
    }
  }
  for (const sut of systems) await sut.dispose().catch((e: unknown) => failures.push(`${sut.id} dispose: ${toError(e).message}`));
  return { records, details, failures };
}

function printHeader(mode: string, startedAt: Date, machine: MachineInfo, warnings: string[]): void {
  out(`Cleaver benchmark (${mode}) ${startedAt.toISOString()}`);
  out(`  machine:  ${machine.cpu}, ${machine.cores} cores, ${machine.memoryGiB} GiB, ${machine.os}, load ${machine.loadAverage}`);
  out(`  software: node ${machine.node}${machine.postgres ? `, Postgres ${machine.postgres}` : ''}, commit ${machine.commit}`);
  for (const warning of warnings) out(`  warning:  ${warning}`);
  out();
}

function printReport(results: BenchResults, profile: Profile, resultsFile: string): void {
  out();
  out(formatTable(results));
  out();
  out(formatComparison(results));
  out();
  if (profile.reps > 1) out(`Figures are the median of ${profile.reps} repetitions, with (min–max), except ${Object.entries(profile.repsFor).map(([id, n]) => `${id}* ${n}`).join(', ')}.`);
  out('Ratios are Cleaver / best peer on the medians; ✓ where Cleaver is at least as good (higher tasks/s, lower ms).');
  const any = (ratios: (c: BenchResults['comparisons'][number]) => Record<string, number> | undefined) => results.comparisons.some((c) => Object.keys(ratios(c) ?? {}).length > 0);
  if (any((c) => c.limit?.ratios)) out(`"↳ / ${LIMIT_SYSTEM}" rows: each system over the limit (raw claim-and-complete SQL on the same Postgres, not a peer); see docs/benchmarks.md.`);
  if (any((c) => c.baseline?.ratios)) out('"↳ / burn-down …" rows: each system over its own figure in the measurement named, same run.');
  out(`Latency percentiles come from HDR histograms (3 significant digits). Load average ${results.machine.loadAverage} → ${results.loadAverageAtEnd}.`);
  out(`Results: ${resultsFile}`);
  for (const warning of results.warnings) out(`warning: ${warning}`);
  if (results.failures.length > 0) {
    out();
    out(`${results.failures.length} failure(s):`);
    for (const failure of results.failures) out(`  - ${failure.split('\n')[0]}`);
  }
}

function onSignal(signal: NodeJS.Signals): void {
  if (interrupted) process.exit(130);
  interrupted = true;
  process.stderr.write(`\nbench: ${signal}: stopping every child process, then cleaning up (again to quit at once)\n`);
  // Killing the children makes the step in flight fail at once; teardown then drops schemas and dirs.
  killAllChildren();
  setTimeout(() => process.exit(130), 20_000).unref();
}
process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: unknown) => {
    const error = toError(e);
    // parseArgs reports unknown flags with a code, not a class.
    const usage = error instanceof UsageError || (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS');
    process.stderr.write(`bench: ${error.message}\n${usage ? USAGE : ''}`);
    process.exit(usage ? 2 : 1);
  },
);
