/**
 * IdP compatibility normalizers: an ordered, named chain of rewrites that turn what Okta, Entra ID and OneLogin
 * actually send into RFC 7644 PATCH requests before strict parsing. Each one is switchable per organization
 * (CompatSettings: name -> on/off, absent = its default) and only touches input that strict parsing would reject or
 * misread, guided by the schema, so a blanket rewrite never changes well-formed requests. docs/compatibility.md
 * describes each one.
 */
import { ScimError } from '../errors.ts';
import { FILTER_MAX_LENGTH, parsePatchPath } from '../filter/index.ts';
import type { FilterParseOptions } from '../filter/index.ts';
import { findAttribute, findExtension } from '../schema/registry.ts';
import type { ResourceSchema } from '../schema/registry.ts';
import type { AttributeDefinition } from '../schema/types.ts';
import { isPlainObject } from '../json.ts';
import { OP_NAMES, assertSafeJson, getKeyIgnoringCase, resolvePatchTarget, resolveValueKey } from './parse.ts';
import type { Json, PatchTarget } from './parse.ts';
import type { PatchApplyOptions } from './types.ts';

/** Normalizer name -> on/off for one organization; names not listed use `enabledByDefault`. */
export type CompatSettings = Readonly<Record<string, boolean>>;

/** One raw operation as sent, with its `op`, `path` and `value` members spelled canonically when unambiguous. */
export type RawOperation = Readonly<Record<string, unknown>>;

/** A raw PATCH body whose `Operations` member has been found (any case) and spelled canonically. */
export interface PatchBody {
  readonly [key: string]: unknown;
  readonly Operations: readonly unknown[];
}

export interface NormalizerContext {
  readonly rs: ResourceSchema;
}

export interface Normalizer {
  readonly name: string;
  /** What the IdP sends and what it becomes. */
  readonly description: string;
  /** The same in one short line, for settings screens (the admin console). */
  readonly summary: string;
  readonly enabledByDefault: boolean;
  /** Rewrites a raw PATCH body; returns the same object when nothing applies. Never mutates its input. */
  readonly apply: (body: PatchBody, ctx: NormalizerContext) => PatchBody;
  /** For normalizers that also matter for POST/PUT bodies: rewrites a raw resource body the same way. */
  readonly applyToResource?: (resource: Json, ctx: NormalizerContext) => Json;
  /** Switches set while applying operations (for quirks that only show once the document is known). */
  readonly applyOptions?: PatchApplyOptions;
  /** Switches for parsing the `filter` of list and search requests (for quirks outside PATCH bodies). */
  readonly filterOptions?: FilterParseOptions;
}

// ---------------------------------------------------------------------------------------------------------------
// Helpers shared by the normalizers.

/** Maps each object operation; `fn` returns the operation unchanged, a replacement, or several operations. */
function mapOperations(body: PatchBody, fn: (op: RawOperation) => RawOperation | RawOperation[]): PatchBody {
  let changed = false;
  const out: unknown[] = [];
  for (const op of body.Operations) {
    const result = isPlainObject(op) ? fn(op) : op;
    if (result !== op) changed = true;
    if (Array.isArray(result)) out.push(...result);
    else out.push(result);
  }
  return changed ? { ...body, Operations: out } : body;
}

/** The operation name in lower case, so each normalizer works with `op-case` switched off too. */
function opName(op: RawOperation): string | undefined {
  return typeof op.op === 'string' ? op.op.toLowerCase() : undefined;
}

function isWrite(op: RawOperation): boolean {
  const name = opName(op);
  return name === 'add' || name === 'replace';
}

function hasPath(op: RawOperation): boolean {
  return op.path !== undefined && op.path !== null;
}

/** The schema target of an operation's path; undefined when there is none or it does not resolve (strict parsing reports it). */
function targetOf(op: RawOperation, rs: ResourceSchema): PatchTarget | undefined {
  if (typeof op.path !== 'string') return undefined;
  try {
    return resolvePatchTarget(rs, parsePatchPath(op.path));
  } catch {
    return undefined;
  }
}

