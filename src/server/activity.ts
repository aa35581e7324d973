/**
 * What a server instance notices about SCIM traffic, for the console: the request log (each organization's latest
 * requests, with the error's `scimType` and `detail` and the body with its secrets removed) and when each token was
 * last used. Both are kept in memory and written in one transaction every `flushIntervalMs` (one second by default),
 * so a request never waits for them and a busy token costs one row update a minute, not one per request.
 *
 * Bounded: at most `maxBuffered` entries wait between flushes (the oldest are dropped and counted past that), and
 * the store keeps each organization's newest `keepPerOrg`. A failed flush is logged and its entries are dropped:
 * the log is a diagnostic, never a reason to fail or slow a SCIM request.
 */
import type { FastifyBaseLogger, FastifyReply, FastifyRequest } from 'fastify';
import type { SchemaSet } from '../scim/schema/declare.ts';
import type { RequestLogRecord, Store, TokenUse } from '../store/types.ts';

export const DEFAULT_REQUEST_LOG_SIZE = 1000;
const DEFAULT_FLUSH_INTERVAL_MS = 1000;
const DEFAULT_MAX_BUFFERED = 10_000;
/** A token's last use is written again once the stored time is this old. */
const TOKEN_USE_RESOLUTION_MS = 60_000;
/** Request bodies are kept up to this many characters of redacted JSON. */
export const MAX_LOGGED_BODY_CHARS = 16 * 1024;
const MAX_LOGGED_PATH_CHARS = 2048;
const MAX_LOGGED_USER_AGENT_CHARS = 256;
const MAX_LOGGED_DETAIL_CHARS = 2048;
export const REDACTED = '[removed]';
/**
 * Requests that no token of the organization authenticated (none, a wrong one, another organization's) are logged
 * too, since an IdP's 401s are what an operator looks for, but anyone who knows an organization id can send them:
 * at most this many per organization, and this many in all, are logged per flush (the rest are counted in a warning),
 * and the store keeps at most a tenth of an organization's log for them, so they never push out its own requests.
 */
const UNAUTHENTICATED_PER_ORG_PER_FLUSH = 10;
const UNAUTHENTICATED_PER_FLUSH = 100;
export function unauthenticatedKept(keepPerOrg: number): number {
  return Math.max(1, Math.floor(keepPerOrg / 10));
}

export interface ActivityOptions {
  readonly store: Store;
  /** Entries kept per organization (0 keeps no request log; token use is still tracked). */
  readonly keepPerOrg: number;
  readonly flushIntervalMs?: number;
  readonly maxBuffered?: number;
  readonly log?: FastifyBaseLogger;
}

/** Key names whose values are secrets wherever they appear in a body: any name containing one of these words. */
const SECRET_KEY = /password|passwd|secret|token|credential|authorization|api[-_]?key/i;
/** A PATCH path that names the password, with or without the core schema's URN. */
const PASSWORD_PATH = /^(urn:ietf:params:scim:schemas:core:2\.0:user:)?password$/i;

const NO_NAMES: ReadonlySet<string> = new Set();
const NEVER_RETURNED_NAMES = new WeakMap<SchemaSet, ReadonlySet<string>>();

/**
 * The names, lower-cased, under which a body can carry what an organization's declared extensions never return
 * (`returned: never`, sub-attributes too): `pin`, `urn:...:user:pin`, `door.code`, `urn:...:user:door.code`.
 */
export function neverReturnedNames(schemas: SchemaSet): ReadonlySet<string> {
  let names = NEVER_RETURNED_NAMES.get(schemas);
  if (!names) {
    const found = new Set<string>();
    for (const ext of [...schemas.user.extensions, ...schemas.group.extensions]) {
      const urn = ext.id.toLowerCase();
      for (const attribute of ext.attributes) {
        const name = attribute.name.toLowerCase();
        if (attribute.returned === 'never') found.add(name).add(`${urn}:${name}`);
        for (const sub of attribute.subAttributes ?? []) {
          if (sub.returned === 'never') found.add(sub.name.toLowerCase()).add(`${name}.${sub.name.toLowerCase()}`).add(`${urn}:${name}.${sub.name.toLowerCase()}`);
        }
      }
    }
    names = found;
    NEVER_RETURNED_NAMES.set(schemas, names);
  }
  return names;
}

