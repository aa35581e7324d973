/**
 * `/api/v1/organizations/{org_id}/webhooks`: endpoints, their secrets, deliveries and replays (docs/events.md).
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { randomUUID } from 'node:crypto';
import { request as httpRequest } from 'undici';
import { checkWebhookUrl, MAX_ROTATION_GRACE_SECONDS } from '../../store/webhooks.ts';
import { describeError, signatureOf, USER_AGENT } from '../webhook-sender.ts';
import type { DeliveryStatus, WebhookDelivery, WebhookEndpoint } from '../../store/types.ts';
import { ApiError, limitParam, listJson, objectBody, organizationOf, queryParam, sendJson } from './index.ts';
import type { ManagementContext } from './index.ts';

/** How long a rotated-out secret keeps signing by default: receivers have a day to switch. */
export const DEFAULT_ROTATION_GRACE_SECONDS = 24 * 60 * 60;
/** A test event's answer must come within this. */
const TEST_TIMEOUT_MS = 10_000;

export function endpointJson(endpoint: WebhookEndpoint): Record<string, unknown> {
  return {
    id: endpoint.id,
    organization_id: endpoint.orgId,
    url: endpoint.url,
    events: endpoint.eventTypes,
    enabled: endpoint.enabled,
    disabled_reason: endpoint.disabledReason,
    previous_secret_valid_until: endpoint.previousSecretUntil,
    paused_until: endpoint.pausedUntil,
    created_at: endpoint.created,
  };
}

export function deliveryJson(delivery: WebhookDelivery): Record<string, unknown> {
  return {
    id: delivery.id,
    webhook_id: delivery.endpointId,
    event_id: delivery.eventId,
    event_type: delivery.eventType,
    sequence: delivery.sequence,
    status: delivery.status,
    attempts: delivery.attempts,
    next_attempt_at: delivery.nextAttemptAt,
    last_status: delivery.lastStatus,
    last_error: delivery.lastError,
    last_attempt_at: delivery.lastAttemptAt,
    created_at: delivery.created,
    finished_at: delivery.finishedAt,
  };
}

/** Refuses a field the route does not know, rather than ignoring it (a misspelt "events" would subscribe to all). */
function knownFields(body: Record<string, unknown>, known: readonly string[]): Record<string, unknown> {
  const unknown = Object.keys(body).find((key) => !known.includes(key));
  if (unknown !== undefined) throw ApiError.badRequest('invalid_field', `Unknown field ${JSON.stringify(unknown)}; known: ${known.join(', ')}`);
  return body;
}

function eventTypesField(body: Record<string, unknown>): readonly string[] | null | undefined {
  const value = body.events;
  if (value === undefined) return undefined;
  if (value === null) return null;
  if (!Array.isArray(value) || !value.every((t) => typeof t === 'string')) throw ApiError.badRequest('invalid_events', '"events" must be a list of event type names, or null for all');
  return value as string[];
}

function rotationGrace(body: Record<string, unknown>): number {
  const value = body.grace_seconds;
  if (value === undefined) return DEFAULT_ROTATION_GRACE_SECONDS;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > MAX_ROTATION_GRACE_SECONDS) {
    throw ApiError.badRequest('invalid_grace', `"grace_seconds" must be a whole number from 0 to ${MAX_ROTATION_GRACE_SECONDS}`);
  }
  return value;
}

function deliveryStatus(raw: string | undefined): DeliveryStatus | undefined {
  if (raw === undefined) return undefined;
  if (raw !== 'pending' && raw !== 'succeeded' && raw !== 'failed') throw ApiError.badRequest('invalid_status', 'status must be pending, succeeded or failed');
  return raw;
}

type IdParams = { Params: { orgId: string; id: string } };
type DeliveryParams = { Params: { orgId: string; id: string; deliveryId: string } };

