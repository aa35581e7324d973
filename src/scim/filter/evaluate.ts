/**
 * In-memory filter evaluation over SCIM resource documents, and the schema checks the server runs before querying.
 *
 * Semantics (the SQL compilers must match them; a differential test keeps them equal):
 * - Attribute names and document keys match case-insensitively; only own properties are read.
 * - Strings compare case-insensitively (lower-cased) unless the attribute is `caseExact`; gt/ge/lt/le compare strings
 *   by UTF-16 code units after that. dateTime attributes compare as instants (see parseScimDateTime); integer and
 *   decimal attributes numerically; booleans and binary values are not ordered (gt/ge/lt/le are invalid).
 * - Multi-valued attributes match when ANY value matches. A complex attribute compared without a sub-attribute
 *   (`emails co "x"`, `members eq "id"`) compares its `value` sub-attribute.
 * - `ne` is the negation of `eq`: true when the attribute is absent, and for multi-valued attributes true when no
 *   value equals the operand.
 * - `pr` means a non-empty value: not null, not "", not [] and not an object without present members.
 *   `attr eq null` is `not (attr pr)` and `attr ne null` is `attr pr`.
 * - Unknown attributes match nothing during evaluation; checkFilterAttributes rejects them. Misuse that no data could
 *   satisfy (gt on a boolean, a string compared with an integer, an unparsable dateTime, a filter on `returned: never`
 *   attributes such as password, nested value paths) throws ScimError 400 invalidFilter in both.
 */
import { ScimError } from '../errors.ts';
import { isPlainObject } from '../json.ts';
import { attr } from '../schema/attribute.ts';
import { findAttribute, isForbiddenKey, resolveAttribute } from '../schema/registry.ts';
import type { ResolvedAttribute, ResourceSchema } from '../schema/registry.ts';
import type { AttributeDefinition } from '../schema/types.ts';
import type { AttrPath, CompareOp, Filter, FilterValue } from './ast.ts';
import { printAttrPath } from './printer.ts';

/**
 * `schemas` (RFC 7643 section 3) is on every resource but in no schema definition; filters may name it
 * (`schemas eq "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"`). URNs compare case-insensitively.
 */
export const SCHEMAS_ATTRIBUTE: AttributeDefinition = attr('schemas', 'reference', 'The schema URIs the resource uses.', {
  multiValued: true,
  mutability: 'readOnly',
  returned: 'always',
  referenceTypes: ['uri'],
});

/**
 * Resolves a filter attribute path. With `parent` (inside `parent[...]`) the path is a bare sub-attribute name and the
 * result's `attribute` is that sub-attribute (with `extension` null: the caller knows where the parent lives).
 * Returns undefined when the path names nothing.
 */
export function resolveFilterPath(path: AttrPath, rs: ResourceSchema, parent?: AttributeDefinition): ResolvedAttribute | undefined {
  if (isForbiddenKey(path.name) || (path.sub !== null && isForbiddenKey(path.sub))) return undefined;
  if (parent) {
    if (path.urn !== null || path.sub !== null) return undefined;
    const attribute = findAttribute(parent.subAttributes, path.name);
    return attribute ? { extension: null, attribute, subAttribute: null } : undefined;
  }
  if (path.urn === null && path.sub === null && path.name.toLowerCase() === 'schemas') {
    return { extension: null, attribute: SCHEMAS_ATTRIBUTE, subAttribute: null };
  }
  return resolveAttribute(rs, path.urn, path.name, path.sub);
}

const DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(Z|[+-]\d{2}:\d{2})?$/i;

/**
 * Parses an xsd:dateTime (RFC 7643 section 2.3.5) such as `2011-05-13T04:42:34Z` or `2011-05-13T06:42:34.5+02:00`
 * into epoch milliseconds; a missing offset means UTC. Returns undefined for anything else, including impossible dates.
 */
