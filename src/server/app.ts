/**
 * The SCIM 2.0 service provider as a fastify instance. Everything lives on the instance (metrics, auth
 * block list) or on the request; nothing is shared between instances or tenants.
 */
import { randomUUID } from 'node:crypto';
import Fastify, { LogController } from 'fastify';
import type { FastifyInstance, FastifyPluginAsync, FastifyRequest, FastifyServerOptions } from 'fastify';
import type { Logger, LoggerOptions } from 'pino';
import { ScimError } from '../scim/errors.ts';
import type { ServiceProviderFeatures } from '../scim/discovery.ts';
import type { Store } from '../store/types.ts';
import { organizationAuth } from './auth.ts';
import { checkPublicUrl } from './public-url.ts';
import { checkContentEncoding, discardUnreadBody, errorBody, parseJsonBody, scimClientErrorHandler, sendProblem, toErrorResponse } from './http.ts';
import { capConnections, checkConnectionLimits, defaultConnectionLimits, timeoutOptions } from './connections.ts';
import type { ConnectionLimits } from './connections.ts';
import { ServerMetrics } from './metrics.ts';
import { registerOperationsRoutes } from './operations.ts';
import { EventMetrics } from './event-metrics.ts';
import type { RateLimiter } from './ratelimit/types.ts';
import { registerBulkRoute } from './bulk.ts';
import { registerScimRoutes } from './routes.ts';
import { managementApi } from './api/index.ts';
import type { ManagementRoutes } from './api/index.ts';
import { isConsoleUrl, registerAdminConsole, SECURITY_HEADERS } from './console.ts';
import type { AdminConsoleOptions } from './console.ts';
import { ActivityRecorder, DEFAULT_REQUEST_LOG_SIZE } from './activity.ts';
import type { LoginLimits } from './sessions.ts';

export interface ServerLimits {
  /** Largest request body accepted, in bytes (413 past it); advertised as bulk.maxPayloadSize. */
  readonly maxPayloadBytes: number;
  /** Most operations in one Bulk request; advertised as bulk.maxOperations. */
  readonly maxBulkOperations: number;
  /** Largest page a list or search returns; advertised as filter.maxResults. */
  readonly maxResults: number;
  /** Page size when the request gives no `count`. */
  readonly defaultCount: number;
  /** Failed authentications per client address per second before 429s. */
  readonly authFailuresPerSecond: number;
  /** Deepest startIndex served when the result set is that large (400 tooMany past it; cursors have no limit). */
  readonly maxStartIndex: number;
  /**
   * Most bytes of stored resource JSON one list or search page holds; past it the page ends before `count` (RFC 7644
   * section 3.4.2.4 lets a server return fewer), and itemsPerPage and nextCursor say where the next one starts.
   */
  readonly maxPageBytes: number;
  /**
   * Most bytes of an unread body read and discarded after an early answer (a 413, or a 401 before the body), so that
   * a client still sending receives the answer instead of a reset connection; past it the connection is closed.
   */
  readonly maxDiscardedBodyBytes: number;
}

export const DEFAULT_LIMITS: ServerLimits = {
  maxPayloadBytes: 1024 * 1024,
  maxBulkOperations: 1000,
  maxResults: 1000,
  defaultCount: 100,
  authFailuresPerSecond: 5,
  maxStartIndex: 1_000_000,
  maxPageBytes: 4 * 1024 * 1024,
  maxDiscardedBodyBytes: 64 * 1024 * 1024,
};

/**
 * Refuses limits that are not whole numbers (a string from an environment variable, a negative), which otherwise
 * turned every list into a 400 ("count must be a number") or an empty page, and were advertised in
 * /ServiceProviderConfig as they were.
 */
function checkLimits(limits: ServerLimits): void {
  for (const name of Object.keys(DEFAULT_LIMITS) as (keyof ServerLimits)[]) {
    const value = limits[name];
    const least = name === 'maxDiscardedBodyBytes' ? 0 : 1;
    if (!Number.isSafeInteger(value) || value < least) {
      throw new RangeError(`scimPlugin: limits.${name} must be a whole number, ${least} or more, got ${typeof value === 'string' ? JSON.stringify(value) : String(value)}`);
    }
  }
}

