/**
 * The management API, `/api/v1`: the app's and the console's JSON API, authenticated with management keys (not the
 * IdP's SCIM tokens). An encapsulated fastify plugin: `app.register(managementApi, { prefix: '/api/v1', ... })`.
 *
 * Conventions, for every route (docs/events.md, "The management API"):
 * - `Authorization: Bearer smk_...`. A key bound to another organization gets 403 on that organization's paths,
 *   whether or not it exists; a key for every organization gets 404 for an unknown one.
 * - Bodies are JSON (`application/json`); responses are JSON with snake_case fields.
 * - Errors are `{"error": {"status": 400, "code": "invalid_request", "message": "..."}}`; never a stack or a secret.
 * - Lists are `{"data": [...], "next_cursor": "..." | null}`, paged with `limit` and `after=<next_cursor>`.
 *
 * Adding routes: pass `routes` (functions that receive the organization-scoped fastify instance, under
 * `/organizations/:orgId`, and the shared context), or add a module next to events.ts and webhooks.ts and list it in
 * ORGANIZATION_ROUTES. Inside a route, `organizationOf(request)` is the authorized organization.
 */
import type { FastifyError, FastifyInstance, FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { ScimError, isScimError } from '../../scim/errors.ts';
import { isSecretKeyError } from '../../store/secrets.ts';
import { RoleError } from '../../store/role-admin.ts';
import type { Organization, Store } from '../../store/types.ts';
import type { RateLimiter } from '../ratelimit/types.ts';
import { SchemaSets } from '../schemas.ts';
import { EventWaiter } from './waiter.ts';
import { registerEventRoutes } from './events.ts';
import { registerWebhookRoutes } from './webhooks.ts';
import { authenticate, organizationScope, registerSessionRoutes } from './session.ts';
import type { Principal } from './session.ts';
import { LoginLimiter } from '../sessions.ts';
import type { LoginLimits } from '../sessions.ts';
import { registerOrganizationRootRoutes, registerOrganizationRoutes, registerTokenRoutes } from './organizations.ts';
import { registerRequestLogRoutes } from './request-log.ts';
import { registerSetupLinkRoutes, registerSetupRoutes } from './setup.ts';
import { registerSchemaRoutes } from './schemas.ts';
import { registerRoleRoutes } from './roles.ts';
import { registerDirectoryRoutes } from './directory.ts';

export const JSON_CONTENT_TYPE = 'application/json; charset=utf-8';

/** A management API error: an HTTP status, a stable snake_case code and a message for people. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    /** Extra response headers (Retry-After, WWW-Authenticate). */
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(message);
    this.name = 'ApiError';
  }

  static badRequest(code: string, message: string): ApiError {
    return new ApiError(400, code, message);
  }

  static notFound(message: string): ApiError {
    return new ApiError(404, 'not_found', message);
  }
}

export interface ErrorBody {
  readonly error: { readonly status: number; readonly code: string; readonly message: string };
}

export function errorJson(status: number, code: string, message: string): ErrorBody {
  return { error: { status, code, message } };
}

/** The list envelope of every collection. */
export function listJson<T>(data: readonly T[], nextCursor: string | null): { data: readonly T[]; next_cursor: string | null } {
  return { data, next_cursor: nextCursor };
}

export function sendJson(reply: FastifyReply, status: number, body: unknown): FastifyReply {
  return reply.code(status).type(JSON_CONTENT_TYPE).send(body);
}

/** The status-derived code of a SCIM error from the store (a 400's scimType is folded into invalid_request). */
const CODES: Record<number, string> = {
  400: 'invalid_request',
  401: 'unauthorized',
  403: 'forbidden',
  404: 'not_found',
  409: 'conflict',
  410: 'gone',
  412: 'precondition_failed',
  413: 'payload_too_large',
  415: 'unsupported_media_type',
  429: 'rate_limited',
};

/** What a management request carries once authenticated. */
export interface ManagementRequestState {
  /** A management key, an operator's session, or a setup link (session.ts). */
  readonly principal: Principal;
  /** Set on `/organizations/:orgId/...` paths once the principal is allowed there. */
  org: Organization | null;
}

declare module 'fastify' {
  interface FastifyRequest {
    management: ManagementRequestState | null;
  }
}

/** What route modules share. */
export interface ManagementContext {
  readonly store: Store;
  /** Plain http webhook URLs are accepted (serve --allow-http-webhooks). */
  readonly allowHttpWebhooks: boolean;
  /** Long-polling waits on it (events.ts). */
  readonly waiter: EventWaiter;
  /** Scheme and authority for the SCIM base URLs the API shows (else the request's). */
  readonly publicUrl?: string;
  /** The SCIM rate limiter, whose current counts the rate-limit usage route shows. */
  readonly rateLimiter?: RateLimiter;
  /** Each organization's schemas, which say what the directory's `raw` resources never show. */
  readonly schemas: SchemaSets;
}

