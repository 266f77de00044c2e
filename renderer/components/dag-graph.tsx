/**
 * A run's (or a workflow version's) DAG as SVG, laid out by dagre left to right. Hooks (onFailure,
 * onSuccess) have no edges in the shape; they are placed after the tasks that end the run, joined by
 * dashed lines, because that is when they run.
 */
import dagre from '@dagrejs/dagre';
import { useLayoutEffect, useMemo, useRef, useState } from 'react';
import type { RunShape } from '../../shared/admin-api.ts';
import type { TaskRunKind } from '../../shared/types.ts';
import type { AnyStatus } from './status-pill.tsx';

const NODE_W = 156;
const NODE_H = 52;
const PAD = 24;
/** A graph wider than its box is shrunk down to this scale to fit, and scrolls beyond it (text stays readable). */
const MIN_SCALE = 0.75;

export interface NodeState {
  status: AnyStatus;
  /** Second line, e.g. "1.2s · attempt 2". */
  detail?: string;
}

interface Layout {
  width: number;
  height: number;
  nodes: Array<{ taskName: string; kind: TaskRunKind; x: number; y: number }>;
  edges: Array<{ from: string; to: string; points: Array<{ x: number; y: number }>; hook: boolean }>;
}

function isHook(kind: TaskRunKind): boolean {
  return kind === 'on_failure' || kind === 'on_success';
}

export function layoutShape(shape: RunShape): Layout {
  const g = new dagre.graphlib.Graph();
  g.setGraph({ rankdir: 'LR', nodesep: 18, ranksep: 48, marginx: PAD, marginy: PAD });
  g.setDefaultEdgeLabel(() => ({}));
  for (const n of shape.nodes) g.setNode(n.taskName, { width: NODE_W, height: NODE_H });
  for (const e of shape.edges) g.setEdge(e.from, e.to);
  const tasks = shape.nodes.filter((n) => !isHook(n.kind));
  const sinks = tasks.filter((n) => !shape.edges.some((e) => e.from === n.taskName));
  const hookEdges: Array<{ from: string; to: string }> = [];
  for (const hook of shape.nodes.filter((n) => isHook(n.kind))) {
    for (const sink of sinks) {
      g.setEdge(sink.taskName, hook.taskName);
      hookEdges.push({ from: sink.taskName, to: hook.taskName });
    }
  }
  dagre.layout(g);
  const graph = g.graph();
  return {
    width: Math.max(graph.width ?? 0, NODE_W + 2 * PAD),
    height: Math.max(graph.height ?? 0, NODE_H + 2 * PAD),
    nodes: shape.nodes.map((n) => {
      const p = g.node(n.taskName);
      return { taskName: n.taskName, kind: n.kind, x: p.x, y: p.y };
    }),
    edges: [
      ...shape.edges.map((e) => ({ ...e, points: g.edge(e.from, e.to).points ?? [], hook: false })),
      ...hookEdges.map((e) => ({ ...e, points: g.edge(e.from, e.to).points ?? [], hook: true })),
    ],
  };
}

function path(points: Array<{ x: number; y: number }>): string {
  if (points.length === 0) return '';
  const [first, ...rest] = points;
  if (rest.length === 0) return `M${first!.x},${first!.y}`;
  // A smooth curve through dagre's control points.
  let d = `M${first!.x},${first!.y}`;
  for (let i = 0; i < rest.length; i++) {
    const p = rest[i]!;
    const prev = i === 0 ? first! : rest[i - 1]!;
    const mx = (prev.x + p.x) / 2;
    d += ` C${mx},${prev.y} ${mx},${p.y} ${p.x},${p.y}`;
  }
  return d;
}

export function DagGraph(props: { shape: RunShape; stateOf(taskName: string): NodeState; selected?: string | null; onSelect?(taskName: string): void; testId?: string }) {
  const layout = useMemo(() => layoutShape(props.shape), [props.shape]);
  const box = useRef<HTMLDivElement>(null);
  const [boxWidth, setBoxWidth] = useState<number | null>(null);
  useLayoutEffect(() => {
    const el = box.current;
    if (!el) return;
    const observer = new ResizeObserver(() => setBoxWidth(el.clientWidth - 12));
    observer.observe(el);
    return () => observer.disconnect();
  }, []);
  const scale = boxWidth ? Math.min(1, Math.max(MIN_SCALE, boxWidth / layout.width)) : 1;
  return (
    <div className="dag-scroll" ref={box} data-testid={props.testId ?? 'dag'}>
      <svg className="dag" width={layout.width * scale} height={layout.height * scale} viewBox={`0 0 ${layout.width} ${layout.height}`} role="img" aria-label="task graph">
        <defs>
          <marker id="dag-arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">
            <path d="M0,0 L10,5 L0,10 z" className="dag-arrow" />
          </marker>
        </defs>
        {layout.edges.map((e) => {
          const to = props.stateOf(e.to).status;
          return (
            <path
              key={`${e.from}->${e.to}`}
              d={path(e.points)}
              className={`dag-edge ${e.hook ? 'dag-edge-hook' : ''} dag-edge-${to.replace(' ', '-')}`}
              markerEnd="url(#dag-arrow)"
            />
          );
        })}
        {layout.nodes.map((n) => {
          const state = props.stateOf(n.taskName);
          const selected = props.selected === n.taskName;
          return (
            <g
              key={n.taskName}
              transform={`translate(${n.x - NODE_W / 2},${n.y - NODE_H / 2})`}
              className={`dag-node dag-node-${state.status.replace(' ', '-')} ${isHook(n.kind) ? 'dag-node-hook' : ''} ${selected ? 'dag-node-selected' : ''} ${props.onSelect ? 'dag-node-clickable' : ''}`}
              data-testid={`dag-node-${n.taskName}`}
              data-status={state.status}
              onClick={() => props.onSelect?.(n.taskName)}
              role={props.onSelect ? 'button' : undefined}
              tabIndex={props.onSelect ? 0 : undefined}
              onKeyDown={(ev) => {
                if (ev.key === 'Enter' || ev.key === ' ') props.onSelect?.(n.taskName);
              }}
            >
              <title>{`${n.taskName} — ${state.status}`}</title>
              <rect className="dag-node-box" width={NODE_W} height={NODE_H} rx={7} />
              <rect className="dag-node-bar" width={4} height={NODE_H - 12} x={7} y={6} rx={2} />
              <text className="dag-node-name" x={20} y={22}>
                {n.taskName.length > 18 ? `${n.taskName.slice(0, 17)}…` : n.taskName}
              </text>
              <text className="dag-node-detail" x={20} y={39}>
                {isHook(n.kind) ? `${n.kind.replace('_', ' ')} · ` : ''}
                {state.detail ?? state.status}
              </text>
            </g>
          );
        })}
      </svg>
    </div>
  );
}
