/**
 * Authentication, tenancy and rate limiting for the organization-scoped routes (one onRequest hook).
 * Order: bearer token, organization match, scope (a token bound to a User reaches only /Me; a read-only token only
 * reads), then rate limit by organization and class. Only a request whose
 * credential fails meets the failed-authentication limit of its client address, so a valid token is never refused
 * by it; and a scope refusal costs no quota. Everything the request learns is kept on `request.scim`.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ScimError } from '../scim/errors.ts';
import { ProjectionCache } from '../scim/projection.ts';
import { hashToken, isTokenExpired } from '../store/operations.ts';
import type { ApiToken, Organization, Store } from '../store/types.ts';
import type { RateLimitDecision, RateLimiter } from './ratelimit/types.ts';
import type { ServerMetrics } from './metrics.ts';
import { RenderingCache } from './resources.ts';
import { SchemaSets } from './schemas.ts';
import type { ResourceContext } from './resources.ts';

/** Reads are GET and POST .search; everything else that changes state is a write. */
export type AccessClass = 'read' | 'write';

/** What an authenticated request on an organization's path carries. */
export interface ScimRequestState {
  readonly org: Organization;
  readonly token: ApiToken;
  readonly ctx: ResourceContext;
}

declare module 'fastify' {
  interface FastifyRequest {
    scim: ScimRequestState | null;
    /** The SCIM token the request presented, once found (also when it is then refused: scope, organization, limit). */
    scimToken: ApiToken | null;
  }
  interface FastifyContextConfig {
    /** The rate-limit class of a route; routes without one are classed by method. */
    access?: AccessClass;
    /** A route a token bound to a User may reach: only `/Me` (RFC 7644 section 3.11) sets it. */
    meAlias?: boolean;
    /** A health probe or metrics scrape: logged at debug, not info. */
    probe?: boolean;
  }
}

export const AUTH_REALM = 'scimkit';

export interface AuthOptions {
  readonly store: Store;
  readonly rateLimiter: RateLimiter;
  readonly metrics: ServerMetrics;
  /** Failed authentications allowed per client address per second before 429s. */
  readonly authFailuresPerSecond: number;
  readonly maxStartIndex: number;
  readonly maxPageBytes: number;
  /** Base URL (scheme and authority) for links, when the server sits behind a proxy; else taken from the request. */
  readonly publicUrl?: string;
}

/**
 * Client addresses currently refused for failing authentication too often, with when the refusal ends.
 * It belongs to one server instance; the counting itself happens in the rate limiter (shared across processes
 * with Redis), this only spares a blocked address's further failures a round trip to the limiter.
 */
class AuthBlocklist {
  private readonly until = new Map<string, number>();
  // Bounded, so a flood of spoofed addresses cannot grow it without limit.
  private static readonly MAX_ENTRIES = 10_000;

  blockedFor(ip: string, now: number): number {
    const end = this.until.get(ip);
    if (end === undefined) return 0;
    if (end <= now) {
      this.until.delete(ip);
      return 0;
    }
    return end - now;
  }

  block(ip: string, now: number, ms: number): void {
    if (this.until.size >= AuthBlocklist.MAX_ENTRIES) {
      for (const [key, end] of this.until) if (end <= now) this.until.delete(key);
      if (this.until.size >= AuthBlocklist.MAX_ENTRIES) this.until.delete(this.until.keys().next().value as string);
    }
    this.until.set(ip, now + ms);
  }
}

/** A live token and its organization, as the store returned them while its authStamp was `stamp`. */
interface KnownToken {
  readonly token: ApiToken;
  readonly org: Organization;
  readonly stamp: string;
}

/**
 * Tokens recently authenticated by this server instance, by secret hash. An entry is used only while the store's
 * authStamp is unchanged, i.e. while no token or organization can have changed anywhere, so a revocation or a new
 * limit applies to the next request (for a change made through another process on a SQLite file: to every request
 * that arrives after it commits, see SqliteDriver.externalVersion). Stores without a stamp are asked every time.
 */
