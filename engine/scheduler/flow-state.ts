/**
 * The flow-rule state the scheduler holder keeps between decisions (docs/scheduler.md): the compiled
 * rules of each workflow version its queues hold, the concurrency keys held now, and the rate windows.
 * Loaded from the database when the lease is taken and when something says it changed; between loads,
 * the holder is the only writer of what it keeps (it records every admission itself), so memory is
 * exact. Anything it may have missed (an end it was not told of) only over-counts a key until the next
 * load: a run waits a little longer, never one too many starts.
 */
import type { Queryable } from '../db/driver.ts';
import { heldKeysList, workflowDefinitionList } from '../sql/scheduler-state.ts';
import { rateLimitListAll, type StoredRateLimit } from '../sql/rate-limit.ts';
import type { KeyPairs, QueuedCandidate, RateState } from '../sql/task-assign.ts';
import { RATE_LIMIT_DURATION_MS, type RateLimitDuration } from '../../shared/flow-control.ts';
import { rotationGroup, type Candidate, type ConcurrencyRule, type KeyRef, type RunningUnit } from './decide.ts';
import { actionRulesOf, evaluateRules, NO_RULES, type ActionRules, type Evaluated } from './flow-rules.ts';
import { createWindow, parseWindow, reconfigureWindow, type RateWindow } from './rate-window.ts';
import { workflowAction } from '../../shared/workflow-definition.ts';

/** The concurrency rule of this id among an action's rules (its task's or its workflow's), if any. */
function ruleOf(rules: ActionRules, id: string): ConcurrencyRule | undefined {
  return (rules.task.find((x) => x.rule.id === id) ?? rules.workflow.find((x) => x.rule.id === id))?.rule;
}

/** The workflow an action belongs to: '<workflow>:<task>', or a standalone task's own name. */
function workflowOf(action: string): string {
  const at = action.indexOf(':');
  return at < 0 ? action : action.slice(0, at);
}

const NO_CHILDREN: ReadonlySet<string> = new Set();

interface HeldUnit extends RunningUnit {
  runId: string;
  /** The attempt that took a task's keys, when this engine admitted it (null: read from the database). */
  attempt: number | null;
  /** keyId() of each of its keys. */
  ids: readonly string[];
}

/** One string per (rule, key): how counts per key are filed. */
function keyId(k: KeyRef): string {
  return `${k.rule}\u0000${k.key}`;
}

type RateAsks = Extract<Evaluated, { ok: true }>['rateLimits'];

function staticRates(asks: RateAsks): boolean {
  for (const a of asks) if (a.dynamic) return false;
  return true;
}

/** Same static keys and units, in the same order. */
function sameRates(a: RateAsks, b: RateAsks): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (b[i]!.dynamic || a[i]!.key !== b[i]!.key || a[i]!.units !== b[i]!.units) return false;
  return true;
}

/** Task runs of one window asking the same keys, in window order; `cursor` skips those gone at the front. */
interface WindowGroup {
  items: QueuedCandidate[];
  cursor: number;
  /** What every member asks: its task's keys, then its workflow's (the group is made of what they ask). */
  keys: readonly KeyRef[];
  /** keyId() of each of `keys`; of the task's keys; of the workflow's. */
  ids: string[];
  taskIds: string[];
  workflowIds: string[];
  /** It asks concurrency keys (else rate limits alone). */
  keyed: boolean;
  /** Its rules could not be evaluated: each is failed. */
  failed: boolean;
  /**
   * Without concurrency keys, every member asks the same static rate limits with the same units: the
   * first that a limit holds back holds back all that follow, so no more than the free slots and the
   * one that says why it waits are worth deciding over.
   */
  uniformRates: boolean;
  /** The rate asks of its first member. */
  rates: RateAsks;
  /** Set by each decision (keyedCandidates): the rule of each key, the smallest maxRuns, a cancelling strategy among them. */
  rules: ConcurrencyRule[];
  maxRuns: number;
  cancels: boolean;
  /** Its rotation group in decide(). */
  rotation: string;
  /** The definitionsRead these were resolved at (-1: not yet). */
  rulesAt: number;
  /** Given to the last decision (or new): its front may have gone since. */
  passed: boolean;
}

