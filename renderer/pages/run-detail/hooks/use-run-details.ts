/**
 * The run view's one read (runGet), refreshed when a pushed change names the run, plus what the views
 * derive from it — computed once here, not in each component.
 */
import { useMemo } from 'react';
import type { AttemptRecord, RunDetails, TaskRunRecord } from '../../../../shared/admin-api.ts';
import type { NodeState } from '../../../components/dag-graph.tsx';
import { durationMs, formatDuration } from '../../../format.ts';
import { useAdminQuery, type QueryState } from '../../../hooks/use-admin-query.ts';

export interface DerivedRun {
  details: RunDetails;
  taskRunOf(taskName: string): TaskRunRecord | undefined;
  attemptsOf(taskRunId: string): AttemptRecord[];
  nodeState(taskName: string): NodeState;
  ended: boolean;
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
  };
}