export function registerWebhookRoutes(org: FastifyInstance, context: ManagementContext): void {
  const { store } = context;

  async function endpointOf(request: FastifyRequest<IdParams>): Promise<WebhookEndpoint> {
    const found = await store.getWebhook(organizationOf(request).id, request.params.id);
    if (!found) throw ApiError.notFound(`Webhook ${JSON.stringify(request.params.id)} not found`);
    return found;
  }

  org.get('/webhooks', async (request, reply) => {
    const list = await store.listWebhooks(organizationOf(request).id);
    return sendJson(reply, 200, listJson(list.map(endpointJson), null));
  });

  org.post('/webhooks', async (request, reply) => {
    const body = knownFields(objectBody(request), ['url', 'events']);
    const url = checkWebhookUrl(body.url, context.allowHttpWebhooks);
    const created = await store.createWebhook(organizationOf(request).id, { url, eventTypes: eventTypesField(body) });
    // The secret is in this answer once; later only an explicit reveal shows it.
    return sendJson(reply, 201, { ...endpointJson(created.endpoint), secret: created.secret });
  });

  org.get<IdParams>('/webhooks/:id', async (request, reply) => sendJson(reply, 200, endpointJson(await endpointOf(request))));

  org.patch<IdParams>('/webhooks/:id', async (request, reply) => {
    const body = knownFields(objectBody(request), ['url', 'events', 'enabled']);
    const url = body.url === undefined ? undefined : checkWebhookUrl(body.url, context.allowHttpWebhooks);
    if (body.enabled !== undefined && typeof body.enabled !== 'boolean') throw ApiError.badRequest('invalid_enabled', '"enabled" must be true or false');
    await endpointOf(request);
    const updated = await store.updateWebhook(organizationOf(request).id, request.params.id, {
      ...(url !== undefined ? { url } : {}),
      ...(body.events !== undefined ? { eventTypes: eventTypesField(body) } : {}),
      ...(body.enabled !== undefined ? { enabled: body.enabled as boolean } : {}),
    });
    return sendJson(reply, 200, endpointJson(updated));
  });

  org.delete<IdParams>('/webhooks/:id', async (request, reply) => {
    if (!(await store.deleteWebhook(organizationOf(request).id, request.params.id))) throw ApiError.notFound(`Webhook ${JSON.stringify(request.params.id)} not found`);
    return reply.code(204).send();
  });

  org.post<IdParams>('/webhooks/:id/rotate-secret', async (request, reply) => {
    const grace = rotationGrace(knownFields(objectBody(request), ['grace_seconds']));
    await endpointOf(request);
    const until = new Date(Date.now() + grace * 1000).toISOString();
    const rotated = await store.rotateWebhookSecret(organizationOf(request).id, request.params.id, until);
    return sendJson(reply, 200, { ...endpointJson(rotated.endpoint), secret: rotated.secret });
  });

  // An explicit reveal: the only way to see a secret after creation or rotation.
  org.get<IdParams>('/webhooks/:id/secret', async (request, reply) => {
    const secret = await store.revealWebhookSecret(organizationOf(request).id, request.params.id);
    reply.header('cache-control', 'no-store');
    return sendJson(reply, 200, { secret });
  });

  org.get<IdParams>('/webhooks/:id/deliveries', { config: { query: ['limit', 'after', 'status', 'order', 'before'] } }, async (request, reply) => {
    await endpointOf(request);
    const limit = limitParam(request, 100, 1000);
    const order = queryParam(request, 'order');
    if (order !== undefined && order !== 'asc' && order !== 'desc') throw ApiError.badRequest('invalid_order', 'order must be asc or desc');
    // Oldest first pages forward with after; newest first (order=desc) pages back with before.
    const cursorName = order === 'desc' ? 'before' : 'after';
    const otherName = order === 'desc' ? 'after' : 'before';
    if (queryParam(request, otherName) !== undefined) throw ApiError.badRequest('invalid_request', `${otherName} goes with order=${order === 'desc' ? 'asc' : 'desc'}`);
    const cursor = queryParam(request, cursorName);
    if (cursor !== undefined && !/^\d{1,15}$/.test(cursor)) throw ApiError.badRequest('invalid_cursor', `${cursorName} must be a cursor from next_cursor`);
    const found = await store.listDeliveries(organizationOf(request).id, {
      endpointId: request.params.id,
      status: deliveryStatus(queryParam(request, 'status')),
      ...(order === 'desc' ? { newestFirst: cursor !== undefined ? { before: cursor } : {} } : cursor !== undefined ? { after: cursor } : {}),
      limit: limit + 1,
    });
    const page = found.slice(0, limit);
    return sendJson(reply, 200, listJson(page.map(deliveryJson), found.length > limit ? page[page.length - 1].id : null));
  });

  org.get<DeliveryParams>('/webhooks/:id/deliveries/:deliveryId', async (request, reply) => {
    const found = await store.getDelivery(organizationOf(request).id, request.params.deliveryId);
    if (!found || found.endpointId !== request.params.id) throw ApiError.notFound(`Delivery ${JSON.stringify(request.params.deliveryId)} not found`);
    return sendJson(reply, 200, deliveryJson(found));
  });

  org.post<DeliveryParams>('/webhooks/:id/deliveries/:deliveryId/replay', async (request, reply) => {
    const orgId = organizationOf(request).id;
    const found = await store.getDelivery(orgId, request.params.deliveryId);
    if (!found || found.endpointId !== request.params.id) throw ApiError.notFound(`Delivery ${JSON.stringify(request.params.deliveryId)} not found`);
    return sendJson(reply, 202, deliveryJson(await store.replayDelivery(orgId, request.params.deliveryId)));
  });

  // A signed `webhook.test` event sent now, outside the outbox: the answer says whether the receiver took it. Nothing
  // is stored or retried, and the receiver sees an event type it can ignore.
  org.post<IdParams>('/webhooks/:id/test', async (request, reply) => {
    const orgId = organizationOf(request).id;
    const endpoint = await endpointOf(request);
    const url = checkWebhookUrl(endpoint.url, context.allowHttpWebhooks);
    const secret = await store.revealWebhookSecret(orgId, endpoint.id);
    const id = `evt_test_${randomUUID().replaceAll('-', '')}`;
    const started = Date.now();
    const timestamp = Math.floor(started / 1000);
    const body = JSON.stringify({
      id,
      type: 'webhook.test',
      organization_id: orgId,
      sequence: 0,
      occurred_at: new Date(started).toISOString(),
      data: { message: 'A test event sent from the scimkit management API; no resource changed.' },
    });
    let status: number | null = null;
    let error: string | null = null;
    try {
      const answer = await httpRequest(url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'user-agent': USER_AGENT,
          'webhook-id': id,
          'webhook-timestamp': String(timestamp),
          'webhook-signature': signatureOf(secret, id, timestamp, body),
        },
        body,
        signal: AbortSignal.timeout(TEST_TIMEOUT_MS),
        headersTimeout: TEST_TIMEOUT_MS,
        bodyTimeout: TEST_TIMEOUT_MS,
      });
      status = answer.statusCode;
      await answer.body.dump({ limit: 64 * 1024 }).catch(() => {});
      if (status < 200 || status >= 300) error = status >= 300 && status < 400 ? `the receiver answered ${status} (redirects are not followed)` : `the receiver answered ${status}`;
    } catch (err) {
      error = describeError(err, TEST_TIMEOUT_MS);
    }
    return sendJson(reply, 200, { delivered: error === null, status, error, duration_ms: Date.now() - started });
  });

  // Everything since a time, again.
  org.post<IdParams>('/webhooks/:id/replay', async (request, reply) => {
    const body = knownFields(objectBody(request), ['since']);
    const since = body.since;
    if (typeof since !== 'string' || Number.isNaN(Date.parse(since))) throw ApiError.badRequest('invalid_since', '"since" must be an ISO 8601 time');
    await endpointOf(request);
    const replayed = await store.replaySince(organizationOf(request).id, request.params.id, new Date(since).toISOString());
    return sendJson(reply, 202, { replayed });
  });
}
