#!/usr/bin/env node
/**
 * `cleaver serve | migrate | run | status | events | runs | rate-limits`. Thin: parses flags, opens the driver, and hands over to the
 * engine or the SDK. Every mistake a user can make here is answered with what to do instead.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { openDriver } from './db/open-driver.ts';
import type { Driver } from './db/driver.ts';
import { Engine } from './engine.ts';
import { consoleToken, consoleTokenPath } from './admin/console-token.ts';
import { defaultConsoleDir, isLoopbackHost, startAdminHttp, type AdminHttpServer } from './admin/http-server.ts';
import { createLogger, type Logger } from './log.ts';
import { retentionAgeMs } from './maintenance/retention.ts';
import { migrate, schemaStatus } from './sql/migrate.ts';
import { ENGINE_VERSION } from './version.ts';
import { Cleaver } from '../sdk/client.ts';
import { defaultDataDir, defaultSocketPath, parseAddress } from '../shared/paths.ts';
import { durationFormat, parseDuration } from '../shared/duration.ts';
import { CleaverError, TaskRunError, toError } from '../shared/errors.ts';
import { validateMetadata } from '../shared/payload.ts';
import { rateLimitProblem, type RateLimitDuration, type RateLimitRecord } from '../shared/flow-control.ts';
import type { Json } from '../shared/types.ts';
import { describeWait } from '../shared/wait-reason.ts';

/**
 * Each command's usage lines: `cleaver help` prints them all, a mistake prints its command's lines, and
 * docs/cli.md repeats `cleaver help` word for word (test/integration/cli.test.ts compares them).
 */
const COMMAND_USAGE = {
  serve: [
    'cleaver serve   [--data-dir DIR | --database-url URL [--schema S]] [--socket PATH]',
    '                [--listen tcp://HOST:PORT] [--token T] [--max-frame-bytes N] [--max-connections N]',
    '                [--heartbeat-timeout 12s] [--enqueue-commit durable|relaxed] [--console HOST:PORT|PORT|off]',
    '                [--retention 30d|off] [--max-log-lines N] [--max-log-bytes N]',
  ],
  migrate: ['cleaver migrate [--data-dir DIR | --database-url URL [--schema S]] [--status]'],
  run: ['cleaver run <task|workflow> [--input JSON] [--metadata JSON] [--wait] [--address ADDR] [--token T]'],
  status: ['cleaver status  [--address ADDR] [--token T]'],
  events: [
    'cleaver events push <key> [--payload JSON] [--metadata JSON] [--address ADDR] [--token T]',
    'cleaver events replay <event-id> [--address ADDR] [--token T]',
  ],
  runs: [
    'cleaver runs cancel <run-id>... [--address ADDR] [--token T]',
    'cleaver runs replay <run-id>... [--from-task NAME] [--address ADDR] [--token T]',
  ],
  'rate-limits': [
    'cleaver rate-limits list [--search S] [--address ADDR] [--token T]',
    'cleaver rate-limits put <key> <limit> <duration> [--address ADDR] [--token T]',
    'cleaver rate-limits delete <key> [--address ADDR] [--token T]',
  ],
} as const;
type Command = keyof typeof COMMAND_USAGE;

const HELP = `Usage:
${Object.values(COMMAND_USAGE).flat().map((line) => `  ${line}`).join('\n')}

  --input and --payload take a JSON object (default {}), e.g. --input '{"name":"x"}';
  --metadata takes a JSON object of strings. --address takes unix:///path or tcp://host:port,
  or several engines comma-separated. A rate limit's <duration> is second, minute, hour, day,
  week, month (30 days) or year (365 days): put openai 100 minute admits at most 100 units
  in any minute.

Environment:
  CLEAVER_DATA_DIR         embedded database and socket directory (default ~/.cleaver)
  CLEAVER_DATABASE_URL     use this Postgres instead of the embedded database
  CLEAVER_DATABASE_SCHEMA  the Postgres schema to use (default: the connection's search_path)
  CLEAVER_ADDRESS          where clients find the engine (like --address)
  CLEAVER_TOKEN            token for TCP listeners and clients
  CLEAVER_CONSOLE_TOKEN    the console's token (default: kept in <data dir>/console-token)
`;

class UsageError extends Error {}

