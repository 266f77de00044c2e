/**
 * The scheduler's decision: given the queued task runs of the queues this engine holds, what runs, the
 * connected workers and the limits, say which task run starts on which worker, which are cancelled under
 * a concurrency limit, and why each of the others waits. Pure: no I/O, no clock (`now` is an input), no
 * state but what goes in and comes out (`windows`, `rotation`), so it is unit-tested on plain data and
 * the service around it only records what it says.
 *
 * ## The order of checks
 * Each candidate ends with exactly one outcome: assigned, cancelled, or one wait reason — the first
 * blocker found in this order:
 *
 * 1. `units_over_limit`: it asks a rate-limit key for more units than the key's limit, so it can never
 *    start. It holds no place in any key and blocks nobody (the service should fail it).
 * 2. Cancellation (reason CONCURRENCY_LIMIT) — before any wait, because a cancelled run waits for nothing,
 *    and whatever else holds it back would only delay the cancellation. So when one rule would cancel a
 *    candidate and another would make it wait, cancellation wins. Computed over every member of a key,
 *    running or queued, due or in backoff, whatever the slots:
 *    - CANCEL_NEWEST, oldest first by seq: a queued run is kept while each of its CANCEL_NEWEST keys has
 *      fewer than maxRuns kept members, else cancelled. A running run is never cancelled by it (the
 *      strategy promises to cancel a new run before it starts) but takes its place, so a retry in backoff
 *      older than a running run waits for it instead of dying.
 *    - CANCEL_IN_PROGRESS, newest first by seq: a member (running or queued) is kept while each of its
 *      CANCEL_IN_PROGRESS keys has fewer than maxRuns kept members, else cancelled (`running` says which).
 *      A cancelled running run stops counting toward its keys at once, so its replacement can be
 *      admitted in this same decision: the service must record the cancellation no later than the
 *      assignments of the same decision.
 *    A member cancelled under one key takes no place in its other keys of the same strategy. A candidate
 *    under rules of both strategies meets CANCEL_NEWEST first: a run it cancels displaces nobody under
 *    CANCEL_IN_PROGRESS (the other order could stop a running run for a newcomer that is cancelled anyway).
 *    What remains: a run CANCEL_IN_PROGRESS then cancels has already taken its CANCEL_NEWEST place, so a
 *    newer run there may be cancelled that another order would have kept (never one too few cancelled).
 * 3. `backoff`: not available before `availableAt` (retry backoff). Feeds `nextWakeAt`.
 * 4. `no_worker`: no connected worker offers the action — the blocker a user must act on.
 * 5. `concurrency`: one of its keys already has maxRuns running or admitted in this decision (the first
 *    such key, in the candidate's order). Checked before rate limits: a full key frees only when a run
 *    ends, an event the service calls again on; a refill time is worth reporting only once keys admit.
 * 6. `rate_limit`: one of its rate-limit keys has too few units; `refillInMs` is computed against the
 *    windows as they are at the end of the decision (later admissions only push a refill later). A
 *    waiting large ask does not stop a later small one that fits (work-conserving; with equal units per
 *    task, as is usual, order is kept).
 * 7. `no_slot`: workers offer the action, but none has a free slot left.
 * 8. `suspect`: it is a suspect (lost with its worker SUSPECT_AFTER_LOSSES times) and every worker with a
 *    free slot for it already runs a suspect, or took one in this decision.
 * Only when every check passes is anything taken: a slot on one worker, one unit of each key, its units
 * of each rate window — all or nothing, so no candidate ever holds part of what it needs while waiting
 * for the rest (the chained-slot deadlock). Within one decision resources only shrink, so a candidate
 * that fails a check is final for the decision and each candidate is examined once.
 *
 * ## Who goes first
 * Priority first (3 before 1), strictly. Within a priority, candidates are grouped for rotation: a
 * candidate's group is its first GROUP_ROUND_ROBIN key (the strategy a user picks to share slots), else
 * its first key, else the one group of candidates without keys — and, since ordering is a property of a
 * queue, FIFO and LIFO candidates never share a group. Within a group, FIFO candidates go oldest first by
 * seq, LIFO newest first. Groups take turns, one admission per turn, least recently served first, so a
 * key with 10,000 waiting cannot starve a key with one, even when slots are scarce.
 *
 * Fairness holds across decisions through `rotation`: the service often decides with one free slot after
 * each finish, and a per-call rotation would always serve the same first group. `turns` maps each group to
 * the clock tick of its last turn; a group first seen joins at the back (a fresh tick), not the front,
 * so a stream of new keys cannot starve an old key either. New groups join in the order of their first
 * candidate (priority, then order). A group that had candidates in a decision and has none left waiting
 * is pruned; a group with no candidate in it keeps its turn. So the service may pass only the groups it
 * could serve now (the least recently served ones, by `turns`, and those new to it), provided that a
 * group it passes with more waiting behind is named in `backlog` (else, with nothing of it left
 * waiting here, it is pruned and joins at the back again); and it forgets, from `turns`, groups whose
 * work is gone, which keeps the state bounded by the waiting work.
 *
 * Workers: a candidate goes to a worker offering its action with a free slot, the workers of an action
 * taken in rotation (one assignment per worker per turn), starting where the previous decision stopped
 * (`rotation.workerCursor`), so short queues spread across workers instead of filling the first.
 *
 * Waking: `nextWakeAt` covers only what time alone frees (backoff ends, window refills). Everything else
 * frees on an event — a run ends or is cancelled, a worker connects or frees a slot, work is enqueued, a
 * rule changes — and the service decides again then.
 *
 * Cost: O(n log n) for n candidates plus running runs, plus the workers' offered actions and, per rate
 * check, the live sub-windows of the key (about 200 at most, see rate-window.ts).
 *
 * Changes to the sketch this was built from, and why: `units_over_limit` is its own wait reason (a
 * `rate_limit` wait promises a refill, which never comes); `rotation` is `{ clock, turns, workerCursor }`
 * so worker rotation survives across calls too; CANCEL_NEWEST spares running runs (above); groups split
 * by ordering (above).
 */
