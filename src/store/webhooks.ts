/**
 * Webhook endpoints and deliveries (docs/events.md).
 *
 * - An endpoint keeps its own position in its organization's event stream (`last_sequence`). Fanning out turns the
 *   events after it into delivery rows with one INSERT ... SELECT, and moves the position, in one transaction.
 * - A delivery is `pending` until it `succeeded` or finally `failed`. A worker claims due deliveries by setting a
 *   lease (owner and expiry); on PostgreSQL the claim skips rows another worker is claiming (FOR UPDATE SKIP
 *   LOCKED). A lease that expires (its worker died) makes the delivery claimable again: at least once.
 * - Per-resource order: a delivery is claimable only while no pending delivery of the same endpoint and resource
 *   has a lower sequence, so a later event about a user waits until the earlier one succeeded or finally failed.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { ScimError } from '../scim/errors.ts';
import { EVENT_COLUMNS, checkEventTypes, eventJson, streamEnd, toStoredEvent } from './events.ts';
import type { OpContext } from './operations.ts';
import type { SecretBox } from './secrets.ts';
import { chunks, exec, first, join, list, raw, rows, sql } from '../sql/index.ts';
import type { Op, Row, Sql } from '../sql/index.ts';
import type {
  ActiveEndpoint,
  ClaimedDelivery,
  DeliveryListOptions,
  DeliveryOutcome,
  DeliveryStatus,
  NewWebhookSecret,
  WebhookDelivery,
  WebhookEndpoint,
  WebhookEndpointUpdate,
} from './types.ts';

export const WEBHOOK_SECRET_PREFIX = 'whsec_';
const MAX_URL_LENGTH = 2048;
/** Events turned into deliveries per endpoint and transaction. */
const FAN_OUT_BATCH = 5000;

/** A Standard Webhooks secret: `whsec_` and 32 random bytes in base64. */
export function newWebhookSecret(): string {
  return WEBHOOK_SECRET_PREFIX + randomBytes(32).toString('base64');
}

/** How long an old signing secret may keep signing after a rotation: long enough to deploy the new one, no longer. */
export const MAX_ROTATION_GRACE_SECONDS = 7 * 24 * 60 * 60;

/**
 * Checks a webhook URL: absolute http(s), no credentials, no fragment. Plain http only when `allowHttp` (a server
 * run with --allow-http-webhooks, for development and tests).
 */
export function checkWebhookUrl(value: unknown, allowHttp: boolean): string {
  if (typeof value !== 'string' || value === '' || value.length > MAX_URL_LENGTH) throw ScimError.invalidValue(`The webhook URL must be text of at most ${MAX_URL_LENGTH} characters`);
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw ScimError.invalidValue('The webhook URL is not a valid absolute URL');
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw ScimError.invalidValue('The webhook URL must use https');
  if (url.protocol === 'http:' && !allowHttp) throw ScimError.invalidValue('The webhook URL must use https (plain http needs a server run with --allow-http-webhooks)');
  if (url.username !== '' || url.password !== '') throw ScimError.invalidValue('The webhook URL must not carry credentials');
  if (url.hash !== '') throw ScimError.invalidValue('The webhook URL must not have a fragment');
  return url.toString();
}

function checkTypes(types: unknown): string[] | null {
  if (types === null || types === undefined) return null;
  if (!Array.isArray(types) || types.length === 0 || !types.every((t) => typeof t === 'string')) {
    throw ScimError.invalidValue('Event types must be a non-empty list of event type names');
  }
  checkEventTypes(types as string[]);
  return [...new Set(types as string[])];
}

const ENDPOINT_COLUMNS = raw('id, org_id, url, event_types, enabled, disabled_reason, previous_secret_until, paused_until, created');

function toEndpoint(row: Row): WebhookEndpoint {
  return {
    id: String(row.id),
    orgId: String(row.org_id),
    url: String(row.url),
    eventTypes: row.event_types === null ? null : (JSON.parse(String(row.event_types)) as string[]),
    enabled: Boolean(row.enabled),
    disabledReason: row.disabled_reason === null ? null : String(row.disabled_reason),
    previousSecretUntil: row.previous_secret_until === null ? null : String(row.previous_secret_until),
    pausedUntil: row.paused_until === null ? null : String(row.paused_until),
    created: String(row.created),
  };
}

function endpointNotFound(id: string): ScimError {
  return ScimError.notFound(`Webhook endpoint ${JSON.stringify(id)} not found`);
}