export type ManagementRoutes = (org: FastifyInstance, context: ManagementContext) => void;

export interface ManagementApiOptions {
  readonly store: Store;
  /** Counts failed authentications per client address (shared with the SCIM endpoints' budget). */
  readonly rateLimiter?: RateLimiter;
  readonly authFailuresPerSecond?: number;
  readonly allowHttpWebhooks?: boolean;
  /** More organization-scoped routes (registered under `/organizations/:orgId`). */
  readonly routes?: readonly ManagementRoutes[];
  /** Routes outside any organization (for example keys or organizations management). */
  readonly rootRoutes?: readonly ManagementRoutes[];
  /** Scheme and authority of the server for links, behind a proxy (see BuildServerOptions.publicUrl). */
  readonly publicUrl?: string;
  /** Failed console sign-ins allowed per address and per account (sessions.ts). */
  readonly loginLimits?: Partial<LoginLimits>;
}

const ORGANIZATION_ROUTES: readonly ManagementRoutes[] = [
  registerEventRoutes,
  registerWebhookRoutes,
  registerRoleRoutes,
  registerDirectoryRoutes,
  registerOrganizationRoutes,
  registerTokenRoutes,
  registerRequestLogRoutes,
  registerSetupLinkRoutes,
  registerSchemaRoutes,
];
const ROOT_ROUTES: readonly ManagementRoutes[] = [registerOrganizationRootRoutes, registerSetupRoutes];

/** The authorized organization of a request on an organization's path. */
export function organizationOf(request: FastifyRequest): Organization {
  const org = request.management?.org;
  // The organization hook runs before every such route; its absence is a wiring bug.
  if (!org) throw new Error('an organization route ran without its organization hook');
  return org;
}


function toResponse(error: unknown): { status: number; body: ErrorBody; headers: Readonly<Record<string, string>>; internal: boolean } {
  if (error instanceof ApiError) return { status: error.status, body: errorJson(error.status, error.code, error.message), headers: error.headers, internal: false };
  // The database cannot be reached: the client should come back (docs/server.md, "Dependency outages").
  if (isScimError(error) && error.status === 503) {
    return { status: 503, body: errorJson(503, 'unavailable', error.message), headers: error.retryAfter === undefined ? {} : { 'retry-after': String(error.retryAfter) }, internal: false };
  }
  if (isScimError(error) && error.status < 500) {
    // Store errors that carry a code of their own (RoleError: unknown_role, duplicate_rule, ...) keep it.
    const code = error instanceof RoleError ? error.code : (CODES[error.status] ?? 'invalid_request');
    return { status: error.status, body: errorJson(error.status, code, error.message), headers: {}, internal: false };
  }
  if (isSecretKeyError(error)) return { status: 503, body: errorJson(503, 'secret_key_unavailable', error.message), headers: {}, internal: true };
  const framework = error as FastifyError;
  if (framework instanceof Error && typeof framework.statusCode === 'number' && framework.statusCode >= 400 && framework.statusCode < 500) {
    const status = framework.statusCode;
    const message =
      framework.code === 'FST_ERR_CTP_BODY_TOO_LARGE'
        ? 'The request body is too large'
        : framework.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE'
          ? 'Send the body as application/json'
          : framework.message;
    return { status, body: errorJson(status, CODES[status] ?? 'invalid_request', message), headers: {}, internal: false };
  }
  return { status: 500, body: errorJson(500, 'internal_error', 'Internal server error'), headers: {}, internal: true };
}

