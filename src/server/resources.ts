/**
 * The resource service: every Users/Groups operation of the HTTP API, shared by the routes and by `/Bulk`.
 *
 * API (all functions are async and throw ScimError values: 400 for bad input, 404, 409 uniqueness, 412):
 *
 *   interface ResourceContext { store; org; baseUrl; compat; schemas; maxStartIndex?; maxPageBytes?; log? }
 *     baseUrl is the organization's SCIM base without a trailing slash, e.g.
 *     `http://127.0.0.1:8080/scim/v2/organizations/<orgId>`; `meta.location` and `$ref` values are built from it.
 *     compat is the organization's IdP compatibility switches (org.settings.compat); schemas its schema set (the
 *     built-in schemas, its declared extensions and its unknown-attribute policy, see schemas.ts).
 *
 *   createResource(ctx, kind, body, view?)                    -> ServedResource   (POST)
 *   getResource(ctx, kind, id, view?)                         -> ServedResource   (GET by id; 404 when absent)
 *   replaceResource(ctx, kind, id, body, precondition?, view?) -> ServedResource  (PUT)
 *   patchResource(ctx, kind, id, body, precondition?, view?)  -> ServedResource   (PATCH; body is a PatchOp message)
 *   deleteResource(ctx, kind, id, precondition?)              -> void             (DELETE)
 *   listResources(ctx, kind, query: ListQuery)                -> ListResponse as UTF-8 JSON (GET list, POST .search;
 *                                                                400 tooMany for startIndex past ctx.maxStartIndex)
 *   searchAll(ctx, query: ListQuery)                          -> ListResponse as UTF-8 JSON (root POST /.search)
 *
 *   `view` holds the request's `attributes` / `excludedAttributes`; the membership relation (a Group's members,
 *   a User's groups) is loaded only when the view returns it. `returned: never` attributes (password) are never
 *   in a ServedResource. `precondition` is a parsed If-Match header (see etag.ts); the version check runs inside
 *   the store's write, so it is atomic.
 */
import { ScimError } from '../scim/errors.ts';
import { checkFilterAttributes, parseAttrPath, resolveFilterPath } from '../scim/filter/index.ts';
import type { Filter } from '../scim/filter/ast.ts';
import type { ListQuery } from '../scim/list.ts';
import { listResponseBytes } from '../scim/list.ts';
import { normalizeResourceBody, parsePatchRequest, patchApplyOptions } from '../scim/patch/index.ts';
import { Projection, needsRelations } from '../scim/projection.ts';
import type { ProjectionCache, ProjectionOptions } from '../scim/projection.ts';
import type { SchemaSet } from '../scim/schema/declare.ts';
import type { ResourceSchema } from '../scim/schema/registry.ts';
import { isPlainObject, validateResource } from '../scim/validate.ts';
import type { Organization, QueryResult, ResourceKind, Store, StoredResource } from '../store/types.ts';
import { conditionMatches, formatEtag, versionTag } from './etag.ts';
import type { EtagCondition, RelationEntry } from './etag.ts';

export interface ResourceContext {
  readonly store: Store;
  readonly org: Organization;
  /** The organization's SCIM base URL, without a trailing slash. */
  readonly baseUrl: string;
  readonly compat: Readonly<Record<string, boolean>>;
  /** The organization's schemas: every request validates, filters, patches and projects with them. */
  readonly schemas: SchemaSet;
  /** Where attributes dropped by the `ignore` unknown-attribute policy are reported. */
  readonly log?: { warn(details: object, message: string): void };
  /**
   * Index paging (startIndex) goes no deeper than this into a result set (400 tooMany past it, pointing to cursor
   * paging), since every skipped row costs the database work. Unlimited when absent.
   */
  readonly maxStartIndex?: number;
  /**
   * Most bytes of stored JSON a list or search page holds: past it the page ends early (itemsPerPage and nextCursor
   * say where the next one starts), so that no request makes the process hold `count` resources of the largest size.
   * Unbounded when absent.
   */
  readonly maxPageBytes?: number;
  /** The server instance's resolved projections; without it every request resolves its own. */
  readonly projections?: ProjectionCache;
  /** The server instance's serialized representations of unchanging resources; without it each is serialized anew. */
  readonly renderings?: RenderingCache;
}