import { available, consume, refillAt, type RateWindow } from './rate-window.ts';

export type LimitStrategy = 'GROUP_ROUND_ROBIN' | 'CANCEL_IN_PROGRESS' | 'CANCEL_NEWEST';
const STRATEGIES: ReadonlySet<string> = new Set<LimitStrategy>(['GROUP_ROUND_ROBIN', 'CANCEL_IN_PROGRESS', 'CANCEL_NEWEST']);

export interface ConcurrencyRule {
  readonly id: string;
  readonly maxRuns: number;
  readonly strategy: LimitStrategy;
}

/** An evaluated concurrency key under a rule. */
export interface KeyRef {
  readonly rule: string;
  readonly key: string;
}

export interface RateAsk {
  readonly key: string;
  readonly units: number;
}

/** A queued task run of a queue this engine holds. */
export interface Candidate {
  readonly taskRunId: string;
  readonly action: string;
  /** 1..3, higher first. */
  readonly priority: number;
  /** Enqueue order: unique (with running runs' too), increasing. */
  readonly seq: number;
  /** Its queue's ordering: true = newest first within a priority. */
  readonly lifo: boolean;
  /** Not before this (ms, retry backoff). */
  readonly availableAt: number;
  readonly suspect: boolean;
  /** All must admit. */
  readonly keys: readonly KeyRef[];
  /** All must admit. The same key twice asks for the sum. */
  readonly rateLimits: readonly RateAsk[];
}

/**
 * Admitted and not ended: counts toward its keys. A key under a rule missing from `rules` counts for
 * nothing (no candidate can be admitted under an unknown rule: that is refused).
 */
export interface RunningUnit {
  readonly taskRunId: string;
  readonly seq: number;
  readonly keys: readonly KeyRef[];
}

