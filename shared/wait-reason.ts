import type { WaitReason } from './types.ts';

/** The reason in words, for the CLI and logs. */
export function describeWait(reason: WaitReason): string {
  switch (reason.kind) {
    case 'backoff':
      return `retry waits out its backoff until ${reason.until}`;
    case 'no_worker':
      return `no connected worker offers ${JSON.stringify(reason.action)}: start a worker that registers it`;
    case 'no_slot':
      return `all ${reason.slots} slot(s) of the ${reason.workers} worker(s) offering ${JSON.stringify(reason.action)} are taken`;
    case 'suspect':
      return 'lost with its worker twice: waits for a worker that runs no other such task run';
    case 'queued':
      return reason.ahead === 0 ? 'next in line' : `${reason.atLeast ? 'more than ' : ''}${reason.ahead.toLocaleString('en-US')} task run(s) of its action go first`;
    case 'concurrency':
      return `concurrency key ${JSON.stringify(reason.key)} is full: ${reason.maxRuns} run(s) of it are running`;
    case 'rate_limit':
      return `rate limit ${JSON.stringify(reason.key)} is used up; it refills at ${reason.refillsAt}`;
  }
}
