/**
 * `node --import tsx bench/run.ts [--quick] [--only pg|pglite]` — the benchmark harness.
 *
 * For each repetition, each system and each measurement it builds fresh state (setup), runs the
 * workload, and tears everything down, so no measurement inherits rows, caches or processes from
 * another; systems are interleaved within a repetition so slow drift in the machine's load spreads over
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
import { PROFILES, measurements, type Profile } from './plan.ts';
import { formatTable } from './report-table.ts';
import { RESULTS_FORMAT, summarize, type BenchResults, type CaseRecord } from './results.ts';
import { createCleaverSystem, ENGINE_CLI, ROOT } from './systems/cleaver.ts';
import type { SystemUnderTest } from './systems/system.ts';

const USAGE = `Usage: node --import tsx bench/run.ts [--quick] [--only SYSTEMS]

  --quick        small counts, one repetition (well under 2 minutes)
  --only LIST    comma-separated systems: pg, pg-relaxed, pglite (aliases of cleaver-pg, cleaver-pg-relaxed, cleaver-pglite)

Environment: BENCH_DATABASE_URL (else DATABASE_URL, else postgres://root@127.0.0.1:5432/test)
`;

const SYSTEM_ALIASES: Record<string, string> = { pg: 'cleaver-pg', 'pg-relaxed': 'cleaver-pg-relaxed', pglite: 'cleaver-pglite' };

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
  const systems = selectSystems(values.only, [
    createCleaverSystem({ backend: 'pg', databaseUrl }),
    createCleaverSystem({ backend: 'pg', databaseUrl, enqueueCommit: 'relaxed' }),
    createCleaverSystem({ backend: 'pglite', databaseUrl }),
  ]);

  const warnings = checkBuild();
  const machine = machineInfo(ROOT);
  if (systems.some((s) => s.id.endsWith('-pg'))) {
    try {
      machine.postgres = (await postgresSettings(databaseUrl)).server_version;
    } catch (e: unknown) {
      throw new Error(`Postgres at ${databaseUrl} is not reachable (${toError(e).message}); start it, set BENCH_DATABASE_URL, or pass --only pglite`);
    }
  }
  const startedAt = new Date();
  printHeader(mode, startedAt, machine, warnings);

  const { records, details, failures } = await measureAll(systems, profile);
  for (const record of records) {
    summarize(record);
    for (const r of record.reps) {
      if (r.result && 'clockAnomalies' in r.result && r.result.clockAnomalies > 0) {
        warnings.push(`${record.system} rep ${r.rep}: ${r.result.clockAnomalies} enqueue→start readings were negative or above enqueue→done (cross-process clock)`);
      }
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

function selectSystems(only: string | undefined, all: SystemUnderTest[]): SystemUnderTest[] {
  if (only === undefined) return all;
  const ids = only.split(',').map((s) => s.trim()).filter(Boolean).map((s) => SYSTEM_ALIASES[s] ?? s);
  const unknown = ids.filter((id) => !all.some((s) => s.id === id));
  if (ids.length === 0 || unknown.length > 0) {
    throw new UsageError(`unknown system(s) ${JSON.stringify(unknown.join(',') || only)}; choose from ${all.map((s) => s.id).join(', ')} (or pg, pglite)`);
  }
  return all.filter((s) => ids.includes(s.id));
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

async function measureAll(systems: SystemUnderTest[], profile: Profile): Promise<{ records: CaseRecord[]; details: Map<string, Record<string, string>>; failures: string[] }> {
  const plan = measurements(profile);
  const records = new Map(systems.map((sut) => [sut.id, plan.map((m) => m.record(sut.id))]));
  const details = new Map<string, Record<string, string>>();
  const failures: string[] = [];
  for (let rep = 1; rep <= profile.reps && !interrupted; rep++) {
    for (const sut of systems) {
      for (const [i, measurement] of plan.entries()) {
        if (interrupted) break;
        const record = records.get(sut.id)![i]!;
        const name = `${sut.id} ${record.workload} (${record.variant})${profile.reps > 1 ? ` rep ${rep}/${profile.reps}` : ''}`;
        process.stdout.write(`${name} … `);
        const began = performance.now();
        try {
          await sut.setup();
          if (!details.has(sut.id)) details.set(sut.id, await sut.describe().catch((e: unknown) => ({ error: `describe failed: ${toError(e).message}` })));
          const summary = await measurement.run(sut, record, rep);
          out(`${summary}  [${((performance.now() - began) / 1000).toFixed(1)} s]`);
        } catch (e: unknown) {
          const message = interrupted ? 'interrupted' : toError(e).message;
          record.reps.push({ rep, result: null, error: message });
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
  }
  for (const sut of systems) await sut.dispose().catch((e: unknown) => failures.push(`${sut.id} dispose: ${toError(e).message}`));
  return { records: [...records.values()].flat(), details, failures };
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
  if (profile.reps > 1) out(`Figures are the median of ${profile.reps} repetitions, with (min–max).`);
  out('Latency percentiles are exact (nearest rank over all samples); burn-down ends at the first status poll that');
  out(`finds nothing unfinished (every ${profile.burnDown.pollIntervalMs} ms once the worker has run every task). Load average ${results.machine.loadAverage} → ${results.loadAverageAtEnd}.`);
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
