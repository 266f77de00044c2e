/** The benchmark's one task, declared identically by the producer (to register it) and the worker (to run it). */
import type { Cleaver, Context, TaskDeclaration } from 'cleaver-sdk';
import type { TimedInput } from '../lib/worker-tally.ts';

export const NOOP_TASK = 'noop';

export type NoopInput = TimedInput;

export interface NoopOutput {
  /** Enqueue→start in ms, read as the handler's first action; null without `sentAt`. */
  startLatencyMs: number | null;
}

/** `onExecute` is the handler's first action (the worker's tally reads the clock there). */
export function declareNoop(cleaver: Cleaver, onExecute?: (input: NoopInput, ctx: Context) => number | null): TaskDeclaration<NoopInput, NoopOutput> {
  return cleaver.task<NoopInput, NoopOutput>({
    name: NOOP_TASK,
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
