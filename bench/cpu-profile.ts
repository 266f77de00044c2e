/**
 * `node --import tsx bench/cpu-profile.ts [--tasks N] [--slots S] [--keyed [--keys K] | --rate-limited] [--backlog B] [--engine-profile DIR]`
 *
 * Where a Postgres burn-down's time goes, by process: a `cleaver serve` from the build on a database of
 * its own (`cleaver_profile`, created if missing, so its Postgres backends can be told from everyone
 * else's by their process title), one bench worker, N noop runs queued first, then drained. Prints the
 * drain rate, CPU ms per 1,000 tasks of the engine, the worker and Postgres, and what Postgres did per
 * task (statements, rows read) — the profile a missed throughput target is read against. With
 * `--engine-profile DIR` the engine also writes a V8 CPU profile there (node --cpu-prof).
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { Cleaver } from 'cleaver-sdk';
import { spawnBenchWorker } from './lib/bench-worker.ts';
import { ManagedChild } from './lib/child-process.ts';
import { cpuBetween, sampleCpu } from './lib/process-cpu.ts';
import { benchDatabaseUrl } from './lib/postgres-admin.ts';
import { ENGINE_CLI, ROOT } from './systems/cleaver.ts';
import { NOOP_FLOW_ENV, declareBacklog, declareNoop, type NoopFlow } from './systems/cleaver-noop.ts';

const DATABASE = 'cleaver_profile';

const { values } = parseArgs({
  options: {
    tasks: { type: 'string', default: '40000' },
    slots: { type: 'string', default: '100' },
    keyed: { type: 'boolean' },
    'rate-limited': { type: 'boolean' },
    keys: { type: 'string', default: '100' },
    backlog: { type: 'string', default: '0' },
    'engine-profile': { type: 'string' },
  },
});
const tasks = Number(values.tasks);
const slots = Number(values.slots);
const keys = Number(values.keys);
if (!Number.isInteger(tasks) || tasks < 1000 || !Number.isInteger(slots) || slots < 1) throw new Error('--tasks must be an integer ≥ 1000 and --slots a positive integer');
if (!Number.isInteger(keys) || keys < 1) throw new Error('--keys must be a positive integer');
const backlog = Number(values.backlog);
if (!Number.isInteger(backlog) || backlog < 0) throw new Error('--backlog must be a whole number of runs');
if (values.keyed && values['rate-limited']) throw new Error('--keyed and --rate-limited are two different profiles: give one');
// The bench's rate-limited burn-down: one static key at 10,000,000 a minute, which never binds.
const RATE_LIMIT = { key: 'profile-api', limit: 10_000_000, duration: 'minute' } as const;
const flow: NoopFlow | undefined = values.keyed
  ? { name: 'noop-keyed', concurrency: { expression: 'input.k', maxRuns: 5 } }
  : values['rate-limited']
    ? { name: 'noop-rate-limited', rateLimits: [{ staticKey: RATE_LIMIT.key, units: 1 }] }
    : undefined;
if (values.keyed) process.stdout.write(`noop behind a concurrency key: ${keys} keys (input.k), maxRuns 5\n`);
if (values['rate-limited']) process.stdout.write(`noop behind a rate limit of ${RATE_LIMIT.limit.toLocaleString('en-US')} a ${RATE_LIMIT.duration}\n`);

const admin = new URL(benchDatabaseUrl());
const url = new URL(admin);
url.pathname = `/${DATABASE}`;
const query = async <R extends pg.QueryResultRow>(target: URL, text: string, params: unknown[] = []) => {
  const client = new pg.Client({ connectionString: target.toString() });
  await client.connect();
  try {
    return (await client.query<R>(text, params)).rows;
  } finally {
    await client.end();
  }
};
if ((await query(admin, `SELECT 1 FROM pg_database WHERE datname = $1`, [DATABASE])).length === 0) await query(admin, `CREATE DATABASE ${DATABASE}`);
const schema = `profile_${randomBytes(4).toString('hex')}`;
const dir = mkdtempSync(join(tmpdir(), 'clv-profile-'));
const socket = join(dir, 'engine.sock');
const nodeFlags = values['engine-profile'] ? ['--cpu-prof', `--cpu-prof-dir=${values['engine-profile']}`] : [];
const engine = new ManagedChild({
  name: 'engine',
  command: process.execPath,
  args: [...nodeFlags, ENGINE_CLI, 'serve', '--socket', socket, '--console', 'off', '--database-url', url.toString(), '--schema', schema],
  env: process.env,
  cwd: ROOT,
});
try {
  await engine.waitForLine((line) => line.includes(' ready'), { what: 'its ready line', timeoutMs: 60_000 });
  const cleaver = Cleaver.connect({ address: `unix://${socket}` });
  if (values['rate-limited']) await cleaver.rateLimits.upsert({ ...RATE_LIMIT });
  const noop = declareNoop(cleaver, { flow });
  // The bench's burn-down-backlog: runs of another task, which no worker offers, queued first.
  if (backlog > 0) {
    const other = declareBacklog(cleaver);
    for (let i = 0; i < backlog; i += 5_000) await other.runManyNoWait(Array.from({ length: Math.min(5_000, backlog - i) }, () => ({})));
    process.stdout.write(`${backlog.toLocaleString('en-US')} runs of ${other.name} queued first\n`);
  }
  for (let i = 0; i < tasks; i += 5_000) {
    await noop.runManyNoWait(Array.from({ length: Math.min(5_000, tasks - i) }, (_, j) => ({ k: `k${(i + j) % keys}` }) as never));
  }
  const pgStats = async () =>
    (await query<Record<string, string>>(url, `SELECT xact_commit, tup_returned, tup_fetched, blks_hit FROM pg_stat_database WHERE datname = $1`, [DATABASE]))[0]!;
  // Counters reach pg_stat_database within a second of a transaction's end.
  await new Promise((resolve) => setTimeout(resolve, 1_100));
  const statsBefore = await pgStats();
  let workerPid = -1;
  const classify = (p: { pid: number; command: string; title: string }) =>
    p.pid === engine.process.pid ? 'engine' : p.pid === workerPid ? 'worker' : p.command.startsWith('postgres') && p.title.includes(` ${DATABASE} `) ? 'postgres' : null;
  const worker = await spawnBenchWorker({
    name: 'worker',
    entry: join(ROOT, 'bench/cleaver-worker.ts'),
    env: { ...process.env, CLEAVER_ADDRESS: `unix://${socket}`, BENCH_WORKER_SLOTS: String(slots), BENCH_WORKER_EXPECT: String(tasks), ...(flow ? { [NOOP_FLOW_ENV]: JSON.stringify(flow) } : {}) },
    cwd: ROOT,
  });
  workerPid = worker.child.process.pid ?? -1;
  // From the worker's ready line: its start-up is not the queue's cost (the few tasks it may have run
  // before printing it are a rounding error on thousands).
  const cpuBefore = await sampleCpu(classify);
  const startedAt = Date.now();
  await worker.allExecuted;
  const doneAt = Date.now();
  const cpu = cpuBetween(cpuBefore, await sampleCpu(classify));
  const drainMs = doneAt - startedAt;
  await new Promise((resolve) => setTimeout(resolve, 1_100));
  const statsAfter = await pgStats();
  await worker.stop();
  await cleaver.close();
  const per = (n: number) => Math.round((n * 1_000) / tasks);
  const delta = (k: string) => Number(statsAfter[k]) - Number(statsBefore[k]);
  console.log(`${flow ? `${flow.name} ` : ''}burn-down of ${tasks.toLocaleString('en-US')} at ${slots} slots: ${Math.round((tasks * 1_000) / drainMs).toLocaleString('en-US')} tasks/s (${drainMs} ms from the worker's ready)`);
  console.log(`CPU ms per 1,000 tasks: engine ${per(cpu.engine ?? 0)}, worker ${per(cpu.worker ?? 0)}, postgres ${per(cpu.postgres ?? 0)}`);
  console.log(`Postgres per 1,000 tasks: ${per(delta('xact_commit'))} transactions, ${per(delta('tup_returned'))} rows returned by scans, ${per(delta('tup_fetched'))} rows fetched, ${per(delta('blks_hit'))} buffer hits`);
  // Which scans read those rows (since the schema was made: the enqueue's share is small and noted).
  const scans = await query<{ what: string; read: string }>(
    url,
    `SELECT relname || ' seq scan' AS what, seq_tup_read AS read FROM pg_stat_user_tables WHERE schemaname = $1 AND seq_tup_read > 0
     UNION ALL
     SELECT indexrelname, idx_tup_read FROM pg_stat_user_indexes WHERE schemaname = $1 AND idx_tup_read > 0
     ORDER BY 2 DESC LIMIT 6`,
    [schema],
  );
  console.log(`rows read per 1,000 tasks, enqueue included: ${scans.map((r) => `${r.what} ${per(Number(r.read))}`).join(', ')}`);
  const analyzed = await query<{ relname: string; n: string }>(url, `SELECT relname, analyze_count + autoanalyze_count AS n FROM pg_stat_user_tables WHERE schemaname = $1 AND relname IN ('run', 'task_run', 'attempt') ORDER BY relname`, [schema]);
  console.log(`ANALYZE runs: ${analyzed.map((r) => `${r.relname} ${r.n}`).join(', ')}`);
} finally {
  // SIGTERM: a graceful stop, so --cpu-prof writes its profile.
  await engine.stop({ request: null, signal: 'SIGTERM', graceMs: 15_000 });
  await query(url, `DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => undefined);
  rmSync(dir, { recursive: true, force: true });
}