function newGroup(taskKeys: readonly KeyRef[], workflowKeys: readonly KeyRef[], failed: boolean): WindowGroup {
  const taskIds = taskKeys.map(keyId);
  const workflowIds = workflowKeys.map(keyId);
  return {
    items: [],
    cursor: 0,
    keys: [...taskKeys, ...workflowKeys],
    ids: [...taskIds, ...workflowIds],
    taskIds,
    workflowIds,
    keyed: taskIds.length + workflowIds.length > 0,
    failed,
    uniformRates: false,
    rates: [],
    rules: [],
    maxRuns: Infinity,
    cancels: false,
    rotation: '',
    rulesAt: -1,
    passed: true,
  };
}

interface RateEntry {
  window: RateWindow;
  kind: 'static' | 'dynamic';
  duration: RateLimitDuration;
}

/** A candidate that cannot be scheduled as it is: its run is failed with this message. */
export interface Unschedulable {
  taskRunId: string;
  runId: string;
  message: string;
}

export class FlowState {
  /** `<workflow>@<version>` → its actions' rules. Versions never change once stored. */
  private readonly compiled = new Map<string, Map<string, ActionRules>>();
  /** Workflow → latest version, as last read. */
  private readonly latest = new Map<string, number>();
  private definitionsStale = true;
  private readonly held = new Map<string, HeldUnit>();
  /** Per keyId(), how many held units hold it (kept with `held`, by hold() and release()). */
  private readonly heldCount = new Map<string, number>();
  private heldStale = true;
  private heldReadAt = 0;
  private readonly rates = new Map<string, RateEntry>();
  private ratesStale = true;
  private ratesReadAt = -Infinity;
  /** A candidate asked for something not known: decide again once it is read. */
  private retry = false;
  /** Each keyed window's task runs grouped by the keys they ask (made once per window read). */
  private readonly grouped = new WeakMap<readonly QueuedCandidate[], WindowGroup[]>();
  /** Evaluated once per task run while it waits (its input does not change). */
  private readonly evaluated = new Map<string, Evaluated>();
  /** Counts the definitions stored: what was resolved from them before is resolved again. */
  private definitionsRead = 0;
  /** Some definition read so far declares concurrency keys. */
  private anyKeyRules = false;
  /** A workflow task's action → the actions of the tasks that name it a parent, in any version read. */
  private readonly children = new Map<string, Set<string>>();

  /** Everything is read again before the next decision (a new lease, a reconnected listener). */
  reset(): void {
    this.definitionsStale = true;
    this.heldStale = true;
    this.ratesStale = true;
    this.clearHeld();
    this.evaluated.clear();
  }

  /**
   * A write may have committed without this engine hearing back (an error mid-statement): what it keeps
   * of held keys and rate windows may be behind the database, so both are read again, the database's
   * windows taking precedence over memory's.
   */
  distrust(): void {
    this.heldStale = true;
    this.ratesStale = true;
    this.rates.clear();
  }

  definitionsChanged(): void {
    this.definitionsStale = true;
  }

  rateLimitsChanged(): void {
    this.ratesStale = true;
  }

  /** Another engine's workers ended work we were not told about one by one: read the held keys again. */
  heldChanged(): void {
    this.heldStale = true;
  }

  /** Whether the rules known now may be out of date (direct assignment must not guess). */
  get uncertain(): boolean {
    return this.definitionsStale;
  }

