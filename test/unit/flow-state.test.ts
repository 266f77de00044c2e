import { describe, expect, it } from 'vitest';
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
