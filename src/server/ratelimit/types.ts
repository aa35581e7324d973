/**
 * Fixed one-second windows per key, as the Contentstack SCIM API documents them: the count resets at the start of each second.
 * Implementations: in memory (one process) and Redis (several processes share one limit through an atomic script).
 */
export interface RateLimitDecision {
  readonly allowed: boolean;
  readonly limit: number;
  /** Requests left in the current window after this one (0 when refused). */
  readonly remaining: number;
  /** Milliseconds until the window resets. */
  readonly resetMs: number;
}

/** What a limiter with a shared counter store reports when that store stops or starts answering. */
export interface RateLimiterEvents {
  /** The shared store stopped answering (`reason` says how): decisions are made in this process until it is back. */
  fallback(reason: string): void;
  /** The shared store answers again. */
  recovered(): void;
}

export interface RateLimiter {
  /**
   * Counts one request against `key` (e.g. `org:<id>:read`) and decides whether it is allowed under `limit` per
   * second. Never rejects for an outage of a shared store: the decision is then made in this process.
   */
  hit(key: string, limit: number): Promise<RateLimitDecision>;
  /** Requests counted against `key` in the current window, without counting one (the console's usage page). */
  peek(key: string): Promise<number>;
  close(): Promise<void>;
  /** Rejects when the shared counter store cannot be reached now (readiness). Absent when counts live in the process. */
  ping?(): Promise<void>;
  /** Decisions made in this process so far because the shared store could not be reached. */
  readonly fallbackDecisions?: number;
  /** Whether decisions are currently made in this process because the shared store is down. */
  readonly degraded?: boolean;
  /** Registers for the shared store's outages and recoveries. */
  observe?(events: RateLimiterEvents): void;
}
