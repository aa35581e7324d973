/**
 * Compiles the filter AST to a SQL predicate over the `resources` row aliased `r`, for either dialect, with the
 * evaluator's semantics (src/scim/filter/evaluate.ts), which a differential test holds both to:
 * strings fold unless caseExact, dateTimes compare as instants, multi-valued attributes match when any value does,
 * `ne` is `not eq`, `pr` means non-empty. Hot attributes read indexed columns; the rest read the JSON document.
 * Group `members` and User `groups` read the memberships table.
 *
 * SQL is three-valued and the filter language is not: a comparison with an absent value yields NULL, which AND, OR
 * and WHERE already treat as false, so only negation needs care and is compiled as `IS NOT TRUE`.
 */
import { ScimError } from '../scim/errors.ts';
import { compileFilter, parseAttrPath, parseScimDateTime, printAttrPath, resolveFilterPath, SCHEMAS_ATTRIBUTE } from '../scim/filter/index.ts';
import type { AttrPath, CompareOp, Filter, FilterValue } from '../scim/filter/ast.ts';
import { findAttribute } from '../scim/schema/registry.ts';
import type { ResolvedAttribute, ResourceSchema } from '../scim/schema/registry.ts';
import type { AttributeDefinition } from '../scim/schema/types.ts';
import { foldCase, raw, sql } from '../sql/index.ts';
import type { JsonDialect, JsonRef, ScalarKind, Sql } from '../sql/index.ts';
import { attributeColumn, fold } from './columns.ts';
import type { AttributeColumn } from './columns.ts';

const TRUE = raw('(1 = 1)');
const FALSE = raw('(1 = 0)');
const STRING_TYPES: ReadonlySet<string> = new Set(['string', 'reference', 'binary']);
const DOC: Sql = raw('r.doc');

/** A single value to compare: SQL of a scalar, already lower-cased when `folded`. */
interface Scalar {
  readonly expr: Sql;
  readonly def: AttributeDefinition;
  readonly folded: boolean;
  /** A stored timestamp column (already in the fixed ISO form), as opposed to a dateTime inside the document. */
  readonly normalizedTime?: boolean;
}

/**
 * Where a filter path's values come from. `any(sub, test)` is true when some value (of sub-attribute `sub`, when
 * given) passes `test`; `present(sub)` is the evaluator's `pr`.
 */
interface Source {
  readonly attribute: AttributeDefinition;
  any(sub: AttributeDefinition | null, test: (value: Scalar) => Sql): Sql;
  present(sub: AttributeDefinition | null): Sql;
  /** The `[...]` of a value path: true when some element passes `inner`. */
  elements(inner: (scope: Scope) => Sql): Sql;
}

/** What unprefixed names inside `[...]` refer to. */
type Scope =
  | { readonly kind: 'resource' }
  | { readonly kind: 'element'; readonly parent: AttributeDefinition; readonly ref: JsonRef }
  /** Sub-attributes kept in columns (a membership row, or `meta`). */
  | { readonly kind: 'fields'; readonly parent: AttributeDefinition; readonly field: (sub: AttributeDefinition) => Source };

/** SQL for the sub-attributes of a membership row aliased by the scope. */
interface MembershipFields {
  readonly value: Sql;
  readonly type: Sql;
  readonly display: Sql;
}

const RESOURCE_SCOPE: Scope = { kind: 'resource' };

function scalarKind(def: AttributeDefinition): ScalarKind {
  if (def.type === 'boolean') return 'boolean';
  if (def.type === 'integer' || def.type === 'decimal') return 'number';
  return 'text';
}

export function escapeLike(text: string): string {
  return text.replace(/[\\%_]/g, (c) => `\\${c}`);
}

/** A NUL, or a surrogate without its pair. */
const UNSTORABLE_CHAR = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

function checkText(value: string, what: string): string {
  // PostgreSQL text cannot hold NUL, drivers turn unpaired surrogates into U+FFFD, and no stored value contains
  // either (writes reject them), so such an operand is refused rather than compared differently per database.
  if (UNSTORABLE_CHAR.test(value)) throw ScimError.invalidFilter(`${what} must not contain NUL characters or unpaired surrogates`);
  return value;
}

/** The fixed-width ISO form of a filter's dateTime operand; the evaluator has already rejected unparsable ones. */
function isoInstant(value: FilterValue): string {
  const millis = typeof value === 'string' ? parseScimDateTime(value) : undefined;
  if (millis === undefined) throw ScimError.invalidFilter(`Expected a dateTime, got ${JSON.stringify(value)}`);
  return new Date(millis).toISOString();
}