/**
 * What one write to `target` puts in place: the definition, and whether the value is an array of values.
 * `emails[type eq "work"]` writes one element; `emails.value` and `emails[...].value` write one sub-attribute value.
 */
function writtenShape(target: PatchTarget): { def: AttributeDefinition; multi: boolean } {
  if (target.sub) return { def: target.sub, multi: target.sub.multiValued };
  if (target.filter) return { def: target.attribute, multi: false };
  return { def: target.attribute, multi: target.attribute.multiValued };
}

type ValueFix = (def: AttributeDefinition, multi: boolean, value: unknown) => unknown;

/** Applies `fix` to the value of a path operation, per the schema of its target. */
function fixPathValue(op: RawOperation, rs: ResourceSchema, fix: ValueFix): RawOperation {
  if (!isWrite(op) || !hasPath(op) || op.value === undefined) return op;
  const target = targetOf(op, rs);
  if (!target) return op;
  const { def, multi } = writtenShape(target);
  const value = fix(def, multi, op.value);
  return value === op.value ? op : { ...op, value };
}

/** Applies `fix` to each attribute of a resource-shaped object (a path-less value, or a POST/PUT body). */
function fixResourceValues(resource: Json, rs: ResourceSchema, fix: ValueFix): Json {
  let out: Json | undefined;
  const set = (key: string, value: unknown): void => {
    out ??= { ...resource };
    out[key] = value;
  };
  for (const key of Object.keys(resource)) {
    const named = resolveValueKey(rs, key);
    const value = resource[key];
    if (named?.kind === 'attribute') {
      const fixed = fix(named.attribute, named.attribute.multiValued, value);
      if (fixed !== value) set(key, fixed);
    } else if (named?.kind === 'extension' && isPlainObject(value)) {
      let ext: Json | undefined;
      for (const k of Object.keys(value)) {
        const attribute = findAttribute(named.schema.attributes, k);
        if (!attribute) continue;
        const fixed = fix(attribute, attribute.multiValued, value[k]);
        if (fixed === value[k]) continue;
        ext ??= { ...value };
        ext[k] = fixed;
      }
      if (ext) set(key, ext);
    }
  }
  return out ?? resource;
}

/** Applies `fix` to the value of a path-less add/replace. */
function fixPathlessValue(op: RawOperation, rs: ResourceSchema, fix: ValueFix): RawOperation {
  if (!isWrite(op) || hasPath(op) || !isPlainObject(op.value)) return op;
  const value = fixResourceValues(op.value, rs, fix);
  return value === op.value ? op : { ...op, value };
}

/** A normalizer that fixes values wherever they are written: path operations and path-less values. */
function valueNormalizer(fix: ValueFix): (body: PatchBody, ctx: NormalizerContext) => PatchBody {
  return (body, { rs }) => mapOperations(body, (op) => fixPathlessValue(fixPathValue(op, rs, fix), rs, fix));
}

const BOOLEAN_STRING = /^(?:true|false)$/i;

/** Turns "True"/"false" into booleans where the schema says boolean, descending into complex and multi-valued values. */
function coerceBooleans(def: AttributeDefinition, value: unknown): unknown {
  if (Array.isArray(value)) {
    const mapped = value.map((item) => coerceBooleans(def, item));
    return mapped.some((item, i) => item !== value[i]) ? mapped : value;
  }
  if (def.type === 'boolean' && typeof value === 'string' && BOOLEAN_STRING.test(value)) return value.toLowerCase() === 'true';
  if (def.type === 'complex' && isPlainObject(value)) {
    let out: Json | undefined;
    for (const key of Object.keys(value)) {
      const sub = findAttribute(def.subAttributes, key);
      if (!sub) continue;
      const fixed = coerceBooleans(sub, value[key]);
      if (fixed === value[key]) continue;
      out ??= { ...value };
      out[key] = fixed;
    }
    return out ?? value;
  }
  return value;
}

// ---------------------------------------------------------------------------------------------------------------
// The chain, in the order it runs.

