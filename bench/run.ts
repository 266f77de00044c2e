/**
 * `node --import tsx bench/run.ts [--quick] [--only pg|pglite]` — the benchmark harness.
 *
 * For each repetition, each system and each workload it builds fresh state (setup), runs the workload,
 * and tears everything down, so no measurement inherits rows, caches or processes from another. Every
 * step runs under a deadline; a failure is recorded and the run goes on with the next measurement, and
 * the process exits 1 at the end if anything failed. Results go to bench/results/latest.json and to
 * stdout as a table.
 */
import { existsSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { killAllChildren } from './lib/child-process.ts';
import { toError } from './lib/deadline.ts';
import { machineInfo } from './lib/machine.ts';
import { benchDatabaseUrl, postgresSettings } from './lib/postgres-admin.ts';
import { formatTable } from './report-table.ts';
import { RESULTS_FORMAT, summarize, type BenchResults, type BurnDownCase, type CaseRecord, type LatencyCase } from './results.ts';
import { createCleaverSystem, ENGINE_CLI, ROOT } from './systems/cleaver.ts';
import type { SystemUnderTest } from './systems/system.ts';
import { burnDown } from './workloads/burn-down.ts';
import { lightLatency } from './workloads/light-latency.ts';

const USAGE = `Usage: node --import tsx bench/run.ts [--quick] [--only SYSTEMS]

  --quick        small counts, one repetition (well under 2 minutes)
  --only LIST    comma-separated systems: pg, pglite (aliases of cleaver-pg, cleaver-pglite)

Environment: BENCH_DATABASE_URL (else DATABASE_URL, else postgres://root@127.0.0.1:5432/test)
`;

interface Profile {
  reps: number;
  latency: { warmup: number; runs: number; slots: number; runTimeoutMs: number };
  burnDown: { tasks: number; chunk: number; slots: number[]; pollIntervalMs: number; drainTimeoutMs: number; chunkTimeoutMs: number };
}

const PROFILES: Record<'quick' | 'full', Profile> = {
  quick: {
    reps: 1,
    latency: { warmup: 50, runs: 300, slots: 100, runTimeoutMs: 10_000 },
    burnDown: { tasks: 10_000, chunk: 5_000, slots: [100], pollIntervalMs: 20, drainTimeoutMs: 60_000, chunkTimeoutMs: 60_000 },
  },
  full: {
    reps: 3,
    latency: { warmup: 200, runs: 2_000, slots: 100, runTimeoutMs: 10_000 },
    burnDown: { tasks: 50_000, chunk: 5_000, slots: [100, 10], pollIntervalMs: 20, drainTimeoutMs: 300_000, chunkTimeoutMs: 60_000 },
  },
};

const SYSTEM_ALIASES: Record<string, string> = { pg: 'cleaver-pg', pglite: 'cleaver-pglite' };

/** One measurement: a workload with its parameters, run against one freshly set-up system. */
interface Case {
  record(system: string): CaseRecord;
  run(sut: SystemUnderTest, record: CaseRecord, rep: number): Promise<string>;
}

function cases(profile: Profile): Case[] {
  const { latency, burnDown: burn } = profile;
  const list: Case[] = [
    {
      record: (system) => ({ workload: 'light-latency', system, variant: `${latency.runs} runs after ${latency.warmup} warm-up, slots ${latency.slots}`, reps: [], summary: null }),
      run: async (sut, record, rep) => {
        const result = await lightLatency(sut, latency);
        (record as LatencyCase).reps.push({ rep, result, error: null });
        const s = result.enqueueToStartMs;
        const d = result.enqueueToDoneMs;
        const anomalies = result.clockAnomalies > 0 ? `  WARNING: ${result.clockAnomalies} cross-process clock anomalies` : '';
        return `start p50 ${s.p50} p99 ${s.p99} ms · done p50 ${d.p50} p99 ${d.p99} ms${anomalies}`;
      },
    },
  ];
  for (const slots of burn.slots) {
    list.push({
      record: (system) => ({ workload: 'burn-down', system, variant: `${burn.tasks.toLocaleString('en-US')} tasks, slots ${slots}`, reps: [], summary: null }),
      run: async (sut, record, rep) => {
        const result = await burnDown(sut, { ...burn, slots });
        (record as BurnDownCase).reps.push({ rep, result, error: null });
        const window = Math.round(result.durationMs - result.durationLowerBoundMs);
        return `${result.tasksPerSecond.toLocaleString('en-US')} tasks/s (drained in ${(result.durationMs / 1000).toFixed(2)} s, end within the last ${window} ms, ${result.polls} polls; preload ${result.preloadTasksPerSecond.toLocaleString('en-US')} tasks/s)`;
      },
    });
  }
  return list;
}

function parse(argv: string[]): { mode: 'quick' | 'full'; only: string[] | null } {
  const { values } = parseArgs({ args: argv, strict: true, options: { quick: { type: 'boolean' }, only: { type: 'string' }, help: { type: 'boolean', short: 'h' } } });
  if (values.help) {
    process.stdout.write(USAGE);
    process.exit(0);
  }
  const only = values.only === undefined ? null : values.only.split(',').map((s) => s.trim()).filter(Boolean).map((s) => SYSTEM_ALIASES[s] ?? s);
  return { mode: values.quick ? 'quick' : 'full', only };
}

/** The harness measures the build; refuse a missing one and flag one older than the sources. */
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
  return newer.length === 0 ? [] : [`${newer.length} source file(s) changed after dist/ was built (${newer.slice(0, 3).join(', ')}${newer.length > 3 ? ', …' : ''}); the figures are for the build — run \`npm run build\` to measure the working tree`];
}

