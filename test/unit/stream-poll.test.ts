// The desktop console reads a run's stream by polling runStreamRead (IPC cannot push): it must pass
// back the cursor it was given, read on at once while pages remain, and end once the run has ended
// and nothing is left.
import { afterEach, expect, it, vi } from 'vitest';
import { pollRunStream } from '../../renderer/api/stream-poll.ts';
import type { AdminClient } from '../../renderer/api/admin-client.ts';
import type { StreamEvent, StreamReadPage } from '../../shared/stream.ts';

const RUN = '01900000-0000-7000-8000-000000000001';
const TASK = '01900000-0000-7000-8000-000000000002';
const chunk = (seq: number): StreamEvent => ({ type: 'chunk', taskRunId: TASK, taskName: 't', attempt: 1, seq, kind: 'text', data: `c${seq}`, bytes: 2, at: new Date(0).toISOString() });

afterEach(() => vi.useRealTimers());

it('reads page after page with the cursor it was given, then ends with the run', async () => {
  vi.useFakeTimers();
  const pages: StreamReadPage[] = [
    { events: [chunk(1)], cursor: { [TASK]: [1, 1] }, more: true, status: 'running' },
    { events: [chunk(2)], cursor: { [TASK]: [1, 2] }, more: false, status: 'running' },
    { events: [], cursor: { [TASK]: [1, 2] }, more: false, status: 'succeeded' },
  ];
  const asked: unknown[] = [];
  const call = (async (_method: string, params: unknown) => {
    asked.push(params);
    return pages.shift()!;
  }) as AdminClient['call'];
  const events: StreamEvent[] = [];
  const errors: Error[] = [];
  pollRunStream(call, RUN, { onEvents: (e) => events.push(...e), onError: (e) => errors.push(e) });
  await vi.advanceTimersByTimeAsync(0);
  // More was kept: the second page is read at once; the third only after the poll interval.
  expect(asked).toHaveLength(2);
  await vi.advanceTimersByTimeAsync(499);
  expect(asked).toHaveLength(2);
  await vi.advanceTimersByTimeAsync(1);
  expect(asked).toEqual([
    { runId: RUN, after: {} },
    { runId: RUN, after: { [TASK]: [1, 1] } },
    { runId: RUN, after: { [TASK]: [1, 2] } },
  ]);
  expect(events).toEqual([chunk(1), chunk(2), { type: 'end', status: 'succeeded' }]);
  await vi.advanceTimersByTimeAsync(2000);
  expect(asked).toHaveLength(3);
  expect(errors).toEqual([]);
});

it('stops when told, and reports a failed read', async () => {
  vi.useFakeTimers();
  let calls = 0;
  const call = (async () => {
    calls++;
    if (calls === 2) throw new Error('engine gone');
    return { events: [], cursor: {}, more: false, status: 'running' } satisfies StreamReadPage;
  }) as unknown as AdminClient['call'];
  const errors: Error[] = [];
  pollRunStream(call, RUN, { onEvents: () => undefined, onError: (e) => errors.push(e) });
  await vi.advanceTimersByTimeAsync(600);
  expect(errors.map((e) => e.message)).toEqual(['engine gone']);

  calls = 0;
  const stop = pollRunStream(call, RUN, { onEvents: () => undefined, onError: () => undefined });
  await vi.advanceTimersByTimeAsync(0);
  stop();
  await vi.advanceTimersByTimeAsync(5000);
  expect(calls).toBe(1);
});
