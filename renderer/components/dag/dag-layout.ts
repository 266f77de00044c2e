/**
 * Where a DAG's boxes go, with their names measured so every name can be read. Pure: text widths come
 * from `measure` (a canvas in the browser, a fake in tests), dagre places the boxes.
 *
 * - Names are not cut at a character count: a box is as wide as its name needs (within MAX_W); a
 *   longer name wraps at its - _ . / : separators onto a second line, and only a name that does not
 *   fit two lines loses its middle to an ellipsis (the start and the end, where `…-07` differs from
 *   `…-08`, stay). The full name is always in the box's tooltip.
 * - A wide fan-out — six or more tasks with the same parents and the same children — is packed into a
 *   grid inside one frame, with one edge in and one out, instead of a column of two dozen boxes: at
 *   24 tasks the graph stays on screen at full size instead of shrinking its text to 8 px.
 * - The direction (left to right, or top to bottom) and the grid's columns are chosen by trying them
 *   against the space available and keeping the layout that needs the least shrinking.
 */
import dagre from '@dagrejs/dagre';
import type { RunShape } from '../../../shared/admin-api.ts';
import type { TaskRunKind } from '../../../shared/types.ts';

export type Measure = (text: string, font: 'name' | 'detail') => number;
export type Direction = 'LR' | 'TB';

export const NODE_MIN_W = 150;
export const NODE_MAX_W = 250;
/** Left of the text: the status bar; right: breathing room. */
export const TEXT_X = 20;
const TEXT_PAD_R = 12;
export const NAME_LINE_H = 16;
/** A box with a one-line name; each extra name line adds NAME_LINE_H. */
export const NODE_H = 46;
const MAX_NAME_LINES = 2;
export const PAD = 20;
/** Siblings (same parents, same children) from which on a fan-out is drawn as a grid. */
export const GROUP_MIN = 6;
const GRID_GAP_X = 12;
const GRID_GAP_Y = 8;
export const GROUP_PAD = 12;
export const GROUP_HEAD = 22;
const NODESEP = 16;
const RANKSEP = 40;

export interface NodeLayout {
  taskName: string;
  kind: TaskRunKind;
  /** Top-left corner. */
  x: number;
  y: number;
  width: number;
  height: number;
  /** The name as drawn: one or two lines; `truncated` when the tooltip holds more. */
  nameLines: string[];
  truncated: boolean;
  /** The fan-out group it is drawn in, if any. */
  group: string | null;
}

export interface GroupLayout {
  id: string;
  members: string[];
  x: number;
  y: number;
  width: number;
  height: number;
}

export interface EdgeLayout {
  /** A task name or a group id. */
  from: string;
  to: string;
  points: Array<{ x: number; y: number }>;
  hook: boolean;
}

export interface DagLayout {
  width: number;
  height: number;
  direction: Direction;
  nodes: NodeLayout[];
  groups: GroupLayout[];
  edges: EdgeLayout[];
}

export function isHook(kind: TaskRunKind): boolean {
  return kind === 'on_failure' || kind === 'on_success';
}

/** Splits after each separator, keeping it: 'provision-resource-07' → ['provision-', 'resource-', '07']. */
function tokens(name: string): string[] {
  return name.match(/[^-_./:]+[-_./:]*|[-_./:]+/g) ?? [name];
}

/** The longest start of `text` that fits, cut between characters. */
function fitStart(text: string, max: number, measure: Measure): string {
  let lo = 0;
  let hi = text.length;
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (measure(text.slice(0, mid), 'name') <= max) lo = mid;
    else hi = mid - 1;
  }
  return text.slice(0, Math.max(1, lo));
}

/** `text` with its middle replaced by '…' so it fits, keeping as much of both ends as it can. */
export function middleEllipsis(text: string, max: number, measure: Measure, font: 'name' | 'detail' = 'name'): string {
  if (measure(text, font) <= max) return text;
  for (let keep = text.length - 1; keep > 1; keep--) {
    const head = Math.ceil(keep / 2);
    const candidate = `${text.slice(0, head)}…${text.slice(text.length - (keep - head))}`;
    if (measure(candidate, font) <= max) return candidate;
  }
  return '…';
}

/** `text` cut at its end with '…' so it fits (a subtitle: its start says the most). */
export function endEllipsis(text: string, max: number, measure: Measure, font: 'name' | 'detail' = 'detail'): string {
  if (measure(text, font) <= max) return text;
  for (let keep = text.length - 1; keep > 0; keep--) {
    const candidate = `${text.slice(0, keep).trimEnd()}…`;
    if (measure(candidate, font) <= max) return candidate;
  }
  return '…';
}

