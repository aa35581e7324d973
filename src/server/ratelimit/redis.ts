import type { Redis } from 'ioredis';
import { checkLimit, decide, WINDOW_MS } from './memory.ts';
import type { RateLimitDecision, RateLimiter } from './types.ts';

export interface RedisRateLimiterOptions {
  readonly url: string;
  /** Prefix of every counter key, so several deployments (or test runs) can share one Redis. */
  readonly keyPrefix?: string;
  /** How long one connection attempt may take before the request fails. */
  readonly connectTimeoutMs?: number;
}

/**
 * One atomic step: read the Redis server's clock (so every process agrees on the window), count the request in the
 * key of the current one-second window, and let the key expire shortly after the window ends.
 * Returns {count, milliseconds until the window resets}. Redis 5+ replicates effects, so TIME before a write is allowed.
 */
const HIT_SCRIPT = `
local t = redis.call('TIME')
local nowMs = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local window = math.floor(nowMs / ${WINDOW_MS})
local key = KEYS[1] .. ':' .. window
local count = redis.call('INCR', key)
local resetMs = (window + 1) * ${WINDOW_MS} - nowMs
if count == 1 then
  redis.call('PEXPIRE', key, resetMs + ${WINDOW_MS})
end
return {count, resetMs}
`;

interface HitCommand {
  scimkitRateLimitHit(key: string): Promise<[number, number]>;
}

/** Removes credentials from a Redis URL before it appears in an error message. */
export function redactRedisUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.username || u.password) {
      u.username = '';
      u.password = '';
    }
    return u.toString();
  } catch {
    return '<invalid Redis URL>';
  }
}

/** Fixed one-second windows shared by every process that uses the same Redis. */
export class RedisRateLimiter implements RateLimiter {
  readonly #url: string;
  readonly #connectTimeoutMs: number;
  readonly #prefix: string;
  readonly #where: string;
  /** ioredis loads with the first command, so that a process without Redis never loads it. */
  #opening: Promise<Redis> | undefined;
  #redis: Redis | undefined;

  constructor(options: RedisRateLimiterOptions) {
    this.#where = redactRedisUrl(options.url);
    try {
      new URL(options.url);
    } catch {
      throw new Error(`invalid Redis URL for the rate limiter: ${this.#where}`);
    }
    this.#url = options.url;
    this.#connectTimeoutMs = options.connectTimeoutMs ?? 2000;
    this.#prefix = options.keyPrefix ?? 'scimkit:rl:';
  }

  #client(): Promise<Redis> {
    this.#opening ??= import('ioredis').then(({ Redis }) => {
      // Connect on first use; fail a request quickly instead of queueing it while Redis is down, but keep reconnecting.
      const redis = new Redis(this.#url, {
        lazyConnect: true,
        connectTimeout: this.#connectTimeoutMs,
        maxRetriesPerRequest: 1,
        retryStrategy: (attempt) => Math.min(attempt * 100, 1000),
      });
      // Errors surface through the rejected commands; without a listener ioredis would print every reconnect failure.
      redis.on('error', () => {});
      redis.defineCommand('scimkitRateLimitHit', { numberOfKeys: 1, lua: HIT_SCRIPT });
      this.#redis = redis;
      return redis;
    });
    return this.#opening;
  }

  /** Connects now (e.g. at server start) and rejects with a clear message when Redis is unreachable. */
  async connect(): Promise<void> {
    try {
      const redis = this.#redis ?? (await this.#client());
      if (redis.status === 'ready') return;
      if (redis.status === 'wait') await redis.connect();
      await redis.ping();
    } catch (err) {
      throw this.#unreachable(err);
    }
  }

  async hit(key: string, limit: number): Promise<RateLimitDecision> {
    checkLimit(limit);
    let reply: [number, number];
    try {
      const redis = this.#redis ?? (await this.#client());
      reply = await (redis as unknown as HitCommand).scimkitRateLimitHit(this.#prefix + key);
    } catch (err) {
      throw this.#unreachable(err);
    }
    const [count, resetMs] = reply;
    return decide(Number(count), limit, Math.max(1, Number(resetMs)));
  }

  /** Safe to call more than once, and before any command. */
  async close(): Promise<void> {
    if (!this.#opening) return;
    const redis = await this.#opening;
    if (redis.status === 'ready') {
      await redis.quit().catch(() => redis.disconnect());
    } else {
      redis.disconnect();
    }
  }

  #unreachable(err: unknown): Error {
    const reason = err instanceof Error ? err.message : String(err);
    return new Error(`rate limiter: Redis at ${this.#where} failed: ${reason}`, { cause: err });
  }
}
