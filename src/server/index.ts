/**
 * scimkit/server: the SCIM 2.0 service provider over HTTP. Mount it in a fastify app (`scimPlugin`), hand it
 * requests from node:http or Express (`createScimHandler`), or run it on its own (`buildServer`). Each takes an
 * open store (`openStore` from scimkit/store) and a rate limiter (`createRateLimiter`).
 */
export {
  buildServer,
  DEFAULT_LIMITS,
  DEFAULT_PREFIX,
  scimPlugin,
  type BuildServerOptions,
  type ConnectionLimits,
  type ScimPluginOptions,
  type ServerLimits,
} from './app.ts';
export { createScimHandler, type ScimHandlerOptions, type ScimRequestHandler } from './handler.ts';
export { ServerMetrics } from './metrics.ts';
export {
  createRateLimiter,
  MemoryRateLimiter,
  RedisRateLimiter,
  type CreateRateLimiterOptions,
  type MemoryRateLimiterOptions,
  type RateLimitDecision,
  type RateLimiter,
  type RedisRateLimiterOptions,
} from './ratelimit/index.ts';
