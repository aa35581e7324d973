/**
 * The store's operations, written once for both dialects as generators of SQL statements (see sql.ts).
 * Each runs inside one transaction opened by the driver. Every statement is scoped by org_id.
 */
import { hash, randomBytes, randomUUID } from 'node:crypto';
import { ScimError } from '../scim/errors.ts';
import { changedAttributes } from '../scim/diff.ts';
import { applyPatch } from '../scim/patch/index.ts';
import type { MemberChange, MemberRef, PatchOperation } from '../scim/patch/types.ts';
import { GROUP, UNKNOWN_ATTRIBUTE_POLICIES, USER, isForbiddenKey } from '../scim/schema/registry.ts';
import type { ResourceSchema } from '../scim/schema/registry.ts';
import { checkNewDeclaration, parseSchemaDocument } from '../scim/schema/declare.ts';
import type { ExtensibleResourceType, SchemaExtensionDeclaration } from '../scim/schema/declare.ts';
import { validateResource } from '../scim/validate.ts';
import { DOCUMENT_COLUMN_LIST, DOCUMENT_COLUMNS, documentColumnValues, fold } from './columns.ts';
import { compileMemberFilterSql, groupReach } from './filter-sql.ts';
import { assertStorablePassword, isPasswordHash } from './passwords.ts';
import { chunks, exec, first, join, list, raw, rows, sql } from '../sql/index.ts';
import type { JsonDialect, Op, Row, Sql } from '../sql/index.ts';
import { DEFAULT_ORG_SETTINGS, MAX_ORGANIZATION_NAME_CHARS } from './types.ts';
import { appendEvents, eventResource, membershipEvent, updateEvent } from './events.ts';
import type { MemberOfEvent, NewEvent } from './events.ts';
import { resourceKinds } from './lookups.ts';
import { lockRoles, recomputeUsers, rolesAfterCreate, rolesAfterGroupWrite, usersLosingGroup } from './roles.ts';
import type {
  ApiToken,
  CreateOptions,
  DeleteOptions,
  EventOptions,
  NewToken,
  NewTokenOptions,
  Organization,
  OrganizationDeletion,
  OrgSettings,
  PatchOptions,
  ReadOptions,
  RemovedSchemaExtension,
  StoredSchemaExtension,
  ResourceChange,
  ResourceKind,
  StoredResource,
  TokenScope,
  WriteOptions,
} from './types.ts';

/** Per-store context handed to every operation. */
export interface OpContext {
  readonly dialect: JsonDialect;
  /** The current time as ISO 8601 UTC with milliseconds. */
  now(): string;
  /**
   * Told, as a write runs, whose reads it changes: these resources (their own row, or a User's `groups`), or with
   * null any User of the organization (a group renamed or deleted; an organization deleted). See user-cache.ts.
   * It may be told before the statement runs, or about a write that then fails: a write never adds to the cache,
   * so telling too much only costs a later read from the database.
   */
  changed?(orgId: string, ids: readonly string[] | null): void;
  /** Users recomputed per transaction after a rule or catalogue change (role-admin.ts RECOMPUTE_BATCH by default). */
  readonly recomputeBatch?: number;
  /** Counts, per event type, the events this operation appended (set per write call; read after commit). */
  readonly eventsWritten?: Map<string, number>;
  /** false only in a benchmark's store that measures what events cost (SqlStoreOptions.writeEvents). */
  readonly writeEvents?: boolean;
}

/**
 * Appends a write's events (events.ts) as its last statements, and counts them for the store's after-commit
 * notification. The events of a write come from the same comparison that decides whether it writes at all
 * (ResourceChange), so a write that changes nothing has none.
 */
export function* emit(ctx: OpContext, orgId: string, now: string, events: readonly NewEvent[]): Op<void> {
  if (events.length === 0 || ctx.writeEvents === false) return;
  yield* appendEvents(ctx.dialect, orgId, now, events);
  const counts = ctx.eventsWritten;
  if (counts) for (const event of events) counts.set(event.type, (counts.get(event.type) ?? 0) + 1);
}

/** Type and display of members, in the order of `ids`, for membership events (ids no longer found are left out). */
function* memberDetails(orgId: string, ids: readonly string[]): Op<MemberOfEvent[]> {
  const found = new Map<string, MemberOfEvent>();
  for (const part of chunks(ids, CHUNK)) {
    const matched = yield* rows<{ id: string; kind: ResourceKind; display: string | null }>(
      sql`SELECT id, kind, display FROM resources WHERE org_id = ${orgId} AND id IN (${list(part)})`,
    );
    for (const r of matched) found.set(String(r.id), { type: r.kind, value: String(r.id), display: r.display === null ? null : String(r.display) });
  }
  return ids.flatMap((id) => found.get(id) ?? []);
}

/** The membership events of a change to a group's members: removals first, then additions. */
function* memberEvents(orgId: string, group: { id: string; displayName: string | null }, added: readonly string[], removed: readonly string[]): Op<NewEvent[]> {
  if (added.length === 0 && removed.length === 0) return [];
  const events: NewEvent[] = [];
  for (const m of yield* memberDetails(orgId, removed)) events.push(membershipEvent('group.member_removed', group, m));
  for (const m of yield* memberDetails(orgId, added)) events.push(membershipEvent('group.member_added', group, m));
  return events;
}

function displayNameOf(doc: Record<string, unknown>): string | null {
  return typeof doc.displayName === 'string' ? doc.displayName : null;
}

/** Ids per statement when a list becomes `IN (...)` or a multi-row VALUES: far below both databases' limits. */
const CHUNK = 500;
const RESOURCE_COLUMNS = raw('r.id, r.kind, r.version, r.created, r.last_modified, r.doc');

export function schemaFor(kind: ResourceKind): ResourceSchema {
  return kind === 'User' ? USER : GROUP;
}

export function nowIso(): string {
  return new Date().toISOString();
}

export function hashToken(secret: string): string {
  // One-shot hash: a third of the cost of a Hash object, and every authenticated request pays it.
  return hash('sha256', secret, 'hex');
}

function parseJson(value: unknown): Record<string, unknown> {
  // SQLite returns JSON as text; pg has already parsed it.
  return (typeof value === 'string' ? JSON.parse(value) : value) as Record<string, unknown>;
}

// ---------------------------------------------------------------------------------------------- organizations

const LIMIT_MAX = 1_000_000;

