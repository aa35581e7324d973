/**
 * Event retention: events older than the retention period are purged, oldest first, in small batches, each its own
 * short transaction with a pause after it, so writes are never held up for long (on SQLite a batch holds the write
 * lock for a few milliseconds; on PostgreSQL it takes no lock that writers wait on). Deliveries of purged events go
 * with them. A cursor older than what was purged gets 410 from the events API.
 */
import type { Store } from '../store/types.ts';
import type { WorkerLogger } from './delivery.ts';
import { type Periodic, startPeriodic } from './periodic.ts';

export const DEFAULT_RETENTION_DAYS = 30;
const BATCH = 500;
const PAUSE_MS = 20;
const INTERVAL_MS = 10 * 60_000;

export interface RetentionOptions {
  readonly days: number;
  readonly now?: () => number;
  readonly batch?: number;
  readonly logger?: WorkerLogger;
}

export class EventRetention {
  private periodic: Periodic | null = null;
  private stopped = false;

  constructor(
    private readonly store: Store,
    private readonly options: RetentionOptions,
  ) {}

  /** Purges every organization's expired events, batch by batch. Returns how many it deleted. */
  async runOnce(): Promise<number> {
    const cutoff = new Date((this.options.now ?? Date.now)() - this.options.days * 86_400_000).toISOString();
    let deleted = 0;
    for (const orgId of await this.store.organizationIds()) {
      for (;;) {
        if (this.stopped) return deleted;
        const n = await this.store.purgeEvents(orgId, cutoff, this.options.batch ?? BATCH);
        deleted += n;
        if (n === 0) break;
        await new Promise((resolve) => setTimeout(resolve, PAUSE_MS));
      }
    }
    return deleted;
  }

  /** Runs now and every ten minutes until stop(). */
  start(): void {
    this.periodic = startPeriodic(() => this.runOnce(), INTERVAL_MS, (err) => this.options.logger?.error({ err }, 'event retention failed'));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.periodic?.stop();
  }
}
