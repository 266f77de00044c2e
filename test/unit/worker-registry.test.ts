// The worker registry on plain data: what it pushes to a session, and what a session disowned (attempts
// declared lost for it, or decided for an earlier session of the same worker) never reaching it.
import { describe, expect, it } from 'vitest';
import { createEngineEvents } from '../../engine/engine-events.ts';
import { silentLogger } from '../../engine/log.ts';
import { WorkerRegistry, newWorkerSession, type WorkerSession } from '../../engine/dispatcher/worker-registry.ts';
import type { AssignedTask, EngineMessage } from '../../shared/protocol.ts';

function session(id: string, sent: EngineMessage[], o: { slots?: number; prefetch?: number } = {}): WorkerSession {
  return newWorkerSession({
    id,
    sessionId: `${id}-${Math.random()}`,
    name: id,
    actions: ['a'],
    slots: o.slots ?? 2,
    prefetch: o.prefetch ?? 0,
    labels: {},
    address: 'local',
    send: (m) => void sent.push(m),
    close: () => undefined,
  });
}

const task = (taskRunId: string, attempt = 1): AssignedTask => ({ taskRunId, runId: `run-${taskRunId}`, attempt, action: 'a', input: null, metadata: {}, timeoutMs: 1000 });

function registry(): WorkerRegistry {
  return new WorkerRegistry({ events: createEngineEvents({ log: silentLogger }), staleAfterMs: 10_000, stopGraceMs: 1_000 });
}

describe('WorkerRegistry', () => {
  it('pushes assigned attempts in one frame and records them as running and given', () => {
    const r = registry();
    const sent: EngineMessage[] = [];
    const w = session('w', sent);
    r.add(w);
    r.assign(w, [task('t1'), task('t2')]);
    expect(sent).toEqual([{ t: 'assign', tasks: [task('t1'), task('t2')] }]);
    expect([...w.running]).toEqual([['t1', 1], ['t2', 1]]);
    expect(r.holds(w, 't1', 1)).toBe(true);
    expect(r.freeSlots(w)).toBe(0);
    expect(r.release('w', 't1', 1)).toBe(w);
    expect(r.holds(w, 't1', 1)).toBe(false);
    expect(r.freeSlots(w)).toBe(1);
  });

  it('knows the action of each running attempt, and forgets it with the attempt', () => {
    const r = registry();
    const w = session('w', []);
    r.add(w);
    r.assign(w, [task('t1'), { ...task('t2'), action: 'wf:step' }, task('t3')]);
    expect(Object.fromEntries(w.runningActions)).toEqual({ t1: task('t1').action, t2: 'wf:step', t3: task('t3').action });
    r.release('w', 't1', 1);
    // Released only for the attempt it holds.
    r.release('w', 't3', 7);
    expect([...w.runningActions.keys()].sort()).toEqual(['t2', 't3']);
  });

  it('never pushes a session an attempt it disowned, and sends nothing when that was all', () => {
    const r = registry();
    const sent: EngineMessage[] = [];
    const w = session('w', sent);
    r.add(w);
    w.disowned.add('t1:1');
    r.assign(w, [task('t1')]);
    expect(sent).toEqual([]);
    expect(w.running.size).toBe(0);
    // Another attempt of the same task run (its retry) is not disowned.
    r.assign(w, [task('t1', 2), task('t3')]);
    expect(sent).toEqual([{ t: 'assign', tasks: [task('t1', 2), task('t3')] }]);
  });

  it('disowns, for the worker\'s current session, what was decided for an earlier one', () => {
    const r = registry();
    const oldSent: EngineMessage[] = [];
    const newSent: EngineMessage[] = [];
    const earlier = session('w', oldSent);
    r.add(earlier);
    r.remove(earlier);
    const current = session('w', newSent);
    r.add(current);
    r.disown('w', [{ taskRunId: 't1', attempt: 1 }]);
    r.assign(current, [task('t1')]);
    expect(newSent).toEqual([]);
    expect(current.disowned.has('t1:1')).toBe(true);
    expect(earlier.disowned.size).toBe(0);
    // A worker with no session here: nothing to disown, nothing thrown.
    r.disown('nobody', [{ taskRunId: 't2', attempt: 1 }]);
  });

  it('lets a prefetching worker hold up to its prefetch beyond its free slots, never while draining', () => {
    const r = registry();
    const w = session('w', [], { slots: 2, prefetch: 2 });
    r.add(w);
    expect(r.holdSlots(w)).toBe(2);
    r.assign(w, [task('t1'), task('t2'), task('t3')]);
    expect(r.freeSlots(w)).toBe(0);
    expect(r.holdSlots(w)).toBe(1);
    w.draining = true;
    expect(r.holdSlots(w)).toBe(0);
  });
});
