import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  decide,
  INITIAL_ROTATION,
  isKeyGroup,
  rotationGroup,
  type Candidate,
  type ConcurrencyRule,
  type DecideInput,
  type Decision,
  type KeyRef,
  type LimitStrategy,
  type RotationState,
  type RunningUnit,
  type WaitReason,
  type WorkerState,
} from '../../engine/scheduler/decide.ts';
import { consume, createWindow, used, type RateWindow } from '../../engine/scheduler/rate-window.ts';

const NOW = 100_000;
let nextSeq = 0;

function c(taskRunId: string, over: Partial<Candidate> = {}): Candidate {
  return {
    taskRunId,
    action: 'a',
    priority: 2,
    seq: ++nextSeq,
    lifo: false,
    availableAt: 0,
    suspect: false,
    keys: [],
    rateLimits: [],
    ...over,
  };
}

function w(id: string, freeSlots: number, over: { actions?: string[]; holdsSuspect?: boolean } = {}): WorkerState {
  return { id, actions: new Set(over.actions ?? ['a']), freeSlots, holdsSuspect: over.holdsSuspect ?? false };
}

const rule = (id: string, maxRuns: number, strategy: LimitStrategy = 'GROUP_ROUND_ROBIN'): ConcurrencyRule => ({ id, maxRuns, strategy });
const k = (ruleId: string, key: string): KeyRef => ({ rule: ruleId, key });
const running = (taskRunId: string, seq: number, keys: KeyRef[]): RunningUnit => ({ taskRunId, seq, keys });

interface Setup {
  now?: number;
  candidates: Candidate[];
  running?: RunningUnit[];
  rules?: ConcurrencyRule[];
  workers?: WorkerState[];
  windows?: Record<string, RateWindow>;
  rotation?: RotationState;
  backlog?: string[];
}

function inputOf(setup: Setup): DecideInput {
  return {
    now: setup.now ?? NOW,
    candidates: setup.candidates,
    running: setup.running ?? [],
    rules: new Map((setup.rules ?? []).map((r) => [r.id, r])),
    workers: setup.workers ?? [w('w1', 100)],
    windows: new Map(Object.entries(setup.windows ?? {})),
    rotation: setup.rotation ?? INITIAL_ROTATION,
    ...(setup.backlog ? { backlog: new Set(setup.backlog) } : {}),
  };
}

/** Decides, and checks what must hold of every decision (so every test checks it too). */
function run(setup: Setup): Decision {
  const input = inputOf(setup);
  const decision = decide(input);
  checkInvariants(input, decision);
  return decision;
}

function checkInvariants(input: DecideInput, d: Decision): void {
  const outcomes = new Map<string, number>();
  const count = (id: string) => outcomes.set(id, (outcomes.get(id) ?? 0) + 1);
  d.assignments.forEach((a) => count(a.taskRunId));
  d.waits.forEach((x) => count(x.taskRunId));
  d.cancellations.filter((x) => !x.running).forEach((x) => count(x.taskRunId));
  for (const cand of input.candidates) expect(outcomes.get(cand.taskRunId), `outcomes of ${cand.taskRunId}`).toBe(1);
  expect(outcomes.size).toBe(input.candidates.length);
  const runningIds = new Set(input.running.map((r) => r.taskRunId));
  for (const x of d.cancellations.filter((x) => x.running)) expect(runningIds.has(x.taskRunId)).toBe(true);

  const byId = new Map(input.candidates.map((x) => [x.taskRunId, x]));
  const workers = new Map(input.workers.map((x) => [x.id, x]));
  const perWorker = new Map<string, { n: number; suspects: number }>();
  for (const a of d.assignments) {
    const cand = byId.get(a.taskRunId)!;
    const worker = workers.get(a.workerId)!;
    expect(worker.actions.has(cand.action)).toBe(true);
    expect(cand.availableAt).toBeLessThanOrEqual(input.now);
    const tally = perWorker.get(a.workerId) ?? { n: 0, suspects: 0 };
    tally.n++;
    if (cand.suspect) tally.suspects++;
    perWorker.set(a.workerId, tally);
  }
  for (const [id, tally] of perWorker) {
    const worker = workers.get(id)!;
    expect(tally.n).toBeLessThanOrEqual(worker.freeSlots);
    expect(tally.suspects).toBeLessThanOrEqual(worker.holdsSuspect ? 0 : 1);
  }

  // Per key: what still runs plus what was admitted stays within maxRuns (when it was within to begin with).
  const cancelled = new Set(d.cancellations.map((x) => x.taskRunId));
  const tally = new Map<string, { before: number; after: number; max: number }>();
  const bump = (ref: KeyRef, before: boolean) => {
    const r = input.rules.get(ref.rule);
    if (!r) return;
    const id = JSON.stringify([ref.rule, ref.key]);
    const t = tally.get(id) ?? { before: 0, after: 0, max: r.maxRuns };
    if (before) t.before++;
    t.after++;
    tally.set(id, t);
  };
  for (const r of input.running) if (!cancelled.has(r.taskRunId)) r.keys.forEach((ref) => bump(ref, true));
  for (const a of d.assignments) byId.get(a.taskRunId)!.keys.forEach((ref) => bump(ref, false));
  for (const t of tally.values()) if (t.before <= t.max) expect(t.after).toBeLessThanOrEqual(t.max);

  // Windows: exactly the admitted units were consumed, never past the limit.
  for (const [key, before] of input.windows) {
    const after = d.windows.get(key)!;
    const asked = d.assignments.reduce(
      (sum, a) => sum + byId.get(a.taskRunId)!.rateLimits.filter((r) => r.key === key).reduce((s, r) => s + r.units, 0),
      0,
    );
    expect(used(after, input.now) - used(before, input.now)).toBe(asked);
    expect(used(after, input.now)).toBeLessThanOrEqual(after.limit);
  }
}