/**
 * A copy of a request body with every secret replaced: values of keys such as `password` or `token` (at any depth,
 * Bulk operations included), and the `value` of a PATCH operation whose `path` is the password; with `hidden`
 * (neverReturnedNames), the same for what the organization's extensions never return.
 */
export function redactBody(body: unknown, hidden: ReadonlySet<string> = NO_NAMES, depth = 0): unknown {
  if (depth > 64) return REDACTED;
  if (Array.isArray(body)) return body.map((item) => redactBody(item, hidden, depth + 1));
  if (body === null || typeof body !== 'object') return body;
  const source = body as Record<string, unknown>;
  const pathKey = Object.keys(source).find((k) => k.toLowerCase() === 'path');
  const path = pathKey !== undefined && typeof source[pathKey] === 'string' ? (source[pathKey] as string).trim() : undefined;
  const patchesSecret = path !== undefined && (PASSWORD_PATH.test(path) || hidden.has(path.toLowerCase()));
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(source)) {
    const secret = SECRET_KEY.test(key) || hidden.has(key.toLowerCase()) || (patchesSecret && key.toLowerCase() === 'value');
    out[key] = secret ? REDACTED : redactBody(value, hidden, depth + 1);
  }
  return out;
}

/** The body as the log keeps it: redacted JSON text, cut at MAX_LOGGED_BODY_CHARS. */
export function loggedBody(body: unknown, hidden: ReadonlySet<string> = NO_NAMES): string | null {
  if (body === undefined || body === null) return null;
  const text = JSON.stringify(redactBody(body, hidden));
  if (text.length <= MAX_LOGGED_BODY_CHARS) return text;
  return JSON.stringify({ truncated: true, characters: text.length, start: text.slice(0, MAX_LOGGED_BODY_CHARS) });
}

/**
 * The request's path and query as the log keeps them: the value of a query parameter whose name is a secret's
 * (`access_token`, `api_key`, ...: SECRET_KEY) replaced, as in bodies. Clients do send bearer tokens that way (RFC 6750
 * section 2.3); the server ignores them, and the log must not keep them.
 */
export function loggedPath(url: string): string {
  const query = url.indexOf('?');
  if (query < 0) return url;
  const params = url.slice(query + 1).split('&').map((param) => {
    const eq = param.indexOf('=');
    const rawName = eq < 0 ? param : param.slice(0, eq);
    let name = rawName;
    try {
      name = decodeURIComponent(rawName.replaceAll('+', ' '));
    } catch { /* a malformed name is matched as sent */ }
    return eq >= 0 && SECRET_KEY.test(name) ? `${rawName}=${REDACTED}` : param;
  });
  return `${url.slice(0, query)}?${params.join('&')}`;
}

function clip(value: string | undefined, max: number): string | null {
  if (value === undefined || value === '') return null;
  return value.length > max ? `${value.slice(0, max)}…` : value;
}

interface TokenTally {
  firstAt: string;
  at: string;
  /** The time last written to the store by this instance (null: never). */
  written: string | null;
  dirty: boolean;
}

export class ActivityRecorder {
  readonly #store: Store;
  readonly #keepPerOrg: number;
  readonly #maxBuffered: number;
  readonly #log: FastifyBaseLogger | undefined;
  #entries: Omit<RequestLogRecord, 'id'>[] = [];
  readonly #tokens = new Map<string, TokenTally>();
  #dropped = 0;
  /** Unauthenticated entries taken since the last flush, per organization, and those left out. */
  #unauthenticated = new Map<string, number>();
  #unauthenticatedTaken = 0;
  #unauthenticatedSkipped = 0;
  #timer: ReturnType<typeof setInterval> | undefined;
  #flushing: Promise<void> = Promise.resolve();

  constructor(options: ActivityOptions) {
    this.#store = options.store;
    this.#keepPerOrg = options.keepPerOrg;
    this.#maxBuffered = options.maxBuffered ?? DEFAULT_MAX_BUFFERED;
    this.#log = options.log;
    this.#timer = setInterval(() => void this.flush(), options.flushIntervalMs ?? DEFAULT_FLUSH_INTERVAL_MS);
    this.#timer.unref();
  }