export function parseScimDateTime(text: string): number | undefined {
  const m = DATE_TIME.exec(text);
  if (!m) return undefined;
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number);
  const millis = m[7] ? Number(m[7].slice(0, 3).padEnd(3, '0')) : 0;
  if (month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || second > 59) return undefined;
  const date = new Date(0);
  date.setUTCFullYear(year, month - 1, day);
  date.setUTCHours(hour, minute, second, millis);
  if (date.getUTCDate() !== day) return undefined; // 31 April, 29 February in a common year...
  const zone = m[8];
  let offsetMinutes = 0;
  if (zone && zone.toUpperCase() !== 'Z') {
    const sign = zone[0] === '-' ? -1 : 1;
    const hours = Number(zone.slice(1, 3));
    const minutes = Number(zone.slice(4, 6));
    if (hours > 14 || minutes > 59) return undefined;
    offsetMinutes = sign * (hours * 60 + minutes);
  }
  return date.getTime() - offsetMinutes * 60_000;
}

type Container = Record<string, unknown>;
type Predicate = (container: Container) => boolean;

/** Case-insensitive own-property lookup: documents may spell keys in any case, and the prototype is never read. */
function getOwn(obj: Container, key: string): unknown {
  if (Object.hasOwn(obj, key)) return obj[key];
  const lower = key.toLowerCase();
  for (const k of Object.keys(obj)) if (k.toLowerCase() === lower) return obj[k];
  return undefined;
}

/** `pr` semantics: a value that is there and not empty. */
function isPresent(value: unknown): boolean {
  if (value === undefined || value === null) return false;
  if (typeof value === 'string') return value.length > 0;
  if (Array.isArray(value)) return value.some(isPresent);
  if (isPlainObject(value)) return Object.keys(value).some((k) => isPresent(value[k]));
  return true;
}

/**
 * The values a path yields in a container (the resource, or one element inside a value path): one entry per element
 * of a multi-valued attribute. `subName` picks that sub-attribute out of complex values.
 */
function valuesAt(container: Container, resolved: ResolvedAttribute, subName: string | null): unknown[] {
  const holder = resolved.extension !== null ? getOwn(container, resolved.extension) : container;
  if (!isPlainObject(holder)) return [];
  const raw = getOwn(holder, resolved.attribute.name);
  if (raw === undefined || raw === null) return [];
  const items = Array.isArray(raw) ? raw : [raw];
  if (subName === null) return items;
  return items.map((item) => (isPlainObject(item) ? getOwn(item, subName) : undefined));
}

const ORDERING_OPS: ReadonlySet<CompareOp> = new Set(['gt', 'ge', 'lt', 'le']);
const STRING_OPS: ReadonlySet<CompareOp> = new Set(['co', 'sw', 'ew']);
const STRING_TYPES: ReadonlySet<string> = new Set(['string', 'reference', 'binary']);

function ordered(cmp: number, op: CompareOp): boolean {
  switch (op) {
    case 'eq':
      return cmp === 0;
    case 'gt':
      return cmp > 0;
    case 'ge':
      return cmp >= 0;
    case 'lt':
      return cmp < 0;
    case 'le':
      return cmp <= 0;
    default:
      return false;
  }
}

