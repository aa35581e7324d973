/**
 * The webhook delivery worker (docs/events.md): fans events out into deliveries, claims due ones under a lease,
 * signs them (Standard Webhooks v1) and posts them, then records each outcome.
 *
 * - At least once: a delivery is done only once its success is recorded. A worker killed before that leaves the
 *   lease to expire, and another worker (or the next start) sends it again, with the same `webhook-id`.
 * - Success is a 2xx within the timeout. Redirects are not followed (a 3xx is a failure). Anything else retries on
 *   RETRY_SCHEDULE_MS with jitter; `Retry-After` on 429 and 503 is honoured (no attempt before it, and the endpoint
 *   pauses until then). After the last attempt the delivery is `failed` (visible, replayable). 410 disables the
 *   endpoint.
 * - Order: the store hands out only the first pending delivery of each resource (webhooks.ts), so a later event of a
 *   resource waits until the earlier one succeeded or finally failed. Different resources go concurrently, at most
 *   `concurrencyPerEndpoint` at a time per endpoint in this process.
 * - The clock and the jitter source are injectable, so tests move through hours of retries without sleeping.
 */
import { randomUUID } from 'node:crypto';
import { HttpSender } from './webhook-sender.ts';
import type { Sender } from './webhook-sender.ts';
import type { ActiveEndpoint, ClaimedDelivery, DeliveryOutcome, Store } from '../store/types.ts';
import type { EventMetrics } from './event-metrics.ts';

/** Delays before the 2nd, 3rd, ... attempt (after the first, immediate one), like Svix's: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h. */
export const RETRY_SCHEDULE_MS: readonly number[] = [5_000, 300_000, 1_800_000, 7_200_000, 18_000_000, 36_000_000, 36_000_000];
/** Each delay is stretched or shrunk by up to this share, at random, so that retries of many deliveries spread out. */
export const RETRY_JITTER = 0.1;
export const DEFAULT_TIMEOUT_MS = 15_000;
export const DEFAULT_CONCURRENCY_PER_ENDPOINT = 32;
/** A Retry-After longer than this is capped (a receiver cannot park deliveries for days). */
const MAX_RETRY_AFTER_MS = 36_000_000;
/** How long finished attempts wait to be recorded together (ms). */
const FLUSH_DELAY_MS = 20;
/** Events committed within this window after the first are fanned out together at its end (ms). */
const EVENT_BATCH_MS = 25;
/** A lease outlasts the timeout by this much: time to record the outcome after the receiver answered. */
export const LEASE_MARGIN_MS = 5_000;

export interface WorkerLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export interface DeliveryWorkerOptions {
  readonly store: Store;
  /** Milliseconds since the epoch; Date.now by default. */
  readonly now?: () => number;
  /** [0, 1); Math.random by default. */
  readonly random?: () => number;
  readonly timeoutMs?: number;
  /** How long a claim lasts; another worker may take the delivery over after it. Default: timeout + LEASE_MARGIN_MS. */
  readonly leaseMs?: number;
  readonly concurrencyPerEndpoint?: number;
  /** Deliver to plain http URLs (development and tests). */
  readonly allowHttp?: boolean;
  /** How often to look for work committed elsewhere and for retries that came due (ms). */
  readonly pollMs?: number;
  readonly schedule?: readonly number[];
  readonly logger?: WorkerLogger;
  readonly metrics?: EventMetrics;
  /** Signs and posts; the worker closes it when it stops. By default an HttpSender on this thread. */
  readonly sender?: Sender;
}

/** The delay before attempt `attempts + 1` (attempts already made, 1 or more), with jitter; undefined when none is left. */
export function retryDelay(attempts: number, random: () => number, schedule: readonly number[] = RETRY_SCHEDULE_MS): number | undefined {
  const base = schedule[attempts - 1];
  if (base === undefined) return undefined;
  return Math.round(base * (1 + (random() * 2 - 1) * RETRY_JITTER));
}

/** Retry-After as milliseconds: delta-seconds or an HTTP date; undefined when absent or unreadable. */
export function parseRetryAfter(value: string | string[] | undefined, nowMs: number): number | undefined {
  const text = Array.isArray(value) ? value[0] : value;
  if (text === undefined || text.trim() === '') return undefined;
  const ms = /^\s*\d+\s*$/.test(text) ? Number(text) * 1000 : Date.parse(text) - nowMs;
  if (!Number.isFinite(ms)) return undefined;
  return Math.min(Math.max(0, ms), MAX_RETRY_AFTER_MS);
}