  /**
   * Reads what is stale, for the workflows of these actions. `heldMaxAgeMs`: the held keys are read again
   * when older than this (a safety net for ends this engine was not told of), if any key is in use.
   */
  async refresh(db: Queryable, actions: Iterable<string>, options: { heldMaxAgeMs: number; now: number }): Promise<void> {
    const unknown = new Set<string>();
    for (const action of actions) {
      const wf = workflowOf(action);
      if (!this.latest.has(wf)) unknown.add(wf);
    }
    if (this.definitionsStale || unknown.size > 0) {
      const names = this.definitionsStale ? [...new Set([...this.latest.keys(), ...unknown])] : [...unknown];
      this.definitionsStale = false;
      for (const d of await workflowDefinitionList(db, { latestOf: names })) this.store(d.name, d.version, d.definition, d.latest);
      // A name not found has no definition yet (a trigger raced its registration): nothing to apply.
      for (const name of names) if (!this.latest.has(name)) this.latest.set(name, 0);
      this.definitionsRead++;
    }
    const keysInUse = this.anyKeyRules || this.held.size > 0;
    if (keysInUse && (this.heldStale || options.now - this.heldReadAt > options.heldMaxAgeMs)) {
      this.heldStale = false;
      this.heldReadAt = options.now;
      const held = await heldKeysList(db);
      this.clearHeld();
      for (const h of held) this.hold(h.unitId, h.runId, h.keys.map(([rule, key]) => ({ rule, key })), null);
    }
    if (this.ratesStale) {
      this.ratesStale = false;
      this.ratesReadAt = options.now;
      this.loadRates(await rateLimitListAll(db));
    }
  }

  /** Compiles the versions these candidates were created under, if not yet known. */
  async ensureVersions(db: Queryable, candidates: readonly QueuedCandidate[]): Promise<void> {
    const missing = new Map<string, { name: string; version: number }>();
    for (const c of candidates) {
      if (!c.detail) continue;
      const name = workflowOf(c.action);
      const id = `${name}@${c.detail.workflowVersion}`;
      if (!this.compiled.has(id)) missing.set(id, { name, version: c.detail.workflowVersion });
    }
    if (missing.size === 0) return;
    for (const d of await workflowDefinitionList(db, { latestOf: [], versions: [...missing.values()] })) this.store(d.name, d.version, d.definition, false);
  }

  /**
   * The actions of the tasks that have this workflow task as a parent, in the versions read so far (a
   * run of a version not read releases children this does not name: they go through the queue).
   */
  childActions(action: string): ReadonlySet<string> {
    return this.children.get(action) ?? NO_CHILDREN;
  }

  /** The rules of an action's latest version (none when it has no definition yet). */
  rulesFor(action: string): ActionRules {
    const wf = workflowOf(action);
    return this.rulesAt(action, this.latest.get(wf) ?? 0);
  }

