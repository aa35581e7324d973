/**
 * Response projection: the `attributes` and `excludedAttributes` parameters (RFC 7644 section 3.4.2.5) combined with
 * each attribute's `returned` characteristic (RFC 7643 section 7). Names match case-insensitively; paths naming
 * nothing in the schema are ignored, as the RFC asks of servers.
 */
import { ScimError } from './errors.ts';
import { parseAttrPath } from './filter/index.ts';
import { COMMON_ATTRIBUTES, GROUP_SCHEMA, USER_SCHEMA } from './schema/core.ts';
import { findAttribute, findExtension, isCoreUrn, resolveAttribute, splitUrn } from './schema/registry.ts';
import type { ResourceSchema } from './schema/registry.ts';
import type { AttributeDefinition } from './schema/types.ts';
import { isPlainObject } from './json.ts';

export interface ProjectionOptions {
  readonly attributes?: readonly string[];
  readonly excludedAttributes?: readonly string[];
}

/**
 * Splits an `attributes`/`excludedAttributes` value (comma separated; an array when repeated or sent in a
 * SearchRequest body) into trimmed paths, checking the syntax of each.
 */
export function parseAttributeList(param: string | string[] | undefined): string[] {
  if (param === undefined) return [];
  const parts = Array.isArray(param) ? param : [param];
  const paths: string[] = [];
  for (const part of parts) {
    if (typeof part !== 'string') throw ScimError.invalidValue('Attribute lists must contain strings');
    for (const raw of part.split(',')) {
      const path = raw.trim();
      if (path === '') continue;
      try {
        parseAttrPath(path);
      } catch (err) {
        if (!(err instanceof ScimError)) throw err;
        // RFC 7644 section 3.9 allows attribute names only; a value filter here is a decision, not an oversight
        // (docs/compatibility.md): say what to do instead.
        const hint = path.includes('[') ? ' (attributes takes attribute names, RFC 7644 section 3.9; select values with filter= instead)' : '';
        throw ScimError.invalidValue(`Invalid attribute path "${path}": ${err.message}${hint}`);
        throw err;
      }
      paths.push(path);
    }
  }
  return paths;
}

/** A resolved path: `scope` is the extension URN (null for core and common attributes); null `attr` names the whole scope. */
interface Named {
  readonly scope: string | null;
  readonly attr: string | null;
  readonly sub: string | null;
}

function key(scope: string | null, attr: string | null, sub: string | null): string {
  // NUL cannot occur in resolved canonical names, so keys never collide.
  return `${scope ?? ''}\u0000${attr ?? ''}\u0000${sub ?? ''}`;
}

function resolveNamed(rs: ResourceSchema, path: string): Named | undefined {
  const { urn, rest } = splitUrn(rs, path);
  if (urn !== null && !isCoreUrn(rs, urn) && !findExtension(rs, urn)) return undefined;
  const scope = urn === null || isCoreUrn(rs, urn) ? null : (findExtension(rs, urn)?.id ?? null);
  if (rest === '') return { scope, attr: null, sub: null };
  const dot = rest.indexOf('.');
  const resolved = resolveAttribute(rs, urn, dot < 0 ? rest : rest.slice(0, dot), dot < 0 ? null : rest.slice(dot + 1));
  if (!resolved) return undefined;
  return { scope, attr: resolved.attribute.name, sub: resolved.subAttribute?.name ?? null };
}

/** How much of an attribute is returned: nothing, its sub-attributes by `returned`, or only the named ones. */
type Inclusion = 'none' | 'full' | 'named';

/** One returned attribute: its canonical name and, for a complex attribute, the returned sub-attributes. */
interface PlannedAttribute {
  readonly name: string;
  readonly multiValued: boolean;
  readonly subs: readonly string[] | null;
  /** Set when members no sub-attribute defines are returned too (`unknownAttributes: keep`): the defined names, lower-cased. */
  readonly unknownSubs?: ReadonlySet<string>;
}

/** The resolved `attributes` and `excludedAttributes` of one request. */
class Selection {
  /** null when no `attributes` were given (the default set applies). */
  private readonly include: Set<string> | null;
  private readonly exclude = new Set<string>();

  constructor(rs: ResourceSchema, options: ProjectionOptions) {
    const attributes = options.attributes ?? [];
    const include = attributes.length > 0 ? new Set<string>() : null;
    for (const path of attributes) {
      const named = resolveNamed(rs, path);
      if (!named || !include) continue;
      include.add(key(named.scope, named.attr, named.sub));
      // Marks the parent so that naming `name.givenName` brings `name` with only that sub-attribute.
      if (named.sub !== null) include.add(key(named.scope, named.attr, '*'));
    }
    this.include = include;
    for (const path of options.excludedAttributes ?? []) {
      const named = resolveNamed(rs, path);
      if (named) this.exclude.add(key(named.scope, named.attr, named.sub));
    }
  }

