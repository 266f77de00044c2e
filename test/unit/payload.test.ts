import { describe, expect, it } from 'vitest';
import { validateJson, validateMetadata } from '../../shared/payload.ts';
import { durationFormat, parseDuration } from '../../shared/duration.ts';

describe('validateJson', () => {
  it('accepts plain JSON values and drops nothing', () => {
    const value = { a: [1, 'two', null, true, { b: 2.5 }], 'key with spaces': '\u2603 \\u0000 (escaped text is fine)' };
    expect(validateJson(value, 'input')).toBe(value);
  });

  it('refuses NUL characters with the path to them', () => {
    expect(() => validateJson({ a: [{ b: 'x\u0000y' }] }, 'input')).toThrow(/input\.a\[0\]\.b contains a NUL character/);
    expect(() => validateJson({ ['k\u0000']: 1 }, 'input')).toThrow(/key containing a NUL/);
  });

  it('refuses values JSON cannot carry', () => {
    expect(() => validateJson({ n: NaN }, 'input')).toThrow(/input\.n is NaN/);
    expect(() => validateJson({ f: () => 1 }, 'input')).toThrow(/a function/);
    expect(() => validateJson({ d: new Date() }, 'input')).toThrow(/is a Date/);
    expect(() => validateJson(10n, 'output')).toThrow(/a bigint/);
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(() => validateJson(cyclic, 'input')).toThrow(/cycle/);
    expect(() => validateJson(undefined, 'input')).toThrow(/input is undefined/);
  });

  it('lets undefined object properties drop as JSON.stringify does', () => {
    expect(() => validateJson({ a: undefined, b: 1 }, 'input')).not.toThrow();
  });

  it('checks metadata is a flat map of strings', () => {
    expect(validateMetadata({ a: 'b' }, 'metadata')).toEqual({ a: 'b' });
    expect(validateMetadata(undefined, 'metadata')).toEqual({});
    expect(() => validateMetadata({ a: 1 }, 'metadata')).toThrow(/metadata\.a must be a string/);
  });
});

describe('parseDuration', () => {
  it('parses ms, s, m, h, d and numbers', () => {
    expect(parseDuration('250ms')).toBe(250);
    expect(parseDuration('30s')).toBe(30_000);
    expect(parseDuration('1.5m')).toBe(90_000);
    expect(parseDuration('2h')).toBe(7_200_000);
    expect(parseDuration('30d')).toBe(30 * 86_400_000);
    expect(parseDuration(42)).toBe(42);
  });

  it('explains what it accepts', () => {
    expect(() => parseDuration('10 minutes', 'executionTimeout')).toThrow(/executionTimeout: "10 minutes" is not a duration; use/);
    expect(() => parseDuration(-1)).toThrow(/not a duration/);
  });

  it('is read back from what durationFormat writes', () => {
    expect([30 * 86_400_000, 36 * 3_600_000, 90_000, 1_500, 0].map(durationFormat)).toEqual(['30d', '36h', '90s', '1500ms', '0ms']);
    for (const ms of [30 * 86_400_000, 36 * 3_600_000, 90_000, 1_500]) expect(parseDuration(durationFormat(ms))).toBe(ms);
  });
});
