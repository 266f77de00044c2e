/**
 * The scheduler service (docs/scheduler.md): the I/O around the pure decision (decide.ts).
 *
 * The engine holding the scheduler lease keeps a window of each queue's candidates in memory, asks
 * decide() who starts where whenever something changes (work queued, a slot freed, a backoff over),
 * writes the decided assignments in one fenced statement, and pushes to its own workers what the
 * statement returns. Workers attached to other engines are decided for here too; their engine hears of
 * it by NOTIFY and pushes them (deliverAssigned). An engine not holding the lease decides nothing: its
 * triggers queue and notify, its freed slots notify the holder.
 *
 * A window is reloaded from the database when it may be out of date (work was queued that it has not
 * seen); a freed slot is refilled from the window as it is, with no read.
 */
import type { Driver } from '../db/driver.ts';
import type { WorkerRegistry, WorkerSession } from '../dispatcher/worker-registry.ts';
import type { EngineEvents } from '../engine-events.ts';
import type { Logger } from '../log.ts';
import { taskAssign, taskAssignedList, taskQueueWindowList, workerCapacityList, type Assigned, type QueuedCandidate, type WorkerCapacity } from '../sql/task-assign.ts';
import type { ReleasedSlots } from '../sql/task-finish.ts';
import { runCancel, type RunEnd } from '../sql/run-cancel.ts';
import { decide, INITIAL_ROTATION, isKeyGroup, type Candidate, type ConcurrencyRule, type KeyRef, type RotationState, type RunningUnit, type WorkerState } from './decide.ts';
import { FlowState, type Unschedulable } from './flow-state.ts';
import { SchedulerLease } from './scheduler-lease.ts';
import type { AssignedTask } from '../../shared/protocol.ts';
import { toError } from '../../shared/errors.ts';
import type { WaitReason as SharedWaitReason } from '../../shared/types.ts';

/** The waits only the scheduler knows of, as run details say them. */
type FlowWait = Extract<SharedWaitReason, { kind: 'concurrency' | 'rate_limit' }>;

export interface DirectReservation {
  workerId: string;
  count: number;
  /** The insert failed or assigned fewer: give the slots back. */
  release(): void;
  /** The insert committed: push these attempts to the worker (or fail them if it is gone). */
  deliver(tasks: AssignedTask[]): void;
}

/** Slots reserved for the children a finish batch may release (see Scheduler.reserveReleased). */
export interface ReleasedReservation extends ReleasedSlots {
  /** The finish failed, or was not tried: give the slots back. */
  release(): void;
  /**
   * The finish committed: push what it assigned (each attempt to the session it was reserved on, or, if
   * that session went away, end it as orphaned) and give the rest of the slots back. `found`: read back
   * after a retry (taskFinishEarlierAssigned), so one this session was given already is not pushed again.
   */
  deliver(assigned: readonly Assigned[], options?: { found?: boolean }): void;
  /** The finish found the lease no longer held at this epoch, so it assigned nothing: decide nothing until the lease says. */
  fenced(): void;
}

export interface SchedulerOptions {
  driver: Driver;
  engineId: string;
  registry: WorkerRegistry;
  log: Logger;
  /** Told `attempts.orphaned`, `attempts.cancelled`, `runs.ended` (its own ends) and `flow.waits`. */
  events: EngineEvents;
  /** Most assignments written by one statement. */
  maxBatch: number;
  /** Candidates held in memory per action (default 1,000); a deeper queue is read on in order. */
  windowSize?: number;
  /** How long the scheduler lease lasts unrenewed (default 3 s). */
  leaseTtlMs?: number;
  /** A worker of another engine not heard from for this long is not given work. */
  staleAfterMs: number;
  /** Candidates held per action whose queue has flow rules (default 10 × windowSize): rotation spans them. */
  keyedWindowSize?: number;
}

/** The keys a candidate of a keyed queue asks for, split by who holds them once admitted. */
interface Ask {
  runId: string;
  taskKeys: KeyRef[];
  runKeys: KeyRef[];
}

interface Window {
  /** Candidates in queue order (priority, then oldest first), as read. */
  items: QueuedCandidate[];
  /** Ids of items assigned or found changed since the read. */
  readonly gone: Set<string>;
  /** The window holds every queued task run of its action (it read fewer than it asked for). */
  complete: boolean;
}

/** Candidates in a window, not counting those gone since the read. */
function waiting(window: Window): number {
  return window.items.length - window.gone.size;
}

