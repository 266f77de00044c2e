/** Declares a chaos scenario as a vitest test per driver, failing with the invariants it broke. */
import { describe, expect, it } from 'vitest';
import { describePg, type DriverKind } from '../driver/drivers.ts';
import { formatProblems, formatSummary } from './report.ts';
import type { ScenarioReport } from './scenario.ts';

export function chaosTest(title: string, kinds: DriverKind[], run: (kind: DriverKind) => Promise<ScenarioReport>, timeoutMs: number): void {
  for (const kind of kinds) {
    const body = () => {
      it(title, async (context) => {
        const report = await run(kind);
        if (report.skipped) {
          process.stdout.write(`chaos ${report.id} [${kind}] NOT RUN: ${report.skipped}\n`);
          context.skip(report.skipped);
          return;
        }
        process.stdout.write(`${formatSummary(report)}\n`);
        expect(formatProblems(report), 'chaos invariants').toBe('');
      }, timeoutMs);
    };
    if (kind === 'pg') describePg(`chaos [pg]`, body);
    else describe(`chaos [${kind}]`, body);
  }
}
