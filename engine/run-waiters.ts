/**
 * Callers waiting for runs to finish (`run()`, `ref.result()`, `cleaver run --wait`). Runs finished by
 * this engine resolve their waiters at once; a slow poll catches runs finished by another engine
 * sharing the database, or before the waiter arrived.
 */
import { Batcher } from './batcher.ts';
import type { Driver } from './db/driver.ts';
import type { Logger } from './log.ts';
import { runOutcomeList } from './sql/run-read.ts';
import type { RunOutcome } from '../shared/protocol.ts';
import { CleaverError, toError } from '../shared/errors.ts';

interface Waiter {
  resolve(outcome: RunOutcome): void;
  reject(error: Error): void;
}

export class RunWaiters {
  private readonly waiters = new Map<string, Set<Waiter>>();
  private readonly driver: Driver;
  private readonly log: Logger;
  private readonly pollIntervalMs: number;
  private timer: NodeJS.Timeout | null = null;
  private polling = false;
  /** Runs whose waiters arrived from outside: checked in batches for "already finished" or "unknown". */
  private readonly firstChecks: Batcher<string>;

  constructor(options: { driver: Driver; log: Logger; pollIntervalMs: number }) {
    this.driver = options.driver;
    this.log = options.log;
    this.pollIntervalMs = options.pollIntervalMs;
    this.firstChecks = new Batcher({ flush: (runIds) => this.checkNow(runIds), maxBatch: 1000 });
  }

  /**
   * Resolves with the run's outcome once it has finished; rejects NOT_FOUND for an unknown run id.
   * `justCreated` skips the first check: a run this engine has just inserted cannot have finished yet
   * (its claim is still ahead), so only local completion or the poll can resolve it.
   */
  wait(runId: string, options: { justCreated?: boolean } = {}): Promise<RunOutcome> {
    const promise = new Promise<RunOutcome>((resolve, reject) => {
      let set = this.waiters.get(runId);
      if (!set) this.waiters.set(runId, (set = new Set()));
      set.add({ resolve, reject });
    });
    this.ensurePolling();
    if (!options.justCreated) this.firstChecks.add(runId);
    return promise;
  }

  /** Reads the outcome of runs known to have ended (resolving their waiters), if anyone waits for them. */
  check(runIds: readonly string[]): void {
    for (const id of runIds) if (this.waiters.has(id)) this.firstChecks.add(id);
  }

  private async checkNow(runIds: string[]): Promise<void> {
    try {
      const { outcomes, unknown } = await runOutcomeList(this.driver, { runIds });
      this.resolve(outcomes);
      for (const id of unknown) this.rejectAll(id, new CleaverError('NOT_FOUND', `no run with id ${id}`));
    } catch (e: unknown) {
      // The poll will resolve these once the database answers again.
      this.log.warn('checking awaited runs failed', { error: toError(e).message });
    }
  }


  get count(): number {
    return this.waiters.size;
  }

  resolve(outcomes: readonly RunOutcome[]): void {
    for (const outcome of outcomes) {
      const set = this.waiters.get(outcome.runId);
      if (!set) continue;
      this.waiters.delete(outcome.runId);
      for (const waiter of set) waiter.resolve(outcome);
    }
  }

  close(reason: Error): void {
    for (const runId of [...this.waiters.keys()]) this.rejectAll(runId, reason);
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  private rejectAll(runId: string, error: Error): void {
    const set = this.waiters.get(runId);
    if (!set) return;
    this.waiters.delete(runId);
    for (const waiter of set) waiter.reject(error);
  }

  private ensurePolling(): void {
    if (this.timer) return;
    this.timer = setInterval(() => void this.poll(), this.pollIntervalMs);
    this.timer.unref();
  }

  private async poll(): Promise<void> {
    if (this.polling) return;
    if (this.waiters.size === 0) {
      if (this.timer) clearInterval(this.timer);
      this.timer = null;
      return;
    }
    this.polling = true;
    try {
      const runIds = [...this.waiters.keys()];
      for (let i = 0; i < runIds.length; i += 1000) {
        this.resolve((await runOutcomeList(this.driver, { runIds: runIds.slice(i, i + 1000) })).outcomes);
      }
    } catch (e: unknown) {
      this.log.warn('polling run outcomes failed', { error: toError(e).message });
    } finally {
      this.polling = false;
    }
  }
}
