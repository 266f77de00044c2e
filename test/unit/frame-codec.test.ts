import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FrameDecoder, encodeFrame } from '../../shared/frame-codec.ts';

const MAX = 1024 * 1024;
const jsonObject = fc.dictionary(fc.string({ maxLength: 12 }), fc.jsonValue({ maxDepth: 3 }), { maxKeys: 6 });

/** Splits a buffer at the given cut points (as a socket might deliver it). */
function split(buffer: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % (buffer.length + 1)))].sort((a, b) => a - b);
  const parts: Buffer[] = [];
  let last = 0;
  for (const p of points) {
    parts.push(buffer.subarray(last, p));
    last = p;
  }
  parts.push(buffer.subarray(last));
  return parts;
}

describe('frame codec', () => {
  it('decodes any sequence of messages however the bytes are chunked', () => {
    fc.assert(
      fc.property(fc.array(jsonObject, { minLength: 1, maxLength: 8 }), fc.array(fc.nat(), { maxLength: 20 }), (messages, cuts) => {
        const stream = Buffer.concat(messages.map((m) => encodeFrame(m)));
        const decoder = new FrameDecoder({ maxFrameBytes: MAX });
        const out: unknown[] = [];
        for (const part of split(stream, cuts)) {
          for (const event of decoder.push(part)) {
            expect(event.kind).toBe('message');
            if (event.kind === 'message') out.push(event.message);
          }
        }
        // JSON round trip normalizes -0 to 0, as the wire does.
        expect(out).toEqual(JSON.parse(JSON.stringify(messages)));
        expect(decoder.pendingBytes).toBe(0);
      }),
      { numRuns: 300 },
    );
  });

  it('never throws on arbitrary bytes, and stays in sync after a bad frame', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.array(fc.nat(), { maxLength: 10 }), (garbage, cuts) => {
        const decoder = new FrameDecoder({ maxFrameBytes: 256 });
        const events = split(Buffer.from(garbage), cuts).flatMap((part) => decoder.push(part));
        for (const event of events) {
          if (event.kind !== 'message') expect(['BAD_FRAME', 'FRAME_TOO_LARGE']).toContain(event.error.code);
        }
        const fatal = events.findIndex((e) => e.kind === 'fatal');
        if (fatal >= 0) expect(fatal).toBe(events.length - 1);
      }),
      { numRuns: 500 },
    );
  });

  it('reports a non-JSON body as a bad frame and decodes the next frame', () => {
    const body = Buffer.from('{not json', 'utf8');
    const header = Buffer.alloc(4);
    header.writeUInt32BE(body.length);
    const decoder = new FrameDecoder({ maxFrameBytes: MAX });
    const events = decoder.push(Buffer.concat([header, body, encodeFrame({ t: 'heartbeat' })]));
    expect(events.map((e) => e.kind)).toEqual(['bad-frame', 'message']);
    expect(events[1]).toEqual({ kind: 'message', message: { t: 'heartbeat' } });
  });

  it('rejects JSON that is not an object', () => {
    const decoder = new FrameDecoder({ maxFrameBytes: MAX });
    const events = decoder.push(Buffer.concat([encodeFrame([1, 2]), encodeFrame('x'), encodeFrame(null)]));
    expect(events.map((e) => e.kind)).toEqual(['bad-frame', 'bad-frame', 'bad-frame']);
  });

  it('refuses an oversized frame as soon as its header arrives, then ignores the rest', () => {
    const decoder = new FrameDecoder({ maxFrameBytes: 100 });
    const header = Buffer.alloc(4);
    header.writeUInt32BE(101);
    const events = decoder.push(header);
    expect(events).toHaveLength(1);
    expect(events[0]!.kind).toBe('fatal');
    if (events[0]!.kind === 'fatal') expect(events[0]!.error.message).toMatch(/101 bytes exceeds the limit of 100/);
    expect(decoder.push(encodeFrame({ t: 'heartbeat' }))).toEqual([]);
  });

  it('accepts a frame exactly at the limit', () => {
    const message = { t: 'x', pad: 'a'.repeat(50) };
    const size = Buffer.byteLength(JSON.stringify(message));
    const decoder = new FrameDecoder({ maxFrameBytes: size });
    expect(decoder.push(encodeFrame(message))).toEqual([{ kind: 'message', message }]);
  });
});