const opCase: Normalizer = {
  name: 'op-case',
  summary: "Accept Entra ID's capitalized PATCH op names (Add, Replace, Remove).",
  description: 'Entra ID sends "op": "Add", "Replace", "Remove" (any case); they become "add", "replace", "remove".',
  enabledByDefault: true,
  apply: (body) =>
    mapOperations(body, (op) => {
      if (typeof op.op !== 'string') return op;
      const lower = op.op.toLowerCase();
      return OP_NAMES.has(lower) && lower !== op.op ? { ...op, op: lower } : op;
    }),
};

const emptyPath: Normalizer = {
  name: 'empty-path',
  summary: 'Treat "path": "" as an operation on the whole resource.',
  description: 'Some clients send "path": "" for an operation on the whole resource; the empty path is dropped (a path-less operation).',
  enabledByDefault: true,
  apply: (body) =>
    mapOperations(body, (op) => {
      if (typeof op.path !== 'string' || op.path.trim() !== '') return op;
      const { path: _dropped, ...rest } = op;
      return rest;
    }),
};

const oktaIdInValue: Normalizer = {
  name: 'okta-id-in-value',
  summary: 'Drop the resource id Okta puts inside a PATCH value.',
  description:
    'Okta sends the resource id inside a path-less value ({"op":"replace","value":{"id":"<id>","active":false}}); the readOnly "id" key is dropped.',
  enabledByDefault: true,
  apply: (body) =>
    mapOperations(body, (op) => {
      if (!isWrite(op) || hasPath(op) || !isPlainObject(op.value)) return op;
      const value = op.value;
      const keys = Object.keys(value).filter((k) => k.toLowerCase() !== 'id');
      if (keys.length === Object.keys(value).length) return op;
      return { ...op, value: Object.fromEntries(keys.map((k) => [k, value[k]])) };
    }),
};

/** An extension's value without a `schemas` member that names only that extension; the value itself otherwise. */
function withoutOwnSchemas(urn: string, value: unknown): unknown {
  if (!isPlainObject(value)) return value;
  const found = getKeyIgnoringCase(value, 'schemas');
  if (!found || found.ambiguous) return value;
  const listed = value[found.key];
  const names = Array.isArray(listed) ? listed : [listed];
  if (names.length === 0 || !names.every((n) => typeof n === 'string' && n.toLowerCase() === urn.toLowerCase())) return value;
  const { [found.key]: _own, ...rest } = value;
  return rest;
}

/** Applies withoutOwnSchemas to the extension objects of a resource-shaped value (a path-less value, a POST/PUT body). */
function withoutOwnSchemasInResource(resource: Json, rs: ResourceSchema): Json {
  let out: Json | undefined;
  for (const key of Object.keys(resource)) {
    const named = resolveValueKey(rs, key);
    if (named?.kind !== 'extension') continue;
    const fixed = withoutOwnSchemas(named.schema.id, resource[key]);
    if (fixed === resource[key]) continue;
    out ??= { ...resource };
    out[key] = fixed;
  }
  return out ?? resource;
}

const extensionSchemasMember: Normalizer = {
  name: 'extension-schemas-member',
  summary: 'Drop a "schemas" member inside an extension\'s own value (scim2-client).',
  description:
    'scim2-client (Python) sends an extension\'s value with a "schemas" member naming that extension ({"op":"add","path":"urn:...:enterprise:2.0:User","value":{"schemas":["urn:...:enterprise:2.0:User"],"employeeNumber":"1"}}); that member is dropped. A "schemas" member naming anything else is left for validation to refuse.',
  enabledByDefault: true,
  apply: (body, { rs }) =>
    mapOperations(body, (op) => {
      if (!isWrite(op)) return op;
      if (!hasPath(op)) {
        if (!isPlainObject(op.value)) return op;
        const value = withoutOwnSchemasInResource(op.value, rs);
        return value === op.value ? op : { ...op, value };
      }
      const extension = typeof op.path === 'string' ? findExtension(rs, op.path.trim()) : undefined;
      if (!extension) return op;
      const value = withoutOwnSchemas(extension.id, op.value);
      return value === op.value ? op : { ...op, value };
    }),
  applyToResource: (resource, { rs }) => withoutOwnSchemasInResource(resource, rs),
};

