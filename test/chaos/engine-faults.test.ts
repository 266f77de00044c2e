// FAST profile of the engine-fault scenarios (the LONG one is `npm run chaos`).
import { chaosTests } from './chaos-test.ts';

chaosTests(['engine-kill', 'failover', 'backend-storm']);