export function* createWebhook(ctx: OpContext, box: SecretBox, orgId: string, options: { url: string; eventTypes?: readonly string[] | null }): Op<NewWebhookSecret> {
  const org = yield* first(sql`SELECT id FROM organizations WHERE id = ${orgId}`);
  if (!org) throw ScimError.notFound(`Organization ${JSON.stringify(orgId)} not found`);
  const types = checkTypes(options.eventTypes);
  const secret = newWebhookSecret();
  const id = `ep_${randomUUID().replaceAll('-', '')}`;
  const now = ctx.now();
  // A new endpoint receives the events that commit after it: it starts at the stream's end.
  const position = yield* streamEnd(orgId);
  yield* exec(
    sql`INSERT INTO webhook_endpoints (id, org_id, url, event_types, secret, enabled, last_sequence, created)
      VALUES (${id}, ${orgId}, ${options.url}, ${types === null ? null : JSON.stringify(types)}, ${box.encrypt(secret)}, ${true}, ${position}, ${now})`,
  );
  const endpoint = yield* getWebhook(orgId, id);
  return { endpoint: endpoint as WebhookEndpoint, secret };
}

export function* getWebhook(orgId: string, id: string): Op<WebhookEndpoint | null> {
  const row = yield* first(sql`SELECT ${ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE org_id = ${orgId} AND id = ${String(id)}`);
  return row ? toEndpoint(row) : null;
}

export function* listWebhooks(orgId: string): Op<WebhookEndpoint[]> {
  const found = yield* rows(sql`SELECT ${ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE org_id = ${orgId} ORDER BY created, id`);
  return found.map(toEndpoint);
}

export function* updateWebhook(ctx: OpContext, orgId: string, id: string, update: WebhookEndpointUpdate): Op<WebhookEndpoint> {
  const current = yield* getWebhook(orgId, id);
  if (!current) throw endpointNotFound(id);
  const sets: Sql[] = [];
  const moved = update.url !== undefined && update.url !== current.url;
  if (update.url !== undefined) sets.push(sql`url = ${update.url}`);
  // A pause and retry times were the old receiver's answers (its Retry-After, its failures): a new URL starts afresh.
  if (moved) sets.push(sql`paused_until = NULL`);
  if (update.eventTypes !== undefined) {
    const types = checkTypes(update.eventTypes);
    sets.push(sql`event_types = ${types === null ? null : JSON.stringify(types)}`);
  }
  if (update.enabled !== undefined) {
    if (typeof update.enabled !== 'boolean') throw ScimError.invalidValue('"enabled" must be true or false');
    sets.push(sql`enabled = ${update.enabled}`);
    // Enabling again clears the reason and any pause; what queued meanwhile is delivered.
    if (update.enabled) sets.push(sql`disabled_reason = NULL, paused_until = NULL`);
    else if (current.enabled) sets.push(sql`disabled_reason = ${'disabled by an administrator'}`);
  }
  if (sets.length > 0) yield* exec(sql`UPDATE webhook_endpoints SET ${join(sets, ', ')} WHERE org_id = ${orgId} AND id = ${String(id)}`);
  if (moved) {
    yield* exec(sql`UPDATE webhook_deliveries SET next_attempt_at = ${ctx.now()}
      WHERE org_id = ${orgId} AND endpoint_id = ${String(id)} AND status = 'pending' AND next_attempt_at > ${ctx.now()}`);
  }
  return (yield* getWebhook(orgId, id)) as WebhookEndpoint;
}

/** Deletes an endpoint and its deliveries. */
export function* deleteWebhook(orgId: string, id: string): Op<boolean> {
  yield* exec(sql`DELETE FROM webhook_deliveries WHERE org_id = ${orgId} AND endpoint_id = ${String(id)}`);
  return (yield* exec(sql`DELETE FROM webhook_endpoints WHERE org_id = ${orgId} AND id = ${String(id)}`)) > 0;
}

/** A new secret; the old one keeps signing (a second signature) until `graceUntil`. */
export function* rotateWebhookSecret(ctx: OpContext, box: SecretBox, orgId: string, id: string, graceUntil: string): Op<NewWebhookSecret> {
  const row = yield* first(sql`SELECT secret FROM webhook_endpoints WHERE org_id = ${orgId} AND id = ${String(id)}${ctx.dialect.forUpdate}`);
  if (!row) throw endpointNotFound(id);
  const secret = newWebhookSecret();
  yield* exec(
    sql`UPDATE webhook_endpoints SET secret = ${box.encrypt(secret)}, previous_secret = ${String(row.secret)}, previous_secret_until = ${graceUntil}
      WHERE org_id = ${orgId} AND id = ${String(id)}`,
  );
  return { endpoint: (yield* getWebhook(orgId, id)) as WebhookEndpoint, secret };
}

