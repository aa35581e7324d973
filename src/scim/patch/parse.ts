/**
 * Strict parsing of a PATCH request body (RFC 7644 section 3.5.2) into typed operations. IdP quirks are not accepted
 * here: the compatibility normalizers (normalizers.ts) rewrite them into RFC form first. Value types are checked later,
 * when the store validates the patched resource (validate.ts); this module checks what applying needs: the envelope,
 * op names, paths against the schema, mutability of the targets, and keys that could reach a prototype.
 */
import { ScimError } from '../errors.ts';
import type { Filter, PatchPath } from '../filter/ast.ts';
import { checkFilterAttributes, parsePatchPath, printPatchPath } from '../filter/index.ts';
import { COMMON_ATTRIBUTES, PATCH_OP_SCHEMA } from '../schema/core.ts';
import { findAttribute, findExtension, isForbiddenKey, resolveAttribute } from '../schema/registry.ts';
import type { ResourceSchema } from '../schema/registry.ts';
import type { AttributeDefinition, SchemaDefinition } from '../schema/types.ts';
import { isPlainObject } from '../json.ts';
import type { PatchOperation, PatchOpName } from './types.ts';

/** More operations than any IdP sends in one request; keeps a hostile body from costing unbounded work. */
export const MAX_PATCH_OPERATIONS = 1000;
/** SCIM values nest at most extension > complex > sub-attribute; anything far deeper is not a SCIM value. */
export const MAX_VALUE_DEPTH = 16;

export type Json = Record<string, unknown>;


/** Own-property lookup ignoring case (SCIM attribute names are case-insensitive); undefined when absent or ambiguous. */
export function getKeyIgnoringCase(obj: Json, name: string): { key: string; ambiguous: boolean } | undefined {
  const lower = name.toLowerCase();
  const keys = Object.keys(obj).filter((k) => k.toLowerCase() === lower);
  if (keys.length === 0) return undefined;
  return { key: keys[0], ambiguous: keys.length > 1 };
}

/**
 * Rejects prototype-reaching keys (`__proto__`, `constructor`, `prototype`) at any depth, and absurd nesting, before
 * anything copies the input. `error` picks the scimType for the part of the body being checked.
 */
export function assertSafeJson(value: unknown, where: string, error: (detail: string) => ScimError = ScimError.invalidValue, depth = 0): void {
  if (typeof value !== 'object' || value === null) return;
  if (depth > MAX_VALUE_DEPTH) throw error(`${where} is nested more than ${MAX_VALUE_DEPTH} levels deep`);
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) assertSafeJson(value[i], `${where}[${i}]`, error, depth + 1);
    return;
  }
  for (const key of Object.keys(value)) {
    if (isForbiddenKey(key)) throw error(`${where} contains the key "${key}", which is not allowed`);
    assertSafeJson((value as Json)[key], `${where}.${key}`, error, depth + 1);
  }
}

/** Where a PATCH path lands in a resource of type `rs`. */
export interface PatchTarget {
  /** The canonical extension URN holding the attribute, or null when it sits at the top level. */
  readonly extension: string | null;
  readonly attribute: AttributeDefinition;
  /** The sub-attribute written to: `name.givenName`, `emails.value`, or `emails[type eq "work"].value`. */
  readonly sub: AttributeDefinition | null;
  /** The value filter of `attr[filter]`, relative to `attribute`. */
  readonly filter: Filter | null;
}