export class DeliveryWorker {
  readonly owner = `worker_${randomUUID()}`;
  private readonly store: Store;
  private readonly now: () => number;
  private readonly random: () => number;
  private readonly timeoutMs: number;
  private readonly leaseMs: number;
  private readonly concurrency: number;
  private readonly pollMs: number;
  private readonly schedule: readonly number[];
  private readonly sender: Sender;
  /** Deliveries being sent, per endpoint. */
  private readonly inFlight = new Map<string, number>();
  /**
   * Deliveries claimed but not yet sent, per endpoint: a claim takes a few times the concurrency at once, so one
   * transaction feeds many sends, and a finished send starts the next one without a round trip to the database.
   */
  private readonly queued = new Map<string, ClaimedDelivery[]>();
  /** Fan-out runs on a new event in this process, on the poll timer, and at start; not after every send. */
  private fanOutDue = true;
  private endpoints: { list: ActiveEndpoint[]; readAt: number } | null = null;
  private readonly sending = new Set<Promise<void>>();
  /** Outcomes waiting to be recorded (in one transaction per batch). */
  private pending: DeliveryOutcome[] = [];
  private flushing: Promise<void> | null = null;
  private flushTimer: NodeJS.Timeout | null = null;
  private eventTimer: NodeJS.Timeout | null = null;
  private eventsWaiting = false;
  private running = false;
  /** Set by stop(): no queued delivery starts any more; their leases are given back. */
  private stopping = false;
  private loopDone: Promise<void> | null = null;
  private wakeUp: (() => void) | null = null;
  private woken = false;
  private unsubscribe: (() => void) | null = null;
  /** Deliveries this worker recorded as succeeded (logged when it stops). */
  private succeeded = 0;

  constructor(private readonly options: DeliveryWorkerOptions) {
    this.store = options.store;
    this.now = options.now ?? Date.now;
    this.random = options.random ?? Math.random;
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.leaseMs = options.leaseMs ?? this.timeoutMs + LEASE_MARGIN_MS;
    this.concurrency = options.concurrencyPerEndpoint ?? DEFAULT_CONCURRENCY_PER_ENDPOINT;
    this.pollMs = options.pollMs ?? 1000;
    this.schedule = options.schedule ?? RETRY_SCHEDULE_MS;
    if (this.leaseMs <= this.timeoutMs) throw new Error('The delivery lease must be longer than the delivery timeout');
    this.sender = options.sender ?? new HttpSender({ timeoutMs: this.timeoutMs, connections: this.concurrency });
  }

  /** Runs until stop(): wakes on events committed in this process, on recorded outcomes, and every pollMs. */
  start(): void {
    if (this.running) return;
    this.running = true;
    this.unsubscribe = this.store.onEventsCommitted(() => this.eventsCommitted());
    this.loopDone = this.loop();
  }

  /**
   * New events in this process: the first wakes the worker at once; those that follow within EVENT_BATCH_MS are
   * fanned out and claimed together when the window ends (at most one wake per window), so a steady stream of
   * writes costs one fan-out and one claim per window instead of one per write, and a lone write waits for nothing.
   */
  private eventsCommitted(): void {
    if (this.eventTimer !== null) {
      this.eventsWaiting = true;
      return;
    }
    this.fanOutDue = true;
    this.wake();
    const windowEnds = () => {
      if (!this.eventsWaiting) {
        this.eventTimer = null;
        return;
      }
      this.eventsWaiting = false;
      this.fanOutDue = true;
      this.wake();
      this.eventTimer = setTimeout(windowEnds, EVENT_BATCH_MS);
    };
    this.eventTimer = setTimeout(windowEnds, EVENT_BATCH_MS);
  }

  /** Stops claiming, waits for the deliveries under way and records them. */
  async stop(): Promise<void> {
    this.running = false;
    this.stopping = true;
    this.unsubscribe?.();
    if (this.eventTimer !== null) clearTimeout(this.eventTimer);
    this.wake();
    await this.loopDone;
    await Promise.allSettled([...this.sending]);
    await this.flush();
    await this.releaseQueued();
    await this.sender.close();
    this.options.logger?.info({ succeeded: this.succeeded }, 'webhook delivery stopped');
  }

  private wake(): void {
    this.woken = true;
    const resolve = this.wakeUp;
    this.wakeUp = null;
    resolve?.();
  }

