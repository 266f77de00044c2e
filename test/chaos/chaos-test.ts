/** Declares chaos scenarios as vitest tests (FAST profile), one per driver, failing with what they broke. */
import { describe, expect, it } from 'vitest';
import { describePg } from '../driver/drivers.ts';
import { FAST } from './profile.ts';
import { formatProblems, formatSummary } from './report.ts';
import { SCENARIOS } from './scenarios/index.ts';

export function chaosTests(ids: string[]): void {
  for (const entry of SCENARIOS.filter((s) => ids.includes(s.id))) {
    for (const kind of entry.drivers(FAST)) {
      const body = () => {
        it(entry.test, async (context) => {
          const report = await entry.run(kind, FAST);
          if (report.skipped) {
            process.stdout.write(`chaos ${report.id} [${kind}] NOT RUN: ${report.skipped}\n`);
            context.skip(report.skipped);
            return;
          }
          process.stdout.write(`${formatSummary(report)}\n`);
          expect(formatProblems(report), 'chaos invariants').toBe('');
        }, entry.fastTimeoutMs);
      };
      if (kind === 'pg') describePg(`chaos ${entry.id} [pg]`, body);
      else describe(`chaos ${entry.id} [${kind}]`, body);
    }
  }
}
