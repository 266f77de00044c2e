/**
 * A list of runs (keyset pages of runsList) kept live without re-reading what is loaded. A person may
 * have scrolled 10,000 runs into the list while a worker changes hundreds a second: each refresh reads
 * the first page (new runs on top) and, by id, the loaded runs that the pushed changes named (or, on
 * the slow timer, the ones in view), and folds both into the list in one update. Refreshes run one at
 * a time, at least MIN_GAP_MS apart; changes that arrive meanwhile are gathered for the next one.
 *
 * Plain code over the client's `call`, so the hook (use-runs-pages.ts) is glue and the rules are
 * tested without a browser (test/unit/live-runs-list.test.ts).
 */
import type { RunFilter, RunListPage, RunListParams, RunSummary } from '../../shared/admin-api.ts';
import { toError } from '../../shared/errors.ts';
import type { AdminClient } from '../api/admin-client.ts';

/** From the end of one refresh to the start of the next: pushed changes come every ~100 ms under load. */
export const MIN_GAP_MS = 500;
/** runsList reads at most this many runs per call, by page or by id. */
export const MAX_READ = 1000;
/** Changed ids waiting beyond this many are dropped: the slow timer still re-reads the rows in view. */
const MAX_PENDING = 10_000;
/** When more runs arrived on top than the first page holds, read down this many more pages to meet the list. */
const GAP_PAGES = 4;

export interface RunsListState {
  runs: RunSummary[];
  nextCursor: string | null;
  /** False until the first answer for this filter (the previous filter's rows may still be shown). */
  loaded: boolean;
  error: Error | null;
  refreshing: boolean;
  loadingMore: boolean;
}

/** Newest first, as runsList orders (createdAt, then id); createdAt has milliseconds, the list microseconds. */
export function newerFirst(a: RunSummary, b: RunSummary): number {
  if (a.createdAt !== b.createdAt) return a.createdAt > b.createdAt ? -1 : 1;
  return a.id === b.id ? 0 : a.id > b.id ? -1 : 1;
}

/** What one refresh read: the first page(s) as they are now, and the ids it asked for with those the filter still matches. */
export interface LiveRead {
  top: RunListPage;
  asked: readonly string[];
  found: RunSummary[];
}

/** Whether the first page(s) reach down to the newest loaded run, so the list stays one unbroken run of pages. */
export function reachesLoaded(loaded: readonly RunSummary[], top: RunListPage): boolean {
  const last = top.runs.at(-1);
  if (loaded.length === 0 || top.nextCursor === null || !last) return true;
  return last.createdAt <= loaded[0]!.createdAt;
}

/**
 * The list after a refresh. The first page is the truth for its range: its runs replace what is
 * loaded there, and a loaded run newer than its last run (by a whole millisecond) that it no longer
 * holds has left the filter. A run asked for by id and not found has left the filter too; one found
 * that was not loaded (it entered the filter) goes in at its place if the list covers that place.
 * Runs newer than the list come only from the first page, which keeps the list unbroken; if the first
 * page does not reach the list, the list starts again from it.
 */
export function mergeLiveRead(loaded: Pick<RunsListState, 'runs' | 'nextCursor'>, read: LiveRead): Pick<RunsListState, 'runs' | 'nextCursor'> {
  const { top } = read;
  if (loaded.runs.length === 0 || top.nextCursor === null || !reachesLoaded(loaded.runs, top)) return { runs: top.runs, nextCursor: top.nextCursor };
  const onTop = new Set(top.runs.map((r) => r.id));
  const found = new Map(read.found.filter((r) => !onTop.has(r.id)).map((r) => [r.id, r]));
  const gone = new Set(read.asked.filter((id) => !found.has(id) && !onTop.has(id)));
  const topLast = top.runs.at(-1)!;
  const newest = loaded.runs[0]!;
  const oldest = loaded.runs.at(-1)!;
  const kept: RunSummary[] = [];
  const loadedIds = new Set<string>();
  for (const run of loaded.runs) {
    loadedIds.add(run.id);
    if (onTop.has(run.id) || gone.has(run.id) || run.createdAt > topLast.createdAt) continue;
    kept.push(found.get(run.id) ?? run);
  }
  // Runs that entered the filter where the list has loaded: not above it, nor below while more pages remain.
  const entered = [...found.values()].filter(
    (r) => !loadedIds.has(r.id) && r.createdAt <= topLast.createdAt && newerFirst(r, newest) >= 0 && (loaded.nextCursor === null || newerFirst(r, oldest) <= 0),
  );
  const inserts = [...top.runs, ...entered].sort(newerFirst);
  // Both lists are newest first: a merge keeps the loaded runs in the order the engine gave them.
  const runs: RunSummary[] = [];
  let i = 0;
  for (const run of kept) {
    while (i < inserts.length && newerFirst(inserts[i]!, run) < 0) runs.push(inserts[i++]!);
    runs.push(run);
  }
  while (i < inserts.length) runs.push(inserts[i++]!);
  return { runs, nextCursor: loaded.nextCursor };
}

