/**
 * The run as a Gantt chart: one bar per task run, from when it was created (waiting on parents or in
 * the queue) through assignment to a worker, then running until it finished.
 */
import type { TaskRunRecord } from '../../../../shared/admin-api.ts';
import { useNow } from '../../../components/relative-time.tsx';
import { StatusPill } from '../../../components/status-pill.tsx';
import { dateTime, formatDuration } from '../../../format.ts';
import type { DerivedRun } from '../hooks/use-run-details.ts';

function t(iso: string | null): number | null {
  return iso ? Date.parse(iso) : null;
}

export function RunTimeline({ run, selected, onSelect }: { run: DerivedRun; selected: string | null; onSelect(taskName: string): void }) {
  const now = useNow(run.ended ? null : 500);
  const order = new Map(run.details.shape.nodes.map((n, i) => [n.taskName, i]));
  const rows = [...run.details.taskRuns].sort((a, b) => Date.parse(a.createdAt) - Date.parse(b.createdAt) || (order.get(a.taskName) ?? 0) - (order.get(b.taskName) ?? 0));
  const start = Date.parse(run.details.run.createdAt);
  const end = Math.max(
    start + 1,
    run.details.run.finishedAt ? Date.parse(run.details.run.finishedAt) : now,
    ...rows.map((r) => t(r.finishedAt) ?? (r.startedAt || r.assignedAt ? now : start)),
  );
  const span = end - start;
  const pct = (ms: number) => `${(((ms - start) / span) * 100).toFixed(3)}%`;
  const width = (from: number, to: number) => `${Math.max(0.15, ((to - from) / span) * 100).toFixed(3)}%`;
  const ticks = Array.from({ length: 6 }, (_, i) => (span * i) / 5);
  return (
    <div className="gantt" data-testid="timeline">
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
      {rows.map((r) => (
        <GanttRow key={r.id} r={r} now={now} start={start} pct={pct} width={width} selected={selected === r.taskName} onSelect={onSelect} />
      ))}
      <div className="gantt-legend">
        <span>
          <i className="legend legend-wait" /> waiting
        </span>
        <span>
          <i className="legend legend-assigned" /> assigned
        </span>
        <span>
          <i className="legend legend-run" /> running / done
        </span>
      </div>
    </div>
  );
}

function GanttRow(props: {
  r: TaskRunRecord;
  now: number;
  start: number;
  pct(ms: number): string;
  width(from: number, to: number): string;
  selected: boolean;
  onSelect(taskName: string): void;
}) {
  const { r, now } = props;
  const created = Date.parse(r.createdAt);
  const assigned = t(r.assignedAt);
  const started = t(r.startedAt);
  const finished = t(r.finishedAt);
  const waitEnd = assigned ?? started ?? finished ?? now;
  const title = [`${r.taskName}: ${r.status}`, `created ${dateTime(r.createdAt)}`, `assigned ${dateTime(r.assignedAt)}`, `started ${dateTime(r.startedAt)}`, `finished ${dateTime(r.finishedAt)}`].join('\n');
  return (
    <div className={`gantt-row ${props.selected ? 'gantt-row-selected' : ''}`} onClick={() => props.onSelect(r.taskName)} data-testid={`gantt-row-${r.taskName}`} title={title}>
      <div className="gantt-label">
        <span className="truncate">{r.taskName}</span>
        <StatusPill status={r.status} />
      </div>
      <div className="gantt-track">
        <div className="gantt-bar gantt-wait" style={{ left: props.pct(created), width: props.width(created, waitEnd) }} />
        {assigned !== null && <div className="gantt-bar gantt-assigned" style={{ left: props.pct(assigned), width: props.width(assigned, started ?? finished ?? now) }} />}
        {started !== null && <div className={`gantt-bar gantt-run gantt-${r.status}`} style={{ left: props.pct(started), width: props.width(started, finished ?? now) }} />}
        {started === null && finished !== null && <div className={`gantt-bar gantt-run gantt-${r.status}`} style={{ left: props.pct(finished), width: props.width(finished, finished) }} />}
        <span className="gantt-duration" style={{ left: `calc(${props.pct(finished ?? now)} + 6px)` }}>
          {started !== null ? formatDuration((finished ?? now) - started) : ''}
        </span>
      </div>
    </div>
  );
}