const dottedKeys: Normalizer = {
  name: 'dotted-keys',
  summary: 'Split Entra ID values keyed by attribute paths ("name.givenName") into operations.',
  description:
    'Entra ID sends attribute paths as keys of a path-less value ({"name.givenName": "X", "urn:...:enterprise:2.0:User:department": "Y"}); each such key becomes its own operation with that path.',
  enabledByDefault: true,
  apply: (body, { rs }) =>
    mapOperations(body, (op) => {
      if (!isWrite(op) || hasPath(op) || !isPlainObject(op.value)) return op;
      const value = op.value;
      const isPathKey = (k: string): boolean =>
        k.toLowerCase() !== 'schemas' && !findExtension(rs, k) && (k.includes('.') || k.toLowerCase().startsWith('urn:'));
      if (!Object.keys(value).some(isPathKey)) return op;
      // Keeps key order: runs of plain keys stay together in one path-less operation. Their values are built with
      // Object.fromEntries, which defines own properties, so even a `__proto__` key cannot set a prototype.
      const out: RawOperation[] = [];
      let plain: [string, unknown][] = [];
      const flush = (): void => {
        if (plain.length > 0) out.push({ ...op, value: Object.fromEntries(plain) });
        plain = [];
      };
      for (const key of Object.keys(value)) {
        if (isPathKey(key)) {
          flush();
          out.push({ ...op, path: key, value: value[key] });
        } else {
          plain.push([key, value[key]]);
        }
      }
      flush();
      return out;
    }),
};

/**
 * `members[value eq "a" or value eq "b" ...]` paths naming every id, each as long as a filter may be, so a removal of
 * thousands of members stays within the per-request operation limit.
 */
function memberRemovalPaths(attribute: string, ids: readonly string[]): string[] {
  const paths: string[] = [];
  let terms: string[] = [];
  let length = attribute.length + 2;
  for (const id of ids) {
    const term = `value eq ${JSON.stringify(id)}`;
    if (terms.length > 0 && length + 4 + term.length > FILTER_MAX_LENGTH) {
      paths.push(`${attribute}[${terms.join(' or ')}]`);
      terms = [];
      length = attribute.length + 2;
    }
    length += (terms.length > 0 ? 4 : 0) + term.length;
    terms.push(term);
  }
  if (terms.length > 0) paths.push(`${attribute}[${terms.join(' or ')}]`);
  return paths;
}

const entraRemoveMembersValue: Normalizer = {
  name: 'entra-remove-members-value',
  summary: "Read Entra ID's remove of members with a value list as removing those members.",
  description:
    'Entra ID removes members with {"op":"Remove","path":"members","value":[{"value":"<id>"}]}; this becomes a remove of members[value eq "<id>" or ...] naming exactly the listed members. Strict RFC would read it as "remove all members", so without this normalizer the request is rejected.',
  enabledByDefault: true,
  apply: (body, { rs }) =>
    mapOperations(body, (op) => {
      if (opName(op) !== 'remove' || op.value === undefined || op.value === null) return op;
      const target = targetOf(op, rs);
      if (!target || target.extension !== null || target.filter || target.sub || target.attribute.name !== 'members' || !target.attribute.multiValued) {
        return op;
      }
      const items = Array.isArray(op.value) ? op.value : [op.value];
      if (items.length === 0) return op;
      const ids: string[] = [];
      for (const item of items) {
        const found = isPlainObject(item) ? getKeyIgnoringCase(item, 'value') : undefined;
        const id = found && !found.ambiguous ? (item as Json)[found.key] : undefined;
        if (typeof id !== 'string' || id === '') return op;
        ids.push(id);
      }
      const { value: _ids, ...rest } = op;
      return memberRemovalPaths(target.attribute.name, ids).map((path) => ({ ...rest, path }));
    }),
};