export class Scheduler {
  private readonly o: SchedulerOptions;
  private readonly windowSize: number;
  private readonly lease: SchedulerLease;
  /** Per action. Only while this engine holds the lease. */
  private readonly windows = new Map<string, Window>();
  /** Actions whose window may miss queued work (read it again before deciding). */
  private readonly unread = new Set<string>();
  /** Actions whose window is being read now. */
  private readonly reading = new Set<string>();
  private rotation: RotationState = INITIAL_ROTATION;
  private epoch: number | null = null;
  private remote: WorkerCapacity[] = [];
  private remoteReadAt = 0;
  private remoteUnread = true;
  private running = false;
  private again = false;
  private stopped = false;
  private errorBackoffMs = 0;
  private wakeTimer: NodeJS.Timeout | null = null;
  private wakeAt = Infinity;
  private cursor = 0;
  /** The action of each candidate passed to the last decision. */
  private readonly actionOf = new Map<string, string>();
  private capacityTimer: NodeJS.Timeout | null = null;
  private queuedTimer: NodeJS.Timeout | null = null;
  private readonly queuedToNotify = new Set<string>();
  private delivering: Promise<void> | null = null;
  private deliverAgain = false;
  private readonly keyedWindowSize: number;
  private readonly flow = new FlowState();
  /** For the candidates of keyed queues in the last decision. */
  private readonly asks = new Map<string, Ask>();
  /** Why each candidate of a keyed queue waits (concurrency, rate limit), as the last decision that passed it said. */
  private waits = new Map<string, FlowWait>();
  /** Rotation groups live at the last prune of the rotation's turns. */
  private liveGroups = 0;

  constructor(options: SchedulerOptions) {
    this.o = options;
    this.windowSize = options.windowSize ?? 1_000;
    this.keyedWindowSize = options.keyedWindowSize ?? 10 * this.windowSize;
    this.lease = new SchedulerLease({
      driver: options.driver,
      engineId: options.engineId,
      log: options.log,
      ttlMs: options.leaseTtlMs,
      acquired: (epoch) => {
        // Whatever was in memory was decided against another holder's writes: start from the database.
        this.epoch = epoch;
        this.windows.clear();
        this.flow.reset();
        this.rotation = INITIAL_ROTATION;
        this.remoteUnread = true;
        this.wakeAll();
      },
      lost: () => {
        this.epoch = null;
        this.windows.clear();
        this.unread.clear();
        this.flow.reset();
        this.waits.clear();
      },
    });
  }

  /** Whether this engine decides now (holds the scheduler lease). */
  get holding(): boolean {
    return this.epoch !== null;
  }

  /** Asks for the lease (a lone engine holds it before it takes any work). */
  async start(): Promise<void> {
    await this.lease.start();
  }

  /**
   * Work of these actions may have been queued, or a worker offering them came: read their windows
   * again, then decide. Elsewhere the holder hears of queued work by the insert's NOTIFY; of a worker
   * here, from us.
   */
  wake(actions: Iterable<string>): void {
    if (this.epoch === null) {
      // Not every statement that queues says so itself (a retry after a timeout or a lost worker does
      // not): tell the holder which queues to read again.
      this.notifyQueued(actions);
      return;
    }
    for (const action of actions) this.unread.add(action);
    this.pump();
  }

  /**
   * Another engine announced queued work (NOTIFY cleaver_task_queued). Only the holder acts on it; the
   * others must not pass it on as their own (two of them would echo each other's notifications forever).
   */
  queuedElsewhere(actions: Iterable<string>): void {
    if (this.epoch === null) return;
    for (const action of actions) this.unread.add(action);
    this.pump();
  }

  /**
   * These task runs were just queued here (a trigger's insert committed): a window that holds its whole
   * queue takes them as they are, with no read; any other is read again before the next decision.
   */
  enqueued(rows: ReadonlyArray<{ taskRunId: string; action: string; priority: number }>): void {
    if (this.epoch === null) {
      this.notifyHolder();
      return;
    }
    for (const row of rows) {
      const window = this.windows.get(row.action);
      const rules = this.flow.rulesFor(row.action);
      // A read in flight may have missed it, and then replaces the window: read again after it. A keyed
      // or LIFO queue is read again too (its candidates need their input; a LIFO one its new head).
      if (!window || !window.complete || rules.keyed || rules.lifo || this.flow.uncertain || this.unread.has(row.action) || this.reading.has(row.action) || window.items.length >= this.windowSize) {
        this.unread.add(row.action);
        continue;
      }
      // Due at once (availableAt 0: the database's clock set it, not ours). A new id sorts after every
      // older one of its priority: it goes after the last item of that priority or higher.
      const item: QueuedCandidate = { taskRunId: row.taskRunId, action: row.action, priority: row.priority, availableAt: 0, suspect: false };
      let at = window.items.length;
      while (at > 0 && window.items[at - 1]!.priority < row.priority) at--;
      if (at === window.items.length) window.items.push(item);
      else window.items.splice(at, 0, item);
    }
    this.pump();
  }

  /** Every action a worker offers (poll fallback, a new holder, a reconnected LISTEN). */
  wakeAll(): void {
    for (const action of this.registry().actions()) this.unread.add(action);
    for (const w of this.remote) for (const action of w.actions) this.unread.add(action);
    this.remoteUnread = true;
    this.pump();
  }

  /**
   * The slow poll: with other engines, work they queued may have been announced by a NOTIFY this engine
   * missed, so every window is read again; alone, every enqueue passed through here and memory is
   * complete, so it only decides again.
   */
  poll(): void {
    if (this.o.driver.capabilities.multiEngine) this.wakeAll();
    else this.pump();
  }

  /** A retry of this action becomes due in delayMs. */
  wakeLater(action: string, delayMs: number): void {
    this.unread.add(action);
    this.decideAt(Date.now() + delayMs);
  }

