// FAST profile of the hostile-input scenarios (the LONG one is `npm run chaos`).
import { chaosTests } from './chaos-test.ts';

chaosTests(['socket-fuzz', 'admin-http']);
