/** A declared task: its policy, its function, and the ways to trigger it. */
import type { Context } from './context.ts';
import { TASK_NAME_PATTERN, TASK_NAME_RULE, type QueueOrdering, type TaskDefinition } from '../shared/types.ts';
import type { ConcurrencyDefinition, ConcurrencyLimitStrategy, TaskRateLimit } from '../shared/flow-control.ts';
import { taskDefinitionProblem } from '../shared/task-definition.ts';
import type { DeclaredDefinition, RunOutcome, TriggerItem } from '../shared/protocol.ts';
import { parseDuration, type Duration } from '../shared/duration.ts';
import { CleaverError, TaskRunError } from '../shared/errors.ts';
import { validateJson, validateMetadata } from '../shared/payload.ts';
import type { RunStream, RunStreamOptions } from './run-stream.ts';

export interface TaskOptions<I, O> {
  name: string;
  fn: (input: I, ctx: Context) => O | Promise<O>;
  /** How many times a failed attempt is retried (default 0). */
  retries?: number;
  /** Exponential backoff between retries: retry n waits min(maxSeconds, factor ** n) seconds. */
  backoff?: { factor: number; maxSeconds: number };
  /** How long one attempt may run (default '60s'). */
  executionTimeout?: Duration;
  /** How long a task run may wait in the queue before it fails with SCHEDULE_TIMEOUT (default '5m'). */
  scheduleTimeout?: Duration;
  /** 1 (default) to 3; higher is claimed first. */
  defaultPriority?: 1 | 2 | 3;
  /**
   * Concurrency keys (all must admit a run): `{ expression: 'input.userId', maxRuns: 2 }` lets at most
   * two runs of one user run at once. `limitStrategy` is GROUP_ROUND_ROBIN (the default: wait, keys served
   * in turn), CANCEL_IN_PROGRESS (the newest wins) or CANCEL_NEWEST (the new run is cancelled).
   */
  concurrency?: ConcurrencyOptions | ConcurrencyOptions[];
  /** Rate limits: `[{ staticKey: 'openai', units: 1 }]` or `{ dynamicKey: 'input.team', units: 1, limit: 10, duration: 'minute' }`. */
  rateLimits?: TaskRateLimit[];
  /** Within a priority: oldest first ('fifo', the default) or newest first ('lifo'). */
  ordering?: QueueOrdering;
}

export interface ConcurrencyOptions {
  /** CEL over `input` and `metadata` (and `parents` in a workflow's task) that yields a string. */
  expression: string;
  /** Runs of one key at once (default 1). */
  maxRuns?: number;
  /** Default GROUP_ROUND_ROBIN. */
  limitStrategy?: ConcurrencyLimitStrategy;
}

/** The declared concurrency options as a definition stores them (absent when none). */
export function concurrencyOf(options: ConcurrencyOptions | ConcurrencyOptions[] | undefined): ConcurrencyDefinition[] | undefined {
  if (options === undefined) return undefined;
  const list = Array.isArray(options) ? options : [options];
  if (list.length === 0) return undefined;
  return list.map((c) => ({ expression: c?.expression, maxRuns: c?.maxRuns ?? 1, limitStrategy: c?.limitStrategy ?? 'GROUP_ROUND_ROBIN' }));
}

export interface RunOptions {
  metadata?: Record<string, string>;
  priority?: 1 | 2 | 3;
}

export interface RunRef<O> {
  readonly runId: string;
  /** Resolves with the output when the run succeeds; rejects with TaskRunError when it fails. */
  result(): Promise<O>;
  /** Follows the run's stream (what its tasks put with ctx.putStream): kept chunks, then live ones, ending with the run. */
  stream(options?: RunStreamOptions): RunStream;
}

/** What a task needs from the client that declared it. */
export interface TaskClient {
  /** `declared`: the caller's own declaration, registered if no worker has registered the name yet. */
  trigger(workflow: string, items: TriggerItem[], wait: boolean, declared?: DeclaredDefinition): Promise<{ runIds: string[]; outcomes?: RunOutcome[] }>;
  awaitRun(runId: string): Promise<RunOutcome>;
  streamRun(runId: string, options?: RunStreamOptions): RunStream;
}

/**
 * Triggers runs of a task or workflow by name: what a declaration offers, and what `cleaver.ref(name)`
 * gives a producer in another process that does not have the code.
 */
export class TaskRef<I = unknown, O = unknown> {
  readonly name: string;
  protected readonly client: TaskClient;

  constructor(client: TaskClient, name: string, what: 'task' | 'workflow' = 'task') {
    if (typeof name !== 'string' || !TASK_NAME_PATTERN.test(name)) {
      throw new CleaverError('BAD_REQUEST', `${what} name ${JSON.stringify(name)} must be ${TASK_NAME_RULE}`);
    }
    this.client = client;
    this.name = name;
  }

  /** Triggers one run and waits for its output. */
  async run(input: I, options: RunOptions = {}): Promise<O> {
    const { runIds, outcomes } = await this.trigger([item(input, options)], true);
    return unwrap<O>(outcomes?.[0] ?? (await this.client.awaitRun(runIds[0]!)));
  }

