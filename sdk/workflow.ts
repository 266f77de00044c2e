/**
 * Workflows: tasks that depend on each other (a DAG), run together as one run. Each task receives the
 * run's input and, through ctx.parentOutput(), the outputs of its parents; the run's output is
 * `{ [taskName]: output }`.
 *
 *   const order = cleaver.workflow<{ id: string }>({ name: 'order', on: { events: ['order:*'] } });
 *   const charge = order.task({ name: 'charge', fn: (input) => ({ paid: true }) });
 *   const ship = order.task({ name: 'ship', parents: [charge], fn: (input, ctx) => ctx.parentOutput(charge) });
 *   order.onFailure({ name: 'refund', fn: (input, ctx) => ctx.failures });
 */
import type { DeclaredDefinition } from '../shared/protocol.ts';
import type { Context } from './context.ts';
import { TaskRef, concurrencyOf, taskDefinitionOf, taskFunction, type ConcurrencyOptions, type TaskClient, type TaskOptions } from './task.ts';
import type { QueueOrdering, TaskDefinition, WorkflowDefinition } from '../shared/types.ts';
import { workflowAction, workflowDefinitionProblem } from '../shared/workflow-definition.ts';
import { CleaverError } from '../shared/errors.ts';

export interface WorkflowOptions {
  name: string;
  description?: string;
  /** Your label for this version of the definition (the engine also numbers versions itself). */
  version?: string;
  /** Event keys that trigger a run, '*' matching anything: `{ events: ['order:*'] }`. */
  on?: { events?: string[] };
  /** The default priority (1-3) of the workflow's tasks; a task's own defaultPriority wins. */
  defaultPriority?: 1 | 2 | 3;
  /** Concurrency keys held by a run for its whole life, from its first task's start to its end. */
  concurrency?: ConcurrencyOptions | ConcurrencyOptions[];
  /** The ordering of its tasks' queues within a priority; a task's own wins. */
  ordering?: QueueOrdering;
}

export interface WorkflowTaskOptions<I, O> extends TaskOptions<I, O> {
  /** Tasks of the same workflow that must succeed first; their outputs are in ctx.parentOutput(). */
  parents?: Array<WorkflowTask<I, any>>;
}

export type HookOptions<I, O> = TaskOptions<I, O>;

/** A task of a workflow: pass it as a parent, or to ctx.parentOutput(). */
export class WorkflowTask<I = unknown, O = unknown> {
  /** Only carries the output type, for ctx.parentOutput(). */
  declare readonly __output?: O;
  constructor(
    readonly workflow: WorkflowDeclaration<I, any>,
    readonly name: string,
    readonly action: string,
    readonly definition: TaskDefinition & { parents?: string[] },
    readonly fn: (input: I, ctx: Context) => unknown,
  ) {}
}

/**
 * A declared workflow: add tasks with task(), hooks with onFailure() / onSuccess(), list it in a
 * worker's `workflows`, and trigger it with run / runNoWait / runMany / runManyNoWait.
 */
export class WorkflowDeclaration<I = unknown, O = Record<string, unknown>> extends TaskRef<I, O> {
  private readonly options: WorkflowOptions;
  private readonly tasks: Array<WorkflowTask<I, unknown>> = [];
  private failureHook: WorkflowTask<I, unknown> | null = null;
  private successHook: WorkflowTask<I, unknown> | null = null;

  constructor(client: TaskClient, options: WorkflowOptions) {
    super(client, options?.name, 'workflow');
    this.options = options;
    // Checked now so a bad name or pattern fails where it is written, not when a worker starts.
    const problem = workflowDefinitionProblem({ ...this.shell(), tasks: [placeholderTask] });
    if (problem) throw new CleaverError('BAD_REQUEST', problem);
  }