class TokenCache {
  private readonly byHash = new Map<string, KnownToken>();
  // Only valid tokens are kept, and they are few; the bound guards against churn all the same.
  private static readonly MAX_ENTRIES = 10_000;

  constructor(private readonly store: Store) {}

  /** The live token for `secret` and, when it belongs to `orgId`, that organization (null when it does not exist). */
  async find(secret: string, orgId: string): Promise<{ token: ApiToken; org: Organization | null } | null> {
    const stamp = this.store.authStamp?.() ?? null;
    const hash = stamp === null ? '' : hashToken(secret);
    if (stamp !== null) {
      const known = this.byHash.get(hash);
      if (known !== undefined && known.stamp === stamp) return known.token.orgId === orgId ? known : { token: known.token, org: null };
    }
    const token = await this.store.findToken(secret);
    if (!token) return null;
    // Another organization's path: the caller refuses it without looking that organization up.
    if (token.orgId !== orgId) return { token, org: null };
    const org = await this.store.getOrganization(orgId);
    if (org && stamp !== null) {
      if (this.byHash.size >= TokenCache.MAX_ENTRIES) this.byHash.clear();
      // The stamp read before the lookups: a change made meanwhile invalidates this entry at its first use.
      this.byHash.set(hash, { token, org, stamp });
    }
    return { token, org };
  }
}

function accessClass(request: FastifyRequest): AccessClass {
  const configured = request.routeOptions.config?.access;
  if (configured) return configured;
  return request.method === 'GET' || request.method === 'HEAD' || request.method === 'OPTIONS' ? 'read' : 'write';
}

/** The bearer secret, or null when the header is absent; undefined when present but not a bearer credential. */
function bearerSecret(header: string | undefined): string | null | undefined {
  if (header === undefined) return null;
  const m = /^\s*Bearer\s+(\S+)\s*$/i.exec(header);
  return m ? m[1] : undefined;
}

function retryAfterSeconds(resetMs: number): number {
  return Math.max(1, Math.ceil(resetMs / 1000));
}

export function setRateLimitHeaders(reply: FastifyReply, decision: RateLimitDecision): void {
  reply.header('x-ratelimit-limit', String(decision.limit));
  reply.header('x-ratelimit-remaining', String(Math.max(0, decision.remaining)));
}

// A host header we are willing to echo into Location and $ref values.
const SAFE_HOST = /^[A-Za-z0-9.\-]+(?::\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](?::\d{1,5})?$/;

export function requestOrigin(request: FastifyRequest, publicUrl: string | undefined): string {
  if (publicUrl) return publicUrl.replace(/\/+$/, '');
  const host = SAFE_HOST.test(request.host) ? request.host : 'localhost';
  return `${request.protocol}://${host}`;
}

/**
 * Builds the onRequest hooks of one server instance: call the result once per base path prefix (`/scim/v2`,
 * `/scim/v2.0`); the hooks share one block list, so switching prefixes buys a blocked address nothing.
 */
export function organizationAuth(options: AuthOptions): (prefix: string) => (request: FastifyRequest, reply: FastifyReply) => Promise<void> {
  const instance: InstanceState = {
    blocklist: new AuthBlocklist(),
    tokens: new TokenCache(options.store),
    projections: new ProjectionCache(),
    renderings: new RenderingCache(),
    schemas: new SchemaSets(options.store),
  };
  return (prefix) => authenticateUnder(options, instance, prefix);
}

/** What one server instance keeps between requests. */
interface InstanceState {
  readonly blocklist: AuthBlocklist;
  readonly tokens: TokenCache;
  readonly projections: ProjectionCache;
  readonly renderings: RenderingCache;
  readonly schemas: SchemaSets;
}

