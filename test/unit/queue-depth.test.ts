import { describe, expect, it } from 'vitest';
import { QueueDepthReader } from '../../engine/metrics/queue-depth.ts';

describe('QueueDepthReader', () => {
  /** A count that takes `costMs` of a fake clock, returning how many times it ran as the depth. */
  const setup = (costMs: number) => {
    let now = 0;
    let reads = 0;
    const reader = new QueueDepthReader({
      read: async () => {
        now += costMs;
        reads++;
        return [{ action: 'a', queued: reads }];
      },
      minAgeMs: 1_000,
      now: () => now,
    });
    return { reader, advance: (ms: number) => (now += ms), reads: () => reads };
  };

  it('reads a cheap count each time it is asked, beyond the minimum age', async () => {
    const { reader, advance, reads } = setup(2);
    await reader.get();
    advance(500);
    await reader.get();
    expect(reads()).toBe(1);
    advance(600);
    expect(await reader.get()).toEqual([{ action: 'a', queued: 2 }]);
  });

  it('spaces reads of a dear count by 50 times its cost, whatever the asking', async () => {
    // A million queued: 150 ms a count. Asked every 5 s (the sampler) and by scrapes in between.
    const { reader, advance, reads } = setup(150);
    await reader.get();
    for (let t = 0; t < 60_000; t += 1_000) {
      advance(1_000);
      await reader.get();
    }
    // 60 s: one read per 7.5 s (50 × 150 ms), counting included, not one per ask.
    expect(reads()).toBeGreaterThanOrEqual(7);
    expect(reads()).toBeLessThanOrEqual(9);
  });

  it('lets callers asking during a read share it', async () => {
    const { reader, reads } = setup(10);
    const [a, b] = await Promise.all([reader.get(), reader.get()]);
    expect(a).toBe(b);
    expect(reads()).toBe(1);
  });
});