const singleElementArray: Normalizer = {
  name: 'single-element-array',
  summary: 'Unwrap a one-element array sent for a single-valued attribute.',
  description:
    'Some IdPs wrap a single-valued attribute\'s value in an array ({"path":"displayName","value":["X"]}, or [{"value":"X"}]); a one-element array is unwrapped, and {"value": x} inside it becomes x for a simple attribute. Only for single-valued attributes; longer arrays stay errors.',
  enabledByDefault: true,
  apply: valueNormalizer((def, multi, value) => {
    if (multi || !Array.isArray(value) || value.length !== 1) return value;
    const [item] = value;
    if (def.type !== 'complex' && isPlainObject(item)) {
      const keys = Object.keys(item);
      if (keys.length === 1 && keys[0].toLowerCase() === 'value') return item[keys[0]];
    }
    return item;
  }),
};

const wrapSingleValue: Normalizer = {
  name: 'wrap-single-value',
  summary: 'Wrap one bare value of a multi-valued attribute in an array.',
  description:
    'Some IdPs send one value of a multi-valued attribute as a bare object ({"path":"members","value":{"value":"<id>"}}); it is wrapped in an array.',
  enabledByDefault: true,
  apply: valueNormalizer((def, multi, value) => (multi && def.type === 'complex' && isPlainObject(value) ? [value] : value)),
};

const complexValueString: Normalizer = {
  name: 'complex-value-string',
  summary: 'Accept the enterprise manager (or a similar attribute) sent as a plain id.',
  description:
    'Entra ID sends the enterprise manager as a plain id ({"path":"urn:...:enterprise:2.0:User:manager","value":"<id>"}); a string written to a single-valued complex attribute with a "value" sub-attribute becomes {"value": "<id>"}.',
  enabledByDefault: true,
  apply: valueNormalizer((def, multi, value) =>
    !multi && def.type === 'complex' && typeof value === 'string' && findAttribute(def.subAttributes, 'value') ? { value } : value,
  ),
};

const booleanStrings: Normalizer = {
  name: 'boolean-strings',
  summary: 'Read "True"/"False" strings as booleans where the schema says boolean.',
  description:
    'Entra ID sends booleans as strings ({"op":"Replace","path":"active","value":"False"}, "primary": "true"); "true"/"false" in any case become booleans, only where the schema says the attribute is boolean.',
  enabledByDefault: true,
  apply: valueNormalizer((def, _multi, value) => coerceBooleans(def, value)),
  applyToResource: (resource, { rs }) => fixResourceValues(resource, rs, (def, _multi, value) => coerceBooleans(def, value)),
};

const entraFilteredAddCreates: Normalizer = {
  name: 'entra-filtered-add-creates',
  summary: 'Let an add with a filter that matches nothing create the value (Entra ID).',
  description:
    'Entra ID writes {"op":"Add","path":"emails[type eq \\"work\\"].value","value":"x"} to a user without a work email; instead of failing with noTarget, the value {"type":"work","value":"x"} is created from the filter\'s eq conditions. Only for add: a replace whose filter matches nothing stays noTarget (Entra sends Replace only for values the user has).',
  enabledByDefault: true,
  apply: (body) => body,
  applyOptions: { createMissingFilteredTarget: true },
};

const unquotedFilterValues: Normalizer = {
  name: 'unquoted-filter-values',
  summary: "Read unquoted words in filters as strings (Microsoft's test collection); off by default.",
  description:
    "Microsoft's SCIM reference test collection sends filter values without quotes (userName sw O, meta.created gt 2015-10-10T14:38:21.8617979-07:00); a bare word where a value belongs is read as a string. Off by default: RFC 7644 requires quoted strings.",
  enabledByDefault: false,
  apply: (body) => body,
  filterOptions: { bareWordValues: true },
};

/** The compatibility normalizers, in the order they run. */
export const NORMALIZERS: readonly Normalizer[] = Object.freeze([
  opCase,
  emptyPath,
  oktaIdInValue,
  extensionSchemasMember,
  dottedKeys,
  entraRemoveMembersValue,
  singleElementArray,
  wrapSingleValue,
  complexValueString,
  booleanStrings,
  entraFilteredAddCreates,
  unquotedFilterValues,
].map((n) => Object.freeze(n)));

