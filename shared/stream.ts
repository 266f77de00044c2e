/**
 * Streaming (docs/streaming.md): what a task puts with `ctx.putStream(chunk)` and what a subscriber of
 * its run receives.
 *
 * Terms:
 * - **chunk** — one value put by a task: text, JSON or bytes. It is numbered by the worker, `seq` 1, 2,
 *   … within its attempt, so a task run's chunks are ordered by (attempt, seq) whichever engine stored them.
 * - **position** — an (attempt, seq) pair; a **cursor** holds, per task run, the last position a
 *   subscriber has been given: what it sends back to resume without getting anything twice.
 * - **cut** — older chunks the engine no longer keeps (it keeps the newest `retentionBytes` per task run).
 * - **dropped** — chunks a subscriber did not get because it fell behind.
 *
 * Types, limits and pure functions only: the SDK, the engine and the console share them.
 */
import type { Json, RunStatus } from './types.ts';

export type StreamChunkKind = 'text' | 'json' | 'bytes';

export const STREAM_CHUNK_KINDS: readonly StreamChunkKind[] = ['text', 'json', 'bytes'];

/** The largest chunk an engine takes unless configured otherwise (its welcome says its own). */
export const DEFAULT_MAX_STREAM_CHUNK_BYTES = 64 * 1024;

/** How much of each task run's stream an engine keeps for subscribers that attach late, by default. */
export const DEFAULT_STREAM_RETENTION_BYTES = 64 * 1024;

/** A chunk as it travels: text as is, JSON as the value, bytes base64-encoded. */
export interface WireStreamChunk {
  kind: StreamChunkKind;
  data: string | Json;
}

/** Per task run id: the last position given, as [attempt, seq]. */
export type StreamCursor = Record<string, [attempt: number, seq: number]>;

export interface StreamChunkEvent extends WireStreamChunk {
  type: 'chunk';
  taskRunId: string;
  taskName: string;
  attempt: number;
  seq: number;
  /** The chunk's size as the task put it (text as UTF-8, JSON as its text, bytes as they are). */
  bytes: number;
  /** When the worker put it (ISO 8601). */
  at: string;
}

/** What the engine pushes to a subscriber, in order. */
export type StreamEvent =
  | StreamChunkEvent
  /** Before a task run's first chunk in a replay: this many older chunks were no longer kept. */
  | { type: 'cut'; taskRunId: string; taskName: string; chunks: number; bytes: number; retentionBytes: number }
  /** This subscriber fell behind: this many chunks were skipped for it (and for it only). */
  | { type: 'dropped'; chunks: number }
  /** The run ended; nothing follows. */
  | { type: 'end'; status: RunStatus };

/**
 * Where a subscription's events go, for a transport (a worker-protocol connection, a WebSocket):
 * `push` sends, `backlog` says how many bytes the transport has not sent yet, so a subscriber that
 * does not read is not sent more than it can hold.
 */
export interface StreamSink {
  push(events: StreamEvent[]): void;
  backlog(): number;
}

/** Subscriptions to runs' streams: the push half of the admin contract (admin-api.ts). */
export interface StreamSubscriptions {
  /**
   * Follows a run's stream: first the chunks already kept (after `after` when resuming), then live
   * ones, then `end`. Rejects NOT_FOUND for an unknown run. Resolves with a function that stops.
   */
  subscribe(params: { runId: string; after?: StreamCursor }, sink: StreamSink): Promise<() => void>;
}

/** The page `runStreamRead` answers with: events after a cursor, for transports that cannot push. */
export interface StreamReadPage {
  events: StreamEvent[];
  /** What to pass as `after` next time. */
  cursor: StreamCursor;
  /** Whether more is kept beyond this page (read again at once). */
  more: boolean;
  /** The run's status: once it has ended and `more` is false, the stream is complete. */
  status: RunStatus;
}

const encoder = new TextEncoder();

/** The size a chunk counts for (limits, retention): text as UTF-8, JSON as its text, bytes decoded. */
export function wireChunkBytes(chunk: WireStreamChunk): number {
  if (chunk.kind === 'bytes') return base64DecodedLength(chunk.data as string);
  if (chunk.kind === 'text') return encoder.encode(chunk.data as string).length;
  return encoder.encode(JSON.stringify(chunk.data)).length;
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** What is wrong with a chunk off the wire (kind, data, size), or null when it can be stored. */
export function wireChunkProblem(chunk: { kind?: unknown; data?: unknown }, maxBytes: number): string | null {
  if (!STREAM_CHUNK_KINDS.includes(chunk.kind as StreamChunkKind)) return 'stream.kind must be text, json or bytes';
  if (chunk.data === undefined) return 'stream.data is missing';
  if (chunk.kind !== 'json' && typeof chunk.data !== 'string') return `stream.data of a ${chunk.kind as string} chunk must be a string`;
  if (chunk.kind === 'bytes' && !BASE64.test(chunk.data as string)) return 'stream.data of a bytes chunk must be base64';
  if (chunk.kind === 'text' && (chunk.data as string).includes('\u0000')) return 'a text chunk cannot hold a NUL character (\\u0000); put it as bytes';
  const bytes = wireChunkBytes(chunk as WireStreamChunk);
  if (bytes > maxBytes) return chunkTooLarge(bytes, maxBytes);
  return null;
}

export function chunkTooLarge(bytes: number, maxBytes: number): string {
  return `a stream chunk of ${bytes} bytes is larger than the engine's limit of ${maxBytes} bytes; put it in smaller chunks`;
}

function base64DecodedLength(data: string): number {
  const padding = data.endsWith('==') ? 2 : data.endsWith('=') ? 1 : 0;
  return (data.length / 4) * 3 - padding;
}

/**
 * Where a chunk stands against a cursor: already given (a duplicate, to skip), or new — with how many
 * chunks of the same attempt were missed just before it (its seq jumps past the last one given).
 */
export function streamPositionCheck(cursor: StreamCursor, chunk: { taskRunId: string; attempt: number; seq: number }): { duplicate: boolean; missed: number } {
  const last = cursor[chunk.taskRunId];
  if (!last) return { duplicate: false, missed: 0 };
  const [attempt, seq] = last;
  if (chunk.attempt < attempt || (chunk.attempt === attempt && chunk.seq <= seq)) return { duplicate: true, missed: 0 };
  return { duplicate: false, missed: chunk.attempt === attempt ? chunk.seq - seq - 1 : 0 };
}

/** Moves the cursor to a chunk given (or dropped) now. */
export function streamCursorAdvance(cursor: StreamCursor, chunk: { taskRunId: string; attempt: number; seq: number }): void {
  cursor[chunk.taskRunId] = [chunk.attempt, chunk.seq];
}

/** Checks a cursor sent by a client: an object of task run id → [attempt, seq]. */
export function streamCursorProblem(value: unknown, what: string): string | null {
  if (value === undefined) return null;
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return `${what} must be an object of task run id → [attempt, seq]`;
  const entries = Object.entries(value);
  if (entries.length > 10_000) return `${what} names more than 10000 task runs`;
  for (const [id, position] of entries) {
    if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(id)) return `${what} keys must be task run ids (UUIDs)`;
    if (!Array.isArray(position) || position.length !== 2 || !position.every((n) => Number.isSafeInteger(n) && n >= 0)) {
      return `${what}.${id} must be [attempt, seq], two non-negative integers`;
    }
  }
  return null;
}