const SQL_OPS: Readonly<Record<'eq' | 'gt' | 'ge' | 'lt' | 'le', string>> = { eq: '=', gt: '>', ge: '>=', lt: '<', le: '<=' };

class FilterCompiler {
  private aliases = 0;

  constructor(
    private readonly rs: ResourceSchema,
    private readonly d: JsonDialect,
  ) {}

  private alias(prefix: string): string {
    this.aliases += 1;
    return `${prefix}${this.aliases}`;
  }

  compile(filter: Filter, scope: Scope): Sql {
    switch (filter.kind) {
      case 'and':
        return sql`(${this.compile(filter.left, scope)} AND ${this.compile(filter.right, scope)})`;
      case 'or':
        return sql`(${this.compile(filter.left, scope)} OR ${this.compile(filter.right, scope)})`;
      case 'not':
        return sql`((${this.compile(filter.filter, scope)}) IS NOT TRUE)`;
      case 'present': {
        const found = this.resolve(filter.path, scope);
        return found ? found.source.present(found.sub) : FALSE;
      }
      case 'compare':
        return this.compare(filter.path, filter.op, filter.value, scope);
      case 'valuePath': {
        const found = this.resolve(filter.path, scope);
        return found ? found.source.elements((inner) => this.compile(filter.filter, inner)) : FALSE;
      }
    }
  }

  private compare(path: AttrPath, op: CompareOp, value: FilterValue, scope: Scope): Sql {
    const found = this.resolve(path, scope);
    if (!found) return FALSE;
    let sub = found.sub;
    const def = sub ?? found.source.attribute;
    if (def.type === 'complex') sub = findAttribute(def.subAttributes, 'value') ?? null;
    if (value === null) {
      const present = found.source.present(sub);
      return op === 'ne' ? present : sql`((${present}) IS NOT TRUE)`;
    }
    const matches = found.source.any(sub, (scalar) => this.test(scalar, op === 'ne' ? 'eq' : op, value));
    return op === 'ne' ? sql`((${matches}) IS NOT TRUE)` : matches;
  }

  /** The SQL test of one value against the operand (types were checked by the evaluator's compileFilter). */
  private test(scalar: Scalar, op: Exclude<CompareOp, 'ne'>, value: Exclude<FilterValue, null>): Sql {
    const { def } = scalar;
    if (STRING_TYPES.has(def.type)) {
      const text = checkText(String(value), 'Filter values');
      // A folded column holds fold() of its value, written in JavaScript; anything else is folded in SQL (foldCase).
      const operand = def.caseExact ? text : scalar.folded ? fold(text) : foldCase(text);
      const subject = def.caseExact || scalar.folded ? scalar.expr : this.d.lower(scalar.expr);
      if (op === 'co') return sql`${subject} LIKE ${`%${escapeLike(operand)}%`} ESCAPE '\\'`;
      if (op === 'sw') return sql`${subject} LIKE ${`${escapeLike(operand)}%`} ESCAPE '\\'`;
      if (op === 'ew') return sql`${subject} LIKE ${`%${escapeLike(operand)}`} ESCAPE '\\'`;
      if (op === 'eq') return sql`${subject} = ${operand}`;
      return sql`${this.d.binary(subject)} ${raw(SQL_OPS[op])} ${operand}`;
    }
    if (op === 'co' || op === 'sw' || op === 'ew') return FALSE; // unreachable: rejected by the evaluator's checks
    if (def.type === 'dateTime') {
      const subject = scalar.normalizedTime ? scalar.expr : this.d.dateTime(scalar.expr);
      return sql`${subject} ${raw(SQL_OPS[op])} ${isoInstant(value)}`;
    }
    return sql`${scalar.expr} ${raw(SQL_OPS[op])} ${value}`;
  }

  /** Resolves a path in a scope to its value source and optional sub-attribute; undefined when it names nothing. */
  private resolve(path: AttrPath, scope: Scope): { source: Source; sub: AttributeDefinition | null } | undefined {
    if (scope.kind !== 'resource') {
      const resolved = resolveFilterPath(path, this.rs, scope.parent);
      if (!resolved) return undefined;
      const def = resolved.attribute;
      if (scope.kind === 'element') return { source: this.jsonSource(def, { ...scope.ref, keys: [...scope.ref.keys, def.name] }), sub: null };
      return { source: scope.field(def), sub: null };
    }
    const resolved = resolveFilterPath(path, this.rs);
    if (!resolved) return undefined;
    return { source: this.resourceSource(resolved), sub: resolved.subAttribute };
  }

