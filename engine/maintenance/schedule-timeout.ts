/** Schedule timeouts: task runs still queued past their deadline fail with SCHEDULE_TIMEOUT. */
import type { Driver } from '../db/driver.ts';
import type { Logger } from '../log.ts';
import type { RunWaiters } from '../run-waiters.ts';
import { runOutcomeList } from '../sql/run-read.ts';
import { taskScheduleTimeout } from '../sql/task-lease.ts';
import type { MaintenanceService } from './periodic.ts';

export class ScheduleTimeout implements MaintenanceService {
  readonly name = 'schedule timeout';
  constructor(private readonly o: { driver: Driver; waiters: RunWaiters; log: Logger; batch: number }) {}

  async runOnce(): Promise<void> {
    const failed = await taskScheduleTimeout(this.o.driver, { limit: this.o.batch });
    if (failed.length === 0) return;
    this.o.log.info('task runs missed their schedule timeout', { count: failed.length });
    this.o.waiters.resolve(await runOutcomeList(this.o.driver, { runIds: failed.map((f) => f.runId) }));
  }
}
