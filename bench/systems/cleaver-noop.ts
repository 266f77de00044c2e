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