function authenticateUnder(options: AuthOptions, { blocklist, tokens, projections, renderings, schemas: schemaSets }: InstanceState, prefix: string) {
  /**
   * A credential that failed: 401, or 429 once its client address has failed too often in the current window.
   * Only failures count and only failures are refused here, so a client sharing the address (every tenant behind
   * one reverse proxy) keeps working with its valid token while a neighbour guesses.
   */
  async function refuseCredential(request: FastifyRequest, reply: FastifyReply, detail: string): Promise<never> {
    const now = Date.now();
    let blockedMs = blocklist.blockedFor(request.ip, now);
    if (blockedMs === 0) {
      const decision = await options.rateLimiter.hit(`auth-fail:${request.ip}`, options.authFailuresPerSecond);
      if (!decision.allowed) {
        blocklist.block(request.ip, now, decision.resetMs);
        blockedMs = decision.resetMs;
      }
    }
    if (blockedMs > 0) {
      options.metrics.recordRateLimited('auth');
      reply.header('retry-after', String(retryAfterSeconds(blockedMs)));
      throw ScimError.tooManyRequests('Too many failed authentications from this address; retry later');
    }
    reply.header('www-authenticate', `Bearer realm="${AUTH_REALM}", error="invalid_token"`);
    throw ScimError.unauthorized(detail);
  }

  return async function authenticate(request: FastifyRequest, reply: FastifyReply): Promise<void> {
    const secret = bearerSecret(request.headers.authorization);
    if (secret === null) {
      // No credential is no guess: the client is told what to send rather than slowed down.
      reply.header('www-authenticate', `Bearer realm="${AUTH_REALM}"`);
      throw ScimError.unauthorized('Authentication required: send Authorization: Bearer <token>');
    }
    if (secret === undefined) return refuseCredential(request, reply, 'The Authorization header must use the Bearer scheme');
    const orgId = (request.params as { orgId?: string }).orgId ?? '';
    const found = await tokens.find(secret, orgId);
    if (!found) return refuseCredential(request, reply, 'The bearer token is invalid or revoked');
    const { token, org } = found;
    request.scimToken = token;
    // Checked on every request, cached tokens included: expiry needs no write to take effect.
    if (token.expires !== null && isTokenExpired(token, new Date().toISOString())) {
      return refuseCredential(request, reply, `The bearer token expired at ${token.expires}; create or rotate a token`);
    }
    // The same answer whether or not the path's organization exists, so a token cannot probe for others.
    if (token.orgId !== orgId || !org) throw ScimError.forbidden('This token is not valid for this organization');

    // A token bound to a User acts as that User: it reaches /Me and nothing else, whatever its scope.
    if (token.userId !== null && request.routeOptions.config?.meAlias !== true) {
      throw ScimError.forbidden('This token is bound to a User and reaches only /Me');
    }

    const access = accessClass(request);
    // Refused before counting: a read-only token's writes must not spend the organization's write quota.
    if (access === 'write' && token.scope !== 'read-write') throw ScimError.forbidden('This token is read-only');

    const limit = access === 'read' ? org.settings.readLimit : org.settings.writeLimit;
    const decision = await options.rateLimiter.hit(`org:${org.id}:${access}`, limit);
    setRateLimitHeaders(reply, decision);
    if (!decision.allowed) {
      options.metrics.recordRateLimited(access);
      reply.header('retry-after', String(retryAfterSeconds(decision.resetMs)));
      throw ScimError.tooManyRequests(`The organization's ${access} rate limit of ${decision.limit} requests per second is exceeded`);
    }

    // Known at once unless the organization's declared schemas changed since this instance last resolved them.
    const resolved = schemaSets.get(org);
    const schemas = resolved instanceof Promise ? await resolved : resolved;
    const baseUrl = `${requestOrigin(request, options.publicUrl)}${prefix}/organizations/${encodeURIComponent(org.id)}`;
    request.scim = {
      org,
      token,
      ctx: { store: options.store, org, baseUrl, compat: org.settings.compat, schemas, maxStartIndex: options.maxStartIndex, maxPageBytes: options.maxPageBytes, projections, renderings, log: request.log },
    };
  };
}
