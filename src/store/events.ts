/**
 * Provisioning events: the types, the envelope, and the transactional outbox (docs/events.md).
 *
 * A write operation collects the events its change causes and appends them as its last statements, in its own
 * transaction: a write that fails (4xx, 409, 412, a failed Bulk operation, a rollback) leaves none, and a write
 * that changes nothing has none to append. Appending takes the organization's event_streams row (a row lock on
 * PostgreSQL, held until commit), so sequences are strictly increasing per organization in commit order: a reader
 * that sees sequence n sees every sequence below it, which is what makes `after=<cursor>` polling exact.
 */
import { randomUUID } from 'node:crypto';
import { ScimError } from '../scim/errors.ts';
import type { ResourceSchema } from '../scim/schema/registry.ts';
import { GROUP, USER } from '../scim/schema/registry.ts';
import type { AttributeDefinition } from '../scim/schema/types.ts';
import { isPlainObject } from '../scim/json.ts';
import { chunks, exec, first, list, raw, rows, sql } from '../sql/index.ts';
import type { JsonDialect, Op, Row, Sql, TableColumn } from '../sql/index.ts';
import type { ResourceKind } from './types.ts';

/**
 * Every event type, in documentation order. Other features append theirs here (the roles feature adds
 * `user.roles_changed`), so the events API's `types` filter and webhook subscriptions accept them.
 */
export const EVENT_TYPES: string[] = [
  'user.created',
  'user.updated',
  'user.deactivated',
  'user.reactivated',
  'user.deleted',
  'group.created',
  'group.updated',
  'group.deleted',
  'group.member_added',
  'group.member_removed',
  'user.roles_changed',
];

export function isEventType(value: string): boolean {
  return EVENT_TYPES.includes(value);
}

/** The envelope, the same in the events API, webhook bodies and the CLI. */
export interface ProvisioningEvent {
  readonly id: string;
  readonly type: string;
  readonly organization_id: string;
  /** Strictly increasing per organization, in commit order. */
  readonly sequence: number;
  /** ISO 8601 UTC with milliseconds. */
  readonly occurred_at: string;
  readonly data: Record<string, unknown>;
  /** For updates: the prior values of the top-level attributes that changed (null for one that was absent). */
  readonly previous?: Record<string, unknown>;
}

/** An event as a write operation collects it, before it has a sequence. */
export interface NewEvent {
  readonly type: string;
  /** What per-resource delivery order is kept by: the resource itself, or for membership events the group. */
  readonly resourceId: string;
  readonly data: Record<string, unknown>;
  readonly previous?: Record<string, unknown>;
}

/** Told after commit which organization got events and how many of each type. */
export type EventsCommitted = (orgId: string, types: ReadonlyMap<string, number>) => void;

/** What a write operation needs to describe the resource in its events. */
export interface EventContext {
  /** The organization's SCIM base URL, for `meta.location`; absent when the write did not come through HTTP. */
  readonly baseUrl?: string;
  /** The organization's schema for the resource type (declared extensions included); the built-in one if absent. */
  readonly schema?: ResourceSchema;
}

/**
 * What a schema never returns (a password; a declared extension's `returned: never` attributes and sub-attributes),
 * by lower-cased name: `true` for a member left out whole, or what to leave out inside it (an extension's object under
 * its URN, a complex attribute's sub-attributes).
 */
interface Hidden extends ReadonlyMap<string, true | Hidden> {}

function hiddenOf(attributes: readonly AttributeDefinition[]): Map<string, true | Hidden> {
  const hidden = new Map<string, true | Hidden>();
  for (const a of attributes) {
    if (a.returned === 'never') hidden.set(a.name.toLowerCase(), true);
    else if (a.subAttributes?.some((sub) => sub.returned === 'never')) hidden.set(a.name.toLowerCase(), hiddenOf(a.subAttributes));
  }
  return hidden;
}

const NEVER_RETURNED = new WeakMap<ResourceSchema, Hidden>();

function neverReturned(rs: ResourceSchema): Hidden {
  let hidden = NEVER_RETURNED.get(rs);
  if (!hidden) {
    const top = hiddenOf(rs.core.attributes);
    for (const ext of rs.extensions) {
      const inner = hiddenOf(ext.attributes);
      if (inner.size > 0) top.set(ext.id.toLowerCase(), inner);
    }
    hidden = top;
    NEVER_RETURNED.set(rs, hidden);
  }
  return hidden;
}

