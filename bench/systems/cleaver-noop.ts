/** The benchmark's one task, declared identically by the producer (to register it) and the worker (to run it). */
import type { Cleaver, ConcurrencyOptions, Context, TaskDeclaration, TaskRateLimit } from 'cleaver-sdk';
import type { TimedInput } from '../lib/worker-tally.ts';

export const NOOP_TASK = 'noop';

export interface NoopInput extends TimedInput {
  /** The run's concurrency key, in the keyed burn-down only. */
  k?: string;
}

export interface NoopOutput {
  /** Enqueue→start in ms, read as the handler's first action; null without `sentAt`. */
  startLatencyMs: number | null;
}

/**
 * Flow control a burn-down variant puts in front of the noop (SystemUnderTest.burnDownVariants). Each
 * variant is a task of its own name, so the plain noop's definition never changes under a run; the
 * benchmark hands it to its worker process as JSON in NOOP_FLOW_ENV.
 */
export interface NoopFlow {
  name: string;
  concurrency?: ConcurrencyOptions;
  rateLimits?: TaskRateLimit[];
}

export const NOOP_FLOW_ENV = 'BENCH_NOOP_FLOW';

export interface DeclareNoopOptions {
  /** The variant's flow control; the plain `noop` without it. */
  flow?: NoopFlow | null;
  /** The handler's first action (the worker's tally reads the clock there). */
  onExecute?: (input: NoopInput, ctx: Context) => number | null;
}

export function declareNoop(cleaver: Cleaver, options: DeclareNoopOptions = {}): TaskDeclaration<NoopInput, NoopOutput> {
  const { flow, onExecute } = options;
  return cleaver.task<NoopInput, NoopOutput>({
    name: NOOP_TASK,
    ...flow,
    retries: 0,
    fn: (input, ctx) => ({ startLatencyMs: onExecute?.(input, ctx) ?? null }),
  });
}

export const BACKLOG_TASK = 'backlog';

/**
 * The task of a burn-down's backlog (SystemUnderTest.burnDownVariants): no benchmark worker offers it,
 * so its runs stay queued; its schedule timeout outlasts any measurement, so none is failed for waiting.
 */
export function declareBacklog(cleaver: Cleaver): TaskDeclaration<Record<string, never>, null> {
  return cleaver.task<Record<string, never>, null>({ name: BACKLOG_TASK, retries: 0, scheduleTimeout: '24h', fn: () => null });
}
