// The console's DAG layout (renderer/components/dag/dag-layout.ts) with a fixed-width font: names are
// wrapped, not cut at a character count; a wide fan-out becomes a grid that fits instead of a column.
import { describe, expect, it } from 'vitest';
import { layoutDag, middleEllipsis, NODE_MAX_W, wrapName, type Measure } from '../../renderer/components/dag/dag-layout.ts';
import type { RunShape } from '../../shared/admin-api.ts';

// 7 px a character, as a 12.5 px sans-serif name roughly is.
const measure: Measure = (text, font) => text.length * (font === 'name' ? 7 : 6);

function fanOut(count: number, name: (i: number) => string): RunShape {
  const middle = Array.from({ length: count }, (_, i) => name(i));
  return {
    nodes: [
      { taskName: 'plan-provisioning-batch', kind: 'dag', action: 'w:plan' },
      ...middle.map((taskName) => ({ taskName, kind: 'dag' as const, action: `w:${taskName}` })),
      { taskName: 'verify-provisioned-resources', kind: 'dag', action: 'w:verify' },
      { taskName: 'release-partial-provisioning', kind: 'on_failure', action: 'w:release' },
    ],
    edges: [...middle.map((to) => ({ from: 'plan-provisioning-batch', to })), ...middle.map((from) => ({ from, to: 'verify-provisioned-resources' }))],
  };
}

describe('DAG names', () => {
  it('keeps a name that fits on one line, whole', () => {
    expect(wrapName('provision-resource-07', 200, measure)).toEqual({ lines: ['provision-resource-07'], truncated: false });
  });

  it('wraps a longer name at its separators onto two lines, every character kept', () => {
    const name = 'provision-customer-resource-in-region-07';
    const { lines, truncated } = wrapName(name, 150, measure);
    expect(truncated).toBe(false);
    expect(lines).toEqual(['provision-customer-', 'resource-in-region-07']);
    expect(lines.join('')).toBe(name);
  });

  it('shortens only what two lines cannot hold, in the middle, so the distinguishing end stays', () => {
    const name = 'a-very-long-task-name-that-goes-on-and-on-and-on-and-on-and-on-resource-07';
    const { lines, truncated } = wrapName(name, 150, measure);
    expect(truncated).toBe(true);
    expect(lines).toHaveLength(2);
    expect(lines[1]).toMatch(/…/);
    expect(lines[1]!.endsWith('-07')).toBe(true);
    for (const line of lines) expect(measure(line, 'name')).toBeLessThanOrEqual(150);
    expect(middleEllipsis('abcdefghij', 49, measure)).toBe('abc…hij');
  });
});

describe('DAG layout', () => {
  // About what a run's graph gets in a 1440 × 900 window.
  const space = { width: 1150, height: 640 };

  it('sizes boxes to their names: no name of the 24-way fan-out is cut', () => {
    const layout = layoutDag(fanOut(24, (i) => `provision-resource-${String(i + 1).padStart(2, '0')}`), measure, space);
    expect(layout.nodes).toHaveLength(27);
    for (const node of layout.nodes) {
      expect(node.truncated, node.taskName).toBe(false);
      expect(node.nameLines.join(''), node.taskName).toBe(node.taskName);
      expect(node.width).toBeLessThanOrEqual(NODE_MAX_W);
    }
  });

  it('packs a 24-way fan-out into one grid that fits the space at full size, with one edge in and one out', () => {
    const layout = layoutDag(fanOut(24, (i) => `provision-resource-${String(i + 1).padStart(2, '0')}`), measure, space);
    expect(layout.groups).toHaveLength(1);
    expect(layout.groups[0]!.members).toHaveLength(24);
    expect(layout.width).toBeLessThanOrEqual(space.width);
    expect(layout.height).toBeLessThanOrEqual(space.height);
    const group = layout.groups[0]!.id;
    expect(layout.edges.map((e) => [e.from, e.to, e.hook])).toEqual([
      ['plan-provisioning-batch', group, false],
      [group, 'verify-provisioned-resources', false],
      ['verify-provisioned-resources', 'release-partial-provisioning', true],
    ]);
    // Members sit inside their frame and do not overlap.
    const frame = layout.groups[0]!;
    const members = layout.nodes.filter((n) => n.group === group);
    for (const n of members) {
      expect(n.x).toBeGreaterThanOrEqual(frame.x);
      expect(n.x + n.width).toBeLessThanOrEqual(frame.x + frame.width);
      expect(n.y + n.height).toBeLessThanOrEqual(frame.y + frame.height);
    }
    for (const a of members) {
      for (const b of members) {
        if (a === b) continue;
        const apart = a.x + a.width <= b.x || b.x + b.width <= a.x || a.y + a.height <= b.y || b.y + b.height <= a.y;
        expect(apart, `${a.taskName} overlaps ${b.taskName}`).toBe(true);
      }
    }
  });

  it('fits a narrower space with fewer columns rather than smaller text', () => {
    const shape = fanOut(24, (i) => `provision-resource-${String(i + 1).padStart(2, '0')}`);
    const wide = layoutDag(shape, measure, space);
    const narrow = layoutDag(shape, measure, { width: 700, height: 640 });
    expect(narrow.width).toBeLessThanOrEqual(700);
    expect(narrow.width).toBeLessThan(wide.width);
  });

  it('leaves small graphs (a diamond) as dagre lays them out, left to right', () => {
    const shape: RunShape = {
      nodes: ['a', 'b', 'c', 'd'].map((taskName) => ({ taskName, kind: 'dag' as const, action: taskName })),
      edges: [
        { from: 'a', to: 'b' },
        { from: 'a', to: 'c' },
        { from: 'b', to: 'd' },
        { from: 'c', to: 'd' },
      ],
    };
    const layout = layoutDag(shape, measure, space);
    expect(layout.direction).toBe('LR');
    expect(layout.groups).toEqual([]);
    expect(layout.edges).toHaveLength(4);
    const x = Object.fromEntries(layout.nodes.map((n) => [n.taskName, n.x]));
    expect(x.a).toBeLessThan(x.b!);
    expect(x.b).toBeLessThan(x.d!);
  });
});