/** `value` without what `hidden` leaves out, for an object or each object of an array; `value` itself when nothing is. */
function withoutHidden(value: unknown, hidden: Hidden): unknown {
  if (Array.isArray(value)) return value.map((item) => withoutHidden(item, hidden));
  if (!isPlainObject(value)) return value;
  const out: Record<string, unknown> = {};
  for (const [name, member] of Object.entries(value)) {
    const rule = hidden.get(name.toLowerCase());
    if (rule === undefined) out[name] = member;
    else if (rule !== true) out[name] = withoutHidden(member, rule);
  }
  return out;
}

/**
 * The resource as a SCIM GET returns it without its relations (a Group's `members`, a User's `groups`): the
 * membership events carry those, so that an event never embeds a large member list. Never a password.
 */
export function eventResource(
  kind: ResourceKind,
  resource: { id: string; version: number; created: string; lastModified: string },
  document: Record<string, unknown>,
  events: EventContext | undefined,
): Record<string, unknown> {
  const rs = events?.schema ?? (kind === 'User' ? USER : GROUP);
  const { schemas, members: _members, groups: _groups, ...attributes } = document;
  const out: Record<string, unknown> = {
    schemas: Array.isArray(schemas) ? schemas : [rs.core.id],
    id: resource.id,
    ...(withoutHidden(attributes, neverReturned(rs)) as Record<string, unknown>),
  };
  const endpoint = kind === 'User' ? 'Users' : 'Groups';
  out.meta = {
    resourceType: kind,
    created: resource.created,
    lastModified: resource.lastModified,
    ...(events?.baseUrl !== undefined ? { location: `${events.baseUrl}/${endpoint}/${encodeURIComponent(resource.id)}` } : {}),
    version: `W/"${resource.version}"`,
  };
  return out;
}

/**
 * `previous` for an update: the prior value of each changed top-level attribute (null when it was absent), passwords
 * left out. `changed` is scim/diff.ts `changedAttributes`, which names an extension's attributes by their full path
 * (`<schema URN>:department`): the top-level attribute is then the extension object, whose prior value is given whole.
 */
export function previousValues(rs: ResourceSchema, before: Record<string, unknown>, after: Record<string, unknown>, changed: readonly string[]): Record<string, unknown> {
  const hidden = neverReturned(rs);
  const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])];
  const out: Record<string, unknown> = {};
  for (const path of changed) {
    const name = Object.hasOwn(before, path) || Object.hasOwn(after, path) ? path : (keys.find((k) => path.startsWith(`${k}:`)) ?? path);
    const rule = hidden.get(name.toLowerCase());
    // A change only to what is never returned (a password, an extension's such attribute) shows nothing.
    const changedHidden = rule === true || (rule !== undefined && path !== name && rule.get(path.slice(name.length + 1).toLowerCase()) === true);
    if (changedHidden || Object.hasOwn(out, name)) continue;
    out[name] = Object.hasOwn(before, name) ? (rule === undefined ? before[name] : withoutHidden(before[name], rule)) : null;
  }
  return out;
}

/** Whether a User document is active: `active` absent counts as active, so only `active: false` is inactive. */
export function isActive(document: Record<string, unknown>): boolean {
  return document.active !== false;
}

/** The event of a User or Group whose own attributes changed: deactivation and reactivation are their own types. */
export function updateEvent(
  kind: ResourceKind,
  resource: { id: string; version: number; created: string; lastModified: string },
  before: Record<string, unknown>,
  after: Record<string, unknown>,
  changed: readonly string[],
  events: EventContext | undefined,
): NewEvent {
  let type = kind === 'User' ? 'user.updated' : 'group.updated';
  if (kind === 'User' && isActive(before) !== isActive(after)) type = isActive(after) ? 'user.reactivated' : 'user.deactivated';
  const rs = events?.schema ?? (kind === 'User' ? USER : GROUP);
  return { type, resourceId: resource.id, data: eventResource(kind, resource, after, events), previous: previousValues(rs, before, after, changed) };
}

export interface MemberOfEvent {
  readonly type: ResourceKind;
  readonly value: string;
  readonly display: string | null;
}

/** `group.member_added` / `group.member_removed`: the group (id, displayName) and the member (type, value, display). */
export function membershipEvent(type: 'group.member_added' | 'group.member_removed', group: { id: string; displayName: string | null }, member: MemberOfEvent): NewEvent {
  return {
    type,
    resourceId: group.id,
    data: { group: { id: group.id, displayName: group.displayName }, member: { type: member.type, value: member.value, display: member.display } },
  };
}

