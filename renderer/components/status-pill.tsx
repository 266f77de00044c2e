import type { RunStatus, TaskRunStatus } from '../../shared/types.ts';

export type AnyStatus = RunStatus | TaskRunStatus | 'active' | 'draining' | 'disconnected' | 'not run';

export function StatusPill({ status, testId }: { status: AnyStatus; testId?: string }) {
  return (
    <span className={`pill pill-${status.replace(' ', '-')}`} data-testid={testId} data-status={status}>
      <span className="pill-dot" />
      {status}
    </span>
  );
}