  private resourceSource(resolved: ResolvedAttribute): Source {
    const { attribute, extension } = resolved;
    const type = this.rs.resourceType.name;
    if (extension === null) {
      if (attribute === SCHEMAS_ATTRIBUTE) return this.jsonSource(attribute, { json: DOC, keys: ['schemas'] });
      const column = attributeColumn(type, attribute.name);
      if (column) return scalarSource(columnScalar(column, attribute));
      switch (attribute.name) {
        case 'meta':
          return this.metaSource(attribute);
        case 'members':
          if (type === 'Group') return this.membershipSource(attribute, 'members');
          break;
        case 'groups':
          if (type === 'User') return this.membershipSource(attribute, 'groups');
          break;
      }
    }
    const keys = extension === null ? [attribute.name] : [extension, attribute.name];
    return this.jsonSource(attribute, { json: DOC, keys });
  }

  /** `meta` lives in columns (the column map): created and lastModified are indexed, resourceType is the kind. */
  private metaSource(meta: AttributeDefinition): Source {
    const type = this.rs.resourceType.name;
    const column = (sub: AttributeDefinition): Scalar => {
      const mapped = attributeColumn(type, `meta.${sub.name}`);
      if (!mapped) throw ScimError.invalidFilter(`Filtering on "meta.${sub.name}" is not supported`);
      return columnScalar(mapped, sub);
    };
    return {
      attribute: meta,
      any: (sub, test) => (sub ? test(column(sub)) : FALSE),
      // Every resource has its meta values.
      present: (sub) => (sub ? sql`(${column(sub).expr} <> '')` : TRUE),
      elements: (inner) => inner({ kind: 'fields', parent: meta, field: (sub) => scalarSource(column(sub)) }),
    };
  }

  /** Values in the JSON document at `ref` (the attribute itself; a sub-attribute is appended by the caller). */
  private jsonSource(attribute: AttributeDefinition, ref: JsonRef): Source {
    const d = this.d;
    const at = (base: JsonRef, sub: AttributeDefinition | null): JsonRef => (sub ? { ...base, keys: [...base.keys, sub.name] } : base);
    const scalar = (base: JsonRef, def: AttributeDefinition): Scalar => ({ expr: d.scalar(base, scalarKind(def)), def, folded: false });
    const objectPresent = (base: JsonRef): Sql => {
      const m = this.alias('m');
      const { from, item } = d.items(base, m, 'object');
      return sql`EXISTS (SELECT 1 FROM ${from} WHERE ${d.scalarPresent(item)})`;
    };
    const valuePresent = (base: JsonRef, def: AttributeDefinition): Sql => (def.type === 'complex' ? objectPresent(base) : d.scalarPresent(base));
    if (!attribute.multiValued) {
      return {
        attribute,
        any: (sub, test) => test(scalar(at(ref, sub), sub ?? attribute)),
        present: (sub) => valuePresent(at(ref, sub), sub ?? attribute),
        elements: (inner) => sql`(${d.isObject(ref)} AND ${inner({ kind: 'element', parent: attribute, ref })})`,
      };
    }
    const each = (body: (item: JsonRef) => Sql): Sql => {
      const e = this.alias('e');
      const { from, item } = d.items(ref, e, 'array');
      return sql`EXISTS (SELECT 1 FROM ${from} WHERE ${body(item)})`;
    };
    return {
      attribute,
      any: (sub, test) => each((item) => test(scalar(at(item, sub), sub ?? attribute))),
      present: (sub) => each((item) => valuePresent(at(item, sub), sub ?? attribute)),
      elements: (inner) => each((item) => inner({ kind: 'element', parent: attribute, ref: item })),
    };
  }

