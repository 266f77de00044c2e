/**
 * What happens inside one engine, as typed events: the services say what happened (`runs.ended`,
 * `attempts.cancelled`, `tasks.queued` …) and the engine subscribes the reactions once (Engine.wire in
 * engine.ts), so each fan-out — metrics, waiters, the console's change feed, the scheduler — exists in
 * one place. Questions a service must have answered (Scheduler.reserve, the flow wait of a task run,
 * engine info) are not events: they stay narrow functions passed in.
 */
import type { WorkerSession } from './dispatcher/worker-registry.ts';
import type { Logger } from './log.ts';
import type { CancelledAttempt, EndedRun } from './sql/run-cancel.ts';
import type { CreatedRuns } from './sql/run-trigger.ts';
import type { FinishResult } from './sql/task-finish.ts';
import type { StoredStreamChunk } from './sql/task-stream.ts';
import type { AssignedTask } from '../shared/protocol.ts';
import { toError } from '../shared/errors.ts';

/** A task run a statement queued, as the scheduler holds it in a window. */
export interface EnqueuedTaskRun {
  taskRunId: string;
  action: string;
  priority: number;
}

/** Event name → payload. */
export interface EngineEventMap {
  /** Runs were inserted (trigger, event, console): `created` counts them per workflow (metrics). */
  'runs.created': { runIds: readonly string[]; created: readonly CreatedRuns[] };
  /** Runs were replayed, or one of their task runs retried by hand (live views). */
  'runs.changed': { runIds: readonly string[] };
  /**
   * Runs were ended with every task run not yet ended (cancelled by a user or a concurrency limit,
   * failed by a flow rule). `taskRunIds`: those that were in progress (their attempts were cancelled).
   */
  'runs.ended': { runIds: readonly string[]; ended: readonly EndedRun[]; taskRunIds: readonly string[] };
  /**
   * Task runs were queued. `rows`: queued here, as they are (a window holding its whole queue takes
   * them without a read); `actions`: queues that may hold work not yet seen (read again); `retries`:
   * task runs queued again by a finish, due after `delayMs` (0: now).
   */
  'tasks.queued': {
    rows?: readonly EnqueuedTaskRun[];
    actions?: readonly string[];
    retries?: ReadonlyArray<{ action: string; delayMs: number }>;
  };
  /** Attempts were pushed to a worker attached here. */
  'tasks.assigned': { tasks: readonly AssignedTask[] };
  /**
   * A finish batch committed: accepted outcomes, what became of their task runs and runs. Emitted
   * before the `tasks.queued` of its retries, so the scheduler frees their keys before it is woken.
   */
  'tasks.finished': FinishResult;
  /** Attempts in progress were cancelled in the database: their workers are to be told to stop. */
  'attempts.cancelled': { attempts: readonly CancelledAttempt[] };
  /** Attempts assigned to a worker session that went away before they were pushed: nobody holds them. */
  'attempts.orphaned': { worker: WorkerSession; tasks: readonly AssignedTask[] };
  /** A worker did not stop an ended attempt within the grace period: its slot was taken back. */
  'attempts.stop-ignored': { worker: WorkerSession; taskRunId: string };
  /** A worker attached here has free slots again (a result, or it spoke again after a silence). */
  'slots.freed': { worker: WorkerSession; ended?: { taskRunId: string; attempt: number } };
  /** A worker attached here connected, began draining, or went away. */
  'workers.changed': { worker: WorkerSession; change: 'connected' | 'draining' | 'disconnected' };
  /** A new version of a workflow (or standalone task) was registered here. */
  'definitions.changed': { workflow: string };
  /** A rate-limit key was defined, changed or removed (committed). */
  'rate-limits.changed': { key: string };
  /** The task runs that waited on a full concurrency key or a used-up rate limit at a decision. */
  'flow.waits': { waits: ReadonlyArray<{ action: string; kind: 'concurrency' | 'rate_limit' }> };
  /** Stream chunks this engine stored, after their commit. */
  'streams.stored': { chunks: readonly StoredStreamChunk[] };
}

type Handler<P> = (payload: P) => void;

/**
 * A synchronous typed emitter: `emit` calls every handler of the event, in the order they subscribed,
 * before it returns — so an emitter can rely on the reactions having run (the scheduler's keys freed,
 * metrics counted) by its next statement, as it could with a direct call.
 */
export class TypedEmitter<M extends object> {
  // Replaced, never mutated, on (un)subscribe: an emit walks the list it started with.
  private readonly handlers = new Map<keyof M, ReadonlyArray<Handler<never>>>();

  constructor(private readonly o: { log: Logger }) {}

  /** Subscribes; returns the function that unsubscribes (safe to call twice). */
  on<K extends keyof M>(name: K, handler: Handler<M[K]>): () => void {
    const entry = handler as Handler<never>;
    this.handlers.set(name, [...(this.handlers.get(name) ?? []), entry]);
    return () => {
      const list = this.handlers.get(name) ?? [];
      const at = list.indexOf(entry);
      if (at >= 0) this.handlers.set(name, [...list.slice(0, at), ...list.slice(at + 1)]);
    };
  }

  emit<K extends keyof M>(name: K, payload: M[K]): void {
    const list = this.handlers.get(name) as ReadonlyArray<Handler<M[K]>> | undefined;
    if (!list) return;
    for (const handler of list) {
      // A reaction that throws is logged and the others still run, and the emitter never sees it: the
      // emitter reports something that already happened (a committed finish still to be acknowledged, a
      // scheduler pass that would take the throw for a database error and back off, an admin call
      // whose change committed), and one subscriber's bug must not undo that or keep the news from
      // the rest (a waiter never answered, a console never told).
      try {
        handler(payload);
      } catch (e: unknown) {
        this.o.log.error('an engine event handler failed', { event: String(name), error: toError(e).message });
      }
    }
  }
}

/** The engine's one internal event interface. */
export type EngineEvents = TypedEmitter<EngineEventMap>;

export function createEngineEvents(options: { log: Logger }): EngineEvents {
  return new TypedEmitter<EngineEventMap>(options);
}
