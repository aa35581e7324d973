import { MemoryRateLimiter } from './memory.ts';
import { RedisRateLimiter } from './redis.ts';
import type { RateLimiter } from './types.ts';

export type { RateLimitDecision, RateLimiter, RateLimiterEvents } from './types.ts';
export { MemoryRateLimiter, type MemoryRateLimiterOptions } from './memory.ts';
export { RedisRateLimiter, type RedisRateLimiterOptions } from './redis.ts';

export interface CreateRateLimiterOptions {
  /** Count in Redis (shared by several processes), at a redis:// or rediss:// URL; in this process's memory when absent. */
  readonly redisUrl?: string;
  /** Clock for the in-memory limiter; Redis always uses the Redis server's clock. */
  readonly now?: () => number;
  /** Key prefix in Redis. */
  readonly keyPrefix?: string;
}

/**
 * The Redis limiter connects lazily: call `connect()` on it to check Redis at start-up. Both kinds have `connect()`,
 * so an app can call it whether or not a Redis URL was configured.
 */
export function createRateLimiter(options: CreateRateLimiterOptions = {}): RateLimiter & { connect(): Promise<void> } {
  if (options.redisUrl) return new RedisRateLimiter({ url: options.redisUrl, keyPrefix: options.keyPrefix });
  return new MemoryRateLimiter({ now: options.now });
}
