/**
 * The rules a workflow definition must meet — checked by the SDK when a workflow is declared and again
 * by the engine when a worker registers it — and what the engine derives from a valid one.
 */
import {
  EVENT_PATTERN_RULE,
  EVENT_PATTERN_PATTERN,
  TASK_NAME_PATTERN,
  TASK_NAME_RULE,
  type WorkflowDefinition,
} from './types.ts';
import { orderingProblem, taskDefinitionProblem } from './task-definition.ts';
import { concurrencyProblem } from './flow-control.ts';

/** The action a worker registers for a workflow's task: '<workflow>:<task>'. */
export function workflowAction(workflowName: string, taskName: string): string {
  return `${workflowName}:${taskName}`;
}

/** The workflow (or standalone task) an action is of: names cannot hold ':', so it is what precedes one. */
export function actionWorkflow(action: string): string {
  const at = action.indexOf(':');
  return at < 0 ? action : action.slice(0, at);
}

/** Whether an action is a workflow's task or hook ('<workflow>:<task>'), not a standalone task. */
export function isWorkflowAction(action: string): boolean {
  return action.includes(':');
}

/** Every action of a workflow: its tasks' and its hooks'. */
export function workflowActions(workflow: WorkflowDefinition): string[] {
  const names = workflow.tasks.map((t) => t.name);
  if (workflow.onFailure) names.push(workflow.onFailure.name);
  if (workflow.onSuccess) names.push(workflow.onSuccess.name);
  return names.map((n) => workflowAction(workflow.name, n));
}

/** The first problem with a workflow definition, as a sentence naming it; null when it is valid. */
export function workflowDefinitionProblem(workflow: WorkflowDefinition): string | null {
  if (!workflow || typeof workflow.name !== 'string' || !TASK_NAME_PATTERN.test(workflow.name)) {
    return `workflow name ${JSON.stringify(workflow?.name)} must be ${TASK_NAME_RULE}`;
  }
  const where = `workflow ${workflow.name}`;
  if (workflow.description !== null && (typeof workflow.description !== 'string' || workflow.description.length > 10_000)) {
    return `${where}: description must be a string of at most 10000 characters`;
  }
  if (workflow.versionLabel !== null && (typeof workflow.versionLabel !== 'string' || workflow.versionLabel.length === 0 || workflow.versionLabel.length > 200)) {
    return `${where}: version must be a non-empty string of at most 200 characters`;
  }
  if (!Array.isArray(workflow.events)) return `${where}: on.events must be an array of event key patterns`;
  for (const pattern of workflow.events) {
    if (typeof pattern !== 'string' || !EVENT_PATTERN_PATTERN.test(pattern)) {
      return `${where}: event pattern ${JSON.stringify(pattern)} must be ${EVENT_PATTERN_RULE}`;
    }
  }
  if (new Set(workflow.events).size !== workflow.events.length) return `${where}: an event pattern is listed twice`;
  if (workflow.concurrency !== undefined) {
    const problem = concurrencyProblem(workflow.concurrency, where);
    if (problem) return problem;
  }
  const ordering = orderingProblem(workflow.ordering, where);
  if (ordering) return ordering;
  if (!Array.isArray(workflow.tasks) || workflow.tasks.length === 0) return `${where}: a workflow needs at least one task`;
  if (workflow.tasks.length > 1000) return `${where}: a workflow may have at most 1000 tasks`;

  const names = new Set<string>();
  const hooks = [workflow.onFailure, workflow.onSuccess].filter((h) => h !== null);
  for (const task of [...workflow.tasks, ...hooks]) {
    const invalid = taskDefinitionProblem(task);
    if (invalid) return `${where}: ${invalid}`;
    if (names.has(task.name)) return `${where}: two tasks are named ${task.name}`;
    names.add(task.name);
  }
  const taskNames = new Set(workflow.tasks.map((t) => t.name));
  for (const task of workflow.tasks) {
    if (!Array.isArray(task.parents)) return `${where}: task ${task.name}: parents must be an array of task names`;
    if (new Set(task.parents).size !== task.parents.length) return `${where}: task ${task.name} lists a parent twice`;
    for (const parent of task.parents) {
      if (parent === task.name) return `${where}: task ${task.name} lists itself as a parent`;
      if (!taskNames.has(parent)) {
        return hooks.some((h) => h.name === parent)
          ? `${where}: task ${task.name} cannot depend on the hook ${parent}`
          : `${where}: task ${task.name} has parent ${JSON.stringify(parent)}, which is not a task of this workflow`;
      }
    }
  }
  const cycle = findCycle(workflow);
  if (cycle) return `${where}: tasks depend on each other in a cycle: ${cycle.join(' → ')}`;
  return null;
}

/** A dependency cycle as task names (first repeated at the end), or null. */
function findCycle(workflow: WorkflowDefinition): string[] | null {
  const parentsOf = new Map(workflow.tasks.map((t) => [t.name, t.parents]));
  const state = new Map<string, 'visiting' | 'done'>();
  const path: string[] = [];
  const visit = (name: string): string[] | null => {
    const s = state.get(name);
    if (s === 'done') return null;
    if (s === 'visiting') return [...path.slice(path.indexOf(name)), name].reverse();
    state.set(name, 'visiting');
    path.push(name);
    for (const parent of parentsOf.get(name) ?? []) {
      const found = visit(parent);
      if (found) return found;
    }
    path.pop();
    state.set(name, 'done');
    return null;
  };
  for (const task of workflow.tasks) {
    const found = visit(task.name);
    if (found) return found;
  }
  return null;
}

/** Each task's transitive parents (for a valid, acyclic workflow), in the workflow's task order. */
export function workflowAncestors(workflow: WorkflowDefinition): Map<string, string[]> {
  const parentsOf = new Map(workflow.tasks.map((t) => [t.name, t.parents]));
  const memo = new Map<string, Set<string>>();
  const ancestors = (name: string): Set<string> => {
    let set = memo.get(name);
    if (set) return set;
    set = new Set();
    for (const parent of parentsOf.get(name) ?? []) {
      set.add(parent);
      for (const a of ancestors(parent)) set.add(a);
    }
    memo.set(name, set);
    return set;
  };
  const order = workflow.tasks.map((t) => t.name);
  return new Map(order.map((name) => [name, order.filter((n) => ancestors(name).has(n))]));
}

/** An event key pattern as a SQL LIKE pattern: '*' matches anything, everything else only itself. */
export function eventPatternToLike(pattern: string): string {
  return pattern.replace(/[\\%_]/g, (c) => `\\${c}`).replaceAll('*', '%');
}
