/**
 * The run list at scale: a month of history (bench/lib/run-list-data.ts) loaded in bulk, then each
 * filter of the console's Runs page asked `queries` times, each time for `pages` pages of `pageSize` the
 * way the console asks (the first page, then the next ones by cursor as the table scrolls), with the
 * filter's values varied from query to query (another workflow, tenant, word, order id) so that no
 * figure is one cached page asked again. Every call is timed at the client (the SDK over the engine's
 * socket: what the console and `cleaver.runs.list` wait for); the count the console shows beside the
 * list is timed too, upTo as the console asks it.
 *
 * Cleaver only: no peer has a run list to compare with. The figures are read against the issue's
 * bound (p95 ≤ 100 ms per filter at a million runs on Postgres), and docs/search.md explains them.
 */
import type { RunFilter } from 'cleaver-sdk';
import { percentile, summarizeLatency, type LatencySummary } from '../lib/stats.ts';
import { LIVE_RUNS, RUN_WORDS, WORKFLOW_SHARES } from '../lib/run-list-data.ts';
import type { SystemUnderTest } from '../systems/system.ts';

export interface RunListOptions {
  /** Runs loaded, per system id (a system not named here is skipped). */
  runs: Record<string, number>;
  /** Queries per filter. */
  queries: number;
  /** Pages each query reads. */
  pages: number;
  pageSize: number;
  /** The count the console asks beside the list: upTo without a search, and with one. */
  countUpTo: number;
  searchCountUpTo: number;
}

/** One filter of the console, its values drawn afresh for each query `q` of the data loaded. */
interface FilterCase {
  id: string;
  label: string;
  filter: (q: number, data: { runs: number; endMs: number }) => RunFilter;
}

export interface RunListCaseResult {
  id: string;
  label: string;
  listMs: LatencySummary & { p95: number };
  countMs: LatencySummary & { p95: number };
  /** Runs on the first page, averaged over the queries: whether the filter found what it should. */
  firstPageRuns: number;
}

export interface RunListResult {
  runs: number;
  loadMs: number;
  sizes: Record<string, string>;
  cases: RunListCaseResult[];
}

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
// A month, less a day: the engine's retention (30 days by default) deletes none of it while it is measured.
const SPAN_MS = 29 * DAY;

const workflows = Object.keys(WORKFLOW_SHARES);
const pick = <T>(list: readonly T[], q: number): T => list[q % list.length]!;
/** A spread of whole numbers below n, different for each query and each salt. */
const spread = (q: number, n: number, salt = 0): number => ((q + 1) * 7_919 + salt * 104_729) % n;

/** The console's default view lists runs no task spawned (children are counted on their parents). */
const topLevel = (filter: RunFilter): RunFilter => ({ ...filter, topLevelOnly: true });

const since = (data: { endMs: number }, ms: number) => new Date(data.endMs - ms).toISOString();
const common = RUN_WORDS.slice(0, 10);
const middle = RUN_WORDS.slice(20, 60);
const tail = RUN_WORDS.slice(-10);
const errors = ['ECONNREFUSED', 'timed out', 'card_declined', 'RateLimitError 429', 'AccessDenied', 'mailbox unavailable', 'ValidationError', 'Cannot read properties'];
const outputs = ['sendgrid', 'imgproxy', 'hubspot', 'stripe'];

/**
 * The filters measured: each filter of the Runs page alone, words of every frequency the data has
 * (from half the runs to one), in input, metadata, outputs and errors, and searches with other filters.
 */