/** Resolves a parsed path against the schema; throws ScimError 400 invalidPath when it names nothing usable. */
export function resolvePatchTarget(rs: ResourceSchema, path: PatchPath): PatchTarget {
  const subName = path.attribute.sub ?? path.subAfterFilter;
  const resolved = resolveAttribute(rs, path.attribute.urn, path.attribute.name, subName);
  if (!resolved) throw ScimError.invalidPath(`Unknown attribute "${printPatchPath(path)}" for resource type ${rs.resourceType.name}`);
  const { attribute } = resolved;
  if (path.filter !== null) {
    if (!attribute.multiValued || attribute.type !== 'complex') {
      throw ScimError.invalidPath(`"${attribute.name}" is not a multi-valued complex attribute, so "${printPatchPath(path)}" cannot filter it`);
    }
    // RFC 7644 section 3.12 lists "PATCH (Path Filter)" under invalidFilter: its errors keep that scimType.
    checkFilterAttributes(path.filter, rs, attribute);
  }
  return { extension: resolved.extension, attribute, sub: resolved.subAttribute, filter: path.filter };
}

/** What a key of a path-less add/replace value names. */
export type ValueKey =
  | { readonly kind: 'schemas' }
  | { readonly kind: 'extension'; readonly schema: SchemaDefinition }
  | { readonly kind: 'attribute'; readonly attribute: AttributeDefinition };

export function resolveValueKey(rs: ResourceSchema, key: string): ValueKey | undefined {
  if (key.toLowerCase() === 'schemas') return { kind: 'schemas' };
  const schema = findExtension(rs, key);
  if (schema) return { kind: 'extension', schema };
  const attribute = findAttribute(rs.core.attributes, key) ?? findAttribute(COMMON_ATTRIBUTES, key);
  return attribute ? { kind: 'attribute', attribute } : undefined;
}

function prefixed(err: unknown, prefix: string): unknown {
  return err instanceof ScimError ? new ScimError(err.status, `${prefix}: ${err.message}`, err.scimType) : err;
}

export const OP_NAMES: ReadonlySet<string> = new Set<PatchOpName>(['add', 'replace', 'remove']);

function checkWritable(attribute: AttributeDefinition, sub: AttributeDefinition | null, label: string): void {
  if (attribute.mutability === 'readOnly' || sub?.mutability === 'readOnly') {
    throw ScimError.mutability(`Attribute "${label}" is readOnly and cannot be modified`);
  }
  // Sub-attributes such as Group members.value identify the value they sit in: changing one in place is not allowed.
  if (sub?.mutability === 'immutable' && attribute.multiValued) {
    throw ScimError.mutability(`Sub-attribute "${label}" is immutable; remove the value and add a new one instead`);
  }
}

/**
 * An attribute the schemas do not define, met in a PATCH value or path, by the unknown-attribute policy: `reject`
 * throws `error`, `ignore` records the name and answers false (drop it), `keep` answers true.
 */
function unknownAttribute(rs: ResourceSchema, name: string, ignored: string[] | undefined, error: () => ScimError): boolean {
  const policy = rs.unknownAttributes ?? 'reject';
  if (policy === 'reject') throw error();
  if (policy === 'ignore') ignored?.push(name);
  return policy === 'keep';
}

/**
 * Checks the keys of a path-less add/replace value (each names an attribute, as a path would) and returns it, without
 * the attributes the unknown-attribute policy drops. A name no schema defines is a value that does not fit the
 * resource schema: invalidValue (RFC 7644 section 3.12), not invalidPath, since there is no path.
 */