const assigned = (d: Decision) => d.assignments.map((a) => a.taskRunId);
const reasonOf = (d: Decision, id: string): WaitReason | undefined => d.waits.find((x) => x.taskRunId === id)?.reason;
const waitingKinds = (d: Decision) => Object.fromEntries(d.waits.map((x) => [x.taskRunId, x.reason.kind]));

describe('decide: order', () => {
  it('serves higher priority first, then FIFO by seq', () => {
    const d = run({
      candidates: [c('p1', { priority: 1, seq: 1 }), c('p3a', { priority: 3, seq: 4 }), c('p2a', { priority: 2, seq: 3 }), c('p3b', { priority: 3, seq: 2 }), c('p2b', { priority: 2, seq: 5 })],
      workers: [w('w1', 3)],
    });
    expect(assigned(d)).toEqual(['p3b', 'p3a', 'p2a']);
    expect(waitingKinds(d)).toEqual({ p2b: 'no_slot', p1: 'no_slot' });
    expect(d.nextWakeAt).toBeNull();
  });

  it('serves a LIFO queue newest first within a priority, and still by priority first', () => {
    const d = run({
      candidates: [
        c('old', { lifo: true, seq: 1 }),
        c('mid', { lifo: true, seq: 2 }),
        c('new', { lifo: true, seq: 3 }),
        c('urgent-old', { lifo: true, seq: 0, priority: 3 }),
      ],
      workers: [w('w1', 3)],
    });
    expect(assigned(d)).toEqual(['urgent-old', 'new', 'mid']);
    expect(reasonOf(d, 'old')).toEqual({ kind: 'no_slot', action: 'a' });
  });

  it('keeps a task run in backoff waiting until availableAt, and wakes at the earliest one', () => {
    const d = run({
      candidates: [c('later', { availableAt: NOW + 500 }), c('soon', { availableAt: NOW + 200 }), c('due', { availableAt: NOW })],
      workers: [w('w1', 5)],
    });
    expect(assigned(d)).toEqual(['due']);
    expect(reasonOf(d, 'later')).toEqual({ kind: 'backoff', untilMs: NOW + 500 });
    expect(reasonOf(d, 'soon')).toEqual({ kind: 'backoff', untilMs: NOW + 200 });
    expect(d.nextWakeAt).toBe(NOW + 200);
  });
});

describe('decide: workers', () => {
  it('says no_worker when nobody offers the action, no_slot when those who do are full', () => {
    const d = run({
      candidates: [c('x', { action: 'x' }), c('y', { action: 'y' })],
      workers: [w('busy', 0, { actions: ['y'] }), w('other', 5, { actions: ['z'] })],
    });
    expect(reasonOf(d, 'x')).toEqual({ kind: 'no_worker', action: 'x' });
    expect(reasonOf(d, 'y')).toEqual({ kind: 'no_slot', action: 'y' });
    expect(run({ candidates: [c('solo')], workers: [] }).waits[0]!.reason).toEqual({ kind: 'no_worker', action: 'a' });
  });

  it('gives a task run only to a worker offering its action, using free slots as it goes', () => {
    const d = run({
      candidates: [c('x1', { action: 'x' }), c('x2', { action: 'x' }), c('x3', { action: 'x' }), c('y1', { action: 'y' })],
      workers: [w('wy', 5, { actions: ['y'] }), w('wx', 2, { actions: ['x', 'y'] })],
    });
    expect(d.assignments).toEqual([
      { taskRunId: 'x1', workerId: 'wx' },
      { taskRunId: 'x2', workerId: 'wx' },
      { taskRunId: 'y1', workerId: 'wy' },
    ]);
    expect(reasonOf(d, 'x3')).toEqual({ kind: 'no_slot', action: 'x' });
  });

  it('rotates among workers within a decision instead of filling the first', () => {
    const d = run({ candidates: [c('t1'), c('t2'), c('t3'), c('t4'), c('t5')], workers: [w('a', 3), w('b', 3), w('c', 1)] });
    expect(d.assignments.map((a) => a.workerId)).toEqual(['a', 'b', 'c', 'a', 'b']);
  });

  it('rotates among workers across decisions', () => {
    const workers = [w('a', 5), w('b', 5), w('c', 5)];
    let rotation = INITIAL_ROTATION;
    const picked: string[] = [];
    for (let i = 0; i < 4; i++) {
      const d = run({ candidates: [c(`t${i}`)], workers, rotation });
      picked.push(d.assignments[0]!.workerId);
      rotation = d.rotation;
    }
    expect(picked).toEqual(['a', 'b', 'c', 'a']);
  });
});

