// The retention option as users give it (engine option, `cleaver serve --retention`).
import { expect, it } from 'vitest';
import { retentionAgeMs } from '../../engine/maintenance/retention.ts';

const DAY = 86_400_000;

it('takes its age as a duration or off, and refuses what is neither', () => {
  expect(retentionAgeMs(undefined)).toBe(30 * DAY);
  expect(retentionAgeMs('12h')).toBe(12 * 3_600_000);
  expect(retentionAgeMs('off')).toBeNull();
  expect(retentionAgeMs(null)).toBeNull();
  expect(() => retentionAgeMs('forever', '--retention')).toThrow(/--retention: "forever" is not an age; use a duration like '30d'.*or 'off'/);
  expect(() => retentionAgeMs('0s')).toThrow(/shorter than a second/);
  expect(() => retentionAgeMs('99999999d')).toThrow(/more than 36500 days; use 'off'/);
});
