import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { RunListPage, RunListParams, RunSummary } from '../../shared/admin-api.ts';
import type { RunStatus } from '../../shared/types.ts';
import { LiveRunsList, MIN_GAP_MS, mergeLiveRead, type RunsListState } from '../../renderer/hooks/live-runs-list.ts';

/** Run number n, created n seconds into the day: a higher number is newer. */
function run(n: number, status: RunStatus = 'queued'): RunSummary {
  return {
    id: `00000000-0000-7000-8000-${String(n).padStart(12, '0')}`,
    workflowName: 'w',
    workflowVersion: 1,
    kind: 'task',
    status,
    triggerKind: 'manual',
    metadata: {},
    parentTaskRunId: null,
    parentRunId: null,
    childCount: 0,
    eventId: null,
    failureReason: null,
    createdAt: new Date(Date.UTC(2026, 0, 1, 0, 0, n)).toISOString(),
    replayedAt: null,
    finishedAt: null,
  };
}
const ids = (runs: RunSummary[]) => runs.map((r) => Number(r.id.slice(-12)));
/** Runs from..to, newest first. */
const span = (from: number, to: number, status?: RunStatus) => Array.from({ length: from - to + 1 }, (_, i) => run(from - i, status));

describe('folding a live read into the loaded runs', () => {
  const loaded = { runs: span(100, 1), nextCursor: 'more' };

  it('puts new runs on top and updates the runs it read, leaving the rest as they were', () => {
    const merged = mergeLiveRead(loaded, { top: { runs: span(103, 94), nextCursor: 'c' }, asked: [run(5).id, run(50).id], found: [run(50, 'succeeded'), run(5, 'running')] });
    expect(ids(merged.runs)).toEqual(ids(span(103, 1)));
    expect(merged.runs.find((r) => r.id === run(50).id)!.status).toBe('succeeded');
    expect(merged.runs.find((r) => r.id === run(5).id)!.status).toBe('running');
    expect(merged.runs[40]).toBe(loaded.runs[37]);
    expect(merged.nextCursor).toBe('more');
  });

  it('drops runs that left the filter: asked for and not found, or missing from the first page’s range', () => {
    const merged = mergeLiveRead(loaded, { top: { runs: span(100, 91).filter((r) => r.id !== run(95).id), nextCursor: 'c' }, asked: [run(20).id], found: [] });
    expect(ids(merged.runs)).not.toContain(20);
    expect(ids(merged.runs)).not.toContain(95);
    expect(merged.runs).toHaveLength(98);
  });

  it('inserts a run that entered the filter where the list has loaded, not below it while more pages remain', () => {
    const sparse = { runs: span(100, 1).filter((r) => Number(r.id.slice(-2)) % 2 === 0), nextCursor: 'more' };
    const merged = mergeLiveRead(sparse, { top: { runs: span(100, 80).filter((r) => Number(r.id.slice(-2)) % 2 === 0), nextCursor: 'c' }, asked: [run(33).id, run(1).id], found: [run(33, 'running'), run(1, 'running')] });
    expect(ids(merged.runs).slice(32, 36)).toEqual([36, 34, 33, 32]);
    expect(ids(merged.runs)).not.toContain(1);
    const whole = mergeLiveRead({ ...sparse, nextCursor: null }, { top: { runs: span(100, 80).filter((r) => Number(r.id.slice(-2)) % 2 === 0), nextCursor: 'c' }, asked: [run(1).id], found: [run(1, 'running')] });
    expect(ids(whole.runs).at(-1)).toBe(1);
  });

  it('starts again from the first page when it does not reach the list, and takes a whole first page as the list', () => {
    expect(ids(mergeLiveRead(loaded, { top: { runs: span(300, 201), nextCursor: 'c' }, asked: [], found: [] }).runs)).toEqual(ids(span(300, 201)));
    const all = mergeLiveRead(loaded, { top: { runs: span(101, 90), nextCursor: null }, asked: [], found: [] });
    expect(ids(all.runs)).toEqual(ids(span(101, 90)));
    expect(all.nextCursor).toBeNull();
  });
});

