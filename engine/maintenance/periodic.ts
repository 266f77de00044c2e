/** Runs one maintenance pass every interval (never two at once), logging failures instead of throwing. */
import type { Logger } from '../log.ts';
import { toError } from '../../shared/errors.ts';

export interface MaintenanceService {
  readonly name: string;
  runOnce(): Promise<void>;
}

export class Periodic {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private failing = false;

  constructor(private readonly service: MaintenanceService, private readonly intervalMs: number, private readonly log: Logger) {}

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => void this.tick(), this.intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.running;
  }

  /** Runs a pass now (also used by tests to avoid waiting for the interval). */
  async tick(): Promise<void> {
    if (this.running) return this.running;
    this.running = (async () => {
      try {
        await this.service.runOnce();
        if (this.failing) this.log.info(`${this.service.name} recovered`);
        this.failing = false;
      } catch (e: unknown) {
        if (!this.failing) this.log.warn(`${this.service.name} failed; will retry`, { error: toError(e).message });
        this.failing = true;
      } finally {
        this.running = null;
      }
    })();
    return this.running;
  }
}
