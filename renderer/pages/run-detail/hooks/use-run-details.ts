/**
 * The run view's one read (runGet), refreshed when a pushed change names the run, plus what the views
 * derive from it — computed once here, not in each component.
 */
import { useMemo } from 'react';
import type { AttemptRecord, RunDetails, TaskRunRecord } from '../../../../shared/admin-api.ts';
import type { NodeState } from '../../../components/dag/dag-graph.tsx';
import { durationMs, formatDuration } from '../../../format.ts';
import { useAdminQuery, type QueryState } from '../../../hooks/use-admin-query.ts';

/** What a replay would do, worked out as engine/sql/run-replay.ts does it. */
export interface ReplayPlan {
  /** Tasks that run again: the one named, every task that did not succeed, and all their descendants. */
  rerun: string[];
  /** Tasks that keep their output. */
  kept: string[];
}

export interface DerivedRun {
  details: RunDetails;
  taskRunOf(taskName: string): TaskRunRecord | undefined;
  attemptsOf(taskRunId: string): AttemptRecord[];
  nodeState(taskName: string): NodeState;
  ended: boolean;
  /** When the current try began: the last replay, else the run's creation. */
  startedAt: string;
  /** The task whose failure failed the run (the first to fail for good), if it failed. */
  failedTask: TaskRunRecord | undefined;
  /** The tasks (not hooks) in the workflow's order. */
  taskNames: string[];
  /** Tasks with no parents: where a run that succeeded is replayed from by default. */
  rootNames: string[];
  replayPlan(fromTask: string | null): ReplayPlan;
}

export function useRunDetails(runId: string): QueryState<RunDetails> & { derived: DerivedRun | undefined } {
  const query = useAdminQuery(`runGet:${runId}`, (c) => c.call('runGet', { runId }), {
    refreshOn: (change) => change.runIds.includes(runId),
  });
  const details = query.data;
  const derived = useMemo(() => (details ? derive(details) : undefined), [details]);
  return { ...query, derived };
}

function derive(details: RunDetails): DerivedRun {
  const byName = new Map(details.taskRuns.map((t) => [t.taskName, t]));
  const attempts = new Map<string, AttemptRecord[]>();
  for (const a of details.attempts) {
    const list = attempts.get(a.taskRunId) ?? [];
    list.push(a);
    attempts.set(a.taskRunId, list);
  }
  for (const list of attempts.values()) list.sort((a, b) => a.attempt - b.attempt);
  const taskNames = details.shape.nodes.filter((n) => n.kind === 'dag' || n.kind === 'standalone').map((n) => n.taskName);
  const parents = new Map<string, string[]>(taskNames.map((n) => [n, []]));
  for (const e of details.shape.edges) parents.get(e.to)?.push(e.from);
  const ancestors = new Map<string, Set<string>>();
  const ancestorsOf = (name: string): Set<string> => {
    let set = ancestors.get(name);
    if (set) return set;
    set = new Set();
    ancestors.set(name, set);
    for (const p of parents.get(name) ?? []) {
      set.add(p);
      for (const a of ancestorsOf(p)) set.add(a);
    }
    return set;
  };
  const failed = details.taskRuns
    .filter((t) => t.status === 'failed' && t.failureReason !== 'UPSTREAM_FAILED' && t.kind !== 'on_failure')
    .sort((a, b) => Date.parse(a.finishedAt ?? a.createdAt) - Date.parse(b.finishedAt ?? b.createdAt));
  return {
    details,
    taskRunOf: (name) => byName.get(name),
    attemptsOf: (id) => attempts.get(id) ?? [],
    nodeState: (name) => {
      const t = byName.get(name);
      if (!t) return { status: 'not run', detail: 'not run' };
      const parts: string[] = [];
      if (t.startedAt) parts.push(formatDuration(durationMs(t.startedAt, t.finishedAt)));
      else parts.push(t.status);
      if (t.attempt > 1) parts.push(`attempt ${t.attempt}`);
      if (t.failureReason === 'UPSTREAM_FAILED') parts.splice(0, parts.length, 'upstream failed');
      return { status: t.status, detail: parts.join(' · ') };
    },
    ended: ['succeeded', 'failed', 'cancelled'].includes(details.run.status),
    startedAt: details.run.replayedAt ?? details.run.createdAt,
    failedTask: details.run.status === 'failed' ? failed[0] : undefined,
    taskNames,
    rootNames: taskNames.filter((n) => (parents.get(n) ?? []).length === 0),
    replayPlan: (fromTask) => {
      const seed = new Set(taskNames.filter((n) => byName.get(n)?.status !== 'succeeded' || n === fromTask));
      const rerun = taskNames.filter((n) => seed.has(n) || [...ancestorsOf(n)].some((a) => seed.has(a)));
      return { rerun, kept: taskNames.filter((n) => !rerun.includes(n)) };
    },
  };
}
