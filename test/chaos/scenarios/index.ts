/** Every chaos scenario, in the order the LONG runner runs them; the FAST test files pick theirs by id. */
import type { DriverKind } from '../../driver/drivers.ts';
import type { Profile } from '../profile.ts';
import type { ScenarioReport } from '../scenario.ts';
import { backendStorm, engineKill, failover } from './engine-faults.ts';
import { adminHttp, socketFuzz } from './hostile-input.ts';
import { badTasks, workerKill, workerStop } from './worker-faults.ts';

export interface ScenarioEntry {
  id: string;
  /** What the FAST test asserts, as its name reads. */
  test: string;
  drivers: (profile: Profile) => DriverKind[];
  run: (kind: DriverKind, profile: Profile) => Promise<ScenarioReport>;
  /** The FAST test's timeout. */
  fastTimeoutMs: number;
}

export const SCENARIOS: ScenarioEntry[] = [
  { id: 'worker-kill', test: 'loses nothing when workers are SIGKILLed every second', drivers: (p) => p.workerKill.drivers, run: workerKill, fastTimeoutMs: 120_000 },
  { id: 'engine-kill', test: 'loses nothing when the engine is SIGKILLed and restarted mid-DAG', drivers: (p) => Object.keys(p.engineKill.kills) as DriverKind[], run: engineKill, fastTimeoutMs: 150_000 },
  // Postgres only: PGlite is one engine's database by design.
  { id: 'failover', test: 'moves the workers of a killed engine to the surviving one', drivers: () => ['pg'], run: failover, fastTimeoutMs: 120_000 },
  { id: 'backend-storm', test: 'loses nothing through pg_terminate_backend storms', drivers: () => ['pg'], run: backendStorm, fastTimeoutMs: 120_000 },
  { id: 'worker-stop', test: 'recovers the attempts of a worker SIGSTOPped past the heartbeat timeout', drivers: (p) => p.workerStop.drivers, run: workerStop, fastTimeoutMs: 120_000 },
  { id: 'bad-tasks', test: 'ends tasks that exit, crash, busy-loop or throw non-Errors as designed', drivers: (p) => p.badTasks.drivers, run: badTasks, fastTimeoutMs: 150_000 },
  // Postgres: the engine's RSS is then its own (an embedded PGlite's WASM heap swings by hundreds of MB).
  { id: 'socket-fuzz', test: 'serves a normal client with bounded memory while its socket is fuzzed', drivers: () => ['pg'], run: socketFuzz, fastTimeoutMs: 150_000 },
  { id: 'admin-http', test: 'answers hostile admin HTTP requests with clean 4xx errors', drivers: () => ['pglite'], run: adminHttp, fastTimeoutMs: 120_000 },
];