describe('decide: suspects', () => {
  it('gives a suspect only to a worker that runs none, one per worker per decision', () => {
    const d = run({
      candidates: [c('s1', { suspect: true }), c('s2', { suspect: true }), c('s3', { suspect: true }), c('n1')],
      workers: [w('holding', 5, { holdsSuspect: true }), w('clean', 5)],
    });
    expect(d.assignments).toEqual([
      { taskRunId: 's1', workerId: 'clean' },
      { taskRunId: 'n1', workerId: 'holding' },
    ]);
    expect(reasonOf(d, 's2')).toEqual({ kind: 'suspect' });
    expect(reasonOf(d, 's3')).toEqual({ kind: 'suspect' });
  });

  it('spreads suspects over clean workers', () => {
    const d = run({ candidates: [c('s1', { suspect: true }), c('s2', { suspect: true })], workers: [w('a', 5), w('b', 5)] });
    expect(d.assignments.map((a) => a.workerId).sort()).toEqual(['a', 'b']);
  });

  it('says no_slot, not suspect, when no worker has a free slot at all', () => {
    const d = run({ candidates: [c('s', { suspect: true })], workers: [w('a', 0)] });
    expect(reasonOf(d, 's')).toEqual({ kind: 'no_slot', action: 'a' });
  });
});

