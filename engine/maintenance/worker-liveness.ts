/**
 * Worker liveness, across engines: renews the heartbeat of the workers connected here, drops local
 * connections that went silent, marks workers whose heartbeat went stale as disconnected (their engine
 * died or lost them), and fails as WORKER_LOST the attempts that belong to no live worker — which is how
 * the attempts of a crashed engine's workers come back to the queue when those workers do not return.
 */
import type { AttemptWriter } from '../attempt-writer.ts';
import type { Driver } from '../db/driver.ts';
import type { ProtocolHandler } from '../dispatcher/protocol-handler.ts';
import type { Logger } from '../log.ts';
import { taskOrphanedList, workerHeartbeat, workerReapStale } from '../sql/worker.ts';
import type { MaintenanceService } from './periodic.ts';

export class WorkerLiveness implements MaintenanceService {
  readonly name = 'worker liveness';
  /** Since when this engine's heartbeat writes have kept succeeding (null: the last one failed). */
  private heartbeatingSince: number | null = null;

  constructor(
    private readonly o: { driver: Driver; protocol: ProtocolHandler; writer: AttemptWriter; log: Logger; heartbeatTimeoutMs: number; batch: number },
  ) {}

  async runOnce(): Promise<void> {
    this.o.protocol.closeSilent(this.o.heartbeatTimeoutMs);
    try {
      await workerHeartbeat(this.o.driver.relaxed, { sessionIds: this.o.protocol.sessionIds() });
    } catch (e: unknown) {
      this.heartbeatingSince = null;
      throw e;
    }
    const now = Date.now();
    this.heartbeatingSince ??= now;
    // Judge others' workers only after writing our own heartbeats for a whole timeout. After a
    // database outage (or at start) every engine's rows look stale: the engines still alive need that
    // long to renew theirs, and reaping before would send their live workers' attempts back to the queue.
    if (now - this.heartbeatingSince < this.o.heartbeatTimeoutMs) return;
    const reaped = await workerReapStale(this.o.driver.relaxed, { staleMs: this.o.heartbeatTimeoutMs });
    if (reaped.length > 0) this.o.log.warn('workers missed heartbeats; marked disconnected', { count: reaped.length });
    const orphaned = await taskOrphanedList(this.o.driver, { limit: this.o.batch });
    if (orphaned.length === 0) return;
    this.o.log.warn('attempts of lost workers returned to the queue', { count: orphaned.length });
    for (const a of orphaned) {
      // Fenced by the session seen as gone: a worker that came back meanwhile keeps its attempt.
      const lostSession = a.sessionId ? { sessionId: a.sessionId, orphan: true } : null;
      this.o.writer.finishLost([{ ...a, lostSession }], `worker ${a.workerId ?? '(none)'} is gone (disconnected or stopped heartbeating)`);
    }
    await this.o.writer.drain();
  }
}