export function* revealWebhookSecret(box: SecretBox, orgId: string, id: string): Op<string> {
  const row = yield* first(sql`SELECT secret FROM webhook_endpoints WHERE org_id = ${orgId} AND id = ${String(id)}`);
  if (!row) throw endpointNotFound(id);
  return box.decrypt(String(row.secret));
}

// ------------------------------------------------------------------------------------------------- deliveries

const DELIVERY_COLUMNS = raw(
  `d.id, d.org_id, d.endpoint_id, d.sequence, d.status, d.attempts, d.next_attempt_at, d.last_status, d.last_error, d.last_attempt_at, d.created, d.finished_at, e.id AS event_id, e.type AS event_type`,
);

function toDelivery(row: Row): WebhookDelivery {
  const text = (v: unknown) => (v === null || v === undefined ? null : String(v));
  const status = row.status as DeliveryStatus;
  return {
    id: String(row.id),
    orgId: String(row.org_id),
    endpointId: String(row.endpoint_id),
    sequence: Number(row.sequence),
    eventId: text(row.event_id),
    eventType: text(row.event_type),
    status,
    attempts: Number(row.attempts),
    nextAttemptAt: status === 'pending' ? text(row.next_attempt_at) : null,
    lastStatus: row.last_status === null || row.last_status === undefined ? null : Number(row.last_status),
    lastError: text(row.last_error),
    lastAttemptAt: text(row.last_attempt_at),
    created: String(row.created),
    finishedAt: text(row.finished_at),
  };
}

function deliveryId(value: string): number {
  if (!/^\d{1,15}$/.test(String(value))) throw ScimError.notFound(`Delivery ${JSON.stringify(value)} not found`);
  return Number(value);
}

export function* listDeliveries(orgId: string, options: DeliveryListOptions): Op<WebhookDelivery[]> {
  const conditions: Sql[] = [sql`d.org_id = ${orgId}`];
  if (options.endpointId !== undefined) conditions.push(sql`d.endpoint_id = ${options.endpointId}`);
  if (options.status !== undefined) conditions.push(sql`d.status = ${options.status}`);
  if (options.after !== undefined) conditions.push(sql`d.id > ${deliveryId(options.after)}`);
  const before = options.newestFirst?.before;
  if (before !== undefined) conditions.push(sql`d.id < ${deliveryId(before)}`);
  const found = yield* rows(
    sql`SELECT ${DELIVERY_COLUMNS} FROM webhook_deliveries d LEFT JOIN events e ON e.org_id = d.org_id AND e.sequence = d.sequence
      WHERE ${join(conditions, ' AND ')} ORDER BY d.id${options.newestFirst ? sql` DESC` : sql``} LIMIT ${options.limit}`,
  );
  return found.map(toDelivery);
}

export function* getDelivery(orgId: string, id: string): Op<WebhookDelivery | null> {
  const row = yield* first(
    sql`SELECT ${DELIVERY_COLUMNS} FROM webhook_deliveries d LEFT JOIN events e ON e.org_id = d.org_id AND e.sequence = d.sequence
      WHERE d.org_id = ${orgId} AND d.id = ${deliveryId(id)}`,
  );
  return row ? toDelivery(row) : null;
}

function* insertDeliveryRow(orgId: string, endpointId: string, sequence: number, resourceId: string, now: string): Op<string> {
  const row = yield* first(
    sql`INSERT INTO webhook_deliveries (org_id, endpoint_id, sequence, resource_id, status, attempts, next_attempt_at, created)
      VALUES (${orgId}, ${endpointId}, ${sequence}, ${resourceId}, 'pending', 0, ${now}, ${now}) RETURNING id`,
  );
  return String(row?.id);
}

/** Sends one delivery's event again, as a new delivery (the same webhook-id, so receivers deduplicate it). */
export function* replayDelivery(ctx: OpContext, orgId: string, id: string): Op<WebhookDelivery> {
  const original = yield* first(
    sql`SELECT d.endpoint_id, d.sequence, e.resource_id FROM webhook_deliveries d JOIN events e ON e.org_id = d.org_id AND e.sequence = d.sequence
      WHERE d.org_id = ${orgId} AND d.id = ${deliveryId(id)}`,
  );
  if (!original) throw ScimError.notFound(`Delivery ${JSON.stringify(id)} not found, or its event is past retention`);
  const created = yield* insertDeliveryRow(orgId, String(original.endpoint_id), Number(original.sequence), String(original.resource_id), ctx.now());
  return (yield* getDelivery(orgId, created)) as WebhookDelivery;
}

