/**
 * The run as a Gantt chart, one row per task run, each attempt drawn as itself: waiting (for parents or
 * in the queue), assigned to a worker, running, and how it ended. A failed attempt is red and the wait
 * before the next one is drawn as a retry (backoff, then the queue), not folded into "waiting".
 *
 * A replayed run is drawn from its replay (the duration in the header counts from there too); its
 * earlier attempts are history, shown on request on the same axis, faded, left of a "replayed" line.
 */
import { useMemo, useState } from 'react';
import type { AttemptRecord, TaskRunRecord } from '../../../../shared/admin-api.ts';
import { useNow } from '../../../components/relative-time.tsx';
import { StatusPill } from '../../../components/status-pill.tsx';
import { dateTime, formatDuration, timeOfDay } from '../../../format.ts';
import { plural } from '../../../words.ts';
import type { DerivedRun } from '../hooks/use-run-details.ts';

const t = (iso: string | null): number | null => (iso ? Date.parse(iso) : null);

type SegmentKind = 'wait' | 'retry' | 'assigned' | 'run';
interface Segment {
  kind: SegmentKind;
  from: number;
  to: number;
  /** The attempt's outcome, for 'run' segments (running while it goes on). */
  status?: string;
  history: boolean;
  title: string;
}

interface Attempt {
  attempt: number;
  assignedAt: number;
  startedAt: number | null;
  finishedAt: number | null;
  status: string;
}

/** The task run's attempts in order: the ended ones, and the one in progress (which lives on the task run). */
function attemptsOf(run: DerivedRun, r: TaskRunRecord): Attempt[] {
  const ended = run.attemptsOf(r.id).map((a: AttemptRecord): Attempt => ({ attempt: a.attempt, assignedAt: Date.parse(a.assignedAt), startedAt: t(a.startedAt), finishedAt: t(a.finishedAt), status: a.status }));
  if ((r.status === 'assigned' || r.status === 'running') && r.assignedAt && !ended.some((a) => a.attempt === r.attempt)) {
    ended.push({ attempt: r.attempt, assignedAt: Date.parse(r.assignedAt), startedAt: t(r.startedAt), finishedAt: null, status: r.status });
  }
  return ended;
}

