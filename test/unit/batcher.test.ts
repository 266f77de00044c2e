import { describe, expect, it } from 'vitest';
import { Batcher } from '../../engine/batcher.ts';

describe('Batcher', () => {
  it('flushes a lone item at once and batches what arrives during a flush', async () => {
    const batches: number[][] = [];
    let release: () => void = () => undefined;
    const batcher = new Batcher<number>({
      flush: async (items) => {
        batches.push(items);
        if (batches.length === 1) await new Promise<void>((r) => (release = r));
      },
    });
    batcher.add(1);
    expect(batches).toEqual([[1]]);
    batcher.add(2);
    batcher.add(3);
    expect(batches).toEqual([[1]]);
    release();
    await batcher.idle();
    expect(batches).toEqual([[1], [2, 3]]);
  });

  it('respects maxBatch and maxInFlight', async () => {
    const batches: number[][] = [];
    let inFlight = 0;
    let maxSeen = 0;
    const batcher = new Batcher<number>({
      maxBatch: 2,
      maxInFlight: 2,
      flush: async (items) => {
        inFlight++;
        maxSeen = Math.max(maxSeen, inFlight);
        batches.push(items);
        await new Promise((r) => setTimeout(r, 5));
        inFlight--;
      },
    });
    batcher.addMany([1, 2, 3, 4, 5]);
    await batcher.idle();
    expect(batches.flat().sort()).toEqual([1, 2, 3, 4, 5]);
    expect(Math.max(...batches.map((b) => b.length))).toBe(2);
    expect(maxSeen).toBe(2);
  });
});
