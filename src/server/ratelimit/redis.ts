import type { Redis } from 'ioredis';
import { checkLimit, decide, MemoryRateLimiter, WINDOW_MS } from './memory.ts';
import type { RateLimitDecision, RateLimiter, RateLimiterEvents } from './types.ts';

export interface RedisRateLimiterOptions {
  readonly url: string;
  /** Prefix of every counter key, so several deployments (or test runs) can share one Redis. */
  readonly keyPrefix?: string;
  /** How long one connection attempt may take. */
  readonly connectTimeoutMs?: number;
  /** How long one counting command may take before the decision is made in the process instead. */
  readonly commandTimeoutMs?: number;
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

/** The count of the current window's key, on the Redis server's clock, without counting. */
const PEEK_SCRIPT = `
local t = redis.call('TIME')
local window = math.floor((tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)) / ${WINDOW_MS})
return tonumber(redis.call('GET', KEYS[1] .. ':' .. window) or '0')
`;

interface HitCommand {
  scimkitRateLimitHit(key: string): Promise<[number, number]>;
  scimkitRateLimitPeek(key: string): Promise<number>;
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

/** While Redis is down, how often one decision tries it again (the others are made in the process meanwhile). */
const RETRY_INTERVAL_MS = 1000;

/**
 * Fixed one-second windows shared by every process that uses the same Redis. While Redis cannot be reached the
 * limiter keeps deciding, with per-process counters (each process then allows the whole limit), and reports the
 * outage and the recovery to its observers: an outage of the counter store must not take the API down with it.
 */
export class RedisRateLimiter implements RateLimiter {
  readonly #url: string;
  readonly #connectTimeoutMs: number;
  readonly #commandTimeoutMs: number;
  readonly #prefix: string;
  readonly #where: string;
  /** ioredis loads with the first command, so that a process without Redis never loads it. */
  #opening: Promise<Redis> | undefined;
  #redis: Redis | undefined;
  readonly #local = new MemoryRateLimiter();
  readonly #observers: RateLimiterEvents[] = [];
  #fallbackDecisions = 0;
  #down = false;
  /** While down: when the next decision may try Redis again, and whether one is trying now. */
  #retryAt = 0;
  #probing = false;

  constructor(options: RedisRateLimiterOptions) {
    this.#where = redactRedisUrl(options.url);
    let scheme: string;
    try {
      scheme = new URL(options.url).protocol;
    } catch {
      throw new Error(`invalid Redis URL for the rate limiter: ${this.#where}`);
    }
    // ioredis ignores the scheme: `http://host` or `localhost:6379` (scheme "localhost:") would be dialled as Redis.
    if (scheme !== 'redis:' && scheme !== 'rediss:') {
      throw new Error(`invalid Redis URL for the rate limiter: ${this.#where} (use redis://host:6379 or rediss://)`);
    }
    this.#url = options.url;
    this.#connectTimeoutMs = options.connectTimeoutMs ?? 2000;
    this.#commandTimeoutMs = options.commandTimeoutMs ?? 1000;
    this.#prefix = options.keyPrefix ?? 'scimkit:rl:';
  }

  #client(): Promise<Redis> {
    this.#opening ??= import('ioredis').then(({ Redis }) => {
      // Connect on first use. A command fails at once while the connection is down (no offline queue) and within
      // commandTimeout when Redis hangs; ioredis keeps reconnecting in the background.
      const redis = new Redis(this.#url, {
        lazyConnect: true,
        connectTimeout: this.#connectTimeoutMs,
        commandTimeout: this.#commandTimeoutMs,
        enableOfflineQueue: false,
        maxRetriesPerRequest: 1,
        retryStrategy: (attempt) => Math.min(attempt * 100, 1000),
      });
      // Errors surface through the rejected commands; without a listener ioredis would print every reconnect failure.
      redis.on('error', () => {});
      redis.defineCommand('scimkitRateLimitHit', { numberOfKeys: 1, lua: HIT_SCRIPT });
      redis.defineCommand('scimkitRateLimitPeek', { numberOfKeys: 1, lua: PEEK_SCRIPT });
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

  async ping(): Promise<void> {
    const redis = this.#redis ?? (await this.#client());
    if (redis.status !== 'ready') throw new Error(`rate limiter: Redis at ${this.#where} is not connected (${redis.status})`);
    try {
      await redis.ping();
    } catch (err) {
      throw this.#unreachable(err);
    }
  }

  get fallbackDecisions(): number {
    return this.#fallbackDecisions;
  }

  get degraded(): boolean {
    return this.#down;
  }

  observe(events: RateLimiterEvents): void {
    this.#observers.push(events);
  }

  async hit(key: string, limit: number): Promise<RateLimitDecision> {
    checkLimit(limit);
    const redis = this.#redis ?? (await this.#client());
    if (redis.status === 'wait') await this.connect().catch(() => {});
    // While Redis is down, one decision a second tries it again; the others are made here without waiting for it.
    if (this.#down && (this.#probing || Date.now() < this.#retryAt)) return this.#decideLocally(key, limit);
    if (redis.status !== 'ready') return this.#failed(key, limit, `not connected (${redis.status})`);
    const probe = this.#down;
    if (probe) this.#probing = true;
    let reply: [number, number];
    try {
      reply = await (redis as unknown as HitCommand).scimkitRateLimitHit(this.#prefix + key);
    } catch (err) {
      return this.#failed(key, limit, err instanceof Error ? err.message : String(err));
    } finally {
      if (probe) this.#probing = false;
    }
    if (this.#down) {
      this.#down = false;
      for (const o of this.#observers) o.recovered();
    }
    const [count, resetMs] = reply;
    return decide(Number(count), limit, Math.max(1, Number(resetMs)));
  }

  /** While Redis is down, the counts of this process (which it then decides by). */
  async peek(key: string): Promise<number> {
    const redis = this.#redis ?? (await this.#client());
    if (this.#down || redis.status !== 'ready') return this.#local.peek(key);
    try {
      return Number(await (redis as unknown as HitCommand).scimkitRateLimitPeek(this.#prefix + key));
    } catch {
      return this.#local.peek(key);
    }
  }

  #failed(key: string, limit: number, reason: string): Promise<RateLimitDecision> {
    this.#retryAt = Date.now() + RETRY_INTERVAL_MS;
    if (!this.#down) {
      this.#down = true;
      for (const o of this.#observers) o.fallback(`Redis at ${this.#where} failed: ${reason}`);
    }
    return this.#decideLocally(key, limit);
  }

  #decideLocally(key: string, limit: number): Promise<RateLimitDecision> {
    this.#fallbackDecisions++;
    return this.#local.hit(key, limit);
  }

  /** Safe to call more than once, and before any command. */
  async close(): Promise<void> {
    await this.#local.close();
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
