/**
 * A run's (or a workflow version's) DAG as SVG, laid out by dag-layout.ts for the space it has: names
 * measured so each is readable, wide fan-outs packed into a grid, the direction chosen to fit. It is
 * shown at full size when it fits and never shrunk by itself below AUTO_MIN_SCALE — a graph larger
 * than that scrolls, and can be panned by dragging and zoomed (buttons, Ctrl + wheel). When the space
 * changes (the task panel opens) the layout is redone for the new width rather than the text shrunk.
 */
import { useCallback, useEffect, useLayoutEffect, useMemo, useRef, useState, type PointerEvent as ReactPointerEvent } from 'react';
import type { RunShape } from '../../../shared/admin-api.ts';
import type { AnyStatus } from '../status-pill.tsx';
import { endEllipsis, GROUP_HEAD, GROUP_PAD, isHook, layoutDag, NAME_LINE_H, TEXT_X, type DagLayout, type Measure } from './dag-layout.ts';
import './dag-graph.css';

/** The automatic zoom stays within these; the buttons and Ctrl + wheel go further. */
const AUTO_MIN_SCALE = 0.9;
const MIN_SCALE = 0.3;
const MAX_SCALE = 2;
/** Widths are rounded to this before laying out again, so a resize does not lay out every pixel. */
const WIDTH_STEP = 40;

export interface NodeState {
  status: AnyStatus;
  /** Second line, e.g. "1.2s · attempt 2". */
  detail?: string;
}

/** Text widths from a canvas, in the fonts the node labels are drawn with (see dag-graph.css). */
function canvasMeasure(fontFamily: string): Measure {
  const context = document.createElement('canvas').getContext('2d');
  const fonts = { name: `600 12.5px ${fontFamily}`, detail: `11px ${fontFamily}` };
  const cache = new Map<string, number>();
  return (text, font) => {
    const key = `${font}\n${text}`;
    let width = cache.get(key);
    if (width === undefined) {
      if (context) {
        context.font = fonts[font];
        width = context.measureText(text).width;
      } else {
        width = text.length * (font === 'name' ? 7.5 : 6.5);
      }
      cache.set(key, width);
    }
    return width;
  };
}

function path(points: Array<{ x: number; y: number }>): string {
  if (points.length === 0) return '';
  const [first, ...rest] = points;
  let d = `M${first!.x},${first!.y}`;
  // A smooth curve through dagre's control points.
  for (let i = 0; i < rest.length; i++) {
    const p = rest[i]!;
    const prev = i === 0 ? first! : rest[i - 1]!;
    const mx = (prev.x + p.x) / 2;
    const my = (prev.y + p.y) / 2;
    d += Math.abs(p.x - prev.x) >= Math.abs(p.y - prev.y) ? ` C${mx},${prev.y} ${mx},${p.y} ${p.x},${p.y}` : ` C${prev.x},${my} ${p.x},${my} ${p.x},${p.y}`;
  }
  return d;
}

const cssStatus = (status: AnyStatus): string => status.replace(' ', '-');

/** One status for a fan-out's frame and its edges: the members' if they agree, else the liveliest. */
function groupStatus(statuses: AnyStatus[]): AnyStatus {
  if (statuses.every((s) => s === statuses[0])) return statuses[0] ?? 'pending';
  for (const s of ['running', 'assigned', 'queued', 'failed'] as const) if (statuses.includes(s)) return s;
  return 'pending';
}

function groupLabel(statuses: AnyStatus[], withStatus: boolean): string {
  if (!withStatus) return `${statuses.length} tasks in parallel`;
  const counts = new Map<AnyStatus, number>();
  for (const s of statuses) counts.set(s, (counts.get(s) ?? 0) + 1);
  const parts = [...counts].map(([s, n]) => `${n} ${s}`);
  return `${statuses.length} tasks in parallel · ${parts.join(' · ')}`;
}