  /**
   * Group `members` and User `groups` from the memberships table. `display` is the current name of the other side,
   * read from its row only when a filter asks for it.
   */
  private membershipSource(attribute: AttributeDefinition, side: 'members' | 'groups'): Source {
    const exists = (body: (fields: MembershipFields) => Sql): Sql => {
      const m = this.alias('m');
      if (side === 'groups') {
        // A User's groups, nested ones included, as they are listed (groupReach).
        const fields: MembershipFields = {
          value: raw(`${m}.group_id`),
          type: raw(`(CASE WHEN ${m}.depth = 0 THEN 'direct' ELSE 'indirect' END)`),
          display: raw(`(SELECT d.display FROM resources d WHERE d.org_id = r.org_id AND d.id = ${m}.group_id)`),
        };
        return sql`EXISTS (${groupReach(raw('r.org_id'), raw('r.id'))}
          SELECT 1 FROM (SELECT group_id, MIN(depth) AS depth FROM reach GROUP BY group_id) ${raw(m)} WHERE ${body(fields)})`;
      }
      const fields = membershipFields(m);
      return sql`EXISTS (SELECT 1 FROM memberships ${raw(m)} WHERE ${raw(`${m}.org_id = r.org_id AND ${m}.group_id = r.id`)} AND ${body(fields)})`;
    };
    const field = (fields: MembershipFields, sub: AttributeDefinition): Scalar => ({ expr: membershipField(fields, sub), def: sub, folded: false });
    return {
      attribute,
      any: (sub, test) => (sub ? exists((fields) => test(field(fields, sub))) : FALSE),
      // Every membership row has a value, so the element itself is always present.
      present: (sub) => exists((fields) => (sub ? sql`(${membershipField(fields, sub)} <> '')` : TRUE)),
      elements: (inner) => exists((fields) => inner({ kind: 'fields', parent: attribute, field: (sub) => scalarSource(field(fields, sub)) })),
    };
  }
}

/**
 * How deep a User's `groups` follow nested groups (RFC 7643 section 4.1.2, `type: "indirect"`): a group reached
 * through more levels than this is not listed. Cycles (A in B, B in A) end there too.
 */
export const MAX_GROUP_NESTING = 16;

/**
 * The groups `owners` (user ids, an SQL list or a correlated column) belong to, directly and through nested groups:
 * rows (owner, group_id, depth), depth 0 for a direct membership. `UNION` drops repeated rows, and the depth bound
 * ends every walk, cycles included. CROSS JOIN fixes SQLite's join order: without statistics (the store never runs
 * ANALYZE) it read every membership of the organization at each step of the walk, so a User's groups cost time in
 * proportion to the organization's memberships.
 */
export function groupReach(orgId: Sql, owners: Sql): Sql {
  return sql`WITH RECURSIVE reach(owner, group_id, depth) AS (
      SELECT m.member_id, m.group_id, 0 FROM memberships m WHERE m.org_id = ${orgId} AND m.member_id IN (${owners})
      UNION
      SELECT reach.owner, p.group_id, reach.depth + 1 FROM reach CROSS JOIN memberships p
      WHERE p.org_id = ${orgId} AND p.member_id = reach.group_id AND reach.depth < ${raw(String(MAX_GROUP_NESTING - 1))}
    )`;
}

/** What a filter compares for an attribute held in a column. */
function columnScalar(column: AttributeColumn, def: AttributeDefinition): Scalar {
  return { expr: column.filterExpr ?? column.expr, def, folded: column.folded, ...(column.timestamp && { normalizedTime: true }) };
}

/** A single value held in a column (or computed from columns). */
function scalarSource(scalar: Scalar): Source {
  return {
    attribute: scalar.def,
    any: (_sub, test) => test(scalar),
    present: () => sql`(${scalar.expr} <> '')`,
    elements: () => FALSE,
  };
}

/** The sub-attributes of a Group's `members` on the membership row `alias`. */
function membershipFields(alias: string): MembershipFields {
  return {
    value: raw(`${alias}.member_id`),
    type: raw(`${alias}.member_type`),
    display: raw(`(SELECT d.display FROM resources d WHERE d.org_id = ${alias}.org_id AND d.id = ${alias}.member_id)`),
  };
}

function membershipField(fields: MembershipFields, sub: AttributeDefinition): Sql {
  switch (sub.name) {
    case 'value':
      return fields.value;
    case 'type':
      return fields.type;
    case 'display':
      return fields.display;
    default:
      // `$ref` is a URL the server builds from its base address, which the store does not know.
      throw ScimError.invalidFilter(`Filtering on the sub-attribute "${sub.name}" of memberships is not supported`);
  }
}

/**
 * A filter over resources of `rs` as a SQL predicate on the row alias `r`. Throws the evaluator's ScimError 400 for
 * misuse; unknown attributes match nothing, as in the evaluator.
 */