/** The management API plugin; register it with `{ prefix: '/api/v1' }`. */
export const managementApi: FastifyPluginAsync<ManagementApiOptions> = async (api, options) => {
  const context: ManagementContext = {
    store: options.store,
    allowHttpWebhooks: options.allowHttpWebhooks ?? false,
    waiter: new EventWaiter(options.store),
    publicUrl: options.publicUrl,
    rateLimiter: options.rateLimiter,
    schemas: new SchemaSets(options.store),
  };
  api.addHook('preClose', (done) => {
    // Long polls end at once instead of holding the shutdown for up to 30 s.
    context.waiter.close();
    done();
  });
  api.decorateRequest('management', null);

  api.setErrorHandler((error, request, reply) => {
    const response = toResponse(error);
    if (response.internal) request.log.error({ err: error }, 'management API error');
    for (const [name, value] of Object.entries(response.headers)) reply.header(name, value);
    const body = response.status === 500 ? errorJson(500, 'internal_error', `Internal server error (request id ${request.id})`) : response.body;
    request.problem = { code: body.error.code, detail: body.error.message };
    return sendJson(reply, response.status, body);
  });
  api.setNotFoundHandler((request, reply) => sendJson(reply, 404, errorJson(404, 'not_found', `No endpoint ${request.method} ${request.url.split('?')[0]}`)));

  const authentication = {
    store: options.store,
    rateLimiter: options.rateLimiter,
    authFailuresPerSecond: options.authFailuresPerSecond ?? 5,
    publicUrl: options.publicUrl,
  };
  api.addHook('onRequest', async (request, reply) => {
    // Answers about who is signed in, or with secrets, are never cached.
    reply.header('cache-control', 'no-store');
    reply.header('x-content-type-options', 'nosniff');
    const principal = await authenticate(request, authentication);
    if (principal) request.management = { principal, org: null };
  });
  api.addHook('preHandler', async (request) => refuseUnknownQuery(request));

  registerSessionRoutes(api, context, new LoginLimiter(options.loginLimits));
  for (const routes of ROOT_ROUTES) routes(api, context);
  for (const routes of options.rootRoutes ?? []) routes(api, context);

  api.register(
    async (org) => {
      org.addHook('preHandler', async (request) => {
        const state = request.management as ManagementRequestState;
        const orgId = (request.params as { orgId?: string }).orgId ?? '';
        const scope = organizationScope(state.principal);
        // The same answer whether or not the organization exists, so a bound key cannot probe for others.
        if (scope !== null && scope !== orgId) throw new ApiError(403, 'forbidden', 'This management key is not valid for this organization');
        const found = await options.store.getOrganization(orgId);
        if (!found) {
          if (scope !== null) throw new ApiError(403, 'forbidden', 'This management key is not valid for this organization');
          throw ApiError.notFound(`Organization ${JSON.stringify(orgId)} not found`);
        }
        state.org = found;
      });
      for (const routes of [...ORGANIZATION_ROUTES, ...(options.routes ?? [])]) routes(org, context);
    },
    { prefix: '/organizations/:orgId' },
  );
};

// ------------------------------------------------------------------------------------------- query helpers

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The query parameters a route takes; when it says, any other is refused (see refuseUnknownQuery). */
    query?: readonly string[];
  }
}

/**
 * A route's query parameters against those it takes: an unknown one is a 400. Ignored, a mistyped name reads as no
 * parameter at all, and `cursor=` for `after` would read the first page again and again.
 */
function refuseUnknownQuery(request: FastifyRequest): void {
  const takes = request.routeOptions.config?.query;
  if (!takes) return;
  for (const name of Object.keys((request.query as Record<string, unknown> | undefined) ?? {})) {
    if (!takes.includes(name)) throw ApiError.badRequest('invalid_parameter', `Unknown query parameter ${JSON.stringify(name)}; this endpoint takes ${takes.join(', ')}`);
  }
}

/**
 * A query parameter as one string; undefined when absent. Given more than once, it is a 400: taking one of them
 * silently answered a question the caller did not ask (`role=a&role=b` listed only b's users).
 */
export function queryParam(request: FastifyRequest, name: string): string | undefined {
  const value = (request.query as Record<string, unknown> | undefined)?.[name];
  if (value === undefined) return undefined;
  if (Array.isArray(value)) {
    if (value.length > 1) throw ApiError.badRequest('invalid_parameter', `The query parameter ${JSON.stringify(name)} is given ${value.length} times; give it once`);
    return value.length === 0 ? undefined : String(value[0]);
  }
  return String(value);
}

/** A list parameter, comma-separated and given once or more times (`types=a,b` or `types=a&types=b`): every value, joined. */
export function listParam(request: FastifyRequest, name: string): string | undefined {
  const value = (request.query as Record<string, unknown> | undefined)?.[name];
  if (value === undefined) return undefined;
  return Array.isArray(value) ? value.map(String).join(',') : String(value);
}

/** `limit`: 1 to `max`, `fallback` when absent. */
export function limitParam(request: FastifyRequest, fallback: number, max: number): number {
  const raw = queryParam(request, 'limit');
  if (raw === undefined) return fallback;
  if (!/^\d+$/.test(raw) || Number(raw) < 1 || Number(raw) > max) throw ApiError.badRequest('invalid_limit', `limit must be a whole number from 1 to ${max}`);
  return Number(raw);
}

/** A JSON body that must be an object. */
export function objectBody(request: FastifyRequest): Record<string, unknown> {
  const body = request.body;
  if (body === undefined || body === null) return {};
  if (typeof body !== 'object' || Array.isArray(body)) throw ApiError.badRequest('invalid_body', 'The request body must be a JSON object');
  return body as Record<string, unknown>;
}

export function scimToApi(err: unknown): unknown {
  return err instanceof ScimError ? new ApiError(err.status, CODES[err.status] ?? 'invalid_request', err.message) : err;
}