/** The name in at most two lines of `max` width, wrapped at separators; see the module comment. */
export function wrapName(name: string, max: number, measure: Measure): { lines: string[]; truncated: boolean } {
  if (measure(name, 'name') <= max) return { lines: [name], truncated: false };
  const lines: string[] = [];
  let line = '';
  for (const part of tokens(name)) {
    // A separator-free part wider than a line is broken between characters.
    const pieces: string[] = [];
    for (let rest = part; rest; ) {
      const piece = measure(rest, 'name') <= max ? rest : fitStart(rest, max, measure);
      pieces.push(piece);
      rest = rest.slice(piece.length);
    }
    for (const piece of pieces) {
      if (measure(line + piece, 'name') <= max) {
        line += piece;
      } else {
        if (line) lines.push(line);
        line = piece;
      }
    }
  }
  lines.push(line);
  if (lines.length <= MAX_NAME_LINES) return { lines, truncated: false };
  const rest = lines.slice(MAX_NAME_LINES - 1).join('');
  return { lines: [...lines.slice(0, MAX_NAME_LINES - 1), middleEllipsis(rest, max, measure)], truncated: true };
}

interface Sized {
  taskName: string;
  kind: TaskRunKind;
  width: number;
  height: number;
  nameLines: string[];
  truncated: boolean;
}

function sizeNode(node: RunShape['nodes'][number], measure: Measure): Sized {
  const { lines, truncated } = wrapName(node.taskName, NODE_MAX_W - TEXT_X - TEXT_PAD_R, measure);
  const textW = Math.max(...lines.map((l) => measure(l, 'name')));
  return {
    taskName: node.taskName,
    kind: node.kind,
    width: Math.min(NODE_MAX_W, Math.max(NODE_MIN_W, Math.ceil(textW) + TEXT_X + TEXT_PAD_R)),
    height: NODE_H + (lines.length - 1) * NAME_LINE_H,
    nameLines: lines,
    truncated,
  };
}

/** Fan-outs: task nodes sharing their parents and their children, GROUP_MIN or more of them. */
function fanOutGroups(shape: RunShape): string[][] {
  const parents = new Map<string, string[]>();
  const children = new Map<string, string[]>();
  for (const e of shape.edges) {
    parents.set(e.to, [...(parents.get(e.to) ?? []), e.from]);
    children.set(e.from, [...(children.get(e.from) ?? []), e.to]);
  }
  const byKey = new Map<string, string[]>();
  for (const n of shape.nodes) {
    if (isHook(n.kind)) continue;
    const key = `${[...(parents.get(n.taskName) ?? [])].sort().join('\n')}|${[...(children.get(n.taskName) ?? [])].sort().join('\n')}`;
    // Unconnected nodes (a one-task run, independent roots) are not a fan-out.
    if (key === '|') continue;
    byKey.set(key, [...(byKey.get(key) ?? []), n.taskName]);
  }
  return [...byKey.values()].filter((members) => members.length >= GROUP_MIN);
}

function gridSize(count: number, cols: number, cellW: number, cellH: number): { width: number; height: number; cols: number } {
  const c = Math.max(1, Math.min(cols, count));
  const rows = Math.ceil(count / c);
  return {
    cols: c,
    width: c * cellW + (c - 1) * GRID_GAP_X + 2 * GROUP_PAD,
    height: GROUP_HEAD + rows * cellH + (rows - 1) * GRID_GAP_Y + 2 * GROUP_PAD,
  };
}

