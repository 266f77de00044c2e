/**
 * The claim service: turns "there may be work for these actions" signals into claims for this engine's
 * workers and pushes what it claims. Signals come from local triggers (right after their insert
 * commits), NOTIFY from other engines, retries coming due, freed slots, and a slow poll as fallback.
 *
 * One pass runs at a time; signals that arrive during a pass schedule another. Claims thus batch
 * themselves: slots freed while a claim is in flight are filled by the next one.
 */
import type { Driver } from '../db/driver.ts';
import type { WorkerRegistry, WorkerSession } from '../dispatcher/worker-registry.ts';
import type { Logger } from '../log.ts';
import { taskClaim } from '../sql/task-claim.ts';
import { planClaims } from './claim-planner.ts';
import type { AssignedTask } from '../../shared/protocol.ts';
import { toError } from '../../shared/errors.ts';

export interface DirectReservation {
  workerId: string;
  count: number;
  /** The insert failed or assigned fewer: give the slots back. */
  release(): void;
  /** The insert committed: push these attempts to the worker (or fail them if it is gone). */
  deliver(tasks: AssignedTask[]): void;
}

export class ClaimLoop {
  private readonly driver: Driver;
  private readonly registry: WorkerRegistry;
  private readonly log: Logger;
  private readonly maxBatch: number;
  /** Called with attempts claimed for a worker session that went away during the claim. */
  private readonly onOrphaned: (worker: WorkerSession, tasks: AssignedTask[]) => void;
  /** Actions that may have claimable task runs, with a generation bumped at every signal. */
  private readonly withWork = new Map<string, number>();
  private generation = 0;
  private cursor = 0;
  private running = false;
  private again = false;
  private stopped = false;
  private retryTimer: NodeJS.Timeout | null = null;
  private readonly dueRetries = new Map<string, number>();
  private errorBackoffMs = 0;

  constructor(options: {
    driver: Driver;
    registry: WorkerRegistry;
    log: Logger;
    maxBatch: number;
    onOrphaned: (worker: WorkerSession, tasks: AssignedTask[]) => void;
  }) {
    this.driver = options.driver;
    this.registry = options.registry;
    this.log = options.log;
    this.maxBatch = options.maxBatch;
    this.onOrphaned = options.onOrphaned;
  }

  /** There may be claimable work for these actions now. */
  wake(actions: Iterable<string>): void {
    const generation = ++this.generation;
    for (const action of actions) this.withWork.set(action, generation);
    this.pump();
  }

  /** Every action a connected worker offers (poll fallback). */
  wakeAll(): void {
    this.wake(this.registry.actions());
  }

  /** A retry of this action becomes claimable in delayMs. One timer serves all pending retries. */
  wakeLater(action: string, delayMs: number): void {
    const due = Date.now() + delayMs;
    const known = this.dueRetries.get(action);
    if (known === undefined || due < known) this.dueRetries.set(action, due);
    this.armRetryTimer();
  }

  /**
   * For a trigger about to insert `count` task runs of `action`: when no backlog is known for the
   * action and a worker here has free slots, reserves up to `count` of them so the insert can create
   * those task runs already assigned to it (one round trip instead of insert then claim). Returns null
   * when the queue must be used, so new work never overtakes work already waiting.
   */
  reserve(action: string, count: number): DirectReservation | null {
    if (this.stopped || this.withWork.has(action) || count <= 0) return null;
    const workers = this.registry.all();
    for (let i = 0; i < workers.length; i++) {
      const worker = workers[(this.cursor + i) % workers.length]!;
      const free = this.registry.freeSlots(worker);
      if (free <= 0 || !worker.actions.includes(action)) continue;
      this.cursor += i + 1;
      const reserved = Math.min(free, count);
      worker.reserved += reserved;
      let open = true;
      const close = () => {
        if (open) worker.reserved -= reserved;
        open = false;
      };
      return {
        workerId: worker.id,
        count: reserved,
        release: close,
        deliver: (tasks) => {
          close();
          if (this.registry.get(worker.id) !== worker) {
            if (tasks.length > 0) this.onOrphaned(worker, tasks);
            return;
          }
          if (tasks.length > 0) this.registry.assign(worker, tasks);
        },
      };
    }
    return null;
  }