export interface WorkerState {
  readonly id: string;
  readonly actions: ReadonlySet<string>;
  readonly freeSlots: number;
  /** It runs a suspect now: it takes no other. */
  readonly holdsSuspect: boolean;
}

/** Carried from one decision to the next; start with INITIAL_ROTATION. */
export interface RotationState {
  /** Bumped at every turn taken and every group joining. */
  readonly clock: number;
  /** Group → clock at its last turn (or joining); lowest goes first. Only groups with waiting candidates. */
  readonly turns: ReadonlyMap<string, number>;
  /** Where worker rotation starts next time. */
  readonly workerCursor: number;
}

export const INITIAL_ROTATION: RotationState = { clock: 0, turns: new Map(), workerCursor: 0 };

export interface DecideInput {
  readonly now: number;
  readonly candidates: readonly Candidate[];
  readonly running: readonly RunningUnit[];
  readonly rules: ReadonlyMap<string, ConcurrencyRule>;
  readonly workers: readonly WorkerState[];
  /** Rate-limit state per key; every key a candidate asks must be here. */
  readonly windows: ReadonlyMap<string, RateWindow>;
  readonly rotation: RotationState;
  /**
   * Rotation groups with waiting work beyond the candidates given: their turns are kept even when
   * every candidate of theirs given here is admitted (see "Who goes first").
   */
  readonly backlog?: ReadonlySet<string>;
}

export type WaitReason =
  | { kind: 'units_over_limit'; key: string; units: number; limit: number }
  | { kind: 'backoff'; untilMs: number }
  | { kind: 'no_worker'; action: string }
  | { kind: 'concurrency'; rule: string; key: string; maxRuns: number }
  | { kind: 'rate_limit'; key: string; refillInMs: number }
  | { kind: 'no_slot'; action: string }
  | { kind: 'suspect' };

export interface Assignment {
  taskRunId: string;
  workerId: string;
}

/** Reason CONCURRENCY_LIMIT: `rule`/`key` is the full key that cancelled it. */
export interface Cancellation {
  taskRunId: string;
  running: boolean;
  rule: string;
  key: string;
}

export interface Wait {
  taskRunId: string;
  reason: WaitReason;
}

export interface Decision {
  /** In decision order: priority, then rotation. */
  assignments: Assignment[];
  cancellations: Cancellation[];
  /** Every candidate neither assigned nor cancelled, once. */
  waits: Wait[];
  /** Every input window, with the units consumed by the assignments. */
  windows: Map<string, RateWindow>;
  rotation: RotationState;
  /** Earliest time a waiting candidate could become admissible by time alone (backoff end, refill); see the header. */
  nextWakeAt: number | null;
}

/** A concurrency key's tally in this decision. */
interface KeyState {
  readonly rule: ConcurrencyRule;
  readonly key: string;
  /** Running (not cancelled) plus admitted in this decision. */
  count: number;
  /** Members kept so far by the cancellation pass of this key's strategy. */
  kept: number;
}

/** A running run or a candidate, as the cancellation pass sees it. */
interface Member {
  readonly taskRunId: string;
  readonly seq: number;
  readonly keys: readonly KeyState[];
  readonly running: boolean;
}

interface Entry extends Member {
  readonly candidate: Candidate;
  /** Parallel to candidate.keys. */
  readonly keys: readonly KeyState[];
  /** Per rate-limit key, summed. */
  readonly asks: ReadonlyArray<{ key: string; units: number }>;
  readonly group: string;
  /** Ascending = served first within a group. */
  readonly order: number;
}

