/**
 * The chaos log: one JSONL file per scenario that every process involved appends to — workers record
 * each execution of a task (an effect), and both the harness and the workers record each fault they
 * inject. Appends are synchronous (appendFileSync, one write(2) per record), so a record written before
 * a SIGKILL is in the file: for PGlite the database lives inside the engine process and a worker could
 * not write there, and a database insert would be lost with the worker that made it. After the scenario
 * the records are loaded into the scenario's database and checked by SQL (invariants.ts).
 */
import { appendFileSync, existsSync, readFileSync } from 'node:fs';

/** One execution of a task's function: 'start' when it was called, 'end' when it was about to return. */
export interface EffectRecord {
  type: 'effect';
  phase: 'start' | 'end';
  task: string;
  taskRunId: string;
  attempt: number;
  pid: number;
  /** Epoch ms. */
  at: number;
}

export type FaultKind =
  /** SIGKILL of a worker process (pid). */
  | 'worker-kill'
  /** SIGSTOP of a worker (pid) from `at` until its SIGCONT at `until`. */
  | 'worker-stop'
  /** SIGKILL of an engine, from `at` until a replacement was ready (`until`), if one was started. */
  | 'engine-kill'
  /** pg_terminate_backend of an engine's database connections. */
  | 'backend-terminate'
  /** A task that ends its own worker (process.exit, an uncaught exception): the worker pid dies. */
  | 'task-crash'
  /** A task that blocks its worker's event loop from `at` to `until`. */
  | 'task-busy';

export interface FaultRecord {
  type: 'fault';
  kind: FaultKind;
  /** The process hit: a worker pid for worker faults, the engine pid for engine faults. */
  pid: number | null;
  at: number;
  /** When the fault stopped acting; equal to `at` for an instant one. */
  until: number;
  detail?: string;
}

export type ChaosRecord = EffectRecord | FaultRecord;

/** Faults that hit one worker process: they explain a duplicate only of work that ran in that process. */
export const WORKER_FAULTS: readonly FaultKind[] = ['worker-kill', 'worker-stop', 'task-crash', 'task-busy'];

export function appendRecord(file: string, record: ChaosRecord): void {
  appendFileSync(file, `${JSON.stringify(record)}\n`);
}

/** Reads the log; a last line cut short by a SIGKILL mid-write is skipped. */
export function readRecords(file: string): ChaosRecord[] {
  if (!existsSync(file)) return [];
  const records: ChaosRecord[] = [];
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (line.length === 0) continue;
    try {
      records.push(JSON.parse(line) as ChaosRecord);
    } catch {
      // Only a torn final write can be malformed; it recorded nothing that completed.
    }
  }
  return records;
}
