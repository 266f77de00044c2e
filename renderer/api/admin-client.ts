/**
 * What every page uses to reach the engine: the AdminApi contract (shared/admin-api.ts) and its change
 * feed, over whichever transport this console runs on (Electron IPC or HTTP + WebSocket).
 */
import type { AdminApi, AdminChange, AdminMethod } from '../../shared/admin-api.ts';
import type { StreamEvent } from '../../shared/stream.ts';

export type Params<M extends AdminMethod> = Parameters<AdminApi[M]>[0];
export type Result<M extends AdminMethod> = Awaited<ReturnType<AdminApi[M]>>;

/** What a stream subscription reports: its events in order (the last one `end`), or why it failed. */
export interface StreamHandlers {
  onEvents(events: StreamEvent[]): void;
  onError(error: Error): void;
}

/** Whether changes are being pushed: views fall back to their slow timer while they are not. */
export type LiveState = 'connecting' | 'live' | 'offline';

export interface AdminClient {
  readonly transport: 'ipc' | 'http';
  call<M extends AdminMethod>(method: M, params: Params<M>): Promise<Result<M>>;
  subscribe(listener: (change: AdminChange) => void): () => void;
  /** Follows a run's stream: what was kept, then live chunks, then `end`. Returns a function that stops. */
  stream(runId: string, handlers: StreamHandlers): () => void;
  onLiveState(listener: (state: LiveState) => void): () => void;
  close(): void;
}
