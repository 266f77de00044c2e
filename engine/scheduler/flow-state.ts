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
import type { Candidate, ConcurrencyRule, KeyRef, RunningUnit } from './decide.ts';
import { actionRulesOf, evaluateRules, NO_RULES, type ActionRules, type Evaluated } from './flow-rules.ts';
import { createWindow, parseWindow, reconfigureWindow, type RateWindow } from './rate-window.ts';


/** The workflow an action belongs to: '<workflow>:<task>', or a standalone task's own name. */
export /** The concurrency rule of this id among an action's rules (its task's or its workflow's), if any. */
function ruleOf(rules: ActionRules, id: string): ConcurrencyRule | undefined {
  return (rules.task.find((x) => x.rule.id === id) ?? rules.workflow.find((x) => x.rule.id === id))?.rule;
}

function workflowOf(action: string): string {
  const at = action.indexOf(':');
  return at < 0 ? action : action.slice(0, at);
}

interface HeldUnit extends RunningUnit {
  runId: string;
}

/** Task runs of one window asking the same keys, in window order; `cursor` skips those gone at the front. */
interface WindowGroup {
  items: QueuedCandidate[];
  cursor: number;
  /** It asks concurrency keys (else rate limits alone). */
  keyed: boolean;
  /** Its rules could not be evaluated: each is failed. */
  failed: boolean;
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
  /** Some definition read so far declares concurrency keys. */
  private anyKeyRules = false;