function compareNumbers(a: number, b: number): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Builds the test applied to one value for `op` (`eq` when op is `ne`: the caller negates), after type checks. */
function valueTest(def: AttributeDefinition, op: CompareOp, operand: Exclude<FilterValue, null>, where: string): (v: unknown) => boolean {
  const describe = `${where} (${def.type})`;
  const test: CompareOp = op === 'ne' ? 'eq' : op;
  // RFC 7644 section 3.4.2.2: ordering Boolean and Binary values is an invalid filter.
  if (ORDERING_OPS.has(op) && (def.type === 'boolean' || def.type === 'binary')) throw ScimError.invalidFilter(`Operator "${op}" cannot be applied to ${describe}`);
  if (STRING_TYPES.has(def.type)) {
    if (typeof operand !== 'string') throw ScimError.invalidFilter(`Filter compares ${describe} with ${JSON.stringify(operand)}; use a string`);
    // Not a named helper: the loader's keepNames turns every named closure into an Object.defineProperty call.
    const caseExact = def.caseExact === true;
    const expected = caseExact ? operand : operand.toLowerCase();
    return (v) => {
      if (typeof v !== 'string') return false;
      const actual = caseExact ? v : v.toLowerCase();
      if (test === 'co') return actual.includes(expected);
      if (test === 'sw') return actual.startsWith(expected);
      if (test === 'ew') return actual.endsWith(expected);
      return ordered(actual < expected ? -1 : actual > expected ? 1 : 0, test);
    };
  }
  if (STRING_OPS.has(op)) throw ScimError.invalidFilter(`Operator "${op}" applies to string attributes, not ${describe}`);
  if (def.type === 'boolean') {
    if (typeof operand !== 'boolean') throw ScimError.invalidFilter(`Filter compares ${describe} with ${JSON.stringify(operand)}; use true or false`);
    return (v) => v === operand;
  }
  if (def.type === 'integer' || def.type === 'decimal') {
    if (typeof operand !== 'number') throw ScimError.invalidFilter(`Filter compares ${describe} with ${JSON.stringify(operand)}; use a number`);
    return (v) => typeof v === 'number' && ordered(compareNumbers(v, operand), test);
  }
  if (def.type === 'dateTime') {
    const expected = typeof operand === 'string' ? parseScimDateTime(operand) : undefined;
    if (expected === undefined) {
      throw ScimError.invalidFilter(`Filter compares ${describe} with ${JSON.stringify(operand)}; use a dateTime such as "2011-05-13T04:42:34Z"`);
    }
    return (v) => {
      const actual = typeof v === 'string' ? parseScimDateTime(v) : undefined;
      return actual !== undefined && ordered(compareNumbers(actual, expected), test);
    };
  }
  throw ScimError.invalidFilter(`Operator "${op}" cannot be applied to ${describe}`);
}

interface CompileContext {
  readonly rs: ResourceSchema;
  /** Unknown attributes throw (checkFilterAttributes) instead of matching nothing (evaluation). */
  readonly strict: boolean;
}

const NEVER: Predicate = () => false;

/** Resolves a leaf path, applying the unknown-attribute policy and refusing attributes that are never returned. */
function resolveLeaf(path: AttrPath, ctx: CompileContext, parent: AttributeDefinition | undefined): ResolvedAttribute | undefined {
  const resolved = resolveFilterPath(path, ctx.rs, parent);
  if (!resolved) {
    if (ctx.strict) {
      const where = parent ? `sub-attribute "${printAttrPath(path)}" of "${parent.name}"` : `attribute "${printAttrPath(path)}"`;
      throw ScimError.invalidFilter(`Filter names unknown ${where}`);
    }
    return undefined;
  }
  if (resolved.attribute.returned === 'never' || resolved.subAttribute?.returned === 'never') {
    throw ScimError.invalidFilter(`Attribute "${printAttrPath(path)}" cannot be used in a filter`);
  }
  return resolved;
}

