import { describe, expect, it } from 'vitest';
import { taskDefinitionProblem } from '../../shared/task-definition.ts';
import { Cleaver } from '../../sdk/index.ts';

const valid = { name: 'ok', retries: 2, backoff: { factor: 2, maxSeconds: 10 }, executionTimeoutMs: 1000, scheduleTimeoutMs: 1000, defaultPriority: 1 };

describe('task definitions', () => {
  it('accepts a valid definition', () => {
    expect(taskDefinitionProblem(valid)).toBeNull();
    expect(taskDefinitionProblem({ ...valid, backoff: null })).toBeNull();
  });

  it('names the problem and the task', () => {
    expect(taskDefinitionProblem({ ...valid, name: 'has space' })).toMatch(/task name "has space" must be 1-200 letters/);
    expect(taskDefinitionProblem({ ...valid, retries: -1 })).toBe('task ok: retries must be an integer from 0 to 1000');
    expect(taskDefinitionProblem({ ...valid, executionTimeoutMs: 0 })).toMatch(/executionTimeoutMs must be between 1 ms/);
    expect(taskDefinitionProblem({ ...valid, scheduleTimeoutMs: 2 ** 31 })).toMatch(/scheduleTimeoutMs must be between/);
    expect(taskDefinitionProblem({ ...valid, backoff: { factor: 0, maxSeconds: 1 } })).toMatch(/backoff needs a positive factor/);
    expect(taskDefinitionProblem({ ...valid, defaultPriority: 4 })).toMatch(/defaultPriority must be 1, 2 or 3/);
  });

  it('is enforced when a task is declared with the SDK', () => {
    const cleaver = Cleaver.connect({ address: 'unix:///nonexistent.sock' });
    expect(() => cleaver.task({ name: 'x', retries: 1.5, fn: () => null })).toThrow(/task x: retries must be an integer/);
    expect(() => cleaver.task({ name: 'x', executionTimeout: '10 minutes' as never, fn: () => null })).toThrow(/not a duration/);
    expect(() => cleaver.task({ name: 'x', fn: 'nope' as never })).toThrow(/fn must be a function/);
    expect(cleaver.task({ name: 'x', executionTimeout: '2m', fn: () => null }).definition).toMatchObject({ executionTimeoutMs: 120_000, scheduleTimeoutMs: 300_000, retries: 0 });
  });
});