  /**
   * Decision candidates from one keyed queue's window, with their keys and rate asks; those whose rules
   * cannot be worked out go to `unschedulable`. The window is grouped once (by the keys its task runs
   * ask, each evaluated once), and a decision costs about the slots it fills, not the depth of the queue
   * nor the number of keys:
   * - from a round-robin key's group, only if decide() would reach it with the slots free: the groups
   *   new to the rotation (not in `turns`: they join it now), then those with room in their keys, least
   *   recently served first (`turns`), until they could fill `freeSlots`. A group with no room, or beyond
   *   the slots, is not passed: it keeps its turn (decide.ts, "Who goes first") and the wait it was last
   *   given; the heads of those left out for want of slots are listed in `skipped`. Each passed group
   *   gives up to its share of the slots; one whose keys keep room after it, with more behind what it
   *   gave, is named in `backlog`, so that decide() keeps its turn;
   * - from the group without concurrency keys (rate limits alone), the free slots and one more when its
   *   members all ask the same static limits (the first held back holds back the rest), else up to
   *   `perAction` (dynamic keys: one key's wait does not hold back another's); suspects, which wait for
   *   a worker running none, take no place in it, as in a queue without rules;
   * - from a group under a cancelling strategy, everything (it must see every member to cancel the
   *   right ones); the task runs whose rules fail, all (each is failed).
   * Of a run that has not taken its workflow's keys, only the first task run asks for them and the rest
   * wait behind it (they would otherwise take the run's keys twice). `live`, if given, is told the
   * rotation group of every group with work, so the caller can forget the turns of the others.
   */
  keyedCandidates(
    items: readonly QueuedCandidate[],
    options: {
      gone: ReadonlySet<string>;
      now: number;
      rules: Map<string, ConcurrencyRule>;
      unschedulable: Unschedulable[];
      perAction: number;
      freeSlots: number;
      turns: ReadonlyMap<string, number>;
      asking: Set<string>;
      live?: Set<string>;
      skipped: string[];
      /** Told the rotation group of each group passed with more waiting behind what it gave (decide() keeps their turns). */
      backlog: Set<string>;
    },
  ): Array<{ candidate: Omit<Candidate, 'seq'>; ask: { runId: string; taskKeys: KeyRef[]; runKeys: KeyRef[] } }> {
    let groups = this.grouped.get(items);
    if (!groups) {
      groups = this.group(items);
      this.grouped.set(items, groups);
    }
    // Per key: what runs now (heldCount), plus what this decision passes (`passed`).
    const passed = new Map<string, number>();
    const count = (id: string): number => (this.heldCount.get(id) ?? 0) + (passed.get(id) ?? 0);
    /** How many more the group's keys from..to (indexes into `ids`) admit before one of them is full. */
    const headroom = (g: WindowGroup, from: number, to: number): number => {
      let room = Infinity;
      for (let i = from; i < to; i++) room = Math.min(room, g.rules[i]!.maxRuns - count(g.ids[i]!));
      return room;
    };
    /** Whether one of those keys has maxRuns running or passed. */
    const anyFull = (g: WindowGroup, from: number, to: number): boolean => headroom(g, from, to) <= 0;

    // Which groups to take from. The rules of a keyed group's keys, as this decision applies them: the
    // code's latest maxRuns and strategy apply to every run of a key, whatever version made it.
    const chosen: WindowGroup[] = [];
    const roomy: Array<{ group: WindowGroup; turn: number }> = [];
    let keysWithRoom = 0;
    for (const group of groups) {
      // Only what a decision was given can have left the window since (assigned, cancelled, failed).
      if (group.passed) {
        while (group.cursor < group.items.length && options.gone.has(group.items[group.cursor]!.taskRunId)) group.cursor++;
        group.passed = false;
      }
      if (group.cursor >= group.items.length) continue;
      if (!group.keyed) {
        chosen.push(group);
        continue;
      }
      const head = group.items[group.cursor]!;
      if (group.rulesAt !== this.definitionsRead) this.resolveGroup(group, head);
      options.live?.add(group.rotation);
      // Room for its head: in the task's keys, and in the workflow's unless its run holds them already.
      const d = head.detail!;
      const asksRunKeys = group.workflowIds.length > 0 && !d.runAdmitted && !this.held.has(`run:${d.runId}`);
      const room = !anyFull(group, 0, asksRunKeys ? group.ids.length : group.taskIds.length);
      if (room) keysWithRoom++;
      const turn = options.turns.get(group.rotation);
      // New to the rotation, or cancelling (it must be seen whole): passed whatever the slots.
      if (turn === undefined || group.cancels) chosen.push(group);
      else if (room) roomy.push({ group, turn });
    }
    // The free slots are shared among the keys that can still take one (a full key passes only the one
    // that says why it waits): keys take turns, one admission each per turn, so with F free slots and K
    // keys with room no key is admitted more than ceil(F / K) times in one decision.
    const turnShare = Math.ceil(options.freeSlots / Math.max(1, keysWithRoom));
    roomy.sort((a, b) => a.turn - b.turn);
    let capacity = 0;
    for (const { group } of roomy) {
      if (capacity >= options.freeSlots) {
        options.skipped.push(group.items[group.cursor]!.taskRunId);
        continue;
      }
      chosen.push(group);
      capacity += Math.max(1, Math.min(turnShare, group.maxRuns));
    }

    const out: Array<{ candidate: Omit<Candidate, 'seq'>; ask: { runId: string; taskKeys: KeyRef[]; runKeys: KeyRef[] } }> = [];
    const runsAsking = new Set<string>();
    for (const group of chosen) {
      group.passed = true;
      // The first rule given under an id stands (decide() takes one per id; versions that still declare
      // a key agree with the latest, and only a key the latest version dropped can differ).
      for (const rule of group.rules) if (!options.rules.has(rule.id)) options.rules.set(rule.id, rule);
      // A round-robin group gives its share. If that leaves its keys room, what stays behind keeps the
      // group's turn (`backlog`); if it fills them, the group leaves the rotation with nothing waiting and
      // joins again when next passed, its head then waiting on the key and saying so.
      let quota: number;
      let keepsTurn = false;
      if (group.failed || group.cancels) quota = Infinity;
      else if (group.keyed) {
        const head = group.items[group.cursor]!.detail!;
        const asksRunKeys = group.workflowIds.length > 0 && !head.runAdmitted && !this.held.has(`run:${head.runId}`);
        quota = Math.max(1, Math.min(turnShare, group.maxRuns));
        keepsTurn = headroom(group, 0, asksRunKeys ? group.ids.length : group.taskIds.length) > quota;
      } else quota = group.uniformRates ? options.freeSlots + 1 : options.perAction;
      let taken = 0;
      let i = group.cursor;
      for (; i < group.items.length && taken < quota; i++) {
        const item = group.items[i]!;
        if (options.gone.has(item.taskRunId)) continue;
        const d = item.detail!;
        const e = this.evaluated.get(item.taskRunId)!;
        if (!e.ok) {
          options.unschedulable.push({ taskRunId: item.taskRunId, runId: d.runId, message: e.message });
          continue;
        }
        const own = this.rulesAt(item.action, d.workflowVersion);
        const runKeys = e.workflowKeys.length > 0 && !d.runAdmitted && !this.held.has(`run:${d.runId}`) ? e.workflowKeys : [];
        if (runKeys.length > 0) {
          if (runsAsking.has(d.runId)) continue;
          runsAsking.add(d.runId);
        }
        const keys: KeyRef[] = runKeys.length > 0 ? [...e.taskKeys, ...runKeys] : e.taskKeys;
        let missing: string | null = null;
        for (const r of e.rateLimits) {
          if (this.rates.has(r.key)) continue;
          if (r.dynamic) this.rates.set(r.key, { window: createWindow({ limit: r.dynamic.limit, windowMs: RATE_LIMIT_DURATION_MS[r.dynamic.duration] }), kind: 'dynamic', duration: r.dynamic.duration });
          else missing = r.key;
        }
        if (missing !== null && options.now - this.ratesReadAt > 1_000) {
          // Made after the keys were last read (its notification may still be on the way): read them again.
          this.ratesStale = true;
          this.retry = true;
          continue;
        }
        if (missing !== null) {
          options.unschedulable.push({
            taskRunId: item.taskRunId,
            runId: d.runId,
            message: `the rate limit ${JSON.stringify(missing)} does not exist (it was deleted after the task registered); create it again or change the task`,
          });
          continue;
        }
        // Past what could still be admitted under a key, one more is passed: the first that waits says
        // why. Every member asks the group's task keys: once one of those is full, so is the rest.
        if (!group.cancels && keys.length > 0 && taken > 0) {
          if (anyFull(group, 0, group.taskIds.length)) break;
          if (runKeys.length > 0 && anyFull(group, group.taskIds.length, group.ids.length)) continue;
        }
        for (const id of group.taskIds) passed.set(id, (passed.get(id) ?? 0) + 1);
        if (runKeys.length > 0) for (const id of group.workflowIds) passed.set(id, (passed.get(id) ?? 0) + 1);
        for (const id of group.ids) options.asking.add(id);
        // A retry in its backoff is passed (the decision says so and when to look again) but takes no
        // place in the group's share: what follows it may start meanwhile. Nor, without keys, a suspect.
        if (item.availableAt <= options.now && (group.keyed || !item.suspect)) taken++;
        out.push({
          candidate: {
            taskRunId: item.taskRunId,
            action: item.action,
            priority: item.priority,
            lifo: own.lifo,
            availableAt: item.availableAt,
            suspect: item.suspect,
            keys,
            rateLimits: e.rateLimits,
          },
          ask: { runId: d.runId, taskKeys: e.taskKeys, runKeys },
        });
      }
      if (keepsTurn && taken >= quota) {
        while (i < group.items.length && options.gone.has(group.items[i]!.taskRunId)) i++;
        if (i < group.items.length) options.backlog.add(group.rotation);
      }
    }
    return out;
  }

