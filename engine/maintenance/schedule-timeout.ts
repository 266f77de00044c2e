/** Schedule timeouts: task runs still queued past their deadline fail with SCHEDULE_TIMEOUT. */
import type { Driver } from '../db/driver.ts';
import type { Logger } from '../log.ts';
import type { RunWaiters } from '../run-waiters.ts';
import { taskScheduleTimeout } from '../sql/task-lease.ts';
import type { MaintenanceService } from './periodic.ts';

export class ScheduleTimeout implements MaintenanceService {
  readonly name = 'schedule timeout';
  constructor(private readonly o: { driver: Driver; waiters: RunWaiters; log: Logger; batch: number }) {}

  async runOnce(): Promise<void> {
    const failed = await taskScheduleTimeout(this.o.driver, { limit: this.o.batch });
    if (failed.length === 0) return;
    this.o.log.info('task runs missed their schedule timeout', { count: failed.length });
    // Standalone tasks: the run failed with its task (the statement failed both).
    this.o.waiters.resolve(
      failed.map((f) => ({ runId: f.runId, status: 'failed', output: null, error: f.error, failureReason: 'SCHEDULE_TIMEOUT' })),
    );
  }
}
