/**
 * Length-prefixed JSON framing for the worker protocol: [u32 big-endian length][UTF-8 JSON].
 * The decoder is fed arbitrary chunks (as a socket delivers them) and yields whole messages; it never
 * throws on bad input: it reports a problem and says whether the stream can continue.
 */
import { CleaverError } from './errors.ts';

const HEADER_BYTES = 4;

export function encodeFrame(message: unknown): Buffer {
  const body = Buffer.from(JSON.stringify(message), 'utf8');
  const frame = Buffer.allocUnsafe(HEADER_BYTES + body.length);
  frame.writeUInt32BE(body.length, 0);
  body.copy(frame, HEADER_BYTES);
  return frame;
}

export type DecodeEvent =
  | { kind: 'message'; message: unknown }
  /** A frame whose body is not a JSON object; the stream stays in sync, so the connection may go on. */
  | { kind: 'bad-frame'; error: CleaverError }
  /** A frame longer than the limit: the stream cannot be trusted further and must be closed. */
  | { kind: 'fatal'; error: CleaverError };

export class FrameDecoder {
  private maxFrameBytes: number;
  private chunks: Buffer[] = [];
  private buffered = 0;
  private failed = false;

  constructor(options: { maxFrameBytes: number }) {
    this.maxFrameBytes = options.maxFrameBytes;
  }

  /** Feeds bytes; returns the events completed by them, in order. After a fatal event, returns nothing. */
  push(chunk: Buffer): DecodeEvent[] {
    if (this.failed) return [];
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    const events: DecodeEvent[] = [];
    while (this.buffered >= HEADER_BYTES) {
      const head = this.peekHeader();
      if (head > this.maxFrameBytes) {
        this.failed = true;
        this.chunks = [];
        this.buffered = 0;
        events.push({
          kind: 'fatal',
          error: new CleaverError(
            'FRAME_TOO_LARGE',
            `frame of ${head} bytes exceeds the limit of ${this.maxFrameBytes} bytes; split the payload or raise --max-frame-bytes`,
          ),
        });
        break;
      }
      if (this.buffered < HEADER_BYTES + head) break;
      const body = this.take(HEADER_BYTES + head).subarray(HEADER_BYTES);
      events.push(parseBody(body));
    }
    return events;
  }

  /**
   * Changes the frame limit for frames not yet started (a connection raises it once its peer is
   * authenticated, so an unauthenticated peer can make the engine buffer only a small hello).
   */
  setMaxFrameBytes(bytes: number): void {
    this.maxFrameBytes = bytes;
  }

  /** Drops whatever is buffered and ignores what follows (a connection being closed). */
  discard(): void {
    this.failed = true;
    this.chunks = [];
    this.buffered = 0;
  }

  /** Bytes received but not yet part of a whole frame. */
  get pendingBytes(): number {
    return this.buffered;
  }

  private peekHeader(): number {
    const first = this.chunks[0]!;
    if (first.length >= HEADER_BYTES) return first.readUInt32BE(0);
    return this.concat().readUInt32BE(0);
  }

  private concat(): Buffer {
    if (this.chunks.length > 1) this.chunks = [Buffer.concat(this.chunks, this.buffered)];
    return this.chunks[0]!;
  }

  private take(bytes: number): Buffer {
    let first = this.chunks[0]!;
    if (first.length < bytes) first = this.concat();
    const out = first.subarray(0, bytes);
    if (first.length === bytes) this.chunks.shift();
    else this.chunks[0] = first.subarray(bytes);
    this.buffered -= bytes;
    return out;
  }
}

function parseBody(body: Buffer): DecodeEvent {
  let message: unknown;
  try {
    message = JSON.parse(body.toString('utf8'));
  } catch (e: unknown) {
    const detail = e instanceof Error ? e.message : String(e);
    return { kind: 'bad-frame', error: new CleaverError('BAD_FRAME', `frame is not valid JSON: ${detail}`) };
  }
  if (message === null || typeof message !== 'object' || Array.isArray(message)) {
    return { kind: 'bad-frame', error: new CleaverError('BAD_FRAME', 'frame must hold a JSON object with a "t" field') };
  }
  return { kind: 'message', message };
}

/** The part of a socket a FrameWriter needs. */
export interface CorkableStream {
  readonly destroyed: boolean;
  cork(): void;
  uncork(): void;
  write(chunk: Buffer): boolean;
}

/**
 * Writes framed messages to one socket, coalescing every message written in the same tick into one
 * write: a batch of replies, acks or assignments costs one syscall, and a lone one waits only for the
 * current microtasks.
 */
export class FrameWriter {
  private corked = false;
  constructor(private readonly stream: CorkableStream) {}

  write(message: unknown): void {
    const stream = this.stream;
    if (stream.destroyed) return;
    if (!this.corked) {
      this.corked = true;
      stream.cork();
      queueMicrotask(() => {
        this.corked = false;
        if (!stream.destroyed) stream.uncork();
      });
    }
    stream.write(encodeFrame(message));
  }
}