  /**
   * For a trigger about to insert `count` task runs of `action`: when this engine decides, knows the
   * action's whole queue and it is empty, and a worker here has free slots, reserves up to `count` of
   * them so the insert creates those task runs already assigned (one round trip instead of insert then
   * assign). Null when the queue must be used, so new work never overtakes work already waiting.
   */
  reserve(action: string, count: number): DirectReservation | null {
    if (count <= 0 || !this.directlyAssignable(action)) return null;
    const [taken] = this.takeSlots(action, count, { oneWorker: true });
    if (!taken) return null;
    const { worker, count: reserved } = taken;
    const registry = this.registry();
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
        if (registry.get(worker.id) !== worker) {
          if (tasks.length > 0) this.o.events.emit('attempts.orphaned', { worker, tasks });
          return;
        }
        if (tasks.length > 0) registry.assign(worker, tasks);
      },
    };
  }

  /**
   * For a finish batch about to write successes of these workflow tasks (one action per success): the
   * children they may release, by the definitions read (FlowState.childActions), get free local slots
   * reserved under the guards of a trigger's (reserve), so that the finish assigns them itself — one
   * statement from a step's result to its successor's push, instead of a finish then an assign. At
   * most one slot per success naming the action: a child released by several parents at once takes one
   * and gives the rest back. Null when nothing could be reserved (the children go through the queue).
   */
  reserveReleased(parents: readonly string[]): ReleasedReservation | null {
    const epoch = this.epoch;
    if (epoch === null || this.stopped || parents.length === 0) return null;
    const wanted = new Map<string, number>();
    for (const parent of parents) for (const child of this.flow.childActions(parent)) wanted.set(child, (wanted.get(child) ?? 0) + 1);
    const taken: Array<{ action: string; worker: WorkerSession; count: number }> = [];
    for (const [action, count] of wanted) {
      if (!this.directlyAssignable(action)) continue;
      for (const t of this.takeSlots(action, count, { oneWorker: false })) taken.push({ action, ...t });
    }
    if (taken.length === 0) return null;
    let open = true;
    const close = () => {
      if (open) for (const t of taken) t.worker.reserved -= t.count;
      open = false;
    };
    const sessions = new Map(taken.map((t) => [t.worker.id, t.worker] as const));
    return {
      engineId: this.o.engineId,
      epoch,
      slots: taken.map((t) => ({ action: t.action, workerId: t.worker.id, count: t.count })),
      release: close,
      deliver: (assigned, options = {}) => {
        close();
        // As what the scheduler decided: a session that went away before its push gets its attempts orphaned.
        this.pushDecided(assigned, sessions, options.found === true);
      },
      fenced: () => {
        close();
        if (this.epoch === epoch) this.deposed();
      },
    };
  }

  /**
   * Whether new task runs of this action may be assigned without the queue: this engine decides, the
   * action has no flow rules (decide() alone applies them; with rules in doubt nothing is assigned
   * unseen), and its window holds its whole queue and it is empty, so new work never overtakes work
   * already waiting.
   */
  private directlyAssignable(action: string): boolean {
    if (this.stopped || this.epoch === null || this.unread.has(action)) return false;
    const rules = this.flow.rulesFor(action);
    if (this.flow.uncertain || rules.keyed || rules.lifo) return false;
    const window = this.windows.get(action);
    return window !== undefined && window.complete && waiting(window) === 0;
  }

  /** Reserves up to `count` free slots of workers here offering the action, rotating across them. */
  private takeSlots(action: string, count: number, o: { oneWorker: boolean }): Array<{ worker: WorkerSession; count: number }> {
    const registry = this.registry();
    const workers = registry.all();
    const taken: Array<{ worker: WorkerSession; count: number }> = [];
    let left = count;
    for (let i = 0; i < workers.length && left > 0; i++) {
      const worker = workers[(this.cursor + i) % workers.length]!;
      const free = registry.freeSlots(worker);
      if (free <= 0 || !worker.actions.includes(action)) continue;
      const reserved = Math.min(free, left);
      worker.reserved += reserved;
      left -= reserved;
      taken.push({ worker, count: reserved });
      if (o.oneWorker) {
        this.cursor += i + 1;
        break;
      }
    }
    if (!o.oneWorker && taken.length > 0) this.cursor++;
    return taken;
  }

  /** A new version of some workflow was registered (here, or by NOTIFY): its rules apply from now. */
  definitionsChanged(): void {
    this.flow.definitionsChanged();
    this.wakeAll();
  }

  /** A rate limit was created, changed or deleted (here, or by NOTIFY). */
  rateLimitsChanged(): void {
    this.flow.rateLimitsChanged();
    this.pump();
  }

  /**
   * Task runs ended or went back to the queue, and runs ended: the keys they held are free. Told on this
   * engine's `tasks.finished` and `runs.ended` (this scheduler's own ends included); other engines' are
   * read back (remoteChanged).
   */
  ended(o: { taskRunIds?: Iterable<string>; runIds?: Iterable<string> }): void {
    this.flow.ended(o);
  }

  /** Why a queued task run of a keyed queue waited at the holder's last decision, if this engine holds the lease. */
  waitReason(taskRunId: string): FlowWait | null {
    return this.waits.get(taskRunId) ?? null;
  }

  /**
   * A worker attached here has free slots again (or came, or spoke again after a silence). With `ended`,
   * because the attempt's result came: the task's keys are free at once, as its slot is (its run's keys
   * wait for the run's end). The attempt ended at the worker's report, before anything admitted from now
   * starts; were the result's write lost, the worker sends it again (it keeps it until acknowledged).
   */
  slotsFreed(_worker: WorkerSession, ended?: { taskRunId: string; attempt: number }): void {
    if (this.epoch === null) {
      this.notifyHolder();
      return;
    }
    if (ended) this.flow.attemptEnded(ended.taskRunId, ended.attempt);
    this.pump();
  }

  /** Tells the holder, elsewhere, to read these actions' queues again (a few wakes per statement). */
  private notifyQueued(actions: Iterable<string>): void {
    if (this.stopped || !this.o.driver.capabilities.listenNotify) return;
    for (const action of actions) this.queuedToNotify.add(action);
    if (this.queuedTimer || this.queuedToNotify.size === 0) return;
    this.queuedTimer = setTimeout(() => {
      this.queuedTimer = null;
      const list = [...this.queuedToNotify];
      this.queuedToNotify.clear();
      void this.o.driver
        .query(`SELECT count(pg_notify('cleaver_task_queued', $1::text || ':' || a)) FROM unnest($2::text[]) AS a`, [this.o.engineId, list])
        .catch(() => {
          // The holder reads every queue on its poll (and when its listener comes back) anyway.
        });
    }, 2);
    this.queuedTimer.unref();
  }

  /** Tells the holder, elsewhere, that workers here can take work: a few changes per notification. */
  private notifyHolder(): void {
    if (this.stopped || !this.o.driver.capabilities.listenNotify || this.capacityTimer) return;
    this.capacityTimer = setTimeout(() => {
      this.capacityTimer = null;
      void this.o.driver.query(`SELECT pg_notify('cleaver_capacity', $1)`, [this.o.engineId]).catch(() => undefined);
    }, 2);
    this.capacityTimer.unref();
  }

  /** Workers of another engine freed slots or came and went (NOTIFY cleaver_capacity). */
  remoteChanged(): void {
    this.remoteUnread = true;
    this.flow.heldChanged();
    if (this.epoch !== null) this.pump();
  }

  /**
   * Pushes to the workers attached here the attempts another engine's scheduler assigned to them (NOTIFY
   * cleaver_assigned, and the poll). Those a worker holds already are not pushed twice.
   */
  deliverAssigned(): void {
    if (this.delivering) {
      this.deliverAgain = true;
      return;
    }
    this.delivering = (async () => {
      do {
        this.deliverAgain = false;
        const registry = this.registry();
        const ids = registry.ids();
        if (ids.length === 0) break;
        // Only what was given before the read can be judged by it.
        const givenBefore = new Map(registry.all().map((w) => [w, [...w.given]] as const));
        const disownedBefore = new Map(registry.all().map((w) => [w, [...w.disowned]] as const));
        let found: Assigned[];
        try {
          found = await taskAssignedList(this.o.driver, { workerIds: ids });
        } catch (e: unknown) {
          this.o.log.warn('reading assignments for workers here failed; the poll retries', { error: toError(e).message });
          break;
        }
        // What a session was given stays remembered while the database may still show it undelivered.
        const stillAssigned = new Set(found.map((a) => `${a.task.taskRunId}:${a.task.attempt}`));
        for (const [worker, keys] of givenBefore) {
          for (const key of keys) {
            const at = key.lastIndexOf(':');
            if (!stillAssigned.has(key) && worker.running.get(key.slice(0, at)) !== Number(key.slice(at + 1))) worker.given.delete(key);
          }
        }
        // A disowned attempt no longer shown assigned has ended: nothing can push it any more.
        for (const [worker, keys] of disownedBefore) for (const key of keys) if (!stillAssigned.has(key)) worker.disowned.delete(key);
        this.push(found);
      } while (this.deliverAgain && !this.stopped);
    })().finally(() => (this.delivering = null));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.wakeTimer) clearTimeout(this.wakeTimer);
    if (this.capacityTimer) clearTimeout(this.capacityTimer);
    if (this.queuedTimer) clearTimeout(this.queuedTimer);
    await this.settle();
    await this.lease.stop();
  }

  /** Resolves when no pass is running (for shutdown). */
  async settle(): Promise<void> {
    while (this.running || this.delivering) await new Promise((resolve) => setTimeout(resolve, 5));
  }

  private registry(): WorkerRegistry {
    return this.o.registry;
  }

  private decideAt(at: number): void {
    if (this.stopped || at >= this.wakeAt) return;
    if (this.wakeTimer) clearTimeout(this.wakeTimer);
    this.wakeAt = at;
    this.wakeTimer = setTimeout(() => {
      this.wakeTimer = null;
      this.wakeAt = Infinity;
      this.pump();
    }, Math.max(0, at - Date.now()));
    this.wakeTimer.unref();
  }

  private pump(): void {
    if (this.stopped || this.epoch === null) return;
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
      } while (this.again && !this.stopped && this.epoch !== null);
    } catch (e: unknown) {
      // The database is unreachable or restarting: try again later; the work stays queued.
      this.flow.distrust();
      this.errorBackoffMs = Math.min(Math.max(this.errorBackoffMs * 2, 100), 5_000);
      this.o.log.warn('scheduling failed; retrying', { error: toError(e).message, retryInMs: this.errorBackoffMs });
      this.decideAt(Date.now() + this.errorBackoffMs);
    } finally {
      this.running = false;
    }
  }

  /** One decision: read what may be stale, decide, write, push. */
  private async pass(): Promise<void> {
    const epoch = this.epoch;
    if (epoch === null) return;
    const registry = this.registry();
    const now = Date.now();
    if (this.o.driver.capabilities.multiEngine && (this.remoteUnread || now - this.remoteReadAt > 1_000)) {
      this.remoteUnread = false;
      this.remoteReadAt = now;
      this.remote = await workerCapacityList(this.o.driver, { exceptEngineId: this.o.engineId, staleMs: this.o.staleAfterMs });
    }
    const workers: WorkerState[] = [];
    /** Workers here with room to hold attempts beyond their slots, and how many. */
    const holders: WorkerState[] = [];
    const offered = new Set<string>();
    const sessions = new Map<string, WorkerSession>();
    for (const w of registry.all()) {
      sessions.set(w.id, w);
      const free = registry.freeSlots(w);
      const hold = registry.holdSlots(w);
      const actions = new Set(w.actions);
      workers.push({ id: w.id, actions, freeSlots: free, holdsSuspect: registry.holdsSuspect(w) });
      if (hold > 0) holders.push({ id: w.id, actions, freeSlots: hold, holdsSuspect: true });
      if (free > 0 || hold > 0) for (const a of w.actions) offered.add(a);
    }
    for (const w of this.remote) {
      const free = Math.max(0, w.slots - w.busy);
      workers.push({ id: w.workerId, actions: new Set(w.actions), freeSlots: free, holdsSuspect: w.holdsSuspect });
      if (free > 0) for (const a of w.actions) offered.add(a);
    }
    await this.flow.refresh(this.o.driver, offered, { heldMaxAgeMs: 2_000, now });
    if (this.epoch !== epoch) return;
    // Only the queues some worker with a free slot offers matter now; the others are read when one does.
    const toRead = [...offered].filter((a) => this.unread.has(a) || !this.windows.has(a));
    if (toRead.length > 0) {
      for (const a of toRead) {
        this.unread.delete(a);
        this.reading.add(a);
      }
      // One read per kind of queue: keyed ones with what their rules are evaluated on, LIFO ones newest first.
      const kinds = new Map<string, { detail: boolean; lifo: boolean; actions: string[] }>();
      for (const a of toRead) {
        const rules = this.flow.rulesFor(a);
        const id = `${rules.keyed}/${rules.lifo}`;
        const kind = kinds.get(id) ?? { detail: rules.keyed, lifo: rules.lifo, actions: [] };
        kind.actions.push(a);
        kinds.set(id, kind);
      }
      let rows: QueuedCandidate[];
      try {
        const reads = [...kinds.values()].map((k) =>
          taskQueueWindowList(this.o.driver, { actions: k.actions, limit: k.detail ? this.keyedWindowSize : this.windowSize, detail: k.detail, lifo: k.lifo }),
        );
        rows = (await Promise.all(reads)).flat();
        await this.flow.ensureVersions(this.o.driver, rows);
      } catch (e: unknown) {
        for (const a of toRead) this.unread.add(a);
        throw e;
      } finally {
        for (const a of toRead) this.reading.delete(a);
      }
      if (this.epoch !== epoch) return;
      const fresh = new Map<string, QueuedCandidate[]>(toRead.map((a) => [a, []]));
      for (const row of rows) fresh.get(row.action)!.push(row);
      for (const [action, items] of fresh) {
        const limit = this.flow.rulesFor(action).keyed ? this.keyedWindowSize : this.windowSize;
        this.windows.set(action, { items, gone: new Set(), complete: items.length < limit });
      }
      // A wait reason outlives only while its task run is still queued (as a read of its window shows).
      if (this.waits.size > 0) {
        const queued = new Set<string>();
        for (const window of this.windows.values()) for (const c of window.items) queued.add(c.taskRunId);
        for (const id of this.waits.keys()) if (!queued.has(id)) this.waits.delete(id);
      }
    }
    let freeSlots = 0;
    for (const w of workers) freeSlots += w.freeSlots;
    for (const w of holders) freeSlots += w.freeSlots;
    const rules = new Map<string, ConcurrencyRule>();
    const unschedulable: Unschedulable[] = [];
    // The decision's time is taken after every read: what it knows (keys freed by finishes heard while
    // reading, rate windows) is as of now, and the assignments are recorded at this time, which is what
    // an audit of starts against ends and windows reads.
    const decidedAt = Date.now();
    const { candidates, running, live, skipped, backlog } = this.candidates(offered, freeSlots, decidedAt, rules, unschedulable);
    if (this.flow.takeRetry()) this.again = true;
    if (candidates.length === 0 && unschedulable.length === 0) return;
    const windowsBefore = this.flow.windows();
    const decision = this.decideWithHolds({ now: decidedAt, candidates, running, rules, workers, windows: windowsBefore, rotation: this.rotation, backlog }, holders);
    this.rotation = decision.rotation;
    // Groups not passed keep their turns (decide.ts): forget those whose work is gone, once they may
    // outnumber the live ones (`live` is gathered only then).
    if (live) {
      this.rotation = { ...this.rotation, turns: new Map([...this.rotation.turns].filter(([group]) => live.has(group) || !isKeyGroup(group))) };
      this.liveGroups = this.rotation.turns.size;
    }
    // What waits keeps the reason it was last given; a candidate not passed this time keeps its own,
    // except a head left out for want of slots (its key has room now).
    for (const id of skipped) this.waits.delete(id);
    const waitedNow: Array<{ action: string; kind: FlowWait['kind'] }> = [];
    for (const { taskRunId, reason: r } of decision.waits) {
      if (r.kind === 'concurrency') this.waits.set(taskRunId, { kind: 'concurrency', key: r.key, rule: r.rule, maxRuns: r.maxRuns });
      else if (r.kind === 'rate_limit') this.waits.set(taskRunId, { kind: 'rate_limit', key: r.key, refillsAt: new Date(decidedAt + r.refillInMs).toISOString() });
      else {
        this.waits.delete(taskRunId);
        continue;
      }
      waitedNow.push({ action: this.actionOf.get(taskRunId) ?? '', kind: r.kind });
    }
    for (const a of decision.assignments) this.waits.delete(a.taskRunId);
    for (const c of decision.cancellations) this.waits.delete(c.taskRunId);
    if (waitedNow.length > 0) this.o.events.emit('flow.waits', { waits: waitedNow });
    // Ends first: a running run cancelled for a newer one must stop counting before its replacement starts.
    for (const w of decision.waits) {
      if (w.reason.kind !== 'units_over_limit') continue;
      const ask = this.asks.get(w.taskRunId);
      if (ask) {
        unschedulable.push({
          taskRunId: w.taskRunId,
          runId: ask.runId,
          message: `it asks ${w.reason.units} units of the rate limit ${JSON.stringify(w.reason.key)}, whose limit is ${w.reason.limit}: it could never start`,
        });
      }
    }
    // Each run is ended with its own reason (grouped: one statement per distinct message).
    const failures = new Map<string, string[]>();
    for (const u of unschedulable) failures.set(u.message, [...(failures.get(u.message) ?? []), u.runId]);
    for (const [message, runIds] of failures) await this.endRuns(epoch, runIds, { status: 'failed', reason: 'FLOW_RULE', message, name: 'FlowRuleError' });
    for (const u of unschedulable) this.dropCandidate(u.taskRunId);
    const cancels = new Map<string, string[]>();
    for (const c of decision.cancellations) {
      const runId = c.running ? this.unitRun(c.taskRunId) : this.asks.get(c.taskRunId)?.runId;
      if (runId === undefined) continue;
      const message = `cancelled by its concurrency key ${JSON.stringify(c.key)}, which was full (${c.running ? 'a newer run took its place' : 'it was the newest'})`;
      cancels.set(message, [...(cancels.get(message) ?? []), runId]);
    }
    for (const [message, runIds] of cancels) await this.endRuns(epoch, runIds, { status: 'cancelled', reason: 'CONCURRENCY_LIMIT', message, name: 'ConcurrencyLimit' });
    for (const c of decision.cancellations) if (!c.running) this.dropCandidate(c.taskRunId);
    if (this.epoch !== epoch) return;
    if (decision.nextWakeAt !== null) this.decideAt(decision.nextWakeAt);
    // While work waits and other engines' workers may take it, look again within a second: their freed
    // slots reach us by NOTIFY, which a reconnecting listener or an outage can lose.
    if (decision.waits.length > 0 && this.o.driver.capabilities.multiEngine) this.decideAt(decidedAt + 1_000);
    const assignments = decision.assignments.slice(0, this.o.maxBatch);
    if (assignments.length === 0) return;
    const pairs = (keys: readonly KeyRef[] | undefined) => (keys && keys.length > 0 ? keys.map((k) => [k.rule, k.key] as const) : null);
    const { assigned, fenced } = await taskAssign(this.o.driver.relaxed, {
      engineId: this.o.engineId,
      epoch,
      assignments: assignments.map((a) => {
        const ask = this.asks.get(a.taskRunId);
        return { taskRunId: a.taskRunId, workerId: a.workerId, keys: pairs(ask?.taskKeys), runKeys: pairs(ask?.runKeys) };
      }),
      notify: this.o.driver.capabilities.listenNotify,
      decidedAt,
      rateStates: this.flow.changedWindows(windowsBefore, decision.windows),
    });
    this.errorBackoffMs = 0;
    if (fenced) {
      this.deposed();
      return;
    }
    // Written or not (cancelled, or gone since the read), none of them is a candidate any more; those
    // not written leave their window in doubt. Units a write did not use stay consumed: over-counted, never under.
    const written = new Set(assigned.map((a) => a.task.taskRunId));
    this.flow.admitted(
      assigned.flatMap((a) => {
        const ask = this.asks.get(a.task.taskRunId);
        return ask ? [{ taskRunId: a.task.taskRunId, attempt: a.task.attempt, runId: ask.runId, taskKeys: ask.taskKeys, runKeys: ask.runKeys }] : [];
      }),
      decision.windows,
    );
    for (const a of assignments) {
      const action = this.actionOf.get(a.taskRunId);
      const window = action === undefined ? undefined : this.windows.get(action);
      if (!window) continue;
      window.gone.add(a.taskRunId);
      if (!written.has(a.taskRunId)) this.unread.add(action!);
      if (window.gone.size > 64 && window.gone.size * 2 > window.items.length) {
        window.items = window.items.filter((c) => !window.gone.has(c.taskRunId));
        window.gone.clear();
      }
    }
    for (const a of assigned) {
      const remote = this.remote.find((w) => w.workerId === a.workerId);
      if (remote) {
        remote.busy++;
        if (a.suspect) remote.holdsSuspect = true;
      }
    }
    this.pushDecided(assigned, sessions);
    // A deep queue's window is read on once it runs low.
    for (const [action, window] of this.windows) {
      if (!window.complete && waiting(window) < this.windowSize / 2) this.unread.add(action);
    }
    this.again = true;
  }

  /**
   * decide(), then, when candidates of queues without flow rules still wait for a slot, a second
   * decision for them over what workers may hold beyond their slots (their prefetch): a worker holds
   * attempts only once every free slot is taken, so work waits in a worker only while the queue is
   * deeper than the slots, and never where a concurrency key or a rate limit decides. Suspects are not
   * held (they go only to a worker running none: holders are marked as running one).
   */
  private decideWithHolds(input: Parameters<typeof decide>[0], holders: readonly WorkerState[]): ReturnType<typeof decide> {
    const first = decide(input);
    if (holders.length === 0) return first;
    const slotless = new Set<string>();
    for (const w of first.waits) if (w.reason.kind === 'no_slot') slotless.add(w.taskRunId);
    // `keyed` is any flow rule: such a queue's candidates are the only ones with keys or rate limits.
    const held = input.candidates.filter((c) => slotless.has(c.taskRunId) && !c.suspect && !this.flow.rulesFor(c.action).keyed);
    if (held.length === 0) return first;
    const second = decide({ ...input, candidates: held, running: [], rules: new Map(), workers: holders, windows: first.windows, rotation: first.rotation });
    if (second.assignments.length === 0) return first;
    const assigned = new Set(second.assignments.map((a) => a.taskRunId));
    return {
      ...second,
      assignments: [...first.assignments, ...second.assignments],
      waits: first.waits.filter((w) => !assigned.has(w.taskRunId)),
      cancellations: first.cancellations,
      nextWakeAt: first.nextWakeAt,
    };
  }

  /**
   * The candidates decide() sees, and the units holding keys. From a queue without flow rules, the first
   * few in queue order — only its head can start, and a freed slot must not cost a pass over thousands
   * of candidates. From a keyed queue, its window as FlowState passes it (a full key can hold back its
   * head, so what follows must be seen). Numbered oldest first together with the held units (uuidv7 ids
   * sort by time: FIFO across engines and restarts), which is the order cancellation strategies use.
   */
  private candidates(
    offered: ReadonlySet<string>,
    freeSlots: number,
    now: number,
    rules: Map<string, ConcurrencyRule>,
    unschedulable: Unschedulable[],
  ): { candidates: Candidate[]; running: RunningUnit[]; live: Set<string> | undefined; skipped: string[]; backlog: Set<string> } {
    const perAction = Math.max(64, 4 * freeSlots);
    /** The rotation groups with work in keyed windows (when the rotation may hold many gone), and the heads left out of this decision for want of slots. */
    const live = this.rotation.turns.size > 2 * this.liveGroups + 64 ? new Set<string>() : undefined;
    const skipped: string[] = [];
    const backlog = new Set<string>();
    const rows: Array<Omit<Candidate, 'seq'>> = [];
    this.actionOf.clear();
    this.asks.clear();
    let nextDue = Infinity;
    let keyed = false;
    /** The keys the keyed candidates ask: only the units holding one of them matter to the decision. */
    const asking = new Set<string>();
    for (const action of offered) {
      const window = this.windows.get(action);
      if (!window) continue;
      const actionRules = this.flow.rulesFor(action);
      if (actionRules.keyed) {
        keyed = true;
        for (const c of this.flow.keyedCandidates(window.items, { gone: window.gone, now, rules, unschedulable, perAction, freeSlots, turns: this.rotation.turns, asking, live, skipped, backlog })) {
          rows.push(c.candidate);
          this.actionOf.set(c.candidate.taskRunId, action);
          this.asks.set(c.candidate.taskRunId, c.ask);
        }
        for (const u of unschedulable) this.actionOf.set(u.taskRunId, action);
        continue;
      }
      // Without flow rules a candidate can only take a free slot: more than the free slots would be
      // decided over only to wait (at 10 slots, 64 a pass for 4.6 assigned made deciding 3× dearer).
      let taken = 0;
      for (const c of window.items) {
        if (taken >= freeSlots) break;
        if (window.gone.has(c.taskRunId)) continue;
        // Retries in backoff keep their place in the queue but must not hide what can start behind them.
        if (c.availableAt > now) {
          nextDue = Math.min(nextDue, c.availableAt);
          continue;
        }
        rows.push({ taskRunId: c.taskRunId, action, priority: c.priority, lifo: actionRules.lifo, availableAt: c.availableAt, suspect: c.suspect, keys: [], rateLimits: [] });
        this.actionOf.set(c.taskRunId, action);
        // Suspects wait for a worker without one; what follows them may start meanwhile.
        if (!c.suspect) taken++;
      }
    }
    if (nextDue !== Infinity) this.decideAt(nextDue);
    const held = keyed ? this.flow.heldUnits(asking) : [];
    const candidates = rows.map((c) => ({ ...c, seq: idSeq(c.taskRunId) }));
    // Held units are numbered by their own id (a task run's, or a run's for its workflow's keys).
    const running = held.map((u) => ({ taskRunId: u.taskRunId, keys: u.keys, seq: idSeq(u.taskRunId.startsWith('run:') ? u.runId : u.taskRunId) }));
    return { candidates, running, live, skipped, backlog };
  }

  /** The run a held unit belongs to (a task run's id, or `run:<id>`). */
  private unitRun(unitId: string): string | undefined {
    if (unitId.startsWith('run:')) return unitId.slice(4);
    return this.flow.heldRun(unitId);
  }

  /** A candidate taken out of the queue by this scheduler (cancelled or failed): no longer in its window. */
  private dropCandidate(taskRunId: string): void {
    this.flow.forget(taskRunId);
    this.waits.delete(taskRunId);
    const action = this.actionOf.get(taskRunId);
    if (action !== undefined) this.windows.get(action)?.gone.add(taskRunId);
  }

  /**
   * Ends runs under the lease's fence; their workers are told to stop what is in progress. The keys
   * they held are freed by the `runs.ended` reaction (ended()), as for runs a user cancels, before the
   * emit returns.
   */
  private async endRuns(epoch: number, runIds: string[], end: RunEnd): Promise<void> {
    if (runIds.length === 0) return;
    const result = await runCancel(this.o.driver, { runIds: [...new Set(runIds)], end, fence: { engineId: this.o.engineId, epoch } });
    if (result.active.length > 0) this.o.events.emit('attempts.cancelled', { attempts: result.active });
    if (result.cancelled.length > 0) this.o.events.emit('runs.ended', { runIds: result.cancelled, ended: result.ended, taskRunIds: result.active.map((a) => a.taskRunId) });
  }

  /**
   * Pushes what this engine decided to the sessions it decided for; attempts of a session that went away
   * meanwhile are orphans (nobody holds them: a newer session of the worker adopted only what it listed).
   * Those of workers attached elsewhere are their engine's to push. `found`: read back from the database
   * (see assignTo), so what a session was given already is not pushed again.
   */
  private pushDecided(assigned: readonly Assigned[], sessions: ReadonlyMap<string, WorkerSession>, found = false): void {
    const registry = this.registry();
    for (const [workerId, list] of groupByWorker(assigned)) {
      const session = sessions.get(workerId);
      if (!session) continue;
      if (registry.get(workerId) !== session) {
        this.o.events.emit('attempts.orphaned', { worker: session, tasks: list.map((a) => a.task) });
        continue;
      }
      this.assignTo(session, list, found);
    }
  }

  /** A fenced write showed the lease held by another (or at another epoch): the next renewal says so; decide nothing until then. */
  private deposed(): void {
    this.epoch = null;
    this.windows.clear();
    void this.lease.tick();
  }

  /** Pushes assignments found in the database to the workers attached here now. */
  private push(assigned: readonly Assigned[]): void {
    for (const [workerId, list] of groupByWorker(assigned)) {
      const worker = this.registry().get(workerId);
      if (worker) this.assignTo(worker, list, true);
    }
  }

  /**
   * Records and pushes attempts. What the database shows undelivered (`found`) goes only if this session
   * was not given it yet; what this engine's own statement just assigned always goes — even with an
   * attempt number given before: a crash of the database can lose an assignment's commit after its push,
   * and the task run is then assigned again under the same number. The worker itself refuses an attempt
   * it still runs.
   */
  private assignTo(worker: WorkerSession, list: readonly Assigned[], found: boolean): void {
    const fresh = list.filter((a) => worker.running.get(a.task.taskRunId) !== a.task.attempt && !(found && worker.given.has(`${a.task.taskRunId}:${a.task.attempt}`)));
    if (fresh.length === 0) return;
    this.registry().assign(
      worker,
      fresh.map((a) => a.task),
      fresh.filter((a) => a.suspect).map((a) => a.task.taskRunId),
    );
  }
}

/**
 * A uuidv7's order as a number: its millisecond timestamp (48 bits) then its 12-bit rand_a, which our ids
 * fill with a per-process counter — exact below 2^53, i.e. until 2039; ties (same millisecond and
 * counter, from different processes) are settled by decide() on the ids themselves.
 */
export function idSeq(id: string): number {
  const ms = Number.parseInt(id.slice(0, 8), 16) * 65_536 + Number.parseInt(id.slice(9, 13), 16);
  const seq = ms * 4_096 + Number.parseInt(id.slice(15, 18), 16);
  return Number.isSafeInteger(seq) ? seq : ms;
}

function groupByWorker(assigned: readonly Assigned[]): Map<string, Assigned[]> {
  const byWorker = new Map<string, Assigned[]>();
  for (const a of assigned) {
    const list = byWorker.get(a.workerId);
    if (list) list.push(a);
    else byWorker.set(a.workerId, [a]);
  }
  return byWorker;
}
