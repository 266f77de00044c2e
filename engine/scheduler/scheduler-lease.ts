/**
 * Keeps this engine's claim on the scheduler lease (docs/scheduler.md): asks for it at start and every
 * `ttlMs / 3`, which renews it while held and takes it over within `ttlMs` of its holder going silent.
 * Reports each change: `acquired(epoch)` when this engine starts holding it (or holds it again at a new
 * epoch — someone held it in between, so what it had decided before is stale), `lost()` when it stops.
 *
 * A holder that cannot reach the database stops counting itself as one once its lease may have run out
 * (the last renewal + ttl), although no write of a deposed holder can land (see schedulerLeaseFence):
 * deciding on against a lease another engine may hold only wastes work.
 *
 * Waiting out the ttl of a holder that was SIGKILLed would stop all scheduling for seconds. So on a
 * database shared by engines, each also tries, every `lockCheckMs`, for the partition's advisory lock,
 * and the one that gets it keeps it on a connection of its own for as long as it lives: a killed
 * process or a terminated backend frees the lock at once, the next engine to try gets it, and holding
 * it entitles it to take the lease over without waiting for the row to expire. The ttl remains for
 * what the lock cannot see (a holder whose connection hangs half-open).
 */
import type { Driver } from '../db/driver.ts';
import type { Logger } from '../log.ts';
import { currentSchema, schemaLockKey } from '../sql/migrate.ts';
import { schedulerLeaseAcquire, schedulerLeaseRelease } from '../sql/scheduler-lease.ts';
import { toError } from '../../shared/errors.ts';

export interface SchedulerLeaseOptions {
  driver: Driver;
  engineId: string;
  log: Logger;
  /** How long a lease lasts without renewal (default 3 s). */
  ttlMs?: number;
  /** How often a non-holder tries for the advisory lock (default 100 ms). */
  lockCheckMs?: number;
  partition?: number;
  acquired(epoch: number): void;
  lost(): void;
}

export class SchedulerLease {
  private readonly o: SchedulerLeaseOptions;
  private readonly ttlMs: number;
  private readonly partition: number;
  private timer: NodeJS.Timeout | null = null;
  private pass: Promise<void> | null = null;
  private stopped = false;
  private heldEpoch: number | null = null;
  /** When the lease this engine holds runs out unless renewed (by this engine's clock). */
  private heldUntil = 0;
  private failing = false;
  /** This engine holds the partition's advisory lock (multi-engine databases only). */
  private lockHeld = false;
  private campaign: Promise<void> | null = null;

  constructor(options: SchedulerLeaseOptions) {
    this.o = options;
    this.ttlMs = options.ttlMs ?? 3_000;
    this.partition = options.partition ?? 0;
  }

  /** The epoch this engine holds the lease at, or null. */
  get epoch(): number | null {
    return this.heldEpoch;
  }

  /** Asks for the lease once (awaited, so a single engine holds it before it takes work), then keeps asking. */
  async start(): Promise<void> {
    await this.tick();
    this.timer = setInterval(() => void this.tick(), Math.max(50, Math.floor(this.ttlMs / 3)));
    this.timer.unref();
    const { driver } = this.o;
    if (driver.capabilities.multiEngine && driver.withTryAdvisoryLock) {
      const key = schemaLockKey(`scheduler:${this.partition}`, await currentSchema(driver));
      // The first try is awaited: an engine that starts alone holds the lock, not just the row, when
      // start() returns.
      await new Promise<void>((firstTried) => {
        this.campaign = this.runForLock(key, firstTried);
      });
    }
  }

  /** Tries for the advisory lock until stopped, holding it while it can (see the header). */
  private async runForLock(key: bigint, firstTried: () => void): Promise<void> {
    const every = this.o.lockCheckMs ?? 100;
    const sleep = () => new Promise<void>((resolve) => setTimeout(resolve, every).unref());
    let warned = false;
    while (!this.stopped) {
      try {
        await this.o.driver.withTryAdvisoryLock!(key, async (conn) => {
          this.lockHeld = true;
          await this.pass;
          await this.tick(); // take the lease over now, forced
          firstTried();
          // The lock lasts while this session does: a failed query means it is gone.
          while (!this.stopped) {
            await sleep();
            await conn.query('SELECT 1');
          }
        });
        warned = false;
        firstTried();
      } catch (e: unknown) {
        firstTried();
        if (!warned) this.o.log.warn('holding the scheduler lock failed; trying again', { error: toError(e).message });
        warned = true;
      } finally {
        this.lockHeld = false;
      }
      if (!this.stopped) await sleep();
    }
  }

  /** Runs one renewal now (also for tests). */
  tick(): Promise<void> {
    this.pass ??= this.renew().finally(() => (this.pass = null));
    return this.pass;
  }

  /** Stops asking and gives the lease up, so another engine takes it over at once. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.pass;
    await this.campaign;
    const epoch = this.heldEpoch;
    if (epoch === null) return;
    this.drop();
    await schedulerLeaseRelease(this.o.driver, { partition: this.partition, engineId: this.o.engineId, epoch }).catch((e: unknown) =>
      this.o.log.warn('giving up the scheduler lease failed; another engine takes it over when it expires', { error: toError(e).message }),
    );
  }

  private async renew(): Promise<void> {
    if (this.stopped) return;
    const askedAt = Date.now();
    let grant;
    try {
      grant = await schedulerLeaseAcquire(this.o.driver, { partition: this.partition, engineId: this.o.engineId, ttlMs: this.ttlMs, force: this.lockHeld });
    } catch (e: unknown) {
      if (!this.failing) this.o.log.warn('renewing the scheduler lease failed; will retry', { error: toError(e).message });
      this.failing = true;
      if (this.heldEpoch !== null && Date.now() >= this.heldUntil) this.drop();
      return;
    }
    if (this.failing) this.o.log.info('renewing the scheduler lease recovered');
    this.failing = false;
    if (this.stopped) return;
    if (!grant) {
      this.drop();
      return;
    }
    this.heldUntil = askedAt + this.ttlMs;
    if (grant.epoch === this.heldEpoch) return;
    if (this.heldEpoch !== null) this.o.lost();
    this.heldEpoch = grant.epoch;
    this.o.log.info('holding the scheduler lease', { epoch: grant.epoch });
    this.o.acquired(grant.epoch);
  }

  private drop(): void {
    if (this.heldEpoch === null) return;
    this.heldEpoch = null;
    this.o.log.info('no longer holding the scheduler lease');
    this.o.lost();
  }
}
