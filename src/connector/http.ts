/**
 * The connector's HTTP client: keep-alive connections (wire.ts), a timeout per attempt (body included),
 * retries with full-jitter exponential backoff for transient failures, Retry-After as seconds or an HTTP date,
 * pacing from rate-limit headers, and errors that carry the server's own explanation. The token only ever goes
 * into the Authorization header; every message is redacted.
 */
import { readRateLimit, RatePacer, realClock, type PacerClock } from './pacer.ts';
import { MalformedJson } from './json-stream.ts';
import { Wire, type ResponseHeaders, type WireResponse } from './wire.ts';
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
  /** Retries after the first attempt, for real errors (a throttled 429 that says when to come back does not count). */
  readonly retryAttempts: number;
  readonly logger: Logger;
  readonly redact: Redactor;
  /** Full-jitter backoff: a random delay up to min(cap, base * 2^retry). */
  readonly backoffBaseMs?: number;
  readonly backoffCapMs?: number;
  /** A Retry-After longer than this fails the request instead of stalling the run; also the most one request waits out 429s in total. */
  readonly maxRetryAfterMs?: number;
  /** Keep-alive connections to the server (more than one only helps concurrent callers such as `seed`). */
  readonly connections?: number;
  /** Largest response body read, in bytes; a larger one fails the request (default 128 MiB). */
  readonly maxResponseBytes?: number;
  /** Share of an announced rate limit this client may use (default 1: all of it). */
  readonly rateShare?: number;
  /** Aborts requests in flight and fails new ones with the signal's reason (a run being interrupted). */
  readonly signal?: AbortSignal;
  readonly clock?: PacerClock;
}

export interface JsonResponse<T = unknown> {
  readonly status: number;
  readonly headers: ResponseHeaders;
  readonly body: T;
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

/** Longest server explanation quoted in an error message. */
const DETAIL_CHARS = 200;

/**
 * The server's explanation from a SCIM error, a Contentstack `error_message`, a Contentful `message`, or the text.
 * Redaction comes before any cut: cutting first could leave most of an echoed token just inside the cut.
 */
export function explainErrorBody(body: unknown, text: string, redact: Redactor = (s) => s): { detail: string | null; scimType: string | null } {
  if (body && typeof body === 'object' && !Array.isArray(body)) {
    const o = body as Record<string, unknown>;
    const detail = str(o.detail) ?? str(o.error_message) ?? str(o.message) ?? str(o.error_description)
      ?? (typeof o.error === 'object' && o.error ? str((o.error as Record<string, unknown>).message) : str(o.error));
    const scimType = str(o.scimType);
    if (detail || scimType) return { detail: detail === null ? null : cut(redact(detail.slice(0, 4 * DETAIL_CHARS))), scimType: scimType === null ? null : cut(redact(scimType)) };
  }
  // Only the start of a long body matters; a token straddling this first slice is caught as a fragment.
  const snippet = cut(redact(text.slice(0, 4 * DETAIL_CHARS).replace(/\s+/g, ' ').trim()));
  return { detail: snippet || null, scimType: null };
}

function cut(text: string): string {
  return text.length > DETAIL_CHARS ? `${text.slice(0, DETAIL_CHARS)}...` : text;
}

/**
 * Why a request got no response, naming the host (the path alone does not say which server was unreachable). The
 * attempt's signal tells a timeout apart, whatever error the cut connection raised.
 */
function networkReason(err: unknown, signal: AbortSignal, timeoutMs: number, url: URL): string {
  const e = err as { name?: string; code?: string; message?: string; cause?: { code?: string; name?: string; message?: string } };
  const reason = signal.aborted ? (signal.reason as { name?: string } | undefined) : undefined;
  if (reason?.name === 'TimeoutError' || e?.name === 'TimeoutError' || e?.cause?.name === 'TimeoutError') return `timed out after ${timeoutMs / 1000} s waiting for ${url.origin}`;
  if (signal.aborted || e?.name === 'AbortError') return 'aborted';
  const code = e?.code ?? e?.cause?.code ?? e?.cause?.message ?? e?.message ?? 'network error';
  if (code === 'ECONNREFUSED') return `${code} (nothing accepted a connection at ${url.host}: is the server running, and is base_url right?)`;
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return `${code} (the host name ${url.hostname} was not found: check base_url, or region for Contentstack)`;
  return `${code} (from ${url.origin})`;
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);
/** Same-origin redirects followed per request before giving up (a loop would otherwise never end). */
const MAX_REDIRECTS = 5;
export const DEFAULT_MAX_RESPONSE_BYTES = 128 * 1024 * 1024;

/** A response too large to read; never retried (it would be as large next time). */
class ResponseTooLarge extends Error {}

/**
 * A body's bytes as they arrive, up to `max` (a larger one throws ResponseTooLarge without being buffered).
 * Stopping early cancels the rest of the body, so the connection is not left half read.
 */
async function* bodyChunks(res: WireResponse, max: number): AsyncGenerator<Uint8Array> {
  const declared = Number(res.headers.get('content-length'));
  if (Number.isFinite(declared) && declared > max) {
    await res.body.cancel().catch(() => {});
    throw new ResponseTooLarge(`${declared}`);
  }
  let size = 0;
  let finished = false;
  try {
    for await (const chunk of res.body) {
      size += (chunk as Uint8Array).byteLength;
      if (size > max) throw new ResponseTooLarge(`more than ${max}`);
      yield chunk as Uint8Array;
    }
    finished = true;
  } finally {
    if (!finished) await res.body.cancel().catch(() => {});
  }
}

/** A body's text as it arrives (UTF-8; a character split between chunks is joined). */
async function* bodyText(res: WireResponse, max: number): AsyncGenerator<string> {
  // The byte order mark is kept, as Buffer#toString keeps it: JSON.parse refuses it either way.
  const decoder = new TextDecoder('utf-8', { ignoreBOM: true });
  for await (const chunk of bodyChunks(res, max)) {
    const text = decoder.decode(chunk, { stream: true });
    if (text !== '') yield text;
  }
  const rest = decoder.decode();
  if (rest !== '') yield rest;
}

/**
 * A whole body as one string. Decoded once from the bytes, not chunk by chunk: a page of 1,000 users (1.2 MB) would
 * otherwise be 18 strings joined, copied again flat by JSON.parse, all of it on the JavaScript heap.
 */
async function readBody(res: WireResponse, max: number): Promise<string> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of bodyChunks(res, max)) chunks.push(chunk);
  return Buffer.concat(chunks).toString('utf8');
}

