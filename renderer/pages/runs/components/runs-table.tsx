/**
 * The runs table, virtualized: only the rows in view are in the DOM, so a list scrolled through
 * thousands of runs stays as fast as the first page. When a refresh adds runs above, the scroll
 * position is moved by as many rows, so the rows under the reader's eyes stay put.
 */
import { useVirtualizer } from '@tanstack/react-virtual';
import { useEffect, useLayoutEffect, useRef } from 'react';
import type { RunSummary } from '../../../../shared/admin-api.ts';
import { RelativeTime, useNow } from '../../../components/relative-time.tsx';
import { Spinner } from '../../../components/states.tsx';
import { StatusPill } from '../../../components/status-pill.tsx';
import { durationMs, formatDuration, shortId } from '../../../format.ts';

const ROW_H = 36;

export function RunsTable(props: {
  runs: RunSummary[];
  hasMore: boolean;
  loadingMore: boolean;
  loadMore(): void;
  selected: Set<string>;
  onToggle(runId: string): void;
  onToggleAll(): void;
  active: number;
  onOpen(run: RunSummary): void;
  showWorkflow?: boolean;
}) {
  const scrollRef = useRef<HTMLDivElement>(null);
  const now = useNow(1000);
  const count = props.runs.length + (props.hasMore ? 1 : 0);
  const virtualizer = useVirtualizer({ count, getScrollElement: () => scrollRef.current, estimateSize: () => ROW_H, overscan: 12 });
  const items = virtualizer.getVirtualItems();

  const last = items[items.length - 1];
  useEffect(() => {
    if (last && props.hasMore && !props.loadingMore && last.index >= props.runs.length - 20) props.loadMore();
  }, [last?.index, props.hasMore, props.loadingMore, props.runs.length, props.loadMore]);

  // Keep the first visible run where it was when rows are added above it.
  const anchor = useRef<{ id: string; offset: number } | null>(null);
  const onScroll = () => {
    const el = scrollRef.current;
    if (!el) return;
    const index = Math.floor(el.scrollTop / ROW_H);
    const run = props.runs[index];
    anchor.current = el.scrollTop > 0 && run ? { id: run.id, offset: el.scrollTop - index * ROW_H } : null;
  };
  useLayoutEffect(() => {
    const el = scrollRef.current;
    const a = anchor.current;
    if (!el || !a) return;
    const index = props.runs.findIndex((r) => r.id === a.id);
    if (index >= 0 && Math.abs(index * ROW_H + a.offset - el.scrollTop) >= 1) el.scrollTop = index * ROW_H + a.offset;
  }, [props.runs]);

  useEffect(() => {
    if (props.active >= 0) virtualizer.scrollToIndex(props.active, { align: 'auto' });
  }, [props.active, virtualizer]);

  const allSelected = props.runs.length > 0 && props.runs.every((r) => props.selected.has(r.id));
  return (
    <div className="table runs-table" role="table" aria-rowcount={props.runs.length}>
      <div className="thead" role="row">
        <div className="cell cell-check" role="columnheader">
          <input type="checkbox" checked={allSelected} onChange={props.onToggleAll} aria-label="Select all loaded runs" data-testid="select-all" />
        </div>
        <div className="cell cell-status" role="columnheader">Status</div>
        <div className="cell cell-workflow" role="columnheader">Workflow</div>
        <div className="cell cell-id" role="columnheader">Run</div>
        <div className="cell cell-trigger" role="columnheader">Trigger</div>
        <div className="cell cell-created" role="columnheader">Created</div>
        <div className="cell cell-duration" role="columnheader">Duration</div>
      </div>
      <div className="tbody" ref={scrollRef} onScroll={onScroll} data-testid="runs-scroll">
        <div style={{ height: virtualizer.getTotalSize(), position: 'relative' }}>
          {items.map((item) => {
            const run = props.runs[item.index];
            if (!run) {
              return (
                <div key="more" className="row row-more" style={{ transform: `translateY(${item.start}px)`, height: ROW_H }}>
                  <Spinner /> Loading more runs…
                </div>
              );
            }
            const selected = props.selected.has(run.id);
            return (
              <div
                key={run.id}
                role="row"
                className={`row ${selected ? 'row-selected' : ''} ${props.active === item.index ? 'row-active' : ''}`}
                style={{ transform: `translateY(${item.start}px)`, height: ROW_H }}
                onClick={() => props.onOpen(run)}
                data-testid="runs-row"
                data-run-id={run.id}
                data-status={run.status}
              >
                <div className="cell cell-check" onClick={(e) => e.stopPropagation()}>
                  <input type="checkbox" checked={selected} onChange={() => props.onToggle(run.id)} aria-label={`Select run ${shortId(run.id)}`} data-testid="row-check" />
                </div>
                <div className="cell cell-status">
                  <StatusPill status={run.status} testId="run-status" />
                </div>
                <div className="cell cell-workflow">
                  <span className="strong">{run.workflowName}</span>
                  <span className="muted small"> v{run.workflowVersion}</span>
                </div>
                <div className="cell cell-id mono" title={run.id}>
                  {shortId(run.id)}
                </div>
                <div className="cell cell-trigger">
                  <span className={`tag tag-${run.triggerKind}`}>{run.triggerKind}</span>
                </div>
                <div className="cell cell-created muted">
                  <RelativeTime iso={run.createdAt} />
                </div>
                <div className="cell cell-duration mono">
                  {formatDuration(durationMs(run.createdAt, run.finishedAt, now))}
                  {!run.finishedAt && <span className="muted"> …</span>}
                </div>
              </div>
            );
          })}
        </div>
      </div>
    </div>
  );
}