/** Sends every retained event since `since` (that the endpoint subscribes to) again; returns how many deliveries it made. */
export function* replaySince(ctx: OpContext, orgId: string, endpointId: string, since: string): Op<number> {
  const endpoint = yield* first(sql`SELECT event_types FROM webhook_endpoints WHERE org_id = ${orgId} AND id = ${endpointId}`);
  if (!endpoint) throw endpointNotFound(endpointId);
  const now = ctx.now();
  return yield* exec(
    sql`INSERT INTO webhook_deliveries (org_id, endpoint_id, sequence, resource_id, status, attempts, next_attempt_at, created)
      SELECT e.org_id, ${endpointId}, e.sequence, e.resource_id, 'pending', 0, ${now}, ${now} FROM events e
      WHERE e.org_id = ${orgId} AND e.occurred_at >= ${since}${typeCondition(endpoint.event_types)} ORDER BY e.sequence`,
  );
}

function typeCondition(stored: unknown): Sql {
  if (stored === null || stored === undefined) return raw('');
  const types = JSON.parse(String(stored)) as string[];
  return sql` AND e.type IN (${list(types)})`;
}

/**
 * Delivery bookkeeping (fan-out, claims, outcomes) commits without waiting for PostgreSQL's WAL flush: a database
 * crash can lose only its last few milliseconds, which at worst sends a delivery again (at least once still holds).
 * Events themselves are written by the SCIM write's own transaction, which keeps the default durability.
 */
function* relaxedCommit(ctx: OpContext): Op<void> {
  if (ctx.dialect.name === 'postgres') yield* exec(sql`SET LOCAL synchronous_commit TO OFF`);
}

/** Enabled endpoints, for the delivery worker. */
export function* activeEndpoints(): Op<ActiveEndpoint[]> {
  const found = yield* rows(sql`SELECT id, org_id, paused_until FROM webhook_endpoints WHERE enabled = ${true} ORDER BY id`);
  return found.map((r) => ({ id: String(r.id), orgId: String(r.org_id), pausedUntil: r.paused_until === null ? null : String(r.paused_until) }));
}

/** Enabled endpoints whose position is behind their organization's stream. */
export function* endpointsBehind(): Op<string[]> {
  const found = yield* rows(
    sql`SELECT w.id FROM webhook_endpoints w JOIN event_streams s ON s.org_id = w.org_id WHERE w.enabled = ${true} AND s.last_sequence > w.last_sequence`,
  );
  return found.map((r) => String(r.id));
}

/**
 * Turns the next events after an endpoint's position into its deliveries and moves the position (one transaction).
 * On PostgreSQL an endpoint another worker is fanning out is skipped (and counts as not caught up). Returns the
 * deliveries created and whether the endpoint has reached its stream's end.
 */
export function* fanOutEndpoint(ctx: OpContext, endpointId: string): Op<{ created: number; caughtUp: boolean }> {
  yield* relaxedCommit(ctx);
  const skipLocked = ctx.dialect.name === 'postgres' ? raw(' FOR UPDATE SKIP LOCKED') : raw('');
  const endpoint = yield* first(sql`SELECT org_id, event_types, last_sequence FROM webhook_endpoints WHERE id = ${endpointId} AND enabled = ${true}${skipLocked}`);
  if (!endpoint) return { created: 0, caughtUp: ctx.dialect.name !== 'postgres' };
  const orgId = String(endpoint.org_id);
  const from = Number(endpoint.last_sequence);
  // Every sequence up to the stream's committed end is committed (events.ts), so nothing below it can appear later.
  const end = yield* streamEnd(orgId);
  const through = Math.min(end, from + FAN_OUT_BATCH);
  if (through <= from) return { created: 0, caughtUp: true };
  const now = ctx.now();
  const created = yield* exec(
    sql`INSERT INTO webhook_deliveries (org_id, endpoint_id, sequence, resource_id, status, attempts, next_attempt_at, created)
      SELECT e.org_id, ${endpointId}, e.sequence, e.resource_id, 'pending', 0, ${now}, ${now} FROM events e
      WHERE e.org_id = ${orgId} AND e.sequence > ${from} AND e.sequence <= ${through}${typeCondition(endpoint.event_types)} ORDER BY e.sequence`,
  );
  yield* exec(sql`UPDATE webhook_endpoints SET last_sequence = ${through} WHERE id = ${endpointId}`);
  if (ctx.dialect.name === 'postgres') yield* analyzeIfGrown(created);
  return { created, caughtUp: through >= end };
}

