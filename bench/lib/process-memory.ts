/**
 * Resident memory of a process and everything it started (Linux /proc), for the engine-memory figures.
 * The whole tree, so the figure stays the engine's if it moves work (a database thread, PGlite) into a
 * child process; pages two processes share are counted in each.
 */
import { readdir, readFile } from 'node:fs/promises';

export async function treeResidentBytes(pid: number): Promise<number> {
  const children = new Map<number, number[]>();
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    // The command name in parentheses may itself hold spaces and parentheses: the parent id follows the last ')'.
    const stat = await readFile(`/proc/${entry}/stat`, 'utf8').catch(() => null);
    const ppid = stat === null ? NaN : Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    if (Number.isInteger(ppid)) children.set(ppid, [...(children.get(ppid) ?? []), Number(entry)]);
  }
  let total = await residentBytes(pid);
  const pending = [...(children.get(pid) ?? [])];
  for (let next = pending.pop(); next !== undefined; next = pending.pop()) {
    // A child that exits between the listing and the read had no memory left to count.
    total += await residentBytes(next).catch(() => 0);
    pending.push(...(children.get(next) ?? []));
  }
  return total;
}

async function residentBytes(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = /^VmRSS:\s+(\d+)\s+kB$/m.exec(status)?.[1];
  if (kb === undefined) throw new Error(`no VmRSS in /proc/${pid}/status`);
  return Number(kb) * 1024;
}
