// Workflow definitions: the graph rules shared by the SDK (checked where a workflow is written) and the
// engine (checked again when a worker registers it), and what the engine derives from a valid graph.
import { describe, expect, it } from 'vitest';
import { eventPatternToLike, workflowActions, workflowAncestors, workflowDefinitionProblem } from '../../shared/workflow-definition.ts';
import type { TaskDefinition, WorkflowDefinition, WorkflowTaskDefinition } from '../../shared/types.ts';
import { CleaverError } from '../../shared/errors.ts';
import { Cleaver } from '../../sdk/index.ts';

const POLICY: Omit<TaskDefinition, 'name'> = { retries: 0, backoff: null, executionTimeoutMs: 1000, scheduleTimeoutMs: 1000, defaultPriority: 1 };

function task(name: string, parents: string[] = []): WorkflowTaskDefinition {
  return { name, parents, ...POLICY };
}

function hook(name: string): TaskDefinition {
  return { name, ...POLICY };
}

function workflow(tasks: WorkflowTaskDefinition[], options: Partial<WorkflowDefinition> = {}): WorkflowDefinition {
  return { name: 'wf', description: null, versionLabel: null, events: [], tasks, onFailure: null, onSuccess: null, ...options };
}

/** A diamond a → (b, c) → d. */
const diamond = [task('a'), task('b', ['a']), task('c', ['a']), task('d', ['b', 'c'])];

/** Runs `fn` and returns the CleaverError it throws (failing the test if it throws anything else or nothing). */
function thrown(fn: () => unknown): CleaverError {
  let error: unknown;
  try {
    fn();
  } catch (e: unknown) {
    error = e;
  }
  expect(error, 'expected a CleaverError').toBeInstanceOf(CleaverError);
  expect((error as CleaverError).code).toBe('BAD_REQUEST');
  return error as CleaverError;
}

describe('workflowDefinitionProblem', () => {
  it('accepts a valid diamond with hooks and event patterns', () => {
    expect(workflowDefinitionProblem(workflow(diamond, { onFailure: hook('cleanup'), onSuccess: hook('notify'), events: ['order:*', 'a_b.c/d-e'] }))).toBeNull();
  });

  it('refuses a cycle and names it in dependency order', () => {
    // a needs c, b needs a, c needs b: a → b → c → a.
    const problem = workflowDefinitionProblem(workflow([task('a', ['c']), task('b', ['a']), task('c', ['b'])]));
    expect(problem).toBe('workflow wf: tasks depend on each other in a cycle: a → b → c → a');
  });

  it('refuses a cycle that does not reach the first task, naming only the tasks in it', () => {
    const problem = workflowDefinitionProblem(workflow([task('root'), task('x', ['root', 'z']), task('y', ['x']), task('z', ['y'])]));
    expect(problem).toMatch(/cycle: /);
    const cycle = problem!.split('cycle: ')[1]!.split(' → ');
    expect(cycle[0]).toBe(cycle.at(-1));
    expect(new Set(cycle)).toEqual(new Set(['x', 'y', 'z']));
    expect(cycle).toHaveLength(4);
  });

  it('refuses a self-parent', () => {
    expect(workflowDefinitionProblem(workflow([task('a', ['a'])]))).toBe('workflow wf: task a lists itself as a parent');
  });

  it('refuses an unknown parent, naming it', () => {
    expect(workflowDefinitionProblem(workflow([task('a'), task('b', ['nope'])]))).toBe(
      'workflow wf: task b has parent "nope", which is not a task of this workflow',
    );
  });

  it('refuses a parent listed twice', () => {
    expect(workflowDefinitionProblem(workflow([task('a'), task('b', ['a', 'a'])]))).toMatch(/task b lists a parent twice/);
  });

  it('refuses a task depending on a hook', () => {
    expect(workflowDefinitionProblem(workflow([task('a'), task('b', ['cleanup'])], { onFailure: hook('cleanup') }))).toBe(
      'workflow wf: task b cannot depend on the hook cleanup',
    );
  });

  it('refuses duplicate names among tasks and hooks', () => {
    expect(workflowDefinitionProblem(workflow([task('a'), task('a')]))).toBe('workflow wf: two tasks are named a');
    expect(workflowDefinitionProblem(workflow([task('a')], { onFailure: hook('a') }))).toBe('workflow wf: two tasks are named a');
    expect(workflowDefinitionProblem(workflow([task('a')], { onSuccess: hook('a') }))).toBe('workflow wf: two tasks are named a');
    expect(workflowDefinitionProblem(workflow([task('a')], { onFailure: hook('h'), onSuccess: hook('h') }))).toBe('workflow wf: two tasks are named h');
  });

  it('refuses bad names: a colon is reserved for actions', () => {
    expect(workflowDefinitionProblem(workflow([task('a')], { name: 'my:wf' }))).toMatch(/workflow name "my:wf" must be 1-200 letters/);
    expect(workflowDefinitionProblem(workflow([task('a:b')]))).toMatch(/^workflow wf: task name "a:b" must be 1-200 letters/);
    expect(workflowDefinitionProblem(workflow([task('a')], { onFailure: hook('on:fail') }))).toMatch(/task name "on:fail"/);
    expect(workflowDefinitionProblem(workflow([task('a')], { name: '' }))).toMatch(/workflow name "" must be/);
  });

  it('refuses bad event patterns, and a pattern listed twice', () => {
    for (const pattern of ['has space', 'per%cent', 'back\\slash', '', 'x'.repeat(201)]) {
      expect(workflowDefinitionProblem(workflow([task('a')], { events: [pattern] })), pattern).toMatch(/event pattern .* must be 1-200 letters/);
    }
    expect(workflowDefinitionProblem(workflow([task('a')], { events: [42 as never] }))).toMatch(/event pattern 42 must be/);
    expect(workflowDefinitionProblem(workflow([task('a')], { events: 'order:*' as never }))).toMatch(/on.events must be an array/);
    expect(workflowDefinitionProblem(workflow([task('a')], { events: ['order:*', 'order:*'] }))).toMatch(/an event pattern is listed twice/);
  });

  it('refuses a workflow without tasks, and a bad task policy naming the workflow', () => {
    expect(workflowDefinitionProblem(workflow([]))).toBe('workflow wf: a workflow needs at least one task');
    expect(workflowDefinitionProblem(workflow([{ ...task('a'), retries: -1 }]))).toBe('workflow wf: task a: retries must be an integer from 0 to 1000');
  });
});