  /** Triggers one run; returns at once with a reference to await later. */
  async runNoWait(input: I, options: RunOptions = {}): Promise<RunRef<O>> {
    const { runIds } = await this.trigger([item(input, options)], false);
    return runRef<O>(runIds[0]!, this.client);
  }

  /** Triggers one run per input in one bulk insert and waits for all outputs (in input order). */
  async runMany(inputs: I[], options: RunOptions = {}): Promise<O[]> {
    const { outcomes } = await this.trigger(items(inputs, options), true);
    return outcomes!.map((o) => unwrap<O>(o));
  }

  /** Triggers one run per input in one bulk insert; returns their references. */
  async runManyNoWait(inputs: I[], options: RunOptions = {}): Promise<Array<RunRef<O>>> {
    const { runIds } = await this.trigger(items(inputs, options), false);
    return runIds.map((id) => runRef<O>(id, this.client));
  }

  /** What this process declared of the task (none for a ref by name): sent until a trigger succeeds. */
  protected declared(): DeclaredDefinition | undefined {
    return undefined;
  }

  private acceptedOnce = false;

  private async trigger(triggerItems: TriggerItem[], wait: boolean): Promise<{ runIds: string[]; outcomes?: RunOutcome[] }> {
    // Once the engine took a trigger the name is registered: later ones need not carry the declaration.
    const declared = this.acceptedOnce ? undefined : this.declared();
    const reply = await this.client.trigger(this.name, triggerItems, wait, declared);
    this.acceptedOnce = true;
    return reply;
  }
}

/** A reference to a run whose result() awaits it once (later calls share the same promise). */
export function runRef<O>(runId: string, client: Pick<TaskClient, 'awaitRun' | 'streamRun'>): RunRef<O> {
  let result: Promise<O> | null = null;
  return { runId, result: () => (result ??= client.awaitRun(runId).then((o) => unwrap<O>(o))), stream: (options) => client.streamRun(runId, options) };
}

/** A declared task: its policy and its function, plus the ways to trigger it. */
export class TaskDeclaration<I = unknown, O = unknown> extends TaskRef<I, O> {
  readonly definition: TaskDefinition;
  readonly fn: (input: I, ctx: Context) => O | Promise<O>;

  constructor(client: TaskClient, options: TaskOptions<I, O>) {
    super(client, options?.name);
    this.fn = taskFunction(options);
    this.definition = taskDefinitionOf(options);
  }

  protected override declared(): DeclaredDefinition {
    return { kind: 'task', task: this.definition };
  }
}

/** The policy part of task options as the engine stores it; throws on anything invalid. */
export function taskDefinitionOf(options: Omit<TaskOptions<never, unknown>, 'fn'>, where = `task ${options?.name}`): TaskDefinition {
  const backoff = options.backoff ?? null;
  const definition: TaskDefinition = {
    name: options.name,
    retries: options.retries ?? 0,
    backoff: backoff ? { factor: backoff.factor, maxSeconds: backoff.maxSeconds } : null,
    executionTimeoutMs: parseDuration(options.executionTimeout ?? '60s', `${where}: executionTimeout`),
    scheduleTimeoutMs: parseDuration(options.scheduleTimeout ?? '5m', `${where}: scheduleTimeout`),
    defaultPriority: options.defaultPriority ?? 1,
  };
  // Only what is declared, so a definition without flow rules keeps the checksum it always had.
  const concurrency = concurrencyOf(options.concurrency);
  if (concurrency) definition.concurrency = concurrency;
  if (options.rateLimits !== undefined && (!Array.isArray(options.rateLimits) || options.rateLimits.length > 0)) definition.rateLimits = options.rateLimits;
  if (options.ordering !== undefined && options.ordering !== 'fifo') definition.ordering = options.ordering;
  const invalid = taskDefinitionProblem(definition);
  if (invalid) throw new CleaverError('BAD_REQUEST', invalid);
  return definition;
}

export function taskFunction<F>(options: { name: string; fn: F }): F {
  if (typeof options.fn !== 'function') throw new CleaverError('BAD_REQUEST', `task ${options.name}: fn must be a function`);
  return options.fn;
}

export function items(inputs: unknown[], options: RunOptions): TriggerItem[] {
  if (!Array.isArray(inputs) || inputs.length === 0) throw new CleaverError('BAD_PAYLOAD', 'runMany needs a non-empty array of inputs');
  return inputs.map((input, i) => item(input, options, `inputs[${i}]`));
}

export function item(input: unknown, options: RunOptions, where = 'input'): TriggerItem {
  return {
    input: validateJson(input === undefined ? {} : input, where),
    metadata: options.metadata ? validateMetadata(options.metadata, 'metadata') : undefined,
    priority: options.priority,
  };
}

export function unwrap<O>(outcome: RunOutcome): O {
  if (outcome.status === 'succeeded') return outcome.output as O;
  throw new TaskRunError({
    runId: outcome.runId,
    message: outcome.error?.message ?? `run ${outcome.status}`,
    failureReason: outcome.failureReason,
    stack: outcome.error?.stack,
  });
}