export function decide(input: DecideInput): Decision {
  const { now } = input;
  if (!Number.isFinite(now)) throw new RangeError(`decide: now must be a finite time in ms, got ${String(now)}`);
  const { keyStates, cancelRules } = keyTable(input.rules);
  const windows = new Map(input.windows);
  const assignments: Assignment[] = [];
  const waits: Wait[] = [];
  const rateWaits: Array<{ reason: { refillInMs: number }; key: string; units: number }> = [];
  let nextWakeAt = Infinity;
  /** Groups with a candidate left waiting: the rotation keeps only these. */
  const waitingGroups = new Set<string>();
  const wait = (entry: Entry, reason: WaitReason, inRotation = true): void => {
    waits.push({ taskRunId: entry.taskRunId, reason });
    if (inRotation) waitingGroups.add(entry.group);
  };

  // 1. Resolve and check the input; candidates that can never pass leave at once.
  const seen = new Set<string>();
  const entries: Entry[] = [];
  for (const candidate of input.candidates) {
    const entry = resolveCandidate(candidate, keyStates, windows, seen);
    const over = entry.asks.find((ask) => ask.units > windows.get(ask.key)!.limit);
    if (over) wait(entry, { kind: 'units_over_limit', key: over.key, units: over.units, limit: windows.get(over.key)!.limit }, false);
    else entries.push(entry);
  }
  const running: Member[] = input.running.map((unit) => {
    claimId(seen, unit.taskRunId);
    checkFinite('seq', unit.seq, unit.taskRunId);
    const keys = unit.keys.map((ref) => keyStates(ref)).filter((state): state is KeyState => state !== undefined);
    return { taskRunId: unit.taskRunId, seq: unit.seq, keys, running: true };
  });

  // 2. Cancellations, then what still runs counts toward its keys.
  const cancellations = cancelRules ? decideCancellations([...running, ...entries]) : [];
  const cancelled = new Set(cancellations.map((c) => c.taskRunId));
  for (const unit of running) if (!cancelled.has(unit.taskRunId)) for (const state of unit.keys) state.count++;

  // 3. Backoff and missing workers; everything else is eligible, in serving order.
  const live = cancellations.length === 0 ? entries : entries.filter((e) => !cancelled.has(e.taskRunId));
  live.sort(servingOrder);
  const pool = new WorkerPool(input.workers, new Set(live.map((e) => e.candidate.action)), input.rotation.workerCursor);
  const turns = new Map(input.rotation.turns);
  let clock = input.rotation.clock;
  const eligible: Entry[] = [];
  for (const entry of live) {
    if (!turns.has(entry.group)) turns.set(entry.group, ++clock);
    const { candidate } = entry;
    if (candidate.availableAt > now) {
      wait(entry, { kind: 'backoff', untilMs: candidate.availableAt });
      nextWakeAt = Math.min(nextWakeAt, candidate.availableAt);
    } else if (!pool.offers(candidate.action)) wait(entry, { kind: 'no_worker', action: candidate.action });
    else eligible.push(entry);
  }

  /** Admits the entry, or records its first blocker (checks 5–8) and returns false. */
  const tryAdmit = (entry: Entry): boolean => {
    const { candidate } = entry;
    const full = entry.keys.find((state) => state.count >= state.rule.maxRuns);
    if (full) {
      wait(entry, { kind: 'concurrency', rule: full.rule.id, key: full.key, maxRuns: full.rule.maxRuns });
      return false;
    }
    const short = entry.asks.find((ask) => available(windows.get(ask.key)!, now) < ask.units);
    if (short) {
      const reason = { kind: 'rate_limit' as const, key: short.key, refillInMs: 0 };
      rateWaits.push({ reason, key: short.key, units: short.units });
      wait(entry, reason);
      return false;
    }
    const worker = pool.pick(candidate.action, candidate.suspect);
    if (typeof worker !== 'number') {
      wait(entry, worker === 'no_slot' ? { kind: 'no_slot', action: candidate.action } : { kind: 'suspect' });
      return false;
    }
    // Every check passed: take it all.
    assignments.push({ taskRunId: entry.taskRunId, workerId: pool.take(worker, candidate.action, candidate.suspect) });
    for (const state of entry.keys) state.count++;
    for (const ask of entry.asks) windows.set(ask.key, consume(windows.get(ask.key)!, now, ask.units));
    return true;
  };

  // 4. Per priority level, groups take turns: least recently served first, one admission per turn.
  for (let start = 0; start < eligible.length; ) {
    const priority = eligible[start]!.candidate.priority;
    let end = start;
    const groups = new Map<string, { entries: Entry[]; next: number }>();
    for (; end < eligible.length && eligible[end]!.candidate.priority === priority; end++) {
      const entry = eligible[end]!;
      const group = groups.get(entry.group);
      if (group) group.entries.push(entry);
      else groups.set(entry.group, { entries: [entry], next: 0 });
    }
    const queue = [...groups.keys()].sort((a, b) => turns.get(a)! - turns.get(b)!);
    for (let head = 0; head < queue.length; head++) {
      const id = queue[head]!;
      const group = groups.get(id)!;
      while (group.next < group.entries.length) {
        if (tryAdmit(group.entries[group.next++]!)) {
          turns.set(id, ++clock);
          if (group.next < group.entries.length) queue.push(id);
          break;
        }
      }
    }
    start = end;
  }

  // 5. Refill times against the final windows; prune rotation to groups still waiting.
  for (const pending of rateWaits) {
    const at = refillAt(windows.get(pending.key)!, now, pending.units)!;
    pending.reason.refillInMs = at - now;
    nextWakeAt = Math.min(nextWakeAt, at);
  }
  // `turns` is this decision's own copy: prune it in place, visiting only the groups it saw.
  for (const entry of entries) if (!waitingGroups.has(entry.group) && !input.backlog?.has(entry.group)) turns.delete(entry.group);
  const keptTurns = turns;

  return {
    assignments,
    cancellations,
    waits,
    windows,
    rotation: { clock, turns: keptTurns, workerCursor: pool.nextCursor(assignments.length) },
    nextWakeAt: nextWakeAt === Infinity ? null : nextWakeAt,
  };
}

