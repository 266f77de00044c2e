/**
 * Frames for fuzzing the engine's socket (shared/frame-codec.ts: a 4-byte big-endian length, then that
 * many bytes of UTF-8 JSON): random bytes, random JSON, and valid protocol messages mutated — fields
 * dropped or retyped, prototype keys, deep nesting, flipped bytes, lengths that lie. Deterministic for
 * a seed. None of them names a task that exists (fuzz workers offer 'fuzz-only', which nothing
 * triggers) or an admin method that changes runs, so the fuzzer cannot take, create or cancel the work
 * of the scenario's normal client: whatever happens to that work is the engine's doing.
 */
import { randomUUID } from 'node:crypto';
import { encodeFrame } from '../../shared/frame-codec.ts';
import { PROTOCOL_VERSION } from '../../shared/protocol.ts';

export type FuzzSession = 'none' | 'client' | 'worker';

type Random = () => number;

const pick = <T>(random: Random, items: readonly T[]): T => items[Math.floor(random() * items.length)]!;

function randomBytes(random: Random, n: number): Buffer {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = Math.floor(random() * 256);
  return b;
}

function deep(depth: number, leaf: unknown): unknown {
  let v = leaf;
  for (let i = 0; i < depth; i++) v = [v];
  return v;
}

/** Values that have broken parsers and validators before. */
function oddValue(random: Random): unknown {
  return pick(random, [
    () => null,
    () => -1,
    () => 0,
    () => 2 ** 53 + 1,
    () => 1e308,
    () => -0.5,
    () => '',
    () => 'x'.repeat(1 + Math.floor(random() * 20_000)),
    () => 'nul\u0000in the middle',
    () => '\ud800 lone surrogate',
    () => "'; DROP TABLE run; --",
    () => '../../etc/passwd',
    () => [],
    () => {},
    () => ({ __proto__: { polluted: true } }),
    () => deep(1 + Math.floor(random() * 2_000), 1),
    () => true,
    () => randomUUID(),
    () => Array.from({ length: 50 }, () => randomUUID()),
  ])();
}

const FUZZ_TASK = { name: 'fuzz-only', retries: 0, backoff: null, executionTimeoutMs: 1000, scheduleTimeoutMs: 1000, defaultPriority: 1 };

function helloMessage(role: 'client' | 'worker'): Record<string, unknown> {
  if (role === 'client') return { t: 'hello', protocol: PROTOCOL_VERSION, role };
  return { t: 'hello', protocol: PROTOCOL_VERSION, role, workerId: randomUUID(), name: 'fuzz-worker', slots: 1, tasks: [FUZZ_TASK] };
}

function templates(random: Random, session: FuzzSession): Array<Record<string, unknown>> {
  const id = Math.floor(random() * 1e6);
  const taskRunId = randomUUID();
  const hellos = [helloMessage('client'), { ...helloMessage('worker'), inflight: [{ taskRunId, attempt: 1 }] }];
  if (session === 'none') return hellos;
  const common = [
    { t: 'status', id },
    { t: 'await', id, runId: randomUUID() },
    { t: 'trigger', id, workflow: 'fuzz-missing', items: [{ input: {} }] },
    { t: 'trigger', id, workflow: 'fuzz-missing', items: [{ input: { a: 1 }, metadata: { k: 'v' }, priority: 2 }], wait: true },
    { t: 'admin', id, method: pick(random, ['runsList', 'workflowsList', 'engineInfo', 'eventsList', 'workersList']), params: { limit: 5 } },
    { t: 'admin', id, method: 'runGet', params: { runId: randomUUID() } },
    { t: 'admin', id, method: 'taskLogs', params: { taskRunId } },
    { t: 'admin', id, method: 'eventsPush', params: { events: [{ key: 'fuzz:nothing', payload: {} }] } },
    { t: 'admin', id, method: 'runStreamRead', params: { runId: randomUUID(), after: { [taskRunId]: [1, 2] } } },
    { t: 'stream_subscribe', id, subscription: id, runId: randomUUID(), after: { [taskRunId]: [1, 2] } },
    { t: 'stream_unsubscribe', subscription: id },
    { t: 'heartbeat' },
    ...hellos,
  ];
  if (session === 'client') return common;
  return [
    ...common,
    { t: 'started', taskRunId, attempt: 1, at: Date.now() },
    { t: 'result', taskRunId, attempt: 1, ok: true, output: { x: 1 }, startedAt: 1, finishedAt: 2 },
    { t: 'result', taskRunId, attempt: 1, ok: false, error: { message: 'm', name: 'E' }, startedAt: 1, finishedAt: 2 },
    { t: 'log', taskRunId, attempt: 1, level: 'info', message: 'fuzz', at: Date.now() },
    { t: 'stream', taskRunId, attempt: 1, seq: 1, kind: 'text', data: 'fuzz', at: Date.now() },
    { t: 'stream', taskRunId, attempt: 1, seq: 2, kind: 'bytes', data: 'AAEC', at: Date.now() },
    { t: 'stream', taskRunId, attempt: 1, seq: 3, kind: 'json', data: { deep: [1, { x: null }] }, at: Date.now() },
    { t: 'refresh_timeout', id, taskRunId, attempt: 1, ms: 1000 },
    { t: 'drain', id },
  ];
}

