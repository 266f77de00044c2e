// Task logs through their SQL, against both drivers: the cap per task run (lines and bytes, one marker,
// counts kept on, concurrent batches), structured fields, and the search across task runs (text,
// level, workflow, time range, keyset pages). The engine and SDK around them: test/integration/logs.test.ts.
import { randomBytes } from 'node:crypto';
import { beforeEach, describe, expect, it } from 'vitest';
import { forEachDriver } from './drivers.ts';
import type { Driver, Queryable } from '../../engine/db/driver.ts';
import { uuidv7 } from '../../engine/ids.ts';
import { runTrigger } from '../../engine/sql/run-trigger.ts';
import { logSearch, taskLogInsert, taskLogList, taskLogTruncation, type LogLineToStore, type LogSearchPlan, type LogSearchQuery } from '../../engine/sql/task-log.ts';
import { workflowRegister } from '../../engine/sql/workflow-register.ts';
import type { LogSearchLine } from '../../shared/admin-api.ts';
import { CleaverError } from '../../shared/errors.ts';

const POLICY = { retries: 0, backoff: null, executionTimeoutMs: 60_000, scheduleTimeoutMs: 300_000, defaultPriority: 1 };
const T0 = Date.parse('2024-03-01T12:00:00Z');

/** A word no other test of the shared database writes. */
function unique(label: string): string {
  return `${label}${randomBytes(4).toString('hex')}`;
}