/** A resource as the API serves it. */
export interface ServedResource {
  readonly id: string;
  readonly kind: ResourceKind;
  /** `W/"<version>"`, or `W/"<version>.<relations digest>"` when it lists relations (etag.ts): the ETag header and meta.version. */
  readonly etag: string;
  /** meta.location: baseUrl + /Users/<id> or /Groups/<id>. */
  readonly location: string;
  /** The SCIM representation (schemas, id, attributes, meta), projected through the request's view, as JSON text or UTF-8 bytes. */
  readonly body: string | Buffer;
}

/** The `attributes` / `excludedAttributes` of a request. */
export type ResourceView = ProjectionOptions;

const DEFAULT_VIEW: ResourceView = {};

/** How many times a write without If-Match retries when a concurrent write changed the resource under it (each round, one of the racing writers wins). */
const UNCONDITIONAL_RETRIES = 25;

export function schemaFor(ctx: ResourceContext, kind: ResourceKind): ResourceSchema {
  return kind === 'User' ? ctx.schemas.user : ctx.schemas.group;
}

/** Logs what the `ignore` policy dropped from a request, so that an administrator can see it and declare a schema. */
function reportIgnored(ctx: ResourceContext, kind: ResourceKind, ignored: readonly string[]): void {
  if (ignored.length > 0) ctx.log?.warn({ org: ctx.org.id, resourceType: kind, ignoredAttributes: ignored }, 'unknown attributes ignored');
}

export function endpointFor(kind: ResourceKind): string {
  return kind === 'User' ? 'Users' : 'Groups';
}

export function resourceLocation(ctx: ResourceContext, kind: ResourceKind, id: string): string {
  return `${ctx.baseUrl}/${endpointFor(kind)}/${encodeURIComponent(id)}`;
}

function notFound(kind: ResourceKind, id: string): ScimError {
  return ScimError.notFound(`${kind} ${JSON.stringify(id)} not found`);
}

/** Adds `$ref` to membership entries, which the store keeps as ids only. */
function withRefs(ctx: ResourceContext, entries: unknown, defaultType: ResourceKind): unknown {
  if (!Array.isArray(entries)) return entries;
  return entries.map((entry) => {
    if (!isPlainObject(entry) || typeof entry.value !== 'string') return entry;
    const type: ResourceKind = entry.type === 'Group' ? 'Group' : entry.type === 'User' ? 'User' : defaultType;
    return { ...entry, $ref: resourceLocation(ctx, type, entry.value) };
  });
}

/** The resource's ETag and meta.version: its version and, when they were loaded, its relations (see etag.ts). */
function etagOf(ctx: ResourceContext, stored: StoredResource): string {
  const relations = stored.document[stored.resourceType === 'User' ? 'groups' : 'members'];
  if (!Array.isArray(relations) || relations.length === 0) return formatEtag(stored.version);
  return ctx.renderings ? ctx.renderings.etag(stored, relations as RelationEntry[]) : formatEtag(stored.version, relations as RelationEntry[]);
}

/** The full SCIM representation of a stored resource (before projection). */
export function representation(ctx: ResourceContext, stored: StoredResource, etag: string = etagOf(ctx, stored)): Record<string, unknown> {
  const rs = schemaFor(ctx, stored.resourceType);
  const { schemas, ...attributes } = stored.document;
  const out: Record<string, unknown> = { schemas: Array.isArray(schemas) ? schemas : [rs.core.id], id: stored.id, ...attributes };
  if (stored.resourceType === 'Group' && 'members' in out) out.members = withRefs(ctx, out.members, 'User');
  if (stored.resourceType === 'User' && 'groups' in out) out.groups = withRefs(ctx, out.groups, 'Group');
  out.meta = {
    resourceType: stored.resourceType,
    created: stored.created,
    lastModified: stored.lastModified,
    location: resourceLocation(ctx, stored.resourceType, stored.id),
    version: etag,
  };
  return out;
}

