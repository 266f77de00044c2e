/**
 * The browser's transport, as shared/admin-transport.ts lays it down: POST /api/<method> with the bearer
 * token, and a WebSocket on /api/live carrying AdminChange messages, reopened with backoff when it drops.
 * Stream subscriptions ride the same socket; after a reopen each resumes after the last chunk it got.
 */
import type { AdminChange, AdminMethod } from '../../shared/admin-api.ts';
import { ADMIN_WS_PROTOCOL, type AdminResult, type LiveClientMessage, type LiveStreamMessage } from '../../shared/admin-transport.ts';
import { CleaverError, errorFromWire, toError } from '../../shared/errors.ts';
import { streamCursorAdvance, type StreamCursor } from '../../shared/stream.ts';
import type { AdminClient, LiveState, Params, Result, StreamHandlers } from './admin-client.ts';

const BACKOFF_MS = [500, 1000, 2000, 5000, 10_000];

export function httpClient(options: { baseUrl: string; token: string; onUnauthorized: () => void }): AdminClient {
  const changeListeners = new Set<(change: AdminChange) => void>();
  const stateListeners = new Set<(state: LiveState) => void>();
  let state: LiveState = 'connecting';
  let socket: WebSocket | null = null;
  let retry = 0;
  let retryTimer: ReturnType<typeof setTimeout> | null = null;
  let closed = false;
  const streams = new Map<number, { runId: string; cursor: StreamCursor; handlers: StreamHandlers }>();
  let nextSubscription = 1;
  const sendLive = (message: LiveClientMessage) => {
    if (socket?.readyState === WebSocket.OPEN) socket.send(JSON.stringify(message));
  };
  const subscribeStream = (subscription: number) => {
    const s = streams.get(subscription)!;
    sendLive({ t: 'stream_subscribe', subscription, runId: s.runId, ...(Object.keys(s.cursor).length > 0 ? { after: s.cursor } : {}) });
  };
  const onStreamMessage = (message: LiveStreamMessage) => {
    const s = message.subscription === null ? undefined : streams.get(message.subscription);
    if (!s) return;
    if (message.t === 'stream_error') {
      streams.delete(message.subscription!);
      s.handlers.onError(errorFromWire(message.error));
      return;
    }
    for (const event of message.events) if (event.type === 'chunk') streamCursorAdvance(s.cursor, event);
    if (message.events.at(-1)?.type === 'end') streams.delete(message.subscription);
    s.handlers.onEvents(message.events);
  };

  const setState = (next: LiveState) => {
    if (next === state) return;
    state = next;
    for (const l of stateListeners) l(state);
  };

  const open = () => {
    if (closed) return;
    const url = new URL('api/live', options.baseUrl);
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    setState(retry === 0 ? 'connecting' : 'offline');
    const ws = new WebSocket(url, [ADMIN_WS_PROTOCOL, `token.${options.token}`]);
    socket = ws;
    ws.onopen = () => {
      retry = 0;
      setState('live');
      for (const subscription of streams.keys()) subscribeStream(subscription);
    };
    ws.onmessage = (message) => {
      let data: AdminChange | LiveStreamMessage;
      try {
        data = JSON.parse(String(message.data)) as AdminChange | LiveStreamMessage;
      } catch {
        return; // not ours to interpret; the slow refresh still covers it
      }
      if ('t' in data) onStreamMessage(data);
      else for (const l of changeListeners) l(data);
    };
    ws.onclose = () => {
      if (socket !== ws) return;
      socket = null;
      if (closed) return;
      setState('offline');
      const delay = BACKOFF_MS[Math.min(retry, BACKOFF_MS.length - 1)]!;
      retry += 1;
      retryTimer = setTimeout(open, delay);
    };
  };
  open();

  return {
    transport: 'http',
    async call<M extends AdminMethod>(method: M, params: Params<M>): Promise<Result<M>> {
      let response: Response;
      try {
        response = await fetch(new URL(`api/${method}`, options.baseUrl), {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${options.token}` },
          body: JSON.stringify(params ?? {}),
        });
      } catch (e: unknown) {
        throw new CleaverError('CONNECTION', `cannot reach the engine at ${options.baseUrl}: ${toError(e).message}. Is \`cleaver serve\` still running?`);
      }
      let body: AdminResult<Result<M>>;
      try {
        body = (await response.json()) as AdminResult<Result<M>>;
      } catch {
        throw new CleaverError('INTERNAL', `the engine answered ${method} with HTTP ${response.status} and no JSON body`);
      }
      if (response.status === 401) options.onUnauthorized();
      if (!body.ok) throw errorFromWire(body.error);
      return body.data;
    },
    subscribe(listener) {
      changeListeners.add(listener);
      return () => changeListeners.delete(listener);
    },
    stream(runId, handlers) {
      const subscription = nextSubscription++;
      streams.set(subscription, { runId, cursor: {}, handlers });
      subscribeStream(subscription);
      return () => {
        if (streams.delete(subscription)) sendLive({ t: 'stream_unsubscribe', subscription });
      };
    },
    onLiveState(listener) {
      stateListeners.add(listener);
      listener(state);
      return () => stateListeners.delete(listener);
    },
    close() {
      closed = true;
      if (retryTimer) clearTimeout(retryTimer);
      socket?.close();
    },
  };
}
