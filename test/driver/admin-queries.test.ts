// The read side of the admin contract, against both drivers: run lists (every filter, keyset pages),
// run details (shape, task runs, events, children), events (insert, pattern matching, lists) and logs.
import { randomBytes } from 'node:crypto';
import { beforeEach, describe, expect, it } from 'vitest';
import { forEachDriver } from './drivers.ts';
import type { Driver } from '../../engine/db/driver.ts';
import { uuidv7 } from '../../engine/ids.ts';
import { eventGet, eventInsert, eventList, eventMarkReplayed, eventMatchWorkflows } from '../../engine/sql/event.ts';
import { runDetailsGet } from '../../engine/sql/run-details.ts';
import { runCount, runIdsSelect, runList, runSearchPlans } from '../../engine/sql/run-list.ts';
import { runTrigger, type RunToCreate } from '../../engine/sql/run-trigger.ts';
import { taskLogInsert, taskLogList } from '../../engine/sql/task-log.ts';
import { workflowList } from '../../engine/sql/workflow-read.ts';
import { workflowRegister } from '../../engine/sql/workflow-register.ts';
import type { RunSummary } from '../../shared/admin-api.ts';
import { CleaverError } from '../../shared/errors.ts';
import type { Json, TaskDefinition, TriggerKind, WorkflowDefinition, WorkflowTaskDefinition } from '../../shared/types.ts';

const POLICY: Omit<TaskDefinition, 'name'> = { retries: 1, backoff: null, executionTimeoutMs: 60_000, scheduleTimeoutMs: 300_000, defaultPriority: 1 };

function workflowTask(name: string, parents: string[] = []): WorkflowTaskDefinition {
  return { name, parents, ...POLICY };
}

function workflowDefinition(name: string, options: Partial<WorkflowDefinition> = {}): WorkflowDefinition {
  return { name, description: null, versionLabel: null, events: [], tasks: [workflowTask('only')], onFailure: null, onSuccess: null, ...options };
}

/** A name no other test of the shared database uses. */
function unique(label: string): string {
  return `${label}-${randomBytes(4).toString('hex')}`;
}

async function expectBadRequest(promise: Promise<unknown>, message: RegExp): Promise<void> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(CleaverError);
  expect((error as CleaverError).code).toBe('BAD_REQUEST');
  expect((error as CleaverError).message).toMatch(message);
}