function isCommand(name: string | undefined): name is Command {
  return name !== undefined && Object.hasOwn(COMMAND_USAGE, name);
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (isCommand(command) && (rest.includes('--help') || rest.includes('-h'))) {
    process.stdout.write(`${COMMAND_USAGE[command].join('\n')}\n`);
    return 0;
  }
  switch (command) {
    case 'serve':
      return serve(rest);
    case 'migrate':
      return migrateCommand(rest);
    case 'run':
      return run(rest);
    case 'status':
      return status(rest);
    case 'events':
      return events(rest);
    case 'runs':
      return runs(rest);
    case 'rate-limits':
      return rateLimits(rest);
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(`cleaver ${ENGINE_VERSION} — a durable task queue\n\n${HELP}`);
      return command === undefined ? 1 : 0;
    case '--version':
    case 'version':
      process.stdout.write(`${ENGINE_VERSION}\n`);
      return 0;
    default:
      throw new UsageError(`unknown command ${JSON.stringify(command)}`);
  }
}

/** Runs a parse of user input (an address, metadata), turning its complaints into usage errors. */
function usage<T>(parse: () => T): T {
  try {
    return parse();
  } catch (e: unknown) {
    throw new UsageError(toError(e).message);
  }
}

/** A command's flags. parseArgs's own complaints suggest `--` tricks; ours name the flag and what it wants. */
function parseFlags<const O extends NonNullable<ParseArgsConfig['options']>>(args: string[], options: O, allowPositionals = false) {
  try {
    return parseArgs({ args, options, strict: true, allowPositionals });
  } catch (e: unknown) {
    const error = toError(e) as Error & { code?: string };
    const named = /'(-[^' ]+)/.exec(error.message)?.[1];
    switch (error.code) {
      case 'ERR_PARSE_ARGS_UNKNOWN_OPTION':
        throw new UsageError(`unknown flag ${named}`);
      case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE':
        throw new UsageError(error.message.includes('does not take an argument') ? `${named} takes no value` : `${named} needs a value`);
      case 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL':
        throw new UsageError(`unexpected argument ${JSON.stringify(/'([^']*)'/.exec(error.message)?.[1] ?? '')}`);
      default:
        throw new UsageError(error.message);
    }
  }
}

const databaseFlags = {
  'data-dir': { type: 'string' },
  'database-url': { type: 'string' },
  schema: { type: 'string' },
} as const;

async function openDatabase(values: { 'data-dir'?: string; 'database-url'?: string; schema?: string }): Promise<{ driver: Driver; dataDir: string }> {
  const dataDir = values['data-dir'] ?? defaultDataDir();
  const databaseUrl = values['database-url'] ?? process.env.CLEAVER_DATABASE_URL;
  if (values['data-dir'] && values['database-url']) throw new UsageError('pass either --data-dir or --database-url, not both');
  const schema = values.schema ?? process.env.CLEAVER_DATABASE_SCHEMA;
  if (schema && !databaseUrl) throw new UsageError('--schema applies to Postgres; pass --database-url too');
  const driver = await openDriver(databaseUrl ? { databaseUrl, schema } : { dataDir });
  return { driver, dataDir };
}