function checkLimit(value: unknown, name: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > LIMIT_MAX) {
    throw ScimError.invalidValue(`Organization setting "${name}" must be an integer from 1 to ${LIMIT_MAX}`);
  }
  return value;
}

/** Merges a partial settings update over `base`, checking every value; compat flags merge by name. */
export function mergeSettings(base: OrgSettings, update: Partial<OrgSettings> | undefined): OrgSettings {
  if (update === undefined) return base;
  if (typeof update !== 'object' || update === null || Array.isArray(update)) throw ScimError.invalidValue('Organization settings must be an object');
  const compat: Record<string, boolean> = Object.create(null) as Record<string, boolean>;
  Object.assign(compat, base.compat);
  if (update.compat !== undefined) {
    if (typeof update.compat !== 'object' || update.compat === null || Array.isArray(update.compat)) {
      throw ScimError.invalidValue('Organization setting "compat" must be an object of booleans');
    }
    for (const [name, on] of Object.entries(update.compat)) {
      if (isForbiddenKey(name)) throw ScimError.invalidValue(`Compatibility setting name "${name}" is not allowed`);
      if (typeof on !== 'boolean') throw ScimError.invalidValue(`Compatibility setting "${name}" must be true or false`);
      compat[name] = on;
    }
  }
  const policy = update.unknownAttributes;
  if (policy !== undefined && !UNKNOWN_ATTRIBUTE_POLICIES.includes(policy)) {
    throw ScimError.invalidValue(`Organization setting "unknownAttributes" must be one of ${UNKNOWN_ATTRIBUTE_POLICIES.join(', ')}`);
  }
  if (update.advertisePagination !== undefined && typeof update.advertisePagination !== 'boolean') {
    throw ScimError.invalidValue('Organization setting "advertisePagination" must be true or false');
  }
  return {
    readLimit: update.readLimit === undefined ? base.readLimit : checkLimit(update.readLimit, 'readLimit'),
    writeLimit: update.writeLimit === undefined ? base.writeLimit : checkLimit(update.writeLimit, 'writeLimit'),
    compat: { ...compat },
    unknownAttributes: policy ?? base.unknownAttributes,
    advertisePagination: update.advertisePagination ?? base.advertisePagination,
  };
}

function toOrganization(row: Row): Organization {
  const settings = parseJson(row.settings) as unknown as OrgSettings;
  return {
    id: String(row.id),
    name: String(row.name),
    settings: mergeSettings(DEFAULT_ORG_SETTINGS, settings),
    created: String(row.created),
    schemaVersion: Number(row.schema_version ?? 0),
  };
}

const ORGANIZATION_COLUMNS = raw('id, name, settings, created, schema_version');

function checkOrganizationName(name: unknown): string {
  if (typeof name !== 'string' || name.trim() === '' || name.includes('\u0000')) throw ScimError.invalidValue('Organization name must be a non-empty string');
  if (Array.from(name).length > MAX_ORGANIZATION_NAME_CHARS) {
    throw ScimError.invalidValue(`Organization name is too long: at most ${MAX_ORGANIZATION_NAME_CHARS} characters are allowed`);
  }
  return name;
}

export function* createOrganization(ctx: OpContext, name: string, settings?: Partial<OrgSettings>): Op<Organization> {
  checkOrganizationName(name);
  const merged = mergeSettings(DEFAULT_ORG_SETTINGS, settings);
  const org: Organization = { id: randomUUID(), name, settings: merged, created: ctx.now(), schemaVersion: 0 };
  yield* exec(sql`INSERT INTO organizations (id, name, settings, created) VALUES (${org.id}, ${name}, ${ctx.dialect.jsonParam(JSON.stringify(merged))}, ${org.created})`);
  return org;
}

function* organizationRow(ctx: OpContext, id: string, lock: boolean): Op<Row | undefined> {
  return yield* first(sql`SELECT ${ORGANIZATION_COLUMNS} FROM organizations WHERE id = ${String(id)}${lock ? ctx.dialect.forUpdate : raw('')}`);
}

export function* getOrganization(ctx: OpContext, id: string): Op<Organization | null> {
  const row = yield* organizationRow(ctx, id, false);
  return row ? toOrganization(row) : null;
}

/** The cheapest round trip to the database. */
export function* ping(): Op<void> {
  yield* first(sql`SELECT 1 AS one`);
}

export function* listOrganizations(): Op<Organization[]> {
  const found = yield* rows(sql`SELECT ${ORGANIZATION_COLUMNS} FROM organizations ORDER BY created, id`);
  return found.map(toOrganization);
}

export function* updateOrganization(ctx: OpContext, id: string, settings: Partial<OrgSettings>): Op<Organization> {
  // Locks the row for the read-merge-write, so concurrent updates of different settings all take effect.
  const row = yield* organizationRow(ctx, id, true);
  if (!row) throw ScimError.notFound(`Organization ${JSON.stringify(id)} not found`);
  const current = toOrganization(row);
  const merged = mergeSettings(current.settings, settings);
  yield* exec(sql`UPDATE organizations SET settings = ${ctx.dialect.jsonParam(JSON.stringify(merged))} WHERE id = ${id}`);
  return { ...current, settings: merged };
}

// ---------------------------------------------------------------------------------------------- schema extensions

function toSchemaExtension(row: Row): StoredSchemaExtension {
  const resourceType = String(row.resource_type) as ExtensibleResourceType;
  const required = row.required === true || row.required === 1 || row.required === '1';
  return { declaration: { resourceType, required, schema: parseSchemaDocument(parseJson(row.document)) }, created: String(row.created) };
}

export function* listSchemaExtensions(_ctx: OpContext, orgId: string): Op<StoredSchemaExtension[]> {
  const found = yield* rows(sql`SELECT resource_type, required, document, created FROM schema_extensions WHERE org_id = ${String(orgId)} ORDER BY created, urn_folded`);
  return found.map(toSchemaExtension);
}

/** Locks the organization's row, so that declarations change one at a time and its schema version moves with them. */
function* lockOrganization(ctx: OpContext, orgId: string): Op<void> {
  if (!(yield* organizationRow(ctx, orgId, true))) throw ScimError.notFound(`Organization ${JSON.stringify(orgId)} not found`);
}

function* bumpSchemaVersion(orgId: string): Op<void> {
  yield* exec(sql`UPDATE organizations SET schema_version = schema_version + 1 WHERE id = ${orgId}`);
}

