/**
 * The Prometheus text an engine serves at `/metrics` (docs/metrics.md): counters and histograms of what
 * this engine saw since it started (sum them over engines), and gauges read when scraped — the queue
 * depth from the database (the same on every engine sharing it), the slots of the workers attached here.
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';

/** Seconds: from a fast local hand-off to an hour-long task. */
const LATENCY_BUCKETS_S = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600];

export interface PrometheusSources {
  /** Queued task runs per action, read at each scrape. */
  queueDepth(): Promise<Array<{ action: string; queued: number }>>;
  /** The slots of the workers connected to this engine. */
  slots(): { used: number; free: number; held: number };
  /** A gauge source failed (the last values stay). */
  onError(error: unknown): void;
}

export class PrometheusMetrics {
  private readonly registry = new Registry();
  readonly runsCreated: Counter<'workflow'>;
  readonly runsEnded: Counter<'workflow' | 'status'>;
  readonly tasksCreated: Counter<'workflow'>;
  readonly tasksEnded: Counter<'workflow' | 'status'>;
  readonly retries: Counter<'workflow'>;
  readonly flowWaits: Counter<'workflow' | 'kind'>;
  readonly queueSeconds: Histogram<'workflow'>;
  readonly durationSeconds: Histogram<'workflow'>;

  constructor(sources: PrometheusSources) {
    const registers = [this.registry];
    this.runsCreated = new Counter({ name: 'cleaver_runs_created_total', help: 'Runs created', labelNames: ['workflow'], registers });
    this.runsEnded = new Counter({ name: 'cleaver_runs_total', help: 'Runs that ended, by how they ended', labelNames: ['workflow', 'status'], registers });
    this.tasksCreated = new Counter({ name: 'cleaver_tasks_created_total', help: 'Task runs created', labelNames: ['workflow'], registers });
    this.tasksEnded = new Counter({ name: 'cleaver_tasks_total', help: 'Task runs that ended, by how they ended', labelNames: ['workflow', 'status'], registers });
    this.retries = new Counter({ name: 'cleaver_task_retries_total', help: 'Attempts that failed and were queued again', labelNames: ['workflow'], registers });
    this.flowWaits = new Counter({
      name: 'cleaver_flow_waits_total',
      help: 'Scheduler decisions at which a queued task run waited on a full concurrency key or a used-up rate limit',
      labelNames: ['workflow', 'kind'],
      registers,
    });
    this.queueSeconds = new Histogram({
      name: 'cleaver_task_queue_seconds',
      help: 'Time from enqueue (or the end of a retry backoff) to start, per attempt',
      labelNames: ['workflow'],
      buckets: LATENCY_BUCKETS_S,
      registers,
    });
    this.durationSeconds = new Histogram({
      name: 'cleaver_task_duration_seconds',
      help: 'Time from start to end, per attempt',
      labelNames: ['workflow'],
      buckets: LATENCY_BUCKETS_S,
      registers,
    });
    new Gauge({
      name: 'cleaver_queue_depth',
      help: 'Queued task runs per action (the same on every engine sharing the database)',
      labelNames: ['action'],
      registers,
      async collect() {
        try {
          const depths = await sources.queueDepth();
          this.reset();
          for (const d of depths) this.set({ action: d.action }, d.queued);
        } catch (e: unknown) {
          sources.onError(e);
        }
      },
    });
    new Gauge({
      name: 'cleaver_worker_slots',
      help: 'Slots of the workers connected to this engine, in use and free; held: attempts waiting in a worker beyond its slots (prefetch)',
      labelNames: ['state'],
      registers,
      collect() {
        const { used, free, held } = sources.slots();
        this.set({ state: 'used' }, used);
        this.set({ state: 'free' }, free);
        this.set({ state: 'held' }, held);
      },
    });
  }

  async render(): Promise<{ contentType: string; text: string }> {
    return { contentType: this.registry.contentType, text: await this.registry.metrics() };
  }
}
