/**
 * The rules a task definition must meet, checked by the SDK when a task is declared and again by the
 * engine when a worker registers it (a worker is not trusted to have used the SDK).
 */
import { TASK_NAME_PATTERN, TASK_NAME_RULE, type TaskDefinition } from './types.ts';
import { concurrencyProblem, taskRateLimitsProblem } from './flow-control.ts';

const MAX_TIMEOUT_MS = 2_147_483_647; // what a timer can hold: about 24.8 days

/** The first problem with a definition, as a sentence naming the task; null when it is valid. */
export function taskDefinitionProblem(task: TaskDefinition): string | null {
  if (!task || typeof task.name !== 'string' || !TASK_NAME_PATTERN.test(task.name)) {
    return `task name ${JSON.stringify(task?.name)} must be ${TASK_NAME_RULE}`;
  }
  const name = task.name;
  if (!Number.isInteger(task.retries) || task.retries < 0 || task.retries > 1000) return `task ${name}: retries must be an integer from 0 to 1000`;
  for (const field of ['executionTimeoutMs', 'scheduleTimeoutMs'] as const) {
    const ms = task[field];
    if (!Number.isInteger(ms) || ms <= 0 || ms > MAX_TIMEOUT_MS) return `task ${name}: ${field} must be between 1 ms and about 24 days`;
  }
  if (task.backoff !== null && (typeof task.backoff !== 'object' || !(task.backoff.factor > 0) || !(task.backoff.maxSeconds > 0))) {
    return `task ${name}: backoff needs a positive factor and maxSeconds`;
  }
  if (![1, 2, 3].includes(task.defaultPriority)) return `task ${name}: defaultPriority must be 1, 2 or 3`;
  if (task.concurrency !== undefined) {
    const problem = concurrencyProblem(task.concurrency, `task ${name}`);
    if (problem) return problem;
  }
  if (task.rateLimits !== undefined) {
    const problem = taskRateLimitsProblem(task.rateLimits, `task ${name}`);
    if (problem) return problem;
  }
  return orderingProblem(task.ordering, `task ${name}`);
}

export function orderingProblem(ordering: unknown, where: string): string | null {
  if (ordering !== undefined && ordering !== 'fifo' && ordering !== 'lifo') return `${where}: ordering must be 'fifo' or 'lifo'`;
  return null;
}