/** Rows per INSERT: SQLite binds 6 parameters each (PostgreSQL 6 arrays), far below both databases' limits. */
const EVENT_ROWS_PER_INSERT = 2000;

const EVENT_ROW_COLUMNS: readonly TableColumn[] = [
  { name: 'sequence', type: 'integer' },
  { name: 'id', type: 'text' },
  { name: 'type', type: 'text' },
  { name: 'resource_id', type: 'text' },
  { name: 'data', type: 'text' },
  { name: 'previous', type: 'text' },
];

/**
 * Appends events to the organization's stream: one sequence reservation, then one INSERT per 2,000 events. Call it
 * as the operation's last statements, so that the stream's row lock is held only until commit.
 */
export function* appendEvents(dialect: JsonDialect, orgId: string, now: string, events: readonly NewEvent[]): Op<void> {
  if (events.length === 0) return;
  const reserved = yield* first<{ last_sequence: number | string }>(
    sql`INSERT INTO event_streams (org_id, last_sequence) VALUES (${orgId}, ${events.length})
      ON CONFLICT (org_id) DO UPDATE SET last_sequence = event_streams.last_sequence + excluded.last_sequence
      RETURNING last_sequence`,
  );
  let sequence = Number(reserved?.last_sequence) - events.length;
  for (const part of chunks(events, EVENT_ROWS_PER_INSERT)) {
    const values = part.map((event) => {
      sequence++;
      const previous = event.previous === undefined ? null : JSON.stringify(event.previous);
      return [sequence, newEventId(), event.type, event.resourceId, JSON.stringify(event.data), previous];
    });
    yield* exec(
      sql`INSERT INTO events (org_id, sequence, id, type, resource_id, occurred_at, data, previous)
        SELECT ${orgId}, e.sequence, e.id, e.type, e.resource_id, ${now}, e.data, e.previous FROM ${dialect.rows('e', EVENT_ROW_COLUMNS, values)}`,
    );
  }
}

export function newEventId(): string {
  return `evt_${randomUUID().replaceAll('-', '')}`;
}

/** A stored event: its envelope fields and its JSON parts as stored text, so a body is built without parsing them. */
export interface StoredEvent {
  readonly orgId: string;
  readonly sequence: number;
  readonly id: string;
  readonly type: string;
  readonly resourceId: string;
  readonly occurredAt: string;
  readonly data: string;
  readonly previous: string | null;
}

export const EVENT_COLUMNS = 'e.org_id, e.sequence, e.id, e.type, e.resource_id, e.occurred_at, e.data, e.previous';

export function toStoredEvent(row: Row): StoredEvent {
  return {
    orgId: String(row.org_id),
    sequence: Number(row.sequence),
    id: String(row.id),
    type: String(row.type),
    resourceId: String(row.resource_id),
    occurredAt: String(row.occurred_at),
    data: String(row.data),
    previous: row.previous === null || row.previous === undefined ? null : String(row.previous),
  };
}

/** The envelope as JSON text: the one body of the API, webhooks and the CLI. Built by concatenation (no re-parse). */
export function eventJson(event: StoredEvent): string {
  let out = `{"id":${JSON.stringify(event.id)},"type":${JSON.stringify(event.type)},"organization_id":${JSON.stringify(event.orgId)},"sequence":${event.sequence},"occurred_at":${JSON.stringify(event.occurredAt)},"data":${event.data}`;
  if (event.previous !== null) out += `,"previous":${event.previous}`;
  return out + '}';
}

export function toEnvelope(event: StoredEvent): ProvisioningEvent {
  return JSON.parse(eventJson(event)) as ProvisioningEvent;
}

export interface EventReadOptions {
  /** Events with a greater sequence; 0 (or absent) reads from the oldest retained event. */
  readonly after?: number;
  readonly limit: number;
  /** Only these types (all when absent). */
  readonly types?: readonly string[];
}

export interface EventPage {
  readonly events: StoredEvent[];
  /** Where the next read continues: the last event returned, or when the page is not full the stream's end. */
  readonly position: number;
  /** The highest sequence purged by retention; reading after a lower cursor would skip events (410). */
  readonly purgedThrough: number;
  /** The stream's last committed sequence in the read's snapshot (0 before the first event). */
  readonly end: number;
}