/**
 * Statistics for the claim's plan: a fan-out can grow the deliveries table faster than autovacuum re-reads it, and
 * with statistics from a much smaller table PostgreSQL looks up a resource's earlier deliveries through the wrong
 * index (seconds per claim, measured). ANALYZE once the rows added reach what the statistics last counted, so a
 * growing table is analyzed a logarithmic number of times (5 times over a 100,000-event backlog, not 20).
 */
function* analyzeIfGrown(created: number): Op<void> {
  if (created === 0) return;
  const stats = yield* first<{ tuples: number | string }>(sql`SELECT reltuples AS tuples FROM pg_class WHERE oid = 'webhook_deliveries'::regclass`);
  if (created >= Math.max(1000, Number(stats?.tuples ?? 0))) yield* exec(sql`ANALYZE webhook_deliveries`);
}

/**
 * Claims up to `limit` due deliveries of an endpoint for `owner` until `leaseUntil`: pending, due, not leased by a
 * live worker, and first in line for their resource. Returns them with their bodies and signing secrets.
 *
 * "First in line" is a NOT EXISTS, which PostgreSQL plans as an anti-join it can estimate: it walks the due index in
 * order and stops at the limit (under 1 ms). Written as `sequence = (SELECT MIN(...))` it was estimated to keep 0.5%
 * of the rows, so the plan read and sorted every pending delivery and crossed the JIT threshold (32 ms per claim at
 * a 100,000-event backlog, measured with pg_stat_statements and EXPLAIN ANALYZE).
 */
export function* claimDeliveries(ctx: OpContext, box: SecretBox, owner: string, endpointId: string, now: string, leaseUntil: string, limit: number): Op<ClaimedDelivery[]> {
  yield* relaxedCommit(ctx);
  const skipLocked = ctx.dialect.name === 'postgres' ? raw(' FOR UPDATE SKIP LOCKED') : raw('');
  const claimed = yield* rows<{ id: number | string }>(
    sql`UPDATE webhook_deliveries SET lease_owner = ${owner}, lease_expires = ${leaseUntil}
      WHERE id IN (SELECT d.id FROM webhook_deliveries d
        WHERE d.endpoint_id = ${endpointId} AND d.status = 'pending' AND d.next_attempt_at <= ${now}
          AND (d.lease_expires IS NULL OR d.lease_expires <= ${now})
          AND NOT EXISTS (SELECT 1 FROM webhook_deliveries p WHERE p.endpoint_id = d.endpoint_id AND p.resource_id = d.resource_id
            AND p.status = 'pending' AND p.sequence < d.sequence)
        ORDER BY d.next_attempt_at LIMIT ${limit}${skipLocked})
      RETURNING id`,
  );
  if (claimed.length === 0) return [];
  const endpoint = yield* first(sql`SELECT url, secret, previous_secret, previous_secret_until FROM webhook_endpoints WHERE id = ${endpointId}`);
  if (!endpoint) return [];
  const secrets = [box.decrypt(String(endpoint.secret))];
  if (endpoint.previous_secret !== null && endpoint.previous_secret_until !== null && String(endpoint.previous_secret_until) > now) {
    secrets.push(box.decrypt(String(endpoint.previous_secret)));
  }
  const out: ClaimedDelivery[] = [];
  for (const part of chunks(claimed.map((r) => Number(r.id)), 500)) {
    const found = yield* rows(
      sql`SELECT d.id AS delivery_id, d.org_id AS delivery_org, d.attempts, ${raw(EVENT_COLUMNS)} FROM webhook_deliveries d
        LEFT JOIN events e ON e.org_id = d.org_id AND e.sequence = d.sequence WHERE d.id IN (${list(part)}) ORDER BY d.id`,
    );
    for (const row of found) {
      const event = row.id === null || row.id === undefined ? null : toStoredEvent(row);
      out.push({
        id: String(row.delivery_id),
        orgId: String(row.delivery_org),
        endpointId,
        url: String(endpoint.url),
        attempts: Number(row.attempts),
        body: event ? eventJson(event) : null,
        eventId: event?.id ?? null,
        occurredAt: event?.occurredAt ?? null,
        secrets,
      });
    }
  }
  return out;
}