export function* addSchemaExtension(ctx: OpContext, orgId: string, declaration: SchemaExtensionDeclaration): Op<StoredSchemaExtension> {
  yield* lockOrganization(ctx, orgId);
  const existing = yield* listSchemaExtensions(ctx, orgId);
  checkNewDeclaration(existing.map((e) => e.declaration), declaration);
  const { schema } = declaration;
  const created = ctx.now();
  yield* exec(
    sql`INSERT INTO schema_extensions (org_id, urn_folded, urn, resource_type, required, document, created)
      VALUES (${orgId}, ${fold(schema.id)}, ${schema.id}, ${declaration.resourceType}, ${declaration.required}, ${ctx.dialect.jsonParam(JSON.stringify(schema))}, ${created})`,
    { unique: () => ScimError.uniqueness(`The schema "${schema.id}" is already declared for this organization`) },
  );
  yield* bumpSchemaVersion(orgId);
  return { declaration, created };
}

export function* removeSchemaExtension(ctx: OpContext, orgId: string, urn: string): Op<RemovedSchemaExtension> {
  yield* lockOrganization(ctx, orgId);
  const folded = fold(String(urn));
  const row = yield* first(sql`SELECT resource_type, required, document, created FROM schema_extensions WHERE org_id = ${orgId} AND urn_folded = ${folded}`);
  if (!row) throw ScimError.notFound(`No schema extension ${JSON.stringify(urn)} is declared for this organization`);
  const { declaration } = toSchemaExtension(row);
  yield* exec(sql`DELETE FROM schema_extensions WHERE org_id = ${orgId} AND urn_folded = ${folded}`);
  yield* bumpSchemaVersion(orgId);
  // The documents keep their data under the URN (validation carries it through writes), so declaring it again brings it back.
  const holding = ctx.dialect.isObject({ json: raw('r.doc'), keys: [declaration.schema.id] });
  const counted = yield* first(sql`SELECT COUNT(*) AS n FROM resources r WHERE r.org_id = ${orgId} AND r.kind = ${declaration.resourceType} AND ${holding}`);
  return { declaration, resourcesWithData: Number(counted?.n ?? 0) };
}

export function* renameOrganization(ctx: OpContext, id: string, name: string): Op<Organization> {
  checkOrganizationName(name);
  const row = yield* organizationRow(ctx, id, true);
  if (!row) throw ScimError.notFound(`Organization ${JSON.stringify(id)} not found`);
  yield* exec(sql`UPDATE organizations SET name = ${name} WHERE id = ${String(id)}`);
  return { ...toOrganization(row), name };
}

/**
 * Deletes the organization row; every other row of the organization goes with it through ON DELETE CASCADE (each
 * table with an `org_id` references `organizations`, or a table that does: a contract test checks every table), in
 * this one transaction. Counts what it removes first, for the operator.
 */
export function* deleteOrganization(ctx: OpContext, id: string): Op<OrganizationDeletion | null> {
  const row = yield* organizationRow(ctx, id, true);
  if (!row) return null;
  const counts = yield* rows(sql`SELECT kind, n FROM resource_counts WHERE org_id = ${String(id)}`);
  const count = (kind: ResourceKind) => Number(counts.find((c) => c.kind === kind)?.n ?? 0);
  const tokens = yield* first(sql`SELECT COUNT(*) AS n FROM api_tokens WHERE org_id = ${String(id)}`);
  yield* exec(sql`DELETE FROM organizations WHERE id = ${String(id)}`);
  ctx.changed?.(String(id), null);
  return { organization: toOrganization(row), users: count('User'), groups: count('Group'), tokens: Number(tokens?.n ?? 0) };
}

// ------------------------------------------------------------------------------------------------------ tokens

const TOKEN_COLUMNS = raw('id, org_id, scope, user_id, created, revoked, expires, last_used');

function toToken(row: Row): ApiToken {
  return {
    id: String(row.id),
    orgId: String(row.org_id),
    scope: row.scope as TokenScope,
    userId: row.user_id === null ? null : String(row.user_id),
    created: String(row.created),
    revoked: row.revoked === null ? null : String(row.revoked),
    expires: row.expires === null || row.expires === undefined ? null : String(row.expires),
    lastUsed: row.last_used === null || row.last_used === undefined ? null : String(row.last_used),
  };
}

/** Whether a token has stopped working at `now` (ISO 8601 UTC with milliseconds, as stored). */
export function isTokenExpired(token: ApiToken, now: string): boolean {
  return token.expires !== null && token.expires <= now;
}

const TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

/** A stored timestamp: the fixed-width ISO form, so that text order is time order. */
function checkTimestamp(value: unknown, name: string): string {
  if (typeof value !== 'string' || !TIMESTAMP.test(value) || Number.isNaN(Date.parse(value)) || new Date(value).toISOString() !== value) {
    throw ScimError.invalidValue(`${name} must be an ISO 8601 UTC timestamp such as 2027-01-31T12:00:00.000Z`);
  }
  return value;
}

/** Inserts a new token (its organization must exist: 404 otherwise). */
export function* insertToken(ctx: OpContext, orgId: string, scope: TokenScope, userId: string | null, expires: string | null): Op<NewToken> {
  const secret = randomBytes(32).toString('base64url');
  const token: ApiToken = { id: randomUUID(), orgId, scope, userId, created: ctx.now(), revoked: null, expires, lastUsed: null };
  yield* exec(
    sql`INSERT INTO api_tokens (id, org_id, token_hash, scope, user_id, created, expires)
      VALUES (${token.id}, ${orgId}, ${hashToken(secret)}, ${token.scope}, ${userId}, ${token.created}, ${expires})`,
    { foreignKey: () => ScimError.notFound(`Organization ${JSON.stringify(orgId)} not found`) },
  );
  return { token, secret };
}

/** A new token's expiry: absent or null is never, else a timestamp after `now`. */
function checkExpiry(expires: string | null | undefined, now: string): string | null {
  if (expires === undefined || expires === null) return null;
  const at = checkTimestamp(expires, 'Token expiry');
  if (at <= now) throw ScimError.invalidValue('Token expiry must be in the future');
  return at;
}

export function* createToken(ctx: OpContext, orgId: string, options: NewTokenOptions): Op<NewToken> {
  if (options.scope !== 'read' && options.scope !== 'read-write') throw ScimError.invalidValue('Token scope must be "read" or "read-write"');
  const expires = checkExpiry(options.expires, ctx.now());
  const userId = options.userId ?? null;
  if (userId !== null) {
    const user = yield* first(sql`SELECT id FROM resources WHERE org_id = ${orgId} AND id = ${String(userId)} AND kind = 'User'`);
    if (!user) throw ScimError.invalidValue(`User ${JSON.stringify(userId)} does not exist in this organization`);
  }
  return yield* insertToken(ctx, orgId, options.scope, userId, expires);
}