  /** A worker's slots were freed: claim again if its actions may still have work. */
  slotsFreed(worker: WorkerSession): void {
    for (const action of worker.actions) {
      if (this.withWork.has(action)) {
        this.pump();
        return;
      }
    }
  }

  stop(): void {
    this.stopped = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
  }

  /** Resolves when no pass is running (for shutdown). */
  async settle(): Promise<void> {
    while (this.running) await new Promise((resolve) => setTimeout(resolve, 5));
  }

  private armRetryTimer(): void {
    if (this.stopped) return;
    let next = Infinity;
    for (const due of this.dueRetries.values()) next = Math.min(next, due);
    if (next === Infinity) return;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      const now = Date.now();
      const ready: string[] = [];
      for (const [action, due] of this.dueRetries) {
        if (due <= now + 1) {
          ready.push(action);
          this.dueRetries.delete(action);
        }
      }
      if (ready.length > 0) this.wake(ready);
      this.armRetryTimer();
    }, Math.max(0, next - Date.now()));
    this.retryTimer.unref();
  }

  private pump(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = true;
    void this.loop();
  }

  private async loop(): Promise<void> {
    try {
      do {
        this.again = false;
        await this.pass();
      } while (this.again && !this.stopped);
    } finally {
      this.running = false;
    }
  }

  private async pass(): Promise<void> {
    const workers = this.registry.all();
    const { claims, nextCursor } = planClaims({
      workers: workers.map((w) => ({ id: w.id, actions: w.actions, freeSlots: this.registry.freeSlots(w), draining: w.draining })),
      actionsWithWork: new Set(this.withWork.keys()),
      cursor: this.cursor,
      maxBatch: this.maxBatch,
    });
    this.cursor = nextCursor;
    for (const claim of claims) {
      if (this.stopped) return;
      const worker = this.registry.get(claim.workerId);
      if (!worker) continue;
      const limit = Math.min(claim.limit, this.registry.freeSlots(worker));
      if (limit <= 0) continue;
      const generations = claim.actions.map((a) => this.withWork.get(a));
      // A worker running a suspect takes no other (see taskClaim).
      const takeSuspect = !this.registry.holdsSuspect(worker);
      let tasks: AssignedTask[];
      let suspects: string[];
      try {
        ({ tasks, suspects } = await taskClaim(this.driver.relaxed, { workerId: worker.id, actions: claim.actions, limit, takeSuspect }));
        this.errorBackoffMs = 0;
      } catch (e: unknown) {
        // The database is unreachable or restarting: try again later; the work stays queued.
        this.errorBackoffMs = Math.min(Math.max(this.errorBackoffMs * 2, 100), 5_000);
        this.log.warn('claiming task runs failed; retrying', { error: toError(e).message, retryInMs: this.errorBackoffMs });
        setTimeout(() => this.pump(), this.errorBackoffMs).unref();
        return;
      }
      if (this.registry.get(worker.id) !== worker) {
        if (tasks.length > 0) this.onOrphaned(worker, tasks);
        continue;
      }
      if (tasks.length > 0) this.registry.assign(worker, tasks, suspects);
      if (tasks.length < limit) {
        // The queues of these actions are drained, unless a signal arrived while we claimed, or
        // suspects may have been left (held back, or more than the one a claim takes): the action then
        // keeps its signal, and the next freed slot claims again.
        if (!takeSuspect || suspects.length > 0) continue;
        claim.actions.forEach((action, i) => {
          if (this.withWork.get(action) === generations[i]) this.withWork.delete(action);
        });
      } else {
        this.again = true;
      }
    }
  }
}
