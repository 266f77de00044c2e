/**
 * The workers connected to this engine, with their free slots and the attempts they are running.
 * In memory only: the database's worker table is the cross-engine view; this is what a claim needs.
 *
 * A slot is free only when the worker can use it: a worker not heard from for `staleAfterMs` (half the
 * heartbeat timeout: its event loop is blocked, or it is stopped) gets no new work until it speaks
 * again, and the slot of an attempt the engine ended (cancelled, timed out) stays taken until the
 * worker reports that attempt — a worker frozen in a busy loop is not handed work it cannot start.
 */
import type { EngineEvents } from '../engine-events.ts';
import type { AssignedTask, EngineMessage } from '../../shared/protocol.ts';
import type { FailureReason } from '../../shared/types.ts';

export interface WorkerSession {
  readonly id: string;
  /** This connection's session (the worker row's session_id while it is the worker's current one). */
  readonly sessionId: string;
  readonly name: string;
  readonly actions: readonly string[];
  readonly slots: number;
  /** Attempts it may hold beyond its slots, waiting to start (HelloMessage.prefetch). */
  readonly prefetch: number;
  readonly labels: Record<string, string>;
  readonly address: string;
  draining: boolean;
  /** Active attempts on this worker: taskRunId → attempt. */
  readonly running: Map<string, number>;
  /**
   * The action of each task run in `running`, as assigned here: a standalone task's finish may take the
   * statement's shorter shape (taskFinish), a workflow task's names the children its finish may release
   * (their slots are reserved for it, Scheduler.reserveReleased). Those adopted at a reconnect are not
   * in it (their action is not known here); they take the full shape and reserve nothing.
   */
  readonly runningActions: Map<string, string>;
  /** Task runs in `running` assigned as suspects (lost with their workers before; see SUSPECT_AFTER_LOSSES). */
  readonly suspects: Set<string>;
  /**
   * Every attempt pushed to this session (`taskRunId:attempt`) that may still read as assigned and not
   * started in the database — its result can be in already while its start and outcome are still being
   * written — so that reading the database for undelivered assignments never pushes one twice.
   */
  readonly given: Set<string>;
  /**
   * Attempts (`taskRunId:attempt`) the database showed assigned to this worker that this session will
   * never hold: those it did not list when it connected, and those decided for an earlier session of it
   * that was gone by the time they were pushed. Their end (WORKER_LOST) is being written; until it is, a
   * read of the database still shows them assigned to the worker, and pushing one would run an attempt
   * already given up — the retry would run it a second time.
   */
  readonly disowned: Set<string>;
  /** Slots promised to task runs being inserted already assigned to this worker (see Scheduler.reserve). */
  reserved: number;
  lastSeenAt: number;
  send(message: EngineMessage): void;
  close(reason: string): void;
}

/** A session as it starts: what the worker said and how to reach it; nothing held, nothing given yet. */
export function newWorkerSession(
  o: Pick<WorkerSession, 'id' | 'sessionId' | 'name' | 'actions' | 'slots' | 'prefetch' | 'labels' | 'address' | 'send' | 'close'>,
): WorkerSession {
  return { ...o, draining: false, running: new Map(), runningActions: new Map(), suspects: new Set(), given: new Set(), disowned: new Set(), reserved: 0, lastSeenAt: Date.now() };
}

export interface WorkerRegistryOptions {
  /** Told `tasks.assigned` and `attempts.stop-ignored`. */
  events: EngineEvents;
  /** A worker silent for longer gets no new work until it is heard from again. */
  staleAfterMs: number;
  /**
   * How long a worker that is seen alive may keep the slot of an attempt it was told to stop, before
   * the slot is given to other work anyway (a worker that ignores stops).
   */
  stopGraceMs: number;
}

export class WorkerRegistry {
  private readonly byId = new Map<string, WorkerSession>();
  private readonly byAction = new Map<string, Set<WorkerSession>>();
  private readonly o: WorkerRegistryOptions;

  constructor(options: WorkerRegistryOptions) {
    this.o = options;
  }

  add(worker: WorkerSession): void {
    this.byId.set(worker.id, worker);
    for (const action of worker.actions) {
      let set = this.byAction.get(action);
      if (!set) this.byAction.set(action, (set = new Set()));
      set.add(worker);
    }
  }

  remove(worker: WorkerSession): boolean {
    if (this.byId.get(worker.id) !== worker) return false;
    this.byId.delete(worker.id);
    for (const action of worker.actions) this.byAction.get(action)?.delete(worker);
    return true;
  }

  get(id: string): WorkerSession | undefined {
    return this.byId.get(id);
  }

