/**
 * The connector's HTTP client: undici fetch over a keep-alive Agent, a timeout per attempt (body included),
 * retries with full-jitter exponential backoff for transient failures, Retry-After as seconds or an HTTP date,
 * pacing from rate-limit headers, and errors that carry the server's own explanation. The token only ever goes
 * into the Authorization header; every message is redacted.
 */
import { Agent, fetch } from 'undici';
import { readRateLimit, RatePacer, realClock, type PacerClock } from './pacer.ts';
import type { Logger, Redactor } from './log.ts';

export interface HttpStats {
  requests: number;
  retries: number;
  /** 429 responses received. */
  throttled: number;
  /** Milliseconds spent waiting for the pacer or a Retry-After. */
  waitedMs: number;
}

export interface HttpClientOptions {
  readonly baseUrl: string;
  readonly token: string;
  readonly timeoutMs: number;
  /** Retries after the first attempt. */
  readonly retryAttempts: number;
  readonly logger: Logger;
  readonly redact: Redactor;
  /** Full-jitter backoff: a random delay up to min(cap, base * 2^retry). */
  readonly backoffBaseMs?: number;
  readonly backoffCapMs?: number;
  /** A Retry-After longer than this fails the request instead of stalling the run. */
  readonly maxRetryAfterMs?: number;
  /** Keep-alive connections to the server (more than one only helps concurrent callers such as `seed`). */
  readonly connections?: number;
  readonly clock?: PacerClock;
}

export interface JsonResponse {
  readonly status: number;
  readonly headers: Headers;
  readonly body: unknown;
  /** The server's Date header in epoch ms, when sent: a server timestamp, unlike our clock. */
  readonly serverDate: number | null;
}

/** A request that failed for good. `status` is null for network errors and timeouts. */
export class HttpError extends Error {
  readonly status: number | null;
  readonly scimType: string | null;
  readonly retryable: boolean;
  constructor(message: string, status: number | null, scimType: string | null, retryable: boolean) {
    super(message);
    this.name = 'HttpError';
    this.status = status;
    this.scimType = scimType;
    this.retryable = retryable;
  }
}

const RETRYABLE_STATUS = new Set([408, 425, 429]);
const STATUS_TEXT: Readonly<Record<number, string>> = {
  400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 408: 'Request Timeout', 409: 'Conflict',
  413: 'Payload Too Large', 425: 'Too Early', 429: 'Too Many Requests', 500: 'Internal Server Error', 502: 'Bad Gateway',
  503: 'Service Unavailable', 504: 'Gateway Timeout',
};

export function isRetryableStatus(status: number): boolean {
  return RETRYABLE_STATUS.has(status) || status >= 500;
}

/** Retry-After as delta-seconds or an HTTP date (measured against the server's Date when it sent one). */
export function parseRetryAfter(value: string | null, serverDate: number | null, now: number): number | null {
  if (value === null) return null;
  const v = value.trim();
  if (/^\d+(\.\d+)?$/.test(v)) return Math.round(Number(v) * 1000);
  const at = Date.parse(v);
  if (Number.isNaN(at)) return null;
  return Math.max(0, at - (serverDate ?? now));
}

function str(v: unknown): string | null {
  return typeof v === 'string' && v.trim() !== '' ? v.trim() : typeof v === 'number' ? String(v) : null;
}

/** The server's explanation from a SCIM error, a Contentstack `error_message`, a Contentful `message`, or the text. */
export function explainErrorBody(body: unknown, text: string): { detail: string | null; scimType: string | null } {
  if (body && typeof body === 'object' && !Array.isArray(body)) {
    const o = body as Record<string, unknown>;
    const detail = str(o.detail) ?? str(o.error_message) ?? str(o.message) ?? str(o.error_description)
      ?? (typeof o.error === 'object' && o.error ? str((o.error as Record<string, unknown>).message) : str(o.error));
    const scimType = str(o.scimType);
    if (detail || scimType) return { detail, scimType };
  }
  const snippet = text.replace(/\s+/g, ' ').trim().slice(0, 200);
  return { detail: snippet || null, scimType: null };
}

function networkReason(err: unknown, timeoutMs: number): string {
  const e = err as { name?: string; message?: string; cause?: { code?: string; name?: string; message?: string } };
  if (e?.name === 'TimeoutError' || e?.cause?.name === 'TimeoutError') return `timed out after ${timeoutMs / 1000} s`;
  if (e?.name === 'AbortError') return 'aborted';
  return e?.cause?.code ?? e?.cause?.message ?? e?.message ?? 'network error';
}

export interface RequestOptions {
  readonly query?: Readonly<Record<string, string | number | undefined>>;
  readonly body?: unknown;
}

export class HttpClient {
  readonly stats: HttpStats = { requests: 0, retries: 0, throttled: 0, waitedMs: 0 };
  readonly pacer: RatePacer;
  private readonly agent: Agent;
  private readonly clock: PacerClock;

  constructor(private readonly opts: HttpClientOptions) {
    this.clock = opts.clock ?? realClock;
    this.pacer = new RatePacer(this.clock);
    this.agent = new Agent({
      keepAliveTimeout: 30_000,
      connections: opts.connections ?? 4,
      connect: { timeout: opts.timeoutMs },
    });
  }