export const RUN_LIST_CASES: readonly FilterCase[] = [
  { id: 'all', label: 'no filter', filter: () => ({}) },
  { id: 'workflow', label: 'workflow', filter: (q) => ({ workflowName: pick(workflows, q) }) },
  { id: 'failed', label: 'status failed (5%)', filter: () => ({ statuses: ['failed'] }) },
  { id: 'cancelled', label: 'status cancelled (2.5%)', filter: () => ({ statuses: ['cancelled'] }) },
  { id: 'running', label: `status running (the newest ${LIVE_RUNS.toLocaleString('en-US')} live, a few old)`, filter: () => ({ statuses: ['running'] }) },
  { id: 'queued-running', label: 'status queued or running', filter: () => ({ statuses: ['queued', 'running'] }) },
  { id: 'last-hour', label: 'last hour', filter: (_q, d) => ({ since: since(d, HOUR) }) },
  { id: 'day-workflow', label: 'last 24 hours, workflow', filter: (q, d) => ({ since: since(d, DAY), workflowName: pick(workflows, q) }) },
  { id: 'workflow-failed-week', label: 'workflow, failed, last 7 days', filter: (q, d) => ({ workflowName: pick(workflows, q), statuses: ['failed'], since: since(d, 7 * DAY) }) },
  { id: 'tenant', label: 'metadata tenant (200, skewed)', filter: (q) => ({ metadata: { tenant: `t-${spread(q, 200)}` } }) },
  { id: 'customer', label: 'metadata customer (~14 runs each)', filter: (q) => ({ metadata: { customer: `c-${spread(q, 50_000)}` } }) },
  { id: 'tenant-failed', label: 'metadata tenant, failed', filter: (q) => ({ metadata: { tenant: `t-${spread(q, 50)}` }, statuses: ['failed'] }) },
  { id: 'event', label: 'trigger event', filter: () => ({ triggerKinds: ['event'] }) },
  { id: 'cron-failed', label: 'trigger cron, failed', filter: () => ({ triggerKinds: ['cron'], statuses: ['failed'] }) },
  { id: 'search-common', label: 'search a word in ~half the runs', filter: (q) => ({ search: pick(common, q) }) },
  { id: 'search-middle', label: 'search a word in ~1-4% of runs', filter: (q) => ({ search: pick(middle, q) }) },
  { id: 'search-tail', label: 'search a word in ~1% of runs', filter: (q) => ({ search: pick(tail, q) }) },
  { id: 'search-batch', label: 'search a batch tag (~0.02% of runs)', filter: (q) => ({ search: `batch${spread(q, 2_000)}` }) },
  { id: 'search-order', label: 'search an order id (its run, and ids it begins)', filter: (q, d) => ({ search: `ord_${1 + spread(q, d.runs)}` }) },
  { id: 'search-email', label: 'search an email address (~3 runs)', filter: (q) => ({ search: `user${spread(q, 100_000)}@example.com` }) },
  { id: 'search-customer', label: 'search a customer id (metadata and input)', filter: (q) => ({ search: `c-${spread(q, 50_000)}` }) },
  { id: 'search-error', label: 'search words of an error (~0.6% each)', filter: (q) => ({ search: pick(errors, q) }) },
  { id: 'search-output', label: 'search a word of outputs (12-32%)', filter: (q) => ({ search: pick(outputs, q) }) },
  { id: 'search-absent', label: 'search a word no run has', filter: (q) => ({ search: `nosuchword${q}` }) },
  { id: 'search-workflow', label: 'search a middle word, workflow', filter: (q) => ({ search: pick(middle, q), workflowName: pick(workflows, q) }) },
  { id: 'search-failed', label: 'search a tail word, failed', filter: (q) => ({ search: pick(tail, q), statuses: ['failed'] }) },
  { id: 'search-tenant', label: 'search a middle word, metadata tenant', filter: (q) => ({ search: pick(middle, q), metadata: { tenant: `t-${spread(q, 50)}` } }) },
  { id: 'search-error-week', label: 'search an error, last 7 days', filter: (q, d) => ({ search: pick(errors, q), since: since(d, 7 * DAY) }) },
];

export async function runListMeasure(sut: SystemUnderTest, options: RunListOptions): Promise<RunListResult> {
  const support = sut.runList;
  if (!support) throw new Error(`${sut.id} has no run list to measure (SystemUnderTest.runList)`);
  const runs = options.runs[sut.id];
  if (runs === undefined) throw new Error(`${sut.id}: no run count for it in the profile's runList.runs`);
  const endMs = Date.now();
  const loaded = await support.load({ runs, endMs, spanMs: SPAN_MS });
  const cases: RunListCaseResult[] = [];
  for (const c of RUN_LIST_CASES) {
    const list: number[] = [];
    const count: number[] = [];
    let firstPageRuns = 0;
    for (let q = 0; q < options.queries; q++) {
      const filter = topLevel(c.filter(q, { runs, endMs }));
      let cursor: string | null = null;
      for (let page = 0; page < options.pages && (page === 0 || cursor !== null); page++) {
        const began = performance.now();
        const result = await support.list({ ...filter, limit: options.pageSize, ...(cursor ? { cursor } : {}) });
        list.push(performance.now() - began);
        if (page === 0) firstPageRuns += result.runs.length;
        cursor = result.nextCursor;
      }
      const began = performance.now();
      await support.count({ ...filter, upTo: filter.search === undefined ? options.countUpTo : options.searchCountUpTo });
      count.push(performance.now() - began);
    }
    cases.push({ id: c.id, label: c.label, listMs: withP95(list), countMs: withP95(count), firstPageRuns: Math.round(firstPageRuns / options.queries) });
  }
  return { runs, loadMs: loaded.loadMs, sizes: loaded.sizes, cases };
}

function withP95(samples: number[]): LatencySummary & { p95: number } {
  const sorted = [...samples].sort((a, b) => a - b);
  return { ...summarizeLatency(sorted), p95: Math.round(percentile(sorted, 95) * 100) / 100 };
}