describe('decide: GROUP_ROUND_ROBIN', () => {
  it('admits while running plus admitted stays under maxRuns, the rest wait on the key', () => {
    const d = run({
      candidates: [c('k1', { keys: [k('r', 'k')] }), c('k2', { keys: [k('r', 'k')] }), c('k3', { keys: [k('r', 'k')] }), c('j1', { keys: [k('r', 'j')] })],
      running: [running('run', 0, [k('r', 'k')])],
      rules: [rule('r', 2)],
    });
    expect(assigned(d).sort()).toEqual(['j1', 'k1']);
    expect(reasonOf(d, 'k2')).toEqual({ kind: 'concurrency', rule: 'r', key: 'k', maxRuns: 2 });
    expect(reasonOf(d, 'k3')).toEqual({ kind: 'concurrency', rule: 'r', key: 'k', maxRuns: 2 });
    expect(d.nextWakeAt).toBeNull();
  });

  it('serves keys in rotation when slots are scarce: one per key per round', () => {
    const noisy = Array.from({ length: 10 }, (_, i) => c(`A${i}`, { keys: [k('r', 'A')] }));
    const d = run({
      candidates: [...noisy, c('B0', { keys: [k('r', 'B')] }), c('C0', { keys: [k('r', 'C')] })],
      rules: [rule('r', 100)],
      workers: [w('w1', 5)],
    });
    expect(assigned(d)).toEqual(['A0', 'B0', 'C0', 'A1', 'A2']);
  });

  it('treats candidates without keys as one group of the rotation', () => {
    const d = run({
      candidates: [c('n1'), c('n2'), c('n3'), c('K1', { keys: [k('r', 'K')] }), c('K2', { keys: [k('r', 'K')] })],
      rules: [rule('r', 10)],
      workers: [w('w1', 2)],
    });
    expect(assigned(d)).toEqual(['n1', 'K1']);
  });

  it('rotates by the first GROUP_ROUND_ROBIN key when a task has several', () => {
    const d = run({
      candidates: [
        c('t1a', { keys: [k('user', 'u1'), k('tenant', 't1')] }),
        c('t1b', { keys: [k('user', 'u2'), k('tenant', 't1')] }),
        c('t1c', { keys: [k('user', 'u3'), k('tenant', 't1')] }),
        c('t2a', { keys: [k('user', 'u4'), k('tenant', 't2')] }),
      ],
      rules: [rule('user', 1, 'CANCEL_IN_PROGRESS'), rule('tenant', 10)],
      workers: [w('w1', 2)],
    });
    expect(assigned(d)).toEqual(['t1a', 't2a']);
  });

  /** The service's steady state: one free slot after each finish, admitted runs finishing at once. */
  function oneSlotAtATime(queued: Candidate[], calls: number, arrivals: Record<number, Candidate[]> = {}) {
    let rotation = INITIAL_ROTATION;
    let candidates = [...queued];
    const served: string[] = [];
    /** Groups waiting after each call. */
    const groups: number[] = [];
    for (let i = 0; i < calls; i++) {
      candidates.push(...(arrivals[i] ?? []));
      const d = run({ candidates, rules: [rule('r', 1000)], workers: [w('w1', 1)], rotation });
      const id = d.assignments[0]!.taskRunId;
      served.push(candidates.find((x) => x.taskRunId === id)!.keys[0]?.key ?? '-');
      candidates = candidates.filter((x) => x.taskRunId !== id);
      rotation = d.rotation;
      groups.push(rotation.turns.size);
    }
    return { served, rotation, groups };
  }
  const many = (key: string, n: number) => Array.from({ length: n }, (_, i) => c(`${key}${i}`, { keys: [k('r', key)] }));

  it('keeps the rotation across decisions that each have one slot', () => {
    const { served } = oneSlotAtATime([...many('A', 1000), ...many('B', 2), ...many('C', 1)], 8);
    expect(served).toEqual(['A', 'B', 'C', 'A', 'B', 'A', 'A', 'A']);
  });

  it('serves a key that arrives late within one rotation, at the back of it', () => {
    const { served } = oneSlotAtATime([...many('A', 100), ...many('B', 100), ...many('C', 100)], 8, { 4: many('D', 1) });
    // Calls 0–3 serve A B C A; D joins at call 4 at the back, behind B, C and A.
    expect(served).toEqual(['A', 'B', 'C', 'A', 'B', 'C', 'A', 'D']);
  });

  it('does not let a stream of new keys starve an old one: new keys join behind it', () => {
    const old = many('A', 100);
    const arrivals = Object.fromEntries(Array.from({ length: 30 }, (_, i) => [i, many(`N${i}-`, 1)]));
    const { served, groups } = oneSlotAtATime(old, 30, arrivals);
    const turnsOfA = served.flatMap((key, i) => (key === 'A' ? [i] : []));
    expect(turnsOfA[0]).toBe(0);
    // Round robin over a growing rotation: after each turn, A comes back once every group then waiting
    // had one turn, however many keys arrived since (a key joining in front would starve it for good).
    for (let j = 1; j < turnsOfA.length; j++) expect(turnsOfA[j]! - turnsOfA[j - 1]!).toBeLessThanOrEqual(groups[turnsOfA[j - 1]!]!);
    expect(turnsOfA.at(-1)! + groups[turnsOfA.at(-1)!]!).toBeGreaterThanOrEqual(29);
    expect(turnsOfA.length).toBeGreaterThanOrEqual(6);
  });

  it('forgets groups with nothing waiting, so the rotation stays bounded', () => {
    const { rotation, groups } = oneSlotAtATime([...many('A', 3), ...many('B', 1), ...many('C', 1)], 5);
    expect(groups).toEqual([3, 2, 1, 1, 0]);
    expect(rotation.turns.size).toBe(0);
  });

  it('leaves the turn of a key that could not be served, so it goes first when it can', () => {
    const rules = [rule('r', 1)];
    const first = run({ candidates: [...many('A', 2), ...many('B', 2)], running: [running('rb', 0, [k('r', 'B')])], rules, workers: [w('w1', 5)] });
    expect(assigned(first)).toEqual(['A0']);
    const second = run({
      candidates: [c('A1x', { keys: [k('r', 'A')] }), c('B1x', { keys: [k('r', 'B')] })],
      rules: [rule('r', 5)],
      workers: [w('w1', 1)],
      rotation: first.rotation,
    });
    expect(assigned(second)).toEqual(['B1x']);
  });

  it('keeps the turn of a group it is not given, so the service may pass only the groups it can serve', () => {
    const rules = [rule('r', 100)];
    // A, B and C wait; C is served, then A and B keep waiting with the older turns.
    const first = run({ candidates: [...many('A', 2), ...many('B', 2), ...many('C', 2)], rules, workers: [w('w1', 3)] });
    expect(assigned(first)).toEqual(['A0', 'B0', 'C0']);
    // The service passes only C (say A and B were full): A and B keep their turns, C is served again.
    const second = run({ candidates: [c('C1x', { keys: [k('r', 'C')] }), c('C2x', { keys: [k('r', 'C')] })], rules, workers: [w('w1', 1)], rotation: first.rotation });
    expect(assigned(second)).toEqual(['C1x']);
    expect([...second.rotation.turns.keys()].sort()).toEqual([...first.rotation.turns.keys()].sort());
    // Given all three again, A and B go before C, which was served last.
    const third = run({
      candidates: [c('A1y', { keys: [k('r', 'A')] }), c('B1y', { keys: [k('r', 'B')] }), c('C3y', { keys: [k('r', 'C')] })],
      rules,
      workers: [w('w1', 2)],
      rotation: second.rotation,
    });
    expect(assigned(third)).toEqual(['A1y', 'B1y']);
    // A group it was given and that has nothing left waiting is forgotten; one it was not given is not.
    const fourth = run({ candidates: [c('A2z', { keys: [k('r', 'A')] })], rules, workers: [w('w1', 1)], rotation: third.rotation });
    expect([...fourth.rotation.turns.keys()].some((g) => g.endsWith('rA'))).toBe(false);
    expect([...fourth.rotation.turns.keys()].some((g) => g.endsWith('rC'))).toBe(true);
    expect([...fourth.rotation.turns.keys()].every(isKeyGroup)).toBe(true);
    expect(isKeyGroup(rotationGroup([], false))).toBe(false);
    expect(isKeyGroup(rotationGroup([], true))).toBe(false);
  });

  it('keeps the turn of a group named in backlog though all it was given was admitted', () => {
    const rules = [rule('r', 100)];
    const groupOf = (key: string) => rotationGroup([{ rule: rule('r', 100), key }], false);
    // A and B are given one candidate each, with more behind (backlog): both are admitted.
    const first = run({ candidates: [c('A0', { keys: [k('r', 'A')] }), c('B0', { keys: [k('r', 'B')] })], rules, workers: [w('w1', 2)], backlog: [groupOf('A')] });
    expect(assigned(first)).toEqual(['A0', 'B0']);
    // A keeps its turn (served before B); B, with nothing said to wait behind it, is forgotten.
    expect([...first.rotation.turns.keys()]).toEqual([groupOf('A')]);
    // So when C arrives, A (its turn older) goes before it, where a forgotten group would join behind C.
    const second = run({ candidates: [c('C0', { keys: [k('r', 'C')] }), c('A1', { keys: [k('r', 'A')] })], rules, workers: [w('w1', 1)], rotation: first.rotation });
    expect(assigned(second)).toEqual(['A1']);
  });
});

