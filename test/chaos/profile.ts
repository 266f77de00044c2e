/**
 * The two profiles of the chaos suite, one code path: FAST runs inside `npm test` (small counts, the
 * whole suite in a few minutes on a 2-core machine), LONG is `npm run chaos` (about ten minutes, the
 * counts the reliability issue asks for). Scenarios read their sizes from here and nowhere else.
 */
import type { DriverKind } from '../driver/drivers.ts';

export interface Profile {
  name: 'fast' | 'long';
  /** Worker SIGKILL every `killEveryMs` under a steady load. */
  workerKill: { drivers: DriverKind[]; seconds: number; runsPerSecond: number; workers: number; killEveryMs: number };
  /** Engine SIGKILL and restart at random points while DAGs run, `kills` times per driver. */
  engineKill: { kills: Partial<Record<DriverKind, number>>; dagsPerRound: number; tasksPerRound: number };
  /** Two engines on one Postgres, one killed; its workers fail over to the other. */
  failover: { seconds: number; runsPerSecond: number };
  /** pg_terminate_backend of every engine connection, `storms` times, under load. */
  backendStorm: { storms: number; everyMs: number; runsPerSecond: number };
  /** SIGSTOP a worker past the heartbeat timeout, then SIGCONT, `stops` times. */
  workerStop: { drivers: DriverKind[]; stops: number };
  /** Tasks that exit, crash, throw non-Errors and busy-loop, beside innocent ones. */
  badTasks: { drivers: DriverKind[]; exits: number; crashes: number; busy: number; innocent: number };
  /** Frames thrown at the raw socket while a normal client is served. */
  socketFuzz: { frames: number; connections: number; oversizedPreAuth: number };
  /** Hostile requests to the admin HTTP API. */
  adminHttp: { repeat: number };
}

export const FAST: Profile = {
  name: 'fast',
  workerKill: { drivers: ['pg', 'pglite'], seconds: 8, runsPerSecond: 150, workers: 3, killEveryMs: 1_000 },
  engineKill: { kills: { pglite: 3, pg: 3 }, dagsPerRound: 10, tasksPerRound: 20 },
  failover: { seconds: 6, runsPerSecond: 100 },
  backendStorm: { storms: 5, everyMs: 600, runsPerSecond: 100 },
  workerStop: { drivers: ['pg'], stops: 2 },
  badTasks: { drivers: ['pg'], exits: 1, crashes: 1, busy: 1, innocent: 200 },
  socketFuzz: { frames: 5_000, connections: 6, oversizedPreAuth: 12 },
  adminHttp: { repeat: 1 },
};

export const LONG: Profile = {
  name: 'long',
  workerKill: { drivers: ['pg', 'pglite'], seconds: 30, runsPerSecond: 150, workers: 4, killEveryMs: 1_000 },
  engineKill: { kills: { pglite: 100, pg: 15 }, dagsPerRound: 10, tasksPerRound: 20 },
  failover: { seconds: 20, runsPerSecond: 100 },
  backendStorm: { storms: 30, everyMs: 500, runsPerSecond: 100 },
  workerStop: { drivers: ['pg', 'pglite'], stops: 5 },
  badTasks: { drivers: ['pg', 'pglite'], exits: 2, crashes: 2, busy: 2, innocent: 1_000 },
  socketFuzz: { frames: 100_000, connections: 8, oversizedPreAuth: 20 },
  adminHttp: { repeat: 3 },
};

export const PROFILES = { fast: FAST, long: LONG } as const;