  /**
   * A keyed group's rules as decisions apply them — the code's latest maxRuns and strategy apply to every
   * run of a key, whatever version made it — and its rotation group; again after definitions are read.
   */
  private resolveGroup(group: WindowGroup, head: QueuedCandidate): void {
    const own = this.rulesAt(head.action, head.detail!.workflowVersion);
    const latest = this.rulesFor(head.action);
    group.rules = group.keys.map((k) => ruleOf(latest, k.rule) ?? ruleOf(own, k.rule)!);
    group.maxRuns = Math.min(...group.rules.map((r) => r.maxRuns));
    group.cancels = group.rules.some((r) => r.strategy !== 'GROUP_ROUND_ROBIN');
    group.rotation = rotationGroup(group.keys.map((k, i) => ({ rule: group.rules[i]!, key: k.key })), own.lifo);
    group.rulesAt = this.definitionsRead;
  }

  /** A window's task runs by the keys they ask (in window order within each), evaluated once. */
  private group(items: readonly QueuedCandidate[]): WindowGroup[] {
    const byKeys = new Map<string, WindowGroup>();
    const failed = newGroup([], [], true);
    for (const item of items) {
      const d = item.detail;
      if (!d) continue;
      let e = this.evaluated.get(item.taskRunId);
      if (!e) {
        const own = this.rulesAt(item.action, d.workflowVersion);
        e = evaluateRules(own, { input: d.input, metadata: d.metadata, parents: d.parents ?? {} });
        this.evaluated.set(item.taskRunId, e);
      }
      if (!e.ok) {
        failed.items.push(item);
        continue;
      }
      let id = '';
      for (const k of e.taskKeys) id += `${keyId(k)}\u0001`;
      id += '\u0002';
      for (const k of e.workflowKeys) id += `${keyId(k)}\u0001`;
      let g = byKeys.get(id);
      if (!g) {
        byKeys.set(id, (g = newGroup(e.taskKeys, e.workflowKeys, false)));
        g.rates = e.rateLimits;
        g.uniformRates = !g.keyed && staticRates(e.rateLimits);
      } else if (g.uniformRates && g.rates !== e.rateLimits && !sameRates(g.rates, e.rateLimits)) g.uniformRates = false;
      g.items.push(item);
    }
    return [failed, ...byKeys.values()];
  }