describe('decide: CANCEL_NEWEST', () => {
  it('cancels the newest beyond maxRuns at once, whatever the slots', () => {
    const key = [k('n', 'k')];
    const d = run({
      candidates: [c('c2', { seq: 2, keys: key }), c('c3', { seq: 3, keys: key }), c('c4', { seq: 4, keys: key }), c('c5', { seq: 5, keys: key })],
      running: [running('r1', 1, key)],
      rules: [rule('n', 2, 'CANCEL_NEWEST')],
      workers: [],
    });
    expect(d.cancellations).toEqual([
      { taskRunId: 'c3', running: false, rule: 'n', key: 'k' },
      { taskRunId: 'c4', running: false, rule: 'n', key: 'k' },
      { taskRunId: 'c5', running: false, rule: 'n', key: 'k' },
    ]);
    expect(reasonOf(d, 'c2')).toEqual({ kind: 'no_worker', action: 'a' });
  });

  it('never cancels a run that has started, even above maxRuns', () => {
    const key = [k('n', 'k')];
    const d = run({
      candidates: [c('c3', { seq: 3, keys: key })],
      running: [running('r1', 1, key), running('r2', 2, key)],
      rules: [rule('n', 1, 'CANCEL_NEWEST')],
    });
    expect(d.cancellations).toEqual([{ taskRunId: 'c3', running: false, rule: 'n', key: 'k' }]);
  });

  it('keeps the place of an older retry in backoff; it then waits for the running one', () => {
    const key = [k('n', 'k')];
    const rules = [rule('n', 1, 'CANCEL_NEWEST')];
    const retry = c('retry', { seq: 1, keys: key, availableAt: NOW + 1_000 });
    const d = run({ candidates: [retry, c('c3', { seq: 3, keys: key })], running: [running('r2', 2, key)], rules });
    expect(d.cancellations.map((x) => x.taskRunId)).toEqual(['c3']);
    expect(reasonOf(d, 'retry')).toEqual({ kind: 'backoff', untilMs: NOW + 1_000 });
    const due = run({ now: NOW + 1_000, candidates: [retry], running: [running('r2', 2, key)], rules });
    expect(reasonOf(due, 'retry')).toEqual({ kind: 'concurrency', rule: 'n', key: 'k', maxRuns: 1 });
  });

  it('admits the survivors as slots allow', () => {
    const key = [k('n', 'k')];
    const d = run({
      candidates: [c('c1', { seq: 1, keys: key }), c('c2', { seq: 2, keys: key }), c('c3', { seq: 3, keys: key })],
      rules: [rule('n', 2, 'CANCEL_NEWEST')],
      workers: [w('w1', 1)],
    });
    expect(assigned(d)).toEqual(['c1']);
    expect(reasonOf(d, 'c2')).toEqual({ kind: 'no_slot', action: 'a' });
    expect(d.cancellations.map((x) => x.taskRunId)).toEqual(['c3']);
  });
});

describe('decide: CANCEL_IN_PROGRESS', () => {
  it('cancels the oldest running run and admits the new one in the same decision', () => {
    const key = [k('p', 'k')];
    const d = run({ candidates: [c('c2', { seq: 2, keys: key })], running: [running('r1', 1, key)], rules: [rule('p', 1, 'CANCEL_IN_PROGRESS')] });
    expect(d.cancellations).toEqual([{ taskRunId: 'r1', running: true, rule: 'p', key: 'k' }]);
    expect(assigned(d)).toEqual(['c2']);
  });

  it('keeps the newest maxRuns of running and queued, cancelling older running and queued ones', () => {
    const key = [k('p', 'k')];
    const d = run({
      candidates: [c('c3', { seq: 3, keys: key }), c('c4', { seq: 4, keys: key }), c('c5', { seq: 5, keys: key })],
      running: [running('r1', 1, key), running('r2', 2, key), running('other', 0, [k('p', 'j')])],
      rules: [rule('p', 2, 'CANCEL_IN_PROGRESS')],
      workers: [w('w1', 1)],
    });
    expect(d.cancellations).toEqual([
      { taskRunId: 'c3', running: false, rule: 'p', key: 'k' },
      { taskRunId: 'r2', running: true, rule: 'p', key: 'k' },
      { taskRunId: 'r1', running: true, rule: 'p', key: 'k' },
    ]);
    expect(assigned(d)).toEqual(['c4']);
    expect(reasonOf(d, 'c5')).toEqual({ kind: 'no_slot', action: 'a' });
  });

  it('cancels even when the newcomer cannot start yet (no slot, backoff)', () => {
    const key = [k('p', 'k')];
    const d = run({
      candidates: [c('c2', { seq: 2, keys: key, availableAt: NOW + 50 })],
      running: [running('r1', 1, key)],
      rules: [rule('p', 1, 'CANCEL_IN_PROGRESS')],
      workers: [w('w1', 0)],
    });
    expect(d.cancellations.map((x) => x.taskRunId)).toEqual(['r1']);
    expect(reasonOf(d, 'c2')).toEqual({ kind: 'backoff', untilMs: NOW + 50 });
  });
});