/** Where buildServer mounts the SCIM plugin, and the handler's default. */
export const DEFAULT_PREFIX = '/scim';

/**
 * A prefix as fastify takes it: a leading slash, no trailing one, path characters only and no empty segment. The
 * plugin and the handler both hold to it: fastify itself serves `/a b` or `//scim`, links to which no client follows.
 */
export function normalizePrefix(prefix: string): string {
  const trimmed = prefix.trim().replace(/\/+$/, '');
  if (trimmed === '' || !/^\/[A-Za-z0-9._~!$&'()*+,;=:@%/-]*$/.test(trimmed) || trimmed.includes('//')) {
    throw new Error(`prefix must be a path such as /scim (got ${JSON.stringify(prefix)})`);
  }
  return trimmed;
}
/** The plugin serves each organization under `<prefix>/v2/organizations/<orgId>` and the same under `/v2.0`. */
const VERSION_PATHS = ['/v2', '/v2.0'] as const;

export type { ConnectionLimits } from './connections.ts';

/** What the SCIM plugin needs: an open store, a rate limiter, and its own settings. */
export interface ScimPluginOptions {
  readonly store: Store;
  readonly rateLimiter: RateLimiter;
  readonly limits?: Partial<ServerLimits>;
  /** Scheme and authority used in Location, meta.location and $ref, e.g. `https://scim.example.com`; else taken from the request. */
  readonly publicUrl?: string;
  /**
   * Where the plugin counts requests, durations and refusals; render it (`metrics.render()`) for a metrics route.
   * Default: the plugin's own, which nothing reads.
   */
  readonly metrics?: ServerMetrics;
  /**
   * SCIM requests kept in each organization's request log (activity.ts), default 1,000; 0 keeps none. Token last
   * use is tracked either way.
   */
  readonly requestLogSize?: number;
}

export interface BuildServerOptions extends ScimPluginOptions {
  /** false (default) for silence, pino options, or a pino logger. The Authorization header is always redacted. */
  readonly logger?: boolean | LoggerOptions | Logger;
  /**
   * Trust X-Forwarded-For, -Proto and -Host from reverse proxies: the client address (which the failed-authentication
   * limit counts by) and the scheme and host of links. `true` trusts every hop (only when nothing else can reach the
   * server); a comma-separated string or a list names the proxies' addresses or CIDR ranges (`loopback`,
   * `linklocal` and `uniquelocal` name those ranges). Default: none.
   */
  readonly trustProxy?: boolean | string | readonly string[];
  /** Connection caps and timeouts of the listening server (connections.ts); each defaults as documented there. */
  readonly connections?: Partial<ConnectionLimits>;
  /** Accept plain http webhook URLs (development and tests; `serve --allow-http-webhooks`). */
  readonly allowHttpWebhooks?: boolean;
  /** More routes for the management API (`/api/v1/organizations/:orgId/...`; see api/index.ts). */
  readonly managementRoutes?: readonly ManagementRoutes[];
  /** More management API routes outside any organization (`/api/v1/...`). */
  readonly managementRootRoutes?: readonly ManagementRoutes[];
  /** Organizations with their own label in the per-organization metrics (default 1,000); later ones share `_other`. */
  readonly metricsMaxOrganizations?: number;
  /**
   * When set, `GET /metrics` answers only `Authorization: Bearer <metricsToken>` (401 otherwise), since its series
   * name organization ids (`serve`: SCIMKIT_METRICS_TOKEN). Default: open, for a port only operators reach.
   */
  readonly metricsToken?: string;
  /** Event and delivery metrics, shared with a delivery worker in the same process; else the server keeps its own. */
  readonly eventMetrics?: EventMetrics;
  /** Failed console sign-ins allowed per client address and per account, and their window (sessions.ts). */
  readonly loginLimits?: Partial<LoginLimits>;
  /** The admin console at /admin (console.ts); false leaves it out. Default: on, with this package's built assets. */
  readonly adminConsole?: AdminConsoleOptions | false;
}

/** What an organization-scoped plugin receives; `bulk.ts` registers `/Bulk` with it. */
export interface ScimPluginContext {
  readonly store: Store;
  readonly limits: ServerLimits;
}

const REDACT = ['req.headers.authorization', 'req.headers.cookie', 'headers.authorization'];

function isLogger(value: unknown): value is Logger {
  return typeof value === 'object' && value !== null && typeof (value as Logger).child === 'function' && typeof (value as Logger).info === 'function';
}

function loggerOptions(logger: BuildServerOptions['logger']): Pick<FastifyServerOptions, 'logger' | 'loggerInstance'> {
  if (isLogger(logger)) return { loggerInstance: logger };
  if (logger === undefined || logger === false) return { logger: false };
  const base: LoggerOptions = logger === true ? {} : logger;
  const paths = Array.isArray(base.redact) ? base.redact : (base.redact?.paths ?? []);
  return { logger: { ...base, redact: { paths: [...new Set([...paths, ...REDACT])], censor: '[redacted]' } } };
}

/** Logger levels at which probes are logged. */
const DEBUG_LEVELS: ReadonlySet<string> = new Set(['debug', 'trace']);

/** Longest User-Agent kept in a log line; a client cannot make every line of its requests kilobytes long. */
const MAX_LOGGED_USER_AGENT = 256;

/**
 * The fields of a request's log line: who (client address, user agent, the organization of the path, the SCIM token
 * or management key), what (method, route pattern, resource id), and how it went (status, duration and, for an
 * error, its scimType or code and detail). Never a credential or a body: tokens are referred to by id.
 */
function accessLogLine(request: FastifyRequest, route: string, status: number, elapsedMs: number, params: { orgId?: string; id?: string } | undefined): Record<string, unknown> {
  const token = request.scimToken;
  const principal = request.management?.principal;
  const key = principal?.kind === 'key' ? principal.key : undefined;
  const userAgent = request.headers['user-agent'];
  const line: Record<string, unknown> = {
    client: request.ip,
    userAgent: userAgent !== undefined && userAgent.length > MAX_LOGGED_USER_AGENT ? userAgent.slice(0, MAX_LOGGED_USER_AGENT) : userAgent,
    org: params?.orgId,
    tokenId: token?.id,
    method: request.method,
    route,
    resourceId: params?.id,
    status,
    durationMs: Math.round(elapsedMs * 1000) / 1000,
  };
  // A token of another organization on this one's path (403): which organization it belongs to.
  if (token != null && token.orgId !== params?.orgId) line.tokenOrg = token.orgId;
  if (key !== undefined) line.managementKeyId = key.id;
  if (principal?.kind === 'session') line.operatorId = principal.admin.id;
  if (principal?.kind === 'setup-link') line.setupLinkId = principal.link.id;
  const problem = request.problem;
  if (problem != null && status >= 400) {
    if (problem.scimType !== undefined) line.scimType = problem.scimType;
    if (problem.code !== undefined) line.code = problem.code;
    line.detail = problem.detail;
  }
  return line;
}

/**
 * Request ids, one log line and metrics per response, SCIM error bodies and a SCIM 404, for the routes of one
 * encapsulated context (the SCIM plugin's, or the standalone server's own).
 */
function observeRequests(scope: FastifyInstance, metrics: ServerMetrics, maxDiscardedBodyBytes: number): void {
  // Callback hooks rather than async ones: an async hook costs a promise and a microtask turn on every request.
  scope.addHook('onRequest', (request, reply, done) => {
    reply.header('x-request-id', request.id);
    done();
  });
  scope.decorateRequest('scimToken', null);
  scope.decorateRequest('problem', null);
  scope.addHook('onResponse', (request, reply, done) => {
    const route = request.routeOptions.url ?? 'unmatched';
    const status = reply.statusCode;
    metrics.recordRequest(request.method, route, status, reply.elapsedTime / 1000);
    const params = request.params as { orgId?: string; id?: string } | undefined;
    const token = request.scimToken;
    // Per organization only for a token of that organization: an anonymous client cannot add labels.
    if (token != null && token.orgId === params?.orgId) metrics.recordOrganizationRequest(token.orgId, status);
    // Probes and scrapes come every few seconds: their lines are for debugging only.
    if (request.routeOptions.config?.probe !== true) request.log.info(accessLogLine(request, route, status, reply.elapsedTime, params), 'request completed');
    else if (DEBUG_LEVELS.has(request.log.level)) request.log.debug(accessLogLine(request, route, status, reply.elapsedTime, params), 'request completed');
    done();
  });
  scope.setErrorHandler((error, request, reply) => {
    const response = toErrorResponse(error, request.id);
    if (response.internal) request.log.error({ err: error }, 'internal error');
    else if (response.status === 503) request.log.warn({ err: (error as Error).cause ?? error }, 'dependency unavailable');
    if (response.retryAfter !== undefined) reply.header('retry-after', String(response.retryAfter));
    discardUnreadBody(request, reply, maxDiscardedBodyBytes);
    return sendProblem(request, reply, response.status, response.body);
  });
  scope.setNotFoundHandler((request, reply) => {
    discardUnreadBody(request, reply, maxDiscardedBodyBytes);
    return sendProblem(request, reply, 404, errorBody(404, `No endpoint ${request.method} ${request.url.split('?')[0]}`));
  });
}

/**
 * The only bodies a scope accepts: JSON as `application/scim+json` or `application/json`, up to `maxBytes`, with
 * prototype-reaching keys and excessive nesting refused (parseJsonBody). Applies to the scope's own routes.
 */
function useJsonBodies(scope: FastifyInstance, maxBytes: number): void {
  scope.removeAllContentTypeParsers();
  scope.addContentTypeParser(['application/scim+json', 'application/json'], { parseAs: 'string', bodyLimit: maxBytes }, (request, body, done) => {
    const compressed = checkContentEncoding(request.headers['content-encoding']);
    if (compressed) return done(compressed, undefined);
    try {
      done(null, parseJsonBody(body as string));
    } catch (err) {
      done(err as Error, undefined);
    }
  });
}

/**
 * The SCIM API as a fastify plugin: `app.register(scimPlugin, { prefix: '/scim', store, rateLimiter })` serves
 * `/scim/v2/organizations/:orgId/...` (and `/scim/v2.0/...`). It is encapsulated: its JSON parser, hooks, error
 * handler and 404 apply to its own routes only, so the host app's routes, hooks and content-type parsers are
 * untouched. The host owns the server: its logger, request ids, router options and trust-proxy setting apply.
 */
export const scimPlugin: FastifyPluginAsync<ScimPluginOptions> = async (scope, options) => {
  // Without them (or with a store's promise, openStore not awaited) every request was a 500, and JavaScript callers
  // get no type error to warn them.
  if (typeof options.store?.findToken !== 'function') throw new TypeError('scimPlugin: options.store must be an open store: the result of await openStore(...) from scimkit/store');
  if (typeof options.rateLimiter?.hit !== 'function') throw new TypeError('scimPlugin: options.rateLimiter must be a rate limiter: createRateLimiter() from scimkit/server');
  if (options.publicUrl) {
    try {
      checkPublicUrl(options.publicUrl);
    } catch (err) {
      // Not echoed when it may hold credentials.
      const got = options.publicUrl.includes('@') ? '' : ` ${JSON.stringify(options.publicUrl)}`;
      throw new Error(`scimPlugin: publicUrl${got} ${(err as Error).message}`);
    }
  }
  const limits: ServerLimits = { ...DEFAULT_LIMITS, ...options.limits };
  checkLimits(limits);
  const metrics = options.metrics ?? new ServerMetrics({ rateLimiter: options.rateLimiter });
  const features: ServiceProviderFeatures = {
    patch: true,
    bulk: { supported: true, maxOperations: limits.maxBulkOperations, maxPayloadSize: limits.maxPayloadBytes },
    filter: { supported: true, maxResults: limits.maxResults },
    changePassword: true,
    sort: true,
    etag: true,
    cursorPaging: true,
  };

  const requestLogSize = options.requestLogSize ?? DEFAULT_REQUEST_LOG_SIZE;
  if (!Number.isSafeInteger(requestLogSize) || requestLogSize < 0) throw new RangeError(`requestLogSize must be a whole number, 0 or more, got ${requestLogSize}`);
  const activity = new ActivityRecorder({ store: options.store, keepPerOrg: requestLogSize, log: scope.log });
  // Before the store closes (callers close the app first), what is pending is written.
  scope.addHook('onClose', async () => activity.close());

  scope.decorateRequest('scim', null);
  useJsonBodies(scope, limits.maxPayloadBytes);
  observeRequests(scope, metrics, limits.maxDiscardedBodyBytes);
  options.rateLimiter.observe?.({
    fallback: (reason) => scope.log.warn({ reason }, 'rate limiter: Redis cannot be reached; counting in this process until it is back'),
    recovered: () => scope.log.info('rate limiter: Redis answers again; counting there'),
  });

  const authenticateUnder = organizationAuth({
    store: options.store,
    rateLimiter: options.rateLimiter,
    metrics,
    authFailuresPerSecond: limits.authFailuresPerSecond,
    maxStartIndex: limits.maxStartIndex,
    maxPageBytes: limits.maxPageBytes,
    publicUrl: options.publicUrl,
  });
  // fastify serves `prefix: '/scim/'` at /scim/v2 but keeps the slash in scope.prefix: links need it dropped. At the
  // root (no prefix, or '/') there is nothing to check.
  const base = scope.prefix.replace(/\/+$/, '');
  if (base !== '') {
    try {
      normalizePrefix(base);
    } catch (err) {
      throw new Error(`scimPlugin: ${(err as Error).message}`);
    }
  }
  for (const version of VERSION_PATHS) {
    const prefix = `${base}${version}`;
    scope.register(
      async (org) => {
        org.addHook('onRequest', authenticateUnder(prefix));
        org.addHook('onResponse', (request, reply, done) => {
          activity.record(request, reply);
          done();
        });
        org.setNotFoundHandler(async (request) => {
          throw ScimError.notFound(`No endpoint ${request.method} ${request.url.split('?')[0]}`);
        });
        registerScimRoutes(org, {
          listLimits: { defaultCount: limits.defaultCount, maxCount: limits.maxResults },
          features,
        });
        registerBulkRoute(org, { store: options.store, limits });
      },
      { prefix: `${version}/organizations/:orgId` },
    );
  }
};

/** Fastify settings of a scimkit server: SCIM answers even for what fails before routing. */
export function scimServerOptions(options: Pick<BuildServerOptions, 'logger' | 'trustProxy' | 'limits' | 'metrics'>): FastifyServerOptions {
  const trustProxy = options.trustProxy ?? false;
  return {
    ...loggerOptions(options.logger),
    // One line per request, written by the onResponse hook, instead of fastify's two.
    logController: new LogController({ disableRequestLogging: true }),
    // Request ids are ours, never the client's, so a log line cannot be forged through a header.
    genReqId: () => randomUUID(),
    requestIdHeader: false,
    bodyLimit: options.limits?.maxPayloadBytes ?? DEFAULT_LIMITS.maxPayloadBytes,
    trustProxy: typeof trustProxy === 'object' ? [...trustProxy] : trustProxy,
    routerOptions: { caseSensitive: false, ignoreTrailingSlash: true, maxParamLength: 512 },
    clientErrorHandler: scimClientErrorHandler,
    frameworkErrors: (error, request, reply) => {
      // fastify's own messages repeat the raw path, which no log line may hold.
      const detail =
        error.code === 'FST_ERR_BAD_URL' ? 'The request URL is malformed' : error.code === 'FST_ERR_MAX_PARAM_LENGTH' ? 'A path segment of the request URL is too long' : error.message;
      reply.header('x-request-id', request.id);
      // Answered before routing, so the console's own hook does not add its headers to a malformed /admin URL.
      if (isConsoleUrl(request.url)) reply.headers(SECURITY_HEADERS);
      sendProblem(request, reply, 400, errorBody(400, detail, 'invalidSyntax'));
      // Answered before routing, so no scope's onResponse hook sees it: its log line and count are made here.
      options.metrics?.recordRequest(request.method, 'unmatched', 400, reply.elapsedTime / 1000);
      request.log.info(accessLogLine(request, 'unmatched', 400, reply.elapsedTime, undefined), 'request completed');
    },
  };
}

/**
 * A fastify instance of scimkit's own: the SCIM plugin under `prefix`, `routes` beside it, and SCIM answers for
 * every other path. buildServer and createScimHandler both start from it.
 */
export function scimApp(
  options: ScimPluginOptions & Pick<BuildServerOptions, 'logger' | 'trustProxy'>,
  prefix: string,
  routes: (service: FastifyInstance, metrics: ServerMetrics) => void = () => {},
  serverOptions: FastifyServerOptions = {},
): { app: FastifyInstance; metrics: ServerMetrics } {
  const limits: ServerLimits = { ...DEFAULT_LIMITS, ...options.limits };
  const metrics = options.metrics ?? new ServerMetrics({ rateLimiter: options.rateLimiter });
  const app = Fastify({ ...scimServerOptions({ ...options, metrics }), ...serverOptions });
  app.register(scimPlugin, {
    prefix,
    store: options.store,
    rateLimiter: options.rateLimiter,
    limits,
    publicUrl: options.publicUrl,
    metrics,
    requestLogSize: options.requestLogSize,
  });
  app.register(async (service) => {
    useJsonBodies(service, limits.maxPayloadBytes);
    observeRequests(service, metrics, limits.maxDiscardedBodyBytes);
    routes(service, metrics);
  });
  return { app, metrics };
}

/**
 * The standalone SCIM service: the SCIM plugin under `/scim`, the management API under `/api/v1`, the admin console
 * under `/admin`, `/healthz`,
 * `/readyz` and `/metrics`, and SCIM answers for every other path, with connection caps and timeouts on its own
 * listening server.
 */
export function buildServer(options: BuildServerOptions): FastifyInstance {
  const limits: ServerLimits = { ...DEFAULT_LIMITS, ...options.limits };
  const connections: ConnectionLimits = { ...defaultConnectionLimits(), ...options.connections };
  checkConnectionLimits(connections);
  const eventMetrics = options.eventMetrics ?? new EventMetrics();
  // A metrics instance handed in is watched by its owner (which may share it with a delivery worker).
  const unwatch = options.eventMetrics ? () => {} : eventMetrics.watch(options.store);
  const metrics = options.metrics ?? new ServerMetrics({ rateLimiter: options.rateLimiter, maxOrganizationLabels: options.metricsMaxOrganizations });
  const { app } = scimApp(
    { ...options, metrics },
    DEFAULT_PREFIX,
    (service) => {
      registerOperationsRoutes(service, {
        store: options.store,
        rateLimiter: options.rateLimiter,
        metrics,
        moreMetrics: { refresh: () => eventMetrics.refresh(options.store), render: () => eventMetrics.render() },
        metricsToken: options.metricsToken,
      });
      service.register(managementApi, {
        prefix: '/api/v1',
        store: options.store,
        rateLimiter: options.rateLimiter,
        authFailuresPerSecond: limits.authFailuresPerSecond,
        allowHttpWebhooks: options.allowHttpWebhooks ?? false,
        routes: options.managementRoutes,
        rootRoutes: options.managementRootRoutes,
        publicUrl: options.publicUrl,
        loginLimits: options.loginLimits,
      });
      if (options.adminConsole !== false) registerAdminConsole(service, options.adminConsole);
    },
    timeoutOptions(connections),
  );
  app.addHook('onClose', (_instance, done) => {
    unwatch();
    done();
  });
  capConnections(app.server, connections, options.trustProxy ?? false, metrics);
  return app;
}