function projectionFor(ctx: ResourceContext, rs: ResourceSchema, view: ResourceView): Projection {
  return ctx.projections ? ctx.projections.get(rs, view) : new Projection(rs, view);
}

/** Projects a stored resource through the request's view. */
function present(ctx: ResourceContext, stored: StoredResource, projection: Projection, etag?: string): Record<string, unknown> {
  return projection.apply(representation(ctx, stored, etag));
}

interface Rendering {
  readonly projection: Projection;
  readonly baseUrl: string;
  readonly bytes: Buffer;
}

/**
 * The UTF-8 JSON and ETag of resources the store hands out frozen (its cached Users): such an object never changes,
 * and the store hands out a new one once the resource changes, so its bytes for a view and base URL, and its tag, can
 * be kept with it. A repeated GET then skips building, projecting, serializing and encoding the representation, and
 * digesting its relations.
 */
export class RenderingCache {
  private readonly byResource = new WeakMap<StoredResource, Rendering[]>();
  private readonly etags = new WeakMap<StoredResource, string>();
  /** Views kept per resource; a client asking for many views of one resource only recycles these. */
  private static readonly VIEWS_PER_RESOURCE = 4;

  get(stored: StoredResource, projection: Projection, baseUrl: string): Buffer | undefined {
    const renderings = this.byResource.get(stored);
    if (renderings === undefined) return undefined;
    for (const r of renderings) if (r.projection === projection && r.baseUrl === baseUrl) return r.bytes;
    return undefined;
  }

  /** A resource's ETag over the relations it lists, computed once for a frozen one. */
  etag(stored: StoredResource, relations: readonly RelationEntry[]): string {
    let tag = this.etags.get(stored);
    if (tag === undefined) {
      tag = formatEtag(stored.version, relations);
      if (Object.isFrozen(stored)) this.etags.set(stored, tag);
    }
    return tag;
  }

  /** Keeps the bytes of a frozen resource's view and returns them. */
  keep(stored: StoredResource, projection: Projection, baseUrl: string, bytes: Buffer): Buffer {
    let renderings = this.byResource.get(stored);
    if (!renderings) this.byResource.set(stored, (renderings = []));
    if (renderings.length >= RenderingCache.VIEWS_PER_RESOURCE) renderings.shift();
    renderings.push({ projection, baseUrl, bytes });
    return bytes;
  }
}

function toJson(ctx: ResourceContext, stored: StoredResource, projection: Projection, etag?: string): string {
  return JSON.stringify(present(ctx, stored, projection, etag));
}

/**
 * A stored resource's projected representation as JSON: UTF-8 bytes kept with a resource that never changes (see
 * RenderingCache), else text, encoded once with the rest of the response.
 */
function rendered(ctx: ResourceContext, stored: StoredResource, projection: Projection, etag?: string): string | Buffer {
  const cache = ctx.renderings;
  if (cache === undefined || !Object.isFrozen(stored)) return toJson(ctx, stored, projection, etag);
  return cache.get(stored, projection, ctx.baseUrl) ?? cache.keep(stored, projection, ctx.baseUrl, Buffer.from(toJson(ctx, stored, projection, etag)));
}

function serve(ctx: ResourceContext, stored: StoredResource, projection: Projection): ServedResource {
  let body: string | Buffer | undefined;
  const etag = etagOf(ctx, stored);
  return {
    id: stored.id,
    kind: stored.resourceType,
    etag,
    location: resourceLocation(ctx, stored.resourceType, stored.id),
    // Built when first read: a 204 PATCH answer and a Bulk result never send it.
    get body() {
      body ??= rendered(ctx, stored, projection, etag);
      return body;
    },
  };
}