  /** Everything is read again before the next decision (a new lease, a reconnected listener). */
  reset(): void {
    this.definitionsStale = true;
    this.heldStale = true;
    this.ratesStale = true;
    this.held.clear();
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
    }
    const keysInUse = this.anyKeyRules || this.held.size > 0;
    if (keysInUse && (this.heldStale || options.now - this.heldReadAt > options.heldMaxAgeMs)) {
      this.heldStale = false;
      this.heldReadAt = options.now;
      const held = await heldKeysList(db);
      this.held.clear();
      for (const h of held) this.held.set(h.unitId, { taskRunId: h.unitId, runId: h.runId, seq: 0, keys: h.keys.map(([rule, key]) => ({ rule, key })) });
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

  /** The rules of an action's latest version (none when it has no definition yet). */
  rulesFor(action: string): ActionRules {
    const wf = workflowOf(action);
    return this.rulesAt(action, this.latest.get(wf) ?? 0);
  }

  /**
   * Decision candidates from one keyed queue's window, with their keys and rate asks; those whose rules
   * cannot be worked out go to `unschedulable`. The window is grouped once (by the keys its task runs
   * ask, each evaluated once) and each decision takes from the front of every group only what could be
   * admitted: up to its smallest `maxRuns` from a round-robin key's group, up to `perAction` from the
   * group without concurrency keys (rate limits alone: only its head can start), everything from a group
   * under a cancelling strategy (it must see every member to cancel the right ones). So a decision costs
   * about the slots it fills, not the depth of the queue. Of a run that has not taken its workflow's
   * keys, only the first task run asks for them and the rest wait behind it (they would otherwise take
   * the run's keys twice).
   */
  keyedCandidates(
    items: readonly QueuedCandidate[],
    options: { gone: ReadonlySet<string>; now: number; rules: Map<string, ConcurrencyRule>; unschedulable: Unschedulable[]; perAction: number; freeSlots: number },
  ): Array<{ candidate: Omit<Candidate, 'seq'>; ask: { runId: string; taskKeys: KeyRef[]; runKeys: KeyRef[] } }> {
    let groups = this.grouped.get(items);
    if (!groups) {
      groups = this.group(items);
      this.grouped.set(items, groups);
    }
    const out: Array<{ candidate: Omit<Candidate, 'seq'>; ask: { runId: string; taskKeys: KeyRef[]; runKeys: KeyRef[] } }> = [];
    const runsAsking = new Set<string>();
    // Per key: what runs now, then what is passed. Keys take turns, one admission each per turn, so with
    // F free slots and K keys waiting no key can be admitted more than ceil(F / K) times in one decision.
    const passed = new Map<string, number>();
    for (const unit of this.held.values()) for (const k of unit.keys) passed.set(`${k.rule}\u0000${k.key}`, (passed.get(`${k.rule}\u0000${k.key}`) ?? 0) + 1);
    for (const group of groups) while (group.cursor < group.items.length && options.gone.has(group.items[group.cursor]!.taskRunId)) group.cursor++;
    // The free slots are shared among the keys that can still take one (a full key passes only the one
    // that says why it waits), so a decision passes about as many candidates as it can admit.
    const keysWithRoom = groups.filter((g) => g.keyed && g.cursor < g.items.length && this.hasRoom(g.items[g.cursor]!, passed, options.rules)).length;
    const turnShare = Math.ceil(options.freeSlots / Math.max(1, keysWithRoom));
    for (const group of groups) {
      let quota = group.failed ? Infinity : group.keyed ? 0 : options.perAction;
      let cancels = false;
      let taken = 0;
      for (let i = group.cursor; i < group.items.length && taken < (cancels ? Infinity : quota || Infinity); i++) {
        const item = group.items[i]!;
        if (options.gone.has(item.taskRunId)) continue;
        const d = item.detail!;
        const e = this.evaluated.get(item.taskRunId)!;
        if (!e.ok) {
          options.unschedulable.push({ taskRunId: item.taskRunId, runId: d.runId, message: e.message });
          continue;
        }
        const own = this.rulesAt(item.action, d.workflowVersion);
        const latest = this.rulesFor(item.action);
        // The code's latest maxRuns and strategy apply to every run of a key, whatever version made it.
        for (const spec of [...own.task, ...own.workflow]) {
          if (!options.rules.has(spec.rule.id)) options.rules.set(spec.rule.id, ruleOf(latest, spec.rule.id) ?? spec.rule);
        }
        if (group.keyed && quota === 0) {
          const keyRules = [...e.taskKeys, ...e.workflowKeys].map((k) => options.rules.get(k.rule)!);
          cancels = keyRules.some((r) => r.strategy !== 'GROUP_ROUND_ROBIN');
          // At least one, so a full key still says why it waits and keeps its turn.
          quota = Math.max(1, Math.min(turnShare, ...keyRules.map((r) => r.maxRuns)));
        }
        const admitted = d.runAdmitted || this.held.has(`run:${d.runId}`);
        const runKeys = !admitted && e.workflowKeys.length > 0 ? e.workflowKeys : [];
        if (runKeys.length > 0) {
          if (runsAsking.has(d.runId)) continue;
          runsAsking.add(d.runId);
        }
        const keys: KeyRef[] = [...e.taskKeys, ...runKeys];
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
        // Past what could still be admitted under a key (one more: the first that waits says why).
        if (!cancels && keys.length > 0 && taken > 0 && keys.some((k) => (passed.get(`${k.rule}\u0000${k.key}`) ?? 0) >= options.rules.get(k.rule)!.maxRuns)) continue;
        for (const k of keys) {
          const id = `${k.rule}\u0000${k.key}`;
          passed.set(id, (passed.get(id) ?? 0) + 1);
        }
        // A retry in its backoff is passed (the decision says so and when to look again) but takes no
        // place in the group's share: what follows it may start meanwhile.
        if (item.availableAt <= options.now) taken++;
        out.push({
          candidate: {
            taskRunId: item.taskRunId,
            action: item.action,
            priority: item.priority,
            lifo: own.lifo,
            availableAt: item.availableAt,
            suspect: item.suspect,
            keys,
            rateLimits: e.rateLimits.map((r) => ({ key: r.key, units: r.units })),
          },
          ask: { runId: d.runId, taskKeys: e.taskKeys, runKeys },
        });
      }
    }
    return out;
  }

  /**
   * Whether every key a queued task run asks has room for one more beside what runs now (`passed`
   * counts the running units per key), by the rules the decision uses (`rules`, else the action's latest).
   */
  private hasRoom(item: QueuedCandidate, passed: ReadonlyMap<string, number>, rules: ReadonlyMap<string, ConcurrencyRule>): boolean {
    const e = this.evaluated.get(item.taskRunId);
    if (!e?.ok) return false;
    const latest = this.rulesFor(item.action);
    for (const k of [...e.taskKeys, ...e.workflowKeys]) {
      const rule = rules.get(k.rule) ?? ruleOf(latest, k.rule);
      if (rule && (passed.get(`${k.rule}\u0000${k.key}`) ?? 0) >= rule.maxRuns) return false;
    }
    return true;
  }

  /** A window's task runs by the keys they ask (in window order within each), evaluated once. */
  private group(items: readonly QueuedCandidate[]): WindowGroup[] {
    const byKeys = new Map<string, WindowGroup>();
    const failed: WindowGroup = { items: [], cursor: 0, keyed: false, failed: true };
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
      const keys = [...e.taskKeys, ...e.workflowKeys];
      const id = keys.map((k) => `${k.rule}\u0000${k.key}`).join('\u0001');
      let g = byKeys.get(id);
      if (!g) byKeys.set(id, (g = { items: [], cursor: 0, keyed: keys.length > 0, failed: false }));
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

  /** The units holding keys now (seq to be given by the caller, in the same order as candidates). */
  heldUnits(): HeldUnit[] {
    return [...this.held.values()];
  }

  /** The rate windows, as the decision takes them. */
  windows(): Map<string, RateWindow> {
    return new Map([...this.rates].map(([key, e]) => [key, e.window]));
  }

  /** What admitting these did to the keys and windows: recorded in memory; returns the windows to store. */
  admitted(
    written: ReadonlyArray<{ taskRunId: string; runId: string; taskKeys: readonly KeyRef[]; runKeys: readonly KeyRef[] }>,
    windows: ReadonlyMap<string, RateWindow>,
  ): void {
    for (const w of written) {
      if (w.taskKeys.length > 0) this.held.set(w.taskRunId, { taskRunId: w.taskRunId, runId: w.runId, seq: 0, keys: w.taskKeys });
      if (w.runKeys.length > 0) this.held.set(`run:${w.runId}`, { taskRunId: `run:${w.runId}`, runId: w.runId, seq: 0, keys: w.runKeys });
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
      this.held.delete(id);
      this.evaluated.delete(id);
    }
    const runs = new Set(o.runIds ?? []);
    if (runs.size === 0) return;
    for (const [id, unit] of this.held) if (runs.has(unit.runId)) this.held.delete(id);
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
    if (!this.compiled.has(id)) {
      const rules = actionRulesOf(definition);
      this.compiled.set(id, rules);
      for (const r of rules.values()) if (r.task.length + r.workflow.length > 0) this.anyKeyRules = true;
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