/** Priority desc, then a group's order (FIFO by seq, LIFO newest first); the run id settles ties. */
function servingOrder(a: Entry, b: Entry): number {
  return b.candidate.priority - a.candidate.priority || a.order - b.order || compareIds(a.taskRunId, b.taskRunId);
}

function compareIds(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Check 2 (see the header): CANCEL_NEWEST oldest first, then CANCEL_IN_PROGRESS newest first. */
function decideCancellations(members: Member[]): Cancellation[] {
  members.sort((a, b) => a.seq - b.seq || compareIds(a.taskRunId, b.taskRunId));
  const cancellations: Cancellation[] = [];
  const cancelled = new Set<string>();
  const pass = (member: Member, strategy: LimitStrategy): void => {
    if (cancelled.has(member.taskRunId)) return;
    const keys = member.keys.filter((state) => state.rule.strategy === strategy);
    if (keys.length === 0) return;
    const spared = strategy === 'CANCEL_NEWEST' && member.running;
    const full = spared ? undefined : keys.find((state) => state.kept >= state.rule.maxRuns);
    if (full) {
      cancelled.add(member.taskRunId);
      cancellations.push({ taskRunId: member.taskRunId, running: member.running, rule: full.rule.id, key: full.key });
    } else {
      for (const state of keys) state.kept++;
    }
  };
  for (const member of members) pass(member, 'CANCEL_NEWEST');
  for (let i = members.length - 1; i >= 0; i--) pass(members[i]!, 'CANCEL_IN_PROGRESS');
  return cancellations;
}

/**
 * Key states by rule and key, made on first use; undefined for a rule not in `rules`. `cancelRules`:
 * some rule cancels, so the cancellation pass has work.
 */
function keyTable(rules: ReadonlyMap<string, ConcurrencyRule>): { keyStates: (ref: KeyRef) => KeyState | undefined; cancelRules: boolean } {
  let cancelRules = false;
  for (const [id, rule] of rules) {
    if (rule.strategy !== 'GROUP_ROUND_ROBIN') cancelRules = true;
    if (rule.id !== id) throw new TypeError(`decide: rule filed under "${id}" has id "${rule.id}"`);
    if (!Number.isSafeInteger(rule.maxRuns) || rule.maxRuns < 1) {
      throw new RangeError(`decide: rule "${id}" needs maxRuns ≥ 1 (an integer), got ${String(rule.maxRuns)}`);
    }
    if (!STRATEGIES.has(rule.strategy)) throw new TypeError(`decide: rule "${id}" has unknown strategy "${String(rule.strategy)}"`);
  }
  const states = new Map<string, Map<string, KeyState>>();
  const keyStates = (ref: KeyRef): KeyState | undefined => {
    const rule = rules.get(ref.rule);
    if (!rule) return undefined;
    let byKey = states.get(ref.rule);
    if (!byKey) states.set(ref.rule, (byKey = new Map()));
    let state = byKey.get(ref.key);
    if (!state) byKey.set(ref.key, (state = { rule, key: ref.key, count: 0, kept: 0 }));
    return state;
  };
  return { keyStates, cancelRules };
}

function resolveCandidate(
  candidate: Candidate,
  keyStates: (ref: KeyRef) => KeyState | undefined,
  windows: ReadonlyMap<string, RateWindow>,
  seen: Set<string>,
): Entry {
  const id = candidate.taskRunId;
  claimId(seen, id);
  checkFinite('seq', candidate.seq, id);
  checkFinite('priority', candidate.priority, id);
  checkFinite('availableAt', candidate.availableAt, id);
  const rulesSeen = new Set<string>();
  const keys = candidate.keys.map((ref) => {
    const state = keyStates(ref);
    if (!state) throw new TypeError(`decide: task run ${id} has a key under unknown rule "${ref.rule}"`);
    if (rulesSeen.has(ref.rule)) throw new TypeError(`decide: task run ${id} has two keys under rule "${ref.rule}"`);
    rulesSeen.add(ref.rule);
    return state;
  });
  const asks: Array<{ key: string; units: number }> = [];
  for (const ask of candidate.rateLimits) {
    if (!windows.has(ask.key)) throw new TypeError(`decide: task run ${id} asks rate-limit key "${ask.key}", which has no window`);
    if (!Number.isSafeInteger(ask.units) || ask.units < 0) {
      throw new RangeError(`decide: task run ${id} asks ${String(ask.units)} units of "${ask.key}"; units are integers ≥ 0`);
    }
    const same = asks.find((a) => a.key === ask.key);
    if (same) same.units += ask.units;
    else asks.push({ key: ask.key, units: ask.units });
  }
  const group = rotationGroup(keys, candidate.lifo);
  return {
    taskRunId: id,
    seq: candidate.seq,
    running: false,
    candidate,
    keys,
    asks,
    group,
    order: candidate.lifo ? -candidate.seq : candidate.seq,
  };
}

/**
 * The rotation group of a candidate with these keys (see the header): its first GROUP_ROUND_ROBIN key,
 * else its first key, else the keyless group, apart by ordering. The service reads a group's turn under it.
 */
export function rotationGroup(keys: ReadonlyArray<{ readonly rule: ConcurrencyRule; readonly key: string }>, lifo: boolean): string {
  const rotating = keys.find((state) => state.rule.strategy === 'GROUP_ROUND_ROBIN') ?? keys[0];
  // Length-prefixed so that no rule/key pair can spell another; '-' (no digit) is the keyless group.
  return (lifo ? 'L' : 'F') + (rotating ? `${rotating.rule.id.length}:${rotating.rule.id}${rotating.key}` : '-');
}

/** Whether a rotation group is a key's (not the keyless group of a FIFO or LIFO queue). */
export function isKeyGroup(group: string): boolean {
  return group[1] !== '-';
}

function claimId(seen: Set<string>, id: string): void {
  if (seen.has(id)) throw new TypeError(`decide: task run ${id} is given twice (candidates and running runs must be distinct)`);
  seen.add(id);
}

function checkFinite(name: string, value: number, id: string): void {
  if (!Number.isFinite(value)) throw new RangeError(`decide: task run ${id} has ${name} ${String(value)}; a finite number is needed`);
}

/**
 * Free slots per worker, and per action a ring of the workers with a free slot for it (and one of those
 * that may also take a suspect). Within a decision workers only lose slots and gain suspects, so a worker
 * that stops qualifying is dropped from a ring lazily, for good: each pick costs O(1) amortized.
 */
class WorkerPool {
  private readonly ids: string[] = [];
  private readonly free: number[] = [];
  private readonly holdsSuspect: boolean[] = [];
  private readonly offered = new Set<string>();
  private readonly rings = new Map<string, Ring>();
  private readonly suspectRings = new Map<string, Ring>();
  private readonly start: number;

  constructor(workers: readonly WorkerState[], needed: ReadonlySet<string>, cursor: number) {
    const n = workers.length;
    this.start = n === 0 || !Number.isSafeInteger(cursor) ? 0 : ((cursor % n) + n) % n;
    const seen = new Set<string>();
    for (let i = 0; i < n; i++) {
      const worker = workers[(this.start + i) % n]!;
      if (seen.has(worker.id)) throw new TypeError(`decide: worker ${worker.id} is given twice`);
      seen.add(worker.id);
      if (!Number.isSafeInteger(worker.freeSlots)) throw new RangeError(`decide: worker ${worker.id} has freeSlots ${String(worker.freeSlots)}`);
      const index = this.ids.length;
      this.ids.push(worker.id);
      this.free.push(Math.max(0, worker.freeSlots));
      this.holdsSuspect.push(worker.holdsSuspect);
      // Walk whichever side is smaller: the worker's actions, or the actions with candidates.
      const actions = worker.actions.size <= needed.size ? [...worker.actions].filter((a) => needed.has(a)) : [...needed].filter((a) => worker.actions.has(a));
      for (const action of actions) {
        this.offered.add(action);
        if (this.free[index]! === 0) continue;
        ringOf(this.rings, action).items.push(index);
        if (!worker.holdsSuspect) ringOf(this.suspectRings, action).items.push(index);
      }
    }
  }

  offers(action: string): boolean {
    return this.offered.has(action);
  }

  /** A worker that can take a task run of `action` now, or what stops it. Takes nothing. */
  pick(action: string, suspect: boolean): number | 'no_slot' | 'suspect' {
    const worker = this.rings.get(action)?.peek((i) => this.free[i]! > 0);
    if (worker === undefined) return 'no_slot';
    if (!suspect) return worker;
    return this.suspectRings.get(action)?.peek((i) => this.free[i]! > 0 && !this.holdsSuspect[i]) ?? 'suspect';
  }

  /** Takes a slot on the worker `pick` just returned; the next pick for the action tries the next worker. */
  take(worker: number, action: string, suspect: boolean): string {
    this.free[worker]!--;
    if (suspect) this.holdsSuspect[worker] = true;
    (suspect ? this.suspectRings : this.rings).get(action)!.rotate();
    return this.ids[worker]!;
  }

  nextCursor(assigned: number): number {
    return this.ids.length === 0 ? 0 : (this.start + assigned) % this.ids.length;
  }
}

/** A rotating queue of worker indexes: the front is next; `rotate` sends it to the back. */
class Ring {
  readonly items: number[] = [];
  private head = 0;

  /** The first item that passes `valid`, dropping the ones before it for good. */
  peek(valid: (item: number) => boolean): number | undefined {
    while (this.head < this.items.length && !valid(this.items[this.head]!)) this.head++;
    return this.items[this.head];
  }

  rotate(): void {
    this.items.push(this.items[this.head++]!);
  }
}

function ringOf(rings: Map<string, Ring>, action: string): Ring {
  let ring = rings.get(action);
  if (!ring) rings.set(action, (ring = new Ring()));
  return ring;
}