export interface LiveRunsListOptions {
  client: Pick<AdminClient, 'call'>;
  filter: RunFilter;
  pageSize: number;
  /** What is on screen when the list starts (a previous filter's rows stay until this one answers). */
  shown: RunsListState;
  onState(state: RunsListState): void;
}

export class LiveRunsList {
  private state: RunsListState;
  private busy = false;
  private stopped = false;
  /** The first page has answered: before it, the rows shown may be another filter's. */
  private started = false;
  private readonly changed = new Set<string>();
  /** The rows in view are to be read again (the slow timer, or refresh()). */
  private inViewDue = false;
  private moreWanted = false;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private lastEnd = Number.NEGATIVE_INFINITY;
  private inView: readonly string[] = [];
  private topLimit: number;

  constructor(private readonly o: LiveRunsListOptions) {
    this.state = o.shown;
    this.topLimit = o.pageSize;
  }

  /** Reads the first page. */
  start(): void {
    void this.operate('load');
  }

  /** Runs changed (a pushed message): read again those of them the list may hold. */
  runsChanged(runIds: readonly string[]): void {
    for (const id of runIds) {
      if (this.changed.size >= MAX_PENDING) break;
      this.changed.add(id);
    }
    this.schedule();
  }

  /** The slow timer: new runs on top and the rows in view, for changes nobody pushed (other engines). */
  poll(): void {
    this.inViewDue = true;
    this.schedule();
  }

  /** A person asked (a retry, a bulk action done): the same as the timer, now. */
  refresh(): void {
    this.inViewDue = true;
    this.schedule({ now: true });
  }

  /** The next page, appended; asked while another read is in flight (the first page included), it follows that one. */
  loadMore(): void {
    if (this.busy || !this.started) {
      this.moreWanted = true;
      return;
    }
    if (!this.state.nextCursor) return;
    void this.operate('more');
  }