function mib(bytes: number): string {
  return `${Math.round((bytes / 1048576) * 10) / 10} MiB`;
}

/**
 * Reads a successful response's body as it arrives, instead of as one string (a list page that may hold a very large
 * group). It is called afresh on each attempt, and throws MalformedJson when the body is not valid JSON.
 */
export type BodyReader<T> = (text: AsyncIterable<string>) => Promise<T>;

export interface RequestOptions {
  readonly query?: Readonly<Record<string, string | number | undefined>>;
  readonly body?: unknown;
}

export class HttpClient {
  readonly stats: HttpStats = { requests: 0, retries: 0, throttled: 0, waitedMs: 0 };
  readonly pacer: RatePacer;
  private readonly wire: Wire;
  /** Aborted by close(): a request still going (or retrying) then stops, and none starts. */
  private readonly closed = new AbortController();
  private readonly clock: PacerClock;

  constructor(private readonly opts: HttpClientOptions) {
    this.clock = opts.clock ?? realClock;
    this.pacer = new RatePacer(this.clock, opts.rateShare ?? 1);
    this.wire = new Wire(opts.connections ?? 4);
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

  /** A GET whose successful body goes to `read` as it arrives (errors and retries as for any request). */
  async stream<T>(path: string, query: RequestOptions['query'], read: BodyReader<T>): Promise<JsonResponse<T>> {
    return this.send('GET', path, { query }, read);
  }

  async request(method: string, path: string, options: RequestOptions = {}): Promise<JsonResponse> {
    return this.send<unknown>(method, path, options, null);
  }

  private async send<T>(method: string, path: string, options: RequestOptions, read: BodyReader<T> | null): Promise<JsonResponse<T>> {
    const { logger, redact, timeoutMs, retryAttempts } = this.opts;
    const what = this.describe(method, path, options.query);
    const headers: Record<string, string> = {
      authorization: `Bearer ${this.opts.token}`,
      accept: 'application/scim+json, application/json',
      // On every request, a GET too: Contentful's SCIM API says all requests must carry it.
      'content-type': 'application/scim+json',
      'user-agent': 'scimkit-connector',
    };
    const payload = options.body === undefined ? undefined : JSON.stringify(options.body);
    const maxBytes = this.opts.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES;
    const maxWait = this.opts.maxRetryAfterMs ?? 300_000;
    let url = new URL(`${this.opts.baseUrl}${path}${this.queryString(options.query)}`);
    let failures = 0;
    let redirects = 0;
    let throttledMs = 0;
    let throttles = 0;
    for (;;) {
      this.stats.waitedMs += await this.pacer.acquire();
      this.opts.signal?.throwIfAborted();
      this.closed.signal.throwIfAborted();
      const startedAt = this.clock.now();
      this.stats.requests += 1;
      let failure: { reason: string; status: number | null; retryAfterMs: number | null; throttled: boolean; resetMs: number | null };
      const attempt = this.attempt(timeoutMs);
      const { signal } = attempt;
      try {
        const res = await this.wire.request(url, { method, headers, body: payload, signal });
        const dateHeader = res.headers.get('date');
        const serverDate = dateHeader ? Date.parse(dateHeader) : NaN;
        const serverMs = Number.isNaN(serverDate) ? null : serverDate;
        const rate = readRateLimit(res.headers, this.clock.now());
        this.pacer.observe(rate, startedAt);
        if (REDIRECTS.has(res.status)) {
          await res.body.cancel().catch(() => {});
          url = this.redirectTarget(what, url, res.status, res.headers.get('location'), method, ++redirects);
          logger.debug(`${what} -> ${res.status}, following the redirect to ${url.pathname}`);
          continue;
        }
        if (read && res.status >= 200 && res.status < 300) {
          const outcome = await read(bodyText(res, maxBytes)).then(
            (body) => ({ body, malformed: null }),
            (err: unknown) => {
              if (err instanceof MalformedJson) return { body: null, malformed: err.message };
              throw err;
            },
          );
          logger.debug(`${what} -> ${res.status} in ${this.clock.now() - startedAt} ms (attempt ${failures + 1}, read as a stream)`);
          if (outcome.malformed === null) return { status: res.status, headers: res.headers, body: outcome.body as T, serverDate: serverMs };
          failure = { reason: `${res.status} with a body that is not valid JSON (${outcome.malformed})`, status: res.status, retryAfterMs: null, throttled: false, resetMs: null };
        } else {
          const text = await readBody(res, maxBytes);
          logger.debug(`${what} -> ${res.status} in ${this.clock.now() - startedAt} ms (attempt ${failures + 1})`);
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
            if (!malformed) return { status: res.status, headers: res.headers, body: body as T, serverDate: serverMs };
            // Its start says what it is: JSON cut short, or a web page (a sign-in page: base_url is not the API).
            const { detail } = explainErrorBody(null, text, redact);
            failure = { reason: `${res.status} with a body that is not valid JSON (it begins: ${detail})`, status: res.status, retryAfterMs: null, throttled: false, resetMs: null };
          } else {
            const retryAfterMs = parseRetryAfter(res.headers.get('retry-after'), serverMs, this.clock.now());
            const { detail, scimType } = explainErrorBody(body, text, redact);
            const reason = `${res.status} ${STATUS_TEXT[res.status] ?? ''}`.trim() + (detail ? `: ${detail}` : '') + (scimType ? ` (scimType ${scimType})` : '');
            if (res.status === 429) this.stats.throttled += 1;
            if (!isRetryableStatus(res.status)) throw new HttpError(redact(`${what} failed: ${reason}`), res.status, scimType, false);
            // A 429 that says when to come back (Retry-After, or rate-limit headers) is the server pacing us, not an error.
            const throttled = res.status === 429 && (retryAfterMs !== null || rate.limit !== null || rate.remaining !== null || rate.resetMs !== null);
            failure = { reason, status: res.status, retryAfterMs, throttled, resetMs: rate.resetMs };
          }
        }
      } catch (err) {
        if (err instanceof HttpError) throw err;
        this.opts.signal?.throwIfAborted();
        this.closed.signal.throwIfAborted();
        if (err instanceof ResponseTooLarge) {
          throw new HttpError(
            redact(`${what} failed: the response is larger than max_response_mb (${mib(maxBytes)}); raise max_response_mb if the source really sends responses this large, or lower max_records_per_page`),
            null, null, false,
          );
        }
        failure = { reason: networkReason(err, signal, timeoutMs, url), status: null, retryAfterMs: null, throttled: false, resetMs: null };
      } finally {
        attempt.end();
      }
      if (failure.retryAfterMs !== null && failure.retryAfterMs > maxWait) {
        throw new HttpError(redact(`${what} failed: ${failure.reason}; the server asked to retry after ${Math.round(failure.retryAfterMs / 1000)} s, longer than the ${maxWait / 1000} s the connector waits`), failure.status, null, true);
      }
      // Retry-After: 0 (or a date already past) would mean hammering the server at once: back off instead.
      const asked = failure.retryAfterMs !== null && failure.retryAfterMs > 0 ? failure.retryAfterMs : null;
      if (failure.throttled) {
        const delay = asked ?? Math.max(failure.resetMs ?? 0, 100 + this.jitter(throttles));
        throttles += 1;
        throttledMs += delay;
        if (throttledMs > maxWait) {
          throw new HttpError(
            redact(`${what} failed: still throttled (429) after waiting ${Math.round((throttledMs - delay) / 1000)} s; other clients are using the organization's rate limit: lower rate_limit_share, or sync when the source is quieter`),
            failure.status, null, true,
          );
        }
        this.stats.retries += 1;
        logger.debug(`${what}: ${redact(failure.reason)}; throttled, waiting ${Math.round(delay)} ms (this does not use up retry_attempts)`);
        // The server speaks for the whole client: hold every request, not just this one.
        this.pacer.pause(delay);
        continue;
      }
      if (failures >= retryAttempts) {
        throw new HttpError(redact(`${what} failed after ${failures + 1} attempts: ${failure.reason}`), failure.status, null, true);
      }
      const delay = asked ?? this.jitter(failures);
      failures += 1;
      this.stats.retries += 1;
      logger.debug(`${what}: ${redact(failure.reason)}; retry ${failures} of ${retryAttempts} in ${Math.round(delay)} ms`);
      if (asked !== null) this.pacer.pause(delay);
      else await this.clock.sleep(delay);
    }
  }

