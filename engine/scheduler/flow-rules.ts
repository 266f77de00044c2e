/**
 * Flow rules as the scheduler applies them: each stored definition's concurrency keys and rate limits,
 * compiled once per workflow version, and evaluated per task run on its input, metadata and (in a
 * workflow) its parents' outputs. CEL only (docs/flow-control.md), with @marcbachmann/cel-js: an
 * expression can read those three variables and nothing else, and cannot loop, call out or `eval`.
 */
import { Environment } from '@marcbachmann/cel-js';
import type { RegisteredDefinition, StoredDefinition } from '../sql/workflow-register.ts';
import { workflowAction } from '../../shared/workflow-definition.ts';
import { MAX_RATE_LIMIT, RATE_LIMIT_DURATION_MS, RATE_LIMIT_KEY_PATTERN, RATE_LIMIT_KEY_RULE, type ConcurrencyDefinition, type RateLimitDuration, type TaskRateLimit } from '../../shared/flow-control.ts';
import type { TaskDefinition } from '../../shared/types.ts';
import type { ConcurrencyRule, KeyRef, RateAsk } from './decide.ts';

const env = new Environment({ unlistedVariablesAreDyn: false })
  .registerVariable('input', 'dyn')
  .registerVariable('metadata', 'map')
  .registerVariable('parents', 'map');

type Compiled = (context: { input: unknown; metadata: unknown; parents: unknown }) => unknown;
type Expects = 'string' | 'number';

/** Compiles an expression, or says why it cannot be (the parse or type error, first line), as a predicate: 'is not valid CEL: …'. */
function compile(expression: string, expects: Expects): Compiled | string {
  try {
    const fn = env.parse(expression) as unknown as Compiled & { check(): { valid: boolean; type?: string; error?: Error } };
    const checked = fn.check();
    if (!checked.valid) return `is not valid CEL: ${firstLine(checked.error?.message ?? 'it does not type-check')}`;
    const ok = expects === 'string' ? ['string', 'dyn'] : ['int', 'uint', 'double', 'dyn'];
    if (checked.type && !ok.includes(checked.type)) return `must yield a ${expects} but yields ${checked.type}${expects === 'string' ? ' (wrap it in string(…))' : ''}`;
    return fn;
  } catch (e: unknown) {
    return `is not valid CEL: ${firstLine(e instanceof Error ? e.message : String(e))}`;
  }
}

function firstLine(message: string): string {
  return message.split('\n')[0]!.trim();
}

/** A concurrency key of an action, as one version declares it. */
interface KeySpec {
  rule: ConcurrencyRule;
  expression: string;
  evaluate: Compiled;
}

type RateSpec =
  | { kind: 'static'; key: string; units: number }
  | { kind: 'dynamic'; expression: string; key: Compiled; units: Compiled | number; limit: Compiled | number; duration: RateLimitDuration };

/** What the scheduler applies to one action's task runs of one workflow version. */
export interface ActionRules {
  /** Held while the task run runs. */
  readonly task: readonly KeySpec[];
  /** Held from the run's first admission to its end (the workflow's own keys). */
  readonly workflow: readonly KeySpec[];
  readonly rateLimits: readonly RateSpec[];
  readonly lifo: boolean;
  /** Any key or limit: the task runs need their input read and evaluated. */
  readonly keyed: boolean;
}

/** An action without flow rules (or one not known yet). */
export const NO_RULES: ActionRules = { task: [], workflow: [], rateLimits: [], lifo: false, keyed: false };

/** Rule ids: a task's keys are `<action>#<i>`, a workflow's `<workflow>#<i>` (stable across versions). */
function keySpecs(list: readonly ConcurrencyDefinition[] | undefined, owner: string): KeySpec[] {
  return (list ?? []).map((c, i) => {
    const evaluate = compile(c.expression, 'string');
    if (typeof evaluate === 'string') throw new Error(`stored concurrency expression ${c.expression} ${evaluate}`);
    return { rule: { id: `${owner}#${i}`, maxRuns: c.maxRuns, strategy: c.limitStrategy }, expression: c.expression, evaluate };
  });
}

