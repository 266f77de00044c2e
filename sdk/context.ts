/** What a task function receives besides its input. */
import type { Json, LogLevel } from '../shared/types.ts';
import type { RunOutcome, TaskFailure, TriggerItem } from '../shared/protocol.ts';
import { parseDuration, type Duration } from '../shared/duration.ts';
import { CleaverError } from '../shared/errors.ts';
import { customMetricProblem } from '../shared/metrics.ts';
import { LOG_LEVELS, logFieldsFrom, logLevelProblem, type LogFields } from '../shared/task-log.ts';
import { item, runRef, unwrap, type RunOptions, type RunRef, type TaskRef } from './task.ts';
import type { StreamChunk } from './stream-chunk.ts';
import type { RunStream, RunStreamOptions } from './run-stream.ts';

export interface ChildOptions extends RunOptions {
  /**
   * Identifies the child within this task run. A retry of the task that spawns a child with the same
   * key gets the run spawned before instead of a new one. Default: the order of the call ('#0', '#1', ...).
   */
  key?: string;
}

export interface ChildSpec<I = unknown> {
  task: TaskRef<I, any>;
  input: I;
  options?: ChildOptions;
}

export interface Context {
  readonly runId: string;
  readonly taskRunId: string;
  /** 1 for the first try, 2 for the first retry, ... */
  readonly attempt: number;
  /** Aborted when the attempt is cancelled or times out: pass it to fetch() and friends. */
  readonly signal: AbortSignal;
  /** Additional metadata given when the run was triggered (inherited by child runs). */
  readonly metadata: Readonly<Record<string, string>>;
  /** In an onFailure / onSuccess task: the tasks of the run that failed. Empty elsewhere. */
  readonly failures: readonly TaskFailure[];
  /**
   * The output of a parent task (a workflow task listed in `parents`; in a hook, any task that
   * succeeded). Throws if the task is not a parent of this one.
   */
  parentOutput<O>(task: { name: string; __output?: O } | string): O;
  /** Writes a line to the task run's log (kept with the run, up to the engine's cap: docs/logs.md). */
  log(message: string, level?: LogLevel): void;
  /**
   * Records a value of a custom metric (items processed, tokens used, a score): counted, summed, and
   * its minimum and maximum kept per workflow and name over time, charted on the workflow's page.
   * Throws BAD_PAYLOAD for a name that is not 1-100 letters, digits or _ . - / (starting with a letter)
   * or a value that is not a finite number.
   */
  metric(name: string, value: number): void;
  /**
   * Writes log lines with structured fields: `ctx.logger.info('charged', { orderId, amount })`. The
   * fields are stored as JSON beside the message (an Error among them as `{ name, message }`) and are
   * found by the Logs page's search. Throws BAD_PAYLOAD for fields that are not a JSON object.
   */
  readonly logger: TaskLogger;
  /**
   * Streams a chunk — text, bytes (a Uint8Array) or a JSON value — to whoever follows the run
   * (`ref.stream()`, `cleaver.runs.stream(runId)`, the console). Resolves at once while the engine keeps
   * up; waits when this worker has 1 MiB of chunks the engine has not acknowledged yet. Rejects
   * (BAD_PAYLOAD) for a chunk that is too large or not one of those.
   */
  putStream(chunk: StreamChunk): Promise<void>;
  /** Extends this attempt's execution timeout to `duration` from now. */
  refreshTimeout(duration: Duration): Promise<void>;
  /** Spawns a child run of a task or workflow, linked to this task run, and waits for its output. */
  runChild<I, O>(task: TaskRef<I, O>, input: I, options?: ChildOptions): Promise<O>;
  /** Spawns a child run and returns at once with a reference to await. */
  runChildNoWait<I, O>(task: TaskRef<I, O>, input: I, options?: ChildOptions): Promise<RunRef<O>>;
  /** Spawns many children (one bulk insert per task) and waits for all their outputs, in order. */
  runChildren<O = unknown>(children: Array<ChildSpec<any>>): Promise<O[]>;
}

export type TaskLogger = Readonly<Record<LogLevel, (message: string, fields?: Record<string, unknown>) => void>>;

export interface ContextHost {
  log(message: string, level: LogLevel, fields?: LogFields): void;
  metric(name: string, value: number): void;
  putStream(chunk: unknown): Promise<void>;
  refreshTimeout(ms: number): Promise<void>;
  /** Triggers runs as children of this attempt. */
  spawn(workflow: string, items: TriggerItem[], wait: boolean): Promise<{ runIds: string[]; outcomes?: RunOutcome[] }>;
  awaitRun(runId: string): Promise<RunOutcome>;
  streamRun(runId: string, options?: RunStreamOptions): RunStream;
}

