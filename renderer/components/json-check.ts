/** JSON checked as the trigger form's editor does it: the value, or what is wrong at which line and column. */
export type JsonCheck = { ok: true; value: unknown } | { ok: false; message: string; line: number; column: number };

/**
 * Where JSON.parse would fail and why, found by walking the text (V8's messages name a position only
 * for some errors, and quote the input instead for others).
 */
function locateJsonError(text: string): { offset: number; message: string } {
  let i = 0;
  const fail = (message: string): never => {
    throw { offset: i, message };
  };
  const ws = () => {
    while (i < text.length && ' \t\n\r'.includes(text[i]!)) i++;
  };
  const literal = (word: string) => {
    if (text.startsWith(word, i)) i += word.length;
    else fail(`expected a value (${word}?), found ${JSON.stringify(/^\w*/.exec(text.slice(i))![0])}`);
  };
  const describe = (at: number) => (at >= text.length ? 'the end of the text' : `${JSON.stringify(text[at])}`);
  const string = () => {
    i++;
    while (i < text.length && text[i] !== '"') {
      if (text[i] === '\n') fail('a string cannot span lines (write \\n inside it)');
      if (text[i] === '\\') {
        i++;
        if (!'"\\/bfnrtu'.includes(text[i] ?? '')) fail(`${describe(i)} cannot follow a backslash in a string`);
      }
      i++;
    }
    if (i >= text.length) fail('a string is not closed with "');
    i++;
  };
  const number = () => {
    const m = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/.exec(text.slice(i));
    if (!m || m[0] === '-') fail(`expected a value, found ${describe(i)}`);
    i += m![0].length;
  };
  const value = (): void => {
    ws();
    const c = text[i];
    if (c === '{') {
      i++;
      ws();
      if (text[i] === '}') return void i++;
      for (;;) {
        ws();
        if (text[i] !== '"') fail(text[i] === '}' ? 'a comma before } is not allowed in JSON' : `expected a key in double quotes, found ${describe(i)}`);
        string();
        ws();
        if (text[i] !== ':') fail(`expected : after the key, found ${describe(i)}`);
        i++;
        value();
        ws();
        if (text[i] === ',') {
          i++;
          continue;
        }
        if (text[i] === '}') return void i++;
        fail(`expected , or } after a value, found ${describe(i)}`);
      }
    }
    if (c === '[') {
      i++;
      ws();
      if (text[i] === ']') return void i++;
      for (;;) {
        ws();
        if (text[i] === ']') fail('a comma before ] is not allowed in JSON');
        value();
        ws();
        if (text[i] === ',') {
          i++;
          continue;
        }
        if (text[i] === ']') return void i++;
        fail(`expected , or ] after a value, found ${describe(i)}`);
      }
    }
    if (c === '"') return string();
    if (c === 't') return literal('true');
    if (c === 'f') return literal('false');
    if (c === 'n') return literal('null');
    if (c === "'") fail("JSON strings take double quotes, not '");
    return number();
  };
  try {
    value();
    ws();
    if (i < text.length) fail(`unexpected ${describe(i)} after the end of the value`);
  } catch (e: unknown) {
    if (e && typeof e === 'object' && 'offset' in e) return e as { offset: number; message: string };
    throw e;
  }
  // JSON.parse refused what this walk accepts: point at the start rather than guess.
  return { offset: 0, message: 'not valid JSON' };
}

/** Parses `text`; on failure, says what is wrong and at which line and column. */
export function checkJson(text: string): JsonCheck {
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch {
    const { offset, message } = locateJsonError(text);
    const before = text.slice(0, offset);
    const line = before.split('\n').length;
    return { ok: false, message, line, column: offset - before.lastIndexOf('\n') };
  }
}
