import { describe, expect, it } from 'vitest';
import { rotationGroup } from '../../engine/scheduler/decide.ts';
import { FlowState } from '../../engine/scheduler/flow-state.ts';

const key = (rule: string, k: string) => ({ rule, key: k });

describe('FlowState: held keys', () => {
  it("frees a task's keys when its attempt's result comes, and leaves another attempt's hold alone", () => {
    const flow = new FlowState();
    flow.admitted(
      [
        { taskRunId: 't1', attempt: 2, runId: 'r1', taskKeys: [key('a#0', 'x')], runKeys: [key('wf#0', 'u')] },
        { taskRunId: 't2', attempt: 1, runId: 'r2', taskKeys: [key('a#0', 'y')], runKeys: [] },
      ],
      new Map(),
    );
    expect(flow.heldUnits().map((u) => u.taskRunId).sort()).toEqual(['run:r1', 't1', 't2']);
    // A superseded attempt's late result does not free the current attempt's keys.
    flow.attemptEnded('t1', 1);
    expect(flow.heldUnits().map((u) => u.taskRunId).sort()).toEqual(['run:r1', 't1', 't2']);
    // The current attempt's result does; the run keeps its workflow's keys until it ends.
    flow.attemptEnded('t1', 2);
    expect(flow.heldUnits().map((u) => u.taskRunId).sort()).toEqual(['run:r1', 't2']);
    expect(flow.heldRun('run:r1')).toBe('r1');
    flow.ended({ runIds: ['r1'] });
    expect(flow.heldUnits().map((u) => u.taskRunId)).toEqual(['t2']);
  });

  it('gives a decision only the held units that share a key with what it is asked', () => {
    const flow = new FlowState();
    flow.admitted(
      [
        { taskRunId: 't1', attempt: 1, runId: 'r1', taskKeys: [key('a#0', 'x'), key('a#1', 'p')], runKeys: [] },
        { taskRunId: 't2', attempt: 1, runId: 'r2', taskKeys: [key('a#0', 'y')], runKeys: [] },
        { taskRunId: 't3', attempt: 1, runId: 'r3', taskKeys: [key('a#1', 'x')], runKeys: [] },
      ],
      new Map(),
    );
    const asking = new Set([`a#1\u0000p`]);
    expect(flow.heldUnits(asking).map((u) => u.taskRunId)).toEqual(['t1']);
    // The same key string under another rule is another key.
    expect(flow.heldUnits(new Set([`a#0\u0000x`])).map((u) => u.taskRunId)).toEqual(['t1']);
    expect(flow.heldUnits(new Set()).length).toBe(0);
  });
});

describe('FlowState: candidates of a queue behind rate limits alone', () => {
  /** A database holding one standalone task's definition and one static rate limit (a fake answering by statement). */
  const fakeDb = (task: Record<string, unknown>) => ({
    query: async (text: string) => {
      if (text.includes('FROM workflow_version')) return { rows: [{ name: task.name, version: 1, definition: { kind: 'task', task }, latest: true }] };
      if (text.includes('FROM rate_limit')) return { rows: [{ key: 'api', kind: 'static', limit_units: 1_000_000, duration: 'minute', state: null, updated_at: new Date() }] };
      return { rows: [] };
    },
  });
  const base = { retries: 0, backoff: null, executionTimeoutMs: 60_000, scheduleTimeoutMs: 60_000, defaultPriority: 1 };
  const window = (n: number) =>
    Array.from({ length: n }, (_, i) => ({
      taskRunId: `0190-${String(i).padStart(6, '0')}`,
      action: 'send',
      priority: 1,
      availableAt: 0,
      suspect: false,
      detail: { runId: `r${i}`, workflowVersion: 1, input: { user: `u${i % 7}` }, metadata: {}, parents: null, runAdmitted: false },
    }));
  const candidates = async (task: Record<string, unknown>, freeSlots: number, each = <T>(c: T, _i: number): T => c) => {
    const flow = new FlowState();
    const db = fakeDb({ ...base, name: 'send', ...task });
    await flow.refresh(db as never, ['send'], { heldMaxAgeMs: 2_000, now: 1 });
    const items = window(500).map(each);
    await flow.ensureVersions(db as never, items);
    const options = { gone: new Set<string>(), now: 1, rules: new Map(), unschedulable: [], perAction: 64, freeSlots, turns: new Map(), asking: new Set<string>(), skipped: [], backlog: new Set<string>() };
    return flow.keyedCandidates(items, options).map((c) => c.candidate);
  };

  it('passes the free slots and one more when every run asks the same static limit', async () => {
    const passed = await candidates({ rateLimits: [{ staticKey: 'api', units: 2 }] }, 10);
    // In queue order: the first the limit holds back holds back everything behind it.
    expect(passed.map((c) => c.taskRunId)).toEqual(window(11).map((c) => c.taskRunId));
    expect(passed[0]!.rateLimits).toEqual([{ key: 'api', units: 2, dynamic: null }]);
  });

  it('does not count suspects in those free slots: they wait for a worker running none, and what follows may start', async () => {
    const passed = await candidates({ rateLimits: [{ staticKey: 'api', units: 1 }] }, 3, (c, i) => ({ ...c, suspect: i < 2 }));
    expect(passed.map((c) => c.suspect)).toEqual([true, true, false, false, false, false]);
  });

  it('passes more when runs ask different keys of a dynamic limit (one key waiting does not hold back another)', async () => {
    const passed = await candidates({ rateLimits: [{ dynamicKey: 'input.user', units: 1, limit: 5, duration: 'second' }] }, 10);
    expect(passed.length).toBe(64);
    expect(new Set(passed.map((c) => c.rateLimits[0]!.key)).size).toBe(7);
  });
});