  private inclusion(scope: string | null, def: AttributeDefinition): Inclusion {
    if (def.returned === 'never') return 'none';
    if (def.returned === 'always') return 'full';
    if (this.exclude.has(key(scope, null, null)) || this.exclude.has(key(scope, def.name, null))) return 'none';
    if (this.include === null) return def.returned === 'default' ? 'full' : 'none';
    if (this.include.has(key(scope, def.name, null))) return 'full';
    if (def.returned === 'default' && this.include.has(key(scope, null, null))) return 'full';
    if (this.include.has(key(scope, def.name, '*'))) return 'named';
    return 'none';
  }

  private subIncluded(scope: string | null, parent: AttributeDefinition, sub: AttributeDefinition, inclusion: Inclusion): boolean {
    if (sub.returned === 'never') return false;
    if (sub.returned === 'always') return true;
    if (this.exclude.has(key(scope, parent.name, sub.name))) return false;
    const named = this.include?.has(key(scope, parent.name, sub.name)) ?? false;
    if (inclusion === 'named' || sub.returned === 'request') return named;
    return true;
  }

  /** Whether members no schema defines are returned: kept ones (see copyUnknown) come with the default view only. */
  get returnsUnknown(): boolean {
    return this.include === null;
  }

  /** The returned attributes among `defs`, in schema order; `keepUnknown` returns undefined sub-attributes too. */
  plan(scope: string | null, defs: readonly AttributeDefinition[], keepUnknown: boolean): PlannedAttribute[] {
    const planned: PlannedAttribute[] = [];
    for (const def of defs) {
      const inclusion = this.inclusion(scope, def);
      if (inclusion === 'none') continue;
      if (def.type !== 'complex') {
        planned.push({ name: def.name, multiValued: def.multiValued, subs: null });
        continue;
      }
      const subs = (def.subAttributes ?? []).filter((sub) => this.subIncluded(scope, def, sub, inclusion)).map((sub) => sub.name);
      const unknownSubs = keepUnknown && inclusion === 'full' ? new Set((def.subAttributes ?? []).map((sub) => sub.name.toLowerCase())) : undefined;
      if (subs.length > 0 || unknownSubs) planned.push({ name: def.name, multiValued: def.multiValued, subs, ...(unknownSubs && { unknownSubs }) });
    }
    return planned;
  }
}

/**
 * Copies the members of `source` that no schema defines, for an organization that keeps unknown attributes
 * (`unknownAttributes: keep`): they are returned as they were sent. `known` holds the defined names.
 */
function copyUnknown(source: Record<string, unknown>, known: ReadonlySet<string>, out: Record<string, unknown>): void {
  for (const key of Object.keys(source)) {
    const v = source[key];
    if (!known.has(key.toLowerCase()) && v !== undefined && v !== null) out[key] = v;
  }
}

function projectObject(attribute: PlannedAttribute, value: unknown): Record<string, unknown> | undefined {
  if (!isPlainObject(value)) return undefined;
  const out: Record<string, unknown> = {};
  let empty = true;
  for (const sub of attribute.subs ?? []) {
    const v = value[sub];
    if (v === undefined || v === null) continue;
    out[sub] = Array.isArray(v) ? v.slice() : v;
    empty = false;
  }
  if (attribute.unknownSubs) {
    copyUnknown(value, attribute.unknownSubs, out);
    empty = Object.keys(out).length === 0;
  }
  return empty ? undefined : out;
}

function projectAttributes(plan: readonly PlannedAttribute[], source: Record<string, unknown>, out: Record<string, unknown>): void {
  for (const attribute of plan) {
    const value = source[attribute.name];
    if (value === undefined || value === null) continue;
    if (attribute.subs === null) {
      out[attribute.name] = Array.isArray(value) ? value.slice() : value;
    } else if (attribute.multiValued) {
      if (!Array.isArray(value)) continue;
      const items: Record<string, unknown>[] = [];
      for (const item of value) {
        const projected = projectObject(attribute, item);
        if (projected) items.push(projected);
      }
      if (items.length > 0) out[attribute.name] = items;
    } else {
      const projected = projectObject(attribute, value);
      if (projected) out[attribute.name] = projected;
    }
  }
}

/**
 * The projection of one request, resolved once against the schema into a plan of returned attributes
 * and then applied to every resource of the response.
 */
export class Projection {
  private readonly core: readonly PlannedAttribute[];
  private readonly extensions: ReadonlyArray<{ readonly id: string; readonly plan: readonly PlannedAttribute[]; readonly unknown?: ReadonlySet<string> }>;
  /** `meta`, when returned: written last, after the extensions, where readers look for it. */
  private readonly meta: readonly PlannedAttribute[];
  /** The schema URNs a representation may list; null when it lists whatever it holds (`unknownAttributes: keep`). */
  private readonly urns: ReadonlySet<string> | null;
  /** With `unknownAttributes: keep` and the default view: the names the schemas define at the top level, lower-cased. */
  private readonly unknownTop: ReadonlySet<string> | undefined;

