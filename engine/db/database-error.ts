/**
 * Maps whatever a driver throws into CleaverError('DATABASE'), identically for PGlite and pg, so code
 * above the driver never needs to know which one it ran on. The original error stays as `cause`.
 */

import { CleaverError, toError } from '../../shared/errors.ts';

/** A server-reported Postgres error as both node-postgres and PGlite shape it. */
interface PostgresErrorFields {
  message: string;
  code: string;
  severity: string;
}

const SQLSTATE = /^[0-9A-Z]{5}$/;

/**
 * Only errors the server reported carry a `severity`; checking it keeps five-letter errno codes
 * such as EPIPE from passing for a SQLSTATE.
 */
function asPostgresError(value: unknown): PostgresErrorFields | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const { code, severity, message } = value as Partial<Record<'code' | 'severity' | 'message', unknown>>;
  if (typeof code !== 'string' || !SQLSTATE.test(code)) return undefined;
  if (typeof severity !== 'string') return undefined;
  return { code, severity, message: typeof message === 'string' ? message : '' };
}

/**
 * Normalizes a driver error: `"<postgres message> (SQLSTATE xxxxx)"` for errors the server reported,
 * the plain message for client-side ones (connection refused, connection terminated, PGlite closed).
 * A CleaverError passes through unchanged, so mapping twice is harmless.
 */
export function toDatabaseError(thrown: unknown): CleaverError {
  if (thrown instanceof CleaverError) return thrown;
  const postgres = asPostgresError(thrown);
  if (postgres) return new CleaverError('DATABASE', `${postgres.message} (SQLSTATE ${postgres.code})`, { cause: thrown });
  const error = toError(thrown);
  const errno = (error as { code?: unknown }).code;
  const suffix = typeof errno === 'string' && !error.message.includes(errno) ? ` (${errno})` : '';
  return new CleaverError('DATABASE', `${error.message || error.name}${suffix}`, { cause: thrown });
}

/**
 * True when a connection that raised this error must not be reused: a client-side failure (socket
 * closed, connection terminated) or a server error of class 08 (connection exception) or 57P
 * (terminated by an administrator or a server shutdown). Plain SQL errors leave the connection fine.
 */
export function breaksConnection(error: unknown): boolean {
  let current: unknown = error;
  for (let depth = 0; depth < 5 && current !== undefined && current !== null; depth++) {
    const postgres = asPostgresError(current);
    if (postgres) return postgres.code.startsWith('08') || postgres.code.startsWith('57P');
    current = current instanceof Error ? current.cause : undefined;
  }
  return true;
}

/**
 * PGlite reports COMMIT of a failed transaction as this error; node-postgres reports it as a COMMIT
 * whose command tag reads ROLLBACK. Both drivers raise this same error for it.
 */
export function transactionAbortedError(): CleaverError {
  return new CleaverError('DATABASE', 'Transaction was rolled back instead of committed (SQLSTATE 25P02)', {
    cause: { code: '25P02', severity: 'ERROR', message: 'Transaction was rolled back instead of committed' },
  });
}

/**
 * The connection could not be opened (refused, server starting up or shutting down, connect timeout),
 * so no statement reached the server: a caller retrying knows the first try did nothing.
 */
export class DatabaseUnreachableError extends CleaverError {
  constructor(thrown: unknown) {
    super('DATABASE', toDatabaseError(thrown).message, { cause: thrown });
  }
}

/**
 * Server states worth retrying as they are: the connection ended under us (class 08, shutdown or
 * crash 57P01/57P02, recovery 57P03, idle-session timeout 57P05), too many connections (53300), or the
 * transaction lost a race it will win on a second try (serialization failure 40001, deadlock 40P01).
 */
const TRANSIENT_STATES = new Set(['40001', '40P01', '53300', '57P01', '57P02', '57P03', '57P05']);
/** Socket errors of a server that is restarting or briefly unreachable. */
const TRANSIENT_ERRNOS = new Set(['ECONNREFUSED', 'ECONNRESET', 'ECONNABORTED', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENETDOWN', 'EAI_AGAIN']);
/** node-postgres's own messages when a connection dies or cannot be opened in time. */
const TRANSIENT_MESSAGE = /connection terminated|timeout exceeded when trying to connect|encountered a connection error and is not queryable/i;

/**
 * True when the same statement may well succeed if run again in a moment: the error is about reaching
 * the server, not about the statement. A caller retrying a write must make it idempotent, because a
 * connection that died mid-statement (unlike a DatabaseUnreachableError) may have committed it.
 */
export function isTransientDatabaseError(error: unknown): boolean {
  let current: unknown = error;
  for (let depth = 0; depth < 5 && typeof current === 'object' && current !== null; depth++) {
    const postgres = asPostgresError(current);
    if (postgres) return postgres.code.startsWith('08') || TRANSIENT_STATES.has(postgres.code);
    const errno = (current as { code?: unknown }).code;
    if (typeof errno === 'string' && TRANSIENT_ERRNOS.has(errno)) return true;
    if (!(current instanceof CleaverError) && current instanceof Error && TRANSIENT_MESSAGE.test(current.message)) return true;
    current = (current as { cause?: unknown }).cause;
  }
  return false;
}

/** The error's message without the "(SQLSTATE xxxxx)" suffix, for text meant for a user. */
export function databaseErrorReason(error: unknown): string {
  return toError(error).message.replace(/\s*\(SQLSTATE [0-9A-Z]{5}\)$/, '');
}
