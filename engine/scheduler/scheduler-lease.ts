/**
 * Keeps this engine's claim on the scheduler lease (docs/scheduler.md): asks for it at start and every
 * `ttlMs / 3`, which renews it while held and takes it over within `ttlMs` of its holder going silent.
 * Reports each change: `acquired(epoch)` when this engine starts holding it (or holds it again at a new
 * epoch — someone held it in between, so what it had decided before is stale), `lost()` when it stops.
 *
 * A holder that cannot reach the database stops counting itself as one once its lease may have run out
 * (the last renewal + ttl), although no write of a deposed holder can land (see schedulerLeaseFence):
 * deciding on against a lease another engine may hold only wastes work.
 */
import type { Driver } from '../db/driver.ts';
import type { Logger } from '../log.ts';
import { schedulerLeaseAcquire, schedulerLeaseRelease } from '../sql/scheduler-lease.ts';
import { toError } from '../../shared/errors.ts';

export interface SchedulerLeaseOptions {
  driver: Driver;
  engineId: string;
  log: Logger;
  /** How long a lease lasts without renewal (default 3 s). */
  ttlMs?: number;
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
      grant = await schedulerLeaseAcquire(this.o.driver, { partition: this.partition, engineId: this.o.engineId, ttlMs: this.ttlMs });
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