export function DagGraph(props: {
  shape: RunShape;
  stateOf(taskName: string): NodeState;
  selected?: string | null;
  onSelect?(taskName: string): void;
  /** A workflow's graph, not a run's: there are no statuses to count. */
  definitionOnly?: boolean;
  testId?: string;
}) {
  const viewport = useRef<HTMLDivElement>(null);
  const [space, setSpace] = useState<{ width: number; height: number } | null>(null);
  const [zoom, setZoom] = useState<number | 'auto'>('auto');
  const measure = useMemo(() => canvasMeasure(getComputedStyle(document.body).fontFamily), []);

  useLayoutEffect(() => {
    const el = viewport.current;
    if (!el) return;
    const update = () => {
      const top = el.getBoundingClientRect().top;
      // The graph may use the window's height below its top, less room for the hint under it.
      const height = Math.max(260, Math.round(window.innerHeight - Math.max(top, 0) - 64));
      const width = Math.max(WIDTH_STEP * 6, Math.floor((el.clientWidth - 8) / WIDTH_STEP) * WIDTH_STEP);
      setSpace((s) => (s && s.width === width && s.height === height ? s : { width, height }));
    };
    update();
    const observer = new ResizeObserver(update);
    observer.observe(el);
    window.addEventListener('resize', update);
    return () => {
      observer.disconnect();
      window.removeEventListener('resize', update);
    };
  }, []);

  const layout: DagLayout | null = useMemo(() => (space ? layoutDag(props.shape, measure, space) : null), [props.shape, measure, space]);
  const fit = layout && space ? Math.min(space.width / layout.width, space.height / layout.height) : 1;
  const scale = zoom === 'auto' ? Math.min(1, Math.max(AUTO_MIN_SCALE, fit)) : zoom;

  // A selected task (opened from the graph, the timeline or a link) is scrolled into view.
  useEffect(() => {
    if (!props.selected || !viewport.current) return;
    const node = viewport.current.querySelector<SVGGElement>(`[data-testid="dag-node-${CSS.escape(props.selected)}"]`);
    node?.scrollIntoView({ block: 'nearest', inline: 'nearest' });
  }, [props.selected, layout]);

  const zoomBy = useCallback(
    (factor: number, around?: { x: number; y: number }) => {
      const el = viewport.current;
      const next = Math.min(MAX_SCALE, Math.max(MIN_SCALE, Math.round(scale * factor * 100) / 100));
      if (!el || next === scale) return;
      // Keep the point under the pointer (or the middle) where it is.
      const rect = el.getBoundingClientRect();
      const px = around ? around.x - rect.left : el.clientWidth / 2;
      const py = around ? around.y - rect.top : el.clientHeight / 2;
      const gx = (el.scrollLeft + px) / scale;
      const gy = (el.scrollTop + py) / scale;
      setZoom(next);
      requestAnimationFrame(() => {
        el.scrollLeft = gx * next - px;
        el.scrollTop = gy * next - py;
      });
    },
    [scale],
  );

  useEffect(() => {
    const el = viewport.current;
    if (!el) return;
    const onWheel = (e: WheelEvent) => {
      if (!e.ctrlKey && !e.metaKey) return;
      e.preventDefault();
      zoomBy(e.deltaY < 0 ? 1.1 : 1 / 1.1, { x: e.clientX, y: e.clientY });
    };
    el.addEventListener('wheel', onWheel, { passive: false });
    return () => el.removeEventListener('wheel', onWheel);
  }, [zoomBy]);

  // Drag the background to pan; a click on a task still selects it.
  const drag = useRef<{ x: number; y: number; left: number; top: number; moved: boolean } | null>(null);
  const onPointerDown = (e: ReactPointerEvent<HTMLDivElement>) => {
    const el = viewport.current;
    if (!el || e.button !== 0 || (e.target as Element).closest('.dag-node, .dag-tools')) return;
    drag.current = { x: e.clientX, y: e.clientY, left: el.scrollLeft, top: el.scrollTop, moved: false };
    el.setPointerCapture(e.pointerId);
  };
  const onPointerMove = (e: ReactPointerEvent<HTMLDivElement>) => {
    const el = viewport.current;
    const d = drag.current;
    if (!el || !d) return;
    if (Math.abs(e.clientX - d.x) + Math.abs(e.clientY - d.y) > 3) d.moved = true;
    el.scrollLeft = d.left - (e.clientX - d.x);
    el.scrollTop = d.top - (e.clientY - d.y);
  };
  const onPointerUp = (e: ReactPointerEvent<HTMLDivElement>) => {
    drag.current = null;
    viewport.current?.releasePointerCapture?.(e.pointerId);
  };

  const states = new Map(props.shape.nodes.map((n) => [n.taskName, props.stateOf(n.taskName)]));
  const statusOf = (id: string): AnyStatus => {
    const group = layout?.groups.find((g) => g.id === id);
    return group ? groupStatus(group.members.map((m) => states.get(m)!.status)) : (states.get(id)?.status ?? 'pending');
  };
  return (
    <div className="dag-frame" data-testid={props.testId ?? 'dag'} data-direction={layout?.direction} data-scale={scale}>
      <div className="dag-tools" role="toolbar" aria-label="zoom">
        <button className="btn btn-ghost btn-icon" onClick={() => zoomBy(1 / 1.25)} title="Zoom out (Ctrl + wheel)" aria-label="Zoom out" data-testid="dag-zoom-out">
          −
        </button>
        <button className="btn btn-ghost dag-zoom-level" onClick={() => setZoom(1)} title="Actual size" data-testid="dag-zoom-reset">
          {Math.round(scale * 100)}%
        </button>
        <button className="btn btn-ghost btn-icon" onClick={() => zoomBy(1.25)} title="Zoom in (Ctrl + wheel)" aria-label="Zoom in" data-testid="dag-zoom-in">
          +
        </button>
        <button className="btn btn-ghost" onClick={() => setZoom(Math.max(MIN_SCALE, Math.min(1, fit)))} title="Shrink the whole graph into view" data-testid="dag-zoom-fit">
          Fit
        </button>
      </div>
      <div className="dag-viewport" ref={viewport} onPointerDown={onPointerDown} onPointerMove={onPointerMove} onPointerUp={onPointerUp} onPointerCancel={onPointerUp} style={space ? { maxHeight: space.height } : undefined}>
        {layout && (
          <svg className="dag" width={layout.width * scale} height={layout.height * scale} viewBox={`0 0 ${layout.width} ${layout.height}`} role="img" aria-label="task graph">
            <defs>
              <marker id="dag-arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">
                <path d="M0,0 L10,5 L0,10 z" className="dag-arrow" />
              </marker>
            </defs>
            {layout.groups.map((g) => {
              const memberStatuses = g.members.map((m) => states.get(m)!.status);
              return (
                <g key={g.id} className={`dag-group dag-group-${cssStatus(groupStatus(memberStatuses))}`} data-testid="dag-group">
                  <rect className="dag-group-box" x={g.x} y={g.y} width={g.width} height={g.height} rx={9} />
                  <text className="dag-group-label" x={g.x + GROUP_PAD} y={g.y + GROUP_PAD + GROUP_HEAD / 2}>
                    {endEllipsis(groupLabel(memberStatuses, !props.definitionOnly), g.width - 2 * GROUP_PAD, measure)}
                  </text>
                </g>
              );
            })}
            {layout.edges.map((e) => (
              <path key={`${e.from}->${e.to}`} d={path(e.points)} className={`dag-edge ${e.hook ? 'dag-edge-hook' : ''} dag-edge-${cssStatus(statusOf(e.to))}`} markerEnd="url(#dag-arrow)" />
            ))}
            {layout.nodes.map((n) => {
              const state = states.get(n.taskName)!;
              const selected = props.selected === n.taskName;
              const detail = `${isHook(n.kind) ? `${n.kind.replace('_', ' ')} · ` : ''}${state.detail ?? state.status}`;
              const nameTop = 20;
              return (
                <g
                  key={n.taskName}
                  transform={`translate(${n.x},${n.y})`}
                  className={`dag-node dag-node-${cssStatus(state.status)} ${isHook(n.kind) ? 'dag-node-hook' : ''} ${selected ? 'dag-node-selected' : ''} ${props.onSelect ? 'dag-node-clickable' : ''}`}
                  data-testid={`dag-node-${n.taskName}`}
                  data-status={state.status}
                  data-truncated={n.truncated || undefined}
                  onClick={() => props.onSelect?.(n.taskName)}
                  role={props.onSelect ? 'button' : undefined}
                  aria-label={`${n.taskName}: ${state.status}`}
                  tabIndex={props.onSelect ? 0 : undefined}
                  onKeyDown={(ev) => {
                    if (ev.key === 'Enter' || ev.key === ' ') {
                      ev.preventDefault();
                      props.onSelect?.(n.taskName);
                    }
                  }}
                >
                  <title>{`${n.taskName} — ${detail}`}</title>
                  <rect className="dag-node-box" width={n.width} height={n.height} rx={7} />
                  <rect className="dag-node-bar" width={4} height={n.height - 12} x={7} y={6} rx={2} />
                  <text className="dag-node-name" x={TEXT_X} y={nameTop} data-testid="dag-node-name">
                    {n.nameLines.map((line, i) => (
                      <tspan key={i} x={TEXT_X} dy={i === 0 ? 0 : NAME_LINE_H}>
                        {line}
                      </tspan>
                    ))}
                  </text>
                  <text className="dag-node-detail" x={TEXT_X} y={nameTop + (n.nameLines.length - 1) * NAME_LINE_H + 16}>
                    {endEllipsis(detail, n.width - TEXT_X - 10, measure)}
                  </text>
                </g>
              );
            })}
          </svg>
        )}
      </div>
    </div>
  );
}