export function* rotateToken(ctx: OpContext, tokenId: string, options: { graceUntil: string; expires?: string | null }): Op<NewToken> {
  const now = ctx.now();
  // An end already past (a zero grace computed a moment ago) ends the old token now.
  const requested = checkTimestamp(options.graceUntil, 'The end of the grace period');
  const graceUntil = requested < now ? now : requested;
  const expires = checkExpiry(options.expires, now);
  const row = yield* first(sql`SELECT ${TOKEN_COLUMNS} FROM api_tokens WHERE id = ${String(tokenId)}${ctx.dialect.forUpdate}`);
  const old = row ? toToken(row) : null;
  if (!old || old.revoked !== null || isTokenExpired(old, now)) {
    throw ScimError.notFound(`Token ${JSON.stringify(tokenId)} not found, or already revoked or expired`);
  }
  const rotated = yield* insertToken(ctx, old.orgId, old.scope, old.userId, expires);
  // The old secret keeps working until the grace period ends; one that expires sooner still does so.
  const oldExpires = old.expires !== null && old.expires < graceUntil ? old.expires : graceUntil;
  yield* exec(sql`UPDATE api_tokens SET expires = ${oldExpires} WHERE id = ${old.id}`);
  return rotated;
}

export function* findToken(_ctx: OpContext, secret: string): Op<ApiToken | null> {
  if (typeof secret !== 'string' || secret === '') return null;
  const row = yield* first(sql`SELECT ${TOKEN_COLUMNS} FROM api_tokens WHERE token_hash = ${hashToken(secret)} AND revoked IS NULL`);
  return row ? toToken(row) : null;
}

export function* listTokens(_ctx: OpContext, orgId: string): Op<ApiToken[]> {
  const found = yield* rows(sql`SELECT ${TOKEN_COLUMNS} FROM api_tokens WHERE org_id = ${orgId} ORDER BY created, id`);
  return found.map(toToken);
}

export function* revokeToken(ctx: OpContext, tokenId: string): Op<boolean> {
  const changed = yield* exec(sql`UPDATE api_tokens SET revoked = ${ctx.now()} WHERE id = ${String(tokenId)} AND revoked IS NULL`);
  return changed > 0;
}

// --------------------------------------------------------------------------------------------------- resources

/** Index of the `display` column among the document columns (a Group's display is shown in its members' `groups`). */
const DISPLAY = DOCUMENT_COLUMNS.findIndex((c) => c.column === 'display');

/**
 * In JSON.stringify output, the escape of a NUL (`\u0000`) or of an unpaired surrogate (`\ud800`..`\udfff`, the only
 * surrogates it escapes), preceded by an even run of backslashes (an odd run makes it a literal backslash and text).
 */
const UNSTORABLE_ESCAPE = /(?<!\\)(?:\\\\)*\\u(?:0000|d[89a-f][0-9a-f]{2})/i;

/**
 * Splits a validated document into what goes in the JSON column and a Group's members (kept in their own table).
 * Rejects NUL characters, which PostgreSQL cannot hold in text, and unpaired surrogates, which PostgreSQL stores in a
 * JSON column but then fails to read in every JSON operator, so both stores accept the same documents.
 */
function splitDocument(kind: ResourceKind, document: Record<string, unknown>): { doc: Record<string, unknown>; members: MemberRef[] | null } {
  if (typeof document !== 'object' || document === null || Array.isArray(document)) throw ScimError.invalidSyntax(`A ${kind} must be a JSON object`);
  const text = JSON.stringify(document);
  if (UNSTORABLE_ESCAPE.test(text)) throw ScimError.invalidValue('Attribute values must not contain NUL characters or unpaired surrogates');
  const doc = JSON.parse(text) as Record<string, unknown>;
  delete doc.id;
  delete doc.meta;
  delete doc.groups; // readOnly, computed from memberships
  if (kind !== 'Group') {
    assertStorablePassword(doc);
    return { doc, members: null };
  }
  const raw = doc.members;
  delete doc.members;
  if (raw === undefined || raw === null) return { doc, members: [] };
  if (!Array.isArray(raw)) throw ScimError.invalidValue('Attribute "members" must be an array');
  const members = raw.map((item, i): MemberRef => {
    const value = typeof item === 'object' && item !== null ? (item as Record<string, unknown>).value : undefined;
    if (typeof value !== 'string' || value === '') throw ScimError.invalidValue(`Attribute "members[${i}].value" must be a non-empty string`);
    return { value };
  });
  return { doc, members };
}

function uniquenessError(kind: ResourceKind, doc: Record<string, unknown>): () => ScimError {
  return () =>
    kind === 'User'
      ? ScimError.uniqueness(`A User with userName ${JSON.stringify(doc.userName)} already exists (userName is case-insensitive)`)
      : ScimError.uniqueness(`A Group with displayName ${JSON.stringify(doc.displayName)} already exists (displayName is case-insensitive)`);
}

function toResource(row: Row, document: Record<string, unknown>): StoredResource {
  return {
    id: String(row.id),
    resourceType: row.kind as ResourceKind,
    version: Number(row.version),
    created: String(row.created),
    lastModified: String(row.last_modified),
    document,
  };
}

function notFound(kind: ResourceKind, id: string): ScimError {
  return ScimError.notFound(`${kind} ${JSON.stringify(id)} not found`);
}

/** Keeps the per-organization count of each kind, read by unfiltered listings. */
function* addToCount(orgId: string, kind: ResourceKind, delta: number): Op<void> {
  yield* exec(sql`INSERT INTO resource_counts (org_id, kind, n) VALUES (${orgId}, ${kind}, ${delta})
    ON CONFLICT (org_id, kind) DO UPDATE SET n = resource_counts.n + excluded.n`);
}

/**
 * Whose reads a membership change touches: the members themselves, or, when a member is a group, any user of the
 * organization (everyone in that group, at any depth, has gained or lost an indirect group).
 */
function nestedChange(ids: readonly string[], typeOf: (id: string) => string | undefined): readonly string[] | null {
  return ids.some((id) => typeOf(id) === 'Group') ? null : ids;
}

function typesOf(deleted: readonly Row[]): (id: string) => string | undefined {
  const types = new Map(deleted.map((r) => [String(r.member_id), String(r.member_type)]));
  return (id) => types.get(id);
}

