/**
 * Inputs and outputs are JSON. Postgres jsonb cannot hold the NUL character, and a value that does not
 * survive JSON (a function, undefined, a BigInt, NaN, a cycle) would be silently changed; both are
 * refused up front with a message naming where the problem is, before anything is written.
 */
import { CleaverError } from './errors.ts';
import type { Json } from './types.ts';

export function validateJson(value: unknown, what: string): Json {
  checkValue(value, what, 0, new Set());
  return value as Json;
}

function checkValue(value: unknown, path: string, depth: number, seen: Set<object>): void {
  if (depth > 512) throw bad(path, 'is nested more than 512 levels deep');
  switch (typeof value) {
    case 'string':
      if (value.includes('\u0000')) throw bad(path, 'contains a NUL character (\\u0000), which Postgres cannot store; remove it or encode the data (e.g. base64)');
      return;
    case 'number':
      if (!Number.isFinite(value)) throw bad(path, `is ${value}, which JSON cannot represent`);
      return;
    case 'boolean':
      return;
    case 'object': {
      if (value === null) return;
      if (seen.has(value)) throw bad(path, 'contains a cycle');
      seen.add(value);
      if (Array.isArray(value)) {
        value.forEach((item, i) => checkValue(item, `${path}[${i}]`, depth + 1, seen));
      } else {
        const proto = Object.getPrototypeOf(value);
        if (proto !== Object.prototype && proto !== null) {
          throw bad(path, `is a ${(value as object).constructor?.name ?? 'non-plain object'}; only plain objects, arrays, strings, numbers, booleans and null are JSON`);
        }
        for (const [key, item] of Object.entries(value)) {
          if (key.includes('\u0000')) throw bad(path, 'has a key containing a NUL character (\\u0000)');
          // JSON.stringify drops undefined properties, as users of optional fields expect.
          if (item === undefined) continue;
          checkValue(item, `${path}.${key}`, depth + 1, seen);
        }
      }
      seen.delete(value);
      return;
    }
    default:
      throw bad(path, `is ${typeof value === 'undefined' ? 'undefined' : `a ${typeof value}`}, which is not JSON`);
  }
}

function bad(path: string, problem: string): CleaverError {
  return new CleaverError('BAD_PAYLOAD', `${path} ${problem}`);
}

/** Metadata is a flat map of strings (it is searched and propagated). */
export function validateMetadata(value: unknown, what: string): Record<string, string> {
  if (value === undefined || value === null) return {};
  if (typeof value !== 'object' || Array.isArray(value)) throw new CleaverError('BAD_PAYLOAD', `${what} must be an object of string values`);
  for (const [key, item] of Object.entries(value)) {
    if (typeof item !== 'string') throw new CleaverError('BAD_PAYLOAD', `${what}.${key} must be a string, got ${typeof item}`);
    if (item.includes('\u0000') || key.includes('\u0000')) throw new CleaverError('BAD_PAYLOAD', `${what}.${key} contains a NUL character (\\u0000)`);
  }
  return value as Record<string, string>;
}