forEachDriver('admin queries', (getDriver) => {
  let db: Driver;

  beforeEach(() => {
    db = getDriver();
  });

  async function registerTask(name: string): Promise<void> {
    await workflowRegister(db, { definition: { kind: 'task', task: { name, ...POLICY } } });
  }

  async function registerWorkflow(definition: WorkflowDefinition): Promise<void> {
    await workflowRegister(db, { definition: { kind: 'workflow', workflow: definition } });
  }

  async function trigger(
    workflowName: string,
    runs: Array<{ input?: Json; metadata?: Record<string, string>; triggerKind?: TriggerKind; eventId?: string; parent?: { taskRunId: string; key: string } }>,
  ): Promise<string[]> {
    const toCreate: RunToCreate[] = runs.map((r) => ({
      runId: uuidv7(),
      taskRunId: uuidv7(),
      input: r.input ?? {},
      metadata: r.metadata ?? {},
      priority: null,
      triggerKind: r.triggerKind ?? 'manual',
      parent: r.parent ?? null,
      eventId: r.eventId ?? null,
    }));
    const created = await runTrigger(db, { workflowName, runs: toCreate, notifyFrom: null });
    expect(created, `trigger ${workflowName}`).not.toBeNull();
    return created!.runIds;
  }

  async function setCreatedAt(table: 'run' | 'event', ids: string[], at: string[]): Promise<void> {
    await db.query(
      `UPDATE ${table} SET created_at = x.at FROM unnest($1::uuid[], $2::timestamptz[]) AS x(id, at) WHERE ${table}.id = x.id`,
      [ids, at],
    );
  }

  async function listAll(params: Parameters<typeof runList>[1]): Promise<RunSummary[]> {
    const runs: RunSummary[] = [];
    let cursor: string | undefined;
    for (let pages = 0; pages < 100; pages++) {
      const page = await runList(db, { ...params, cursor });
      runs.push(...page.runs);
      if (page.nextCursor === null) return runs;
      cursor = page.nextCursor;
    }
    throw new Error('runList never reached its last page');
  }

  describe('runList', () => {
    it('narrows by workflow, status, metadata, trigger kind, parent task run and event', async () => {
      const task = unique('list-task');
      const other = unique('list-other');
      await registerTask(task);
      await registerTask(other);
      const tag = unique('tag');
      const eventId = uuidv7();
      await eventInsert(db, { events: [{ id: eventId, key: unique('evt'), payload: {}, metadata: {} }] });
      const [plain, eu, us, fromEvent] = await trigger(task, [
        { metadata: { tag } },
        { metadata: { tag, region: 'eu' } },
        { metadata: { tag, region: 'us' } },
        { metadata: { tag }, triggerKind: 'event', eventId },
      ]);
      const [elsewhere] = await trigger(other, [{ metadata: { tag } }]);
      const parentTaskRun = await db.query<{ id: string }>(`SELECT id FROM task_run WHERE run_id = $1`, [plain]);
      const [child] = await trigger(other, [{ metadata: { tag }, triggerKind: 'child', parent: { taskRunId: parentTaskRun.rows[0]!.id, key: '0' } }]);
      await db.query(`UPDATE run SET status = 'failed', failure_reason = 'ERROR', finished_at = now() WHERE id = $1`, [us]);

      const ids = async (filter: Parameters<typeof runList>[1]): Promise<string[]> =>
        (await runList(db, { metadata: { tag }, ...filter })).runs.map((r) => r.id).sort();
      const sorted = (...list: Array<string | undefined>): string[] => (list as string[]).sort();

      expect(await ids({})).toEqual(sorted(plain, eu, us, fromEvent, elsewhere, child));
      expect(await ids({ workflowName: task })).toEqual(sorted(plain, eu, us, fromEvent));
      expect(await ids({ workflowName: task, statuses: ['failed'] })).toEqual([us]);
      expect(await ids({ workflowName: task, statuses: ['queued', 'running'] })).toEqual(sorted(plain, eu, fromEvent));
      expect(await ids({ statuses: [] })).toEqual([]);
      expect(await ids({ metadata: { tag, region: 'eu' } })).toEqual([eu]);
      expect(await ids({ metadata: { tag: unique('nobody') } })).toEqual([]);
      expect(await ids({ triggerKinds: ['event'] })).toEqual([fromEvent]);
      expect(await ids({ triggerKinds: ['child'] })).toEqual([child]);
      expect(await ids({ triggerKinds: ['event', 'child'] })).toEqual(sorted(fromEvent, child));
      expect(await ids({ triggerKinds: [] })).toEqual([]);
      expect(await ids({ eventId })).toEqual([fromEvent]);
      expect(await ids({ parentTaskRunId: parentTaskRun.rows[0]!.id })).toEqual([child]);
      expect(await ids({ parentRunId: plain })).toEqual([child]);
      expect(await ids({ parentRunId: eu })).toEqual([]);
      expect(await ids({ topLevelOnly: true })).toEqual(sorted(plain, eu, us, fromEvent, elsewhere));

      const [summary] = (await runList(db, { metadata: { tag, region: 'us' } })).runs;
      expect(summary).toEqual({
        id: us,
        workflowName: task,
        workflowVersion: 1,
        kind: 'task',
        status: 'failed',
        triggerKind: 'manual',
        metadata: { tag, region: 'us' },
        parentTaskRunId: null,
        parentRunId: null,
        childCount: 0,
        eventId: null,
        failureReason: 'ERROR',
        createdAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
        replayedAt: null,
        finishedAt: expect.any(String),
      });
      const childSummary = (await runList(db, { triggerKinds: ['child'], metadata: { tag } })).runs[0];
      expect(childSummary).toMatchObject({ parentTaskRunId: parentTaskRun.rows[0]!.id, parentRunId: plain, triggerKind: 'child', childCount: 0 });
      expect((await runList(db, { metadata: { tag }, topLevelOnly: true })).runs.find((r) => r.id === plain)).toMatchObject({ childCount: 1 });
    });

    it('narrows by a time range: since inclusive, until exclusive', async () => {
      const task = unique('range');
      await registerTask(task);
      const ids = await trigger(task, [{}, {}, {}]);
      await setCreatedAt('run', ids, ['2020-01-01T00:00:00Z', '2020-01-02T00:00:00Z', '2020-01-03T00:00:00Z']);
      const list = async (since?: string, until?: string): Promise<string[]> =>
        (await runList(db, { workflowName: task, since, until })).runs.map((r) => r.id);
      expect(await list('2020-01-02T00:00:00Z', '2020-01-03T00:00:00Z')).toEqual([ids[1]]);
      expect(await list('2020-01-02T00:00:00Z')).toEqual([ids[2], ids[1]]);
      expect(await list(undefined, '2020-01-02T00:00:00.001Z')).toEqual([ids[1], ids[0]]);
      expect((await runList(db, { workflowName: task })).runs[0]!.createdAt).toBe('2020-01-03T00:00:00.000Z');
    });

    it('pages newest first and walks every run exactly once, ties and sub-millisecond times included', async () => {
      const task = unique('pages');
      await registerTask(task);
      const ids = await trigger(task, Array.from({ length: 23 }, (_, i) => ({ input: { i } })));
      // Times a few microseconds apart, within one millisecond, several runs sharing each: a cursor
      // that kept only milliseconds (or only the time) would skip or repeat runs here.
      const micros = ids.map((_, i) => i % 5);
      await setCreatedAt('run', ids, micros.map((us) => `2021-06-01T00:00:00.00000${us}Z`));
      const expected = ids
        .map((id, i) => ({ id, us: micros[i]! }))
        .sort((a, b) => b.us - a.us || (a.id < b.id ? 1 : -1))
        .map((r) => r.id);

      const pages: string[][] = [];
      let cursor: string | undefined;
      do {
        const page = await runList(db, { workflowName: task, limit: 4, cursor });
        pages.push(page.runs.map((r) => r.id));
        cursor = page.nextCursor ?? undefined;
      } while (cursor !== undefined);
      expect(pages.map((p) => p.length)).toEqual([4, 4, 4, 4, 4, 3]);
      expect(pages.flat()).toEqual(expected);

      const exact = await runList(db, { workflowName: task, limit: 23 });
      expect(exact.runs).toHaveLength(23);
      expect(exact.nextCursor).toBeNull();
      expect((await runList(db, { workflowName: task })).runs).toHaveLength(23);
      expect((await listAll({ workflowName: task, limit: 1 })).map((r) => r.id)).toEqual(expected);
    });

    it('reads runs by id, newest first: those the filter still matches, all of them in one page', async () => {
      const task = unique('by-id');
      await registerTask(task);
      const ids = await trigger(task, Array.from({ length: 60 }, (_, i) => ({ input: { i } })));
      await setCreatedAt('run', ids, ids.map((_, i) => new Date(Date.UTC(2022, 0, 1, 0, 0, i)).toISOString()));
      const [ended, ...rest] = ids;
      await db.query(`UPDATE run SET status = 'succeeded', finished_at = now() WHERE id = $1`, [ended]);
      const asked = [ended!, ...rest.slice(0, 54), uuidv7()];

      const page = await runList(db, { runIds: asked });
      expect(page.runs.map((r) => r.id)).toEqual([ended!, ...rest.slice(0, 54)].reverse());
      expect(page.nextCursor).toBeNull();
      // A run that left the filter is not in the answer: the caller drops it.
      const live = await runList(db, { runIds: asked, statuses: ['queued', 'running'] });
      expect(live.runs.map((r) => r.id)).toEqual(rest.slice(0, 54).reverse());
      expect((await runList(db, { runIds: asked, since: '2022-01-01T00:00:50Z' })).runs.map((r) => r.id)).toEqual(rest.slice(49, 54).reverse());
      // A smaller limit pages them like any list.
      const first = await runList(db, { runIds: asked, limit: 50 });
      expect(first.runs).toHaveLength(50);
      expect((await runList(db, { runIds: asked, limit: 50, cursor: first.nextCursor! })).runs.map((r) => r.id)).toEqual([rest[3], rest[2], rest[1], rest[0], ended]);
    });

    it('refuses a cursor it did not make with BAD_REQUEST', async () => {
      await expectBadRequest(runList(db, { cursor: 'not-a-cursor' }), /cursor "not-a-cursor" is not one this list returned/);
      const wrongShape = Buffer.from(JSON.stringify({ at: 1 })).toString('base64url');
      await expectBadRequest(runList(db, { cursor: wrongShape }), /nextCursor unchanged/);
      const badId = Buffer.from(JSON.stringify(['2021-06-01T00:00:00.000000Z', 'x'])).toString('base64url');
      await expectBadRequest(runList(db, { cursor: badId }), /is not one this list returned/);
      await expectBadRequest(eventList(db, { cursor: 'nope' }), /is not one this list returned/);
    });
  });

  describe('runList search', () => {
    /** A word no other test uses: letters then hex digits, one token for the text-search parser. */
    const word = (label: string): string => `${label}${randomBytes(4).toString('hex')}`;

    /** Ends a run's one task run with an output or an error, as the engine records it (task_run, then run). */
    async function finishTask(runId: string, outcome: { output: Json } | { error: Json }): Promise<void> {
      const failed = 'error' in outcome;
      await db.query(
        `UPDATE task_run SET status = $2, output = $3::jsonb, error = $4::jsonb, attempt = 1, finished_at = now() WHERE run_id = $1`,
        [runId, failed ? 'failed' : 'succeeded', failed ? null : JSON.stringify(outcome.output), failed ? JSON.stringify(outcome.error) : null],
      );
      await db.query(`UPDATE run SET status = $2, tasks_remaining = 0, finished_at = now() WHERE id = $1`, [runId, failed ? 'failed' : 'succeeded']);
    }

    it("finds a run by a word of its input or metadata values, or of a task run's output or error message", async () => {
      const task = unique('search');
      await registerTask(task);
      const [w1, w2, w3, w4, w5, n] = [word('inv'), word('out'), word('err'), word('stack'), word('key'), String(Date.now() % 1e9)];
      const [input, meta, output, error, keyOnly] = await trigger(task, [
        { input: { note: `Invoice ${w1} for USER42@Example.com`, lines: [{ sku: 'A-100', qty: 2 }] } },
        { metadata: { customer: `c-${n}` } },
        {},
        {},
        { input: { [w5]: 'only a key' } },
      ]);
      await finishTask(output!, { output: { receipt: `${w2} delivered`, ms: 12 } });
      await finishTask(error!, { error: { message: `connect ECONNREFUSED 10.0.3.7:5432 (${w3})`, name: 'DatabaseError', stack: `at ${w4}` } });
      const ids = async (search: string): Promise<string[]> => (await runList(db, { workflowName: task, search })).runs.map((r) => r.id);

      expect(await ids(w1)).toEqual([input]);
      expect(await ids(w1.toUpperCase())).toEqual([input]);
      // Words in order; the last may be the beginning of a longer one.
      expect(await ids(`invoice ${w1} for`)).toEqual([input]);
      expect(await ids('Invo')).toEqual([input]);
      expect(await ids(`for ${w1}`)).toEqual([]);
      expect(await ids('nvoice')).toEqual([]);
      // Punctuation separates words, in documents and searches alike.
      expect(await ids('user42@example.com')).toEqual([input]);
      expect(await ids('example.com')).toEqual([input]);
      expect(await ids('A-100')).toEqual([input]);
      expect(await ids(`c-${n}`)).toEqual([meta]);
      expect(await ids(n)).toEqual([meta]);
      expect(await ids(`${w2} delivered`)).toEqual([output]);
      expect(await ids(w3)).toEqual([error]);
      expect(await ids('econnrefused 10.0.3.7')).toEqual([error]);
      expect(await ids('databaseerror')).toEqual([error]);
      // Neither keys nor the stack trace are searched.
      expect(await ids(w4)).toEqual([]);
      expect(await ids(w5)).toEqual([]);
      expect(await ids('lines')).toEqual([]);
      // Text the parser keeps no word of (an HTML-like tag) matches nothing rather than everything.
      expect(await ids('<b>')).toEqual([]);
      expect((await runList(db, { workflowName: task })).runs).toHaveLength(5);
    });

    it('narrows a search by every other filter, live statuses included', async () => {
      const task = unique('search-and');
      const other = unique('search-other');
      await registerTask(task);
      await registerTask(other);
      const shared = word('both');
      const tag = unique('tag');
      const eventId = uuidv7();
      await eventInsert(db, { events: [{ id: eventId, key: unique('evt'), payload: {}, metadata: {} }] });
      const [queued, running, failed, fromEvent, old, noWord] = await trigger(task, [
        { input: { text: shared }, metadata: { tag, region: 'eu' } },
        { input: { text: shared }, metadata: { tag } },
        { input: { text: shared }, metadata: { tag } },
        { input: { text: shared }, metadata: { tag }, triggerKind: 'event', eventId },
        { input: { text: shared }, metadata: { tag } },
        { input: { text: 'something else' }, metadata: { tag } },
      ]);
      const [elsewhere] = await trigger(other, [{ input: { text: shared }, metadata: { tag } }]);
      const parent = await db.query<{ id: string }>(`SELECT id FROM task_run WHERE run_id = $1`, [queued]);
      const [child] = await trigger(other, [{ input: { text: shared }, triggerKind: 'child', parent: { taskRunId: parent.rows[0]!.id, key: '0' } }]);
      await db.query(`UPDATE task_run SET status = 'running', attempt = 1, started_at = now() WHERE run_id = $1`, [running]);
      await db.query(`UPDATE run SET status = 'running' WHERE id = $1`, [running]);
      await finishTask(failed!, { error: { message: 'boom' } });
      await finishTask(noWord!, { output: { also: shared } });
      await setCreatedAt('run', [old!], ['2020-01-01T00:00:00Z']);

      const ids = async (filter: Parameters<typeof runList>[1]): Promise<string[]> =>
        (await runList(db, { search: shared, ...filter })).runs.map((r) => r.id).sort();
      const sorted = (...list: Array<string | undefined>): string[] => (list as string[]).sort();

      expect(await ids({})).toEqual(sorted(queued, running, failed, fromEvent, old, noWord, elsewhere, child));
      expect(await ids({ workflowName: task })).toEqual(sorted(queued, running, failed, fromEvent, old, noWord));
      expect(await ids({ workflowName: task, statuses: ['failed'] })).toEqual([failed]);
      expect(await ids({ workflowName: task, statuses: ['queued'] })).toEqual(sorted(queued, fromEvent, old));
      expect(await ids({ workflowName: task, statuses: ['running'] })).toEqual([running]);
      expect(await ids({ workflowName: task, statuses: ['queued', 'running'] })).toEqual(sorted(queued, running, fromEvent, old));
      expect(await ids({ workflowName: task, statuses: ['running', 'succeeded'] })).toEqual(sorted(running, noWord));
      // The child inherits the metadata of the run that spawned it.
      expect(await ids({ metadata: { tag, region: 'eu' } })).toEqual(sorted(queued, child));
      expect(await ids({ triggerKinds: ['event'] })).toEqual([fromEvent]);
      expect(await ids({ triggerKinds: ['child'] })).toEqual([child]);
      expect(await ids({ eventId })).toEqual([fromEvent]);
      expect(await ids({ parentRunId: queued })).toEqual([child]);
      expect(await ids({ workflowName: task, until: '2021-01-01T00:00:00Z' })).toEqual([old]);
      expect(await ids({ workflowName: task, since: '2021-01-01T00:00:00Z', statuses: ['queued'] })).toEqual(sorted(queued, fromEvent));
      expect(await ids({ metadata: { tag }, topLevelOnly: true })).toEqual(sorted(queued, running, failed, fromEvent, old, noWord, elsewhere));
      // The same filters without the search, for the live statuses read through task_run.
      expect((await runList(db, { workflowName: task, statuses: ['queued', 'running'] })).runs.map((r) => r.id).sort()).toEqual(sorted(queued, running, fromEvent, old));
      expect(await runCount(db, { workflowName: task, statuses: ['running'] })).toEqual({ count: 1, exact: true });
      expect(await runCount(db, { workflowName: task, search: shared, statuses: ['queued'] })).toEqual({ count: 3, exact: true });
      expect((await runIdsSelect(db, { filter: { search: shared, workflowName: task, statuses: ['queued', 'failed'] }, limit: 10 })).sort()).toEqual(sorted(queued, failed, fromEvent, old));
    });

    it("finds, with since, a run whose task run's id is older than the run itself (an engine clock behind the database's) by under a day", async () => {
      const task = unique('search-clock');
      await registerTask(task);
      const w = word('skew');
      const [run] = await trigger(task, [{}]);
      await finishTask(run!, { output: { note: `${w} done` } });
      // The run reads as created 20 hours after its task run's id was made.
      await db.query(`UPDATE run SET created_at = now() + interval '20 hours' WHERE id = $1`, [run]);
      const since = new Date(Date.now() + 19 * 3_600_000).toISOString();
      expect((await runList(db, { workflowName: task, search: w, since })).runs.map((r) => r.id)).toEqual([run]);
      expect(await runCount(db, { workflowName: task, search: w, since })).toEqual({ count: 1, exact: true });
      expect((await runList(db, { workflowName: task, search: w, since: new Date(Date.now() + 21 * 3_600_000).toISOString() })).runs).toEqual([]);
      // A since before 1970, or far ahead, bounds nothing it should not.
      expect((await runList(db, { workflowName: task, search: w, since: '1900-01-01T00:00:00Z' })).runs.map((r) => r.id)).toEqual([run]);
      expect((await runList(db, { workflowName: task, search: w, since: '20000-01-01T00:00:00Z' })).runs).toEqual([]);
    });

    it('pages a search newest first, each match once, whether a run holds the words itself, in a task run, or both', async () => {
      const task = unique('search-pages');
      await registerTask(task);
      const w = word('page');
      // Where each of 60 runs holds the word, oldest first: a run of ten holding it twice (its page is
      // merged from both halves, each giving the run), the rest spread, and runs without it between.
      const where = Array.from({ length: 60 }, (_, i) => (i >= 50 ? 'both' : i % 7 === 0 ? 'input' : i % 5 === 0 ? 'output' : i % 11 === 0 ? 'both' : 'none'));
      const ids = await trigger(task, where.map((at, i) => ({ input: { text: at === 'input' || at === 'both' ? `x ${w} y` : `filler ${i}` } })));
      for (const [i, at] of where.entries()) {
        if (at === 'output' || at === 'both') await finishTask(ids[i]!, { output: { said: `${w} done` } });
      }
      // A few microseconds apart, several runs sharing each time.
      await setCreatedAt('run', ids, ids.map((_, i) => `2022-03-01T00:00:00.0000${Math.floor(i / 12)}0Z`));
      const expected = ids
        .map((id, i) => ({ id, at: where[i]!, us: Math.floor(i / 12) }))
        .filter((r) => r.at !== 'none')
        .sort((a, b) => b.us - a.us || (a.id < b.id ? 1 : -1))
        .map((r) => r.id);
      expect(expected.length).toBeGreaterThan(20);
      for (const limit of [1, 4, 7]) {
        expect((await listAll({ workflowName: task, search: w, limit })).map((r) => r.id), `pages of ${limit}`).toEqual(expected);
      }
      expect((await runList(db, { workflowName: task, search: w, limit: expected.length })).nextCursor).toBeNull();
      expect(await runCount(db, { workflowName: task, search: w })).toEqual({ count: expected.length, exact: true });
      expect(await runCount(db, { workflowName: task, search: w, upTo: 5 })).toEqual({ count: 5, exact: false });
      expect(await runCount(db, { workflowName: task, search: w, statuses: ['queued'] })).toEqual({ count: where.filter((at) => at === 'input').length, exact: true });
    });

    it('walks a phrase whose every word is frequent, reads one with a rare word from the index, and finds the same runs either way', { timeout: 60_000 }, async () => {
      const task = unique('search-phrase');
      await registerTask(task);
      // The planner costs a phrase as the product of its words' frequencies: two words in every task
      // run's error, together, look rarer than one run in a thousand and would be read from the index.
      // (Error names of 250 kinds: with fewer than 100 words in its statistics, Postgres costs every
      // word that ends a search, a prefix, as one row in fifty.)
      const [common1, common2, rare] = [word('timed'), word('out'), word('once')];
      const runs = 10_000;
      const ids: string[] = [];
      for (let from = 0; from < runs; from += 500) ids.push(...(await trigger(task, Array.from({ length: 500 }, () => ({})))));
      await db.query(
        `UPDATE task_run SET status = 'failed', attempt = 1, finished_at = now(),
                error = jsonb_build_object('message', CASE WHEN run_id = $2::uuid THEN $3 || ' ' || $4 || ' ' || $5 ELSE $3 || ' ' || $4 END,
                                           'name', 'kind' || (get_byte(uuid_send(id), 15) % 250))
          WHERE run_id = ANY($1::uuid[])`,
        [ids, ids[777], common1, common2, rare],
      );
      await db.query(`UPDATE run SET status = 'failed', tasks_remaining = 0, finished_at = now() WHERE id = ANY($1::uuid[])`, [ids]);
      await db.query('ANALYZE task_run');
      await db.query('ANALYZE run');

      const phrase = `${common1} ${common2}`;
      // (The runs' own documents are the planner's to read as it likes: the half of task runs is tested.)
      const tasksPlan = async (search: string) => (await runSearchPlans(db, { workflowName: task, search, limit: 100 })).tasks;
      expect(await tasksPlan(phrase)).toBe('walk');
      expect(await tasksPlan(`${common2} ${rare}`)).toBe('index');
      // One word is the planner's to decide: its estimate is right.
      expect(await tasksPlan(common1)).toBe('index');

      const newestFirst = [...ids].reverse();
      const page = await runList(db, { workflowName: task, search: phrase, limit: 100 });
      expect(page.runs.map((r) => r.id)).toEqual(newestFirst.slice(0, 100));
      expect(page.nextCursor).not.toBeNull();
      expect((await runList(db, { workflowName: task, search: `${common2} ${rare}` })).runs.map((r) => r.id)).toEqual([ids[777]]);
      // The words in another order are not the phrase.
      expect((await runList(db, { workflowName: task, search: `${common2} ${common1}` })).runs).toEqual([]);
      expect(await runCount(db, { workflowName: task, search: phrase, upTo: 2 * runs })).toEqual({ count: runs, exact: true });
    });

    it('indexes the first 16 KiB of a large input, and still triggers a run with a megabyte of distinct words', async () => {
      const task = unique('search-big');
      await registerTask(task);
      const first = word('first');
      const last = word('last');
      const words = Array.from({ length: 60_000 }, (_, i) => `w${i.toString(36)}x`);
      const [big] = await trigger(task, [{ input: { text: `${first} ${words.join(' ')} ${last}` } }]);
      expect((await runList(db, { workflowName: task, search: first })).runs.map((r) => r.id)).toEqual([big]);
      expect((await runList(db, { workflowName: task, search: last })).runs).toEqual([]);
    });
  });

  it('runCount counts exactly up to its bound, and says "more" beyond it', async () => {
    const task = unique('count');
    await registerTask(task);
    await trigger(task, Array.from({ length: 5 }, () => ({})));
    expect(await runCount(db, { workflowName: task })).toEqual({ count: 5, exact: true });
    expect(await runCount(db, { workflowName: task, upTo: 5 })).toEqual({ count: 5, exact: true });
    expect(await runCount(db, { workflowName: task, upTo: 4 })).toEqual({ count: 4, exact: false });
    expect(await runCount(db, { workflowName: task, statuses: ['failed'] })).toEqual({ count: 0, exact: true });
  });

  it('runIdsSelect returns the matching run ids in chunks, each once', async () => {
    const task = unique('select');
    await registerTask(task);
    const ids = await trigger(task, Array.from({ length: 7 }, () => ({})));
    await db.query(`UPDATE run SET status = 'cancelled' WHERE id = $1`, [ids[3]]);
    const seen: string[] = [];
    let afterId: string | undefined;
    for (;;) {
      const chunk = await runIdsSelect(db, { filter: { workflowName: task, statuses: ['queued'] }, limit: 2, afterId });
      if (chunk.length === 0) break;
      seen.push(...chunk);
      afterId = chunk.at(-1);
    }
    expect(seen).toEqual(ids.filter((_, i) => i !== 3).sort());
  });

  describe('runDetailsGet', () => {
    it("returns a diamond workflow's shape and task runs: the root queued, the rest pending", async () => {
      const name = unique('diamond');
      await registerWorkflow(
        workflowDefinition(name, {
          tasks: [workflowTask('a'), workflowTask('b', ['a']), workflowTask('c', ['a']), workflowTask('d', ['b', 'c'])],
          onFailure: { name: 'cleanup', ...POLICY },
        }),
      );
      const [runId] = await trigger(name, [{ input: { n: 1 }, metadata: { who: 'test' } }]);
      const details = await runDetailsGet(db, { runId: runId! });
      expect(details).not.toBeNull();
      expect(details!.run).toMatchObject({
        id: runId,
        workflowName: name,
        kind: 'workflow',
        status: 'queued',
        input: { n: 1 },
        output: null,
        metadata: { who: 'test' },
        childKey: null,
      });
      expect(details!.shape.nodes).toEqual([
        { taskName: 'a', kind: 'dag', action: `${name}:a` },
        { taskName: 'b', kind: 'dag', action: `${name}:b` },
        { taskName: 'c', kind: 'dag', action: `${name}:c` },
        { taskName: 'd', kind: 'dag', action: `${name}:d` },
        { taskName: 'cleanup', kind: 'on_failure', action: `${name}:cleanup` },
      ]);
      const edge = (e: { from: string; to: string }): string => `${e.from}->${e.to}`;
      expect(details!.shape.edges.map(edge).sort()).toEqual(['a->b', 'a->c', 'b->d', 'c->d']);
      expect(details!.taskRuns.map((t) => [t.taskName, t.kind, t.status, t.parents])).toEqual([
        ['a', 'dag', 'queued', []],
        ['b', 'dag', 'pending', ['a']],
        ['c', 'dag', 'pending', ['a']],
        ['d', 'dag', 'pending', ['b', 'c']],
      ]);
      expect(details!.taskRuns[0]).toMatchObject({ runId, action: `${name}:a`, input: { n: 1 }, attempt: 0, maxAttempts: 2, workerId: null });
      expect(details!.attempts).toEqual([]);
      expect(details!.events).toEqual([]);
      expect(details!.parent).toBeNull();
      expect(details!.childCounts).toEqual({ total: 0, byStatus: { queued: 0, running: 0, succeeded: 0, failed: 0, cancelled: 0 } });
    });

    it("builds a succeeded workflow run's output from its tasks, and lists attempts", async () => {
      const name = unique('outputs');
      await registerWorkflow(workflowDefinition(name, { tasks: [workflowTask('a'), workflowTask('b', ['a'])] }));
      const [runId] = await trigger(name, [{}]);
      // The engine's finishing statements are tested elsewhere; here only the read side matters.
      await db.query(
        `UPDATE task_run SET status = 'succeeded', output = jsonb_build_object('from', task_name), attempt = 1, finished_at = now()
          WHERE run_id = $1`,
        [runId],
      );
      await db.query(`UPDATE run SET status = 'succeeded', tasks_remaining = 0, finished_at = now() WHERE id = $1`, [runId]);
      const a = await db.query<{ id: string }>(`SELECT id FROM task_run WHERE run_id = $1 AND task_name = 'a'`, [runId]);
      await db.query(
        `INSERT INTO attempt (task_run_id, attempt, status, failure_reason, error, assigned_at, finished_at)
         VALUES ($1, 1, 'failed', 'ERROR', '{"message":"boom"}', now(), now()), ($1, 2, 'succeeded', NULL, NULL, now(), now())`,
        [a.rows[0]!.id],
      );
      const details = await runDetailsGet(db, { runId: runId! });
      expect(details!.run.output).toEqual({ a: { from: 'a' }, b: { from: 'b' } });
      expect(details!.run.finishedAt).toEqual(expect.any(String));
      expect(details!.attempts).toMatchObject([
        { taskRunId: a.rows[0]!.id, attempt: 1, status: 'failed', failureReason: 'ERROR', error: { message: 'boom' } },
        { taskRunId: a.rows[0]!.id, attempt: 2, status: 'succeeded', failureReason: null, error: null },
      ]);
    });

    it('returns the triggering event and the child runs of its task runs; null for an unknown run', async () => {
      const parentTask = unique('parent');
      const childTask = unique('child');
      await registerTask(parentTask);
      await registerTask(childTask);
      const eventId = uuidv7();
      const key = unique('details-event');
      await eventInsert(db, { events: [{ id: eventId, key, payload: { p: 1 }, metadata: { m: 'x' } }] });
      const [runId] = await trigger(parentTask, [{ input: { p: 1 }, triggerKind: 'event', eventId }]);
      const taskRunId = (await db.query<{ id: string }>(`SELECT id FROM task_run WHERE run_id = $1`, [runId])).rows[0]!.id;
      const children = await trigger(childTask, [0, 1, 2].map((i) => ({ triggerKind: 'child' as const, parent: { taskRunId, key: String(i) } })));

      const details = await runDetailsGet(db, { runId: runId! });
      expect(details!.shape).toEqual({ nodes: [{ taskName: parentTask, kind: 'standalone', action: parentTask }], edges: [] });
      expect(details!.run).toMatchObject({ triggerKind: 'event', eventId });
      expect(details!.taskRuns).toMatchObject([{ id: taskRunId, kind: 'standalone', status: 'queued', input: { p: 1 } }]);
      expect(details!.events).toEqual([
        { id: eventId, key, payload: { p: 1 }, metadata: { m: 'x' }, createdAt: expect.any(String), replayedAt: null },
      ]);
      await db.query(`UPDATE run SET status = 'failed' WHERE id = $1`, [children[2]]);
      expect((await runDetailsGet(db, { runId: runId! }))!.childCounts).toEqual({ total: 3, byStatus: { queued: 2, running: 0, succeeded: 0, failed: 1, cancelled: 0 } });
      const listed = await runList(db, { parentRunId: runId! });
      expect(listed.runs.map((c) => c.id).sort()).toEqual([...children].sort());
      expect(listed.runs.every((c) => c.parentTaskRunId === taskRunId && c.parentRunId === runId && c.triggerKind === 'child')).toBe(true);
      expect((await runDetailsGet(db, { runId: children[0]! }))!.parent).toEqual({ runId, taskRunId, taskName: parentTask, workflowName: parentTask, status: 'queued' });

      expect(await runDetailsGet(db, { runId: uuidv7() })).toBeNull();
    });
  });

  it("lists workflows with their last day's runs by status and the actions no connected worker offers", async () => {
    const name = unique('listed');
    await registerWorkflow(workflowDefinition(name, { tasks: [workflowTask('a'), workflowTask('b', ['a'])] }));
    const runIds = await trigger(name, [{}, {}, {}, {}]);
    await db.query(`UPDATE run SET status = 'succeeded' WHERE id = ANY($1::uuid[])`, [runIds.slice(0, 2)]);
    await db.query(`UPDATE run SET status = 'failed' WHERE id = $1`, [runIds[2]]);
    // Older than a day: not in the figures.
    await db.query(`UPDATE run SET created_at = now() - interval '25 hours' WHERE id = $1`, [runIds[3]]);
    const listed = async () => (await workflowList(db)).find((w) => w.name === name)!;
    expect(await listed()).toMatchObject({
      recent: { total: 3, capped: false, byStatus: { queued: 0, running: 0, succeeded: 2, failed: 1, cancelled: 0 } },
      workers: 0,
      unservedActions: [`${name}:a`, `${name}:b`],
    });
    const worker = uuidv7();
    await db.query(
      `INSERT INTO worker (id, name, engine_id, session_id, actions, slots, address, status) VALUES ($1, 'w', $1, $1, $2, 1, 'test', 'active')`,
      [worker, [`${name}:a`]],
    );
    expect(await listed()).toMatchObject({ workers: 1, unservedActions: [`${name}:b`] });
    await db.query(`UPDATE worker SET status = 'disconnected' WHERE id = $1`, [worker]);
    expect(await listed()).toMatchObject({ workers: 0, unservedActions: [`${name}:a`, `${name}:b`] });
  });

  describe('events', () => {
    it("matches keys against workflows' patterns: '*' is a wildcard, '_' and '%' are literal", async () => {
      const p = `m${randomBytes(4).toString('hex')}.`;
      const orders = unique('orders-wf');
      const exact = unique('exact-wf');
      const underscore = unique('underscore-wf');
      const percent = unique('percent-wf');
      await registerWorkflow(workflowDefinition(orders, { events: [`${p}order:*`] }));
      await registerWorkflow(workflowDefinition(exact, { events: [`${p}order:created`, `${p}other`] }));
      await registerWorkflow(workflowDefinition(underscore, { events: [`${p}a_b`] }));
      // '%' is not allowed in a pattern by the SDK's rules; stored directly, it must still be literal.
      await db.query(`INSERT INTO workflow_event_trigger (workflow_name, pattern, like_pattern) VALUES ($1, $2, $3)`, [percent, `${p}1%`, `${p}1\\%`]);

      const matches = await eventMatchWorkflows(db, {
        keys: [`${p}order:created`, `${p}orders:x`, `${p}order:`, `${p}axb`, `${p}a_b`, `${p}other`, `${p}12`, `${p}1%`, `${p}order:created`],
      });
      expect(Object.fromEntries(matches)).toEqual({
        [`${p}order:created`]: [exact, orders].sort(),
        [`${p}orders:x`]: [],
        [`${p}order:`]: [orders],
        [`${p}axb`]: [],
        [`${p}a_b`]: [underscore],
        [`${p}other`]: [exact],
        [`${p}12`]: [],
        [`${p}1%`]: [percent],
      });
      expect(await eventMatchWorkflows(db, { keys: [] })).toEqual(new Map());
    });

    it('follows the latest version: a re-registered workflow matches its new patterns only', async () => {
      const p = `v${randomBytes(4).toString('hex')}.`;
      const name = unique('versioned');
      await registerWorkflow(workflowDefinition(name, { events: [`${p}old`] }));
      await registerWorkflow(workflowDefinition(name, { events: [`${p}new:*`] }));
      const matches = await eventMatchWorkflows(db, { keys: [`${p}old`, `${p}new:1`] });
      expect(matches.get(`${p}old`)).toEqual([]);
      expect(matches.get(`${p}new:1`)).toEqual([name]);
    });

    it('inserts events in bulk, reads one back and marks it replayed', async () => {
      const key = unique('bulk');
      const events = Array.from({ length: 3 }, (_, i) => ({ id: uuidv7(), key, payload: { i, nested: [true, null] }, metadata: { i: String(i) } }));
      await eventInsert(db, { events });
      await eventInsert(db, { events: [] });
      const stored = await eventGet(db, { eventId: events[1]!.id });
      expect(stored).toEqual({ id: events[1]!.id, key, payload: { i: 1, nested: [true, null] }, metadata: { i: '1' }, createdAt: expect.any(String), replayedAt: null });
      expect(await eventMarkReplayed(db, { eventId: events[1]!.id })).toBe(true);
      expect((await eventGet(db, { eventId: events[1]!.id }))!.replayedAt).toEqual(expect.stringMatching(/Z$/));
      expect(await eventMarkReplayed(db, { eventId: uuidv7() })).toBe(false);
      expect(await eventGet(db, { eventId: uuidv7() })).toBeNull();
    });

    it('lists events by key and time range, newest first in keyset pages, each with the runs it triggered', async () => {
      const key = unique('listed');
      const name = unique('listed-wf');
      await registerWorkflow(workflowDefinition(name));
      const events = Array.from({ length: 5 }, () => ({ id: uuidv7(), key, payload: {}, metadata: {} }));
      await eventInsert(db, { events });
      await setCreatedAt('event', events.map((e) => e.id), ['2022-01-01T00:00:00Z', '2022-01-02T00:00:00Z', '2022-01-02T00:00:00Z', '2022-01-03T00:00:00Z', '2022-01-04T00:00:00Z']);
      const firstRuns = await trigger(name, [{ triggerKind: 'event', eventId: events[1]!.id }]);
      // A replay adds runs to the same event.
      const replayRuns = await trigger(name, [{ triggerKind: 'event', eventId: events[1]!.id }]);
      const lastRuns = await trigger(name, [{ triggerKind: 'event', eventId: events[4]!.id }]);

      const walked: Array<{ id: string; runIds: string[] }> = [];
      let cursor: string | undefined;
      do {
        const page = await eventList(db, { key, limit: 2, cursor });
        walked.push(...page.events.map((e) => ({ id: e.id, runIds: e.runIds })));
        cursor = page.nextCursor ?? undefined;
      } while (cursor !== undefined);
      const tied = [events[1]!.id, events[2]!.id].sort().reverse();
      expect(walked.map((e) => e.id)).toEqual([events[4]!.id, events[3]!.id, ...tied, events[0]!.id]);
      const runIdsOf = Object.fromEntries(walked.map((e) => [e.id, e.runIds]));
      expect(runIdsOf[events[1]!.id]).toEqual([...firstRuns, ...replayRuns].sort());
      expect(runIdsOf[events[4]!.id]).toEqual(lastRuns);
      expect(runIdsOf[events[0]!.id]).toEqual([]);

      const ranged = await eventList(db, { key, since: '2022-01-02T00:00:00Z', until: '2022-01-04T00:00:00Z' });
      expect(ranged.events.map((e) => e.id).sort()).toEqual([events[1]!.id, events[2]!.id, events[3]!.id].sort());
      expect(ranged.nextCursor).toBeNull();
      expect(ranged.events[0]).toMatchObject({ key, createdAt: '2022-01-03T00:00:00.000Z' });
    });
  });

  it('taskLogList returns lines in order with their ids, from after a given id', async () => {
    const taskRunId = uuidv7();
    const at = Date.parse('2023-01-01T00:00:00Z');
    await taskLogInsert(db, {
      lines: ['one', 'two', 'three'].map((message, i) => ({ taskRunId, attempt: 1, level: 'info' as const, message, at: at + i })),
    });
    const all = await taskLogList(db, { taskRunId });
    expect(all.map((l) => l.message)).toEqual(['one', 'two', 'three']);
    expect(all.every((l) => typeof l.id === 'number')).toBe(true);
    expect(all[0]).toEqual({ id: all[0]!.id, taskRunId, attempt: 1, level: 'info', message: 'one', fields: null, truncated: null, createdAt: '2023-01-01T00:00:00.000Z' });
    const first = await taskLogList(db, { taskRunId, limit: 2 });
    expect(first.map((l) => l.message)).toEqual(['one', 'two']);
    const rest = await taskLogList(db, { taskRunId, afterId: first.at(-1)!.id });
    expect(rest.map((l) => l.message)).toEqual(['three']);
  });
});
