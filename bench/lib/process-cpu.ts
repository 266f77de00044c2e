/**
 * CPU time (user + system) of processes, from Linux /proc, to say where a workload's time goes: the
 * engine, the worker, and the Postgres backends serving one database (told apart from other databases'
 * by their process title, `postgres: user <database> …`).
 */
import { readdir, readFile } from 'node:fs/promises';

/** Clock ticks per second of /proc/<pid>/stat's utime and stime (USER_HZ: 100 on Linux). */
const TICKS_PER_SECOND = 100;

export interface CpuSample {
  /** pid → [what it is, CPU ms so far]. */
  readonly byPid: ReadonlyMap<number, readonly [string, number]>;
}

/**
 * Every process's CPU time, each named by `classify` (null: not counted). Postgres backends are given
 * to `classify` with their process title.
 */
export async function sampleCpu(classify: (p: { pid: number; command: string; title: string }) => string | null): Promise<CpuSample> {
  const byPid = new Map<number, readonly [string, number]>();
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => null);
    if (stat === null) continue;
    const command = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ms = ((Number(fields[11]) + Number(fields[12])) * 1000) / TICKS_PER_SECOND;
    const title = command.startsWith('postgres') ? ((await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')) || command) : command;
    const what = classify({ pid, command, title });
    if (what !== null) byPid.set(pid, [what, ms]);
  }
  return { byPid };
}

/** CPU ms spent between two samples, per name (a process started in between counts from zero). */
export function cpuBetween(before: CpuSample, after: CpuSample): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [pid, [what, ms]] of after.byPid) out[what] = (out[what] ?? 0) + ms - (before.byPid.get(pid)?.[1] ?? 0);
  return out;
}