async function serve(args: string[]): Promise<number> {
  const { values } = parseFlags(args, {
    ...databaseFlags,
    socket: { type: 'string' },
    listen: { type: 'string' },
    token: { type: 'string' },
    'max-frame-bytes': { type: 'string' },
    'heartbeat-timeout': { type: 'string' },
    'max-connections': { type: 'string' },
    'enqueue-commit': { type: 'string' },
    console: { type: 'string' },
    retention: { type: 'string' },
    'max-log-lines': { type: 'string' },
    'max-log-bytes': { type: 'string' },
  });
  const retentionMs = usage(() => retentionAgeMs(values.retention, '--retention'));
  const consoleAddress = parseConsoleAddress(values.console);
  const enqueueCommit = values['enqueue-commit'] ?? 'durable';
  if (enqueueCommit !== 'durable' && enqueueCommit !== 'relaxed') throw new UsageError('--enqueue-commit takes durable or relaxed');
  let tcp: { host: string; port: number } | null = null;
  if (values.listen) {
    const listen = values.listen;
    const address = usage(() => parseAddress(listen));
    if (address.kind !== 'tcp') throw new UsageError('--listen takes tcp://HOST:PORT');
    tcp = { host: address.host, port: address.port };
  }
  const token = values.token ?? process.env.CLEAVER_TOKEN ?? null;
  if (tcp && !token) throw new UsageError('--listen needs a token: pass --token T or set CLEAVER_TOKEN (clients use the same CLEAVER_TOKEN)');
  const maxFrameBytes = values['max-frame-bytes'] ? Number(values['max-frame-bytes']) : undefined;
  if (maxFrameBytes !== undefined && (!Number.isInteger(maxFrameBytes) || maxFrameBytes < 1024)) {
    throw new UsageError('--max-frame-bytes must be an integer of at least 1024');
  }
  const heartbeatTimeoutMs = values['heartbeat-timeout'] ? parseDuration(values['heartbeat-timeout'], '--heartbeat-timeout') : undefined;
  const maxConnections = values['max-connections'] ? Number(values['max-connections']) : undefined;
  if (maxConnections !== undefined && (!Number.isInteger(maxConnections) || maxConnections < 1)) {
    throw new UsageError('--max-connections must be a positive integer');
  }
  const maxLogLinesPerTaskRun = positiveIntegerFlag(values['max-log-lines'], '--max-log-lines');
  const maxLogBytesPerTaskRun = positiveIntegerFlag(values['max-log-bytes'], '--max-log-bytes');
  const log = createLogger();
  const { driver, dataDir } = await openDatabase(values);
  const socketPath = values.socket ?? defaultSocketPath(dataDir);
  const engine = new Engine({
    driver,
    socketPath,
    tcp,
    token,
    maxFrameBytes,
    heartbeatTimeoutMs,
    enqueueCommit,
    heartbeatIntervalMs: heartbeatTimeoutMs ? Math.max(100, Math.floor(heartbeatTimeoutMs / 5)) : undefined,
    // A short heartbeat timeout is checked as often as it needs to be (at most every second).
    maintenanceIntervalMs: heartbeatTimeoutMs ? Math.min(1_000, Math.max(100, Math.floor(heartbeatTimeoutMs / 5))) : undefined,
    maxConnections,
    retention: retentionMs,
    maxLogLinesPerTaskRun,
    maxLogBytesPerTaskRun,
    log,
  });
  let consoleServer: { server: AdminHttpServer; token: string } | null = null;
  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info('engine stopping', { signal });
    void (consoleServer?.server.close() ?? Promise.resolve())
      .then(() => engine.stop())
      .then(() => driver.close())
      .then(
        () => {
          log.info('engine stopped');
          process.exit(0);
        },
        (e: unknown) => {
          log.error('engine stop failed', { error: toError(e).message });
          process.exit(1);
        },
      );
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
  try {
    await engine.start();
    if (consoleAddress) consoleServer = await serveConsole({ ...consoleAddress, engine, dataDir, log });
  } catch (e: unknown) {
    await engine.stop().catch(() => undefined);
    await driver.close().catch(() => undefined);
    throw e;
  }
  const out = (line: string) => process.stdout.write(`${line}\n`);
  out(`cleaver ${ENGINE_VERSION}`);
  out(`  database:  ${driver.kind === 'pglite' ? `embedded PGlite in ${join(dataDir, 'pgdata')}` : `Postgres ${driver.description}${enqueueCommit === 'relaxed' ? ' (relaxed enqueue commits)' : ''}`}`);
  for (const address of engine.addresses) out(`  listening: ${address}${address.startsWith('tcp://') ? ' (token required)' : ''}`);
  if (engine.addresses[0]) out(`  workers connect with CLEAVER_ADDRESS=${engine.addresses[0]}`);
  if (consoleServer) out(`  console:   ${consoleServer.server.url}/#token=${consoleServer.token}`);
  out(`  retention: ${retentionMs === null ? 'off, every run is kept' : `runs that ended more than ${durationFormat(retentionMs)} ago are deleted`}`);
  // Last, so whoever waits for "ready" has the addresses above already.
  out(`engine ${engine.id} ready`);
  return new Promise<number>(() => undefined); // runs until a signal
}

/** A flag that takes a count, such as --max-log-lines 5000; undefined when not given. */
function positiveIntegerFlag(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n) || n < 1) throw new UsageError(`${flag} must be a positive integer, got ${JSON.stringify(value)}`);
  return n;
}