describe('workflowAncestors', () => {
  it('gives each task of a diamond its transitive parents, in task order, each once', () => {
    const ancestors = workflowAncestors(workflow([...diamond, task('e', ['d']), task('lone')]));
    expect(Object.fromEntries(ancestors)).toEqual({
      a: [],
      b: ['a'],
      c: ['a'],
      d: ['a', 'b', 'c'],
      e: ['a', 'b', 'c', 'd'],
      lone: [],
    });
  });

  it('follows the task order, not the order parents are listed in', () => {
    const ancestors = workflowAncestors(workflow([task('x'), task('y'), task('z', ['y', 'x'])]));
    expect(ancestors.get('z')).toEqual(['x', 'y']);
  });
});

describe('workflowActions', () => {
  it('names every task and hook as <workflow>:<task>', () => {
    expect(workflowActions(workflow(diamond, { onFailure: hook('f'), onSuccess: hook('s') }))).toEqual(['wf:a', 'wf:b', 'wf:c', 'wf:d', 'wf:f', 'wf:s']);
  });
});

describe('eventPatternToLike', () => {
  it("turns '*' into '%' and escapes LIKE's own wildcards and escape character", () => {
    expect(eventPatternToLike('order:*')).toBe('order:%');
    expect(eventPatternToLike('*:created:*')).toBe('%:created:%');
    expect(eventPatternToLike('a_b')).toBe('a\\_b');
    expect(eventPatternToLike('100%')).toBe('100\\%');
    expect(eventPatternToLike('a\\b')).toBe('a\\\\b');
    // The escapes are applied before '*' becomes '%', so the '%' made from '*' stays a wildcard.
    expect(eventPatternToLike('x_*%')).toBe('x\\_%\\%');
    expect(eventPatternToLike('plain')).toBe('plain');
  });
});