describe('FlowState: candidates of a keyed queue', () => {
  const task = { name: 'sync', retries: 0, backoff: null, executionTimeoutMs: 60_000, scheduleTimeoutMs: 60_000, defaultPriority: 1, concurrency: [{ expression: 'input.user', maxRuns: 3, limitStrategy: 'GROUP_ROUND_ROBIN' }] };
  const db = {
    query: async (text: string) => ({ rows: text.includes('FROM workflow_version') ? [{ name: 'sync', version: 1, definition: { kind: 'task', task }, latest: true }] : [] }),
  };
  // 4 users, 10 waiting each, in turn.
  const items = Array.from({ length: 40 }, (_, i) => ({
    taskRunId: `0190-${String(i).padStart(6, '0')}`,
    action: 'sync',
    priority: 1,
    availableAt: 0,
    suspect: false,
    detail: { runId: `r${i}`, workflowVersion: 1, input: { user: `u${i % 4}` }, metadata: {}, parents: null, runAdmitted: false },
  }));
  const pass = async (o: { freeSlots: number; running?: number }) => {
    const flow = new FlowState();
    await flow.refresh(db as never, ['sync'], { heldMaxAgeMs: 2_000, now: 1 });
    await flow.ensureVersions(db as never, items);
    // `running` of each user's runs already hold their key.
    const held = Array.from({ length: o.running ?? 0 }, (_, j) => [0, 1, 2, 3].map((u) => ({ taskRunId: `h${u}-${j}`, attempt: 1, runId: `hr${u}-${j}`, taskKeys: [key('sync#0', `u${u}`)], runKeys: [] }))).flat();
    flow.admitted(held, new Map());
    // Every key known to the rotation already (none new), u0 least recently served.
    const turns = new Map([0, 1, 2, 3].map((u) => [rotationGroup([{ rule: { id: 'sync#0', maxRuns: 3, strategy: 'GROUP_ROUND_ROBIN' }, key: `u${u}` }], false), u]));
    const backlog = new Set<string>();
    const out = flow.keyedCandidates(items, { gone: new Set(), now: 2, rules: new Map(), unschedulable: [], perAction: 64, freeSlots: o.freeSlots, turns, asking: new Set(), skipped: [], backlog });
    return { users: out.map((c) => (c.candidate.keys[0]!.key)), backlog };
  };

  it('gives each key its share of the free slots, and names those with more behind', async () => {
    const { users, backlog } = await pass({ freeSlots: 8 });
    // 8 slots over 4 keys with room: 2 each, none more (their keys have room for 3).
    expect(users.sort()).toEqual(['u0', 'u0', 'u1', 'u1', 'u2', 'u2', 'u3', 'u3']);
    expect(backlog.size).toBe(4);
  });

  it('gives no more than a key has room for, and leaves a key it fills out of the backlog', async () => {
    // Each key holds 2 of its 3: room for 1. Filled, the group leaves the rotation; passed again, its
    // head waits on the key and says why (a group kept in the backlog would not be passed while full).
    const { users, backlog } = await pass({ freeSlots: 8, running: 2 });
    expect(users.sort()).toEqual(['u0', 'u1', 'u2', 'u3']);
    expect(backlog.size).toBe(0);
  });
});