const DEFAULT_CONSOLE = { host: '127.0.0.1', port: 7878 };

/** `--console HOST:PORT`, `[::1]:PORT`, `PORT` or `off`; null when off. */
function parseConsoleAddress(flag: string | undefined): { host: string; port: number; explicit: boolean } | null {
  if (flag === undefined) return { ...DEFAULT_CONSOLE, explicit: false };
  if (flag === 'off') return null;
  const match = /^(?:(\[[0-9a-fA-F:.]+\]|[^:\s\[\]]+):)?(\d{1,5})$/.exec(flag);
  const port = Number(match?.[2]);
  if (!match || port > 65535) throw new UsageError(`--console takes HOST:PORT (e.g. 127.0.0.1:9000), a port, or off; got ${JSON.stringify(flag)}`);
  return { host: match[1]?.replace(/^\[|\]$/g, '') ?? DEFAULT_CONSOLE.host, port, explicit: true };
}

/**
 * Serves the console and its API. When the default port is taken (another engine, a test run) the
 * engine keeps running without it and says so; a port asked for explicitly must be available.
 */
async function serveConsole(options: {
  host: string;
  port: number;
  explicit: boolean;
  engine: Engine;
  dataDir: string;
  log: Logger;
}): Promise<{ server: AdminHttpServer; token: string } | null> {
  const { host, port, engine, dataDir, log } = options;
  const token = consoleToken(dataDir);
  if (!isLoopbackHost(host)) {
    log.warn('the console listens beyond this machine: anyone who can reach it and has the token can administer every run, over unencrypted HTTP; prefer 127.0.0.1 and an SSH tunnel', { address: `${host}:${port}` });
  }
  const staticDir = defaultConsoleDir();
  try {
    const server = await startAdminHttp({
      admin: engine.admin,
      changes: engine.changes,
      streams: engine.streams,
      prometheus: () => engine.metrics.prometheusText(),
      host,
      port,
      token,
      staticDir,
      log,
    });
    if (!existsSync(join(staticDir, 'index.html'))) log.warn('the console is not built; its API works, but run `npm run build` to get the pages', { expected: staticDir });
    if (!process.env.CLEAVER_CONSOLE_TOKEN) log.info('console token', { file: consoleTokenPath(dataDir) });
    return { server, token };
  } catch (e: unknown) {
    if (options.explicit) throw e;
    log.warn('console not served', { error: toError(e).message });
    return null;
  }
}

async function migrateCommand(args: string[]): Promise<number> {
  const { values } = parseFlags(args, { ...databaseFlags, status: { type: 'boolean' } });
  const { driver } = await openDatabase(values);
  try {
    if (values.status) {
      const s = await schemaStatus(driver);
      process.stdout.write(`schema version ${s.current} of ${s.latest}${s.pending.length ? `; pending: ${s.pending.join(', ')}` : '; up to date'}\n`);
      return 0;
    }
    const { applied, current } = await migrate(driver);
    process.stdout.write(applied.length ? `applied migrations ${applied.join(', ')}; schema now at version ${current}\n` : `schema already at version ${current}; nothing to do\n`);
    return 0;
  } finally {
    await driver.close();
  }
}

function clientFrom(values: { address?: string; token?: string }): Cleaver {
  // A person is waiting: say quickly when no engine answers. `--address` may list several engines;
  // a malformed one is a usage mistake.
  return usage(() => Cleaver.connect({ address: values.address, token: values.token, requestTimeout: '1s' }));
}

async function run(args: string[]): Promise<number> {
  const { values, positionals } = parseFlags(
    args,
    { input: { type: 'string' }, metadata: { type: 'string' }, wait: { type: 'boolean' }, address: { type: 'string' }, token: { type: 'string' } },
    true,
  );
  const [task, ...extra] = positionals;
  if (!task || extra.length > 0) throw new UsageError('cleaver run takes one task or workflow name');
  const input = jsonObjectFlag(values.input, '--input');
  const metadata = metadataFlag(values.metadata);
  const client = clientFrom(values);
  try {
    const ref = client.ref(task);
    const options = metadata ? { metadata } : {};
    if (values.wait) {
      const output = await ref.run(input, options);
      process.stdout.write(`${JSON.stringify(output, null, 2)}\n`);
    } else {
      const run = await ref.runNoWait(input, options);
      process.stdout.write(`${run.runId}\n`);
    }
    return 0;
  } finally {
    await client.close();
  }
}

