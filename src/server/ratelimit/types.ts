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

export interface RateLimiter {
  /** Counts one request against `key` (e.g. `org:<id>:read`) and decides whether it is allowed under `limit` per second. */
  hit(key: string, limit: number): Promise<RateLimitDecision>;
  close(): Promise<void>;
}
