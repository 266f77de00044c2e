/**
 * Self-tuning batching: items wait only while a flush is already in flight. At light load an item is
 * flushed alone at once (no added latency); under load, whatever arrived during a flush goes out in the
 * next one, so batch size grows with the arrival rate and round trips per item shrink.
 */
export class Batcher<T> {
  private pending: T[] = [];
  private inFlight = 0;
  private readonly flush: (items: T[]) => Promise<void>;
  private readonly maxInFlight: number;
  private readonly maxBatch: number;
  private idleWaiters: Array<() => void> = [];

  constructor(options: { flush: (items: T[]) => Promise<void>; maxInFlight?: number; maxBatch?: number }) {
    this.flush = options.flush;
    this.maxInFlight = options.maxInFlight ?? 1;
    this.maxBatch = options.maxBatch ?? 1000;
  }

  add(item: T): void {
    this.pending.push(item);
    this.kick();
  }

  addMany(items: readonly T[]): void {
    for (const item of items) this.pending.push(item);
    this.kick();
  }

  get size(): number {
    return this.pending.length + this.inFlight;
  }

  /** Resolves once nothing is pending or in flight. */
  async idle(): Promise<void> {
    if (this.pending.length === 0 && this.inFlight === 0) return;
    await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
  }

  private kick(): void {
    while (this.inFlight < this.maxInFlight && this.pending.length > 0) {
      const batch = this.pending.length <= this.maxBatch ? this.pending : this.pending.slice(0, this.maxBatch);
      this.pending = batch === this.pending ? [] : this.pending.slice(this.maxBatch);
      this.inFlight++;
      // flush owns its errors (it must retry or report per item); a rejection here is a bug, not data loss.
      void this.flush(batch).finally(() => {
        this.inFlight--;
        this.kick();
        if (this.pending.length === 0 && this.inFlight === 0) {
          const waiters = this.idleWaiters;
          this.idleWaiters = [];
          for (const resolve of waiters) resolve();
        }
      });
    }
  }
}