function checkPathlessValue(rs: ResourceSchema, value: unknown, ignored: string[] | undefined): Json {
  if (!isPlainObject(value)) throw ScimError.invalidValue('An operation without "path" needs an object "value" holding the attributes to set');
  const seen = new Set<string>();
  let out: Json | undefined;
  const drop = (key: string): void => {
    out ??= { ...value };
    delete out[key];
  };
  for (const key of Object.keys(value)) {
    const named = resolveValueKey(rs, key);
    if (!named) {
      const unknown = () => ScimError.invalidValue(`Unknown attribute "${key}" for resource type ${rs.resourceType.name}`);
      if (!unknownAttribute(rs, key, ignored, unknown)) drop(key);
      continue;
    }
    const canonical = named.kind === 'schemas' ? 'schemas' : named.kind === 'extension' ? named.schema.id : named.attribute.name;
    if (seen.has(canonical)) throw ScimError.invalidValue(`Attribute "${canonical}" is given more than once (names are case-insensitive)`);
    seen.add(canonical);
    const v = value[key];
    if (named.kind === 'attribute') {
      checkWritable(named.attribute, null, named.attribute.name);
    } else if (named.kind === 'extension') {
      if (v !== null && !isPlainObject(v)) throw ScimError.invalidValue(`Extension "${named.schema.id}" must be an object`);
      let ext: Json | undefined;
      for (const k of Object.keys(v ?? {})) {
        const attribute = findAttribute(named.schema.attributes, k);
        if (!attribute) {
          const name = `${named.schema.id}:${k}`;
          if (!unknownAttribute(rs, name, ignored, () => ScimError.invalidValue(`Unknown attribute "${name}"`))) {
            ext ??= { ...(v as Json) };
            delete ext[k];
          }
          continue;
        }
        checkWritable(attribute, null, `${named.schema.id}:${attribute.name}`);
      }
      if (ext) {
        out ??= { ...value };
        out[key] = ext;
      }
    } else if (v !== null && (!Array.isArray(v) || !v.every((s) => typeof s === 'string' && findExtensionOrCore(rs, s)))) {
      if ((rs.unknownAttributes ?? 'reject') === 'reject' || !Array.isArray(v)) {
        throw ScimError.invalidValue(`"schemas" must list schema URNs of resource type ${rs.resourceType.name}`);
      }
    }
  }
  return out ?? value;
}

function findExtensionOrCore(rs: ResourceSchema, urn: string): boolean {
  return urn.toLowerCase() === rs.core.id.toLowerCase() || findExtension(rs, urn) !== undefined;
}

function parseOperation(rs: ResourceSchema, raw: unknown, ignored: string[] | undefined): PatchOperation[] {
  if (!isPlainObject(raw)) throw ScimError.invalidSyntax('each operation must be a JSON object');
  const fields: Partial<Record<'op' | 'path' | 'value', unknown>> = {};
  for (const name of ['op', 'path', 'value'] as const) {
    const found = getKeyIgnoringCase(raw, name);
    if (found?.ambiguous) throw ScimError.invalidSyntax(`"${name}" is given more than once (names are case-insensitive)`);
    if (found) fields[name] = raw[found.key];
  }
  const op = fields.op;
  if (typeof op !== 'string' || !OP_NAMES.has(op)) {
    throw ScimError.invalidSyntax(`"op" must be "add", "replace" or "remove", got ${JSON.stringify(op) ?? 'nothing'}`);
  }
  const opName = op as PatchOpName;
  const value = fields.value;
  const rawPath = fields.path;

  if (rawPath === undefined || rawPath === null) {
    if (opName === 'remove') throw ScimError.noTarget('"remove" needs a "path" naming what to remove');
    const kept = checkPathlessValue(rs, value, ignored);
    return Object.keys(kept).length === 0 && Object.keys(value as Json).length > 0 ? [] : [{ op: opName, path: null, value: kept }];
  }
  if (typeof rawPath !== 'string') throw ScimError.invalidPath('"path" must be a string');

  // A bare extension URN as the path targets the extension object as a whole.
  const extension = findExtension(rs, rawPath.trim());
  if (extension) {
    if (opName === 'remove') {
      return extension.attributes
        .filter((a) => a.mutability !== 'readOnly')
        .map((a) => ({ op: opName, path: { attribute: { urn: extension.id, name: a.name, sub: null }, filter: null, subAfterFilter: null } }));
    }
    return [{ op: opName, path: null, value: checkPathlessValue(rs, { [extension.id]: value }, ignored) }];
  }

  const path = parsePatchPath(rawPath);
  const label = printPatchPath(path);
  let target: PatchTarget;
  try {
    target = resolvePatchTarget(rs, path);
  } catch (err) {
    // An attribute no schema defines: dropped, or (kept) written as it is, when the organization says so.
    if (!(err instanceof ScimError) || err.scimType !== 'invalidPath' || path.filter !== null) throw err;
    if (!unknownAttribute(rs, label, ignored, () => err)) return [];
    if (opName !== 'remove' && (value === undefined || value === null)) throw ScimError.invalidValue(`"${opName}" of "${label}" needs a "value"`);
    return [opName === 'remove' ? { op: opName, path } : { op: opName, path, value }];
  }
  checkWritable(target.attribute, target.sub, label);

  if (opName === 'remove') {
    // RFC 7644 section 3.12, invalidValue: "A required value was missing".
    if (target.filter === null && (target.sub === null ? target.attribute.required : target.sub.required && !target.attribute.multiValued)) {
      throw ScimError.invalidValue(`Attribute "${label}" is required and cannot be removed`);
    }
    // A value on remove is not part of RFC 7644. Ignoring it here would remove every value, which is never what the
    // sender meant (Entra ID sends member ids this way), so refuse instead of destroying data.
    if (value !== undefined && value !== null && target.attribute.multiValued && target.filter === null && target.sub === null) {
      throw ScimError.invalidValue(
        `"remove" takes no "value"; to remove selected values of "${label}" use a filter such as ${label}[value eq "..."]`,
      );
    }
    return [{ op: opName, path }];
  }
  if (value === undefined || value === null) throw ScimError.invalidValue(`"${opName}" of "${label}" needs a "value"`);
  return [{ op: opName, path, value }];
}