  all(): WorkerSession[] {
    return [...this.byId.values()];
  }

  ids(): string[] {
    return [...this.byId.keys()];
  }

  /** Every action some connected worker offers. */
  actions(): Set<string> {
    const out = new Set<string>();
    for (const [action, set] of this.byAction) if (set.size > 0) out.add(action);
    return out;
  }

  freeSlots(worker: WorkerSession): number {
    if (worker.draining || this.isStale(worker)) return 0;
    return Math.max(0, worker.slots - worker.running.size - worker.reserved);
  }

  /**
   * Attempts it can take beyond its free slots, to hold until one frees (its prefetch, less what it
   * holds already). Only for a queue deeper than every free slot: see Scheduler's pass.
   */
  holdSlots(worker: WorkerSession): number {
    if (worker.prefetch <= 0 || worker.draining || this.isStale(worker)) return 0;
    return Math.min(worker.prefetch, Math.max(0, worker.slots + worker.prefetch - worker.running.size - worker.reserved));
  }

  isStale(worker: WorkerSession, now = Date.now()): boolean {
    return now - worker.lastSeenAt > this.o.staleAfterMs;
  }

  /** Whether this session holds this attempt now (outcomes from anyone else are refused). */
  holds(worker: WorkerSession, taskRunId: string, attempt: number): boolean {
    return this.byId.get(worker.id) === worker && worker.running.get(taskRunId) === attempt;
  }

  /** Whether the worker runs a suspect now (it is then given no other). */
  holdsSuspect(worker: WorkerSession): boolean {
    for (const id of worker.suspects) {
      if (worker.running.has(id)) return true;
      worker.suspects.delete(id);
    }
    return false;
  }

  /** Records claimed attempts as running on the worker and pushes them in one frame (never one it disowned). */
  assign(worker: WorkerSession, assigned: AssignedTask[], suspects: readonly string[] = []): void {
    const tasks = worker.disowned.size === 0 ? assigned : assigned.filter((t) => !worker.disowned.has(`${t.taskRunId}:${t.attempt}`));
    if (tasks.length === 0) return;
    for (const task of tasks) {
      worker.running.set(task.taskRunId, task.attempt);
      worker.runningActions.set(task.taskRunId, task.action);
      worker.given.add(`${task.taskRunId}:${task.attempt}`);
    }
    for (const id of suspects) worker.suspects.add(id);
    worker.send({ t: 'assign', tasks });
    this.o.events.emit('tasks.assigned', { tasks });
  }

  /**
   * Tells a worker to stop an attempt the engine has ended. The slot comes back when the worker
   * reports the attempt (release); if the worker is heard from after the request yet still holds the
   * attempt once the grace period is over, the slot is reused anyway. A worker heard from by nobody
   * keeps it until it speaks or is declared lost: its messages arrive in order, so the stop is read
   * before anything it sends next.
   */
  stopAttempt(worker: WorkerSession, stop: { taskRunId: string; attempt: number; reason: FailureReason }): void {
    if (!this.holds(worker, stop.taskRunId, stop.attempt)) return;
    const sentAt = Date.now();
    worker.send({ t: 'cancel', taskRunId: stop.taskRunId, attempt: stop.attempt, reason: stop.reason });
    const check = () => {
      if (!this.holds(worker, stop.taskRunId, stop.attempt)) return;
      if (worker.lastSeenAt <= sentAt) {
        setTimeout(check, this.o.stopGraceMs).unref();
        return;
      }
      worker.running.delete(stop.taskRunId);
      worker.runningActions.delete(stop.taskRunId);
      this.o.events.emit('attempts.stop-ignored', { worker, taskRunId: stop.taskRunId });
    };
    setTimeout(check, this.o.stopGraceMs).unref();
  }

  /**
   * Attempts decided for a session of this worker that went away before they were pushed: its current
   * session here (a newer connection of the same worker, which never had them) is never given them.
   */
  disown(workerId: string, attempts: ReadonlyArray<{ taskRunId: string; attempt: number }>): void {
    const current = this.byId.get(workerId);
    if (current) for (const a of attempts) current.disowned.add(`${a.taskRunId}:${a.attempt}`);
  }

  /** Frees the slot of an attempt if it is still the one the worker holds. */
  release(workerId: string | null, taskRunId: string, attempt: number): WorkerSession | undefined {
    if (!workerId) return undefined;
    const worker = this.byId.get(workerId);
    if (worker && worker.running.get(taskRunId) === attempt) {
      worker.running.delete(taskRunId);
      worker.runningActions.delete(taskRunId);
      return worker;
    }
    return undefined;
  }
}
