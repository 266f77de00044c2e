// One way into the queue (docs/scheduler.md): only engine/sql/enqueue.ts writes the columns that say
// when a task run may be claimed and until when it may wait, so every statement that queues a task run
// shares one copy of that logic. A statement that sets them itself fails here, with where.
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { assignedColumns, freshColumns, releasedColumns, retryColumns, scheduleDeadline } from '../../engine/sql/enqueue.ts';

const SQL_DIR = join(import.meta.dirname, '../../engine/sql');

describe('the way into the queue', () => {
  it('is written once: no statement but enqueue.ts assigns available_at or schedule_deadline', () => {
    const offenders: string[] = [];
    for (const file of readdirSync(SQL_DIR).filter((f) => f.endsWith('.ts') && f !== 'enqueue.ts')) {
      readFileSync(join(SQL_DIR, file), 'utf8')
        .split('\n')
        .forEach((line, i) => {
          // An assignment (`col = …`); a comparison (`col <= now()`) or a column list is not one.
          if (/\b(available_at|schedule_deadline)\s*=/.test(line)) offenders.push(`${file}:${i + 1}: ${line.trim()}`);
        });
    }
    expect(offenders).toEqual([]);
  });

  it('queues with no worker, due after the delay, and a deadline from then', () => {
    expect(retryColumns('t', 'cur.delay_s')).toBe(
      "status = 'queued', worker_id = NULL, available_at = now() + (cur.delay_s) * interval '1 second', " +
        "schedule_deadline = now() + (cur.delay_s) * interval '1 second' + (t.schedule_timeout_ms) * interval '1 millisecond', timeout_at = NULL, finished_at = NULL",
    );
    expect(releasedColumns('c', "'queued'")).toBe("status = 'queued', available_at = now(), schedule_deadline = now() + (c.schedule_timeout_ms) * interval '1 millisecond'");
    expect(scheduleDeadline('5000')).toBe("now() + (5000) * interval '1 millisecond'");
  });

  it('assigns with one set of columns, whether the assign statement writes them or a finish releasing a child to a reserved slot', () => {
    expect(assignedColumns('t', { workerId: 'd.worker_id', keys: 'd.keys' })).toBe(
      "status = 'assigned', worker_id = d.worker_id, attempt = t.attempt + 1, assigned_at = now(), started_at = NULL, " +
        "timeout_at = now() + t.execution_timeout_ms * interval '1 millisecond', concurrency_keys = d.keys",
    );
    const released = releasedColumns('c', "'queued'", { when: 'p.worker_id IS NOT NULL', workerId: 'p.worker_id' });
    // Every column of the assignment, under the condition; otherwise released as without one.
    for (const column of assignedColumns('c', { workerId: 'p.worker_id' }).split(', ')) {
      const [name, value] = column.split(' = ') as [string, string];
      expect(released).toContain(`${name} = CASE WHEN p.worker_id IS NOT NULL THEN ${value} ELSE ${name === 'status' ? "'queued'" : `c.${name}`} END`);
    }
    expect(released).toContain("available_at = now(), schedule_deadline = now() + (c.schedule_timeout_ms) * interval '1 millisecond'");
  });

  it('runs afresh with a new budget and nothing of the earlier runs but the attempt numbers', () => {
    const fresh = freshColumns('task_run');
    for (const reset of ['attempt_offset = task_run.attempt', 'worker_lost_count = 0', 'output = NULL', 'error = NULL', 'failure_reason = NULL', 'worker_id = NULL', 'assigned_at = NULL', 'started_at = NULL', 'timeout_at = NULL', 'finished_at = NULL']) {
      expect(fresh).toContain(reset);
    }
    expect(fresh.startsWith("status = 'queued'")).toBe(true);
  });
});