  /** Whether a candidate was held back for a read of what it asks (then decide again). */
  takeRetry(): boolean {
    const retry = this.retry;
    this.retry = false;
    return retry;
  }

  /**
   * The units holding keys now (seq to be given by the caller, in the same order as candidates); with
   * `asking`, only those holding one of these keys (keyId()): a unit sharing no key with any candidate
   * changes nothing in a decision.
   */
  heldUnits(asking?: ReadonlySet<string>): HeldUnit[] {
    const out: HeldUnit[] = [];
    for (const unit of this.held.values()) if (!asking || unit.ids.some((id) => asking.has(id))) out.push(unit);
    return out;
  }

  /** A held unit's run (a task run's id, or `run:<id>` for its workflow's keys). */
  heldRun(unitId: string): string | undefined {
    return this.held.get(unitId)?.runId;
  }

  /** The rate windows, as the decision takes them. */
  windows(): Map<string, RateWindow> {
    return new Map([...this.rates].map(([key, e]) => [key, e.window]));
  }

  /** What admitting these did to the keys and windows: recorded in memory; returns the windows to store. */
  admitted(
    written: ReadonlyArray<{ taskRunId: string; attempt: number; runId: string; taskKeys: readonly KeyRef[]; runKeys: readonly KeyRef[] }>,
    windows: ReadonlyMap<string, RateWindow>,
  ): void {
    for (const w of written) {
      if (w.taskKeys.length > 0) this.hold(w.taskRunId, w.runId, w.taskKeys, w.attempt);
      if (w.runKeys.length > 0) this.hold(`run:${w.runId}`, w.runId, w.runKeys, null);
      this.evaluated.delete(w.taskRunId);
    }
    for (const [key, window] of windows) {
      const entry = this.rates.get(key);
      if (entry) entry.window = window;
    }
  }

  /** The windows that changed from what `before` held: to be stored with the assignments. */
  changedWindows(before: ReadonlyMap<string, RateWindow>, after: ReadonlyMap<string, RateWindow>): RateState[] {
    const out: RateState[] = [];
    for (const [key, window] of after) {
      if (before.get(key) === window) continue;
      const entry = this.rates.get(key);
      out.push({ key, kind: entry?.kind ?? 'static', limit: window.limit, duration: entry?.duration ?? 'second', state: window });
    }
    return out;
  }