/** Applies the organization's IdP compatibility normalizers to a POST/PUT body before validation. */
function normalized(ctx: ResourceContext, rs: ResourceSchema, body: unknown): unknown {
  return normalizeResourceBody(body, rs, ctx.compat);
}

export async function createResource(ctx: ResourceContext, kind: ResourceKind, body: unknown, view: ResourceView = DEFAULT_VIEW): Promise<ServedResource> {
  const rs = schemaFor(ctx, kind);
  const projection = projectionFor(ctx, rs, view);
  const ignored: string[] = [];
  const document = validateResource(rs, normalized(ctx, rs, body), { mode: 'create', ignored });
  reportIgnored(ctx, kind, ignored);
  const stored = await ctx.store.create(ctx.org.id, kind, document, { relations: needsRelations(rs, projection), baseUrl: ctx.baseUrl, schema: rs });
  return serve(ctx, stored, projection);
}

export async function getResource(ctx: ResourceContext, kind: ResourceKind, id: string, view: ResourceView = DEFAULT_VIEW): Promise<ServedResource> {
  const rs = schemaFor(ctx, kind);
  const projection = projectionFor(ctx, rs, view);
  const stored = await ctx.store.get(ctx.org.id, kind, id, { relations: needsRelations(rs, projection) });
  if (!stored) throw notFound(kind, id);
  return serve(ctx, stored, projection);
}

/** The stored version of a resource, without its relations (for preconditions); 404 when absent. */
async function currentVersion(ctx: ResourceContext, kind: ResourceKind, id: string): Promise<StoredResource> {
  const stored = await ctx.store.get(ctx.org.id, kind, id, { relations: false });
  if (!stored) throw notFound(kind, id);
  return stored;
}

/**
 * The version to hand the store for an If-Match header: a single listed version goes straight to the store's
 * atomic check; `*` or several versions are checked against the current version, which then guards the write.
 */
async function expectedVersionFor(ctx: ResourceContext, kind: ResourceKind, id: string, precondition: EtagCondition | null): Promise<number | undefined> {
  if (!precondition) return undefined;
  if (!precondition.any && precondition.versions.size === 1) return [...precondition.versions][0];
  const current = await currentVersion(ctx, kind, id);
  if (!conditionMatches(precondition, current.version)) throw preconditionFailed(kind, id);
  return current.version;
}

function preconditionFailed(kind: ResourceKind, id: string): ScimError {
  return ScimError.preconditionFailed(`${kind} ${JSON.stringify(id)} has changed: its version does not match If-Match`);
}

function isPreconditionFailure(err: unknown): boolean {
  return err instanceof ScimError && err.status === 412;
}

export async function replaceResource(
  ctx: ResourceContext,
  kind: ResourceKind,
  id: string,
  body: unknown,
  precondition: EtagCondition | null = null,
  view: ResourceView = DEFAULT_VIEW,
): Promise<ServedResource> {
  const rs = schemaFor(ctx, kind);
  const projection = projectionFor(ctx, rs, view);
  const input = normalized(ctx, rs, body);
  for (let attempt = 0; ; attempt++) {
    // Immutability is checked against the stored document, so the write is guarded by the version that was read.
    const existing = await currentVersion(ctx, kind, id);
    if (precondition && !conditionMatches(precondition, existing.version)) throw preconditionFailed(kind, id);
    const ignored: string[] = [];
    const document = validateResource(rs, input, { mode: 'replace', existing: existing.document, ignored });
    reportIgnored(ctx, kind, ignored);
    try {
      const stored = await ctx.store.replace(ctx.org.id, kind, id, document, {
        expectedVersion: existing.version,
        relations: needsRelations(rs, projection),
        baseUrl: ctx.baseUrl,
        schema: rs,
      });
      return serve(ctx, stored, projection);
    } catch (err) {
      // Without If-Match the client asked for no precondition: a concurrent change only means "read again".
      if (precondition || !isPreconditionFailure(err) || attempt >= UNCONDITIONAL_RETRIES) throw err;
    }
  }
}