describe('decide: several keys and limits, all or nothing', () => {
  it('admits only when every key admits, holding nothing while it waits', () => {
    const d = run({
      candidates: [c('both', { seq: 1, keys: [k('A', 'x'), k('B', 'x')] }), c('onlyA', { seq: 2, keys: [k('A', 'x')] })],
      running: [running('rb', 0, [k('B', 'x')])],
      rules: [rule('A', 1), rule('B', 1)],
    });
    expect(reasonOf(d, 'both')).toEqual({ kind: 'concurrency', rule: 'B', key: 'x', maxRuns: 1 });
    expect(assigned(d)).toEqual(['onlyA']);
  });

  it('reports the first full key in the task run order of its keys', () => {
    const d = run({
      candidates: [c('t', { keys: [k('A', 'x'), k('B', 'y')] })],
      running: [running('r', 0, [k('A', 'x'), k('B', 'y')])],
      rules: [rule('A', 1), rule('B', 1)],
    });
    expect(reasonOf(d, 't')).toEqual({ kind: 'concurrency', rule: 'A', key: 'x', maxRuns: 1 });
  });

  it('consumes no rate units when another limit or the slot is missing', () => {
    const windows = { plenty: createWindow({ limit: 10, windowMs: 1000 }), scarce: consume(createWindow({ limit: 5, windowMs: 1000 }), NOW, 3) };
    const d = run({
      candidates: [
        c('needsBoth', { rateLimits: [{ key: 'plenty', units: 1 }, { key: 'scarce', units: 5 }] }),
        c('noSlot', { action: 'b', keys: [k('A', 'x')], rateLimits: [{ key: 'plenty', units: 4 }] }),
        c('sameKey', { keys: [k('A', 'x')] }),
      ],
      rules: [rule('A', 1)],
      workers: [w('w1', 5), w('full', 0, { actions: ['b'] })],
      windows,
    });
    expect(reasonOf(d, 'needsBoth')).toEqual({ kind: 'rate_limit', key: 'scarce', refillInMs: 1010 });
    expect(reasonOf(d, 'noSlot')).toEqual({ kind: 'no_slot', action: 'b' });
    expect(assigned(d)).toEqual(['sameKey']);
    expect(used(d.windows.get('plenty')!, NOW)).toBe(0);
  });

  it('sums two asks of one key', () => {
    const d = run({
      candidates: [c('twice', { rateLimits: [{ key: 'r', units: 2 }, { key: 'r', units: 2 }] })],
      windows: { r: createWindow({ limit: 3, windowMs: 1000 }) },
    });
    expect(reasonOf(d, 'twice')).toEqual({ kind: 'units_over_limit', key: 'r', units: 4, limit: 3 });
  });

  it('lets cancellation win over a wait on another key', () => {
    const d = run({
      candidates: [c('c1', { seq: 1, keys: [k('n', 'k')] }), c('c2', { seq: 2, keys: [k('g', 'full'), k('n', 'k')] })],
      running: [running('r', 0, [k('g', 'full')])],
      rules: [rule('g', 1), rule('n', 1, 'CANCEL_NEWEST')],
    });
    expect(d.cancellations).toEqual([{ taskRunId: 'c2', running: false, rule: 'n', key: 'k' }]);
    expect(assigned(d)).toEqual(['c1']);
  });

  it('gives a run cancelled under one key no place in its other keys', () => {
    const d = run({
      candidates: [
        c('p', { seq: 1, keys: [k('N1', 'k')] }),
        c('x', { seq: 2, keys: [k('N1', 'k'), k('N2', 'k')] }),
        c('y', { seq: 3, keys: [k('N2', 'k')] }),
      ],
      rules: [rule('N1', 1, 'CANCEL_NEWEST'), rule('N2', 1, 'CANCEL_NEWEST')],
    });
    expect(d.cancellations.map((x) => x.taskRunId)).toEqual(['x']);
    expect(assigned(d).sort()).toEqual(['p', 'y']);
  });

  it('applies CANCEL_NEWEST before CANCEL_IN_PROGRESS: a newcomer it cancels stops no running run', () => {
    const d = run({
      candidates: [c('p', { seq: 2, keys: [k('N', 'k')] }), c('x', { seq: 3, keys: [k('N', 'k'), k('I', 'k')] })],
      running: [running('r1', 1, [k('I', 'k')])],
      rules: [rule('N', 1, 'CANCEL_NEWEST'), rule('I', 1, 'CANCEL_IN_PROGRESS')],
    });
    expect(d.cancellations).toEqual([{ taskRunId: 'x', running: false, rule: 'N', key: 'k' }]);
  });
});

describe('decide: rate limits', () => {
  it('admits up to the limit, then waits with the refill time, and admits again once it refills', () => {
    const windows = { api: createWindow({ limit: 3, windowMs: 1000 }) };
    const candidates = Array.from({ length: 5 }, (_, i) => c(`t${i}`, { rateLimits: [{ key: 'api', units: 1 }] }));
    const d = run({ candidates, windows });
    expect(assigned(d)).toEqual(['t0', 't1', 't2']);
    // Admitted in the 10 ms sub-window starting at NOW: they count until its end plus 1000 ms.
    expect(reasonOf(d, 't3')).toEqual({ kind: 'rate_limit', key: 'api', refillInMs: 1010 });
    expect(d.nextWakeAt).toBe(NOW + 1010);
    const rest = candidates.slice(3);
    const early = run({ now: NOW + 1009, candidates: rest, windows: Object.fromEntries(d.windows) });
    expect(early.assignments).toEqual([]);
    expect(reasonOf(early, 't3')).toEqual({ kind: 'rate_limit', key: 'api', refillInMs: 1 });
    const refilled = run({ now: NOW + 1010, candidates: rest, windows: Object.fromEntries(d.windows) });
    expect(assigned(refilled)).toEqual(['t3', 't4']);
  });

  it('reports the refill against the final windows, after later admissions', () => {
    // x asks 3 of 2 left; y then takes 1, so x's 3 now need the newest admission to expire too.
    const start = consume(createWindow({ limit: 3, windowMs: 1000 }), NOW - 500, 1);
    const d = run({
      candidates: [c('x', { rateLimits: [{ key: 'api', units: 3 }] }), c('y', { rateLimits: [{ key: 'api', units: 1 }] })],
      windows: { api: start },
    });
    expect(assigned(d)).toEqual(['y']);
    expect(reasonOf(d, 'x')).toEqual({ kind: 'rate_limit', key: 'api', refillInMs: 1010 });
  });

  it('says a task run asking more than the limit can never pass, and serves the others', () => {
    const d = run({
      candidates: [c('huge', { priority: 3, rateLimits: [{ key: 'api', units: 5 }] }), c('ok', { rateLimits: [{ key: 'api', units: 2 }] })],
      windows: { api: createWindow({ limit: 4, windowMs: 1000 }) },
    });
    expect(reasonOf(d, 'huge')).toEqual({ kind: 'units_over_limit', key: 'api', units: 5, limit: 4 });
    expect(assigned(d)).toEqual(['ok']);
    expect(d.nextWakeAt).toBeNull();
  });

  it('returns every input window, changed only where units were consumed', () => {
    const idle = createWindow({ limit: 1, windowMs: 1000 });
    const d = run({ candidates: [c('t', { rateLimits: [{ key: 'busy', units: 1 }] })], windows: { idle, busy: createWindow({ limit: 1, windowMs: 1000 }) } });
    expect(d.windows.get('idle')).toBe(idle);
    expect(used(d.windows.get('busy')!, NOW)).toBe(1);
  });
});