async function status(args: string[]): Promise<number> {
  const { values } = parseFlags(args, { address: { type: 'string' }, token: { type: 'string' } });
  const client = clientFrom(values);
  try {
    const s = await client.status();
    const lines = [
      `engine ${s.engineId} (cleaver ${s.version}), up ${Math.round(s.uptimeMs / 1000)} s`,
      `database:  ${s.database}`,
      ...s.listening.map((l) => `listening: ${l}`),
      `task runs: ${Object.entries(s.counts).map(([k, v]) => `${k} ${v}`).join(', ')}`,
      `workers:   ${s.workers.length === 0 ? 'none connected' : s.workers.length}`,
      ...s.workers.map((w) => `  ${w.name} ${w.id} slots ${w.busy}/${w.slots}${w.held > 0 ? ` (+${w.held} held)` : ''}${w.draining ? ' draining' : ''} actions ${w.actions.join(',')}`),
      `queues:    ${s.waiting.length === 0 ? 'nothing queued' : s.waiting.length}`,
      ...s.waiting.map((q) => `  ${q.action}: ${q.queued} queued${q.reason ? `; the first waits: ${describeWait(q.reason)}` : ''}`),
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
    return 0;
  } finally {
    await client.close();
  }
}

async function events(args: string[]): Promise<number> {
  const { values, positionals } = parseFlags(
    args,
    { payload: { type: 'string' }, metadata: { type: 'string' }, address: { type: 'string' }, token: { type: 'string' } },
    true,
  );
  const [action, target, ...extra] = positionals;
  if ((action !== 'push' && action !== 'replay') || !target || extra.length > 0) {
    throw new UsageError(action === 'push' || action === 'replay' ? `cleaver events ${action} takes one ${action === 'push' ? 'key' : 'event id'}` : 'cleaver events takes push or replay');
  }
  if (action === 'replay' && (values.payload !== undefined || values.metadata !== undefined)) {
    throw new UsageError('--payload and --metadata are for cleaver events push; a replay reuses the stored event');
  }
  const client = clientFrom(values);
  try {
    let pushed;
    if (action === 'push') {
      pushed = await client.events.push(target, jsonObjectFlag(values.payload, '--payload'), { metadata: metadataFlag(values.metadata) });
    } else {
      pushed = await client.events.replay(target);
    }
    const runs = pushed.runIds.length === 0 ? 'no workflow matched' : `runs ${pushed.runIds.join(' ')}`;
    process.stdout.write(`event ${pushed.eventId}: ${runs}\n`);
    return 0;
  } finally {
    await client.close();
  }
}

async function runs(args: string[]): Promise<number> {
  const { values, positionals } = parseFlags(args, { 'from-task': { type: 'string' }, address: { type: 'string' }, token: { type: 'string' } }, true);
  const [action, ...runIds] = positionals;
  if ((action !== 'cancel' && action !== 'replay') || runIds.length === 0) {
    throw new UsageError(action === 'cancel' || action === 'replay' ? `cleaver runs ${action} takes one or more run ids` : 'cleaver runs takes cancel or replay');
  }
  if (action === 'cancel' && values['from-task']) throw new UsageError('--from-task is for cleaver runs replay');
  const client = clientFrom(values);
  try {
    if (action === 'cancel') {
      const { cancelled } = await client.runs.cancel({ runIds });
      process.stdout.write(`cancelled ${cancelled.length} of ${runIds.length} run(s)${cancelled.length < runIds.length ? ' (the others had already ended)' : ''}\n`);
    } else {
      const { replayed } = await client.runs.replay({ runIds }, { fromTask: values['from-task'] });
      process.stdout.write(`replaying ${replayed.length} of ${runIds.length} run(s)${replayed.length < runIds.length ? ' (the others have not ended or have nothing to run again)' : ''}\n`);
    }
    return 0;
  } finally {
    await client.close();
  }
}

async function rateLimits(args: string[]): Promise<number> {
  const { values, positionals } = parseFlags(args, { search: { type: 'string' }, address: { type: 'string' }, token: { type: 'string' } }, true);
  const [action, ...rest] = positionals;
  const takes = { list: 0, put: 3, delete: 1 } as const;
  if (action !== 'list' && action !== 'put' && action !== 'delete') throw new UsageError('cleaver rate-limits takes list, put or delete');
  if (rest.length !== takes[action]) {
    throw new UsageError(action === 'list' ? 'cleaver rate-limits list takes no arguments; narrow it with --search S' : action === 'put' ? 'cleaver rate-limits put takes <key> <limit> <duration>, e.g. put openai 100 minute' : 'cleaver rate-limits delete takes one key');
  }
  if (action !== 'list' && values.search !== undefined) throw new UsageError('--search is for cleaver rate-limits list');
  let definition: { key: string; limit: number; duration: RateLimitDuration } | undefined;
  if (action === 'put') {
    const [key, limit, duration] = rest as [string, string, string];
    definition = { key, limit: /^\d+$/.test(limit) ? Number(limit) : NaN, duration: duration as RateLimitDuration };
    const problem = rateLimitProblem(definition);
    if (problem) throw new UsageError(`the rate limit's ${problem}`);
  }
  const client = clientFrom(values);
  try {
    const out = (line: string) => process.stdout.write(`${line}\n`);
    if (definition) {
      out(describeRateLimit(await client.rateLimits.upsert(definition)));
    } else if (action === 'delete') {
      if (!(await client.rateLimits.delete(rest[0]!)).deleted) throw new CleaverError('NOT_FOUND', `no rate-limit key ${JSON.stringify(rest[0])}; \`cleaver rate-limits list\` shows them`);
      out(`deleted rate-limit key ${rest[0]}`);
    } else {
      const { rateLimits: list } = await client.rateLimits.list(values.search === undefined ? {} : { search: values.search });
      if (list.length === 0) out(values.search === undefined ? 'no rate-limit keys' : `no rate-limit key contains ${JSON.stringify(values.search)}`);
      for (const r of list) out(describeRateLimit(r));
    }
    return 0;
  } finally {
    await client.close();
  }
}

/** `openai: 12/100 per minute (static), a unit frees at 2026-…` */
function describeRateLimit(r: RateLimitRecord): string {
  return `${r.key}: ${r.used}/${r.limit} per ${r.duration} (${r.kind})${r.refillsAt ? `, a unit frees at ${r.refillsAt}` : ''}`;
}

/**
 * --input and --payload: a JSON object, `{}` when left out. A task reads named fields of its input, so
 * a string or an array would reach it only to be read as undefined.
 */
function jsonObjectFlag(text: string | undefined, flag: string): { [key: string]: Json } {
  if (text === undefined) return {};
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e: unknown) {
    throw new UsageError(`${flag} is not valid JSON (${toError(e).message}); quote it for your shell, e.g. ${flag} '{"name":"x"}'`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    const got = value === null ? 'null' : Array.isArray(value) ? 'an array' : `a ${typeof value}`;
    throw new UsageError(`${flag} must be a JSON object, e.g. ${flag} '{"name":"x"}'; got ${got}`);
  }
  return value as { [key: string]: Json };
}

/** --metadata: a JSON object of strings, or nothing. */
function metadataFlag(text: string | undefined): Record<string, string> | undefined {
  if (text === undefined) return undefined;
  const value = jsonObjectFlag(text, '--metadata');
  return usage(() => validateMetadata(value, '--metadata'));
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: unknown) => {
    if (e instanceof UsageError) {
      const command = process.argv[2];
      const lines = isCommand(command) ? COMMAND_USAGE[command] : [];
      process.stderr.write(`cleaver: ${e.message}\n${lines.map((l, i) => `${i === 0 ? 'usage: ' : '       '}${l}\n`).join('')}Run \`cleaver help\` for every command.\n`);
      process.exit(2);
    }
    if (e instanceof TaskRunError) {
      process.stderr.write(`cleaver: run ${e.runId} failed${e.failureReason ? ` (${e.failureReason})` : ''}: ${e.message}\n`);
      process.exit(1);
    }
    const error = toError(e);
    process.stderr.write(`cleaver: ${error instanceof CleaverError ? `${error.message} [${error.code}]` : (error.stack ?? error.message)}\n`);
    process.exit(1);
  },
);
