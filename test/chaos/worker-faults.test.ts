// FAST profile of the worker-fault scenarios (the LONG one is `npm run chaos`).
import { chaosTests } from './chaos-test.ts';

chaosTests(['worker-kill', 'worker-stop', 'bad-tasks']);