/**
 * Parses a PATCH body strictly per RFC 7644 section 3.5.2 (run the compatibility normalizers first).
 * Throws ScimError 400: invalidSyntax for a malformed envelope or op, invalidPath for paths that name nothing,
 * invalidValue for missing or unusable values, mutability for readOnly or required targets, noTarget for a path-less
 * remove. Envelope and operation member names match case-insensitively (RFC 7643 section 2.1).
 */
export function parsePatchOperations(body: unknown, rs: ResourceSchema, ignored?: string[]): PatchOperation[] {
  if (!isPlainObject(body)) throw ScimError.invalidSyntax('A PATCH request body must be a JSON object');
  assertSafeJson(body, 'PATCH body');
  const schemasKey = getKeyIgnoringCase(body, 'schemas');
  const operationsKey = getKeyIgnoringCase(body, 'Operations');
  if (schemasKey?.ambiguous || operationsKey?.ambiguous) throw ScimError.invalidSyntax('"schemas" or "Operations" is given more than once');
  const schemas = schemasKey ? body[schemasKey.key] : undefined;
  if (!Array.isArray(schemas) || !schemas.some((s) => typeof s === 'string' && s.toLowerCase() === PATCH_OP_SCHEMA.toLowerCase())) {
    throw ScimError.invalidSyntax(`A PATCH request must have "schemas": ["${PATCH_OP_SCHEMA}"]`);
  }
  const operations = operationsKey ? body[operationsKey.key] : undefined;
  if (!Array.isArray(operations)) throw ScimError.invalidSyntax('A PATCH request must have an "Operations" array');
  // RFC 7644 section 3.5.2: "an array of one or more PATCH operations"; an empty one does not fit the request schema.
  if (operations.length === 0) throw ScimError.invalidSyntax('"Operations" must hold at least one operation');
  if (operations.length > MAX_PATCH_OPERATIONS) {
    throw ScimError.invalidValue(`"Operations" holds ${operations.length} operations; at most ${MAX_PATCH_OPERATIONS} are accepted per request`);
  }
  const out: PatchOperation[] = [];
  operations.forEach((raw, i) => {
    try {
      out.push(...parseOperation(rs, raw, ignored));
    } catch (err) {
      throw prefixed(err, `Operations[${i}]`);
    }
  });
  return out;
}

export { prefixed as prefixScimError };
