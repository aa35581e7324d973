/**
 * Who is calling the management API, and the console's sign-in routes.
 *
 * Three credentials reach /api/v1 (sessions.ts has the cookie and CSRF details):
 * - a management key, `Authorization: Bearer smk_...`: the app's and scripts' credential, for one organization or all;
 * - an operator's session cookie, set by `POST /api/v1/session`: every organization; a request that changes
 *   something must also carry the session's CSRF token in `X-CSRF-Token`, and an `Origin`, when sent, must be this
 *   server's;
 * - a setup link's secret, `Authorization: Bearer ssl_...`: only the `/api/v1/setup` routes, for its organization.
 *
 * Routes say which they take with `config.managementAccess`: `'public'` (signing in), `'setup-link'` (the setup
 * page's routes, which take nothing else), and by default a key or a session.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Admin, ManagementKey, SetupLink, Store } from '../../store/types.ts';
import type { RateLimiter } from '../ratelimit/types.ts';
import {
  clearSessionCookie,
  csrfMatches,
  csrfToken,
  CSRF_HEADER,
  isStateChanging,
  LoginLimiter,
  originAllowed,
  SESSION_LIFETIME_MS,
  sessionSecret,
  setSessionCookie,
} from '../sessions.ts';
import { ApiError, objectBody, sendJson } from './index.ts';
import type { ManagementContext } from './index.ts';

export type Principal =
  | { readonly kind: 'key'; readonly key: ManagementKey }
  | { readonly kind: 'session'; readonly admin: Admin; readonly secret: string; readonly expires: string }
  | { readonly kind: 'setup-link'; readonly link: SetupLink };

export type ManagementAccess = 'public' | 'setup-link';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Who may call a management API route: see api/session.ts. Default: a management key or an operator's session. */
    managementAccess?: ManagementAccess;
  }
}

/** The organizations a principal reaches: one id, or null for all of them. */
export function organizationScope(principal: Principal): string | null {
  if (principal.kind === 'key') return principal.key.orgId;
  if (principal.kind === 'setup-link') return principal.link.orgId;
  return null;
}

function bearer(header: string | undefined): string | null | undefined {
  if (header === undefined) return null;
  const m = /^\s*Bearer\s+(\S+)\s*$/i.exec(header);
  return m ? m[1] : undefined;
}

export interface AuthenticationOptions {
  readonly store: Store;
  readonly rateLimiter?: RateLimiter;
  readonly authFailuresPerSecond: number;
  readonly publicUrl?: string;
}

/**
 * The principal of a request, or an ApiError: 401 without a valid credential (429 once an address fails too often),
 * 403 for a credential that this route does not take, or a state-changing session request without its CSRF token.
 */
export async function authenticate(request: FastifyRequest, options: AuthenticationOptions): Promise<Principal | null> {
  const access = request.routeOptions.config?.managementAccess;
  if (access === 'public') return null;

  async function refuse(message: string, credentialGiven: boolean): Promise<never> {
    if (credentialGiven && options.rateLimiter) {
      const decision = await options.rateLimiter.hit(`auth-fail:${request.ip}`, options.authFailuresPerSecond);
      if (!decision.allowed) {
        throw new ApiError(429, 'rate_limited', 'Too many failed authentications from this address; retry later', {
          'retry-after': String(Math.max(1, Math.ceil(decision.resetMs / 1000))),
        });
      }
    }
    const challenge = credentialGiven ? 'Bearer realm="scimkit-management", error="invalid_token"' : 'Bearer realm="scimkit-management"';
    throw new ApiError(401, 'unauthorized', message, { 'www-authenticate': challenge });
  }

  let principal: Principal;
  const secret = bearer(request.headers.authorization);
  if (secret === undefined) return refuse('The Authorization header must use the Bearer scheme', true);
  if (secret !== null) {
    if (access === 'setup-link') {
      const link = await options.store.findSetupLink(secret);
      if (!link) return refuse('The setup link is invalid, expired or revoked', true);
      principal = { kind: 'setup-link', link };
    } else {
      const key = await options.store.findManagementKey(secret);
      if (!key) return refuse('The management key is invalid or revoked', true);
      principal = { kind: 'key', key };
    }
  } else {
    const cookie = sessionSecret(request);
    if (cookie === null) {
      return refuse(
        access === 'setup-link' ? 'Open the setup page from its link' : 'Authentication required: send Authorization: Bearer <management key>, or sign in to the console',
        false,
      );
    }
    const found = await options.store.findAdminSession(cookie);
    if (!found) return refuse('The session has ended: sign in again', true);
    principal = { kind: 'session', admin: found.admin, secret: cookie, expires: found.session.expires };
    if (isStateChanging(request.method)) {
      // A page on another site (or another port of this host: same-site, so the cookie is sent) cannot read the token.
      if (!originAllowed(request, options.publicUrl)) throw new ApiError(403, 'csrf_failed', 'The request comes from another origin');
      if (!csrfMatches(cookie, request.headers[CSRF_HEADER])) throw new ApiError(403, 'csrf_failed', `A signed-in request that changes something must carry the X-CSRF-Token header from GET /api/v1/session`);
    }
  }
  if (access === 'setup-link' && principal.kind !== 'setup-link') throw new ApiError(403, 'forbidden', 'These routes take a setup link');
  return principal;
}