function mutate(random: Random, message: Record<string, unknown>): unknown {
  const m: Record<string, unknown> = structuredClone(message);
  const keys = Object.keys(m);
  switch (Math.floor(random() * 7)) {
    case 0:
      delete m[pick(random, keys)];
      return m;
    case 1:
      m[pick(random, keys)] = oddValue(random);
      return m;
    case 2:
      m[pick(random, ['__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty'])] = oddValue(random);
      return m;
    case 3:
      m.t = pick(random, ['', 'HELLO', 'reply', 'welcome', 'assign', 'ack', 'cancel', 'error', 'x'.repeat(300), 7]);
      return m;
    case 4:
      return pick(random, [[m], 'hello', 42, null, true]);
    case 5: {
      const nested = pick(random, keys.filter((k) => typeof m[k] === 'object' && m[k] !== null)) as string | undefined;
      if (nested) (m[nested] as Record<string, unknown>)[pick(random, ['0', 'input', 'params', 'taskRunId', 'attempt'])] = oddValue(random);
      return m;
    }
    default:
      return m;
  }
}

/** Hand-written JSON a serializer would not produce. */
const RAW_BODIES = [
  '{"t":"hello","protocol":1,"role":"client","__proto__":{"polluted":true}}',
  '{"t":"hello","protocol":1,"role":"client","constructor":{"prototype":{"polluted":true}}}',
  '{"t":"hello","t":"status","protocol":1,"role":"client"}',
  '{"t":"status","id":1e999}',
  '{"t":"status","id":-0}',
  '{"t":"trigger","id":1,"workflow":"fuzz-missing","items":[{"input":{"a":"\\u0000"}}]}',
  '{}',
  '[]',
  'null',
  '"hello"',
  '{"t":',
  '\u0000\u0000\u0000',
  '{"t":"status","id":1}garbage',
];

/**
 * One write's worth of fuzz for a connection in the given state: `frames` frames, as bytes. Some
 * writes lie about their length or carry no framing at all, which desynchronizes the stream (the
 * engine must then close the connection, not hang or grow).
 */
export function fuzzWrite(random: Random, session: FuzzSession, frames: number): Buffer {
  const parts: Buffer[] = [];
  for (let i = 0; i < frames; i++) {
    const r = random();
    if (r < 0.5) {
      parts.push(encodeFrame(mutate(random, pick(random, templates(random, session)))));
    } else if (r < 0.65) {
      parts.push(frame(Buffer.from(pick(random, RAW_BODIES), 'utf8')));
    } else if (r < 0.8) {
      parts.push(frame(randomBytes(random, Math.floor(random() * 512))));
    } else if (r < 0.88) {
      // A real message with some of its bytes flipped.
      const f = encodeFrame(pick(random, templates(random, session)));
      for (let k = 0; k < 1 + Math.floor(random() * 4); k++) {
        const at = 4 + Math.floor(random() * (f.length - 4));
        f[at] = f[at]! ^ (1 << Math.floor(random() * 8));
      }
      parts.push(f);
    } else if (r < 0.94) {
      // A length that lies: shorter or longer than the body that follows.
      const f = encodeFrame(pick(random, templates(random, session)));
      f.writeUInt32BE(Math.max(0, f.length - 4 + Math.floor(random() * 200) - 100), 0);
      parts.push(f);
    } else {
      // No framing at all.
      parts.push(randomBytes(random, 1 + Math.floor(random() * 64)));
    }
  }
  return Buffer.concat(parts);
}

function frame(body: Buffer): Buffer {
  const header = Buffer.allocUnsafe(4);
  header.writeUInt32BE(body.length, 0);
  return Buffer.concat([header, body]);
}

/** A valid hello opening a session of this kind (null for none). */
export function helloFor(session: FuzzSession): Buffer | null {
  return session === 'none' ? null : encodeFrame(helloMessage(session));
}