describe('decide: which reason comes first', () => {
  const rules = [rule('g', 1)];
  const fullKey = { keys: [k('g', 'full')] };
  const rateShort = { rateLimits: [{ key: 'api', units: 2 }] };
  const setupWith = (over: Partial<Candidate>, workers: WorkerState[]): Setup => ({
    candidates: [c('t', over)],
    running: [running('r', 0, [k('g', 'full')])],
    rules,
    workers,
    windows: { api: consume(createWindow({ limit: 2, windowMs: 1000 }), NOW, 1) },
  });
  const noSlot = [w('w', 0)];
  const suspectOnly = [w('w', 1, { holdsSuspect: true })];
  it.each<[string, Partial<Candidate>, WorkerState[], WaitReason['kind']]>([
    ['units_over_limit before backoff', { rateLimits: [{ key: 'api', units: 3 }], availableAt: NOW + 1 }, noSlot, 'units_over_limit'],
    ['backoff before no_worker', { action: 'nobody', availableAt: NOW + 1 }, noSlot, 'backoff'],
    ['no_worker before concurrency', { action: 'nobody', ...fullKey }, noSlot, 'no_worker'],
    ['concurrency before rate_limit', { ...fullKey, ...rateShort }, noSlot, 'concurrency'],
    ['rate_limit before no_slot', rateShort, noSlot, 'rate_limit'],
    ['no_slot before suspect', { suspect: true }, noSlot, 'no_slot'],
    ['suspect last', { suspect: true }, suspectOnly, 'suspect'],
  ])('%s', (_, over, workers, kind) => {
    expect(run(setupWith(over, workers)).waits.map((x) => x.reason.kind)).toEqual([kind]);
  });
});

describe('decide: bad input', () => {
  it('refuses what would make a wrong decision, with a clear error', () => {
    expect(() => run({ candidates: [c('t', { keys: [k('ghost', 'x')] })] })).toThrow(/task run t has a key under unknown rule "ghost"/);
    expect(() => run({ candidates: [c('t', { keys: [k('r', 'x'), k('r', 'y')] })], rules: [rule('r', 1)] })).toThrow(/two keys under rule "r"/);
    expect(() => run({ candidates: [c('t', { rateLimits: [{ key: 'nope', units: 1 }] })] })).toThrow(/rate-limit key "nope", which has no window/);
    expect(() => run({ candidates: [c('t', { rateLimits: [{ key: 'r', units: 1.5 }] })], windows: { r: createWindow({ limit: 2, windowMs: 10 }) } })).toThrow(/units are integers/);
    expect(() => run({ candidates: [c('t')], running: [running('t', 0, [])] })).toThrow(/task run t is given twice/);
    expect(() => run({ candidates: [], rules: [rule('r', 0)] })).toThrow(/rule "r" needs maxRuns ≥ 1/);
    expect(() => run({ candidates: [], rules: [{ id: 'r', maxRuns: 1, strategy: 'FIFO' as LimitStrategy }] })).toThrow(/unknown strategy "FIFO"/);
    expect(() => run({ candidates: [], workers: [w('a', 1), w('a', 1)] })).toThrow(/worker a is given twice/);
    expect(() => run({ candidates: [c('t', { seq: Number.NaN })] })).toThrow(/seq NaN/);
  });

  it('lets a running run keep a key under a rule that is gone', () => {
    const d = run({ candidates: [c('t')], running: [running('r', 0, [k('gone', 'x')])] });
    expect(assigned(d)).toEqual(['t']);
  });
});