  /** The path and query shown in logs and errors (relative to the base URL; never the token). */
  describe(method: string, path: string, query?: RequestOptions['query']): string {
    return `${method} ${path}${this.queryString(query)}`;
  }

  private queryString(query?: RequestOptions['query']): string {
    if (!query) return '';
    const parts: string[] = [];
    for (const [k, v] of Object.entries(query)) {
      if (v === undefined) continue;
      // RFC 9865 asks for the first page with a bare `cursor` parameter.
      parts.push(v === '' ? encodeURIComponent(k) : `${encodeURIComponent(k)}=${encodeURIComponent(String(v))}`);
    }
    return parts.length ? `?${parts.join('&')}` : '';
  }

  async get(path: string, query?: RequestOptions['query']): Promise<JsonResponse> {
    return this.request('GET', path, { query });
  }

  async request(method: string, path: string, options: RequestOptions = {}): Promise<JsonResponse> {
    const { logger, redact, timeoutMs, retryAttempts } = this.opts;
    const url = `${this.opts.baseUrl}${path}${this.queryString(options.query)}`;
    const what = this.describe(method, path, options.query);
    const headers: Record<string, string> = {
      authorization: `Bearer ${this.opts.token}`,
      accept: 'application/scim+json, application/json',
      'user-agent': 'scimkit-connector',
    };
    let payload: string | undefined;
    if (options.body !== undefined) {
      payload = JSON.stringify(options.body);
      headers['content-type'] = 'application/scim+json';
    }
    for (let attempt = 0; ; attempt++) {
      this.stats.waitedMs += await this.pacer.acquire();
      const startedAt = this.clock.now();
      this.stats.requests += 1;
      let failure: { reason: string; status: number | null; retryAfterMs: number | null };
      try {
        const res = await fetch(url, { method, headers, body: payload, signal: AbortSignal.timeout(timeoutMs), dispatcher: this.agent });
        const text = await res.text();
        const dateHeader = res.headers.get('date');
        const serverDate = dateHeader ? Date.parse(dateHeader) : NaN;
        const serverMs = Number.isNaN(serverDate) ? null : serverDate;
        this.pacer.observe(readRateLimit(res.headers as unknown as Headers, this.clock.now()), startedAt);
        logger.debug(`${what} -> ${res.status} in ${this.clock.now() - startedAt} ms (attempt ${attempt + 1})`);
        let body: unknown = null;
        let malformed = false;
        if (text.trim() !== '') {
          try {
            body = JSON.parse(text);
          } catch {
            malformed = true;
          }
        }
        if (res.status >= 200 && res.status < 300) {
          if (!malformed) return { status: res.status, headers: res.headers as unknown as Headers, body, serverDate: serverMs };
          failure = { reason: `${res.status} with a body that is not valid JSON`, status: res.status, retryAfterMs: null };
        } else {
          const retryAfterMs = parseRetryAfter(res.headers.get('retry-after'), serverMs, this.clock.now());
          const { detail, scimType } = explainErrorBody(body, text);
          const reason = `${res.status} ${STATUS_TEXT[res.status] ?? ''}`.trim() + (detail ? `: ${detail}` : '') + (scimType ? ` (scimType ${scimType})` : '');
          if (res.status === 429) this.stats.throttled += 1;
          if (!isRetryableStatus(res.status)) throw new HttpError(redact(`${what} failed: ${reason}`), res.status, scimType, false);
          failure = { reason, status: res.status, retryAfterMs };
        }
      } catch (err) {
        if (err instanceof HttpError) throw err;
        failure = { reason: networkReason(err, timeoutMs), status: null, retryAfterMs: null };
      }
      if (attempt >= retryAttempts) {
        throw new HttpError(redact(`${what} failed after ${attempt + 1} attempts: ${failure.reason}`), failure.status, null, true);
      }
      const maxRetryAfter = this.opts.maxRetryAfterMs ?? 300_000;
      if (failure.retryAfterMs !== null && failure.retryAfterMs > maxRetryAfter) {
        throw new HttpError(redact(`${what} failed: ${failure.reason}; the server asked to retry after ${Math.round(failure.retryAfterMs / 1000)} s, longer than the ${maxRetryAfter / 1000} s the connector waits`), failure.status, null, true);
      }
      const base = this.opts.backoffBaseMs ?? 500;
      const cap = this.opts.backoffCapMs ?? 30_000;
      const jitter = Math.random() * Math.min(cap, base * 2 ** attempt);
      const delay = failure.retryAfterMs ?? jitter;
      this.stats.retries += 1;
      logger.debug(`${what}: ${redact(failure.reason)}; retry ${attempt + 1} of ${retryAttempts} in ${Math.round(delay)} ms`);
      // A Retry-After speaks for the whole client: hold every request, not just this one.
      if (failure.retryAfterMs !== null) this.pacer.pause(delay);
      else await this.clock.sleep(delay);
    }
  }

  async close(): Promise<void> {
    await this.agent.close();
  }
}
