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
