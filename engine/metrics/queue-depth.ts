/**
 * Queue depth per action, read by counting the queued task runs. The count is exact but O(queued): at a
 * million queued it is a pass over a million rows (about 0.15 s of a database core on a 2-core machine),
 * and taken every sampling interval it made a deep backlog slow every other queue on the same database.
 * So reads are spaced by what they cost: a reading younger than `costFactor` times the last read's
 * duration (and younger than `minAgeMs`) is returned as it stands. Counting then takes at most about
 * 1/`costFactor` of the database's time, whatever the depth; a small queue is still read every time it
 * is asked. The sampler and /metrics scrapes share one reader, so scrapes cannot add scans either, and
 * callers asking while a read is in flight share it.
 */
export interface QueueDepth {
  action: string;
  queued: number;
}

export interface QueueDepthReaderOptions {
  read: () => Promise<QueueDepth[]>;
  /** A reading younger than this is reused whatever it cost. */
  minAgeMs: number;
  /** A reading is reused while younger than this many times its own read's duration (default 50: counting stays within ~2 % of the time). */
  costFactor?: number;
  now?: () => number;
}

export class QueueDepthReader {
  private readonly o: Required<QueueDepthReaderOptions>;
  private last: { depths: QueueDepth[]; at: number; costMs: number } | null = null;
  private reading: Promise<QueueDepth[]> | null = null;

  constructor(options: QueueDepthReaderOptions) {
    this.o = { costFactor: 50, now: Date.now, ...options };
  }

  /** The depths, read now unless the last reading is still young enough (see the header). */
  get(): Promise<QueueDepth[]> {
    if (this.reading) return this.reading;
    const now = this.o.now();
    if (this.last && now - this.last.at < Math.max(this.o.minAgeMs, this.o.costFactor * this.last.costMs)) return Promise.resolve(this.last.depths);
    const began = now;
    this.reading = this.o
      .read()
      .then((depths) => {
        const at = this.o.now();
        this.last = { depths, at, costMs: at - began };
        return depths;
      })
      .finally(() => (this.reading = null));
    return this.reading;
  }
}