function layoutOnce(shape: RunShape, sized: Map<string, Sized>, groups: string[][], direction: Direction, cols: number): DagLayout {
  const groupOf = new Map<string, string>();
  const groupIds = groups.map((members, i) => {
    const id = `group:${i}`;
    for (const m of members) groupOf.set(m, id);
    return id;
  });
  // Grid cells are as wide and tall as the group's largest member, so its columns line up.
  const cells = groups.map((members) => ({
    w: Math.max(...members.map((m) => sized.get(m)!.width)),
    h: Math.max(...members.map((m) => sized.get(m)!.height)),
  }));
  const grids = groups.map((members, i) => gridSize(members.length, cols, cells[i]!.w, cells[i]!.h));

  const g = new dagre.graphlib.Graph();
  g.setGraph({ rankdir: direction, nodesep: NODESEP, ranksep: RANKSEP, marginx: PAD, marginy: PAD });
  g.setDefaultEdgeLabel(() => ({}));
  for (const n of shape.nodes) {
    if (groupOf.has(n.taskName)) continue;
    const s = sized.get(n.taskName)!;
    g.setNode(n.taskName, { width: s.width, height: s.height });
  }
  groupIds.forEach((id, i) => g.setNode(id, { width: grids[i]!.width, height: grids[i]!.height }));
  const at = (name: string): string => groupOf.get(name) ?? name;
  const edges = new Map<string, { from: string; to: string; hook: boolean }>();
  const addEdge = (from: string, to: string, hook: boolean) => {
    const key = `${from}\n${to}`;
    if (from === to || edges.has(key)) return;
    edges.set(key, { from, to, hook });
    g.setEdge(from, to);
  };
  for (const e of shape.edges) addEdge(at(e.from), at(e.to), false);
  // Hooks have no edges in the shape: they run once the tasks that end the run have ended.
  const tasks = shape.nodes.filter((n) => !isHook(n.kind));
  const sinks = tasks.filter((n) => !shape.edges.some((e) => e.from === n.taskName));
  for (const hook of shape.nodes.filter((n) => isHook(n.kind))) {
    for (const sink of sinks) addEdge(at(sink.taskName), hook.taskName, true);
  }
  dagre.layout(g);

  const nodes: NodeLayout[] = [];
  const groupLayouts: GroupLayout[] = groups.map((members, i) => {
    const p = g.node(groupIds[i]!);
    const grid = grids[i]!;
    const x = p.x - grid.width / 2;
    const y = p.y - grid.height / 2;
    members.forEach((m, j) => {
      const s = sized.get(m)!;
      const col = j % grid.cols;
      const row = Math.floor(j / grid.cols);
      nodes.push({
        ...s,
        width: cells[i]!.w,
        x: x + GROUP_PAD + col * (cells[i]!.w + GRID_GAP_X),
        y: y + GROUP_PAD + GROUP_HEAD + row * (cells[i]!.h + GRID_GAP_Y),
        group: groupIds[i]!,
      });
    });
    return { id: groupIds[i]!, members, x, y, width: grid.width, height: grid.height };
  });
  for (const n of shape.nodes) {
    if (groupOf.has(n.taskName)) continue;
    const s = sized.get(n.taskName)!;
    const p = g.node(n.taskName);
    nodes.push({ ...s, x: p.x - s.width / 2, y: p.y - s.height / 2, group: null });
  }
  // In the shape's order, so keyboard focus moves through the tasks as the workflow declares them.
  const order = new Map(shape.nodes.map((n, i) => [n.taskName, i]));
  nodes.sort((a, b) => order.get(a.taskName)! - order.get(b.taskName)!);
  const graph = g.graph();
  return {
    width: Math.max(graph.width ?? 0, NODE_MIN_W + 2 * PAD),
    height: Math.max(graph.height ?? 0, NODE_H + 2 * PAD),
    direction,
    nodes,
    groups: groupLayouts,
    edges: [...edges.values()].map((e) => ({ ...e, points: g.edge(e.from, e.to).points ?? [] })),
  };
}

/**
 * How well a layout fits, width first: a page scrolls down more naturally than sideways, so a layout
 * that fits the width beats one that fits the height; then the height; then the smaller area. Fit is
 * compared in steps of 2 %, so near-ties fall to the next criterion.
 */
function fitScore(layout: DagLayout, space: { width: number; height: number }): [number, number, number] {
  const step = (x: number) => Math.round(Math.min(1, x) * 50);
  return [step(space.width / layout.width), step(space.height / layout.height), -layout.width * layout.height];
}

function better(a: [number, number, number], b: [number, number, number]): boolean {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i]! > b[i]!;
  return false;
}

/**
 * Lays the shape out for a box of `space` pixels: both directions, and for fan-outs every sensible
 * column count, keeping the one that fits best (see fitScore; left to right on a tie).
 */
export function layoutDag(shape: RunShape, measure: Measure, space: { width: number; height: number }): DagLayout {
  const sized = new Map(shape.nodes.map((n) => [n.taskName, sizeNode(n, measure)]));
  const groups = fanOutGroups(shape);
  const largest = Math.max(0, ...groups.map((m) => m.length));
  const columnChoices = largest === 0 ? [1] : Array.from({ length: Math.min(largest, 10) }, (_, i) => i + 1);
  let best: { layout: DagLayout; score: [number, number, number] } | null = null;
  for (const direction of ['LR', 'TB'] as const) {
    for (const cols of columnChoices) {
      const layout = layoutOnce(shape, sized, groups, direction, cols);
      const score = fitScore(layout, space);
      if (!best || better(score, best.score)) best = { layout, score };
    }
  }
  return best!.layout;
}