/** Adds members to a group: O(k) lookups and inserts, whatever the group's size. Returns the ids that were not members yet. */
function* addMembers(ctx: OpContext, orgId: string, groupId: string, members: readonly MemberRef[]): Op<string[]> {
  const ids = [...new Set(members.map((m) => m.value))];
  for (const id of ids) {
    if (typeof id !== 'string' || id === '' || id.includes('\u0000')) throw ScimError.invalidValue('Member values must be non-empty resource ids');
    if (id === groupId) throw ScimError.invalidValue(`Group ${JSON.stringify(groupId)} cannot be a member of itself`);
  }
  const added: string[] = [];
  for (const part of chunks(ids, CHUNK)) {
    const kinds = yield* resourceKinds(ctx.dialect, orgId, part);
    const missing = part.find((id) => !kinds.has(id));
    if (missing !== undefined) throw ScimError.invalidValue(`Member ${JSON.stringify(missing)} is not a User or Group of this organization`);
    const values = join(
      part.map((id) => sql`(${orgId}, ${groupId}, ${id}, ${kinds.get(id)})`),
      ', ',
    );
    // Members already there are kept as they are: their rows are not rewritten.
    const inserted = yield* rows(sql`INSERT INTO memberships (org_id, group_id, member_id, member_type) VALUES ${values} ON CONFLICT DO NOTHING RETURNING member_id`, {
      foreignKey: () => ScimError.invalidValue('A member was deleted while being added; retry the request'),
    });
    const insertedIds = inserted.map((r) => String(r.member_id));
    if (insertedIds.length > 0) ctx.changed?.(orgId, nestedChange(insertedIds, (memberId) => kinds.get(memberId)));
    added.push(...insertedIds);
  }
  return added;
}

/** Removes members by id; absent ones are no-ops. Returns the ids that were members. */
function* removeMembers(ctx: OpContext, orgId: string, groupId: string, ids: readonly string[]): Op<string[]> {
  const removed: string[] = [];
  for (const part of chunks(ids, CHUNK)) {
    const deleted = yield* rows(sql`DELETE FROM memberships WHERE org_id = ${orgId} AND group_id = ${groupId} AND member_id IN (${list(part)}) RETURNING member_id, member_type`);
    const deletedIds = deleted.map((r) => String(r.member_id));
    if (deletedIds.length > 0) ctx.changed?.(orgId, nestedChange(deletedIds, typesOf(deleted)));
    removed.push(...deletedIds);
  }
  return removed;
}

/**
 * Makes `members` the group's member list, touching only the difference: the current member ids are read (from
 * the membership key, never the member documents), absent ones removed, new ones added. A member list sent again
 * unchanged writes nothing.
 */
function* setMembers(ctx: OpContext, orgId: string, groupId: string, members: readonly MemberRef[]): Op<MemberDelta> {
  const current = yield* rows(sql`SELECT member_id FROM memberships WHERE org_id = ${orgId} AND group_id = ${groupId}`);
  const had = new Set(current.map((r) => String(r.member_id)));
  const wanted = new Set(members.map((m) => m.value));
  const removed = yield* removeMembers(
    ctx,
    orgId,
    groupId,
    [...had].filter((id) => !wanted.has(id)),
  );
  const added = yield* addMembers(
    ctx,
    orgId,
    groupId,
    members.filter((m) => !had.has(m.value)),
  );
  return { added, removed };
}

/** Members added and removed by a write, each id at most once, net of one another. */
interface MemberDelta {
  readonly added: readonly string[];
  readonly removed: readonly string[];
}

const NO_MEMBER_CHANGE: MemberDelta = { added: [], removed: [] };

/**
 * Applies PATCH member changes in order and returns what they changed, net: a member removed and added again in
 * one request (or added and removed) counts as neither. `removeAll` followed by `add` (a PATCH `replace` of
 * `members`) sets the list, touching only the difference.
 */
function* applyMemberChanges(ctx: OpContext, orgId: string, groupId: string, changes: readonly MemberChange[]): Op<MemberDelta> {
  if (changes.length === 0) return NO_MEMBER_CHANGE;
  const net = new Map<string, 'added' | 'removed'>();
  const record = (delta: MemberDelta) => {
    for (const id of delta.removed) {
      if (net.get(id) === 'added') net.delete(id);
      else net.set(id, 'removed');
    }
    for (const id of delta.added) {
      if (net.get(id) === 'removed') net.delete(id);
      else net.set(id, 'added');
    }
  };
  for (let i = 0; i < changes.length; i++) {
    const change = changes[i];
    switch (change.kind) {
      case 'add':
        record({ added: yield* addMembers(ctx, orgId, groupId, change.members), removed: [] });
        break;
      case 'remove':
        record({ added: [], removed: yield* removeMembers(ctx, orgId, groupId, change.ids) });
        break;
      case 'removeWhere': {
        const where = compileMemberFilterSql(change.filter, GROUP, ctx.dialect, 'm');
        const deleted = yield* rows(sql`DELETE FROM memberships AS m WHERE m.org_id = ${orgId} AND m.group_id = ${groupId} AND ${where} RETURNING member_id, member_type`);
        const ids = deleted.map((r) => String(r.member_id));
        if (ids.length > 0) ctx.changed?.(orgId, nestedChange(ids, typesOf(deleted)));
        record({ added: [], removed: ids });
        break;
      }
      case 'removeAll': {
        const next = changes[i + 1];
        if (next?.kind === 'add') {
          record(yield* setMembers(ctx, orgId, groupId, next.members));
          i++;
          break;
        }
        const deleted = yield* rows(sql`DELETE FROM memberships WHERE org_id = ${orgId} AND group_id = ${groupId} RETURNING member_id, member_type`);
        const ids = deleted.map((r) => String(r.member_id));
        if (ids.length > 0) ctx.changed?.(orgId, nestedChange(ids, typesOf(deleted)));
        record({ added: [], removed: ids });
        break;
      }
    }
  }
  const added: string[] = [];
  const removed: string[] = [];
  for (const [id, how] of net) (how === 'added' ? added : removed).push(id);
  return { added, removed };
}

/** One entry of a Group's `members` or a User's `groups`, from a membership's value, display and type. */
function relationEntry(value: unknown, display: unknown, type: unknown): Record<string, unknown> {
  const entry: Record<string, unknown> = { value: String(value) };
  if (display !== null && display !== undefined) entry.display = String(display);
  entry.type = String(type);
  return entry;
}