export function compileFilterSql(filter: Filter, rs: ResourceSchema, dialect: JsonDialect): Sql {
  compileFilter(filter, rs); // the evaluator's type and operator checks, so both reject the same filters
  return new FilterCompiler(rs, dialect).compile(filter, RESOURCE_SCOPE);
}

/**
 * A value filter over a Group's `members` (PATCH `members[...]`) as a predicate on the memberships row `alias`.
 */
export function compileMemberFilterSql(filter: Filter, rs: ResourceSchema, dialect: JsonDialect, alias: string): Sql {
  const members = findAttribute(rs.core.attributes, 'members');
  if (!members) throw ScimError.invalidPath(`${rs.resourceType.name} has no members`);
  compileFilter(filter, rs, members);
  const fields = membershipFields(alias);
  const scope: Scope = { kind: 'fields', parent: members, field: (sub) => scalarSource({ expr: membershipField(fields, sub), def: sub, folded: false }) };
  return new FilterCompiler(rs, dialect).compile(filter, scope);
}

/** A `sortBy` attribute as SQL. `nullable` keys sort last ascending and first descending (RFC 7644 section 3.4.2.3). */
export interface SortKey {
  readonly expr: Sql;
  readonly kind: ScalarKind;
  readonly nullable: boolean;
  /** Identifies the sort inside cursors, so a cursor from another ordering is refused. */
  readonly tag: string;
}

function columnSortKey(column: AttributeColumn, tag: string): SortKey {
  return { expr: column.expr, kind: column.type === 'integer' ? 'number' : 'text', nullable: column.nullable, tag };
}

/** The default order: creation time, then id. */
export const CREATED_SORT: SortKey = columnSortKey(attributeColumn('User', 'meta.created') as AttributeColumn, 'meta.created');

export function sortKey(sortBy: string, rs: ResourceSchema, dialect: JsonDialect): SortKey {
  const path = parseAttrPath(sortBy);
  const resolved = resolveFilterPath(path, rs);
  const printed = printAttrPath(path);
  if (!resolved) throw ScimError.invalidValue(`sortBy names unknown attribute "${printed}"`);
  const { attribute } = resolved;
  const type = rs.resourceType.name;
  if ((attribute.name === 'members' && type === 'Group') || (attribute.name === 'groups' && type === 'User')) {
    throw ScimError.invalidValue(`sortBy cannot use "${printed}": memberships have no order to sort by`);
  }
  // A multi-valued complex attribute named alone sorts by its `value`; a singular complex one has nothing to compare.
  const def = resolved.subAttribute ?? (attribute.multiValued && attribute.type === 'complex' ? findAttribute(attribute.subAttributes ?? [], 'value') : attribute);
  if (!def || def.type === 'complex' || (attribute.multiValued && attribute.type !== 'complex')) {
    throw ScimError.invalidValue(`sortBy must name an attribute with a simple value, not "${printed}"`);
  }
  if (def.returned === 'never') throw ScimError.invalidValue(`sortBy cannot use "${printed}"`);
  const tag = (resolved.extension ? `${resolved.extension}:` : '') + attribute.name + (def === attribute ? '' : `.${def.name}`);
  if (resolved.extension === null) {
    const top = resolved.attribute.name;
    const column = attributeColumn(type, resolved.subAttribute ? `${top}.${resolved.subAttribute.name}` : top);
    if (column?.sortable) return columnSortKey(column, tag);
    // meta.resourceType is constant within a query and meta.location follows id.
    if (top === 'meta') return { expr: raw('r.id'), kind: 'text', nullable: false, tag };
  }
  const attributeKeys = [...(resolved.extension ? [resolved.extension] : []), attribute.name];
  const kind = scalarKind(def);
  // RFC 7644 section 3.4.2.3: a multi-valued attribute sorts by its primary value, else its first.
  const ref: JsonRef = attribute.multiValued
    ? { json: dialect.primaryOrFirst({ json: DOC, keys: attributeKeys }), keys: [def.name] }
    : { json: DOC, keys: def === attribute ? attributeKeys : [...attributeKeys, def.name] };
  let expr = dialect.scalar(ref, kind);
  if (def.type === 'dateTime') expr = dialect.dateTime(expr);
  else if (kind === 'text') expr = dialect.binary(def.caseExact ? expr : dialect.lower(expr));
  return { expr, kind, nullable: true, tag };
}
