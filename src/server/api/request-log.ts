/**
 * `GET /organizations/{org_id}/request-log`: the organization's latest SCIM requests, newest first (activity.ts
 * records them), filterable by status; `GET /organizations/{org_id}/rate-limits`: the rate-limit counters of the
 * current one-second window and the latest requests refused with 429.
 */
import type { FastifyInstance } from 'fastify';
import type { RequestLogRecord, StatusFilter } from '../../store/types.ts';
import { ApiError, limitParam, listJson, organizationOf, queryParam, sendJson } from './index.ts';
import type { ManagementContext } from './index.ts';

/** `status`: a code (`400`), a class (`4xx`), or `errors` (every 4xx and 5xx). */
export function statusFilter(raw: string | undefined): StatusFilter | undefined {
  if (raw === undefined || raw === '') return undefined;
  const value = raw.trim().toLowerCase();
  if (/^[1-5]\d\d$/.test(value)) return { kind: 'exact', code: Number(value) };
  const range = /^([1-5])xx$/.exec(value);
  if (range) return { kind: 'range', from: Number(range[1]) * 100, to: Number(range[1]) * 100 + 100 };
  if (value === 'errors') return { kind: 'range', from: 400, to: 600 };
  throw ApiError.badRequest('invalid_status', 'status must be a code such as 400, a class such as 4xx, or errors');
}

function parsedBody(text: string | null): unknown {
  if (text === null) return null;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

export function requestLogJson(entry: RequestLogRecord): Record<string, unknown> {
  return {
    id: entry.id,
    at: entry.at,
    method: entry.method,
    path: entry.path,
    status: entry.status,
    latency_ms: entry.latencyMs,
    scim_type: entry.scimType,
    detail: entry.detail,
    request_body: parsedBody(entry.requestBody),
    token_id: entry.tokenId,
    user_agent: entry.userAgent,
    request_id: entry.requestId,
  };
}

const RECENT_429S = 20;

export function registerRequestLogRoutes(org: FastifyInstance, context: ManagementContext): void {
  const { store } = context;

  org.get('/request-log', { config: { query: ['limit', 'after', 'status'] } }, async (request, reply) => {
    const limit = limitParam(request, 100, 1000);
    const after = queryParam(request, 'after');
    if (after !== undefined && !/^\d{1,15}$/.test(after)) throw ApiError.badRequest('invalid_cursor', 'after must be a cursor from next_cursor');
    const found = await store.listRequestLog(organizationOf(request).id, {
      status: statusFilter(queryParam(request, 'status')),
      ...(after !== undefined ? { before: Number(after) } : {}),
      limit: limit + 1,
    });
    const page = found.slice(0, limit);
    return sendJson(reply, 200, listJson(page.map(requestLogJson), found.length > limit ? page[page.length - 1].id : null));
  });

  org.get('/rate-limits', async (request, reply) => {
    const found = organizationOf(request);
    const limiter = context.rateLimiter;
    // The same keys the SCIM endpoints count under (auth.ts).
    const [read, write] = limiter ? await Promise.all([limiter.peek(`org:${found.id}:read`), limiter.peek(`org:${found.id}:write`)]) : [0, 0];
    const refused = await store.listRequestLog(found.id, { status: { kind: 'exact', code: 429 }, limit: RECENT_429S });
    return sendJson(reply, 200, {
      read: { limit: found.settings.readLimit, used: read },
      write: { limit: found.settings.writeLimit, used: write },
      window_seconds: 1,
      recent_429s: refused.map(requestLogJson),
    });
  });
}
