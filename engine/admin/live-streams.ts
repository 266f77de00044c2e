/**
 * Runs' streams over the console's live WebSocket (shared/admin-transport.ts): a client sends
 * LiveClientMessage, the server answers with LiveStreamMessage beside the AdminChange messages it
 * pushes anyway. A bad message gets a `stream_error` saying what was wrong; nothing a client sends
 * closes the socket or reaches the engine unchecked.
 */
import type { WebSocket } from 'ws';
import type { LiveClientMessage, LiveStreamMessage } from '../../shared/admin-transport.ts';
import { CleaverError, toError } from '../../shared/errors.ts';
import { streamCursorProblem, type StreamCursor, type StreamSubscriptions } from '../../shared/stream.ts';

/** Streams one console socket may follow at once. */
const MAX_SUBSCRIPTIONS = 100;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Serves stream subscriptions on `ws` until it closes; returns a function that stops them all. */
export function serveLiveStreams(ws: WebSocket, streams: StreamSubscriptions): () => void {
  const subscriptions = new Map<number, Promise<(() => void) | null>>();
  const send = (message: LiveStreamMessage) => {
    if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(message));
  };
  const refuse = (subscription: number | null, error: CleaverError) => send({ t: 'stream_error', subscription, error: error.toWire() });
  const stop = (subscription: number) => {
    const started = subscriptions.get(subscription);
    subscriptions.delete(subscription);
    void started?.then((unsubscribe) => unsubscribe?.());
  };

  ws.on('message', (data, isBinary) => {
    const parsed = parse(isBinary ? null : String(data));
    if ('problem' in parsed) {
      refuse(parsed.subscription, new CleaverError('BAD_REQUEST', parsed.problem));
      return;
    }
    const message = parsed.message;
    if (message.t === 'stream_unsubscribe') {
      stop(message.subscription);
      return;
    }
    const { subscription } = message;
    stop(subscription);
    if (subscriptions.size >= MAX_SUBSCRIPTIONS) {
      refuse(subscription, new CleaverError('BAD_REQUEST', `a console connection may follow at most ${MAX_SUBSCRIPTIONS} streams at once; stop some first`));
      return;
    }
    let ended = false;
    const started = streams
      .subscribe(
        { runId: message.runId, after: message.after },
        {
          push: (events) => {
            if (events.at(-1)?.type === 'end') ended = true;
            send({ t: 'stream_events', subscription, events });
          },
          backlog: () => ws.bufferedAmount,
        },
      )
      .then(
        (unsubscribe) => {
          if (ended || subscriptions.get(subscription) !== started) unsubscribe();
          return unsubscribe;
        },
        (e: unknown) => {
          if (subscriptions.get(subscription) === started) subscriptions.delete(subscription);
          refuse(subscription, e instanceof CleaverError ? e : new CleaverError('INTERNAL', toError(e).message));
          return null;
        },
      );
    subscriptions.set(subscription, started);
  });

  return () => {
    for (const subscription of [...subscriptions.keys()]) stop(subscription);
  };
}

function parse(text: string | null): { message: LiveClientMessage } | { problem: string; subscription: number | null } {
  let m: Record<string, unknown>;
  try {
    m = JSON.parse(text ?? '') as Record<string, unknown>;
  } catch {
    return { problem: 'a live message must be JSON text: { t: "stream_subscribe", subscription, runId } or { t: "stream_unsubscribe", subscription }', subscription: null };
  }
  if (m === null || typeof m !== 'object' || Array.isArray(m)) return { problem: 'a live message must be a JSON object', subscription: null };
  const subscription = Number.isSafeInteger(m.subscription) && (m.subscription as number) >= 0 ? (m.subscription as number) : null;
  if (m.t !== 'stream_subscribe' && m.t !== 'stream_unsubscribe') {
    return { problem: `unknown live message ${JSON.stringify(m.t ?? null)}; send stream_subscribe or stream_unsubscribe`, subscription };
  }
  if (subscription === null) return { problem: `${m.t}.subscription must be a non-negative integer`, subscription };
  if (m.t === 'stream_unsubscribe') return { message: { t: 'stream_unsubscribe', subscription } };
  if (typeof m.runId !== 'string' || !UUID.test(m.runId)) return { problem: 'stream_subscribe.runId must be a run id (UUID)', subscription };
  const problem = streamCursorProblem(m.after, 'stream_subscribe.after');
  if (problem) return { problem, subscription };
  return { message: { t: 'stream_subscribe', subscription, runId: m.runId, after: m.after as StreamCursor | undefined } };
}
