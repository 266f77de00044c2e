/**
 * One page of a run's kept stream after a cursor, for transports that cannot push (the admin
 * contract's runStreamRead: the desktop app's IPC polls it).
 */
import type { Queryable } from '../db/driver.ts';
import { taskStreamRead, taskStreamRunState } from '../sql/task-stream.ts';
import { CleaverError } from '../../shared/errors.ts';
import { streamCursorAdvance, streamPositionCheck, type StreamCursor, type StreamEvent, type StreamReadPage } from '../../shared/stream.ts';
import { STREAM_PAGE } from './stream-hub.ts';

export async function runStreamPage(db: Queryable, params: { runId: string; after: StreamCursor; retentionBytes: number }): Promise<StreamReadPage> {
  // The status first: a run seen ended here has all its chunks stored (outcomes are written after them).
  const state = await taskStreamRunState(db, { runId: params.runId });
  if (!state) throw new CleaverError('NOT_FOUND', `no run with id ${params.runId}`);
  const events: StreamEvent[] = [];
  for (const cut of state.cuts) if (!params.after[cut.taskRunId]) events.push({ type: 'cut', ...cut, retentionBytes: params.retentionBytes });
  const cursor = { ...params.after };
  const page = await taskStreamRead(db, { runId: params.runId, after: params.after, ...STREAM_PAGE });
  for (const chunk of page.chunks) {
    const { duplicate, missed } = streamPositionCheck(cursor, chunk);
    if (duplicate) continue;
    if (missed > 0) events.push({ type: 'dropped', chunks: missed });
    streamCursorAdvance(cursor, chunk);
    events.push(chunk);
  }
  return { events, cursor, more: page.more, status: state.status };
}
