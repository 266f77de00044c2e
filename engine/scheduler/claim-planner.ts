/**
 * Pure claim planning: given the workers an engine holds and the actions that may have claimable work,
 * decide which claims to make, for whom, and how many. No I/O, so it is unit-tested with plain data.
 */

export interface WorkerCapacity {
  id: string;
  actions: readonly string[];
  freeSlots: number;
  draining: boolean;
}

export interface ClaimRequest {
  workerId: string;
  actions: string[];
  limit: number;
}

/**
 * One claim per worker that has free slots and offers at least one action that may have work, limited
 * to its free slots (and maxBatch). Workers are visited round-robin starting after the one served first
 * last time (`cursor`), so when the queue is shorter than the free capacity, work spreads across
 * workers instead of always filling the first.
 */
export function planClaims(options: {
  workers: readonly WorkerCapacity[];
  actionsWithWork: ReadonlySet<string>;
  cursor: number;
  maxBatch: number;
}): { claims: ClaimRequest[]; nextCursor: number } {
  const { workers, actionsWithWork, maxBatch } = options;
  const claims: ClaimRequest[] = [];
  const n = workers.length;
  if (n === 0 || actionsWithWork.size === 0) return { claims, nextCursor: options.cursor };
  const start = ((options.cursor % n) + n) % n;
  for (let i = 0; i < n; i++) {
    const worker = workers[(start + i) % n]!;
    if (worker.draining || worker.freeSlots <= 0) continue;
    const actions = worker.actions.filter((a) => actionsWithWork.has(a));
    if (actions.length === 0) continue;
    claims.push({ workerId: worker.id, actions, limit: Math.min(worker.freeSlots, maxBatch) });
  }
  return { claims, nextCursor: start + 1 };
}