/** Records attempts' outcomes; an outcome whose lease another worker has taken over meanwhile is ignored. */
export function* completeDeliveries(ctx: OpContext, owner: string, outcomes: readonly DeliveryOutcome[]): Op<void> {
  yield* relaxedCommit(ctx);
  // Successes, the common case, in one statement per HTTP status.
  const succeeded = new Map<string, DeliveryOutcome[]>();
  for (const o of outcomes) {
    if (o.result !== 'succeeded') continue;
    const key = String(o.httpStatus);
    const group = succeeded.get(key);
    if (group) group.push(o);
    else succeeded.set(key, [o]);
  }
  for (const group of succeeded.values()) {
    const { httpStatus } = group[0];
    // One statement for the group: the latest attempt time of it stands for all (they differ by milliseconds).
    const attemptedAt = group.reduce((latest, o) => (o.attemptedAt > latest ? o.attemptedAt : latest), group[0].attemptedAt);
    for (const part of chunks(group, 500)) {
      yield* exec(
        sql`UPDATE webhook_deliveries SET status = 'succeeded', attempts = attempts + 1, last_status = ${httpStatus}, last_error = NULL,
          last_attempt_at = ${attemptedAt}, finished_at = ${attemptedAt}, lease_owner = NULL, lease_expires = NULL
          WHERE id IN (${list(part.map((o) => Number(o.id)))}) AND lease_owner = ${owner} AND status = 'pending'`,
      );
    }
  }
  for (const o of outcomes) {
    if (o.result === 'retry') {
      yield* exec(
        sql`UPDATE webhook_deliveries SET attempts = attempts + 1, last_status = ${o.httpStatus}, last_error = ${o.error}, last_attempt_at = ${o.attemptedAt},
          next_attempt_at = ${o.nextAttemptAt ?? o.attemptedAt}, lease_owner = NULL, lease_expires = NULL
          WHERE id = ${Number(o.id)} AND lease_owner = ${owner} AND status = 'pending'`,
      );
    } else if (o.result === 'failed') {
      yield* exec(
        sql`UPDATE webhook_deliveries SET status = 'failed', attempts = attempts + 1, last_status = ${o.httpStatus}, last_error = ${o.error},
          last_attempt_at = ${o.attemptedAt}, finished_at = ${o.attemptedAt}, lease_owner = NULL, lease_expires = NULL
          WHERE id = ${Number(o.id)} AND lease_owner = ${owner} AND status = 'pending'`,
      );
    }
    if (o.disableEndpoint !== undefined) {
      yield* exec(sql`UPDATE webhook_endpoints SET enabled = ${false}, disabled_reason = ${o.disableEndpoint} WHERE id = ${o.endpointId}`);
    }
    if (o.pauseEndpointUntil !== undefined) {
      yield* exec(
        sql`UPDATE webhook_endpoints SET paused_until = ${o.pauseEndpointUntil} WHERE id = ${o.endpointId} AND (paused_until IS NULL OR paused_until < ${o.pauseEndpointUntil})`,
      );
    }
  }
}

/** Clears the leases `owner` holds on these deliveries (claimed, never sent), so they can be claimed at once. */
export function* releaseDeliveries(owner: string, ids: readonly string[]): Op<void> {
  for (const part of chunks(ids.map(Number), 500)) {
    yield* exec(sql`UPDATE webhook_deliveries SET lease_owner = NULL, lease_expires = NULL WHERE id IN (${list(part)}) AND lease_owner = ${owner}`);
  }
}

/** The oldest event still waiting for some endpoint (a pending delivery, or not yet fanned out), as its occurred_at. */
export function* oldestUndelivered(): Op<string | null> {
  const pending = yield* first<{ at: string | null }>(
    sql`SELECT MIN(e.occurred_at) AS at FROM webhook_deliveries d JOIN events e ON e.org_id = d.org_id AND e.sequence = d.sequence WHERE d.status = 'pending'`,
  );
  const unfanned = yield* first<{ at: string | null }>(
    sql`SELECT MIN(e.occurred_at) AS at FROM webhook_endpoints w JOIN events e ON e.org_id = w.org_id AND e.sequence = w.last_sequence + 1 WHERE w.enabled = ${true}`,
  );
  const times = [pending?.at, unfanned?.at].filter((t): t is string => typeof t === 'string');
  return times.length === 0 ? null : times.sort()[0];
}
