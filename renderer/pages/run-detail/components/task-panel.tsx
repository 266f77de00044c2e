/** The side panel for one task of a run: actions, error, input and output, its stream, attempts and logs. */
import type { AttemptRecord, TaskRunRecord, WorkerRecord } from '../../../../shared/admin-api.ts';
import { JsonView } from '../../../components/json-view.tsx';
import { Spinner } from '../../../components/states.tsx';
import { StatusPill } from '../../../components/status-pill.tsx';
import { dateTime, durationMs, formatDuration, shortId, timeOfDay } from '../../../format.ts';
import { useState } from 'react';
import { ErrorDetails } from '../../../components/error-details.tsx';
import { LogFields, TruncatedMark } from '../../../components/log-parts.tsx';
import { useAdminQuery } from '../../../hooks/use-admin-query.ts';
import type { DerivedRun } from '../hooks/use-run-details.ts';
import { describeWait } from '../../../../shared/wait-reason.ts';
import { ReplayDialog } from './run-actions.tsx';
import { TaskStream } from './task-stream.tsx';
import { useRunStream } from '../hooks/use-run-stream.ts';

export function TaskPanel({ run, taskName, onClose, onChanged }: { run: DerivedRun; taskName: string; onClose(): void; onChanged(): void }) {
  const [replaying, setReplaying] = useState(false);
  const stream = useRunStream(run.details.run.id);
  const taskRun = run.taskRunOf(taskName);
  const node = run.details.shape.nodes.find((n) => n.taskName === taskName);
  const hook = node?.kind === 'on_failure' || node?.kind === 'on_success';
  // Retrying a failed task and replaying from a succeeded one are one operation (a replay from this
  // task): the button says which it is.
  const label = taskRun && (taskRun.status === 'failed' || taskRun.status === 'cancelled') ? 'Retry this task…' : 'Replay from this task…';
  return (
    <aside className="panel" data-testid="task-panel" aria-label={`task ${taskName}`}>
      <div className="panel-head">
        <div>
          <div className="panel-title">{taskName}</div>
          <div className="muted small mono">{node?.action ?? ''}</div>
        </div>
        <div className="panel-head-right">
          <StatusPill status={taskRun?.status ?? 'not run'} testId="task-status" />
          <button className="btn btn-ghost btn-icon" onClick={onClose} aria-label="Close panel (Esc)" title="Close (Esc)" data-testid="task-panel-close">
            ✕
          </button>
        </div>
      </div>
      <div className="panel-actions">
        <button
          className="btn btn-small"
          disabled={!run.ended || hook}
          onClick={() => setReplaying(true)}
          data-testid="replay-from-task"
          title={hook ? 'Hooks run again with the run they belong to: replay the run' : !run.ended ? 'The run has not ended yet' : `Run ${taskName} and everything after it again`}
        >
          {label}
        </button>
      </div>
      {replaying && (
        <ReplayDialog
          run={run}
          fromTask={taskName}
          onClose={() => setReplaying(false)}
          onDone={() => {
            setReplaying(false);
            onChanged();
          }}
        />
      )}
      {!taskRun ? (
        <div className="panel-section muted">This {hook ? 'hook' : 'task'} has not run in this run.</div>
      ) : (
        <>
          <div className="panel-section kv">
            <span>Kind</span>
            <span>{taskRun.kind.replace('_', ' ')}</span>
            <span>Attempt</span>
            <span>
              {taskRun.attempt} of {taskRun.maxAttempts}
            </span>
            <span>Duration</span>
            <span className="mono">{formatDuration(durationMs(taskRun.startedAt, taskRun.finishedAt))}</span>
            {taskRun.waitReason && (
              <>
                <span>Waiting</span>
                <span data-testid="task-wait-reason">{describeWait(taskRun.waitReason)}</span>
              </>
            )}
            {taskRun.failureReason && (
              <>
                <span>Reason</span>
                <span className="mono">{taskRun.failureReason}</span>
              </>
            )}
            <span>Task run</span>
            <span className="mono" title={taskRun.id}>
              {taskRun.id}
            </span>
          </div>
          {taskRun.error && (
            <Section title="Error">
              <ErrorDetails error={taskRun.error} testId="task-error" />
            </Section>
          )}
          {/* Shown once the task has streamed: what a streaming task is watched for comes first. */}
          {(stream.tasks.has(taskRun.id) || stream.error) && (
            <Section title="Stream">
              <TaskStream stream={stream} taskRunId={taskRun.id} running={taskRun.status === 'running' || taskRun.status === 'assigned'} />
            </Section>
          )}
          <Section title="Input">
            <JsonView value={taskRun.input} testId="task-input" />
          </Section>
          <Section title="Output">
            <JsonView value={taskRun.output} testId="task-output" empty={taskRun.status === 'succeeded' ? 'null' : taskRun.status === 'failed' || taskRun.status === 'cancelled' ? `none: the task ${taskRun.status}` : 'not finished yet'} />
          </Section>
          <Section title="Attempts">
            <Attempts taskRun={taskRun} attempts={run.attemptsOf(taskRun.id)} replayedAt={run.details.run.replayedAt} />
          </Section>
          <Section title="Logs">
            <Logs taskRun={taskRun} />
          </Section>
        </>
      )}
    </aside>
  );
}

function Section({ title, children }: { title: string; children: React.ReactNode }) {
  return (
    <section className="panel-section">
      <h3 className="section-title">{title}</h3>
      {children}
    </section>
  );
}

