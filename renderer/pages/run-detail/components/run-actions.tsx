/**
 * Replay and cancel for one run, each behind a dialog that says what will happen before it does:
 * which tasks run again and which keep their outputs, which attempts are stopped, what becomes of the
 * run's children. A succeeded run can be replayed too (as Hatchet allows any ended run): nothing
 * failed, so the dialog asks which task to start from.
 */
import { useState } from 'react';
import { ConfirmDialog } from '../../../components/confirm-dialog.tsx';
import { shortId } from '../../../format.ts';
import { useAction } from '../../../hooks/use-admin-query.ts';
import { useApp, useClient } from '../../../state/app-store.ts';
import { nameList, plural } from '../../../words.ts';
import type { DerivedRun } from '../hooks/use-run-details.ts';

const ONLY_UNSUCCEEDED = '';

export function ReplayDialog({ run, fromTask: initial, onClose, onDone }: { run: DerivedRun; fromTask: string | null; onClose(): void; onDone(): void }) {
  const client = useClient();
  const notify = useApp((s) => s.notify);
  const { pending, act } = useAction();
  const r = run.details.run;
  const nothingFailed = run.replayPlan(null).rerun.length === 0;
  const [fromTask, setFromTask] = useState<string | null>(initial ?? (nothingFailed ? (run.rootNames[0] ?? null) : null));
  const plan = run.replayPlan(fromTask);
  const hooks = run.details.shape.nodes.filter((n) => n.kind === 'on_failure' || n.kind === 'on_success');
  const replay = async () => {
    const result = await act('Replay', () => client.call('runsReplay', { runIds: [r.id], ...(fromTask ? { fromTask } : {}) }));
    if (!result) return;
    notify('info', `Replaying ${plural(plan.rerun.length, 'task')} of run ${shortId(r.id)}`);
    onDone();
  };
  return (
    <ConfirmDialog
      title={`Replay run ${shortId(r.id)}?`}
      confirmLabel={`Replay ${plural(plan.rerun.length, 'task')}`}
      dismissLabel="Back"
      pending={pending}
      blocked={plan.rerun.length === 0 ? 'Choose a task to start from: every task succeeded.' : null}
      onConfirm={() => void replay()}
      onClose={onClose}
      testId="replay-dialog"
    >
      {nothingFailed && <p>Every task of this run succeeded, so nothing failed to run again: choose the task to start from.</p>}
      <label className="confirm-field">
        <span className="muted">Start from</span>
        <select className="select" value={fromTask ?? ONLY_UNSUCCEEDED} onChange={(e) => setFromTask(e.target.value || null)} data-testid="replay-from">
          {!nothingFailed && <option value={ONLY_UNSUCCEEDED}>the tasks that did not succeed</option>}
          {run.taskNames.map((name) => (
            <option key={name} value={name}>
              {name}
              {run.taskRunOf(name)?.status && run.taskRunOf(name)?.status !== 'succeeded' ? ` (${run.taskRunOf(name)!.status})` : ''}
            </option>
          ))}
        </select>
      </label>
      <p data-testid="replay-rerun">
        Runs again, on this same run: <strong>{plural(plan.rerun.length, 'task')}</strong> — <span className="mono">{nameList(plan.rerun)}</span>. Their
        attempts are numbered on from the last, so the earlier ones stay in the history.
      </p>
      {plan.kept.length > 0 && (
        <p data-testid="replay-kept">
          Keeps the outputs of {plural(plan.kept.length, 'task')} that succeeded before them: <span className="mono">{nameList(plan.kept)}</span>.
        </p>
      )}
      {hooks.map((h) => (
        <p key={h.taskName} className="muted">
          Its {h.kind === 'on_failure' ? 'on-failure' : 'on-success'} hook <span className="mono">{h.taskName}</span> runs again if the replay {h.kind === 'on_failure' ? 'fails' : 'succeeds'}.
        </p>
      ))}
    </ConfirmDialog>
  );
}

export function CancelDialog({ run, onClose, onDone }: { run: DerivedRun; onClose(): void; onDone(): void }) {
  const client = useClient();
  const notify = useApp((s) => s.notify);
  const { pending, act } = useAction();
  const [withChildren, setWithChildren] = useState(false);
  const r = run.details.run;
  const tasks = run.details.taskRuns;
  const running = tasks.filter((t) => t.status === 'running' || t.status === 'assigned');
  const waiting = tasks.filter((t) => t.status === 'pending' || t.status === 'queued');
  const done = tasks.filter((t) => t.status === 'succeeded' || t.status === 'failed' || t.status === 'cancelled');
  const { byStatus } = run.details.childCounts;
  const openChildren = byStatus.queued + byStatus.running;
  const cancel = async () => {
    const result = await act('Cancel', async () => {
      const own = await client.call('runsCancel', { runIds: [r.id] });
      const children = withChildren ? await client.call('runsCancel', { filter: { parentRunId: r.id, statuses: ['queued', 'running'] } }) : null;
      return { own, children };
    });
    if (!result) return;
    const childPart = result.children ? ` and ${plural(result.children.cancelled.length, 'child run')}` : '';
    notify('info', result.own.cancelled.length ? `Cancelled run ${shortId(r.id)}${childPart}` : `Run ${shortId(r.id)} had already ended: nothing to cancel${childPart ? `; cancelled${childPart}` : ''}`);
    onDone();
  };
  return (
    <ConfirmDialog
      title={`Cancel run ${shortId(r.id)}?`}
      confirmLabel={withChildren && openChildren > 0 ? `Cancel the run and ${plural(openChildren, 'child run')}` : 'Cancel the run'}
      dismissLabel="Keep it running"
      danger
      pending={pending}
      onConfirm={() => void cancel()}
      onClose={onClose}
      testId="cancel-dialog"
    >
      <p>The run of {r.workflowName} ends as cancelled:</p>
      <ul data-testid="cancel-effects">
        {running.length > 0 && (
          <li>
            {plural(running.length, 'running task')} ({nameList(running.map((t) => t.taskName), 3)}) {running.length === 1 ? 'is' : 'are'} told to stop —
            their <code>ctx.signal</code> aborts — and recorded as cancelled now.
          </li>
        )}
        {waiting.length > 0 && <li>{plural(waiting.length, 'waiting task')} will not start.</li>}
        {done.length > 0 && <li>{plural(done.length, 'finished task')} keep their results.</li>}
        <li>Hooks do not run.</li>
      </ul>
      {openChildren > 0 && (
        <label className="checkbox-label" data-testid="cancel-children">
          <input type="checkbox" checked={withChildren} onChange={(e) => setWithChildren(e.target.checked)} /> Also cancel its {plural(openChildren, 'child run')} that
          have not ended (they are not cancelled with their parent otherwise)
        </label>
      )}
    </ConfirmDialog>
  );
}
