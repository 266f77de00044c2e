// FAST profile of the worker-fault scenarios (the LONG one is `npm run chaos`).
import { FAST } from './profile.ts';
import { chaosTest } from './chaos-test.ts';
import { badTasks, workerKill, workerStop } from './scenarios/worker-faults.ts';

chaosTest('loses nothing when workers are SIGKILLed every second', FAST.workerKill.drivers, (kind) => workerKill(kind, FAST), 120_000);
chaosTest('recovers the attempts of a worker SIGSTOPped past the heartbeat timeout', FAST.workerStop.drivers, (kind) => workerStop(kind, FAST), 120_000);
chaosTest('ends tasks that exit, crash, busy-loop or throw non-Errors as designed', FAST.badTasks.drivers, (kind) => badTasks(kind, FAST), 150_000);
