/**
 * Bulk enqueue: `tasks` noops stored through the system's bulk API in calls of `batch`, one call at a
 * time, with no worker connected (nothing competes with the inserts). After `warmupBatches` unmeasured
 * calls, the clock runs from the first measured call to the last one's return: tasks/s = tasks / that.
 */
import { withTimeout } from '../lib/deadline.ts';
import { round2 } from '../lib/stats.ts';
import type { SystemUnderTest } from '../systems/system.ts';

export interface BulkEnqueueOptions {
  tasks: number;
  batch: number;
  warmupBatches: number;
  callTimeoutMs: number;
}

export interface BulkEnqueueResult {
  tasks: number;
  batch: number;
  tasksPerSecond: number;
  elapsedMs: number;
}

export async function bulkEnqueue(sut: SystemUnderTest, options: BulkEnqueueOptions): Promise<BulkEnqueueResult> {
  for (let i = 0; i < options.warmupBatches; i++) {
    await withTimeout(`${sut.id} bulk enqueue: warm-up call ${i + 1}`, options.callTimeoutMs, sut.enqueueMany(options.batch));
  }
  const start = performance.now();
  for (let done = 0, call = 1; done < options.tasks; call++) {
    const count = Math.min(options.batch, options.tasks - done);
    await withTimeout(`${sut.id} bulk enqueue: call ${call} (${count} tasks)`, options.callTimeoutMs, sut.enqueueMany(count));
    done += count;
  }
  const elapsedMs = performance.now() - start;
  const stored = await sut.unfinished();
  const expected = options.tasks + options.warmupBatches * options.batch;
  if (stored !== expected) throw new Error(`${sut.id} bulk enqueue: ${expected} tasks enqueued but ${stored} reported unfinished`);
  return { tasks: options.tasks, batch: options.batch, tasksPerSecond: Math.round(options.tasks / (elapsedMs / 1000)), elapsedMs: round2(elapsedMs) };
}