function segmentsOf(run: DerivedRun, r: TaskRunRecord, options: { from: number; replayAt: number | null; now: number }): { segments: Segment[]; attempts: number } {
  const { from, replayAt, now } = options;
  const isHistory = (at: number) => replayAt !== null && at < replayAt;
  const created = Date.parse(r.createdAt);
  // Where waiting began for something at `at`: the task's creation, or for the current try the replay.
  const waitStart = (at: number) => Math.max(created, from, isHistory(at) || replayAt === null ? 0 : replayAt);
  const shown = attemptsOf(run, r).filter((a) => a.assignedAt >= from);
  const segments: Segment[] = [];
  let cursor: number | null = null;
  let previous: Attempt | null = null;
  for (const a of shown) {
    const history = isHistory(a.assignedAt);
    if (previous === null || cursor === null) {
      const start = waitStart(a.assignedAt);
      if (a.assignedAt > start) segments.push({ kind: 'wait', from: start, to: a.assignedAt, history, title: 'waiting for its parents or a free worker' });
    } else if (isHistory(previous.assignedAt) && !history) {
      // Across the replay: the run had ended; the new try waited from the replay.
      segments.push({ kind: 'wait', from: replayAt!, to: a.assignedAt, history: false, title: 'waiting after the replay' });
    } else if (a.assignedAt > cursor) {
      segments.push({ kind: 'retry', from: cursor, to: a.assignedAt, history, title: `retry after attempt ${previous.attempt} failed: backoff, then the queue` });
    }
    const end = a.finishedAt ?? now;
    if (a.startedAt !== null && a.startedAt > a.assignedAt) segments.push({ kind: 'assigned', from: a.assignedAt, to: a.startedAt, history, title: `attempt ${a.attempt}: assigned, starting` });
    if (a.startedAt !== null || a.finishedAt !== null) {
      const runFrom = a.startedAt ?? a.assignedAt;
      segments.push({ kind: 'run', from: runFrom, to: end, status: a.status, history, title: `attempt ${a.attempt}: ${a.status}, ${formatDuration(end - runFrom)}` });
    } else {
      segments.push({ kind: 'assigned', from: a.assignedAt, to: end, history, title: `attempt ${a.attempt}: assigned, starting` });
    }
    cursor = end;
    previous = a;
  }
  const waiting = r.status === 'queued' || r.status === 'pending';
  const finished = t(r.finishedAt);
  if (waiting) {
    if (previous !== null && cursor !== null && !(replayAt !== null && isHistory(previous.assignedAt))) {
      // An attempt ended and the next waits: the retry backoff until available_at, then the queue.
      const available = Math.max(cursor, Date.parse(r.availableAt));
      if (available > cursor) segments.push({ kind: 'retry', from: cursor, to: Math.min(available, now), history: false, title: `retry backoff until ${timeOfDay(r.availableAt)}` });
      if (now > available) segments.push({ kind: 'wait', from: available, to: now, history: false, title: 'in the queue' });
    } else {
      segments.push({ kind: 'wait', from: waitStart(now), to: now, history: false, title: r.status === 'pending' ? 'waiting for its parents' : 'in the queue' });
    }
  } else if (shown.length === 0 && finished !== null && finished >= from) {
    // Ended without running in this view (cancelled, or not run because a parent failed): its wait, then a tick.
    const start = waitStart(finished);
    if (finished > start) segments.push({ kind: 'wait', from: start, to: finished, history: isHistory(finished), title: 'waiting for its parents' });
    segments.push({ kind: 'run', from: finished, to: finished, status: r.status, history: isHistory(finished), title: `${r.status} without running` });
  }
  return { segments, attempts: shown.length };
}