forEachDriver('task logs', (getDriver) => {
  let db: Driver;

  beforeEach(() => {
    db = getDriver();
  });

  /** A standalone task with one run per entry; returns their task runs and runs. */
  async function taskRuns(count = 1, name = unique('t-')): Promise<Array<{ taskRunId: string; runId: string; workflowName: string }>> {
    await workflowRegister(db, { definition: { kind: 'task', task: { name, ...POLICY } } });
    const runs = Array.from({ length: count }, () => ({ runId: uuidv7(), taskRunId: uuidv7(), input: {}, metadata: {}, priority: null, triggerKind: 'manual' as const }));
    expect(await runTrigger(db, { workflowName: name, runs, notifyFrom: null })).not.toBeNull();
    return runs.map((r) => ({ taskRunId: r.taskRunId, runId: r.runId, workflowName: name }));
  }

  async function oneTaskRun(): Promise<{ taskRunId: string; runId: string; workflowName: string }> {
    return (await taskRuns(1))[0]!;
  }

  const line = (taskRunId: string, message: string, extra: Partial<LogLineToStore> = {}): LogLineToStore => ({ taskRunId, attempt: 1, level: 'info', message, at: T0, ...extra });

  async function searchAll(query: Omit<LogSearchQuery, 'cursor'>): Promise<LogSearchLine[]> {
    const lines: LogSearchLine[] = [];
    let cursor: string | undefined;
    for (let pages = 0; pages < 100; pages++) {
      const page = await logSearch(db, { ...query, cursor });
      lines.push(...page.lines);
      if (page.nextCursor === null) return lines;
      cursor = page.nextCursor;
    }
    throw new Error('logSearch never reached its last page');
  }

  describe('the cap per task run', () => {
    it('keeps the first maxLines lines over several batches, then one marker line, and counts what it drops', async () => {
      const { taskRunId } = await oneTaskRun();
      const batch = (from: number, count: number, attempt = 1) =>
        Array.from({ length: count }, (_, i) => line(taskRunId, `line ${from + i}`, { attempt, at: T0 + from + i }));
      await taskLogInsert(db, { lines: batch(1, 3), maxLines: 5, maxBytes: 1_000_000 });
      await taskLogInsert(db, { lines: batch(4, 4), maxLines: 5, maxBytes: 1_000_000 });
      let lines = await taskLogList(db, { taskRunId: taskRunId });
      expect(lines.map((l) => l.message)).toEqual(['line 1', 'line 2', 'line 3', 'line 4', 'line 5', expect.stringMatching(/^log truncated: this task run reached its cap of 5 lines/)]);
      const marker = lines.at(-1)!;
      // The marker sits where the first dropped line would have, with its attempt and time.
      expect(marker).toMatchObject({ level: 'warn', attempt: 1, fields: null, createdAt: new Date(T0 + 6).toISOString() });
      expect(marker.truncated).toEqual({ keptLines: 5, keptBytes: 30, droppedLines: 2, droppedBytes: 12, maxLines: 5, maxBytes: 1_000_000 });
      expect(lines.slice(0, -1).every((l) => l.truncated === null)).toBe(true);

      // A retry writes past the cap too: nothing stored, no second marker, the count goes on.
      await taskLogInsert(db, { lines: batch(8, 3, 2), maxLines: 5, maxBytes: 1_000_000 });
      lines = await taskLogList(db, { taskRunId: taskRunId });
      expect(lines).toHaveLength(6);
      expect(lines.at(-1)!.truncated).toMatchObject({ keptLines: 5, droppedLines: 5, droppedBytes: 31 });
      expect(await taskLogTruncation(db, { taskRunId })).toEqual(lines.at(-1)!.truncated);
      expect(await taskLogTruncation(db, { taskRunId: (await oneTaskRun()).taskRunId })).toBeNull();
    });

    it('counts bytes of the message and of the fields, and stops at the first line that does not fit', async () => {
      const { taskRunId } = await oneTaskRun();
      // 8 + 8 bytes, then 4 + 12 ({"k":"v123"}) = 16 more: 32 > 30, dropped; the short line after it is dropped too.
      await taskLogInsert(db, {
        lines: [line(taskRunId, '12345678'), line(taskRunId, 'é234567'), line(taskRunId, 'abcd', { fields: { k: 'v123' } }), line(taskRunId, 'x')],
        maxLines: 100,
        maxBytes: 30,
      });
      const lines = await taskLogList(db, { taskRunId: taskRunId });
      expect(lines.map((l) => l.message.slice(0, 13))).toEqual(['12345678', 'é234567', 'log truncated']);
      expect(lines[2]!.message).toMatch(/cap of 100 lines or 30 bytes/);
      expect(lines[2]!.truncated).toEqual({ keptLines: 2, keptBytes: 16, droppedLines: 2, droppedBytes: 17, maxLines: 100, maxBytes: 30 });
    });

    it('caps each task run of one batch on its own', async () => {
      const [a, b] = await taskRuns(2);
      const lines = [1, 2, 3].flatMap((i) => [line(a!.taskRunId, `a${i}`), line(b!.taskRunId, `b${i}`)]);
      await taskLogInsert(db, { lines: [...lines, line(b!.taskRunId, 'b4')], maxLines: 3, maxBytes: 1_000 });
      expect((await taskLogList(db, { taskRunId: a!.taskRunId })).map((l) => l.message)).toEqual(['a1', 'a2', 'a3']);
      const ofB = await taskLogList(db, { taskRunId: b!.taskRunId });
      expect(ofB.map((l) => l.message.slice(0, 3))).toEqual(['b1', 'b2', 'b3', 'log']);
      expect(ofB[3]!.truncated?.droppedLines).toBe(1);
    });

    it('holds across batches written at the same time', async () => {
      const { taskRunId } = await oneTaskRun();
      // On Postgres these run on separate pool connections and meet on the task run's total row.
      await Promise.all(
        Array.from({ length: 6 }, (_, b) => taskLogInsert(db, { lines: Array.from({ length: 10 }, (_, i) => line(taskRunId, `b${b} l${i}`)), maxLines: 25, maxBytes: 1_000_000 })),
      );
      const lines = await taskLogList(db, { taskRunId: taskRunId });
      expect(lines.filter((l) => l.truncated === null)).toHaveLength(25);
      expect(lines.filter((l) => l.truncated !== null)).toHaveLength(1);
      expect(lines.at(-1)!.truncated).toMatchObject({ keptLines: 25, droppedLines: 35 });
    });
  });

  it('stores structured fields as JSON and gives them back as they were', async () => {
    const { taskRunId } = await oneTaskRun();
    const fields = { orderId: 42, customer: { name: 'Zoë', tags: ['vip', null] }, paid: true, note: 'ünïcödé "quoted"' };
    await taskLogInsert(db, { lines: [line(taskRunId, 'charged', { fields, level: 'debug' }), line(taskRunId, 'plain')] });
    expect(await taskLogList(db, { taskRunId: taskRunId })).toMatchObject([
      { message: 'charged', level: 'debug', fields, truncated: null },
      { message: 'plain', fields: null, truncated: null },
    ]);
  });

  describe('logSearch', () => {
    it('finds lines by words in the message or the fields, ignoring case, with their run, workflow, task and attempt', async () => {
      const word = unique('needle');
      const [a, b] = await taskRuns(2);
      await taskLogInsert(db, {
        lines: [
          line(a!.taskRunId, `payment ${word} declined by the bank`, { at: T0 + 1 }),
          line(a!.taskRunId, `payment ${word} retried`, { attempt: 2, at: T0 + 2, fields: { reason: 'Card_Expired', amount: 12.5 } }),
          line(b!.taskRunId, `unrelated ${word}`, { at: T0 + 3 }),
          line(b!.taskRunId, 'no match here', { at: T0 + 4 }),
        ],
      });
      const found = await searchAll({ terms: [word.toUpperCase(), 'PAYMENT'] });
      expect(found.map((l) => l.message)).toEqual([`payment ${word} retried`, `payment ${word} declined by the bank`]);
      expect(found[0]).toMatchObject({ taskRunId: a!.taskRunId, runId: a!.runId, workflowName: a!.workflowName, taskName: a!.workflowName, attempt: 2, fields: { reason: 'Card_Expired', amount: 12.5 } });
      // Fields are searched as their JSON text; a phrase stays together.
      expect((await searchAll({ terms: [word, 'card_expired'] })).map((l) => l.attempt)).toEqual([2]);
      expect((await searchAll({ terms: [word, '"amount": 12.5'] })).map((l) => l.attempt)).toEqual([2]);
      expect(await searchAll({ terms: [word, 'bank declined'] })).toEqual([]);
      expect((await searchAll({ terms: [word, 'declined by'] })).map((l) => l.attempt)).toEqual([1]);
    });

    it('takes % _ and \\ in a word literally', async () => {
      const word = unique('pct');
      const { taskRunId } = await oneTaskRun();
      await taskLogInsert(db, { lines: [line(taskRunId, `${word} 100% done`), line(taskRunId, `${word} 100x done`), line(taskRunId, `${word} a_b c\\d`), line(taskRunId, `${word} axb`)] });
      expect((await searchAll({ terms: [word, '100%'] })).map((l) => l.message)).toEqual([`${word} 100% done`]);
      expect((await searchAll({ terms: [word, 'a_b'] })).map((l) => l.message)).toEqual([`${word} a_b c\\d`]);
      expect((await searchAll({ terms: [word, 'c\\d'] })).map((l) => l.message)).toEqual([`${word} a_b c\\d`]);
    });

    it('narrows by level, workflow and time range', async () => {
      const word = unique('narrow');
      const [a] = await taskRuns(1);
      const [b] = await taskRuns(1);
      await taskLogInsert(db, {
        lines: [
          line(a!.taskRunId, `${word} a-debug`, { level: 'debug', at: T0 }),
          line(a!.taskRunId, `${word} a-error`, { level: 'error', at: T0 + 60_000 }),
          line(b!.taskRunId, `${word} b-warn`, { level: 'warn', at: T0 + 120_000 }),
          line(b!.taskRunId, `${word} b-error`, { level: 'error', at: T0 + 180_000 }),
        ],
      });
      const messages = async (query: Omit<LogSearchQuery, 'terms' | 'cursor'>) => (await searchAll({ terms: [word], ...query })).map((l) => l.message.split(' ')[1]);
      expect(await messages({})).toEqual(['b-error', 'b-warn', 'a-error', 'a-debug']);
      expect(await messages({ levels: ['error'] })).toEqual(['b-error', 'a-error']);
      expect(await messages({ levels: ['warn', 'debug'] })).toEqual(['b-warn', 'a-debug']);
      expect(await messages({ workflowName: a!.workflowName })).toEqual(['a-error', 'a-debug']);
      expect(await messages({ workflowName: b!.workflowName, levels: ['error'] })).toEqual(['b-error']);
      expect(await messages({ since: new Date(T0 + 60_000).toISOString(), until: new Date(T0 + 180_000).toISOString() })).toEqual(['b-warn', 'a-error']);
      expect(await messages({ workflowName: unique('no-such-workflow') })).toEqual([]);
    });

    it('walks pages newest first, each line once, however many share a time and whatever is written meanwhile', async () => {
      const word = unique('page');
      const { taskRunId } = await oneTaskRun();
      // Seven lines, three of them in the same microsecond: ties are broken by id.
      const ats = [T0, T0 + 1, T0 + 2, T0 + 2, T0 + 2, T0 + 3, T0 + 4];
      await taskLogInsert(db, { lines: ats.map((at, i) => line(taskRunId, `${word} #${i}`, { at })) });
      const walked: string[] = [];
      let cursor: string | undefined;
      let pages = 0;
      do {
        const page = await logSearch(db, { terms: [word], limit: 2, cursor });
        walked.push(...page.lines.map((l) => l.message.split(' ')[1]!));
        // Newer lines written while paging come before the cursor: they never shift the pages.
        if (pages++ === 0) await taskLogInsert(db, { lines: [line(taskRunId, `${word} #new`, { at: T0 + 10 })] });
        cursor = page.nextCursor ?? undefined;
      } while (cursor !== undefined);
      expect(walked).toEqual(['#6', '#5', '#4', '#3', '#2', '#1', '#0']);
      expect(pages).toBe(4);
      expect((await logSearch(db, { terms: [word], limit: 1 })).lines[0]!.message).toBe(`${word} #new`);
    });

    it('shows the marker line of a truncated log with its counts', async () => {
      const word = unique('capped');
      const { taskRunId } = await oneTaskRun();
      await taskLogInsert(db, { lines: [1, 2, 3, 4].map((i) => line(taskRunId, `${word} ${i}`, { at: T0 + i })), maxLines: 2, maxBytes: 1_000_000 });
      const found = await searchAll({ terms: ['log truncated'], levels: ['warn'], since: new Date(T0).toISOString(), until: new Date(T0 + 10).toISOString() });
      const marker = found.find((l) => l.taskRunId === taskRunId);
      expect(marker?.truncated).toMatchObject({ keptLines: 2, droppedLines: 2 });
      expect((await searchAll({ terms: [word] })).map((l) => l.message)).toEqual([`${word} 2`, `${word} 1`]);
    });

    it('reads the same pages through the text index as newest first, and falls back to it when the walk times out', async () => {
      const word = unique('plan');
      const [a, b] = await taskRuns(2);
      await taskLogInsert(db, {
        lines: Array.from({ length: 9 }, (_, i) => line(i % 2 ? a!.taskRunId : b!.taskRunId, `${word} ${i % 3 ? 'alpha' : 'beta'} #${i}`, { at: T0 + Math.floor(i / 2), level: i % 4 ? 'info' : 'error' })),
      });
      const walk = async (query: Omit<LogSearchQuery, 'cursor'>, options: { plan?: LogSearchPlan; via?: Queryable } = {}) => {
        const found: string[] = [];
        let cursor: string | undefined;
        do {
          const page = await logSearch(options.via ?? db, { ...query, plan: options.plan, limit: 2, cursor });
          found.push(...page.lines.map((l) => l.message));
          cursor = page.nextCursor ?? undefined;
        } while (cursor !== undefined);
        return found;
      };
      for (const query of [{ terms: [word] }, { terms: [word, 'alpha'] }, { terms: [word], levels: ['error' as const] }, { terms: [word], workflowName: a!.workflowName }]) {
        const newest = await walk(query, { plan: 'newest-first' });
        expect(newest.length, JSON.stringify(query)).toBeGreaterThan(0);
        expect(await walk(query, { plan: 'text-index' }), JSON.stringify(query)).toEqual(newest);
      }

      // A newest-first walk that runs past its time is cancelled (57014) and the page read through the index.
      const statements: string[] = [];
      const expected = await logSearch(db, { terms: [word, 'beta'], limit: 5 });
      const page = await db.transaction(async (tx) => {
        const timingOut: Queryable = {
          async query(sql, args) {
            const text = String(sql);
            statements.push(text.trim().split(/\s+/).slice(0, 3).join(' '));
            if (/ORDER BY l\.created_at DESC/.test(text)) throw new CleaverError('DATABASE', 'canceling statement due to statement timeout', { cause: { code: '57014' } });
            return tx.query(sql, args);
          },
        } as Queryable;
        const result = await logSearch(timingOut, { terms: [word, 'beta'], limit: 5, textIndexAfterMs: 50 });
        // The transaction is still usable after the rollback to the savepoint.
        expect((await tx.query<{ one: number }>('SELECT 1 AS one')).rows[0]!.one).toBe(1);
        return result;
      });
      expect(page).toEqual(expected);
      expect(statements.filter((s) => /SAVEPOINT/.test(s))).toEqual(['SAVEPOINT log_search', 'ROLLBACK TO SAVEPOINT']);
    });

    it('refuses a cursor it did not make', async () => {
      for (const cursor of ['nope', Buffer.from('2024-01-01T00:00:00.000000Z/x').toString('base64url'), Buffer.from('2024-13-45T00:00:00.000000Z/5').toString('base64url')]) {
        const error = await logSearch(db, { terms: [], cursor }).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(CleaverError);
        expect((error as CleaverError).code).toBe('BAD_REQUEST');
        expect((error as CleaverError).message).toMatch(/is not one this search returned; pass the previous page's nextCursor unchanged/);
      }
    });
  });

  it('has the trigram index that serves text search, and the planner can use it', async () => {
    const index = await db.query<{ indexdef: string }>(`SELECT indexdef FROM pg_indexes WHERE tablename = 'task_log' AND schemaname = current_schema() AND indexname = 'task_log_text_idx'`);
    expect(index.rows[0]?.indexdef).toMatch(/USING gin .*gin_trgm_ops/);
    const plan = await db.transaction(async (tx) => {
      await tx.query('SET LOCAL enable_seqscan = off');
      return tx.query<{ 'QUERY PLAN': string }>(`EXPLAIN SELECT id FROM task_log l WHERE (l.message || coalesce(' ' || l.fields::text, '')) ILIKE '%needle%'`);
    });
    expect(plan.rows.map((r) => r['QUERY PLAN']).join('\n')).toMatch(/task_log_text_idx/);
  });
});