  /** The runs now in view, read again by the slow timer. */
  showing(runIds: readonly string[]): void {
    this.inView = runIds;
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  private schedule(options: { now?: boolean } = {}): void {
    if (this.stopped || this.busy) return;
    if (this.timer) {
      if (!options.now) return;
      clearTimeout(this.timer);
    }
    const wait = options.now ? 0 : Math.max(0, this.lastEnd + MIN_GAP_MS - Date.now());
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.operate('refresh');
    }, wait);
  }

  private commit(state: RunsListState): void {
    if (this.stopped) return;
    this.state = state;
    this.o.onState(state);
  }

  private async operate(kind: 'load' | 'refresh' | 'more'): Promise<void> {
    if (this.stopped || this.busy) return;
    // Until the first page answered (it failed), a refresh is that first read again.
    if (kind === 'refresh' && !this.started) kind = 'load';
    this.busy = true;
    this.commit({ ...this.state, ...(kind === 'more' ? { loadingMore: true } : { refreshing: true }) });
    let failed = false;
    try {
      if (kind === 'load') failed = !(await this.load());
      else if (kind === 'more') await this.more();
      else failed = !(await this.refreshOnce());
    } finally {
      this.busy = false;
      this.lastEnd = Date.now();
    }
    if (this.stopped) return;
    // A failed read is tried again on the next change or tick, not at once in a loop.
    if (this.moreWanted && this.started && !failed) {
      this.moreWanted = false;
      this.loadMore();
    } else if (!failed && (this.changed.size > 0 || this.inViewDue)) {
      this.schedule();
    }
  }

  private call(params: Omit<RunListParams, keyof RunFilter> & Pick<RunFilter, 'since'>): Promise<RunListPage> {
    return this.o.client.call('runsList', { ...this.o.filter, ...params });
  }

  /** The first page; false when it failed. */
  private async load(): Promise<boolean> {
    try {
      const page = await this.call({ limit: this.o.pageSize });
      this.started = true;
      this.commit({ runs: page.runs, nextCursor: page.nextCursor, loaded: true, error: null, refreshing: false, loadingMore: false });
      return true;
    } catch (e: unknown) {
      this.commit({ ...this.state, loaded: true, error: toError(e), refreshing: false });
      return false;
    }
  }

  private async more(): Promise<void> {
    const cursor = this.state.nextCursor!;
    try {
      const page = await this.call({ limit: this.o.pageSize, cursor });
      const seen = new Set(this.state.runs.map((r) => r.id));
      this.commit({ ...this.state, runs: [...this.state.runs, ...page.runs.filter((r) => !seen.has(r.id))], nextCursor: page.nextCursor, error: null, loadingMore: false });
    } catch (e: unknown) {
      this.commit({ ...this.state, error: toError(e), loadingMore: false });
    }
  }

  /** One live refresh; false when it failed (what it took is put back for the next one). */
  private async refreshOnce(): Promise<boolean> {
    const current = this.state;
    const inViewDue = this.inViewDue;
    const asked = current.runs.length === 0 ? (this.changed.clear(), []) : this.take(current.runs, inViewDue);
    this.inViewDue = false;
    try {
      let found: RunSummary[] = [];
      if (asked.length > 0) {
        // Not below the list: those runs come with the pages a scroll loads.
        const oldest = current.nextCursor ? current.runs.at(-1)?.createdAt : undefined;
        found = (await this.call({ runIds: asked, limit: asked.length, ...later(this.o.filter.since, oldest) })).runs;
      }
      let top = await this.call({ limit: this.topLimit });
      for (let walked = 0; top.nextCursor && !reachesLoaded(current.runs, top) && walked < GAP_PAGES; walked++) {
        const next = await this.call({ limit: MAX_READ, cursor: top.nextCursor });
        top = { runs: [...top.runs, ...next.runs], nextCursor: next.nextCursor };
      }
      const merged = current.runs.length === 0 ? { runs: top.runs, nextCursor: top.nextCursor } : mergeLiveRead(current, { top, asked, found });
      // Room on the first page for twice the runs that arrived since the last refresh.
      const loaded = new Set(current.runs.map((r) => r.id));
      const arrived = top.runs.filter((r) => !loaded.has(r.id)).length;
      this.topLimit = Math.min(MAX_READ, Math.max(this.o.pageSize, 2 * arrived));
      this.commit({ ...this.state, ...merged, loaded: true, error: null, refreshing: false });
      return true;
    } catch (e: unknown) {
      for (const id of asked) if (this.changed.size < MAX_PENDING) this.changed.add(id);
      this.inViewDue ||= inViewDue;
      this.commit({ ...this.state, error: toError(e), refreshing: false });
      return false;
    }
  }

  /**
   * Up to MAX_READ ids to read again, taken from the waiting ones: changed runs in view first, then
   * changed runs loaded, then the others (which may have entered the filter), then, when due, the
   * rest of the view. What does not fit waits for the next refresh.
   */
  private take(loadedRuns: readonly RunSummary[], inViewDue: boolean): string[] {
    const loaded = new Set(loadedRuns.map((r) => r.id));
    const inView = new Set(this.inView.filter((id) => loaded.has(id)));
    const ranks: string[][] = [[], [], []];
    for (const id of this.changed) ranks[inView.has(id) ? 0 : loaded.has(id) ? 1 : 2]!.push(id);
    const asked = new Set<string>();
    for (const id of [...ranks.flat(), ...(inViewDue ? inView : [])]) {
      if (asked.size >= MAX_READ) break;
      asked.add(id);
      this.changed.delete(id);
    }
    return [...asked];
  }
}

/** The later of a filter's `since` and a bound, as a `since` param (none if neither). */
function later(since: string | undefined, bound: string | undefined): { since?: string } {
  if (since === undefined) return bound === undefined ? {} : { since: bound };
  if (bound === undefined) return { since };
  return { since: Date.parse(bound) > Date.parse(since) ? bound : since };
}
