// How a Logs search's text and filters are read (engine/admin/params.ts, shared/task-log.ts): the SQL
// they become is tested against both drivers in test/driver/task-logs.test.ts.
import { describe, expect, it } from 'vitest';
import { logSearchParam } from '../../engine/admin/params.ts';
import { logFieldsFrom, logSearchTerms } from '../../shared/task-log.ts';

describe('log search params', () => {
  it('reads the text as words that must all appear, and "quoted" phrases kept whole', () => {
    expect(logSearchTerms('  timeout   ord_42 ')).toEqual(['timeout', 'ord_42']);
    expect(logSearchTerms('"payment declined" card')).toEqual(['payment declined', 'card']);
    // Double quotes group words; single quotes can hold a field as its JSON reads.
    expect(logSearchTerms('"orderId": 42')).toEqual(['orderId', ':', '42']);
    expect(logSearchTerms(`'"orderId": 42' don't`)).toEqual(['"orderId": 42', "don't"]);
    // An unclosed quote runs to the end; empty quotes ask for nothing.
    expect(logSearchTerms('retry "after 30')).toEqual(['retry', 'after 30']);
    expect(logSearchTerms('"" x')).toEqual(['x']);
    expect(logSearchTerms('   ')).toEqual([]);
  });

  it('checks levels and the time range, keeping each level once', () => {
    expect(logSearchParam({ text: 'a b', levels: ['warn', 'error', 'warn'], since: '2026-03-01', until: '2026-03-02T00:00:00+01:00' })).toEqual({
      terms: ['a', 'b'],
      levels: ['warn', 'error'],
      since: '2026-03-01T00:00:00.000Z',
      until: '2026-03-01T23:00:00.000Z',
      workflowName: undefined,
      limit: undefined,
      cursor: undefined,
    });
    expect(logSearchParam(undefined)).toMatchObject({ terms: [], levels: undefined });
    expect(() => logSearchParam({ levels: 'error' })).toThrow(/logsSearch\.levels must be a non-empty array of debug, info, warn, error/);
    expect(() => logSearchParam({ since: '2026-03-02', until: '2026-03-02' })).toThrow(/logsSearch\.since \(2026-03-02T00:00:00\.000Z\) must be before logsSearch\.until/);
    expect(() => logSearchParam([])).toThrow(/logsSearch: params must be an object/);
  });

  it('stores an Error among the fields as its name and message, and refuses what is not JSON', () => {
    expect(logFieldsFrom({ error: new RangeError('too big'), n: 1 }, 'fields')).toEqual({ error: { name: 'RangeError', message: 'too big' }, n: 1 });
    expect(logFieldsFrom({}, 'fields')).toBeUndefined();
    expect(logFieldsFrom(undefined, 'fields')).toBeUndefined();
    expect(() => logFieldsFrom('text', 'fields')).toThrow(/fields must be an object of JSON values, such as \{ orderId: 42 \}; got string/);
    expect(() => logFieldsFrom({ big: 10n }, 'fields')).toThrow(/fields\.big is a bigint, which is not JSON/);
  });
});