export async function patchResource(
  ctx: ResourceContext,
  kind: ResourceKind,
  id: string,
  body: unknown,
  precondition: EtagCondition | null = null,
  view: ResourceView = DEFAULT_VIEW,
): Promise<ServedResource> {
  const rs = schemaFor(ctx, kind);
  const projection = projectionFor(ctx, rs, view);
  const ignored: string[] = [];
  const operations = parsePatchRequest(body, rs, ctx.compat, ignored);
  const expectedVersion = await expectedVersionFor(ctx, kind, id, precondition);
  const stored = await ctx.store.patch(ctx.org.id, kind, id, operations, {
    expectedVersion,
    relations: needsRelations(rs, projection),
    apply: patchApplyOptions(ctx.compat),
    schema: rs,
    ignored,
    baseUrl: ctx.baseUrl,
  });
  reportIgnored(ctx, kind, ignored);
  return serve(ctx, stored, projection);
}

export async function deleteResource(ctx: ResourceContext, kind: ResourceKind, id: string, precondition: EtagCondition | null = null): Promise<void> {
  const expectedVersion = await expectedVersionFor(ctx, kind, id, precondition);
  const events = { baseUrl: ctx.baseUrl, schema: schemaFor(ctx, kind) };
  await ctx.store.delete(ctx.org.id, kind, id, expectedVersion === undefined ? events : { expectedVersion, ...events });
}

/** Checks the filter against the resource type (400 invalidFilter for unknown attributes). */
function checkQuery(rs: ResourceSchema, query: ListQuery): void {
  if (query.filter) checkFilterAttributes(query.filter, rs);
}

/**
 * A `meta.version` comparison names a tag the server served, which may carry a relations digest (see etag.ts); the
 * store knows the version alone, and the digest names nothing more about the resource's own writes.
 */
function withVersionTags(filter: Filter, rs: ResourceSchema): Filter {
  switch (filter.kind) {
    case 'and':
    case 'or':
      return { ...filter, left: withVersionTags(filter.left, rs), right: withVersionTags(filter.right, rs) };
    case 'not':
      return { ...filter, filter: withVersionTags(filter.filter, rs) };
    case 'compare': {
      if (typeof filter.value !== 'string' || filter.path.sub?.toLowerCase() !== 'version') return filter;
      const resolved = resolveFilterPath(filter.path, rs);
      if (resolved?.attribute.name !== 'meta' || resolved.subAttribute?.name !== 'version') return filter;
      return { ...filter, value: versionTag(filter.value) };
    }
    default:
      return filter;
  }
}

function queryKind(
  ctx: ResourceContext,
  kind: ResourceKind,
  query: ListQuery,
  overrides: { startIndex?: number; count?: number; cursor?: string; maxBytes?: number },
): Promise<QueryResult> {
  const rs = schemaFor(ctx, kind);
  const cursor = 'cursor' in overrides ? overrides.cursor : query.cursor;
  return ctx.store.query(ctx.org.id, kind, {
    filter: query.filter && withVersionTags(query.filter, rs),
    sortBy: query.sortBy,
    sortOrder: query.sortOrder,
    count: overrides.count ?? query.count,
    ...(cursor !== undefined ? { cursor } : { startIndex: overrides.startIndex ?? query.startIndex }),
    ...(ctx.maxPageBytes !== undefined ? { maxBytes: overrides.maxBytes ?? ctx.maxPageBytes } : {}),
    relations: needsRelations(rs, projectionFor(ctx, rs, query)),
    schema: rs,
  });
}

/** Whether index paging reaches past maxStartIndex: only such pages pay for checkDepth's count. */
function isDeep(ctx: ResourceContext, query: ListQuery): boolean {
  return query.cursor === undefined && ctx.maxStartIndex !== undefined && query.startIndex > ctx.maxStartIndex;
}