export function RunTimeline({ run, selected, onSelect }: { run: DerivedRun; selected: string | null; onSelect(taskName: string): void }) {
  const now = useNow(run.ended ? null : 500);
  const [showHistory, setShowHistory] = useState(false);
  const r = run.details.run;
  const replayAt = t(r.replayedAt);
  const from = showHistory || replayAt === null ? Date.parse(r.createdAt) : replayAt;
  const order = new Map(run.details.shape.nodes.map((n, i) => [n.taskName, i]));
  const rows = [...run.details.taskRuns].sort((a, b) => (order.get(a.taskName) ?? 0) - (order.get(b.taskName) ?? 0));
  const drawn = rows.map((row) => ({ row, ...segmentsOf(run, row, { from, replayAt, now }) }));
  const earlier = replayAt === null ? 0 : run.details.attempts.filter((a) => Date.parse(a.assignedAt) < replayAt).length;
  const end = Math.max(from + 1, r.finishedAt ? Date.parse(r.finishedAt) : now, ...drawn.flatMap((d) => d.segments.map((s) => s.to)));
  const span = end - from;
  const pct = (ms: number) => `${(((ms - from) / span) * 100).toFixed(3)}%`;
  const width = (a: number, b: number) => `${Math.max(0.15, ((b - a) / span) * 100).toFixed(3)}%`;
  const ticks = Array.from({ length: 6 }, (_, i) => (span * i) / 5);
  const labelWidth = useLabelWidth(rows.map((x) => x.taskName));
  return (
    <div className="gantt" data-testid="timeline" style={{ ['--gantt-label' as string]: `${labelWidth}px` }}>
      {replayAt !== null && (
        <div className="gantt-history muted small" data-testid="timeline-history">
          Replayed {timeOfDay(r.replayedAt)}: drawn from the replay{earlier > 0 ? `, with ${plural(earlier, 'earlier attempt')} before it` : ''}.
          {earlier > 0 && (
            <label className="checkbox-label">
              <input type="checkbox" checked={showHistory} onChange={(e) => setShowHistory(e.target.checked)} data-testid="timeline-show-history" /> Show them
            </label>
          )}
        </div>
      )}
      <div className="gantt-axis">
        <div className="gantt-label" />
        <div className="gantt-track">
          {ticks.map((ms, i) => (
            <span key={i} className="gantt-tick" style={{ left: `${(ms / span) * 100}%` }}>
              {formatDuration(ms)}
            </span>
          ))}
        </div>
      </div>
      {drawn.map(({ row, segments, attempts }) => {
        const last = segments.filter((s) => s.kind === 'run').at(-1);
        // Where the last attempt's bars begin: its 'assigned' bar, if any, comes just before its run.
        const beforeLast = last ? segments[segments.indexOf(last) - 1] : undefined;
        const lastFrom = beforeLast?.kind === 'assigned' ? beforeLast.from : (last?.from ?? from);
        const title = [`${row.taskName}: ${row.status}`, `created ${dateTime(row.createdAt)}`, ...segments.map((s) => `${s.title} (${timeOfDay(new Date(s.from).toISOString())} → ${timeOfDay(new Date(s.to).toISOString())})`)].join('\n');
        const kept = replayAt !== null && !showHistory && segments.length === 0 && row.status === 'succeeded';
        return (
          <div key={row.id} className={`gantt-row ${selected === row.taskName ? 'gantt-row-selected' : ''}`} onClick={() => onSelect(row.taskName)} data-testid={`gantt-row-${row.taskName}`} title={title}>
            <div className="gantt-label">
              <span className="gantt-name">{row.taskName}</span>
              <StatusPill status={row.status} />
            </div>
            <div className="gantt-track">
              {segments.map((s, i) => (
                <div
                  key={i}
                  className={`gantt-bar gantt-${s.kind} ${s.kind === 'run' ? `gantt-${s.status}` : ''} ${s.history ? 'gantt-history-bar' : ''}`}
                  style={{ left: pct(s.from), width: width(s.from, s.to) }}
                  data-kind={s.kind}
                  data-status={s.status}
                />
              ))}
              {replayAt !== null && showHistory && <div className="gantt-replay-line" style={{ left: pct(replayAt) }} title={`replayed ${dateTime(r.replayedAt)}`} />}
              {kept && <span className="gantt-kept muted small">kept from before the replay</span>}
              {last && (
                // Past two thirds of the track, the label goes left of the attempt's bars, or it would run off the edge.
                <span className="gantt-duration" style={(last.to - from) / span > 0.66 ? { right: `calc(100% - ${pct(lastFrom)} + 6px)` } : { left: `calc(${pct(last.to)} + 6px)` }}>
                  {formatDuration(last.to - last.from)}
                  {attempts > 1 ? ` · ${attempts} attempts` : ''}
                </span>
              )}
            </div>
          </div>
        );
      })}
      <div className="gantt-legend">
        <span>
          <i className="legend legend-wait" /> waiting
        </span>
        <span>
          <i className="legend legend-retry" /> retry backoff
        </span>
        <span>
          <i className="legend legend-assigned" /> assigned
        </span>
        <span>
          <i className="legend legend-run" /> running / done
        </span>
        <span>
          <i className="legend legend-failed" /> failed attempt
        </span>
      </div>
    </div>
  );
}

/** The label column fits the longest task name (within bounds); longer names wrap onto a second line. */
function useLabelWidth(names: string[]): number {
  return useMemo(() => {
    const context = document.createElement('canvas').getContext('2d');
    if (context) context.font = `12px ${getComputedStyle(document.body).fontFamily}`;
    const longest = Math.max(0, ...names.map((n) => (context ? context.measureText(n).width : n.length * 7)));
    // Name, the status pill (~90 px), padding.
    return Math.round(Math.min(380, Math.max(200, longest + 112)));
  }, [names.join('\n')]); // eslint-disable-line react-hooks/exhaustive-deps
}
