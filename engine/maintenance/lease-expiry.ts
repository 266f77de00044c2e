/**
 * Execution timeouts: attempts whose lease ran out are failed with EXECUTION_TIMEOUT (and retried per
 * their policy); a worker of this engine still running one is told to abort it. Its slot comes back
 * when the worker reports the attempt (see WorkerRegistry.stopAttempt): a worker stuck in a busy loop
 * is not given the retry it could not start either. The outcome is fenced by attempt, so a result
 * racing the timeout is settled by whichever commits first.
 */
import type { AttemptWriter } from '../attempt-writer.ts';
import type { Driver } from '../db/driver.ts';
import type { WorkerRegistry } from '../dispatcher/worker-registry.ts';
import { taskLeaseExpiredList } from '../sql/task-lease.ts';
import type { Logger } from '../log.ts';
import type { MaintenanceService } from './periodic.ts';

export class LeaseExpiry implements MaintenanceService {
  readonly name = 'lease expiry';
  constructor(
    private readonly o: { driver: Driver; writer: AttemptWriter; registry: WorkerRegistry; log: Logger; batch: number },
  ) {}

  async runOnce(): Promise<void> {
    const expired = await taskLeaseExpiredList(this.o.driver, { limit: this.o.batch });
    if (expired.length === 0) return;
    this.o.log.info('attempts exceeded their executionTimeout', { count: expired.length });
    for (const a of expired) {
      const worker = a.workerId ? this.o.registry.get(a.workerId) : undefined;
      if (worker) this.o.registry.stopAttempt(worker, { taskRunId: a.taskRunId, attempt: a.attempt, reason: 'EXECUTION_TIMEOUT' });
    }
    this.o.writer.finishMany(
      expired.map((a) => ({
        taskRunId: a.taskRunId,
        attempt: a.attempt,
        ok: false,
        reason: 'EXECUTION_TIMEOUT' as const,
        error: { message: `attempt ${a.attempt} exceeded its executionTimeout`, name: 'ExecutionTimeout' },
      })),
    );
    await this.o.writer.drain();
  }
}