  /**
   * The attempt's signal: aborted by its timeout, by close() and by the client's abort signal when it has one; `end`
   * stops the timer and the listeners. Not AbortSignal.any over AbortSignal.timeout: Node 20 holds any()'s sources
   * weakly, so a garbage-collected timeout signal never fired, and a source that stopped sending held the run for ever.
   */
  private attempt(timeoutMs: number): { signal: AbortSignal; end(): void } {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(new DOMException(`timed out after ${timeoutMs} ms`, 'TimeoutError')), timeoutMs);
    const sources = [this.closed.signal, ...(this.opts.signal ? [this.opts.signal] : [])];
    const abort = (event: Event) => controller.abort((event.target as AbortSignal).reason);
    for (const source of sources) {
      if (source.aborted) controller.abort(source.reason);
      else source.addEventListener('abort', abort, { once: true });
    }
    return {
      signal: controller.signal,
      end: () => {
        clearTimeout(timer);
        for (const source of sources) source.removeEventListener('abort', abort);
      },
    };
  }

  /** Full-jitter exponential backoff for the given retry (0 for the first). */
  private jitter(retry: number): number {
    const base = this.opts.backoffBaseMs ?? 500;
    const cap = this.opts.backoffCapMs ?? 30_000;
    return Math.random() * Math.min(cap, base * 2 ** retry);
  }

  /**
   * Where a redirect leads. Only the source's own origin is followed: another host would receive the token and
   * its data would land in the tables as if it came from the source.
   */
  private redirectTarget(what: string, from: URL, status: number, location: string | null, method: string, hops: number): URL {
    const { redact } = this.opts;
    if (!location) throw new HttpError(redact(`${what} failed: ${status} redirect without a Location header`), status, null, false);
    let to: URL;
    try {
      to = new URL(location, from);
    } catch {
      throw new HttpError(redact(`${what} failed: ${status} redirect to an invalid Location`), status, null, false);
    }
    if (to.origin !== from.origin) {
      throw new HttpError(
        redact(`${what} failed: ${status} redirect from ${from.origin} to another origin, ${to.origin}; the connector never follows a redirect to another origin (it would send the token there). If the source has moved, set base_url to its new address`),
        status, null, false,
      );
    }
    if (method !== 'GET' && status !== 307 && status !== 308) {
      throw new HttpError(redact(`${what} failed: ${status} redirect of a ${method}; only GET requests follow 301, 302 and 303`), status, null, false);
    }
    if (hops > MAX_REDIRECTS) throw new HttpError(redact(`${what} failed: more than ${MAX_REDIRECTS} redirects`), status, null, false);
    return to;
  }

  async close(): Promise<void> {
    this.closed.abort(new Error('the HTTP client was closed'));
    this.wire.close();
  }
}