describe('decide: at scale', () => {
  const KEYS = 1000;
  const PER_KEY = 10;
  const candidates: Candidate[] = [];
  for (let i = 0; i < KEYS * PER_KEY; i++) {
    candidates.push(c(`t${i}`, { seq: i, keys: [k('r', `key${i % KEYS}`)], action: `act${i % 7}` }));
  }
  const runningUnits = Array.from({ length: KEYS / 2 }, (_, j) => running(`run${j}`, -1 - j, [k('r', `key${j * 2}`)]));
  const allActions = Array.from({ length: 7 }, (_, a) => `act${a}`);
  const keyOf = (id: string) => Number(id.slice(1)) % KEYS;

  it('serves each of 1,000 keys once when 1,000 slots are shared by 10,000 candidates', () => {
    const workers = Array.from({ length: 1000 }, (_, j) => w(`w${j}`, 1, { actions: allActions }));
    const d = run({ candidates, running: runningUnits, rules: [rule('r', 3)], workers });
    expect(d.assignments).toHaveLength(1000);
    const perKey = new Map<number, string[]>();
    for (const a of d.assignments) perKey.set(keyOf(a.taskRunId), [...(perKey.get(keyOf(a.taskRunId)) ?? []), a.taskRunId]);
    expect(perKey.size).toBe(KEYS);
    // FIFO within a key: each key's oldest candidate.
    for (const [key, ids] of perKey) expect(ids).toEqual([`t${key}`]);
    expect(new Set(d.assignments.map((a) => a.workerId)).size).toBe(1000);
    expect(d.waits.every((x) => x.reason.kind === 'no_slot')).toBe(true);
    expect(d.rotation.turns.size).toBe(KEYS);
  });

  it('fills every key to maxRuns when slots are plenty', () => {
    const workers = Array.from({ length: 1000 }, (_, j) => w(`w${j}`, 10, { actions: allActions }));
    const d = run({ candidates, running: runningUnits, rules: [rule('r', 3)], workers });
    // Keys with a running run admit 2, the others 3.
    expect(d.assignments).toHaveLength((KEYS / 2) * 2 + (KEYS / 2) * 3);
    expect(d.waits.every((x) => x.reason.kind === 'concurrency')).toBe(true);
    expect(d.waits).toHaveLength(KEYS * PER_KEY - d.assignments.length);
  });

  it('cancels across 1,000 CANCEL_NEWEST keys in one pass', () => {
    const d = run({ candidates, running: runningUnits, rules: [rule('r', 3, 'CANCEL_NEWEST')], workers: [w('w0', 100, { actions: allActions })] });
    expect(d.cancellations).toHaveLength(KEYS * PER_KEY - (KEYS / 2) * 2 - (KEYS / 2) * 3);
    expect(d.assignments).toHaveLength(100);
  });
});

describe('decide: invariants on random input (property)', () => {
  const strategies: LimitStrategy[] = ['GROUP_ROUND_ROBIN', 'CANCEL_IN_PROGRESS', 'CANCEL_NEWEST'];
  const arb = fc
    .record({
      rules: fc.array(fc.record({ maxRuns: fc.integer({ min: 1, max: 3 }), strategy: fc.constantFrom(...strategies) }), { minLength: 1, maxLength: 3 }),
      candidates: fc.array(
        fc.record({
          action: fc.constantFrom('a', 'b', 'c'),
          priority: fc.integer({ min: 1, max: 3 }),
          lifo: fc.boolean(),
          late: fc.boolean(),
          suspect: fc.boolean(),
          seq: fc.nat(1000),
          keys: fc.array(fc.tuple(fc.nat(2), fc.nat(3)), { maxLength: 3 }),
          rates: fc.array(fc.tuple(fc.constantFrom('r1', 'r2'), fc.integer({ min: 0, max: 4 })), { maxLength: 2 }),
        }),
        { maxLength: 40 },
      ),
      running: fc.array(fc.record({ seq: fc.nat(1000), keys: fc.array(fc.tuple(fc.nat(2), fc.nat(3)), { maxLength: 2 }) }), { maxLength: 6 }),
      workers: fc.array(
        fc.record({ actions: fc.subarray(['a', 'b', 'c']), freeSlots: fc.integer({ min: 0, max: 4 }), holdsSuspect: fc.boolean() }),
        { maxLength: 5 },
      ),
    })
    .map((r) => {
      const ruleCount = r.rules.length;
      const refs = (pairs: Array<[number, number]>) => {
        const byRule = new Map(pairs.map(([ri, key]) => [ri % ruleCount, key]));
        return [...byRule].map(([ri, key]) => k(`R${ri}`, `K${key}`));
      };
      // Random order, unique: the drawn number, then the position.
      const seqOf = (drawn: number, position: number) => drawn * 1000 + position;
      return {
        rules: r.rules.map((x, i) => rule(`R${i}`, x.maxRuns, x.strategy)),
        running: r.running.map((x, i) => running(`run${i}`, seqOf(x.seq, 100 + i), refs(x.keys))),
        candidates: r.candidates.map((x, i) =>
          c(`c${i}`, {
            seq: seqOf(x.seq, i),
            action: x.action,
            priority: x.priority,
            lifo: x.lifo,
            availableAt: x.late ? NOW + 10 : NOW,
            suspect: x.suspect,
            keys: refs(x.keys),
            rateLimits: x.rates.map(([key, units]) => ({ key, units })),
          }),
        ),
        workers: r.workers.map((x, i) => w(`w${i}`, x.freeSlots, { actions: x.actions, holdsSuspect: x.holdsSuspect })),
      };
    });

  it('gives each candidate one outcome and never breaks a slot, key, suspect or rate limit', () => {
    fc.assert(
      fc.property(arb, (setup) => {
        const windows = { r1: createWindow({ limit: 3, windowMs: 1000 }), r2: consume(createWindow({ limit: 5, windowMs: 100 }), NOW - 50, 4) };
        // Two decisions in a row: the second runs on the first one's rotation and windows.
        const first = run({ ...setup, windows });
        const left = setup.candidates.filter((x) => !first.assignments.some((a) => a.taskRunId === x.taskRunId) && !first.cancellations.some((y) => y.taskRunId === x.taskRunId));
        run({ ...setup, running: [], candidates: left, windows: Object.fromEntries(first.windows), rotation: first.rotation });
      }),
      { numRuns: 300 },
    );
  });
});
