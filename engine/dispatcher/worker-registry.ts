/**
 * The workers connected to this engine, with their free slots and the attempts they are running.
 * In memory only: the database's worker table is the cross-engine view; this is what a claim needs.
 */
import type { AssignedTask, EngineMessage } from '../../shared/protocol.ts';

export interface WorkerSession {
  readonly id: string;
  readonly name: string;
  readonly actions: readonly string[];
  readonly slots: number;
  readonly labels: Record<string, string>;
  readonly address: string;
  draining: boolean;
  /** Active attempts on this worker: taskRunId → attempt. */
  readonly running: Map<string, number>;
  /** Slots promised to task runs being inserted already assigned to this worker (see ClaimLoop.reserve). */
  reserved: number;
  lastSeenAt: number;
  send(message: EngineMessage): void;
  close(reason: string): void;
}

export class WorkerRegistry {
  private readonly byId = new Map<string, WorkerSession>();
  private readonly byAction = new Map<string, Set<WorkerSession>>();
  private readonly onAssigned: (tasks: readonly AssignedTask[]) => void;

  constructor(options: { onAssigned?: (tasks: readonly AssignedTask[]) => void } = {}) {
    this.onAssigned = options.onAssigned ?? (() => undefined);
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
    return worker.draining ? 0 : Math.max(0, worker.slots - worker.running.size - worker.reserved);
  }

  /** Records claimed attempts as running on the worker and pushes them in one frame. */
  assign(worker: WorkerSession, tasks: AssignedTask[]): void {
    for (const task of tasks) worker.running.set(task.taskRunId, task.attempt);
    worker.send({ t: 'assign', tasks });
    this.onAssigned(tasks);
  }

  /** Frees the slot of an attempt if it is still the one the worker holds. */
  release(workerId: string | null, taskRunId: string, attempt: number): WorkerSession | undefined {
    if (!workerId) return undefined;
    const worker = this.byId.get(workerId);
    if (worker && worker.running.get(taskRunId) === attempt) {
      worker.running.delete(taskRunId);
      return worker;
    }
    return undefined;
  }
}