  private async loop(): Promise<void> {
    while (this.running) {
      this.woken = false;
      try {
        await this.step();
      } catch (err) {
        this.options.logger?.error({ err }, 'webhook delivery step failed');
      }
      if (!this.running) break;
      if (this.woken) continue;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          // A poll looks for work other processes committed, and for endpoints enabled, paused or added meanwhile.
          this.fanOutDue = true;
          this.endpoints = null;
          resolve();
        }, this.pollMs);
        this.wakeUp = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  }

  /** One round: fan out when due, then claim for and start what each endpoint has room for. Returns the deliveries claimed. */
  private async step(): Promise<number> {
    if (this.fanOutDue) {
      // Cleared before the fan-out, so that an event committed while it runs asks for the next one. An endpoint still
      // behind after one batch (a backlog) is fanned out again next round, not at the next poll: waiting for the
      // poll left the worker idle for a second after every batch of 5,000 (a fifth of a drain).
      this.fanOutDue = false;
      if (!(await this.store.fanOutEvents()).caughtUp) this.fanOutDue = true;
    }
    const nowMs = this.now();
    if (this.endpoints === null || nowMs - this.endpoints.readAt >= this.pollMs) this.endpoints = { list: await this.store.activeEndpoints(), readAt: nowMs };
    const now = new Date(nowMs).toISOString();
    let claimedTotal = 0;
    for (const endpoint of this.endpoints.list) {
      if (endpoint.pausedUntil !== null && endpoint.pausedUntil > now) continue;
      const queue = this.queued.get(endpoint.id) ?? [];
      const held = queue.length + (this.inFlight.get(endpoint.id) ?? 0);
      if (held < this.concurrency * 2) {
        const want = this.concurrency * 4 - held;
        // The lease covers the sends queued ahead: each wave of `concurrency` can take up to the timeout.
        const leaseUntil = new Date(nowMs + Math.ceil((held + want) / this.concurrency) * this.timeoutMs + (this.leaseMs - this.timeoutMs)).toISOString();
        const claimed = await this.store.claimDeliveries(this.owner, endpoint.id, now, leaseUntil, want);
        queue.push(...claimed);
        claimedTotal += claimed.length;
        this.queued.set(endpoint.id, queue);
      }
      this.pump(endpoint.id);
    }
    return claimedTotal;
  }

  /** Starts queued deliveries of an endpoint while it has room. */
  private pump(endpointId: string): void {
    const queue = this.queued.get(endpointId);
    while (queue && queue.length > 0 && (this.inFlight.get(endpointId) ?? 0) < this.concurrency) this.begin(queue.shift() as ClaimedDelivery);
  }

  /** Gives back the leases of claimed deliveries that were never sent (stopping), so others need not wait for them. */
  private async releaseQueued(): Promise<void> {
    const ids = [...this.queued.values()].flat().map((d) => d.id);
    this.queued.clear();
    if (ids.length > 0) await this.store.releaseDeliveries(this.owner, ids).catch(() => {});
  }

  private begin(delivery: ClaimedDelivery): void {
    this.inFlight.set(delivery.endpointId, (this.inFlight.get(delivery.endpointId) ?? 0) + 1);
    const task = this.attempt(delivery)
      .then((outcome) => this.record(outcome))
      .catch((err: unknown) => this.options.logger?.error({ err }, 'webhook delivery failed unexpectedly'))
      .finally(() => {
        this.inFlight.set(delivery.endpointId, (this.inFlight.get(delivery.endpointId) ?? 1) - 1);
        this.sending.delete(task);
        if (!this.stopping) this.pump(delivery.endpointId);
      });
    this.sending.add(task);
  }

  private record(outcome: DeliveryOutcome): void {
    // An endpoint disabled or paused by this outcome is read again before the next claim.
    if (outcome.disableEndpoint !== undefined || outcome.pauseEndpointUntil !== undefined) this.endpoints = null;
    this.pending.push(outcome);
    if (this.flushTimer !== null) return;
    // Outcomes that finish within a few milliseconds of each other are recorded in one transaction.
    this.flushTimer = setTimeout(() => {
      this.flushTimer = null;
      void this.flush().then(() => this.wake());
    }, FLUSH_DELAY_MS);
  }

  /** Records the outcomes gathered so far in one transaction; one flush at a time, the next takes what came meanwhile. */
  private async flush(): Promise<void> {
    if (this.flushTimer !== null) {
      clearTimeout(this.flushTimer);
      this.flushTimer = null;
    }
    while (this.flushing) await this.flushing;
    if (this.pending.length === 0) return;
    const batch = this.pending;
    this.pending = [];
    this.flushing = this.store.completeDeliveries(this.owner, batch).then(
      () => {
        this.flushing = null;
        for (const outcome of batch) if (outcome.result === 'succeeded') this.succeeded++;
      },
      (err: unknown) => {
        this.flushing = null;
        // Unrecorded outcomes are not lost work: their leases expire and the deliveries are sent again.
        this.options.logger?.error({ err }, 'recording webhook delivery outcomes failed');
      },
    );
    await this.flushing;
  }

  /** Sends one delivery and decides what became of it. */
  async attempt(delivery: ClaimedDelivery): Promise<DeliveryOutcome> {
    const startedMs = this.now();
    const attemptedAt = new Date(startedMs).toISOString();
    const base = { id: delivery.id, endpointId: delivery.endpointId, attemptedAt };
    const metrics = this.options.metrics;
    if (delivery.body === null || delivery.eventId === null) {
      metrics?.recordOutcome('failed');
      return { ...base, result: 'failed', httpStatus: null, error: 'the event is past retention' };
    }
    if (new URL(delivery.url).protocol === 'http:' && !this.options.allowHttp) {
      return this.failure(delivery, base, null, 'plain http URLs are not delivered to (run with --allow-http-webhooks)', undefined);
    }
    const answer = await this.sender.send({
      url: delivery.url,
      eventId: delivery.eventId,
      timestamp: Math.floor(startedMs / 1000),
      secrets: delivery.secrets,
      body: delivery.body,
    });
    if ('error' in answer) return this.failure(delivery, base, null, answer.error, undefined);
    const { status, retryAfter } = answer;
    if (status >= 200 && status < 300) {
      metrics?.recordOutcome('succeeded');
      if (delivery.occurredAt !== null) metrics?.recordLatency((this.now() - Date.parse(delivery.occurredAt)) / 1000);
      return { ...base, result: 'succeeded', httpStatus: status, error: null };
    }
    if (status === 410) {
      metrics?.recordOutcome('endpoint_disabled');
      this.options.logger?.warn({ endpoint: delivery.endpointId }, 'webhook endpoint answered 410 Gone: disabled');
      return { ...base, result: 'failed', httpStatus: status, error: 'the receiver answered 410 Gone: endpoint disabled', disableEndpoint: 'the receiver answered 410 Gone' };
    }
    const waitMs = status === 429 || status === 503 ? parseRetryAfter(retryAfter, startedMs) : undefined;
    const error = status >= 300 && status < 400 ? `the receiver answered ${status} (redirects are not followed)` : `the receiver answered ${status}`;
    return this.failure(delivery, base, status, error, waitMs);
  }

  private failure(
    delivery: ClaimedDelivery,
    base: { id: string; endpointId: string; attemptedAt: string },
    httpStatus: number | null,
    error: string,
    retryAfterMs: number | undefined,
  ): DeliveryOutcome {
    const attempts = delivery.attempts + 1;
    const delay = retryDelay(attempts, this.random, this.schedule);
    const nowMs = Date.parse(base.attemptedAt);
    if (delay === undefined) {
      this.options.metrics?.recordOutcome('failed');
      return { ...base, result: 'failed', httpStatus, error: `${error}; no attempts left after ${attempts}` };
    }
    this.options.metrics?.recordOutcome('retried');
    const wait = Math.max(delay, retryAfterMs ?? 0);
    return {
      ...base,
      result: 'retry',
      httpStatus,
      error,
      nextAttemptAt: new Date(nowMs + wait).toISOString(),
      ...(retryAfterMs !== undefined ? { pauseEndpointUntil: new Date(nowMs + retryAfterMs).toISOString() } : {}),
    };
  }

  /**
   * For tests and one-shot runs: one round of fan-out and claims at the current (injected) time, waiting until
   * every delivery it started is recorded. Returns how many it started.
   */
  async runOnce(): Promise<number> {
    this.fanOutDue = true;
    this.endpoints = null;
    const started = await this.step();
    // Everything claimed is sent in this round (the queue drains through pump as sends finish).
    while (this.sending.size > 0) await Promise.allSettled([...this.sending]);
    await this.flush();
    return started;
  }

  /** Rounds until a round starts nothing (everything due now is done). */
  async drain(): Promise<number> {
    let total = 0;
    for (;;) {
      const started = await this.runOnce();
      if (started === 0) return total;
      total += started;
    }
  }

  /** Closes the sender of a worker that was never started (one used through runOnce). */
  async close(): Promise<void> {
    while (this.sending.size > 0) await Promise.allSettled([...this.sending]);
    await this.flush();
    await this.releaseQueued();
    await this.sender.close();
  }
}