/** `direct` for a membership of the group itself, `indirect` for one through nested groups. */
function groupType(depth: unknown): string {
  return Number(depth) === 0 ? 'direct' : 'indirect';
}

/**
 * Members of the given groups (value, display, type), or groups of the given users (value, display, and type
 * `direct`, or `indirect` through nested groups). The groups' names join with CROSS JOIN, as in groupReach: without
 * statistics SQLite read every resource of the organization for each group reached.
 */
function* loadRelations(orgId: string, kind: ResourceKind, ids: readonly string[]): Op<Map<string, Record<string, unknown>[]>> {
  const out = new Map<string, Record<string, unknown>[]>();
  for (const part of chunks(ids, CHUNK)) {
    const found =
      kind === 'Group'
        ? yield* rows(sql`SELECT m.group_id AS owner, m.member_id AS value, m.member_type AS type, d.display AS display
            FROM memberships m JOIN resources d ON d.org_id = m.org_id AND d.id = m.member_id
            WHERE m.org_id = ${orgId} AND m.group_id IN (${list(part)}) ORDER BY m.group_id, m.member_id`)
        : yield* rows(sql`${groupReach(sql`${orgId}`, list(part))}
            SELECT reach.owner AS owner, reach.group_id AS value, MIN(reach.depth) AS depth, d.display AS display
            FROM reach CROSS JOIN resources d WHERE d.org_id = ${orgId} AND d.id = reach.group_id
            GROUP BY reach.owner, reach.group_id, d.display ORDER BY reach.owner, reach.group_id`);
    for (const row of found) {
      const entry = relationEntry(row.value, row.display, kind === 'Group' ? row.type : groupType(row.depth));
      const owner = String(row.owner);
      const listed = out.get(owner);
      if (listed) listed.push(entry);
      else out.set(owner, [entry]);
    }
  }
  return out;
}

/** Adds `members` (Groups) or `groups` (Users) to documents, when any; reads the memberships table. */
export function* withRelations(orgId: string, kind: ResourceKind, resources: StoredResource[]): Op<StoredResource[]> {
  if (resources.length === 0) return resources;
  const relations = yield* loadRelations(
    orgId,
    kind,
    resources.map((r) => r.id),
  );
  const attribute = kind === 'Group' ? 'members' : 'groups';
  return resources.map((r) => {
    const related = relations.get(r.id);
    return related ? { ...r, document: { ...r.document, [attribute]: related } } : r;
  });
}

function* withRelationsIf(orgId: string, resource: StoredResource, options: ReadOptions | undefined): Op<StoredResource> {
  if (!options?.relations) return resource;
  const [one] = yield* withRelations(orgId, resource.resourceType, [resource]);
  return one;
}

export function* createResource(ctx: OpContext, orgId: string, kind: ResourceKind, document: Record<string, unknown>, options?: CreateOptions): Op<StoredResource> {
  const { doc, members } = splitDocument(kind, document);
  const cols = documentColumnValues(kind, doc);
  const id = randomUUID();
  const now = ctx.now();
  // First, before any row lock: writes that can move roles run one at a time per organization (roles.ts).
  yield* lockRoles(ctx, orgId);
  yield* exec(
    sql`INSERT INTO resources (org_id, id, kind, ${DOCUMENT_COLUMN_LIST}, created, last_modified, version, doc)
      VALUES (${orgId}, ${id}, ${kind}, ${list(cols)}, ${now}, ${now}, 1, ${ctx.dialect.jsonParam(JSON.stringify(doc))})`,
    { unique: uniquenessError(kind, doc), foreignKey: () => ScimError.notFound(`Organization ${JSON.stringify(orgId)} not found`) },
  );
  yield* addToCount(orgId, kind, 1);
  const added = members && members.length > 0 ? yield* addMembers(ctx, orgId, id, members) : [];
  const stored = toResource({ id, kind, version: 1, created: now, last_modified: now }, doc);
  const created: NewEvent = { type: kind === 'User' ? 'user.created' : 'group.created', resourceId: id, data: eventResource(kind, stored, doc, options) };
  const events = [created, ...(yield* memberEvents(orgId, { id, displayName: displayNameOf(doc) }, added, []))];
  events.push(
    ...(kind === 'User'
      ? yield* recomputeUsers(ctx, orgId, [id])
      : yield* rolesAfterGroupWrite(ctx, orgId, { groupId: id, identityChanged: true, membersAdded: added, membersRemoved: [] })),
  );
  yield* emit(ctx, orgId, now, events);
  return yield* withRelationsIf(orgId, stored, options);
}

/**
 * Inserts many resources in one transaction with multi-row INSERTs, through the same document checks and hot
 * columns as create. For seeding and benchmarks (SqlStore.bulkCreate); Groups must come without members.
 */
export function* bulkCreateResources(ctx: OpContext, orgId: string, kind: ResourceKind, documents: readonly Record<string, unknown>[]): Op<string[]> {
  const ids: string[] = [];
  const events: NewEvent[] = [];
  const now = ctx.now();
  yield* lockRoles(ctx, orgId);
  for (const part of chunks(documents, CHUNK)) {
    const values = part.map((document) => {
      const { doc, members } = splitDocument(kind, document);
      if (members && members.length > 0) throw ScimError.invalidValue('bulkCreate takes Groups without members');
      const cols = documentColumnValues(kind, doc);
      const id = randomUUID();
      ids.push(id);
      const stored = toResource({ id, kind, version: 1, created: now, last_modified: now }, doc);
      events.push({ type: kind === 'User' ? 'user.created' : 'group.created', resourceId: id, data: eventResource(kind, stored, doc, undefined) });
      return sql`(${orgId}, ${id}, ${kind}, ${list(cols)}, ${now}, ${now}, 1, ${ctx.dialect.jsonParam(JSON.stringify(doc))})`;
    });
    yield* exec(
      sql`INSERT INTO resources (org_id, id, kind, ${DOCUMENT_COLUMN_LIST}, created, last_modified, version, doc) VALUES ${join(values, ', ')}`,
      { unique: () => ScimError.uniqueness(`A ${kind} in the batch has a userName or displayName that is already taken`) },
    );
  }
  yield* addToCount(orgId, kind, ids.length);
  events.push(...(yield* rolesAfterCreate(ctx, orgId, kind, ids)));
  yield* emit(ctx, orgId, now, events);
  return ids;
}

