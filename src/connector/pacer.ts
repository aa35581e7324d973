/**
 * Client-side pacing from the rate-limit headers a provider announces, so a run sees almost no 429s while still
 * using most of the allowed rate.
 *
 * Model: a limit of L requests per one-second window (the Contentstack and Contentful APIs, and scimkit's server,
 * use fixed per-second windows), of which this client may use a share s. Requests are spread at least 1000/(sL) ms
 * apart; when the server says only the others' part (L - sL) remains in the window, or we have sent sL in it
 * ourselves, the next request waits for the window's reset. A 429's Retry-After pauses every request sharing the
 * pacer, not only the one that got it.
 */
import type { ResponseHeaders } from './wire.ts';

export interface RateLimitInfo {
  /** Requests allowed per window, when announced. */
  readonly limit: number | null;
  readonly remaining: number | null;
  /** Milliseconds until the window resets, when announced. */
  readonly resetMs: number | null;
}

function headerNumber(headers: ResponseHeaders, ...names: string[]): number | null {
  for (const name of names) {
    const v = headers.get(name);
    if (v === null) continue;
    const n = Number(v.trim().split(/[,;\s]/)[0]);
    if (Number.isFinite(n) && n >= 0) return n;
  }
  return null;
}

/** Reads X-RateLimit-* (and Contentful's X-Contentful-RateLimit-Second-*) headers. */
export function readRateLimit(headers: ResponseHeaders, nowMs: number): RateLimitInfo {
  const limit = headerNumber(headers, 'x-ratelimit-limit', 'x-contentful-ratelimit-second-limit', 'ratelimit-limit');
  const remaining = headerNumber(headers, 'x-ratelimit-remaining', 'x-contentful-ratelimit-second-remaining', 'ratelimit-remaining');
  const reset = headerNumber(headers, 'x-ratelimit-reset', 'x-contentful-ratelimit-reset', 'ratelimit-reset');
  let resetMs: number | null = null;
  if (reset !== null) {
    // Large values are an epoch, in milliseconds or in seconds; small ones are seconds from now (all three exist).
    resetMs = reset > 1e12 ? Math.max(0, reset - nowMs) : reset > 1e9 ? Math.max(0, reset * 1000 - nowMs) : reset * 1000;
  }
  return { limit: limit !== null && limit > 0 ? limit : null, remaining, resetMs };
}

/**
 * The furthest window reset the pacer waits for: the longest the connector waits for a server anywhere (a longer
 * Retry-After fails the request). A further one (an hourly quota, a misread header) is asked again after it: the
 * server then answers or says when to come back, rather than the run waiting silently.
 */
const LONGEST_RESET_MS = 300_000;

export interface PacerClock {
  now(): number;
  sleep(ms: number): Promise<void>;
}

export const realClock: PacerClock = {
  now: () => Date.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms))),
};

export class RatePacer {
  private limit: number | null = null;
  private lastStart = -Infinity;
  /** Start of the current window and how many requests we started in it. */
  private windowStart = 0;
  private windowEnd = 0;
  private sentInWindow = 0;
  /** The server's latest word on what is left in the current window. */
  private serverRemaining: number | null = null;
  private pausedUntil = 0;
  private queue: Promise<void> = Promise.resolve();

  /**
   * `share` is the part of an announced limit this pacer may use: it starts at most share x limit requests per
   * window, and none while the server says no more than the rest of the limit remains (that rest is left to other
   * clients of the same organization, such as a second sync or an admin tool).
   */
  constructor(
    private readonly clock: PacerClock = realClock,
    private readonly share = 1,
  ) {}

  /** Requests this pacer may start per window, and what it leaves to others, once a limit is known. */
  private budget(): { mine: number; reserve: number } | null {
    if (this.limit === null) return null;
    const mine = Math.max(1, Math.floor(this.limit * this.share));
    return { mine, reserve: this.limit - mine };
  }

  /** Waits until the next request may start; returns the milliseconds waited. Callers are served in order. */
  acquire(): Promise<number> {
    const turn = this.queue.then(() => this.waitForSlot());
    this.queue = turn.then(() => undefined, () => undefined);
    return turn;
  }

  private rollWindow(now: number): void {
    if (now >= this.windowEnd) {
      // Windows are aligned to whole seconds unless the server told us when the current one resets.
      this.windowStart = Math.floor(now / 1000) * 1000;
      this.windowEnd = this.windowStart + 1000;
      this.sentInWindow = 0;
      this.serverRemaining = null;
    }
  }

  private async waitForSlot(): Promise<number> {
    const began = this.clock.now();
    for (;;) {
      const now = this.clock.now();
      if (now < this.pausedUntil) {
        await this.clock.sleep(this.pausedUntil - now);
        continue;
      }
      this.rollWindow(now);
      const budget = this.budget();
      if (budget !== null) {
        const exhausted = this.sentInWindow >= budget.mine || (this.serverRemaining !== null && this.serverRemaining <= budget.reserve);
        if (exhausted) {
          // A few ms past the boundary so our clock and the server's agree the window has turned.
          await this.clock.sleep(this.windowEnd - now + 5);
          continue;
        }
        const spacing = 1000 / budget.mine;
        const next = this.lastStart + spacing;
        if (now < next) {
          await this.clock.sleep(next - now);
          continue;
        }
      }
      this.lastStart = now;
      this.sentInWindow += 1;
      if (this.serverRemaining !== null) this.serverRemaining -= 1;
      return now - began;
    }
  }

  /** Learns from the rate-limit headers of a response to a request started at `startedAt`. */
  observe(info: RateLimitInfo, startedAt: number): void {
    const now = this.clock.now();
    this.rollWindow(now);
    if (info.limit !== null) this.limit = info.limit;
    // A count from a window that has since turned says nothing about the current one.
    if (info.remaining !== null && startedAt >= this.windowStart) {
      this.serverRemaining = this.serverRemaining === null ? info.remaining : Math.min(this.serverRemaining, info.remaining);
      if (info.remaining <= 0 && info.resetMs !== null && info.resetMs > 0) this.windowEnd = now + Math.min(info.resetMs, LONGEST_RESET_MS);
    }
  }

  /** Holds every request until `ms` from now (a 429's Retry-After). */
  pause(ms: number): void {
    this.pausedUntil = Math.max(this.pausedUntil, this.clock.now() + ms);
  }

  get announcedLimit(): number | null {
    return this.limit;
  }
}
