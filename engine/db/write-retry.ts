/** Retrying a write while the failure is not about its data (connection lost, database restarting). */
import { toError } from '../../shared/errors.ts';
import type { Logger } from '../log.ts';
import { isDataError } from './sql-state.ts';

export async function writeWithRetry<T>(what: string, write: () => Promise<T>, options: { log: Logger; stopped: () => boolean }): Promise<T> {
  let delay = 50;
  for (;;) {
    try {
      return await write();
    } catch (e: unknown) {
      if (isDataError(e) || options.stopped()) throw e;
      options.log.warn(`writing ${what} failed; retrying`, { error: toError(e).message, retryInMs: delay });
      await new Promise((resolve) => setTimeout(resolve, delay));
      delay = Math.min(delay * 2, 5_000);
    }
  }
}
