/**
 * The DAG workloads' workflows for Cleaver, declared identically by the producer (to trigger them by
 * reference) and the bench worker (to run them): a 5-step chain and a 1→8→1 diamond of no-op steps,
 * expressed natively as workflows (tasks with parents) — no emulation.
 */
import type { Cleaver, WorkflowDeclaration } from 'cleaver-sdk';
import type { DagShape } from './system.ts';

export const DAG_WORKFLOWS: Record<DagShape, string> = { chain: 'bench-chain', diamond: 'bench-diamond' };

export const CLEAVER_DAG_HOW: Record<DagShape, string> = {
  chain: 'native workflow: 5 tasks, each the parent of the next; the run is awaited with run()',
  diamond: 'native workflow: a root, 8 tasks with the root as parent, a sink with all 8 as parents; awaited with run()',
};

const CHAIN_STEPS = 5;
const FAN_OUT = 8;

export function declareDagWorkflows(cleaver: Cleaver): Array<WorkflowDeclaration<unknown, unknown>> {
  const chain = cleaver.workflow<unknown, unknown>({ name: DAG_WORKFLOWS.chain });
  let previous = chain.task({ name: 'step-1', fn: () => 1 });
  for (let step = 2; step <= CHAIN_STEPS; step++) previous = chain.task({ name: `step-${step}`, parents: [previous], fn: () => step });

  const diamond = cleaver.workflow<unknown, unknown>({ name: DAG_WORKFLOWS.diamond });
  const root = diamond.task({ name: 'root', fn: () => 0 });
  const middle = Array.from({ length: FAN_OUT }, (_, i) => diamond.task({ name: `mid-${i + 1}`, parents: [root], fn: () => i + 1 }));
  diamond.task({ name: 'sink', parents: middle, fn: () => FAN_OUT + 1 });
  return [chain, diamond];
}