/** Reads a page of an organization's events (in one read transaction, so `position` and the page agree). */
export function* readEvents(orgId: string, options: EventReadOptions): Op<EventPage> {
  const retention = yield* first<{ purged_through: number | string }>(sql`SELECT purged_through FROM event_retention WHERE org_id = ${orgId}`);
  const purgedThrough = Number(retention?.purged_through ?? 0);
  const after = options.after ?? 0;
  const types: Sql = options.types === undefined ? raw('') : sql` AND e.type IN (${list(options.types)})`;
  const found = yield* rows(
    sql`SELECT ${raw(EVENT_COLUMNS)} FROM events e WHERE e.org_id = ${orgId} AND e.sequence > ${after}${types} ORDER BY e.sequence LIMIT ${options.limit}`,
  );
  const events = found.map(toStoredEvent);
  const end = yield* streamEnd(orgId);
  let position = events.length > 0 ? events[events.length - 1].sequence : after;
  // A page that is not full read everything committed in this snapshot: the stream's end is where the next read
  // continues, so a filtered read skips what it has already scanned. (A limit of 0 reads only the end.)
  if (events.length < options.limit || options.limit === 0) position = Math.max(position, end);
  return { events, position, purgedThrough, end };
}

export interface EventTimelineOptions {
  /** Events with a smaller sequence (paging back in time); the newest when absent. */
  readonly before?: number;
  readonly limit: number;
  readonly types?: readonly string[];
  /** Only events about this resource (a User's or a Group's id; membership events are about their group). */
  readonly resourceId?: string;
}

/** An organization's events newest first: the console's timeline (the events API's `order=desc`). */
export function* readEventTimeline(orgId: string, options: EventTimelineOptions): Op<StoredEvent[]> {
  const before: Sql = options.before === undefined ? raw('') : sql` AND e.sequence < ${options.before}`;
  const types: Sql = options.types === undefined ? raw('') : sql` AND e.type IN (${list(options.types)})`;
  const resource: Sql = options.resourceId === undefined ? raw('') : sql` AND e.resource_id = ${options.resourceId}`;
  const found = yield* rows(
    sql`SELECT ${raw(EVENT_COLUMNS)} FROM events e WHERE e.org_id = ${orgId}${before}${types}${resource} ORDER BY e.sequence DESC LIMIT ${options.limit}`,
  );
  return found.map(toStoredEvent);
}

/** An organization's last committed sequence (0 before its first event). */
export function* streamEnd(orgId: string): Op<number> {
  const stream = yield* first<{ last_sequence: number | string }>(sql`SELECT last_sequence FROM event_streams WHERE org_id = ${orgId}`);
  return Number(stream?.last_sequence ?? 0);
}

/**
 * Deletes up to `batch` of one organization's events that occurred before `cutoff`, oldest first, with their
 * webhook deliveries, and records how far the stream is purged. Retention purges a prefix of the stream, so a
 * cursor is either still complete or older than the purge (410). Returns the number of events deleted.
 */
export function* purgeEventBatch(orgId: string, cutoff: string, batch: number): Op<number> {
  const oldest = yield* rows<{ sequence: number | string; occurred_at: string }>(
    sql`SELECT sequence, occurred_at FROM events WHERE org_id = ${orgId} ORDER BY sequence LIMIT ${batch}`,
  );
  let through = -1;
  for (const row of oldest) {
    if (String(row.occurred_at) >= cutoff) break;
    through = Number(row.sequence);
  }
  if (through < 0) return 0;
  yield* exec(sql`DELETE FROM webhook_deliveries WHERE org_id = ${orgId} AND sequence <= ${through}`);
  const deleted = yield* exec(sql`DELETE FROM events WHERE org_id = ${orgId} AND sequence <= ${through}`);
  yield* exec(
    sql`INSERT INTO event_retention (org_id, purged_through) VALUES (${orgId}, ${through})
      ON CONFLICT (org_id) DO UPDATE SET purged_through = excluded.purged_through`,
  );
  return deleted;
}

/** Every organization's id (retention visits each, reading its stream's oldest events by the primary key). */
export function* organizationIds(): Op<string[]> {
  const found = yield* rows<{ id: string }>(sql`SELECT id FROM organizations ORDER BY id`);
  return found.map((r) => String(r.id));
}

export function checkEventTypes(types: readonly string[]): void {
  for (const type of types) if (!isEventType(type)) throw ScimError.invalidValue(`Unknown event type ${JSON.stringify(type)}; known: ${EVENT_TYPES.join(', ')}`);
}
