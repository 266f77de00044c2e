/**
 * A run's stream for a transport that cannot push (the desktop app's IPC): runStreamRead after the
 * cursor, at once while pages remain, else every POLL_MS, until the run has ended and all is read.
 */
import { toError } from '../../shared/errors.ts';
import type { StreamCursor } from '../../shared/stream.ts';
import type { AdminClient, StreamHandlers } from './admin-client.ts';

const POLL_MS = 500;

export function pollRunStream(call: AdminClient['call'], runId: string, handlers: StreamHandlers): () => void {
  let stopped = false;
  let timer: ReturnType<typeof setTimeout> | null = null;
  let after: StreamCursor = {};
  const read = async () => {
    timer = null;
    try {
      const page = await call('runStreamRead', { runId, after });
      if (stopped) return;
      after = page.cursor;
      if (page.events.length > 0) handlers.onEvents(page.events);
      const ended = page.status === 'succeeded' || page.status === 'failed' || page.status === 'cancelled';
      if (ended && !page.more) {
        handlers.onEvents([{ type: 'end', status: page.status }]);
        return;
      }
      timer = setTimeout(() => void read(), page.more ? 0 : POLL_MS);
    } catch (e: unknown) {
      if (!stopped) handlers.onError(toError(e));
    }
  };
  void read();
  return () => {
    stopped = true;
    if (timer) clearTimeout(timer);
  };
}
