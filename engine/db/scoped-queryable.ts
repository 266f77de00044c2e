/**
 * The Queryable handed to a transaction or advisory-lock callback. It refuses use once the callback
 * has returned: a query that outlives its scope (a missing await) would otherwise run outside the
 * transaction on pg, or inside someone else's on PGlite's single connection.
 */

import { CleaverError } from '../../shared/errors.ts';
import type { Queryable, QueryResult, Sql } from './driver.ts';

export type ScopeKind = 'transaction' | 'advisory lock';

export interface Scope {
  readonly queryable: Queryable;
  end(): void;
}

export function scopedQueryable(
  run: <Row>(sql: Sql, params: readonly unknown[] | undefined) => Promise<QueryResult<Row>>,
  kind: ScopeKind,
): Scope {
  let ended = false;
  return {
    queryable: {
      query<Row = Record<string, unknown>>(sql: Sql, params?: readonly unknown[]): Promise<QueryResult<Row>> {
        if (ended) {
          return Promise.reject(
            new CleaverError('INTERNAL', `this ${kind} has already ended; a query ran on it after its callback returned (a missing await?)`),
          );
        }
        return run<Row>(sql, params);
      },
    },
    end() {
      ended = true;
    },
  };
}
