/**
 * `GET /api/v1/organizations/{org_id}/events?after=<cursor>&limit=<n>&types=<t1,t2>&wait=<seconds>`: an
 * organization's events in sequence order, `{"data": [...], "next_cursor": "..."}`. The cursor is the sequence of
 * the last event read (a decimal number), and `next_cursor` is never null: it is where to poll next.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { EVENT_TYPES, eventJson, isEventType } from '../../store/events.ts';
import type { EventPage, EventTimelineOptions } from '../../store/events.ts';
import { ApiError, JSON_CONTENT_TYPE, limitParam, listParam, organizationOf, queryParam } from './index.ts';
import type { ManagementContext } from './index.ts';

export const MAX_WAIT_SECONDS = 30;
const DEFAULT_LIMIT = 100;
const MAX_LIMIT = 1000;

interface EventQuery {
  readonly after: number | undefined;
  readonly limit: number;
  readonly types: string[] | undefined;
  readonly waitMs: number;
}

export function parseCursor(raw: string): number {
  if (!/^\d{1,15}$/.test(raw)) throw ApiError.badRequest('invalid_cursor', 'after must be a cursor from next_cursor (a whole number)');
  return Number(raw);
}

function parseQuery(request: FastifyRequest): EventQuery {
  const rawAfter = queryParam(request, 'after');
  const after = rawAfter === undefined || rawAfter === '' ? undefined : parseCursor(rawAfter);
  const limit = limitParam(request, DEFAULT_LIMIT, MAX_LIMIT);
  const rawTypes = listParam(request, 'types');
  let types: string[] | undefined;
  if (rawTypes !== undefined) {
    types = [...new Set(rawTypes.split(',').map((t) => t.trim()).filter((t) => t !== ''))];
    if (types.length === 0) throw ApiError.badRequest('invalid_type', 'types must name at least one event type');
    const unknown = types.find((t) => !isEventType(t));
    if (unknown !== undefined) throw ApiError.badRequest('invalid_type', `Unknown event type ${JSON.stringify(unknown)}; known: ${EVENT_TYPES.join(', ')}`);
  }
  const rawWait = queryParam(request, 'wait');
  let waitMs = 0;
  if (rawWait !== undefined) {
    if (!/^\d+(\.\d+)?$/.test(rawWait) || Number(rawWait) > MAX_WAIT_SECONDS) {
      throw ApiError.badRequest('invalid_wait', `wait must be a number of seconds from 0 to ${MAX_WAIT_SECONDS}`);
    }
    waitMs = Math.round(Number(rawWait) * 1000);
  }
  return { after, limit, types, waitMs };
}

/** The page as the response's JSON text: events are stored as text and joined without being parsed. */
function pageJson(page: EventPage): string {
  return `{"data":[${page.events.map(eventJson).join(',')}],"next_cursor":${JSON.stringify(String(page.position))}}`;
}

/** Reads a page, checking the cursor against retention (410) and the stream's end (400). */
async function readPage(context: ManagementContext, orgId: string, query: EventQuery): Promise<EventPage> {
  const page = await context.store.readEvents(orgId, { after: query.after, limit: query.limit, types: query.types });
  if (query.after !== undefined && query.after < page.purgedThrough) {
    throw new ApiError(
      410,
      'cursor_expired',
      `Events after ${query.after} are past retention (kept from ${page.purgedThrough + 1}); read again without after, or from a newer cursor`,
    );
  }
  if (query.after !== undefined && query.after > page.end) {
    throw ApiError.badRequest('invalid_cursor', 'The cursor is ahead of this organization\'s events: it does not come from this organization');
  }
  return page;
}

/**
 * `order=desc`: newest first, for a timeline (the console's). Pages go back in time with `before=<next_cursor>`,
 * and `next_cursor` is null on the last page; `resource_id` keeps the events about one User or Group.
 */
async function timeline(context: ManagementContext, request: FastifyRequest, reply: FastifyReply, orgId: string): Promise<FastifyReply> {
  const limit = limitParam(request, DEFAULT_LIMIT, MAX_LIMIT);
  const rawBefore = queryParam(request, 'before');
  const before = rawBefore === undefined || rawBefore === '' ? undefined : parseCursor(rawBefore);
  const rawTypes = listParam(request, 'types');
  const types = rawTypes === undefined || rawTypes === '' ? undefined : [...new Set(rawTypes.split(',').map((t) => t.trim()).filter((t) => t !== ''))];
  const unknown = types?.find((t) => !isEventType(t));
  if (unknown !== undefined) throw ApiError.badRequest('invalid_type', `Unknown event type ${JSON.stringify(unknown)}; known: ${EVENT_TYPES.join(', ')}`);
  const resourceId = queryParam(request, 'resource_id');
  if (queryParam(request, 'after') !== undefined || queryParam(request, 'wait') !== undefined) {
    throw ApiError.badRequest('invalid_request', 'order=desc pages with before, and does not wait: after and wait are for order=asc');
  }
  const options: EventTimelineOptions = { limit: limit + 1, ...(before !== undefined ? { before } : {}), ...(types ? { types } : {}), ...(resourceId ? { resourceId } : {}) };
  const found = await context.store.readEventTimeline(orgId, options);
  const page = found.slice(0, limit);
  const next = found.length > limit ? JSON.stringify(String(page[page.length - 1].sequence)) : 'null';
  return reply.code(200).type(JSON_CONTENT_TYPE).send(`{"data":[${page.map(eventJson).join(',')}],"next_cursor":${next}}`);
}

export function registerEventRoutes(org: FastifyInstance, context: ManagementContext): void {
  org.get('/events', { config: { query: ['after', 'before', 'limit', 'types', 'wait', 'order', 'resource_id'] } }, async (request: FastifyRequest, reply: FastifyReply) => {
    const orgId = organizationOf(request).id;
    const order = queryParam(request, 'order');
    if (order !== undefined && order !== 'asc' && order !== 'desc') throw ApiError.badRequest('invalid_order', 'order must be asc or desc');
    if (order === 'desc') return timeline(context, request, reply, orgId);
    if (queryParam(request, 'before') !== undefined || queryParam(request, 'resource_id') !== undefined) {
      throw ApiError.badRequest('invalid_request', 'before and resource_id go with order=desc');
    }
    const query = parseQuery(request);
    let page = await readPage(context, orgId, query);
    if (page.events.length === 0 && query.waitMs > 0) {
      // Long polling: hold the request until an event arrives, the wait ends, the client leaves or the server closes.
      const deadline = Date.now() + query.waitMs;
      const gone = new AbortController();
      const onClose = () => gone.abort();
      reply.raw.once('close', onClose);
      try {
        // Later reads continue from where the first one ended, so a filtered wait never rescans.
        const next: EventQuery = { ...query, after: page.position };
        while (page.events.length === 0 && !gone.signal.aborted && !context.waiter.isClosed) {
          const left = deadline - Date.now();
          if (left <= 0) break;
          await context.waiter.wait(orgId, left, gone.signal);
          page = await readPage(context, orgId, next);
        }
      } finally {
        reply.raw.removeListener('close', onClose);
      }
    }
    return reply.code(200).type(JSON_CONTENT_TYPE).send(pageJson(page));
  });
}