  constructor(rs: ResourceSchema, options: ProjectionOptions) {
    const selection = new Selection(rs, options);
    const keepUnknown = rs.unknownAttributes === 'keep' && selection.returnsUnknown;
    const core = selection.plan(null, [...COMMON_ATTRIBUTES, ...rs.core.attributes], keepUnknown);
    this.core = core.filter((a) => a.name !== 'meta');
    this.meta = core.filter((a) => a.name === 'meta');
    const lowerNames = (defs: readonly AttributeDefinition[]) => new Set(defs.map((d) => d.name.toLowerCase()));
    this.extensions = rs.extensions.map((ext) => ({
      id: ext.id,
      plan: selection.plan(ext.id, ext.attributes, keepUnknown),
      ...(keepUnknown && { unknown: lowerNames(ext.attributes) }),
    }));
    this.urns = rs.unknownAttributes === 'keep' ? null : new Set([rs.core.id, ...rs.extensions.map((ext) => ext.id)]);
    if (keepUnknown) {
      const top = lowerNames([...COMMON_ATTRIBUTES, ...rs.core.attributes]);
      top.add('schemas');
      for (const ext of rs.extensions) top.add(ext.id.toLowerCase());
      this.unknownTop = top;
    }
  }

  /** Whether any part of the core (or common) attribute with this canonical name is returned. */
  returns(name: string): boolean {
    return this.core.some((a) => a.name === name) || this.meta.some((a) => a.name === name);
  }

  /** Returns a new object holding what this projection returns of `resource` (a full SCIM representation). */
  apply(resource: Record<string, unknown>): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    // `schemas` is not a schema attribute; it always describes the resource, without the URNs of data a document keeps
    // for an extension the organization no longer declares.
    const schemas = resource.schemas;
    if (Array.isArray(schemas)) out.schemas = this.urns === null ? schemas.slice() : schemas.filter((urn) => this.urns!.has(urn as string));
    projectAttributes(this.core, resource, out);
    if (this.unknownTop) copyUnknown(resource, this.unknownTop, out);
    for (const ext of this.extensions) {
      const source = resource[ext.id];
      if (!isPlainObject(source) || (ext.plan.length === 0 && !ext.unknown)) continue;
      const projected: Record<string, unknown> = {};
      projectAttributes(ext.plan, source, projected);
      if (ext.unknown) copyUnknown(source, ext.unknown, projected);
      if (Object.keys(projected).length > 0) out[ext.id] = projected;
    }
    projectAttributes(this.meta, resource, out);
    return out;
  }
}

/**
 * Projections already resolved, per resource type and view, so that requests asking for the same view share one.
 * Projections never change once built. One cache belongs to one owner (a server instance); it is bounded, since
 * views come from requests.
 */
export class ProjectionCache {
  private readonly bySchema = new WeakMap<ResourceSchema, { plain: Projection; byView: Map<string, Projection> }>();
  private static readonly MAX_VIEWS = 500;

  get(rs: ResourceSchema, options: ProjectionOptions): Projection {
    let cached = this.bySchema.get(rs);
    if (!cached) {
      cached = { plain: new Projection(rs, {}), byView: new Map() };
      this.bySchema.set(rs, cached);
    }
    const attributes = options.attributes ?? [];
    const excluded = options.excludedAttributes ?? [];
    if (attributes.length === 0 && excluded.length === 0) return cached.plain;
    const key = JSON.stringify([attributes, excluded]);
    let projection = cached.byView.get(key);
    if (!projection) {
      projection = new Projection(rs, options);
      if (cached.byView.size >= ProjectionCache.MAX_VIEWS) cached.byView.clear();
      cached.byView.set(key, projection);
    }
    return projection;
  }
}

/** Projects one resource. To project many with the same options, build one `Projection` and call `apply`. */
export function project(rs: ResourceSchema, resource: Record<string, unknown>, options: ProjectionOptions): Record<string, unknown> {
  return new Projection(rs, options).apply(resource);
}

/**
 * The attribute of a resource type that is served from the membership table rather than the stored document:
 * a Group's `members`, a User's `groups`.
 */
export function relationAttribute(rs: ResourceSchema): AttributeDefinition | undefined {
  const core = rs.core.id.toLowerCase();
  if (core === GROUP_SCHEMA.toLowerCase()) return findAttribute(rs.core.attributes, 'members');
  if (core === USER_SCHEMA.toLowerCase()) return findAttribute(rs.core.attributes, 'groups');
  return undefined;
}

/**
 * Whether the projected output includes the membership relation, so the store can skip loading it when false.
 * Takes the options, or the projection already built from them for `rs`.
 */
export function needsRelations(rs: ResourceSchema, options: ProjectionOptions | Projection): boolean {
  const relation = relationAttribute(rs);
  if (relation === undefined) return false;
  return (options instanceof Projection ? options : new Projection(rs, options)).returns(relation.name);
}
