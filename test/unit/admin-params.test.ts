import { describe, expect, it } from 'vitest';
import { runCountParam, runListParam, runSelectionParam } from '../../engine/admin/params.ts';
import { toError } from '../../shared/errors.ts';

describe('admin parameters', () => {
  it('takes ISO 8601 times in a run filter and refuses what Date.parse would guess at', () => {
    expect(runListParam({ since: '2026-12-01' }).since).toBe('2026-12-01T00:00:00.000Z');
    expect(runListParam({ since: '2026-12-01T09:30:00+01:00' }).since).toBe('2026-12-01T08:30:00.000Z');
    expect(runListParam({ until: '2026-12-01 09:30:15.123Z' }).until).toBe('2026-12-01T09:30:15.123Z');
    for (const bad of ["x' OR '1'='1", 'Dec 1 2026', '1', '2026-13-01T00:00:00Z', '']) {
      expect(() => runListParam({ since: bad }), bad).toThrow(/runsList\.since must be an ISO 8601 time/);
    }
  });

  it('takes several trigger kinds, and says what to pass instead of the single triggerKind', () => {
    expect(runListParam({ triggerKinds: ['manual', 'event'] }).triggerKinds).toEqual(['manual', 'event']);
    expect(() => runListParam({ triggerKinds: 'manual' })).toThrow(/runsList\.triggerKinds must be an array of manual, event, child, cron/);
    expect(() => runListParam({ triggerKinds: ['manual', 'timer'] })).toThrow(/triggerKinds must be an array/);
    // Ignoring it would list (or, in a bulk cancel, select) every run instead of some.
    expect(() => runListParam({ triggerKind: 'event' })).toThrow(/triggerKind is now triggerKinds, an array: pass triggerKinds: \["event"\]/);
  });

  it('checks the parent and top-level filters and the count bound', () => {
    const id = '01a2b3c4-0000-7000-8000-000000000001';
    expect(runListParam({ parentRunId: id.toUpperCase(), topLevelOnly: true })).toMatchObject({ parentRunId: id, topLevelOnly: true });
    expect(runListParam({ topLevelOnly: false }).topLevelOnly).toBeUndefined();
    expect(() => runListParam({ parentRunId: 'x' })).toThrow(/runsList\.parentRunId must be a UUID/);
    expect(() => runListParam({ topLevelOnly: 'yes' })).toThrow(/runsList\.topLevelOnly must be a boolean/);
    expect(runCountParam({ upTo: 500, workflowName: 'w' })).toEqual({ workflowName: 'w', upTo: 500 });
    expect(() => runCountParam({ upTo: 0 })).toThrow(/runsCount\.upTo must be an integer from 1 to 10000000/);
  });

  it('reads runs by id, at most a thousand, each a UUID', () => {
    const id = '01a2b3c4-0000-7000-8000-000000000001';
    expect(runListParam({ runIds: [id.toUpperCase()], statuses: ['running'] })).toMatchObject({ runIds: [id], statuses: ['running'] });
    expect(runListParam({}).runIds).toBeUndefined();
    expect(() => runListParam({ runIds: [] })).toThrow(/runsList\.runIds must be an array of 1 to 1000 run ids; read more a thousand at a time/);
    expect(() => runListParam({ runIds: Array.from({ length: 1001 }, () => id) })).toThrow(/runsList\.runIds must be an array of 1 to 1000/);
    expect(() => runListParam({ runIds: id })).toThrow(/runsList\.runIds must be an array/);
    expect(() => runListParam({ runIds: [id, 'x'] })).toThrow(/runsList\.runIds\[1\] must be a UUID, got "x"/);
  });

  it('takes a search of words, and says what is wrong with one that has none, is too long or is not text', () => {
    expect(runListParam({ search: 'user42@example.com ECONNREFUSED' }).search).toBe('user42@example.com ECONNREFUSED');
    expect(runCountParam({ search: 'café 東京' }).search).toBe('café 東京');
    expect(runListParam({ search: null }).search).toBeUndefined();
    expect(() => runListParam({ search: '' })).toThrow(/runsList\.search "" has no word to find: give letters or digits .*or leave search out/);
    expect(() => runListParam({ search: '-- @ !' })).toThrow(/runsList\.search "-- @ !" has no word to find/);
    expect(() => runListParam({ search: 'x'.repeat(201) })).toThrow(/runsList\.search is 201 characters long; at most 200/);
    expect(() => runListParam({ search: 42 })).toThrow(/runsList\.search must be a string of words .*, got 42/);
    expect(() => runSelectionParam({ filter: { search: ['a'] } }, 'runsCancel')).toThrow(/runsCancel\.filter\.search must be a string/);
  });
});

describe('toError', () => {
  it('names what was thrown when it is not an Error, even when it cannot be printed as JSON', () => {
    expect(toError('plain').message).toBe('plain');
    expect(toError({ code: 7 }).message).toBe('non-Error thrown: {"code":7}');
    const cyclic: Record<string, unknown> = { id: 1, name: 'loop' };
    cyclic.self = cyclic;
    expect(toError(cyclic).message).toBe('non-Error thrown: Object {id, name, self} (not serializable as JSON)');
    expect(toError(10n).message).toBe('non-Error thrown: 10');
  });
});