let interrupted = false;

async function main(argv: string[]): Promise<number> {
  let options: ReturnType<typeof parse>;
  try {
    options = parse(argv);
  } catch (e: unknown) {
    process.stderr.write(`bench: ${toError(e).message}\n${USAGE}`);
    return 2;
  }
  const profile = PROFILES[options.mode];
  const databaseUrl = benchDatabaseUrl();
  const all = [createCleaverSystem({ backend: 'pg', databaseUrl }), createCleaverSystem({ backend: 'pglite', databaseUrl })];
  const unknown = (options.only ?? []).filter((id) => !all.some((s) => s.id === id));
  if (unknown.length > 0) {
    process.stderr.write(`bench: unknown system(s) ${unknown.join(', ')}; choose from ${all.map((s) => s.id).join(', ')} (or pg, pglite)\n`);
    return 2;
  }
  const systems = options.only ? all.filter((s) => options.only!.includes(s.id)) : all;

  const warnings = checkBuild();
  const machine = machineInfo(ROOT);
  if (systems.some((s) => s.id.endsWith('-pg'))) {
    try {
      machine.postgres = (await postgresSettings(databaseUrl)).server_version;
    } catch (e: unknown) {
      process.stderr.write(`bench: Postgres at ${databaseUrl} is not reachable (${toError(e).message}); start it, set BENCH_DATABASE_URL, or pass --only pglite\n`);
      return 1;
    }
  }
  const startedAt = new Date();
  const out = (line = '') => process.stdout.write(`${line}\n`);
  out(`Cleaver benchmark (${options.mode}) ${startedAt.toISOString()}`);
  out(`  machine:  ${machine.cpu}, ${machine.cores} cores, ${machine.memoryGiB} GiB, ${machine.os}, load ${machine.loadAverage}`);
  out(`  software: node ${machine.node}${machine.postgres ? `, Postgres ${machine.postgres}` : ''}, commit ${machine.commit}`);
  for (const warning of warnings) out(`  warning:  ${warning}`);
  out();

  const plan = cases(profile);
  const records = new Map<string, CaseRecord[]>(systems.map((sut) => [sut.id, plan.map((c) => c.record(sut.id))]));
  const details = new Map<string, Record<string, string>>();
  const failures: string[] = [];
  outer: for (let rep = 1; rep <= profile.reps; rep++) {
    for (const sut of systems) {
      for (const [i, c] of plan.entries()) {
        if (interrupted) break outer;
        const record = records.get(sut.id)![i]!;
        const name = `${sut.id} ${record.workload} (${record.variant})${profile.reps > 1 ? ` rep ${rep}/${profile.reps}` : ''}`;
        process.stdout.write(`${name} … `);
        const began = performance.now();
        try {
          await sut.setup();
          if (!details.has(sut.id)) details.set(sut.id, await sut.describe().catch((e: unknown) => ({ error: `describe failed: ${toError(e).message}` })));
          const summary = await c.run(sut, record, rep);
          out(`${summary}  [${((performance.now() - began) / 1000).toFixed(1)} s]`);
        } catch (e: unknown) {
          const message = interrupted ? 'interrupted' : toError(e).message;
          record.reps.push({ rep, result: null, error: message });
          failures.push(`${name}: ${message}`);
          out('FAILED');
          process.stderr.write(`  ${message.replaceAll('\n', '\n  ')}\n`);
        }
        try {
          await sut.teardown();
        } catch (e: unknown) {
          failures.push(`${name}: ${toError(e).message}`);
          process.stderr.write(`  ${toError(e).message.replaceAll('\n', '\n  ')}\n`);
        }
      }
    }
  }
  for (const sut of systems) await sut.dispose().catch((e: unknown) => failures.push(`${sut.id} dispose: ${toError(e).message}`));

  const allCases = [...records.values()].flat();
  for (const record of allCases) {
    summarize(record);
    for (const r of record.reps) {
      if (r.result && 'clockAnomalies' in r.result && r.result.clockAnomalies > 0) {
        warnings.push(`${record.system} rep ${r.rep}: ${r.result.clockAnomalies} enqueue→start readings were negative or above enqueue→done (cross-process clock)`);
      }
    }
  }
  const results: BenchResults = {
    format: RESULTS_FORMAT,
    mode: options.mode,
    startedAt: startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    machine,
    profile,
    systems: systems.map((s) => ({ id: s.id, label: s.label, details: details.get(s.id) ?? {} })),
    cases: allCases,
    warnings,
    failures,
  };
  const resultsDir = join(ROOT, 'bench/results');
  mkdirSync(resultsDir, { recursive: true });
  const resultsFile = join(resultsDir, 'latest.json');
  writeFileSync(resultsFile, `${JSON.stringify(results, null, 2)}\n`);

  out();
  out(formatTable(results));
  out();
  if (profile.reps > 1) out(`Figures are the median of ${profile.reps} repetitions, with (min–max).`);
  out(`Latency percentiles are exact (nearest rank over all samples); burn-down ends at the first empty status poll (polled every ${profile.burnDown.pollIntervalMs} ms).`);
  out(`Results: ${resultsFile}`);
  for (const warning of warnings) out(`warning: ${warning}`);
  if (failures.length > 0) {
    out();
    out(`${failures.length} failure(s):`);
    for (const failure of failures) out(`  - ${failure.split('\n')[0]}`);
  }
  if (interrupted) return 130;
  return failures.length > 0 ? 1 : 0;
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
    process.stderr.write(`bench: ${toError(e).stack ?? toError(e).message}\n`);
    process.exit(1);
  },
);