  /** Task runs ended (or went back to the queue), runs ended: they hold no keys any more. */
  ended(o: { taskRunIds?: Iterable<string>; runIds?: Iterable<string> }): void {
    for (const id of o.taskRunIds ?? []) {
      this.release(id);
      this.evaluated.delete(id);
    }
    const runs = new Set(o.runIds ?? []);
    if (runs.size === 0) return;
    for (const [id, unit] of this.held) if (runs.has(unit.runId)) this.release(id);
  }

  /**
   * A worker reported this attempt's end: the keys its task holds are free now (its run's keys are
   * not: they are held to the run's end). Another attempt's hold is left alone.
   */
  attemptEnded(taskRunId: string, attempt: number): void {
    const unit = this.held.get(taskRunId);
    if (unit && (unit.attempt === null || unit.attempt === attempt)) this.release(taskRunId);
  }

  private hold(unitId: string, runId: string, keys: readonly KeyRef[], attempt: number | null): void {
    this.release(unitId);
    const ids = keys.map(keyId);
    this.held.set(unitId, { taskRunId: unitId, runId, seq: 0, keys, ids, attempt });
    for (const id of ids) this.heldCount.set(id, (this.heldCount.get(id) ?? 0) + 1);
  }

  private release(unitId: string): void {
    const unit = this.held.get(unitId);
    if (!unit) return;
    this.held.delete(unitId);
    for (const id of unit.ids) {
      const n = this.heldCount.get(id)! - 1;
      if (n > 0) this.heldCount.set(id, n);
      else this.heldCount.delete(id);
    }
  }

  private clearHeld(): void {
    this.held.clear();
    this.heldCount.clear();
  }

  /** A candidate was taken out of the queue without an assignment (cancelled, failed). */
  forget(taskRunId: string): void {
    this.evaluated.delete(taskRunId);
  }

  /** The rules of an action as one version of its workflow declares them. */
  private rulesAt(action: string, version: number): ActionRules {
    return this.compiled.get(`${workflowOf(action)}@${version}`)?.get(action) ?? NO_RULES;
  }

  private store(name: string, version: number, definition: Parameters<typeof actionRulesOf>[0], latest: boolean): void {
    const id = `${name}@${version}`;
    this.definitionsRead++;
    if (!this.compiled.has(id)) {
      const rules = actionRulesOf(definition);
      this.compiled.set(id, rules);
      for (const r of rules.values()) if (r.task.length + r.workflow.length > 0) this.anyKeyRules = true;
      if (definition.kind === 'workflow') {
        for (const task of definition.workflow.tasks) {
          for (const parent of task.parents) {
            const of = workflowAction(name, parent);
            let set = this.children.get(of);
            if (!set) this.children.set(of, (set = new Set()));
            set.add(workflowAction(name, task.name));
          }
        }
      }
    }
    if (latest) this.latest.set(name, version);
  }

  private loadRates(rows: readonly StoredRateLimit[]): void {
    const seen = new Set<string>();
    for (const row of rows) {
      seen.add(row.key);
      const duration = row.duration;
      const config = { limit: row.limit, windowMs: RATE_LIMIT_DURATION_MS[duration] };
      const existing = this.rates.get(row.key);
      // What this holder admitted is what it wrote; memory is as new as the row, or newer.
      let window = existing?.window ?? (row.state === null ? createWindow(config) : safeParse(row.state, config));
      if (window.limit !== config.limit || window.windowMs !== config.windowMs) window = reconfigureWindow(window, config);
      this.rates.set(row.key, { window, kind: row.kind, duration });
    }
    for (const key of [...this.rates.keys()]) if (!seen.has(key) && this.rates.get(key)!.kind === 'static') this.rates.delete(key);
  }
}

/** A stored window that does not parse is treated as full for one window: refused, never miscounted. */
function safeParse(state: unknown, config: { limit: number; windowMs: number }): RateWindow {
  try {
    return parseWindow(state);
  } catch {
    const now = Date.now();
    const w = createWindow(config);
    return { ...w, buckets: [[Math.floor(now / w.bucketMs), config.limit]] };
  }
}

export type { KeyPairs };
