// The trigger form's JSON check (renderer/components/json-check.ts): the line and column of the first
// problem and what it is, for the mistakes people make, whatever V8's own message says.
import { describe, expect, it } from 'vitest';
import { checkJson } from '../../renderer/components/json-check.ts';

const problem = (text: string): string => {
  const check = checkJson(text);
  return check.ok ? 'ok' : `${check.line}:${check.column} ${check.message}`;
};

describe('checkJson', () => {
  it('accepts what JSON.parse accepts', () => {
    expect(checkJson('{"a": [1, 2.5e3, "x\\ny", true, null]}')).toEqual({ ok: true, value: { a: [1, 2500, 'x\ny', true, null] } });
  });

  it('names the line and column of a missing value, a trailing comma, a missing colon or bracket', () => {
    expect(problem('{\n  "region": "eu-west",\n  "count": \n}')).toBe('4:1 expected a value, found "}"');
    expect(problem('{"a": 1,}')).toBe('1:9 a comma before } is not allowed in JSON');
    expect(problem('{"a": [1,]}')).toBe('1:10 a comma before ] is not allowed in JSON');
    expect(problem('{"a" 1}')).toBe('1:6 expected : after the key, found "1"');
    expect(problem('[1, 2')).toBe('1:6 expected , or ] after a value, found the end of the text');
    expect(problem('')).toBe('1:1 expected a value, found the end of the text');
  });

  it('explains the JavaScript habits JSON does not allow', () => {
    expect(problem("{'a': 1}")).toBe('1:2 expected a key in double quotes, found "\'"');
    expect(problem('{"a": \'x\'}')).toBe("1:7 JSON strings take double quotes, not '");
    expect(problem('{"a": tru}')).toBe('1:7 expected a value (true?), found "tru"');
    expect(problem('{"a": "x\ny"}')).toBe('1:9 a string cannot span lines (write \\n inside it)');
    expect(problem('{} x')).toBe('1:4 unexpected "x" after the end of the value');
  });
});
