// The engine's internal event emitter: handlers run synchronously in subscription order, a throwing
// handler is logged and does not stop the others nor reach the emitter, and unsubscribing works even
// in the middle of an emit. The payload types are checked by `npm run typecheck` (the @ts-expect-error
// lines below fail it if the map stops refusing them).
import { describe, expect, it } from 'vitest';
import { createEngineEvents, TypedEmitter, type EngineEvents } from '../../engine/engine-events.ts';
import type { LogFields, Logger } from '../../engine/log.ts';

function recordingLog(): Logger & { lines: Array<{ level: string; event: string; fields?: LogFields }> } {
  const lines: Array<{ level: string; event: string; fields?: LogFields }> = [];
  return {
    lines,
    info: (event, fields) => void lines.push({ level: 'info', event, fields }),
    warn: (event, fields) => void lines.push({ level: 'warn', event, fields }),
    error: (event, fields) => void lines.push({ level: 'error', event, fields }),
  };
}

describe('engine events', () => {
  it('calls every handler of the event, in subscription order, before emit returns', () => {
    const events = createEngineEvents({ log: recordingLog() });
    const calls: string[] = [];
    events.on('runs.changed', ({ runIds }) => calls.push(`a:${runIds.join(',')}`));
    events.on('rate-limits.changed', ({ key }) => calls.push(`other:${key}`));
    events.on('runs.changed', ({ runIds }) => calls.push(`b:${runIds.join(',')}`));
    events.emit('runs.changed', { runIds: ['r1', 'r2'] });
    calls.push('returned');
    expect(calls).toEqual(['a:r1,r2', 'b:r1,r2', 'returned']);
  });

  it('emitting an event nobody subscribed to does nothing', () => {
    const log = recordingLog();
    const events = createEngineEvents({ log });
    expect(() => events.emit('flow.waits', { waits: [{ action: 'a', kind: 'concurrency' }] })).not.toThrow();
    expect(log.lines).toEqual([]);
  });

  it('logs a throwing handler with the event name; the others still run and the emitter never sees it', () => {
    const log = recordingLog();
    const events = createEngineEvents({ log });
    const seen: string[] = [];
    events.on('rate-limits.changed', ({ key }) => seen.push(`first:${key}`));
    events.on('rate-limits.changed', () => {
      throw new Error('metrics exploded');
    });
    events.on('rate-limits.changed', () => {
      // Not an Error: still logged with a message.
      throw 'a string';
    });
    events.on('rate-limits.changed', ({ key }) => seen.push(`last:${key}`));
    expect(() => events.emit('rate-limits.changed', { key: 'sms' })).not.toThrow();
    expect(seen).toEqual(['first:sms', 'last:sms']);
    expect(log.lines).toEqual([
      { level: 'error', event: 'an engine event handler failed', fields: { event: 'rate-limits.changed', error: 'metrics exploded' } },
      { level: 'error', event: 'an engine event handler failed', fields: { event: 'rate-limits.changed', error: 'a string' } },
    ]);
    // The emitter goes on working after a handler failed.
    events.emit('rate-limits.changed', { key: 'push' });
    expect(seen).toEqual(['first:sms', 'last:sms', 'first:push', 'last:push']);
  });

  it('stops calling a handler once unsubscribed; unsubscribing twice removes nothing else', () => {
    const events = createEngineEvents({ log: recordingLog() });
    const calls: string[] = [];
    const offA = events.on('definitions.changed', ({ workflow }) => calls.push(`a:${workflow}`));
    events.on('definitions.changed', ({ workflow }) => calls.push(`b:${workflow}`));
    events.emit('definitions.changed', { workflow: 'w1' });
    offA();
    offA();
    events.emit('definitions.changed', { workflow: 'w2' });
    expect(calls).toEqual(['a:w1', 'b:w1', 'b:w2']);
  });

  it('subscribing one function twice calls it twice, and each unsubscribe removes one', () => {
    const events = createEngineEvents({ log: recordingLog() });
    let count = 0;
    const handler = () => void count++;
    const off1 = events.on('runs.changed', handler);
    events.on('runs.changed', handler);
    events.emit('runs.changed', { runIds: [] });
    expect(count).toBe(2);
    off1();
    events.emit('runs.changed', { runIds: [] });
    expect(count).toBe(3);
  });

  it('a handler unsubscribing another during an emit does not skip the rest of that emit', () => {
    const events = createEngineEvents({ log: recordingLog() });
    const calls: string[] = [];
    let offB = () => {};
    events.on('runs.changed', () => {
      calls.push('a');
      offB();
    });
    offB = events.on('runs.changed', () => calls.push('b'));
    events.on('runs.changed', () => calls.push('c'));
    events.emit('runs.changed', { runIds: [] });
    events.emit('runs.changed', { runIds: [] });
    // The first emit walks the list it started with; the second no longer has b.
    expect(calls).toEqual(['a', 'b', 'c', 'a', 'c']);
  });

  it('a handler subscribed during an emit is called from the next emit on', () => {
    const events = new TypedEmitter<{ ping: { n: number } }>({ log: recordingLog() });
    const calls: number[] = [];
    events.on('ping', ({ n }) => {
      calls.push(n);
      if (n === 1) events.on('ping', ({ n: m }) => calls.push(m * 10));
    });
    events.emit('ping', { n: 1 });
    events.emit('ping', { n: 2 });
    expect(calls).toEqual([1, 2, 20]);
  });
});

/** Never called: what the compiler must refuse (checked by `npm run typecheck`). */
export function typingIsChecked(events: EngineEvents): void {
  // @ts-expect-error an event that is not in the map
  events.emit('runs.exploded', { runIds: [] });
  // @ts-expect-error a payload of another event
  events.emit('runs.ended', { runIds: ['r'] });
  // @ts-expect-error a field of the wrong type
  events.emit('rate-limits.changed', { key: 1 });
  // @ts-expect-error a handler reading a field its event does not carry
  events.on('runs.changed', ({ key }) => key);
  events.on('runs.ended', ({ ended, taskRunIds }) => [ended[0]?.workflowName, taskRunIds.length]);
}