describe('a live runs list', () => {
  let calls: RunListParams[];
  let answer: Array<() => void>;
  let db: RunSummary[];
  let engineAway: boolean;
  let state: RunsListState;
  let list: LiveRunsList;
  const settle = async () => {
    for (let i = 0; i < 5; i++) await Promise.resolve();
  };
  /** Answers the request in flight (the fake engine holds each until told). */
  const respond = async () => {
    await settle();
    answer.shift()!();
    await settle();
  };

  beforeEach(() => {
    vi.useFakeTimers();
    calls = [];
    answer = [];
    db = span(5000, 1);
    engineAway = false;
    const client = {
      call: (_method: string, params: RunListParams) => {
        calls.push(params);
        return new Promise<RunListPage>((resolve, reject) => {
          answer.push(() => {
            if (engineAway) return reject(new Error('engine away'));
            let runs = params.runIds ? db.filter((r) => params.runIds!.includes(r.id)) : db;
            if (params.cursor) runs = runs.slice(Number(params.cursor));
            const limit = params.limit ?? 50;
            const from = Number(params.cursor ?? 0);
            resolve({ runs: runs.slice(0, limit), nextCursor: runs.length > limit ? String(from + limit) : null });
          });
        });
      },
    };
    list = new LiveRunsList({ client: client as never, filter: {}, pageSize: 100, shown: { runs: [], nextCursor: null, loaded: false, error: null, refreshing: true, loadingMore: false }, onState: (s) => (state = s) });
  });
  afterEach(() => {
    list.stop();
    vi.useRealTimers();
  });

  async function loadAll(): Promise<void> {
    list.start();
    await respond();
    while (state.nextCursor) {
      list.loadMore();
      await respond();
    }
    await vi.advanceTimersByTimeAsync(MIN_GAP_MS);
    calls = [];
  }

  it('reads the first page and the changed runs, once per refresh, with changes during a read kept for the next', async () => {
    await loadAll();
    expect(state.runs).toHaveLength(5000);

    db = [run(5001), ...db.map((r) => (r.id === run(10).id ? run(10, 'succeeded') : r))];
    list.runsChanged([run(10).id, run(5001).id]);
    await vi.advanceTimersByTimeAsync(0);
    expect(calls).toEqual([{ runIds: [run(10).id, run(5001).id], limit: 2 }]);
    list.runsChanged([run(20).id]);
    list.runsChanged([run(30).id, run(20).id]);
    await respond();
    expect(calls[1]).toEqual({ limit: 100 });
    await respond();
    expect(answer).toHaveLength(0);
    expect(state.runs).toHaveLength(5001);
    expect(state.runs[0]!.id).toBe(run(5001).id);
    expect(state.runs.find((r) => r.id === run(10).id)!.status).toBe('succeeded');

    // The changes that came during the read wait MIN_GAP_MS after it, then go in one read.
    await vi.advanceTimersByTimeAsync(MIN_GAP_MS - 1);
    expect(calls).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(1);
    expect(calls[2]).toEqual({ runIds: [run(20).id, run(30).id], limit: 2 });
    await respond();
    await respond();
    expect(calls.every((c) => (c.limit ?? 50) <= 1000 && (c.runIds?.length ?? 0) <= 1000)).toBe(true);
  });

  it('reads at most a thousand ids a refresh, the ones in view first, and the rest in the next', async () => {
    await loadAll();
    list.showing([run(4000).id, run(3999).id]);
    list.runsChanged(span(2500, 1).map((r) => r.id));
    list.runsChanged([run(3999).id]);
    await vi.advanceTimersByTimeAsync(0);
    expect(calls[0]!.runIds).toHaveLength(1000);
    expect(calls[0]!.runIds![0]).toBe(run(3999).id);
    await respond();
    await respond();
    await vi.advanceTimersByTimeAsync(MIN_GAP_MS);
    expect(calls[2]!.runIds).toHaveLength(1000);
    await respond();
    await respond();
    await vi.advanceTimersByTimeAsync(MIN_GAP_MS);
    expect(calls[4]!.runIds).toHaveLength(501);
  });

  it('on the slow timer reads the runs in view and the first page', async () => {
    await loadAll();
    list.showing([run(4000).id, run(3999).id, 'not-loaded']);
    list.poll();
    await vi.advanceTimersByTimeAsync(0);
    expect(calls[0]).toEqual({ runIds: [run(4000).id, run(3999).id], limit: 2 });
    await respond();
    expect(calls[1]).toEqual({ limit: 100 });
  });

  it('loads the next page after the read in flight when asked during it', async () => {
    list.start();
    await respond();
    list.runsChanged([run(4990).id]);
    await vi.advanceTimersByTimeAsync(MIN_GAP_MS);
    list.loadMore();
    await respond();
    await respond();
    expect(calls.at(-1)).toEqual({ limit: 100, cursor: '100' });
    await respond();
    expect(state.runs).toHaveLength(200);
  });

  it('after a failed read keeps what it shows and reads the same runs again on the next change', async () => {
    await loadAll();
    const shown = state.runs;
    engineAway = true;
    list.runsChanged([run(7).id]);
    await vi.advanceTimersByTimeAsync(0);
    await respond();
    expect(state.error?.message).toBe('engine away');
    expect(state.runs).toBe(shown);
    // Not again by itself (an engine that is away is not asked twice a second) …
    await vi.advanceTimersByTimeAsync(5 * MIN_GAP_MS);
    expect(calls).toHaveLength(1);
    // … but with the next change, together with it.
    engineAway = false;
    list.runsChanged([run(8).id]);
    await vi.advanceTimersByTimeAsync(0);
    expect(calls[1]).toEqual({ runIds: [run(7).id, run(8).id], limit: 2 });
    await respond();
    await respond();
    expect(state.error).toBeNull();
  });

  it('loads the next page after the first page when asked before the first page answered', async () => {
    list.start();
    list.loadMore();
    await respond();
    expect(state.runs).toHaveLength(100);
    expect(calls).toEqual([{ limit: 100 }, { limit: 100, cursor: '100' }]);
    await respond();
    expect(state.runs).toHaveLength(200);
  });

  it('after a failed first page tries it again on the next change or tick, not in a loop', async () => {
    engineAway = true;
    list.start();
    list.runsChanged([run(3).id]);
    await respond();
    expect(state.error?.message).toBe('engine away');
    await vi.advanceTimersByTimeAsync(5 * MIN_GAP_MS);
    expect(calls).toHaveLength(1);
    engineAway = false;
    list.poll();
    await vi.advanceTimersByTimeAsync(0);
    expect(calls).toEqual([{ limit: 100 }, { limit: 100 }]);
    await respond();
    expect(state.error).toBeNull();
    expect(state.runs).toHaveLength(100);
  });
});