function taskLogger(host: ContextHost): TaskLogger {
  const write = (level: LogLevel) => (message: string, fields?: Record<string, unknown>) => host.log(String(message), level, logFieldsFrom(fields, `ctx.logger.${level} fields`));
  return Object.freeze(Object.fromEntries(LOG_LEVELS.map((level) => [level, write(level)])) as Record<LogLevel, TaskLogger[LogLevel]>);
}

export function createContext(fields: {
  runId: string;
  taskRunId: string;
  attempt: number;
  /** Made on first use: most tasks never look at their signal, and a controller per task costs. */
  signal: () => AbortSignal;
  metadata: Record<string, string>;
  parents: Record<string, Json> | undefined;
  failures: TaskFailure[] | undefined;
  host: ContextHost;
}): Context {
  const { host } = fields;
  // Default child keys count the spawns of this attempt; a retry that spawns in the same order finds
  // the children of the earlier attempt.
  let spawned = 0;
  // Made on first use, like the signal: most tasks never log with fields.
  let logger: TaskLogger | undefined;
  const childItem = (input: unknown, options: ChildOptions = {}, where = 'input'): TriggerItem => {
    const key = options.key ?? `#${spawned}`;
    spawned++;
    return { ...item(input, options, where), key };
  };
  return Object.freeze({
    runId: fields.runId,
    taskRunId: fields.taskRunId,
    attempt: fields.attempt,
    get signal() {
      return fields.signal();
    },
    metadata: fields.metadata,
    failures: Object.freeze(fields.failures ?? []),
    parentOutput<O>(task: { name: string } | string): O {
      const name = typeof task === 'string' ? task : task?.name;
      const parents = fields.parents;
      if (!parents || !Object.hasOwn(parents, name)) {
        const known = parents ? Object.keys(parents) : [];
        throw new CleaverError('BAD_REQUEST', `${JSON.stringify(name)} is not a parent of this task${known.length > 0 ? `; its parents are ${known.join(', ')}` : ' (it has none)'}`);
      }
      return parents[name] as O;
    },
    metric: (name: string, value: number) => {
      const problem = customMetricProblem(name, value);
      if (problem) throw new CleaverError('BAD_PAYLOAD', `ctx.metric: ${problem}`);
      host.metric(name, value);
    },
    log: (message: string, level: LogLevel = 'info') => {
      const problem = logLevelProblem(level, 'ctx.log level');
      if (problem) throw new CleaverError('BAD_REQUEST', problem);
      host.log(String(message), level);
    },
    get logger() {
      return (logger ??= taskLogger(host));
    },
    putStream: (chunk: StreamChunk) => host.putStream(chunk),
    refreshTimeout: (duration: Duration) => host.refreshTimeout(parseDuration(duration, 'refreshTimeout')),
    async runChild<I, O>(task: TaskRef<I, O>, input: I, options?: ChildOptions): Promise<O> {
      const { runIds, outcomes } = await host.spawn(task.name, [childItem(input, options)], true);
      return unwrap<O>(outcomes?.[0] ?? (await host.awaitRun(runIds[0]!)));
    },
    async runChildNoWait<I, O>(task: TaskRef<I, O>, input: I, options?: ChildOptions): Promise<RunRef<O>> {
      const { runIds } = await host.spawn(task.name, [childItem(input, options)], false);
      return runRef<O>(runIds[0]!, host);
    },
    async runChildren<O>(children: Array<ChildSpec<any>>): Promise<O[]> {
      if (!Array.isArray(children) || children.length === 0) throw new CleaverError('BAD_PAYLOAD', 'runChildren needs a non-empty array of { task, input }');
      // One bulk trigger per task or workflow; keys follow the order of the array.
      const groups = new Map<string, Array<{ index: number; item: TriggerItem }>>();
      children.forEach((child, index) => {
        const triggerItem = childItem(child.input, child.options, `children[${index}].input`);
        const group = groups.get(child.task.name);
        if (group) group.push({ index, item: triggerItem });
        else groups.set(child.task.name, [{ index, item: triggerItem }]);
      });
      const results = new Array<O>(children.length);
      await Promise.all(
        [...groups].map(async ([workflow, group]) => {
          const { outcomes } = await host.spawn(workflow, group.map((g) => g.item), true);
          group.forEach((g, i) => {
            results[g.index] = unwrap<O>(outcomes![i]!);
          });
        }),
      );
      return results;
    },
  });
}