  /** Notes a finished request on an organization's SCIM path (its onResponse hook). */
  record(request: FastifyRequest, reply: FastifyReply): void {
    const at = new Date().toISOString();
    const token = request.scim?.token;
    if (token) this.#tokenUsed(token.id, at);
    if (this.#keepPerOrg === 0) return;
    const orgId = request.scim?.org.id ?? (request.params as { orgId?: string } | undefined)?.orgId;
    if (!orgId) return;
    // A token of this organization, also when its request was refused (403 by scope, 429): the organization's own.
    const tokenId = token?.id ?? (request.scimToken?.orgId === orgId ? request.scimToken.id : null);
    if (tokenId === null) {
      const taken = this.#unauthenticated.get(orgId) ?? 0;
      if (taken >= UNAUTHENTICATED_PER_ORG_PER_FLUSH || this.#unauthenticatedTaken >= UNAUTHENTICATED_PER_FLUSH) {
        this.#unauthenticatedSkipped++;
        return;
      }
      this.#unauthenticated.set(orgId, taken + 1);
      this.#unauthenticatedTaken++;
    }
    if (this.#entries.length >= this.#maxBuffered) {
      this.#entries.shift();
      this.#dropped++;
    }
    // The error answer's scimType and detail, as the access log line has them (http.ts sendProblem).
    const problem = reply.statusCode >= 400 ? request.problem : null;
    this.#entries.push({
      orgId,
      at,
      method: request.method,
      path: clip(loggedPath(request.url), MAX_LOGGED_PATH_CHARS) ?? '/',
      status: reply.statusCode,
      latencyMs: Math.round(reply.elapsedTime * 1000) / 1000,
      tokenId,
      scimType: problem?.scimType ?? null,
      detail: clip(problem?.detail, MAX_LOGGED_DETAIL_CHARS),
      requestBody: loggedBody(request.body, request.scim ? neverReturnedNames(request.scim.ctx.schemas) : undefined),
      userAgent: clip(request.headers['user-agent'], MAX_LOGGED_USER_AGENT_CHARS),
      requestId: request.id,
    });
  }

  #tokenUsed(tokenId: string, at: string): void {
    const tally = this.#tokens.get(tokenId);
    if (!tally) {
      this.#tokens.set(tokenId, { firstAt: at, at, written: null, dirty: true });
      return;
    }
    tally.at = at;
    if (tally.written === null || Date.parse(at) - Date.parse(tally.written) >= TOKEN_USE_RESOLUTION_MS) tally.dirty = true;
  }

  /** Writes what is pending; flushes never overlap. */
  flush(): Promise<void> {
    this.#flushing = this.#flushing.then(() => this.#write());
    return this.#flushing;
  }

  async #write(): Promise<void> {
    const entries = this.#entries;
    this.#entries = [];
    const uses: TokenUse[] = [];
    for (const [tokenId, tally] of this.#tokens) {
      if (!tally.dirty) continue;
      uses.push({ tokenId, firstAt: tally.firstAt, at: tally.at });
      tally.dirty = false;
      tally.written = tally.at;
    }
    // Forget tokens idle for a while, so the map holds only the tokens in use.
    const idleBefore = Date.now() - 10 * TOKEN_USE_RESOLUTION_MS;
    for (const [tokenId, tally] of this.#tokens) if (!tally.dirty && Date.parse(tally.at) < idleBefore) this.#tokens.delete(tokenId);
    if (this.#dropped > 0) {
      this.#log?.warn({ dropped: this.#dropped }, 'request log: entries dropped because the buffer was full');
      this.#dropped = 0;
    }
    this.#unauthenticated.clear();
    this.#unauthenticatedTaken = 0;
    if (this.#unauthenticatedSkipped > 0) {
      this.#log?.warn({ skipped: this.#unauthenticatedSkipped }, 'request log: unauthenticated requests past the per-second bound were not logged');
      this.#unauthenticatedSkipped = 0;
    }
    try {
      if (uses.length > 0) await this.#store.recordTokenUses(uses);
      if (entries.length > 0) await this.#store.appendRequestLog(entries, this.#keepPerOrg, unauthenticatedKept(this.#keepPerOrg));
    } catch (err) {
      this.#log?.warn({ err, entries: entries.length }, 'request log: could not write; these entries are dropped');
    }
  }

  /** Stops the timer and writes what is left (call before the store closes). */
  async close(): Promise<void> {
    clearInterval(this.#timer);
    await this.flush();
  }
}
