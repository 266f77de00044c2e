/**
 * UUIDv7 (RFC 9562): a millisecond timestamp then randomness. Time-ordered ids keep the primary-key
 * and queue indexes append-mostly and give FIFO order among equal priorities without a sequence.
 * Within one process, ids from the same millisecond stay ordered via a monotonic counter.
 */
import { randomFillSync } from 'node:crypto';

const pool = Buffer.allocUnsafe(16 * 256);
let poolOffset = pool.length;
let lastMs = 0;
let counter = 0;

export function uuidv7(now = Date.now()): string {
  if (poolOffset + 16 > pool.length) {
    randomFillSync(pool);
    poolOffset = 0;
  }
  const bytes = pool.subarray(poolOffset, poolOffset + 16);
  poolOffset += 16;
  // A 12-bit counter in rand_a keeps ids from one process increasing within a millisecond.
  if (now <= lastMs) {
    counter++;
    if (counter > 0xfff) {
      lastMs++;
      counter = 0;
    }
    now = lastMs;
  } else {
    lastMs = now;
    counter = 0;
  }
  bytes[0] = Math.floor(now / 2 ** 40) & 0xff;
  bytes[1] = Math.floor(now / 2 ** 32) & 0xff;
  bytes[2] = (now >>> 24) & 0xff;
  bytes[3] = (now >>> 16) & 0xff;
  bytes[4] = (now >>> 8) & 0xff;
  bytes[5] = now & 0xff;
  bytes[6] = 0x70 | ((counter >>> 8) & 0x0f);
  bytes[7] = counter & 0xff;
  bytes[8] = 0x80 | (bytes[8]! & 0x3f);
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
