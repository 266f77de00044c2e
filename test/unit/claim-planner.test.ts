import { describe, expect, it } from 'vitest';
import { planClaims, type WorkerCapacity } from '../../engine/scheduler/claim-planner.ts';

const w = (id: string, actions: string[], freeSlots: number, draining = false): WorkerCapacity => ({ id, actions, freeSlots, draining });

describe('planClaims', () => {
  it('claims for workers with free slots and an action that may have work, up to their free slots', () => {
    const { claims } = planClaims({
      workers: [w('a', ['x', 'y'], 5), w('b', ['z'], 3), w('c', ['x'], 0), w('d', ['x'], 4, true)],
      actionsWithWork: new Set(['x']),
      cursor: 0,
      maxBatch: 100,
    });
    expect(claims).toEqual([{ workerId: 'a', actions: ['x'], limit: 5 }]);
  });

  it('caps a claim at maxBatch', () => {
    const { claims } = planClaims({ workers: [w('a', ['x'], 5000)], actionsWithWork: new Set(['x']), cursor: 0, maxBatch: 1000 });
    expect(claims[0]!.limit).toBe(1000);
  });

  it('rotates which worker is served first, so a short queue spreads across workers', () => {
    const workers = [w('a', ['x'], 1), w('b', ['x'], 1), w('c', ['x'], 1)];
    let cursor = 0;
    const firsts: string[] = [];
    for (let i = 0; i < 6; i++) {
      const plan = planClaims({ workers, actionsWithWork: new Set(['x']), cursor, maxBatch: 10 });
      firsts.push(plan.claims[0]!.workerId);
      cursor = plan.nextCursor;
    }
    expect(firsts).toEqual(['a', 'b', 'c', 'a', 'b', 'c']);
  });

  it('plans nothing without work or workers', () => {
    expect(planClaims({ workers: [], actionsWithWork: new Set(['x']), cursor: 3, maxBatch: 10 }).claims).toEqual([]);
    expect(planClaims({ workers: [w('a', ['x'], 1)], actionsWithWork: new Set(), cursor: 0, maxBatch: 10 }).claims).toEqual([]);
  });
});
