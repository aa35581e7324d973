/**
 * Metrics of provisioning events and webhook delivery, appended to `/metrics`: events written (by type),
 * delivery attempts by outcome, the latency from an event to its successful delivery, and the age of the oldest
 * event still waiting for an endpoint. One instance per server (and its delivery worker).
 */
import type { Store } from '../store/types.ts';
import { formatNumber, histogramLines, labels, newHistogram, observe } from './metrics.ts';

/** Delivery latency buckets: from 5 ms to 10 hours (a retried delivery can take that long). */
const DELIVERY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800, 7200, 36000];

export type DeliveryOutcomeLabel = 'succeeded' | 'retried' | 'failed' | 'endpoint_disabled';

export class EventMetrics {
  private readonly written = new Map<string, number>();
  private readonly outcomes = new Map<DeliveryOutcomeLabel, number>();
  private readonly latency = newHistogram(DELIVERY_BUCKETS);
  private oldestSeconds = 0;

  /** Counts the events this process commits (the store tells it after each commit). */
  watch(store: Store): () => void {
    return store.onEventsCommitted((_orgId, types) => {
      for (const [type, n] of types) this.written.set(type, (this.written.get(type) ?? 0) + n);
    });
  }

  recordOutcome(outcome: DeliveryOutcomeLabel): void {
    this.outcomes.set(outcome, (this.outcomes.get(outcome) ?? 0) + 1);
  }

  /** Seconds from the event to its successful delivery. */
  recordLatency(seconds: number): void {
    observe(this.latency, Math.max(0, seconds), DELIVERY_BUCKETS);
  }

  /** Reads the oldest undelivered event's age from the store (before a scrape renders it). */
  async refresh(store: Store, nowMs: number = Date.now()): Promise<void> {
    const oldest = await store.oldestUndeliveredEvent();
    this.oldestSeconds = oldest === null ? 0 : Math.max(0, (nowMs - Date.parse(oldest)) / 1000);
  }

  render(): string {
    const out: string[] = [];
    out.push('# HELP scimkit_events_written_total Provisioning events written to the outbox by this process, by type.');
    out.push('# TYPE scimkit_events_written_total counter');
    for (const [type, n] of this.written) out.push(`scimkit_events_written_total${labels({ type })} ${n}`);
    out.push('# HELP scimkit_webhook_deliveries_total Webhook delivery attempts by outcome (succeeded, retried, failed, endpoint_disabled).');
    out.push('# TYPE scimkit_webhook_deliveries_total counter');
    for (const [outcome, n] of this.outcomes) out.push(`scimkit_webhook_deliveries_total${labels({ outcome })} ${n}`);
    out.push('# HELP scimkit_webhook_delivery_latency_seconds Time from an event to its successful delivery.');
    out.push('# TYPE scimkit_webhook_delivery_latency_seconds histogram');
    out.push(...histogramLines('scimkit_webhook_delivery_latency_seconds', {}, this.latency, DELIVERY_BUCKETS));
    out.push('# HELP scimkit_webhook_oldest_undelivered_seconds Age of the oldest event still waiting for an endpoint (0 when none).');
    out.push('# TYPE scimkit_webhook_oldest_undelivered_seconds gauge');
    out.push(`scimkit_webhook_oldest_undelivered_seconds ${formatNumber(this.oldestSeconds)}`);
    return out.join('\n') + '\n';
  }
}