describe('SDK workflow declarations', () => {
  const cleaver = Cleaver.connect({ address: 'unix:///nonexistent' });
  const noop = () => null;

  it('builds the definition a worker registers', () => {
    const wf = cleaver.workflow({ name: 'sdk-diamond', on: { events: ['order:*'] }, defaultPriority: 2, version: 'v1' });
    const a = wf.task({ name: 'a', fn: noop });
    const b = wf.task({ name: 'b', parents: [a], retries: 3, fn: noop });
    const c = wf.task({ name: 'c', parents: [a], defaultPriority: 3, fn: noop });
    wf.task({ name: 'd', parents: [b, c], fn: noop });
    wf.onFailure({ name: 'cleanup', fn: noop });
    expect(wf.definition).toMatchObject({
      name: 'sdk-diamond',
      versionLabel: 'v1',
      events: ['order:*'],
      tasks: [
        { name: 'a', parents: [], defaultPriority: 2 },
        { name: 'b', parents: ['a'], retries: 3 },
        { name: 'c', parents: ['a'], defaultPriority: 3 },
        { name: 'd', parents: ['b', 'c'] },
      ],
      onFailure: { name: 'cleanup', defaultPriority: 2 },
      onSuccess: null,
    });
    expect(workflowDefinitionProblem(wf.definition)).toBeNull();
    expect(wf.allTasks.map((t) => t.action)).toEqual(['sdk-diamond:a', 'sdk-diamond:b', 'sdk-diamond:c', 'sdk-diamond:d', 'sdk-diamond:cleanup']);
  });

  it('refuses a parent from another workflow, naming both workflows', () => {
    const wf1 = cleaver.workflow({ name: 'first' });
    const wf1task = wf1.task({ name: 'x', fn: noop });
    const wf2 = cleaver.workflow({ name: 'second' });
    const error = thrown(() => wf2.task({ name: 'y', parents: [wf1task], fn: noop }));
    expect(error.message).toMatch(/workflow second/);
    expect(error.message).toMatch(/parent x belongs to workflow first/);
    // Nothing was added to the second workflow.
    expect(() => wf2.definition).toThrow(/has no tasks/);
  });

  it('refuses a parent that is not a workflow task', () => {
    const wf = cleaver.workflow({ name: 'not-a-task-parent' });
    const standalone = cleaver.task({ name: 'standalone', fn: noop });
    expect(thrown(() => wf.task({ name: 'y', parents: [standalone as never], fn: noop })).message).toMatch(/parents\[0\] is not a task declared with workflow.task\(\)/);
  });

  it('refuses duplicate task names, a hook named like a task, and a task named like a hook', () => {
    const wf = cleaver.workflow({ name: 'dupes' });
    wf.task({ name: 'a', fn: noop });
    expect(thrown(() => wf.task({ name: 'a', fn: noop })).message).toBe('workflow dupes: two tasks are named a');
    expect(thrown(() => wf.onFailure({ name: 'a', fn: noop })).message).toBe('workflow dupes: two tasks are named a');
    wf.onSuccess({ name: 'done', fn: noop });
    expect(thrown(() => wf.task({ name: 'done', fn: noop })).message).toBe('workflow dupes: two tasks are named done');
    expect(thrown(() => wf.onSuccess({ name: 'again', fn: noop })).message).toMatch(/already has an onSuccess task/);
    // The refused tasks were not kept.
    expect(wf.definition.tasks.map((t) => t.name)).toEqual(['a']);
  });

  it('refuses a task depending on a hook', () => {
    const wf = cleaver.workflow({ name: 'hook-parent' });
    wf.task({ name: 'a', fn: noop });
    const cleanup = wf.onFailure({ name: 'cleanup', fn: noop });
    expect(thrown(() => wf.task({ name: 'b', parents: [cleanup], fn: noop })).message).toBe('workflow hook-parent: task b cannot depend on the hook cleanup');
  });

  it('refuses bad workflow and task names, and bad event patterns, where they are written', () => {
    // The SDK's shared TaskRef check words this as a "task name"; the name and the rule are what matter.
    expect(thrown(() => cleaver.workflow({ name: 'bad:name' })).message).toMatch(/name "bad:name" must be 1-200 letters/);
    expect(thrown(() => cleaver.workflow({ name: 'events', on: { events: ['order created'] } })).message).toMatch(/event pattern "order created" must be/);
    const wf = cleaver.workflow({ name: 'task-names' });
    expect(thrown(() => wf.task({ name: 'a:b', fn: noop })).message).toMatch(/task name "a:b" must be/);
    expect(() => wf.onFailure({ name: 'x:y', fn: noop })).toThrow(/task name "x:y" must be/);
  });
});
