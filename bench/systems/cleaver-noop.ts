/** The benchmark's one task, declared identically by the producer (to register it) and the worker (to run it). */
import type { Cleaver, Context, TaskDeclaration } from 'cleaver/sdk';
import { epochMs } from '../lib/clock.ts';

export const NOOP_TASK = 'noop';

export interface NoopInput {
  /** epochMs() in the producer just before the enqueue; absent for burn-down tasks. */
  sentAt?: number;
}

export interface NoopOutput {
  /** Enqueue→start in ms, read as the handler's first action; null without `sentAt`. */
  startLatencyMs: number | null;
}

export function declareNoop(cleaver: Cleaver, onExecute?: (ctx: Context) => void): TaskDeclaration<NoopInput, NoopOutput> {
  return cleaver.task<NoopInput, NoopOutput>({
    name: NOOP_TASK,
    retries: 0,
    fn: (input, ctx) => {
      const now = epochMs();
      onExecute?.(ctx);
      return { startLatencyMs: typeof input.sentAt === 'number' ? now - input.sentAt : null };
    },
  });
}
