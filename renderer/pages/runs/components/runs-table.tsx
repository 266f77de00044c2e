/**
 * The runs table, virtualized: only the rows in view are in the DOM, so a list scrolled through
 * thousands of runs stays as fast as the first page. When a refresh adds runs above, the scroll
 * position is moved by as many rows, so the rows under the reader's eyes stay put. It says which runs
 * are in view (`onVisible`): the list's slow refresh reads those again, not all it has loaded.
 *
 * A run that spawned children shows how many on its row; its expander lists them beneath it, a page
 * at a time, instead of the children filling the list on their own.
 */
import { useVirtualizer } from '@tanstack/react-virtual';
import { useEffect, useLayoutEffect, useRef } from 'react';
import type { RunSummary } from '../../../../shared/admin-api.ts';
import { RelativeTime, useNow } from '../../../components/relative-time.tsx';
import { Spinner } from '../../../components/states.tsx';
import { StatusPill } from '../../../components/status-pill.tsx';
import { durationMs, formatDuration, shortId } from '../../../format.ts';
import { withQuery } from '../../../router.ts';
import { plural } from '../../../words.ts';
import { CHILD_PAGE, type ChildPage } from '../hooks/use-expanded-children.ts';

const ROW_H = 36;

/** One line of the table: a run, a child under its expanded parent, or that group's paging line. */
export type TableRow =
  | { kind: 'run'; run: RunSummary; depth: 0 | 1 }
  | { kind: 'children-more'; parent: RunSummary; page: ChildPage }
  | { kind: 'list-more' };

export function tableRows(runs: RunSummary[], hasMore: boolean, expanded: ReadonlySet<string>, childrenOf: (runId: string) => ChildPage | undefined): TableRow[] {
  const rows: TableRow[] = [];
  for (const run of runs) {
    rows.push({ kind: 'run', run, depth: 0 });
    if (!expanded.has(run.id)) continue;
    const page = childrenOf(run.id);
    for (const child of page?.runs ?? []) rows.push({ kind: 'run', run: child, depth: 1 });
    if (page) rows.push({ kind: 'children-more', parent: run, page });
  }
  if (hasMore) rows.push({ kind: 'list-more' });
  return rows;
}

