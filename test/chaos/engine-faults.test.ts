// FAST profile of the engine-fault scenarios (the LONG one is `npm run chaos`).
import { FAST } from './profile.ts';
import { chaosTest } from './chaos-test.ts';
import { backendStorm, engineKill, failover } from './scenarios/engine-faults.ts';
import type { DriverKind } from '../driver/drivers.ts';

chaosTest('loses nothing when the engine is SIGKILLed and restarted mid-DAG', Object.keys(FAST.engineKill.kills) as DriverKind[], (kind) => engineKill(kind, FAST), 150_000);
chaosTest('moves the workers of a killed engine to the surviving one', ['pg'], (kind) => failover(kind, FAST), 120_000);
chaosTest('loses nothing through pg_terminate_backend storms', ['pg'], (kind) => backendStorm(kind, FAST), 120_000);