  /** Adds a task; `parents` are tasks of this workflow declared before it. */
  task<TO>(options: WorkflowTaskOptions<I, TO>): WorkflowTask<I, TO> {
    const where = `workflow ${this.name}: task ${options?.name}`;
    const parents = (options.parents ?? []).map((parent, i) => {
      if (!(parent instanceof WorkflowTask)) throw new CleaverError('BAD_REQUEST', `${where}: parents[${i}] is not a task declared with workflow.task()`);
      if (parent.workflow !== this) {
        throw new CleaverError('BAD_REQUEST', `${where}: parent ${parent.name} belongs to workflow ${parent.workflow.name}; parents must be tasks of the same workflow`);
      }
      return parent.name;
    });
    const definition = { ...taskDefinitionOf(this.withDefaults(options), where), parents };
    const task = new WorkflowTask<I, TO>(this, options.name, workflowAction(this.name, options.name), definition, taskFunction(options));
    this.tasks.push(task);
    this.check();
    return task;
  }

  /** Runs once when a task of the run has failed for good; ctx.failures lists what failed. */
  onFailure<TO>(options: HookOptions<I, TO>): WorkflowTask<I, TO> {
    if (this.failureHook) throw new CleaverError('BAD_REQUEST', `workflow ${this.name} already has an onFailure task`);
    this.failureHook = this.hook(options, 'onFailure');
    return this.failureHook as WorkflowTask<I, TO>;
  }

  /** Runs once when every task of the run has succeeded; the run succeeds only if it does too. */
  onSuccess<TO>(options: HookOptions<I, TO>): WorkflowTask<I, TO> {
    if (this.successHook) throw new CleaverError('BAD_REQUEST', `workflow ${this.name} already has an onSuccess task`);
    this.successHook = this.hook(options, 'onSuccess');
    return this.successHook as WorkflowTask<I, TO>;
  }

  protected override declared(): DeclaredDefinition {
    return { kind: 'workflow', workflow: this.definition };
  }

  /** The definition a worker registers. */
  get definition(): WorkflowDefinition {
    if (this.tasks.length === 0) throw new CleaverError('BAD_REQUEST', `workflow ${this.name} has no tasks; add them with workflow.task()`);
    return {
      ...this.shell(),
      tasks: this.tasks.map((t) => ({ ...t.definition, parents: t.definition.parents ?? [] })),
      onFailure: this.failureHook?.definition ?? null,
      onSuccess: this.successHook?.definition ?? null,
    };
  }

  /** Every task and hook, for the worker to look up by action. */
  get allTasks(): Array<WorkflowTask<I, unknown>> {
    return [...this.tasks, ...(this.failureHook ? [this.failureHook] : []), ...(this.successHook ? [this.successHook] : [])];
  }

  private hook<TO>(options: HookOptions<I, TO>, which: 'onFailure' | 'onSuccess'): WorkflowTask<I, TO> {
    const where = `workflow ${this.name}: ${which} task ${options?.name}`;
    const task = new WorkflowTask<I, TO>(this, options.name, workflowAction(this.name, options.name), taskDefinitionOf(this.withDefaults(options), where), taskFunction(options));
    const clash = this.allTasks.find((t) => t.name === options.name);
    if (clash) throw new CleaverError('BAD_REQUEST', `workflow ${this.name}: two tasks are named ${options.name}`);
    return task;
  }

  private withDefaults<T extends { defaultPriority?: 1 | 2 | 3 }>(options: T): T {
    return { ...options, defaultPriority: options.defaultPriority ?? this.options.defaultPriority ?? 1 };
  }

  private shell(): Omit<WorkflowDefinition, 'tasks'> {
    const shell: Omit<WorkflowDefinition, 'tasks'> = {
      name: this.options.name,
      description: this.options.description ?? null,
      versionLabel: this.options.version ?? null,
      events: this.options.on?.events ?? [],
      onFailure: null,
      onSuccess: null,
    };
    const concurrency = concurrencyOf(this.options.concurrency);
    if (concurrency) shell.concurrency = concurrency;
    if (this.options.ordering !== undefined && this.options.ordering !== 'fifo') shell.ordering = this.options.ordering;
    return shell;
  }

  private check(): void {
    const problem = workflowDefinitionProblem(this.definition);
    if (problem) {
      this.tasks.pop();
      throw new CleaverError('BAD_REQUEST', problem);
    }
  }
}

const placeholderTask = { name: 'placeholder', retries: 0, backoff: null, executionTimeoutMs: 1, scheduleTimeoutMs: 1, defaultPriority: 1, parents: [] };
