/**
 * The unauthenticated endpoints for operators: `/healthz` (liveness: the process answers), `/readyz` (readiness:
 * the store, and Redis when the rate limits are kept there, answer) and `/metrics` (Prometheus).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import type { Store } from '../store/types.ts';
import type { ServerMetrics } from './metrics.ts';
import type { RateLimiter } from './ratelimit/types.ts';

export interface OperationsOptions {
  readonly store: Store;
  readonly rateLimiter: RateLimiter;
  readonly metrics: ServerMetrics;
  /** More series appended to /metrics (events and deliveries); `refresh` reads what they need first. */
  readonly moreMetrics?: { refresh(): Promise<void>; render(): string };
  /** How long a readiness check may take before it counts as failed. */
  readonly readinessTimeoutMs?: number;
  /** The bearer token /metrics requires; open when absent. */
  readonly metricsToken?: string;
}

const JSON_TYPE = 'application/json; charset=utf-8';
const READINESS_TIMEOUT_MS = 2000;
/** Probes and scrapes are logged at debug (see the access log in app.ts). */
const PROBE = { probe: true };

type CheckResult = 'ok' | 'unavailable';

function sha256(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

/** Runs `check`, failed when it rejects or takes longer than `timeoutMs`; the cause goes to `failed`. */
async function probe(check: () => Promise<void>, timeoutMs: number, failed: (err: unknown) => void): Promise<CheckResult> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    await Promise.race([check(), timeout]);
    return 'ok';
  } catch (err) {
    failed(err);
    return 'unavailable';
  } finally {
    clearTimeout(timer);
  }
}

export function registerOperationsRoutes(app: FastifyInstance, options: OperationsOptions): void {
  const { store, rateLimiter, metrics } = options;
  const timeoutMs = options.readinessTimeoutMs ?? READINESS_TIMEOUT_MS;
  // Probes are frequent: their outcome is logged when it changes, not per probe.
  let wasReady = true;

  app.get('/healthz', { config: PROBE }, async (_request, reply) => reply.type(JSON_TYPE).send({ status: 'ok' }));

  app.get('/readyz', { config: PROBE }, async (request, reply) => {
    const causes: Record<string, string> = {};
    const note = (name: string) => (err: unknown) => {
      causes[name] = err instanceof Error ? err.message : String(err);
    };
    const ping = rateLimiter.ping?.bind(rateLimiter);
    const [storeCheck, redisCheck] = await Promise.all([
      probe(() => store.ping(), timeoutMs, note('store')),
      ping ? probe(ping, timeoutMs, note('redis')) : undefined,
    ]);
    const checks: Record<string, CheckResult> = { store: storeCheck, ...(redisCheck ? { redis: redisCheck } : {}) };
    const ready = Object.values(checks).every((c) => c === 'ok');
    metrics.setReady(ready);
    if (ready !== wasReady) {
      if (ready) request.log.info({ checks }, 'ready again');
      else request.log.warn({ checks, causes }, 'not ready: a dependency cannot be reached');
      wasReady = ready;
    }
    // The causes stay in the log: this endpoint needs no authentication.
    return reply.code(ready ? 200 : 503).type(JSON_TYPE).send({ status: ready ? 'ready' : 'unavailable', checks });
  });

  const metricsDigest = options.metricsToken === undefined ? null : sha256(options.metricsToken);
  app.get('/metrics', { config: PROBE }, async (request, reply) => {
    if (metricsDigest !== null) {
      const presented = /^\s*Bearer\s+(\S+)\s*$/i.exec(request.headers.authorization ?? '')?.[1];
      // Digests of equal length, so the comparison takes the same time whatever was sent.
      if (presented === undefined || !timingSafeEqual(sha256(presented), metricsDigest)) {
        return reply.code(401).header('www-authenticate', 'Bearer realm="scimkit-metrics"').type('text/plain; charset=utf-8').send('/metrics needs its bearer token\n');
      }
    }
    const more = options.moreMetrics;
    // A store that cannot answer leaves those gauges at their last values: metrics must not fail with the database.
    if (more) await more.refresh().catch(() => {});
    return reply.type('text/plain; version=0.0.4; charset=utf-8').send(metrics.render() + (more ? more.render() : ''));
  });
}