function rateSpecs(list: readonly TaskRateLimit[] | undefined): RateSpec[] {
  return (list ?? []).map((r) => {
    if ('staticKey' in r) return { kind: 'static', key: r.staticKey, units: r.units };
    const value = (v: number | string): Compiled | number => {
      if (typeof v === 'number') return v;
      const c = compile(v, 'number');
      if (typeof c === 'string') throw new Error(`stored rate-limit expression ${v} ${c}`);
      return c;
    };
    const key = compile(r.dynamicKey, 'string');
    if (typeof key === 'string') throw new Error(`stored rate-limit key ${r.dynamicKey} ${key}`);
    return { kind: 'dynamic', expression: r.dynamicKey, key, units: value(r.units), limit: value(r.limit), duration: r.duration };
  });
}

/** Every action of a stored definition with the rules its task runs are scheduled under. */
export function actionRulesOf(stored: StoredDefinition): Map<string, ActionRules> {
  const out = new Map<string, ActionRules>();
  const add = (action: string, task: TaskDefinition, workflow: KeySpec[], lifo: boolean) => {
    const own = keySpecs(task.concurrency, action);
    const rateLimits = rateSpecs(task.rateLimits);
    const rules: ActionRules = { task: own, workflow, rateLimits, lifo: lifo || task.ordering === 'lifo', keyed: own.length + workflow.length + rateLimits.length > 0 };
    out.set(action, rules.keyed || rules.lifo ? rules : NO_RULES);
  };
  if (stored.kind === 'task') {
    add(stored.task.name, stored.task, [], false);
    return out;
  }
  const wf = stored.workflow;
  const workflowKeys = keySpecs(wf.concurrency, wf.name);
  const lifo = wf.ordering === 'lifo';
  // A workflow's keys are taken by its first task runs (its roots); hooks run inside a run already admitted.
  for (const task of wf.tasks) add(workflowAction(wf.name, task.name), task, workflowKeys, lifo);
  for (const hook of [wf.onFailure, wf.onSuccess]) if (hook) add(workflowAction(wf.name, hook.name), hook, [], lifo);
  return out;
}

/**
 * The first problem with a definition's flow rules that its shape does not show (an expression that does
 * not parse or type-check), as a sentence naming where; null when every expression compiles. The shapes
 * themselves are checked by taskDefinitionProblem / workflowDefinitionProblem.
 */
export function flowRulesProblem(definition: RegisteredDefinition): string | null {
  const check = (task: TaskDefinition, where: string): string | null => {
    for (const [i, c] of (task.concurrency ?? []).entries()) {
      const r = compile(c.expression, 'string');
      if (typeof r === 'string') return `${where}: concurrency[${i}].expression ${JSON.stringify(c.expression)} ${r}`;
    }
    for (const [i, l] of (task.rateLimits ?? []).entries()) {
      if ('staticKey' in l) continue;
      for (const [field, value, expects] of [['dynamicKey', l.dynamicKey, 'string'], ['units', l.units, 'number'], ['limit', l.limit, 'number']] as const) {
        if (typeof value !== 'string') continue;
        const r = compile(value, expects);
        if (typeof r === 'string') return `${where}: rateLimits[${i}].${field} ${JSON.stringify(value)} ${r}`;
      }
    }
    return null;
  };
  if (definition.kind === 'task') return check(definition.task, `task ${definition.task.name}`);
  const wf = definition.workflow;
  for (const [i, c] of (wf.concurrency ?? []).entries()) {
    const r = compile(c.expression, 'string');
    if (typeof r === 'string') return `workflow ${wf.name}: concurrency[${i}].expression ${JSON.stringify(c.expression)} ${r}`;
  }
  for (const task of [...wf.tasks, ...[wf.onFailure, wf.onSuccess].filter((h) => h !== null)]) {
    const problem = check(task, `workflow ${wf.name}: task ${task.name}`);
    if (problem) return problem;
  }
  return null;
}

