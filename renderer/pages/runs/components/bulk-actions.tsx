/**
 * Cancel or replay the selected runs, each behind a dialog that counts what it will do and what it will
 * leave alone. A button is enabled only when the selection holds runs it can act on; afterwards a notice
 * names what was skipped and why, in words (from the engine's answer, which may know better than the
 * list: a run can end between the click and the call).
 */
import { useState } from 'react';
import type { RunSkip, RunSkipReason, RunSummary } from '../../../../shared/admin-api.ts';
import { ConfirmDialog } from '../../../components/confirm-dialog.tsx';
import { useAction } from '../../../hooks/use-admin-query.ts';
import { useApp, useClient } from '../../../state/app-store.ts';
import { plural } from '../../../words.ts';

const ENDED = new Set(['succeeded', 'failed', 'cancelled']);

const SKIP_WORDS: Record<RunSkipReason, (n: number) => string> = {
  ended: (n) => `${plural(n, 'run')} had already ended`,
  'not-ended': (n) => `${plural(n, 'run')} ${n === 1 ? 'is' : 'are'} still queued or running (cancel ${n === 1 ? 'it' : 'them'} or wait for ${n === 1 ? 'it' : 'them'} to end)`,
  'nothing-to-replay': (n) => `${plural(n, 'run')} succeeded, so nothing failed to run again (open one to replay it from a task)`,
  'no-such-task': (n) => `${plural(n, 'run')} ${n === 1 ? 'has' : 'have'} no such task`,
  'not-found': (n) => `${plural(n, 'run')} no longer ${n === 1 ? 'exists' : 'exist'}`,
};

/** "Skipped 3: 2 runs had already ended; 1 run no longer exists." — or '' when nothing was skipped. */
export function skippedSentence(skipped: RunSkip[]): string {
  if (skipped.length === 0) return '';
  const byReason = new Map<RunSkipReason, number>();
  for (const s of skipped) byReason.set(s.reason, (byReason.get(s.reason) ?? 0) + 1);
  return ` Left alone: ${[...byReason].map(([reason, n]) => SKIP_WORDS[reason](n)).join('; ')}.`;
}

export function BulkActions({ selected, onClear, onDone }: { selected: RunSummary[]; onClear(): void; onDone(): void }) {
  const client = useClient();
  const notify = useApp((s) => s.notify);
  const { pending, act } = useAction();
  const [dialog, setDialog] = useState<'cancel' | 'replay' | null>(null);
  const active = selected.filter((r) => !ENDED.has(r.status));
  const ended = selected.filter((r) => ENDED.has(r.status));
  const replayable = ended.filter((r) => r.status !== 'succeeded');
  const succeeded = ended.filter((r) => r.status === 'succeeded');
  const withChildren = active.filter((r) => r.childCount > 0);

  const cancel = async () => {
    const result = await act('Cancel', () => client.call('runsCancel', { runIds: active.map((r) => r.id) }));
    if (!result) return;
    const skipped = [...result.skipped, ...ended.map((r): RunSkip => ({ runId: r.id, reason: 'ended', status: r.status }))];
    notify('info', `Cancelled ${plural(result.cancelled.length, 'run')}.${skippedSentence(skipped)}`);
    setDialog(null);
    onDone();
  };
  const replay = async () => {
    const ids = replayable.map((r) => r.id);
    // Succeeded and unfinished runs are not sent: the engine would skip them too, and a lone run it
    // cannot replay is refused with an error rather than skipped.
    const result = await act('Replay', () => client.call('runsReplay', { runIds: ids }));
    if (!result) return;
    const skipped = [...result.skipped, ...succeeded.map((r): RunSkip => ({ runId: r.id, reason: 'nothing-to-replay', status: r.status })), ...active.map((r): RunSkip => ({ runId: r.id, reason: 'not-ended', status: r.status }))];
    notify('info', `Replaying ${plural(result.replayed.length, 'run')}.${skippedSentence(skipped)}`);
    setDialog(null);
    onDone();
  };
  return (
    <div className="bulk-bar" data-testid="bulk-bar">
      <span>
        <strong>{selected.length}</strong> selected
      </span>
      <button
        className="btn btn-small"
        disabled={pending || active.length === 0}
        onClick={() => setDialog('cancel')}
        data-testid="bulk-cancel"
        title={active.length === 0 ? 'Every selected run has ended: there is nothing to cancel' : undefined}
      >
        {active.length === 0 ? 'Cancel' : `Cancel ${plural(active.length, 'run')}…`}
      </button>
      <button
        className="btn btn-small"
        disabled={pending || replayable.length === 0}
        onClick={() => setDialog('replay')}
        data-testid="bulk-replay"
        title={
          replayable.length > 0
            ? undefined
            : succeeded.length > 0
              ? 'The selected runs succeeded: nothing failed to run again. Open one to replay it from a task.'
              : 'Only runs that failed or were cancelled can be replayed here; the selected runs have not ended'
        }
      >
        {replayable.length === 0 ? 'Replay' : `Replay ${plural(replayable.length, 'run')}…`}
      </button>
      <button className="btn btn-ghost btn-small" onClick={onClear}>
        Clear <kbd>esc</kbd>
      </button>
      {dialog === 'cancel' && (
        <ConfirmDialog
          title={`Cancel ${plural(active.length, 'run')}?`}
          confirmLabel={`Cancel ${plural(active.length, 'run')}`}
          dismissLabel="Keep them running"
          danger
          pending={pending}
          onConfirm={() => void cancel()}
          onClose={() => setDialog(null)}
          testId="bulk-cancel-dialog"
        >
          <p>
            {plural(active.length, 'run')} that {active.length === 1 ? 'has' : 'have'} not ended {active.length === 1 ? 'ends' : 'end'} as cancelled: running tasks are told to stop
            (their <code>ctx.signal</code> aborts) and waiting tasks will not start. Hooks do not run.
          </p>
          {ended.length > 0 && <p className="muted">{plural(ended.length, 'selected run')} already ended and {ended.length === 1 ? 'is' : 'are'} left as {ended.length === 1 ? 'it is' : 'they are'}.</p>}
          {withChildren.length > 0 && (
            <p className="muted">
              Their child runs are not cancelled with them ({plural(withChildren.reduce((n, r) => n + r.childCount, 0), 'child run')} in all): select them under their parents to cancel them too.
            </p>
          )}
        </ConfirmDialog>
      )}
      {dialog === 'replay' && (
        <ConfirmDialog
          title={`Replay ${plural(replayable.length, 'run')}?`}
          confirmLabel={`Replay ${plural(replayable.length, 'run')}`}
          pending={pending}
          onConfirm={() => void replay()}
          onClose={() => setDialog(null)}
          testId="bulk-replay-dialog"
        >
          <p>
            Each of the {plural(replayable.length, 'run')} that failed or {replayable.length === 1 ? 'was' : 'were'} cancelled runs again on itself: the tasks that did not
            succeed, and what depends on them, run as new attempts; the tasks that succeeded keep their outputs.
          </p>
          {(succeeded.length > 0 || active.length > 0) && (
            <p className="muted">
              Left alone:
              {succeeded.length > 0 && ` ${plural(succeeded.length, 'run')} that succeeded (nothing failed to run again — open one to replay it from a task)`}
              {succeeded.length > 0 && active.length > 0 && ';'}
              {active.length > 0 && ` ${plural(active.length, 'run')} still queued or running`}.
            </p>
          )}
        </ConfirmDialog>
      )}
    </div>
  );
}