function compile(filter: Filter, ctx: CompileContext, parent: AttributeDefinition | undefined): Predicate {
  switch (filter.kind) {
    case 'and': {
      const left = compile(filter.left, ctx, parent);
      const right = compile(filter.right, ctx, parent);
      return (c) => left(c) && right(c);
    }
    case 'or': {
      const left = compile(filter.left, ctx, parent);
      const right = compile(filter.right, ctx, parent);
      return (c) => left(c) || right(c);
    }
    case 'not': {
      const inner = compile(filter.filter, ctx, parent);
      return (c) => !inner(c);
    }
    case 'present': {
      const resolved = resolveLeaf(filter.path, ctx, parent);
      if (!resolved) return NEVER;
      const subName = resolved.subAttribute?.name ?? null;
      return (c) => valuesAt(c, resolved, subName).some(isPresent);
    }
    case 'compare': {
      const resolved = resolveLeaf(filter.path, ctx, parent);
      const { op, value } = filter;
      if (!resolved) {
        // Still reject operators no attribute could satisfy, so bad filters fail the same way with or without data.
        if (value === null && op !== 'eq' && op !== 'ne') throw ScimError.invalidFilter(`Operator "${op}" cannot compare with null`);
        return NEVER;
      }
      const where = `"${printAttrPath(filter.path)}"`;
      let def = resolved.subAttribute ?? resolved.attribute;
      let subName = resolved.subAttribute?.name ?? null;
      if (def.type === 'complex') {
        const valueSub = findAttribute(def.subAttributes, 'value');
        if (ORDERING_OPS.has(op) || !valueSub) {
          throw ScimError.invalidFilter(`Operator "${op}" cannot be applied to the complex attribute ${where}; filter on a sub-attribute`);
        }
        def = valueSub;
        subName = valueSub.name;
      }
      if (value === null) {
        if (op !== 'eq' && op !== 'ne') throw ScimError.invalidFilter(`Operator "${op}" cannot compare with null`);
        const present: Predicate = (c) => valuesAt(c, resolved, subName).some(isPresent);
        return op === 'ne' ? present : (c) => !present(c);
      }
      const test = valueTest(def, op, value, where);
      if (op === 'ne') return (c) => !valuesAt(c, resolved, subName).some(test);
      return (c) => valuesAt(c, resolved, subName).some(test);
    }
    case 'valuePath': {
      const where = `"${printAttrPath(filter.path)}"`;
      if (parent) throw ScimError.invalidFilter(`Value paths cannot be nested (${where} inside "${parent.name}[...]")`);
      if (filter.path.sub !== null) throw ScimError.invalidFilter(`A value path must name an attribute without a sub-attribute, not ${where}`);
      const resolved = resolveLeaf(filter.path, ctx, undefined);
      if (resolved && resolved.attribute.type !== 'complex') {
        throw ScimError.invalidFilter(`A value filter "[...]" needs a complex attribute; ${where} is ${resolved.attribute.type}`);
      }
      if (!resolved) return NEVER;
      const inner = compile(filter.filter, ctx, resolved.attribute);
      return (c) => valuesAt(c, resolved, null).some((item) => isPlainObject(item) && inner(item));
    }
  }
}

/**
 * Compiles a filter against a resource type once, for evaluating it on many resources. Throws ScimError 400
 * invalidFilter for misuse (see the module comment); unknown attributes match nothing. With `parent`, the filter is a
 * value filter (the `[...]` of a value path or PATCH path) and is applied to elements of that attribute.
 */
export function compileFilter(
  filter: Filter,
  rs: ResourceSchema,
  parent?: AttributeDefinition,
): (resource: Record<string, unknown>) => boolean {
  const predicate = compile(filter, { rs, strict: false }, parent);
  return (resource) => isPlainObject(resource) && predicate(resource);
}

/** Evaluates a filter against a full SCIM resource representation (extension attributes under their URN key). */
export function evaluateFilter(filter: Filter, resource: Record<string, unknown>, rs: ResourceSchema): boolean {
  return compileFilter(filter, rs)(resource);
}

/**
 * Evaluates a value filter (the `[...]` of a PATCH path or value path) against one element of the multi-valued
 * attribute `parent`; its paths are sub-attribute names.
 */
export function evaluateValueFilter(filter: Filter, element: Record<string, unknown>, parent: AttributeDefinition, rs: ResourceSchema): boolean {
  return compileFilter(filter, rs, parent)(element);
}

/**
 * Throws ScimError 400 invalidFilter, naming the attribute, when the filter references an attribute the schema does
 * not define or uses one in a way no data could satisfy. With `parent`, the filter is a value filter relative to it.
 */
export function checkFilterAttributes(filter: Filter, rs: ResourceSchema, parent?: AttributeDefinition): void {
  compile(filter, { rs, strict: true }, parent);
}
