/**
 * Checks that a decoded frame is a well-formed client message before anything acts on it. Returns the
 * typed message or a CleaverError that says which field was wrong.
 */
import type { ClientMessage } from '../../shared/protocol.ts';
import { CleaverError } from '../../shared/errors.ts';
import { STREAM_CHUNK_KINDS, streamCursorProblem } from '../../shared/stream.ts';
import { customMetricProblem } from '../../shared/metrics.ts';
import { logLevelProblem } from '../../shared/task-log.ts';

type Check = (m: Record<string, unknown>) => string | null;

const isStr = (v: unknown) => typeof v === 'string' && v.length > 0;
const isInt = (v: unknown) => typeof v === 'number' && Number.isInteger(v);
const isNum = (v: unknown) => typeof v === 'number' && Number.isFinite(v);
const isId = (v: unknown) => isInt(v) && (v as number) >= 0;
const isUuid = (v: unknown) => typeof v === 'string' && /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(v);

function need(condition: boolean, problem: string): string | null {
  return condition ? null : problem;
}

function first(...problems: Array<string | null>): string | null {
  return problems.find((p) => p !== null) ?? null;
}

/** The attempt a worker's message is about. */
function attemptProblem(m: Record<string, unknown>, what: string): string | null {
  return first(need(isUuid(m.taskRunId), `${what}.taskRunId must be a UUID`), need(isInt(m.attempt), `${what}.attempt must be an integer`));
}

const checks: Record<ClientMessage['t'], Check> = {
  hello: (m) =>
    first(
      need(isInt(m.protocol), 'hello.protocol must be an integer'),
      need(m.role === 'client' || m.role === 'worker', 'hello.role must be "client" or "worker"'),
      need(m.token === undefined || typeof m.token === 'string', 'hello.token must be a string'),
    ),
  trigger: (m) =>
    first(
      need(isId(m.id), 'trigger.id must be a non-negative integer'),
      need(isStr(m.workflow), 'trigger.workflow must be a workflow or task name'),
      need(Array.isArray(m.items) && m.items.length > 0, 'trigger.items must be a non-empty array'),
      need(m.wait === undefined || typeof m.wait === 'boolean', 'trigger.wait must be a boolean'),
      need(
        m.parent === undefined ||
          (typeof m.parent === 'object' && m.parent !== null && isUuid((m.parent as Record<string, unknown>).taskRunId) && isInt((m.parent as Record<string, unknown>).attempt)),
        'trigger.parent must be { taskRunId: UUID, attempt: integer }',
      ),
      need(
        m.declared === undefined ||
          (typeof m.declared === 'object' && m.declared !== null && ['task', 'workflow'].includes((m.declared as Record<string, unknown>).kind as string)),
        'trigger.declared must be { kind: "task", task } or { kind: "workflow", workflow }',
      ),
    ),
  admin: (m) =>
    first(
      need(isId(m.id), 'admin.id must be a non-negative integer'),
      need(isStr(m.method), 'admin.method must be the name of an admin method'),
      need(m.params === undefined || (typeof m.params === 'object' && m.params !== null && !Array.isArray(m.params)), 'admin.params must be an object'),
    ),
  await: (m) => first(need(isId(m.id), 'await.id must be a non-negative integer'), need(isUuid(m.runId), 'await.runId must be a run id (UUID)')),
  status: (m) => need(isId(m.id), 'status.id must be a non-negative integer'),
  heartbeat: () => null,
  started: (m) =>
    first(
      attemptProblem(m, 'started'),
      need(isNum(m.at), 'started.at must be a timestamp in ms'),
    ),
  result: (m) =>
    first(
      attemptProblem(m, 'result'),
      need(typeof m.ok === 'boolean', 'result.ok must be a boolean'),
      need(m.ok === true || (typeof m.error === 'object' && m.error !== null && typeof (m.error as { message?: unknown }).message === 'string'),
        'a failed result needs error.message'),
      need(m.reason === undefined || m.reason === 'EXECUTION_TIMEOUT' || m.reason === 'CANCELLED', 'result.reason must be EXECUTION_TIMEOUT or CANCELLED'),
      need(isNum(m.startedAt) && isNum(m.finishedAt), 'result.startedAt and result.finishedAt must be timestamps in ms'),
    ),
  log: (m) =>
    first(
      attemptProblem(m, 'log'),
      logLevelProblem(m.level, 'log.level'),
      need(typeof m.message === 'string', 'log.message must be a string'),
      // What the fields hold is checked where they are stored (the protocol handler).
      need(m.fields === undefined || (typeof m.fields === 'object' && m.fields !== null && !Array.isArray(m.fields)), 'log.fields must be an object'),
      need(isNum(m.at), 'log.at must be a timestamp in ms'),
    ),
  metric: (m) => {
    const problem = customMetricProblem(m.name, m.value);
    return first(attemptProblem(m, 'metric'), need(isStr(m.action), 'metric.action must be the action of the attempt'), problem && `metric: ${problem}`);
  },
  refresh_timeout: (m) =>
    first(
      need(isId(m.id), 'refresh_timeout.id must be a non-negative integer'),
      attemptProblem(m, 'refresh_timeout'),
      need(isInt(m.ms) && (m.ms as number) > 0 && (m.ms as number) <= 2_147_483_647, 'refresh_timeout.ms must be a positive integer'),
    ),
  drain: (m) => need(isId(m.id), 'drain.id must be a non-negative integer'),
  // The chunk's data and size are checked where the engine's limit is known (the stream writer).
  stream: (m) =>
    first(
      attemptProblem(m, 'stream'),
      need(isId(m.seq) && (m.seq as number) > 0 && (m.seq as number) <= 2_147_483_647, 'stream.seq must be a positive integer (1, 2, … within the attempt)'),
      need(STREAM_CHUNK_KINDS.includes(m.kind as never), 'stream.kind must be text, json or bytes'),
      need(isNum(m.at), 'stream.at must be a timestamp in ms'),
    ),
  stream_subscribe: (m) =>
    first(
      need(isId(m.id), 'stream_subscribe.id must be a non-negative integer'),
      need(isId(m.subscription), 'stream_subscribe.subscription must be a non-negative integer'),
      need(isUuid(m.runId), 'stream_subscribe.runId must be a run id (UUID)'),
      streamCursorProblem(m.after, 'stream_subscribe.after'),
    ),
  stream_unsubscribe: (m) => need(isId(m.subscription), 'stream_unsubscribe.subscription must be a non-negative integer'),
};

export function validateClientMessage(raw: unknown): { message: ClientMessage } | { error: CleaverError; requestId?: number } {
  const m = raw as Record<string, unknown>;
  const requestId = isId(m.id) ? (m.id as number) : undefined;
  if (typeof m.t !== 'string' || !Object.hasOwn(checks, m.t)) {
    return {
      error: new CleaverError('UNKNOWN_MESSAGE', `unknown message type ${JSON.stringify(m.t ?? null)}; this engine speaks protocol ${'v1'}`),
      requestId,
    };
  }
  const problem = checks[m.t as ClientMessage['t']](m);
  if (problem) return { error: new CleaverError('BAD_REQUEST', problem), requestId };
  return { message: raw as ClientMessage };
}