function sessionJson(admin: Admin, secret: string, expires: string): Record<string, unknown> {
  return { admin: { id: admin.id, email: admin.email }, csrf_token: csrfToken(secret), expires_at: expires };
}

/**
 * `POST /session` signs in (email and password; sets the cookie), `GET /session` says who is signed in and gives the
 * CSRF token, `DELETE /session` signs out.
 */
export function registerSessionRoutes(api: FastifyInstance, context: ManagementContext, limiter: LoginLimiter): void {
  api.post('/session', { config: { managementAccess: 'public' } }, async (request, reply) => {
    // Signing in from another site's page would sign the victim in as the attacker (login CSRF).
    if (!originAllowed(request, context.publicUrl)) throw new ApiError(403, 'csrf_failed', 'The request comes from another origin');
    const body = objectBody(request);
    const email = typeof body.email === 'string' ? body.email.trim().toLowerCase() : '';
    const password = typeof body.password === 'string' ? body.password : '';
    if (email === '' || password === '') throw ApiError.badRequest('invalid_credentials', 'Send "email" and "password"');
    if (email.length > 254 || password.length > 1024) throw ApiError.badRequest('invalid_credentials', 'The email or the password is too long');
    const wait = limiter.retryAfterMs(request.ip, email);
    if (wait > 0) {
      throw new ApiError(429, 'rate_limited', 'Too many failed sign-ins; wait before trying again', { 'retry-after': String(Math.ceil(wait / 1000)) });
    }
    const admin = await context.store.verifyAdminPassword(email, password);
    if (!admin) {
      limiter.failed(request.ip, email);
      request.log.info({ event: 'console sign-in failed' }, 'console sign-in failed');
      throw new ApiError(401, 'invalid_credentials', 'The email or the password is wrong');
    }
    limiter.succeeded(request.ip);
    const expires = new Date(Date.now() + SESSION_LIFETIME_MS).toISOString();
    const { secret } = await context.store.createAdminSession(admin.id, expires);
    setSessionCookie(request, reply, secret, SESSION_LIFETIME_MS);
    reply.header('cache-control', 'no-store');
    return sendJson(reply, 201, sessionJson(admin, secret, expires));
  });

  api.get('/session', async (request, reply) => {
    const principal = principalOf(request);
    if (principal.kind !== 'session') throw ApiError.notFound('No console session: this request used a management key');
    reply.header('cache-control', 'no-store');
    return sendJson(reply, 200, sessionJson(principal.admin, principal.secret, principal.expires));
  });

  api.delete('/session', async (request, reply: FastifyReply) => {
    const principal = principalOf(request);
    if (principal.kind !== 'session') throw ApiError.notFound('No console session: this request used a management key');
    await context.store.deleteAdminSession(principal.secret);
    clearSessionCookie(request, reply);
    return reply.code(204).send();
  });
}

export function principalOf(request: FastifyRequest): Principal {
  const principal = request.management?.principal;
  if (!principal) throw new Error('a management route ran without authentication');
  return principal;
}
