/** scimkit/server: the SCIM 2.0 service provider over HTTP (fastify), and the rate limiters it counts with. */
export { BASE_PREFIXES, buildServer, DEFAULT_LIMITS, type BuildServerOptions, type ServerLimits } from './app.ts';
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