export function* getResource(_ctx: OpContext, orgId: string, kind: ResourceKind, id: string, options?: ReadOptions): Op<StoredResource | null> {
  if (kind === 'User' && options?.relations) {
    // A User and its groups (direct and nested) in one statement, a row per group: users belong to few groups, and a
    // second query cost more than repeating the row. A Group's members can be many, so they keep their own query.
    const found = yield* rows(
      sql`${groupReach(sql`${orgId}`, sql`${String(id)}`)}, reached(group_id, depth) AS (SELECT group_id, MIN(depth) FROM reach GROUP BY group_id)
        SELECT ${RESOURCE_COLUMNS}, g.group_id AS group_id, g.depth AS group_depth, d.display AS group_display FROM resources r
        LEFT JOIN reached g ON 1 = 1
        LEFT JOIN resources d ON d.org_id = r.org_id AND d.id = g.group_id
        WHERE r.org_id = ${orgId} AND r.id = ${String(id)} AND r.kind = 'User' ORDER BY g.group_id`,
    );
    if (found.length === 0) return null;
    const resource = toResource(found[0], parseJson(found[0].doc));
    const groups = found
      .filter((row) => row.group_id !== null && row.group_id !== undefined)
      .map((row) => relationEntry(row.group_id, row.group_display, groupType(row.group_depth)));
    return groups.length > 0 ? { ...resource, document: { ...resource.document, groups } } : resource;
  }
  const row = yield* first(sql`SELECT ${RESOURCE_COLUMNS} FROM resources r WHERE r.org_id = ${orgId} AND r.id = ${String(id)} AND r.kind = ${kind}`);
  if (!row) return null;
  return yield* withRelationsIf(orgId, toResource(row, parseJson(row.doc)), options);
}

function checkExpectedVersion(expectedVersion: unknown): number | undefined {
  if (expectedVersion === undefined) return undefined;
  if (typeof expectedVersion !== 'number' || !Number.isSafeInteger(expectedVersion)) throw ScimError.invalidValue('expectedVersion must be an integer');
  return expectedVersion;
}

/** The stored row as a write reads it (locked) before deciding what to change. */
const STORED_COLUMNS = sql`id, kind, version, created, last_modified, doc, ${DOCUMENT_COLUMN_LIST}`;

/**
 * Reads the resource a write is about to change, locking its row for the read-modify-write (SQLite's write
 * transaction already excludes other writers): 404 when absent, 412 when `expectedVersion` is not current.
 */
function* lockStored(ctx: OpContext, orgId: string, kind: ResourceKind, id: string, expectedVersion: number | undefined): Op<Row> {
  const stored = yield* first(
    sql`SELECT ${STORED_COLUMNS} FROM resources WHERE org_id = ${orgId} AND id = ${String(id)} AND kind = ${kind}${ctx.dialect.forUpdate}`,
  );
  if (!stored) throw notFound(kind, id);
  if (expectedVersion !== undefined && Number(stored.version) !== expectedVersion) {
    throw ScimError.preconditionFailed(`${kind} ${JSON.stringify(id)} has changed: version ${expectedVersion} is no longer current`);
  }
  return stored;
}

/** Whether a write changed anything: its attributes or its members. */
export function isUnchanged(change: ResourceChange): boolean {
  return change.attributes.length === 0 && change.membersAdded.length === 0 && change.membersRemoved.length === 0;
}

/**
 * Rewrites the document and hot columns of the locked `stored` row (STORED_COLUMNS) and bumps the version. Only
 * what changed is written: every indexed column left out of the SET is an index entry the database does not
 * rewrite, which matters most for a member change that leaves the document as it is.
 */
function* updateDocument(ctx: OpContext, orgId: string, kind: ResourceKind, id: string, doc: Record<string, unknown>, stored: Row): Op<Row> {
  const cols = documentColumnValues(kind, doc);
  const now = ctx.now();
  const text = JSON.stringify(doc);
  const changed = (i: number) => (stored[DOCUMENT_COLUMNS[i].column] ?? null) !== cols[i];
  const sets: Sql[] = [];
  // PostgreSQL hands JSON back parsed; our own stringify of it gives the text we wrote.
  if ((typeof stored.doc === 'string' ? stored.doc : JSON.stringify(stored.doc)) !== text) sets.push(sql`doc = ${ctx.dialect.jsonParam(text)}`);
  for (let i = 0; i < cols.length; i++) if (changed(i)) sets.push(sql`${DOCUMENT_COLUMNS[i].assign}${cols[i]}`);
  sets.push(raw('version = version + 1'), sql`last_modified = CASE WHEN last_modified < ${now} THEN ${now} ELSE last_modified END`);
  // A group's display is in its members' `groups`.
  ctx.changed?.(orgId, kind === 'Group' && changed(DISPLAY) ? null : [String(id)]);
  const row = yield* first(
    sql`UPDATE resources SET ${join(sets, ', ')} WHERE org_id = ${orgId} AND id = ${String(id)} AND kind = ${kind}
      RETURNING id, kind, version, created, last_modified`,
    { unique: uniquenessError(kind, doc) },
  );
  // The row is locked by this transaction, so the update cannot miss it.
  if (!row) throw notFound(kind, id);
  return row;
}

/**
 * Ends a PUT or PATCH: when `change` is empty the write changed nothing and writes nothing (same version, same
 * lastModified, no row rewritten), and the stored resource is the answer; else the row is updated.
 */
function* finishWrite(
  ctx: OpContext,
  orgId: string,
  kind: ResourceKind,
  id: string,
  stored: Row,
  existing: Record<string, unknown>,
  doc: Record<string, unknown>,
  change: ResourceChange,
  options: (ReadOptions & EventOptions) | undefined,
): Op<StoredResource> {
  if (isUnchanged(change)) return yield* withRelationsIf(orgId, toResource(stored, existing), options);
  const written = toResource(yield* updateDocument(ctx, orgId, kind, id, doc, stored), doc);
  // The events of the change: one for the resource's own attributes, then one per member added or removed.
  const events = change.attributes.length > 0 ? [updateEvent(kind, written, existing, doc, change.attributes, options)] : [];
  events.push(...(yield* memberEvents(orgId, { id: written.id, displayName: displayNameOf(doc) }, change.membersAdded, change.membersRemoved)));
  events.push(...(yield* rolesAfterWrite(ctx, orgId, kind, written.id, change)));
  yield* emit(ctx, orgId, written.lastModified, events);
  return yield* withRelationsIf(orgId, written, options);
}

