// Task logs end to end on both drivers: what tasks write with ctx.log and ctx.logger is found by
// cleaver.logs.search — by text (message and structured fields), level, workflow and time range, a
// stable page at a time — with its run, task and attempt; the engine keeps each task run's log within
// its cap, marks where it cut it, and counts the rest; bad calls and params get errors saying what to do.
// Workers run in this process. The SQL itself is covered by test/driver/task-logs.test.ts.
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { beforeAll, expect, it } from 'vitest';
import { forEachDriver } from '../driver/drivers.ts';
import type { Engine } from '../../engine/engine.ts';
import { Cleaver, CleaverError, type LogSearchLine, type LogSearchParams } from '../../sdk/index.ts';
import type { TaskDeclaration } from '../../sdk/task.ts';
import { RawClient, rawTask, useEngine, waitFor } from './harness.ts';
import { PROTOCOL_VERSION } from '../../shared/protocol.ts';

const CAP = 12;

forEachDriver('task logs', (getDriver) => {
  const ctx = useEngine(getDriver, { maxLogLinesPerTaskRun: CAP });
  let cleaver: Cleaver;
  let engine: Engine;
  const word = `w${randomUUID().slice(0, 8)}`;

  /** `error`: a TypeError with this message is added to the fields (made in the task: input is JSON). */
  type Line = { level: 'debug' | 'info' | 'warn' | 'error'; message: string; fields?: Record<string, unknown>; error?: string; plain?: boolean };
  type WriterInput = { lines: Line[]; failFirst?: boolean };
  let billing: TaskDeclaration<WriterInput, unknown>;
  let shipping: TaskDeclaration<WriterInput, unknown>;

  /** Writes its lines with ctx.logger (or ctx.log); with failFirst, on two attempts, saying which. */
  const writer = (name: string) =>
    cleaver.task<WriterInput, unknown>({
      name,
      retries: 1,
      fn: async (input, c) => {
        for (const line of input.lines) {
          const message = `${line.message}${input.failFirst ? ` (attempt ${c.attempt})` : ''}`;
          if (line.plain) c.log(message, line.level);
          else c.logger[line.level](message, line.error ? { ...line.fields, error: new TypeError(line.error) } : line.fields);
        }
        if (input.failFirst && c.attempt === 1) throw new Error('the first attempt fails');
        return { written: input.lines.length };
      },
    });

  beforeAll(async () => {
    ({ cleaver, engine } = ctx);
    billing = writer(`billing-${word}`);
    shipping = writer(`shipping-${word}`);
    const worker = await cleaver.worker(`logs-worker-${word}`, { workflows: [billing, shipping], handleSignals: false });
    await worker.start();
  });

  async function search(params: LogSearchParams): Promise<LogSearchLine[]> {
    const lines: LogSearchLine[] = [];
    let cursor: string | undefined;
    do {
      const page = await cleaver.logs.search({ ...params, cursor });
      lines.push(...page.lines);
      cursor = page.nextCursor ?? undefined;
    } while (cursor !== undefined);
    return lines;
  }

  /** Runs a task and waits until its lines are stored (they are written in batches beside its outcome). */
  async function runAndLog(task: TaskDeclaration<WriterInput, unknown>, input: WriterInput, stored: number): Promise<{ runId: string }> {
    const ref = await task.runNoWait(input);
    await ref.result();
    const taskRunId = (await cleaver.runs.get(ref.runId)).taskRuns[0]!.id;
    await waitFor(`${stored} log lines of run ${ref.runId}`, async () => (await engine.admin.taskLogs({ taskRunId })).lines.length >= stored);
    return { runId: ref.runId };
  }

  it('finds a task’s lines by text in the message or the fields, with the run, workflow, task and attempt, and the fields as written', async () => {
    const { runId } = await runAndLog(
      billing,
      {
        failFirst: true,
        lines: [
          { level: 'info', message: `charging card ${word}`, fields: { orderId: 'ord_7731', amount: 12.5 }, error: 'card declined' },
          { level: 'debug', message: `plain line ${word}`, plain: true },
        ],
      },
      4,
    );
    const found = await search({ text: `ord_7731 ${word.toUpperCase()}` });
    expect(found.map((l) => [l.message, l.attempt])).toEqual([
      [`charging card ${word} (attempt 2)`, 2],
      [`charging card ${word} (attempt 1)`, 1],
    ]);
    expect(found[0]).toMatchObject({
      runId,
      workflowName: billing.name,
      taskName: billing.name,
      level: 'info',
      fields: { orderId: 'ord_7731', amount: 12.5, error: { name: 'TypeError', message: 'card declined' } },
      truncated: null,
    });
    // ctx.log lines are found the same way, and a quoted phrase must appear as written.
    expect((await search({ text: `"plain line ${word}"` })).map((l) => [l.level, l.attempt])).toEqual([['debug', 2], ['debug', 1]]);
    expect(await search({ text: `"line plain ${word}"` })).toEqual([]);
  });

  it('narrows by level, by workflow and by time range', async () => {
    const tag = `n${randomUUID().slice(0, 8)}`;
    const lines: Line[] = [
      { level: 'debug', message: `${tag} step` },
      { level: 'warn', message: `${tag} slow` },
      { level: 'error', message: `${tag} broke` },
    ];
    const before = new Date(Date.now() - 1).toISOString();
    await runAndLog(billing, { lines }, 3);
    const between = new Date().toISOString();
    await new Promise((r) => setTimeout(r, 5));
    await runAndLog(shipping, { lines }, 3);
    const after = new Date(Date.now() + 1).toISOString();
    const found = async (params: LogSearchParams) => (await search({ text: tag, ...params })).map((l) => `${l.workflowName.split('-')[0]}:${l.level}`);
    expect(await found({})).toEqual(['shipping:error', 'shipping:warn', 'shipping:debug', 'billing:error', 'billing:warn', 'billing:debug']);
    expect(await found({ levels: ['error', 'warn'] })).toEqual(['shipping:error', 'shipping:warn', 'billing:error', 'billing:warn']);
    expect(await found({ workflowName: billing.name })).toEqual(['billing:error', 'billing:warn', 'billing:debug']);
    expect(await found({ workflowName: shipping.name, levels: ['debug'] })).toEqual(['shipping:debug']);
    expect(await found({ since: before, until: between })).toEqual(['billing:error', 'billing:warn', 'billing:debug']);
    expect(await found({ since: between, until: after })).toEqual(['shipping:error', 'shipping:warn', 'shipping:debug']);
  });

  it('pages newest first without repeating or skipping a line while more are written', async () => {
    const tag = `p${randomUUID().slice(0, 8)}`;
    await runAndLog(shipping, { lines: Array.from({ length: 7 }, (_, i) => ({ level: 'info' as const, message: `${tag} #${i}` })) }, 7);
    const first = await cleaver.logs.search({ text: tag, limit: 3 });
    expect(first.lines.map((l) => l.message)).toEqual([`${tag} #6`, `${tag} #5`, `${tag} #4`]);
    await runAndLog(shipping, { lines: [{ level: 'info', message: `${tag} newer` }] }, 1);
    const second = await cleaver.logs.search({ text: tag, limit: 3, cursor: first.nextCursor! });
    const third = await cleaver.logs.search({ text: tag, limit: 3, cursor: second.nextCursor! });
    expect([...second.lines, ...third.lines].map((l) => l.message)).toEqual([`${tag} #3`, `${tag} #2`, `${tag} #1`, `${tag} #0`]);
    expect(third.nextCursor).toBeNull();
  });

  it('keeps a task run’s log within the engine’s cap: one marker line, then lines are counted, not stored', async () => {
    const tag = `c${randomUUID().slice(0, 8)}`;
    const { runId } = await runAndLog(billing, { lines: Array.from({ length: 30 }, (_, i) => ({ level: 'info' as const, message: `${tag} ${i}` })) }, CAP + 1);
    const taskRunId = (await cleaver.runs.get(runId)).taskRuns[0]!.id;
    // Written in batches after the run ended: wait for the count to settle at everything the task wrote.
    const lines = await waitFor('the dropped lines to be counted', async () => {
      const { lines } = await engine.admin.taskLogs({ taskRunId });
      return lines.at(-1)?.truncated?.droppedLines === 30 - CAP ? lines : undefined;
    });
    expect(lines).toHaveLength(CAP + 1);
    expect(lines.slice(0, CAP).map((l) => l.message)).toEqual(Array.from({ length: CAP }, (_, i) => `${tag} ${i}`));
    expect(lines.at(-1)).toMatchObject({ level: 'warn', message: expect.stringMatching(/^log truncated: this task run reached its cap of 12 lines or 1 MiB/) });
    expect(lines.at(-1)!.truncated).toMatchObject({ keptLines: CAP, droppedLines: 18, maxLines: CAP, maxBytes: 1024 * 1024 });
    // A reader of the first page only is told too.
    expect((await engine.admin.taskLogs({ taskRunId, limit: 3 })).truncated).toEqual(lines.at(-1)!.truncated);
    // Lines past the cap are not stored, so not found either.
    expect(await search({ text: `"${tag} 29"` })).toEqual([]);
    expect(await search({ text: `"${tag} 11"` })).toHaveLength(1);
    const [marker] = await search({ text: 'log truncated', workflowName: billing.name, levels: ['warn'] }).then((found) => found.filter((l) => l.runId === runId));
    expect(marker?.truncated?.droppedLines).toBe(18);
  });

  it('holds a worker that bypasses the SDK to the same cap, and refuses its malformed fields with the reason', async () => {
    const name = `raw-${word}`;
    const raw = new RawClient(join(ctx.dir, 'engine.sock'));
    raw.send({ t: 'hello', protocol: PROTOCOL_VERSION, role: 'worker', workerId: randomUUID(), name, slots: 1, tasks: [rawTask(name)] });
    await raw.next((m) => m.t === 'welcome');
    const ref = await cleaver.ref(name).runNoWait({});
    const { taskRunId, attempt } = ((await raw.next((m) => m.t === 'assign')) as unknown as { tasks: Array<{ taskRunId: string; attempt: number }> }).tasks[0]!;
    const send = (extra: Record<string, unknown>) => raw.send({ t: 'log', taskRunId, attempt, level: 'info', message: 'raw', at: Date.now(), ...extra });
    send({ fields: ['not', 'an', 'object'] });
    expect(await raw.next((m) => m.t === 'error')).toMatchObject({ error: { code: 'BAD_REQUEST', message: 'log.fields must be an object' } });
    send({ fields: { note: 'a\u0000b' } });
    expect(await raw.next((m) => m.t === 'error' && (m.error as { code: string }).code === 'BAD_PAYLOAD')).toMatchObject({
      error: { code: 'BAD_PAYLOAD', message: expect.stringMatching(/^log\.fields\.note contains a NUL character/) },
    });
    for (let i = 0; i < 40; i++) send({ message: `raw ${i}`, fields: { i } });
    raw.send({ t: 'result', taskRunId, attempt, ok: true, output: null, startedAt: Date.now(), finishedAt: Date.now() });
    await ref.result();
    const lines = await waitFor('the raw lines to be counted', async () => {
      const { lines } = await engine.admin.taskLogs({ taskRunId });
      return lines.at(-1)?.truncated?.droppedLines === 40 - CAP ? lines : undefined;
    });
    expect(lines.slice(0, CAP).map((l) => l.fields)).toEqual(Array.from({ length: CAP }, (_, i) => ({ i })));
    expect(lines).toHaveLength(CAP + 1);
    raw.socket.destroy();
  });

  it('refuses bad calls in a task and bad search params, saying what is wrong', async () => {
    const probe = cleaver.task({
      name: `probe-${word}`,
      fn: (_input: unknown, c) => {
        const refusal = (call: () => void) => {
          try {
            call();
            return null;
          } catch (e: unknown) {
            return { code: (e as CleaverError).code, message: (e as Error).message };
          }
        };
        return {
          array: refusal(() => c.logger.info('x', ['not', 'an', 'object'] as never)),
          date: refusal(() => c.logger.warn('x', { at: new Date(0) })),
          level: refusal(() => c.log('x', 'fatal' as never)),
        };
      },
    });
    const worker = await cleaver.worker(`probe-${word}`, { workflows: [probe], handleSignals: false });
    await worker.start();
    expect(await probe.run({})).toEqual({
      array: { code: 'BAD_PAYLOAD', message: 'ctx.logger.info fields must be an object of JSON values, such as { orderId: 42 }; got an array' },
      date: { code: 'BAD_PAYLOAD', message: expect.stringMatching(/^ctx\.logger\.warn fields\.at is a Date; only plain objects/) },
      level: { code: 'BAD_REQUEST', message: 'ctx.log level must be one of debug, info, warn, error, got "fatal"' },
    });
    await worker.stop();

    const refused = async (params: unknown, message: RegExp) => {
      const error = await cleaver.logs.search(params as LogSearchParams).catch((e: unknown) => e);
      expect(error, JSON.stringify(params)).toBeInstanceOf(CleaverError);
      expect((error as CleaverError).code).toBe('BAD_REQUEST');
      expect((error as CleaverError).message).toMatch(message);
    };
    await refused({ levels: ['fatal'] }, /logsSearch\.levels must be a non-empty array of debug, info, warn, error/);
    await refused({ levels: [] }, /logsSearch\.levels must be a non-empty array .*leave it out for every level/);
    await refused({ since: 'yesterday' }, /logsSearch\.since must be an ISO 8601 time such as 2026-12-01T09:30:00Z, got "yesterday"/);
    await refused({ since: '2024-02-01T00:00:00Z', until: '2024-01-01T00:00:00Z' }, /logsSearch\.since \(2024-02-01T00:00:00.000Z\) must be before logsSearch\.until/);
    await refused({ limit: 0 }, /logsSearch\.limit must be an integer from 1 to 1000/);
    await refused({ text: 'x'.repeat(501) }, /logsSearch\.text must be a non-empty string of at most 500 characters/);
    await refused({ text: Array.from({ length: 17 }, (_, i) => `w${i}`).join(' ') }, /logsSearch\.text has 17 words; search with at most 16/);
    await refused({ cursor: 'garbage' }, /logsSearch\.cursor "garbage" is not one this search returned/);
    await refused({ workflowName: 42 }, /logsSearch\.workflowName must be a non-empty string/);
  });
});
