/**
 * How the admin contract (admin-api.ts) crosses each boundary. Every transport carries the same
 * `{ method, params }` and answers with an AdminResult; errors travel as `{ name, code, message }` and
 * are rebuilt with errorFromWire on the other side.
 *
 * HTTP (engine/admin/ serves it; the renderer in a browser uses it):
 *   POST /api/<method>   body: the params as JSON   header: Authorization: Bearer <token>
 *   → 200 { ok: true, data } | 4xx/5xx { ok: false, error }   (401 without the right token)
 *   GET /api/live        WebSocket; subprotocols [ADMIN_WS_PROTOCOL, 'token.' + token];
 *                        the server picks ADMIN_WS_PROTOCOL and sends one AdminChange per message.
 *                        On the same socket a client may follow runs' streams (LiveClientMessage):
 *                        their events come as LiveStreamMessage, told apart by their `t`.
 *   The console's URL carries the token in its fragment (never sent to the server): /#token=<token>.
 *
 * Electron IPC (main/ serves it; the renderer in the desktop app uses it): one channel per method,
 * `ADMIN_IPC_PREFIX + method`, invoked with the params; changes arrive on ADMIN_CHANGE_CHANNEL. The
 * preload exposes exactly an AdminBridge as `window.cleaver`; in the desktop app it also carries the
 * connections contract (connections-api.ts) as `window.cleaver.connections`. IPC carries no stream
 * subscriptions: the console reads runs' streams with runStreamRead there.
 */
import type { AdminApi, AdminChange, AdminMethod } from './admin-api.ts';
import type { ConnectionsBridge } from './connections-api.ts';
import type { WireError } from './errors.ts';
import type { StreamCursor, StreamEvent } from './stream.ts';

export type AdminResult<T = unknown> = { ok: true; data: T } | { ok: false; error: WireError };

/** What a console sends on /api/live: follow a run's stream (after a cursor, to resume), or stop. */
export type LiveClientMessage =
  | { t: 'stream_subscribe'; subscription: number; runId: string; after?: StreamCursor }
  | { t: 'stream_unsubscribe'; subscription: number };

/** A subscription's events (ending with `end`), or why it was refused. */
export type LiveStreamMessage =
  | { t: 'stream_events'; subscription: number; events: StreamEvent[] }
  | { t: 'stream_error'; subscription: number | null; error: WireError };

export const ADMIN_WS_PROTOCOL = 'cleaver-admin-v1';
export const ADMIN_IPC_PREFIX = 'cleaver:admin:';
export const ADMIN_CHANGE_CHANNEL = 'cleaver:change';

/** What the desktop app's preload puts on `window.cleaver`: the contract and its change feed, nothing else. */
export interface AdminBridge {
  call<M extends AdminMethod>(method: M, params: Parameters<AdminApi[M]>[0]): Promise<AdminResult<Awaited<ReturnType<AdminApi[M]>>>>;
  onChange(listener: (change: AdminChange) => void): () => void;
  /** Present only in the desktop app, where the console can switch databases. */
  connections?: ConnectionsBridge;
}