/**
 * RFC 7644 tooMany: a startIndex past maxStartIndex is refused when the result set really is that deep; past its
 * end the page is simply empty.
 */
async function checkDepth(ctx: ResourceContext, searches: readonly KindQuery[], query: ListQuery): Promise<void> {
  let total = 0;
  for (const { kind, query: own } of searches) total += (await queryKind(ctx, kind, own, { startIndex: 1, count: 0 })).totalResults;
  if (total >= query.startIndex) {
    throw ScimError.tooMany(
      `The filter yields ${total} results; index paging stops at startIndex ${ctx.maxStartIndex}. Narrow the filter or page with cursors (cursor=)`,
    );
  }
}

/** One resource type of a search, with the query as that type runs it. */
interface KindQuery {
  readonly kind: ResourceKind;
  readonly query: ListQuery;
}

export async function listResources(ctx: ResourceContext, kind: ResourceKind, query: ListQuery): Promise<Buffer> {
  const rs = schemaFor(ctx, kind);
  checkQuery(rs, query);
  if (isDeep(ctx, query)) await checkDepth(ctx, [{ kind, query }], query);
  const result = await queryKind(ctx, kind, query, {});
  const projection = projectionFor(ctx, rs, query);
  const resources = result.resources.map((stored) => rendered(ctx, stored, projection));
  return listResponseBytes(resources, {
    totalResults: result.totalResults,
    ...(query.cursor === undefined ? { startIndex: query.startIndex } : {}),
    itemsPerPage: resources.length,
    ...(result.nextCursor !== undefined ? { nextCursor: result.nextCursor } : {}),
    ...(result.previousCursor !== undefined ? { previousCursor: result.previousCursor } : {}),
  });
}

const ALL_KINDS: readonly ResourceKind[] = ['User', 'Group'];

/** Root cursors name the resource type they continue: `U.<store cursor>` or `G.<store cursor>`. */
function encodeRootCursor(kind: ResourceKind, cursor: string): string {
  return `${kind === 'User' ? 'U' : 'G'}.${cursor}`;
}

function decodeRootCursor(cursor: string): { kind: ResourceKind; cursor: string } {
  if (cursor === '') return { kind: 'User', cursor: '' };
  const tag = cursor.slice(0, 2);
  if (tag === 'U.') return { kind: 'User', cursor: cursor.slice(2) };
  if (tag === 'G.') return { kind: 'Group', cursor: cursor.slice(2) };
  throw ScimError.invalidValue('The cursor is not valid for this search');
}

/**
 * The filter's comparisons, each naming one attribute (with its value filter, if any): what `not`, `and` and `or`
 * combine.
 */
function filterLeaves(filter: Filter): Filter[] {
  if (filter.kind === 'and' || filter.kind === 'or') return [...filterLeaves(filter.left), ...filterLeaves(filter.right)];
  if (filter.kind === 'not') return filterLeaves(filter.filter);
  return [filter];
}

/**
 * Root search filters span resource types. RFC 7644 section 3.4.2.1: an attribute a type lacks is treated as having
 * no value there, so `userName eq "x" or displayName eq "y"` can match Groups. Each comparison must still make
 * sense for at least one type (an attribute no type has is 400 invalidFilter, as on /Users).
 */
function checkRootFilter(ctx: ResourceContext, filter: Filter): void {
  for (const leaf of filterLeaves(filter)) {
    const errors: unknown[] = [];
    for (const kind of ALL_KINDS) {
      try {
        checkFilterAttributes(leaf, schemaFor(ctx, kind));
      } catch (err) {
        errors.push(err);
      }
    }
    if (errors.length === ALL_KINDS.length) throw errors[0];
  }
}

/**
 * The searches of a root query, one per type. A type that lacks the sortBy attribute has no value to sort by
 * there: it lists in its default order (the sortBy must name an attribute of some type).
 */