/** The static rate-limit keys a definition uses (each must exist when it registers). */
export function staticRateLimitKeys(definition: RegisteredDefinition): Array<{ key: string; units: number; where: string }> {
  const tasks = definition.kind === 'task'
    ? [definition.task]
    : [...definition.workflow.tasks, ...[definition.workflow.onFailure, definition.workflow.onSuccess].filter((h) => h !== null)];
  return tasks.flatMap((t) =>
    (t.rateLimits ?? []).flatMap((r) => ('staticKey' in r ? [{ key: r.staticKey, units: r.units, where: `task ${t.name}` }] : [])),
  );
}

/** A task run's keys and rate-limit asks, or why they could not be worked out (the run then fails). */
export type Evaluated =
  | { ok: true; taskKeys: KeyRef[]; workflowKeys: KeyRef[]; rateLimits: Array<RateAsk & { dynamic: { limit: number; duration: RateLimitDuration } | null }> }
  | { ok: false; message: string };

export function evaluateRules(rules: ActionRules, context: { input: unknown; metadata: unknown; parents: unknown }): Evaluated {
  const ctx = { input: context.input ?? {}, metadata: context.metadata ?? {}, parents: context.parents ?? {} };
  const keys = (specs: readonly KeySpec[]): KeyRef[] =>
    specs.map((s) => {
      const v = run(s.evaluate, ctx, `concurrency expression ${JSON.stringify(s.expression)}`);
      if (typeof v !== 'string') throw new KeyError(`concurrency expression ${JSON.stringify(s.expression)} yielded ${describe(v)}, not a string; wrap it in string(…)`);
      if (v.length === 0 || v.length > 500) throw new KeyError(`concurrency expression ${JSON.stringify(s.expression)} yielded a key of ${v.length} characters; keys are 1 to 500`);
      return { rule: s.rule.id, key: v };
    });
  try {
    const taskKeys = keys(rules.task);
    const workflowKeys = keys(rules.workflow);
    const rateLimits = rules.rateLimits.map((r) => {
      if (r.kind === 'static') return { key: r.key, units: r.units, dynamic: null };
      const key = run(r.key, ctx, `rate-limit key ${JSON.stringify(r.expression)}`);
      if (typeof key !== 'string' || !RATE_LIMIT_KEY_PATTERN.test(key)) {
        throw new KeyError(`rate-limit key ${JSON.stringify(r.expression)} yielded ${describe(key)}; a key must be a string of ${RATE_LIMIT_KEY_RULE}`);
      }
      const units = count(r.units, ctx, 'units', r.expression);
      const limit = count(r.limit, ctx, 'limit', r.expression);
      return { key, units, dynamic: { limit, duration: r.duration } };
    });
    return { ok: true, taskKeys, workflowKeys, rateLimits };
  } catch (e: unknown) {
    if (e instanceof KeyError) return { ok: false, message: e.message };
    throw e;
  }
}

export function durationMs(duration: RateLimitDuration): number {
  return RATE_LIMIT_DURATION_MS[duration];
}

class KeyError extends Error {}

function run(fn: Compiled, ctx: { input: unknown; metadata: unknown; parents: unknown }, what: string): unknown {
  try {
    return fn(ctx);
  } catch (e: unknown) {
    throw new KeyError(`${what} failed on this run: ${firstLine(e instanceof Error ? e.message : String(e))}`);
  }
}

function count(v: Compiled | number, ctx: { input: unknown; metadata: unknown; parents: unknown }, field: string, key: string): number {
  if (typeof v === 'number') return v;
  const raw = run(v, ctx, `rate limit ${JSON.stringify(key)} ${field}`);
  const n = typeof raw === 'bigint' ? Number(raw) : raw;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > MAX_RATE_LIMIT) {
    throw new KeyError(`rate limit ${JSON.stringify(key)}: ${field} yielded ${describe(raw)}, not an integer from 1 to ${MAX_RATE_LIMIT}`);
  }
  return n;
}

function describe(v: unknown): string {
  if (typeof v === 'bigint') return `the integer ${v}`;
  if (typeof v === 'string') return JSON.stringify(v);
  if (v === null || v === undefined) return 'null';
  return typeof v === 'object' ? 'a map or list' : `${typeof v} ${String(v)}`;
}
