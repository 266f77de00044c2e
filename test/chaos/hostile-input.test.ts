// FAST profile of the hostile-input scenarios (the LONG one is `npm run chaos`).
import { FAST } from './profile.ts';
import { chaosTest } from './chaos-test.ts';
import { adminHttp, socketFuzz } from './scenarios/hostile-input.ts';

// On Postgres: the engine's RSS is then its own (an embedded PGlite's WASM heap swings by hundreds of MB).
chaosTest('serves a normal client with bounded memory while its socket is fuzzed', ['pg'], (kind) => socketFuzz(kind, FAST), 150_000);
chaosTest('answers hostile admin HTTP requests with clean 4xx errors', ['pglite'], (kind) => adminHttp(kind, FAST), 120_000);