function useWorkerNames(): (id: string | null) => string {
  const workers = useAdminQuery('workersList:all', (c) => c.call('workersList', { includeDisconnected: true }), { keepPrevious: true, refreshOn: (c) => c.workers });
  const byId = new Map((workers.data?.workers ?? []).map((w: WorkerRecord) => [w.id, w.name]));
  return (id) => (id ? (byId.get(id) ?? shortId(id)) : '—');
}

interface AttemptRow {
  attempt: number;
  workerId: string | null;
  status: AttemptRecord['status'] | 'assigned' | 'running';
  error: AttemptRecord['error'];
  queuedAt: string | null;
  assignedAt: string | null;
  startedAt: string | null;
  finishedAt: string | null;
  current: boolean;
}

/** Ended attempts from the attempts table, and the attempt in progress from the task run itself. */
function Attempts({ taskRun, attempts, replayedAt }: { taskRun: TaskRunRecord; attempts: AttemptRecord[]; replayedAt: string | null }) {
  const workerName = useWorkerNames();
  const rows: AttemptRow[] = attempts.map((a) => ({ ...a, queuedAt: null, current: false }));
  const waiting = taskRun.status === 'queued' || taskRun.status === 'pending';
  if ((taskRun.status === 'assigned' || taskRun.status === 'running') && !attempts.some((a) => a.attempt === taskRun.attempt)) {
    rows.push({
      attempt: taskRun.attempt,
      workerId: taskRun.workerId,
      status: taskRun.status,
      error: null,
      queuedAt: taskRun.availableAt,
      assignedAt: taskRun.assignedAt,
      startedAt: taskRun.startedAt,
      finishedAt: null,
      current: true,
    });
  }
  if (rows.length === 0) return <div className="muted small">{waiting ? `Not started: ${taskRun.status}${taskRun.status === 'queued' ? ` since ${timeOfDay(taskRun.availableAt)}` : ''}.` : 'No attempts recorded.'}</div>;
  // Attempts before the run's last replay are its history: a line marks where the current try begins.
  const replayAt = replayedAt ? Date.parse(replayedAt) : null;
  const firstCurrent = replayAt === null ? -1 : rows.findIndex((a) => a.assignedAt !== null && Date.parse(a.assignedAt) >= replayAt);
  return (
    <ol className="attempts" data-testid="attempts">
      {rows.map((a, i) => (
        <li key={a.attempt} className={`attempt ${replayAt !== null && (firstCurrent === -1 || i < firstCurrent) ? 'attempt-history' : ''}`}>
          {i === firstCurrent && firstCurrent > 0 && <div className="attempt-replayed">replayed {timeOfDay(replayedAt)}</div>}
          <div className="attempt-head">
            <span className="strong">#{a.attempt}</span>
            <StatusPill status={a.status} />
            <span className="muted small">on {workerName(a.workerId)}</span>
            {a.current && <Spinner />}
          </div>
          <div className="attempt-steps">
            {a.queuedAt && <Step label="queued" at={a.queuedAt} />}
            <Step label="assigned" at={a.assignedAt} />
            <Step label="started" at={a.startedAt} base={a.assignedAt} />
            <Step label="finished" at={a.finishedAt} base={a.startedAt ?? a.assignedAt} />
          </div>
          {a.error && <div className="attempt-error">{a.error.message}</div>}
        </li>
      ))}
    </ol>
  );
}

function Step({ label, at, base }: { label: string; at: string | null; base?: string | null }) {
  return (
    <div className={`step ${at ? '' : 'step-missing'}`} title={dateTime(at)}>
      <span className="step-label">{label}</span>
      <span className="mono">{timeOfDay(at)}</span>
      <span className="muted mono small">{at && base ? `+${formatDuration(durationMs(base, at))}` : ''}</span>
    </div>
  );
}

/** Lines the panel shows; a log cut at its cap says so below them either way. */
const LOG_PAGE = 500;

function Logs({ taskRun }: { taskRun: TaskRunRecord }) {
  const running = taskRun.status === 'running' || taskRun.status === 'assigned';
  const logs = useAdminQuery(`taskLogs:${taskRun.id}:${taskRun.attempt}:${taskRun.status}`, (c) => c.call('taskLogs', { taskRunId: taskRun.id, limit: LOG_PAGE }), {
    keepPrevious: true,
    refreshOn: (c) => running && c.runIds.includes(taskRun.runId),
  });
  if (logs.error && !logs.data) return <div className="error-box small">{logs.error.message}</div>;
  if (!logs.data) return <div className="muted small">Loading logs…</div>;
  if (logs.data.lines.length === 0) return <div className="muted small">No log lines. Tasks write them with <code>ctx.log(message, level)</code> or <code>ctx.logger.info(message, fields)</code>.</div>;
  return (
    <div className="logs" data-testid="task-logs">
      {logs.data.lines.map((l) => (
        <div key={l.id} className={`log log-${l.level} ${l.truncated ? 'log-truncated-line' : ''}`}>
          <span className="mono muted">{timeOfDay(l.createdAt)}</span>
          <span className="log-attempt muted">#{l.attempt}</span>
          <span className={`log-level log-level-${l.level}`}>{l.level}</span>
          {l.truncated ? (
            <TruncatedMark truncated={l.truncated} />
          ) : (
            <>
              <span className="log-message">{l.message}</span>
              <LogFields fields={l.fields} />
            </>
          )}
        </div>
      ))}
      {logs.data.lines.length === LOG_PAGE && <div className="log muted small">Showing the first {LOG_PAGE} lines.</div>}
      {logs.data.truncated && !logs.data.lines.some((l) => l.truncated) && (
        <div className="log log-truncated-line">
          <TruncatedMark truncated={logs.data.truncated} />
        </div>
      )}
    </div>
  );
}
