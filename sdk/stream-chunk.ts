/** Stream chunks in the SDK: what `ctx.putStream` accepts, and how a subscriber gets it back. */
import { CleaverError } from '../shared/errors.ts';
import { validateJson } from '../shared/payload.ts';
import { chunkTooLarge, wireChunkBytes, type StreamChunkEvent, type WireStreamChunk } from '../shared/stream.ts';
import type { Json } from '../shared/types.ts';

/** What a task may stream: text, bytes, or any JSON value. */
export type StreamChunk = string | Uint8Array | Json;

/** A chunk as a subscriber gets it: text as a string, JSON as the value, bytes as a Uint8Array. */
export type RunStreamChunk = Omit<StreamChunkEvent, 'data' | 'at'> & { at: Date } & (
    | { kind: 'text'; data: string }
    | { kind: 'json'; data: Json }
    | { kind: 'bytes'; data: Uint8Array }
  );

/** The wire form of a chunk and its size; throws BAD_PAYLOAD, saying why, for what cannot be streamed. */
export function encodeStreamChunk(value: unknown, maxBytes: number): WireStreamChunk & { bytes: number } {
  let chunk: WireStreamChunk;
  if (typeof value === 'string') {
    if (value.includes('\u0000')) throw new CleaverError('BAD_PAYLOAD', 'putStream: a text chunk cannot hold a NUL character (\\u0000); put it as bytes (a Uint8Array)');
    chunk = { kind: 'text', data: value };
  } else if (value instanceof Uint8Array) {
    if (value.length > maxBytes) throw new CleaverError('BAD_PAYLOAD', `putStream: ${chunkTooLarge(value.length, maxBytes)}`);
    chunk = { kind: 'bytes', data: Buffer.from(value.buffer, value.byteOffset, value.length).toString('base64') };
  } else {
    try {
      chunk = { kind: 'json', data: validateJson(value, 'the chunk') };
    } catch (e: unknown) {
      const why = e instanceof Error ? e.message : String(e);
      throw new CleaverError('BAD_PAYLOAD', `putStream: ${why}; put a string, bytes (a Uint8Array) or a JSON value`);
    }
  }
  const bytes = wireChunkBytes(chunk);
  if (bytes > maxBytes) throw new CleaverError('BAD_PAYLOAD', `putStream: ${chunkTooLarge(bytes, maxBytes)}`);
  return { ...chunk, bytes };
}

export function decodeStreamChunk(event: StreamChunkEvent): RunStreamChunk {
  const at = new Date(event.at);
  if (event.kind === 'bytes') return { ...event, at, kind: 'bytes', data: new Uint8Array(Buffer.from(event.data as string, 'base64')) };
  if (event.kind === 'text') return { ...event, at, kind: 'text', data: event.data as string };
  return { ...event, at, kind: 'json', data: event.data as Json };
}
