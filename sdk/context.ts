/** What a task function receives besides its input. */
import type { LogLevel } from '../shared/types.ts';
import { parseDuration, type Duration } from '../shared/duration.ts';

export interface Context {
  readonly runId: string;
  readonly taskRunId: string;
  /** 1 for the first try, 2 for the first retry, ... */
  readonly attempt: number;
  /** Aborted when the attempt is cancelled or times out: pass it to fetch() and friends. */
  readonly signal: AbortSignal;
  /** Additional metadata given when the run was triggered. */
  readonly metadata: Readonly<Record<string, string>>;
  /** Writes a line to the task run's log (kept with the run). */
  log(message: string, level?: LogLevel): void;
  /** Extends this attempt's execution timeout to `duration` from now. */
  refreshTimeout(duration: Duration): Promise<void>;
}

export interface ContextHost {
  log(message: string, level: LogLevel): void;
  refreshTimeout(ms: number): Promise<void>;
}

export function createContext(fields: {
  runId: string;
  taskRunId: string;
  attempt: number;
  /** Made on first use: most tasks never look at their signal, and a controller per task costs. */
  signal: () => AbortSignal;
  metadata: Record<string, string>;
  host: ContextHost;
}): Context {
  const { host } = fields;
  return Object.freeze({
    runId: fields.runId,
    taskRunId: fields.taskRunId,
    attempt: fields.attempt,
    get signal() {
      return fields.signal();
    },
    metadata: fields.metadata,
    log: (message: string, level: LogLevel = 'info') => host.log(String(message), level),
    refreshTimeout: (duration: Duration) => host.refreshTimeout(parseDuration(duration, 'refreshTimeout')),
  });
}
