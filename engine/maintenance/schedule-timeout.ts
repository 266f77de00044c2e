/**
 * Schedule timeouts: task runs still queued past their deadline fail with SCHEDULE_TIMEOUT. Not retried:
 * the retry would wait in the same queue. They end through the attempt writer like any other outcome,
 * so workflows move on (descendants cancelled, on-failure hook) and waiters are told.
 */
import type { AttemptWriter } from '../attempt-writer.ts';
import type { Driver } from '../db/driver.ts';
import type { Logger } from '../log.ts';
import { taskScheduleExpiredList } from '../sql/task-lease.ts';
import type { MaintenanceService } from './periodic.ts';

export class ScheduleTimeout implements MaintenanceService {
  readonly name = 'schedule timeout';
  constructor(private readonly o: { driver: Driver; writer: AttemptWriter; log: Logger; batch: number }) {}

  async runOnce(): Promise<void> {
    const expired = await taskScheduleExpiredList(this.o.driver, { limit: this.o.batch });
    if (expired.length === 0) return;
    this.o.log.info('task runs missed their schedule timeout', { count: expired.length });
    this.o.writer.finishMany(
      expired.map((e) => ({
        taskRunId: e.taskRunId,
        attempt: e.attempt,
        ok: false,
        reason: 'SCHEDULE_TIMEOUT',
        nonRetryable: true,
        error: {
          message: `task run was still queued after its scheduleTimeout of ${e.timeoutMs} ms; no worker with a free slot offered action ${e.action}`,
          name: 'ScheduleTimeout',
        },
      })),
    );
    await this.o.writer.drain();
  }
}