/** Attributes of a User whose change can move its roles, and of a Group whose change can move the rules it matches. */
const USER_ROLE_ATTRIBUTES: ReadonlySet<string> = new Set(['active', 'roles']);
const GROUP_IDENTITY_ATTRIBUTES: ReadonlySet<string> = new Set(['displayName', 'externalId']);

/** The `user.roles_changed` events of an update (roles.ts): a User's `active` or `roles`, a Group's name, externalId or members. */
function* rolesAfterWrite(ctx: OpContext, orgId: string, kind: ResourceKind, id: string, change: ResourceChange): Op<NewEvent[]> {
  if (kind === 'User') return change.attributes.some((a) => USER_ROLE_ATTRIBUTES.has(a)) ? yield* recomputeUsers(ctx, orgId, [id]) : [];
  return yield* rolesAfterGroupWrite(ctx, orgId, {
    groupId: id,
    identityChanged: change.attributes.some((a) => GROUP_IDENTITY_ATTRIBUTES.has(a)),
    membersAdded: change.membersAdded,
    membersRemoved: change.membersRemoved,
  });
}

export function* replaceResource(
  ctx: OpContext,
  orgId: string,
  kind: ResourceKind,
  id: string,
  document: Record<string, unknown>,
  options?: WriteOptions,
): Op<StoredResource> {
  const expectedVersion = checkExpectedVersion(options?.expectedVersion);
  const { doc, members } = splitDocument(kind, document);
  yield* lockRoles(ctx, orgId);
  const stored = yield* lockStored(ctx, orgId, kind, id, expectedVersion);
  const existing = parseJson(stored.doc);
  // A client cannot resend a password it can never read, so a PUT without one keeps the stored hash.
  if (kind === 'User' && doc.password === undefined && isPasswordHash(existing.password)) doc.password = existing.password;
  // PUT replaces the whole resource, members included (only the difference is written).
  const delta = members ? yield* setMembers(ctx, orgId, String(id), members) : NO_MEMBER_CHANGE;
  const change: ResourceChange = { attributes: changedAttributes(existing, doc), membersAdded: delta.added, membersRemoved: delta.removed };
  return yield* finishWrite(ctx, orgId, kind, id, stored, existing, doc, change, options);
}

export function* patchResource(
  ctx: OpContext,
  orgId: string,
  kind: ResourceKind,
  id: string,
  operations: readonly PatchOperation[],
  options?: PatchOptions,
): Op<StoredResource> {
  const expectedVersion = checkExpectedVersion(options?.expectedVersion);
  yield* lockRoles(ctx, orgId);
  const stored = yield* lockStored(ctx, orgId, kind, id, expectedVersion);
  const rs = options?.schema ?? schemaFor(kind);
  const existing = parseJson(stored.doc);
  const result = applyPatch(rs, existing, operations, { ...options?.apply, membersAsChanges: true });
  const validated = validateResource(rs, result.document, { mode: 'patch', existing, ...(options?.ignored && { ignored: options.ignored }) });
  const { doc } = splitDocument(kind, validated);
  const delta = yield* applyMemberChanges(ctx, orgId, String(id), result.memberChanges);
  const change: ResourceChange = { attributes: changedAttributes(existing, doc), membersAdded: delta.added, membersRemoved: delta.removed };
  return yield* finishWrite(ctx, orgId, kind, id, stored, existing, doc, change, options);
}

/** The stored password hash of a User, if any: what a write that carries a password compares it with. */
export function* storedPassword(_ctx: OpContext, orgId: string, id: string): Op<string | undefined> {
  const row = yield* first(sql`SELECT doc FROM resources WHERE org_id = ${orgId} AND id = ${String(id)} AND kind = 'User'`);
  const password = row ? parseJson(row.doc).password : undefined;
  return isPasswordHash(password) ? password : undefined;
}

/**
 * Deletes a resource. Its memberships go with it through ON DELETE CASCADE, in this transaction. Events: a
 * `group.member_removed` for each group the resource was a member of, then `user.deleted` or `group.deleted`.
 * A deleted group's own members get no events of their own: `group.deleted` means all of them are gone.
 */
export function* deleteResource(ctx: OpContext, orgId: string, kind: ResourceKind, id: string, options?: DeleteOptions): Op<void> {
  const expectedVersion = checkExpectedVersion(options?.expectedVersion);
  yield* lockRoles(ctx, orgId);
  // Locked first (PostgreSQL), so no membership can be added between reading the parents and the delete.
  const stored = yield* lockStored(ctx, orgId, kind, id, expectedVersion);
  // Those whose roles came (also) through this group are recomputed once it is gone (a user's go with it).
  const losing = kind === 'Group' ? yield* usersLosingGroup(ctx, orgId, String(id)) : [];
  const parents = yield* rows<{ group_id: string; display: string | null }>(
    sql`SELECT m.group_id, g.display FROM memberships m JOIN resources g ON g.org_id = m.org_id AND g.id = m.group_id
      WHERE m.org_id = ${orgId} AND m.member_id = ${String(id)} ORDER BY m.group_id`,
  );
  const deleted = yield* exec(sql`DELETE FROM resources WHERE org_id = ${orgId} AND id = ${String(id)} AND kind = ${kind}`);
  ctx.changed?.(orgId, kind === 'Group' ? null : [String(id)]);
  // The row is locked by this transaction, so the delete cannot miss it.
  if (deleted === 0) throw notFound(kind, id);
  yield* addToCount(orgId, kind, -1);
  // A token bound to this User (/Me) would act as no one from now on: it goes with its User, revoked as by
  // `tokens revoke` (listed as revoked, refused with 401). Ids are never reused, so it could never come back.
  if (kind === 'User') yield* exec(sql`UPDATE api_tokens SET revoked = ${ctx.now()} WHERE org_id = ${orgId} AND user_id = ${String(id)} AND revoked IS NULL`);
  const doc = parseJson(stored.doc);
  const member: MemberOfEvent = { type: kind, value: String(id), display: stored.display === null ? null : String(stored.display) };
  const events = parents.map((p) => membershipEvent('group.member_removed', { id: String(p.group_id), displayName: p.display === null ? null : String(p.display) }, member));
  events.push({ type: kind === 'User' ? 'user.deleted' : 'group.deleted', resourceId: String(id), data: eventResource(kind, toResource(stored, doc), doc, options) });
  events.push(...(yield* recomputeUsers(ctx, orgId, losing)));
  yield* emit(ctx, orgId, ctx.now(), events);
}

export { RESOURCE_COLUMNS, parseJson, toResource };