export function RunsTable(props: {
  rows: TableRow[];
  runCount: number;
  hasMore: boolean;
  loadingMore: boolean;
  loadMore(): void;
  selected: Set<string>;
  onToggle(runId: string): void;
  onToggleAll(): void;
  allSelected: boolean;
  active: number;
  onOpen(run: RunSummary): void;
  expanded: ReadonlySet<string>;
  onExpand(runId: string): void;
  onMoreChildren(runId: string): void;
  onVisible(runIds: string[]): void;
}) {
  const scrollRef = useRef<HTMLDivElement>(null);
  const now = useNow(1000);
  const { rows } = props;
  const virtualizer = useVirtualizer({ count: rows.length, getScrollElement: () => scrollRef.current, estimateSize: () => ROW_H, overscan: 12 });
  const items = virtualizer.getVirtualItems();

  const last = items[items.length - 1];
  const firstIndex = items[0]?.index ?? 0;
  const lastIndex = last?.index ?? -1;
  const { onVisible } = props;
  useEffect(() => {
    const ids: string[] = [];
    for (let i = firstIndex; i <= lastIndex; i++) {
      const row = rows[i];
      if (row?.kind === 'run') ids.push(row.run.id);
    }
    onVisible(ids);
  }, [firstIndex, lastIndex, rows, onVisible]);
  useEffect(() => {
    if (last && props.hasMore && !props.loadingMore && last.index >= rows.length - 20) props.loadMore();
  }, [last?.index, props.hasMore, props.loadingMore, rows.length, props.loadMore]);

  // Keep the first visible row where it was when rows are added above it.
  const keyOf = (row: TableRow | undefined): string | null => (row?.kind === 'run' ? row.run.id : row?.kind === 'children-more' ? `more:${row.parent.id}` : null);
  // `top` is the scroll position the anchor was taken at: a scroll whose event has not come yet (it
  // comes on the next frame) shows as a different position, and the anchor is taken again there, over
  // the rows that were on screen then. Otherwise a refresh landing between a scroll and its event moved
  // the reader back to where they had been (seen under load: a scroll to the end undone).
  const anchor = useRef<{ key: string; offset: number; top: number } | null>(null);
  const anchoredRows = useRef(rows);
  const anchorAt = (el: HTMLDivElement, over: readonly TableRow[]) => {
    const index = Math.floor(el.scrollTop / ROW_H);
    const key = keyOf(over[index]);
    return el.scrollTop > 0 && key ? { key, offset: el.scrollTop - index * ROW_H, top: el.scrollTop } : null;
  };
  const onScroll = () => {
    const el = scrollRef.current;
    if (!el) return;
    anchor.current = anchorAt(el, rows);
    anchoredRows.current = rows;
  };
  useLayoutEffect(() => {
    const el = scrollRef.current;
    if (!el) return;
    if (el.scrollTop !== (anchor.current?.top ?? 0)) anchor.current = anchorAt(el, anchoredRows.current);
    anchoredRows.current = rows;
    const a = anchor.current;
    if (!a) return;
    const index = rows.findIndex((r) => keyOf(r) === a.key);
    if (index >= 0 && Math.abs(index * ROW_H + a.offset - el.scrollTop) >= 1) {
      el.scrollTop = index * ROW_H + a.offset;
      anchor.current = { ...a, top: el.scrollTop };
    }
  }, [rows]);

  useEffect(() => {
    if (props.active >= 0) virtualizer.scrollToIndex(props.active, { align: 'auto' });
  }, [props.active, virtualizer]);

  return (
    <div className="table runs-table" role="table" aria-rowcount={props.runCount}>
      <div className="thead" role="row">
        <div className="cell cell-check" role="columnheader">
          <input type="checkbox" checked={props.allSelected} onChange={props.onToggleAll} aria-label="Select all loaded runs" data-testid="select-all" />
        </div>
        <div className="cell cell-status" role="columnheader">Status</div>
        <div className="cell cell-workflow" role="columnheader">Workflow</div>
        <div className="cell cell-children" role="columnheader">Children</div>
        <div className="cell cell-id" role="columnheader">Run</div>
        <div className="cell cell-trigger" role="columnheader">Trigger</div>
        <div className="cell cell-created" role="columnheader">Created</div>
        <div className="cell cell-duration" role="columnheader">Duration</div>
      </div>
      <div className="tbody" ref={scrollRef} onScroll={onScroll} data-testid="runs-scroll">
        <div style={{ height: virtualizer.getTotalSize(), position: 'relative' }}>
          {items.map((item) => {
            const row = rows[item.index]!;
            const style = { transform: `translateY(${item.start}px)`, height: ROW_H };
            if (row.kind === 'list-more') {
              return (
                <div key="more" className="row row-more" style={style}>
                  <Spinner /> Loading more runs…
                </div>
              );
            }
            if (row.kind === 'children-more') {
              const { parent, page } = row;
              const left = parent.childCount - page.runs.length;
              return (
                <div key={`more:${parent.id}`} className={`row row-child row-children-more ${props.active === item.index ? 'row-active' : ''}`} style={style} data-testid="children-more">
                  <div className="cell cell-check" />
                  <div className="cell children-more-text muted small">
                    {page.loading ? (
                      <>
                        <Spinner /> Loading child runs…
                      </>
                    ) : page.error ? (
                      <span className="danger">Could not load the child runs: {page.error.message}</span>
                    ) : (
                      <>
                        Showing {page.runs.length.toLocaleString('en-US')} of {plural(parent.childCount, 'child run')}
                        {page.nextCursor && (
                          <button className="btn btn-small" onClick={() => props.onMoreChildren(parent.id)} data-testid="children-more-button">
                            Show {Math.min(CHILD_PAGE, left).toLocaleString('en-US')} more
                          </button>
                        )}
                        <a href={withQuery('#/runs', { parent: parent.id })} className="small">
                          List all {parent.childCount.toLocaleString('en-US')} →
                        </a>
                      </>
                    )}
                  </div>
                </div>
              );
            }
            const { run, depth } = row;
            const selected = props.selected.has(run.id);
            const open = props.expanded.has(run.id);
            return (
              <div
                key={`${depth}:${run.id}`}
                role="row"
                className={`row ${depth ? 'row-child' : ''} ${selected ? 'row-selected' : ''} ${props.active === item.index ? 'row-active' : ''}`}
                style={style}
                onClick={() => props.onOpen(run)}
                data-testid={depth ? 'child-runs-row' : 'runs-row'}
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
                  {depth === 1 && (
                    <span className="child-mark" aria-hidden>
                      ↳
                    </span>
                  )}
                  <span className="strong">{run.workflowName}</span>
                  <span className="muted small"> v{run.workflowVersion}</span>
                </div>
                <div className="cell cell-children" onClick={(e) => run.childCount > 0 && e.stopPropagation()}>
                  {run.childCount > 0 && (
                    <button
                      className={`expander ${open ? 'expander-open' : ''}`}
                      onClick={() => props.onExpand(run.id)}
                      aria-expanded={open}
                      aria-label={`${open ? 'Hide' : 'Show'} the ${plural(run.childCount, 'child run')} of ${shortId(run.id)}`}
                      data-testid="expand-children"
                      data-count={run.childCount}
                    >
                      <span className="chevron-icon" aria-hidden>
                        ▸
                      </span>
                      {plural(run.childCount, 'child', 'children')}
                    </button>
                  )}
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
                <div className="cell cell-duration mono" title={run.replayedAt ? 'since the run was replayed' : undefined}>
                  {formatDuration(durationMs(run.replayedAt ?? run.createdAt, run.finishedAt, now))}
                  {!run.finishedAt && <span className="muted"> …</span>}
                  {run.replayedAt && <span className="muted small" title="replayed"> ↻</span>}
                </div>
              </div>
            );
          })}
        </div>
      </div>
    </div>
  );
}
