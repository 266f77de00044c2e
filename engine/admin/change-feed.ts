/**
 * What changed in this engine, for live views: runs touched, workers or workflows changed. Changes are
 * coalesced for ~100 ms, so a burst of thousands of finishes is one message naming the runs, and
 * nothing is built at all while nobody listens.
 */
import type { AdminChange } from '../../shared/admin-api.ts';

const COALESCE_MS = 100;
/** At most this many run ids per message: live views refetch what they show whenever a message comes. */
const MAX_RUN_IDS = 2000;

export class ChangeFeed {
  private readonly listeners = new Set<(change: AdminChange) => void>();
  private runIds = new Set<string>();
  private workersChanged = false;
  private workflowsChanged = false;
  private timer: NodeJS.Timeout | null = null;

  subscribe(listener: (change: AdminChange) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Whether anyone listens: callers on a hot path skip gathering run ids when nobody does. */
  get listening(): boolean {
    return this.listeners.size > 0;
  }

  runs(ids: Iterable<string>): void {
    if (this.listeners.size === 0) return;
    for (const id of ids) {
      if (this.runIds.size >= MAX_RUN_IDS) break;
      this.runIds.add(id);
    }
    this.schedule();
  }

  workers(): void {
    if (this.listeners.size === 0) return;
    this.workersChanged = true;
    this.schedule();
  }

  workflows(): void {
    if (this.listeners.size === 0) return;
    this.workflowsChanged = true;
    this.schedule();
  }

  close(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.listeners.clear();
  }

  private schedule(): void {
    this.timer ??= setTimeout(() => this.flush(), COALESCE_MS);
  }

  private flush(): void {
    this.timer = null;
    const change: AdminChange = { runIds: [...this.runIds], workers: this.workersChanged, workflows: this.workflowsChanged };
    this.runIds = new Set();
    this.workersChanged = false;
    this.workflowsChanged = false;
    for (const listener of this.listeners) listener(change);
  }
}
