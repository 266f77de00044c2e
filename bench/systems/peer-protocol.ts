/**
 * What the peers' producer side (bench/systems/<peer>.ts, in the benchmark process) and worker side
 * (bench/systems/<peer>-worker.ts, in bench/peer-worker.ts child processes) agree on: the worker's
 * configuration and the payloads of the noop and DAG tasks.
 */
import type { DagShape } from './system.ts';
import type { TimedInput } from '../lib/worker-tally.ts';

/** Whose worker module bench/peer-worker.ts runs ('limit' is the reference, bench/systems/limit.ts). */
export type PeerName = 'graphile-worker' | 'pg-boss' | 'bullmq' | 'limit';

export interface PeerWorkerConfig {
  peer: PeerName;
  /** The system's profile id (e.g. "default", "tuned"), interpreted by its worker module. */
  profile: string;
  slots: number;
  /** Postgres peers: the case's fresh database. */
  connectionString?: string;
  /** BullMQ: Redis and the case's unique key prefix. */
  redis?: { host: string; port: number; prefix: string };
}

export const NOOP = 'noop';
export const DAG = 'dag';
/** Width of the diamond's middle layer. */
export const DIAMOND_WIDTH = 8;
export const CHAIN_STEPS = 5;

/** A noop's payload; `doneKey` asks the system's completion signal to carry it (latency runs only). */
export interface NoopPayload extends TimedInput {
  doneKey?: string;
}

/**
 * One DAG step. Chain: steps 1..5, each enqueues the next. Diamond: `root` enqueues DIAMOND_WIDTH `mid`
 * steps, each decrements the run's fan-in counter and the one reaching zero enqueues `sink`. The last
 * step carries `doneKey`.
 */
export interface DagPayload extends TimedInput {
  shape: DagShape;
  step: number | 'root' | 'mid' | 'sink';
  key: string;
  doneKey?: string;
}

export function isLastStep(payload: DagPayload): boolean {
  return payload.shape === 'chain' ? payload.step === CHAIN_STEPS : payload.step === 'sink';
}