function rootSearches(ctx: ResourceContext, query: ListQuery): KindQuery[] {
  if (query.filter) checkRootFilter(ctx, query.filter);
  const sortBy = query.sortBy;
  if (sortBy === undefined) return ALL_KINDS.map((kind) => ({ kind, query }));
  const path = parseAttrPath(sortBy);
  const searches = ALL_KINDS.map((kind) => ({ kind, query: resolveFilterPath(path, schemaFor(ctx, kind)) ? query : { ...query, sortBy: undefined } }));
  if (searches.every((s) => s.query.sortBy === undefined)) throw ScimError.invalidValue(`sortBy names unknown attribute "${sortBy}"`);
  return searches;
}

/**
 * Root `POST /.search` across Users and Groups (RFC 7644 section 3.4.3). Results list every matching User before
 * any Group, each type in the requested order; totalResults is the sum, and paging runs over that concatenation
 * (startIndex/count, or cursors that carry the type they continue).
 */
export async function searchAll(ctx: ResourceContext, query: ListQuery): Promise<Buffer> {
  const searches = rootSearches(ctx, query);
  if (isDeep(ctx, query)) await checkDepth(ctx, searches, query);

  const resources: (string | Buffer)[] = [];
  // What the page holds so far, against ctx.maxPageBytes: a type after one that filled it adds nothing.
  let bytes = 0;
  const add = (result: QueryResult, kind: ResourceKind) => {
    const projection = projectionFor(ctx, schemaFor(ctx, kind), query);
    for (const stored of result.resources) {
      const one = rendered(ctx, stored, projection);
      bytes += one.length;
      resources.push(one);
    }
  };
  const full = () => resources.length >= query.count || (ctx.maxPageBytes !== undefined && bytes >= ctx.maxPageBytes);
  const bytesLeft = () => (ctx.maxPageBytes === undefined ? undefined : ctx.maxPageBytes - bytes);

  let totalResults = 0;
  let nextCursor: string | undefined;
  if (query.cursor !== undefined) {
    const position = decodeRootCursor(query.cursor);
    const start = searches.findIndex((s) => s.kind === position.kind);
    if (start < 0) throw ScimError.invalidValue('The cursor is not valid for this search');
    for (let i = 0; i < searches.length; i++) {
      const { kind, query: own } = searches[i];
      const remaining = query.count - resources.length;
      if (i < start || full() || nextCursor !== undefined) {
        // Types before or after the current page still count towards totalResults.
        totalResults += (await queryKind(ctx, kind, own, { count: 0, startIndex: 1, cursor: undefined })).totalResults;
        continue;
      }
      const result = await queryKind(ctx, kind, own, { count: remaining, cursor: i === start ? position.cursor : '', maxBytes: bytesLeft() });
      totalResults += result.totalResults;
      add(result, kind);
      if (result.nextCursor !== undefined) nextCursor = encodeRootCursor(kind, result.nextCursor);
      else if (i + 1 < searches.length && full()) nextCursor = encodeRootCursor(searches[i + 1].kind, '');
    }
    return listResponseBytes(resources, { totalResults, itemsPerPage: resources.length, ...(nextCursor !== undefined ? { nextCursor } : {}) });
  }

  // startIndex is 1-based over the concatenation; `skip` is how many of it lie before the page. Once a type's part
  // of the page ends before that type's rows do (the byte budget), the next type adds nothing: the next page starts
  // at startIndex + itemsPerPage, inside the earlier type.
  let skip = query.startIndex - 1;
  let cut = false;
  for (const { kind, query: own } of searches) {
    const remaining: number = cut || full() ? 0 : query.count - resources.length;
    const result = await queryKind(ctx, kind, own, { startIndex: skip + 1, count: remaining, maxBytes: bytesLeft() });
    totalResults += result.totalResults;
    if (remaining > 0) {
      add(result, kind);
      cut = result.resources.length < Math.min(remaining, Math.max(0, result.totalResults - skip));
    }
    skip = Math.max(0, skip - result.totalResults);
  }
  return listResponseBytes(resources, { totalResults, startIndex: query.startIndex, itemsPerPage: resources.length });
}