export function isNormalizerEnabled(normalizer: Normalizer, compat: CompatSettings): boolean {
  return Object.hasOwn(compat, normalizer.name) ? compat[normalizer.name] === true : normalizer.enabledByDefault;
}

/** Checks organization settings: every key a known normalizer name, every value a boolean. Throws ScimError 400. */
export function validateCompatSettings(settings: unknown): CompatSettings {
  if (!isPlainObject(settings)) throw ScimError.invalidValue('compat settings must be an object of normalizer name -> true/false');
  const out: Record<string, boolean> = {};
  for (const key of Object.keys(settings)) {
    if (!NORMALIZERS.some((n) => n.name === key)) {
      throw ScimError.invalidValue(`Unknown compatibility normalizer "${key}"; known: ${NORMALIZERS.map((n) => n.name).join(', ')}`);
    }
    const on = settings[key];
    if (typeof on !== 'boolean') throw ScimError.invalidValue(`compat setting "${key}" must be true or false`);
    out[key] = on;
  }
  return out;
}

/** Spells an operation's `op`, `path` and `value` members canonically (RFC 7643 section 2.1: names are case-insensitive). */
function canonicalMembers(op: unknown): unknown {
  if (!isPlainObject(op)) return op;
  let out: Json | undefined;
  for (const name of ['op', 'path', 'value']) {
    const found = getKeyIgnoringCase(op, name);
    if (!found || found.ambiguous || found.key === name) continue; // ambiguous: strict parsing rejects it
    out ??= { ...op };
    out[name] = out[found.key];
    delete out[found.key];
  }
  return out ?? op;
}

/**
 * Runs the enabled normalizers over a raw PATCH body, in order. Returns input it cannot read (not an object, no
 * `Operations` array) unchanged for strict parsing to reject. Throws ScimError 400 for keys that could reach a prototype.
 */
export function normalizePatchBody(body: unknown, rs: ResourceSchema, compat: CompatSettings): unknown {
  if (!isPlainObject(body)) return body;
  assertSafeJson(body, 'PATCH body');
  const found = getKeyIgnoringCase(body, 'Operations');
  if (!found || found.ambiguous || !Array.isArray(body[found.key])) return body;
  const { [found.key]: operations, ...rest } = body;
  let current: PatchBody = { ...rest, Operations: (operations as unknown[]).map(canonicalMembers) };
  const ctx: NormalizerContext = { rs };
  for (const normalizer of NORMALIZERS) {
    if (isNormalizerEnabled(normalizer, compat)) current = normalizer.apply(current, ctx);
  }
  return current;
}

/** Runs the enabled normalizers that also apply to POST/PUT resource bodies (extension `schemas`, boolean strings). */
export function normalizeResourceBody(body: unknown, rs: ResourceSchema, compat: CompatSettings): unknown {
  if (!isPlainObject(body)) return body;
  assertSafeJson(body, 'Request body');
  let current: Json = body;
  const ctx: NormalizerContext = { rs };
  for (const normalizer of NORMALIZERS) {
    if (normalizer.applyToResource && isNormalizerEnabled(normalizer, compat)) current = normalizer.applyToResource(current, ctx);
  }
  return current;
}

/** The filter-parsing switches of the enabled normalizers. */
export function filterParseOptions(compat: CompatSettings): FilterParseOptions {
  // Every list request asks: without a switch on, nothing is allocated.
  let options: FilterParseOptions | undefined;
  for (const normalizer of NORMALIZERS) {
    if (normalizer.filterOptions && isNormalizerEnabled(normalizer, compat)) options = { ...options, ...normalizer.filterOptions };
  }
  return options ?? NO_FILTER_OPTIONS;
}

const NO_FILTER_OPTIONS: FilterParseOptions = Object.freeze({});

/** The apply-time switches of the enabled normalizers. */
export function patchApplyOptions(compat: CompatSettings): PatchApplyOptions {
  let options: PatchApplyOptions = {};
  for (const normalizer of NORMALIZERS) {
    if (normalizer.applyOptions && isNormalizerEnabled(normalizer, compat)) options = { ...options, ...normalizer.applyOptions };
  }
  return options;
}
