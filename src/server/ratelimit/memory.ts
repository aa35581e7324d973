import type { RateLimitDecision, RateLimiter } from './types.ts';

export interface MemoryRateLimiterOptions {
  /** Clock in milliseconds; injectable so tests can step through windows. */
  readonly now?: () => number;
}

export const WINDOW_MS = 1000;

/** Validates a per-second limit once, for both implementations. */
export function checkLimit(limit: number): void {
  if (!Number.isSafeInteger(limit) || limit < 0) throw new RangeError(`rate limit must be a non-negative integer, got ${limit}`);
}

/**
 * Fixed one-second windows for one process. Only the current window's counts are kept: when the clock enters a
 * new second the whole map is replaced, so memory is bounded by the keys seen in one second, not by all keys ever.
 */
export class MemoryRateLimiter implements RateLimiter {
  readonly #now: () => number;
  #window = Number.NEGATIVE_INFINITY;
  #counts = new Map<string, number>();

  constructor(options: MemoryRateLimiterOptions = {}) {
    this.#now = options.now ?? Date.now;
  }

  async hit(key: string, limit: number): Promise<RateLimitDecision> {
    checkLimit(limit);
    const now = this.#now();
    const window = Math.floor(now / WINDOW_MS);
    // A clock stepping backwards stays in the current window rather than handing out a fresh allowance.
    if (window > this.#window) {
      this.#window = window;
      this.#counts = new Map();
    }
    const count = (this.#counts.get(key) ?? 0) + 1;
    this.#counts.set(key, count);
    const resetMs = Math.max(1, (this.#window + 1) * WINDOW_MS - now);
    return decide(count, limit, resetMs);
  }

  async peek(key: string): Promise<number> {
    return Math.floor(this.#now() / WINDOW_MS) === this.#window ? (this.#counts.get(key) ?? 0) : 0;
  }

  /** Keys counted in the current window (for tests of the pruning). */
  get size(): number {
    return this.#counts.size;
  }

  /** Nothing to connect to: counts live in this process (the Redis limiter's `connect()` checks Redis). */
  async connect(): Promise<void> {}

  async close(): Promise<void> {
    this.#counts = new Map();
  }
}

export function decide(count: number, limit: number, resetMs: number): RateLimitDecision {
  return { allowed: count <= limit, limit, remaining: Math.max(0, limit - count), resetMs };
}
