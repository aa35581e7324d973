/**
 * Schema validation of incoming resources (RFC 7643 sections 2 and 7, RFC 7644 section 3.5.1).
 * Produces a fresh canonical document: canonical attribute names, extension attributes under their canonical URN,
 * a canonical `schemas`, readOnly input ignored, null/empty values dropped. Every error names the attribute path.
 * Length limits (limits.ts) are enforced here, so every way a resource is written (POST, PUT, PATCH, Bulk) meets them.
 */
import { ScimError } from './errors.ts';
import { parseScimDateTime } from './filter/evaluate.ts';
import { deepEqual, isPlainObject } from './json.ts';
import { checkResourceSize, checkStringLength } from './limits.ts';
import { COMMON_ATTRIBUTES, GROUP_SCHEMA, USER_SCHEMA } from './schema/core.ts';
import { findAttribute, findExtension, isCoreUrn, isForbiddenKey } from './schema/registry.ts';
import type { ResourceSchema, UnknownAttributePolicy } from './schema/registry.ts';
import type { AttributeDefinition, SchemaDefinition } from './schema/types.ts';

export interface ValidationContext {
  /**
   * create: POST. replace: PUT. patch: the document produced by applying PATCH operations to `existing`
   * (readOnly attributes are then taken from `existing`, whatever the input says).
   */
  readonly mode: 'create' | 'replace' | 'patch';
  /** The stored canonical document, for immutability checks and (in patch mode) readOnly values. */
  readonly existing?: Record<string, unknown>;
  /**
   * Receives the path of every attribute dropped under the `ignore` unknown-attribute policy (the resource schema's
   * `unknownAttributes`), so that the caller can log them.
   */
  readonly ignored?: string[];
}

type Json = Record<string, unknown>;

const INT32_MIN = -2147483648;
const INT32_MAX = 2147483647;

// RFC 4648 section 4 base64; padding may be omitted.
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}(?:==)?|[A-Za-z0-9+/]{3}=?)?$/;

export { isPlainObject };

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return 'an object';
  if (typeof value === 'string') return 'a string';
  return `a ${typeof value}`;
}

function typeError(path: string, expected: string, value: unknown): ScimError {
  return ScimError.invalidValue(`Attribute "${path}" must be ${expected}, got ${describe(value)}`);
}

/**
 * Rejects prototype-reaching keys anywhere inside `value`, including input we are about to ignore.
 * Iterative, so hostile nesting depth cannot overflow the stack.
 */
function assertNoForbiddenKeys(value: unknown, path: string): void {
  const pending: unknown[] = [value];
  while (pending.length > 0) {
    const current = pending.pop();
    if (Array.isArray(current)) {
      for (const item of current) pending.push(item);
    } else if (isPlainObject(current)) {
      for (const key of Object.keys(current)) {
        if (isForbiddenKey(key)) throw ScimError.invalidValue(`Attribute name "${key}" inside "${path}" is not allowed`);
        pending.push(current[key]);
      }
    }
  }
}

/** Holds every string inside `value` (an attribute kept without a definition) to the length limit, naming `path`. */
function checkStringsIn(resourceType: string, value: unknown, path: string): void {
  const pending: unknown[] = [value];
  while (pending.length > 0) {
    const current = pending.pop();
    if (typeof current === 'string') checkStringLength(resourceType, path, current);
    else if (Array.isArray(current)) pending.push(...current);
    else if (isPlainObject(current)) pending.push(...Object.values(current));
  }
}

/** Checks a single (non-multi-valued, non-complex) value against its type and length limit; returns the value to store. */
function checkScalar(def: AttributeDefinition, value: unknown, path: string, resourceType: string): unknown {
  if (typeof value === 'string') checkStringLength(resourceType, path, value);
  switch (def.type) {
    case 'string':
    case 'reference':
      if (typeof value !== 'string') throw typeError(path, 'a string', value);
      return value;
    case 'boolean':
      if (typeof value !== 'boolean') throw typeError(path, 'a boolean', value);
      return value;
    case 'integer':
      if (typeof value !== 'number' || !Number.isInteger(value)) throw typeError(path, 'an integer', value);
      if (value < INT32_MIN || value > INT32_MAX) {
        throw ScimError.invalidValue(`Attribute "${path}" is out of range: integers must be within ${INT32_MIN}..${INT32_MAX}`);
      }
      return value;
    case 'decimal':
      if (typeof value !== 'number' || !Number.isFinite(value)) throw typeError(path, 'a number', value);
      return value;
    case 'dateTime':
      if (typeof value !== 'string') throw typeError(path, 'a dateTime string', value);
      if (parseScimDateTime(value) === undefined) throw ScimError.invalidValue(`Attribute "${path}" must be an xsd:dateTime such as 2024-01-23T04:56:22Z, got "${value}"`);
      return value;
    case 'binary':
      if (typeof value !== 'string') throw typeError(path, 'a base64 string', value);
      if (!BASE64.test(value)) throw ScimError.invalidValue(`Attribute "${path}" must be base64 encoded`);
      return value;
    case 'complex':
      // Handled by the caller; reaching here is a schema definition error, reported as a client error on the path.
      throw typeError(path, 'an object', value);
  }
}

function isBlank(value: unknown): boolean {
  return typeof value === 'string' && value.trim() === '';
}

/** Walks input objects case-insensitively, building canonical output for one attribute list. */
class Validator {
  constructor(
    private readonly mode: ValidationContext['mode'],
    private readonly policy: UnknownAttributePolicy,
    private readonly ignored: string[] | undefined,
    /** The resource type's name, which the length limits are keyed by. */
    private readonly resourceType: string,
  ) {}

  /**
   * An attribute no schema defines, by the unknown-attribute policy: a 400 naming it, dropped (and recorded), or kept
   * as sent (its strings held to the length limit of any string). Returns the value to keep, or undefined.
   */
  unknown(path: string, value: unknown, detail = `Unknown attribute "${path}"`): unknown {
    if (this.policy === 'reject') throw ScimError.invalidValue(detail);
    assertNoForbiddenKeys(value, path);
    if (this.policy === 'ignore') {
      this.ignored?.push(path);
      return undefined;
    }
    checkStringsIn(this.resourceType, value, path);
    return value === null ? undefined : structuredClone(value);
  }

  /**
   * Validates the keys of `input` against `defs` into a fresh object.
   * `existing` is the stored counterpart (for immutability and patch-mode readOnly); `parentMultiValued` is set
   * for the sub-attributes of one value of a multi-valued attribute.
   */
  attributes(
    defs: readonly AttributeDefinition[],
    input: Json,
    existing: Json | undefined,
    pathPrefix: string,
    parentMultiValued: boolean,
  ): Json {
    const out: Json = {};
    const seen = new Set<string>();
    for (const key of Object.keys(input)) {
      const path = pathPrefix + key;
      if (isForbiddenKey(key)) throw ScimError.invalidValue(`Attribute name "${path}" is not allowed`);
      const def = findAttribute(defs, key);
      if (!def) {
        // A patched document carries what was stored: an unknown value it kept (under `keep`, or from before a policy
        // change) stays as it was instead of failing or vanishing on an unrelated write.
        const stored = this.mode === 'patch' ? existing?.[key] : undefined;
        const kept = stored !== undefined && deepEqual(stored, input[key]) ? structuredClone(stored) : this.unknown(path, input[key]);
        if (kept !== undefined) out[key] = kept;
        continue;
      }
      const canonicalPath = pathPrefix + def.name;
      if (seen.has(def.name)) throw ScimError.invalidValue(`Attribute "${canonicalPath}" is given more than once (names are case-insensitive)`);
      seen.add(def.name);
      const value = input[key];
      if (def.mutability === 'readOnly' && !this.keepsReadOnly(def, parentMultiValued)) {
        // RFC 7643 section 2.2: readOnly values sent by clients are ignored.
        assertNoForbiddenKeys(value, canonicalPath);
        continue;
      }
      const checked = this.value(def, value, existing?.[def.name], canonicalPath);
      if (checked !== undefined) out[def.name] = checked;
    }
    for (const def of defs) {
      const path = pathPrefix + def.name;
      const before = existing?.[def.name];
      if (def.mutability === 'readOnly' && !this.keepsReadOnly(def, parentMultiValued)) {
        if (this.mode === 'patch' && before !== undefined && before !== null) out[def.name] = structuredClone(before);
        continue;
      }
      if (def.mutability === 'immutable' && before !== undefined && before !== null && !parentMultiValued) {
        // RFC 7644 section 3.5.1: once set, an immutable value must be resent unchanged; omitted on PUT it is kept.
        if (out[def.name] === undefined && this.mode === 'replace') out[def.name] = structuredClone(before);
        else if (!deepEqual(out[def.name], before)) throw ScimError.mutability(`Attribute "${path}" is immutable and cannot be changed`);
      }
      if (def.required && (out[def.name] === undefined || isBlank(out[def.name]))) {
        throw ScimError.invalidValue(`Required attribute "${path}" is missing or empty`);
      }
    }
    return out;
  }

  /**
   * A readOnly `display` under a writable multi-valued attribute (Group `members.display`) is kept:
   * IdPs send it with every member, and it is what a client sees when the member is listed.
   */
  private keepsReadOnly(def: AttributeDefinition, parentMultiValued: boolean): boolean {
    return parentMultiValued && def.name === 'display';
  }

  /** Validates one attribute value; returns undefined when it is unassigned (null, empty array, empty object). */
  value(def: AttributeDefinition, value: unknown, existing: unknown, path: string): unknown {
    if (value === null || value === undefined) return undefined;
    if (def.multiValued) {
      if (!Array.isArray(value)) {
        throw ScimError.invalidValue(`Attribute "${path}" is multi-valued and must be an array, got ${describe(value)}`);
      }
      const items: unknown[] = [];
      let primaryIndex = -1;
      value.forEach((item, i) => {
        const itemPath = `${path}[${i}]`;
        const checked = this.single(def, item, undefined, itemPath, true);
        if (checked === undefined) return;
        if (isPlainObject(checked) && checked.primary === true) {
          if (primaryIndex >= 0) {
            throw ScimError.invalidValue(`Attribute "${path}" has more than one primary value (${path}[${primaryIndex}] and ${itemPath})`);
          }
          primaryIndex = i;
        }
        items.push(checked);
      });
      return items.length > 0 ? items : undefined;
    }
    if (Array.isArray(value)) throw ScimError.invalidValue(`Attribute "${path}" is single-valued and must not be an array`);
    return this.single(def, value, existing, path, false);
  }

  private single(def: AttributeDefinition, value: unknown, existing: unknown, path: string, inMultiValued: boolean): unknown {
    if (value === null || value === undefined) return undefined;
    if (def.type !== 'complex') return checkScalar(def, value, path, this.resourceType);
    if (!isPlainObject(value)) throw typeError(path, 'an object', value);
    const sub = this.attributes(def.subAttributes ?? [], value, isPlainObject(existing) ? existing : undefined, `${path}.`, inMultiValued);
    return Object.keys(sub).length > 0 ? sub : undefined;
  }
}

function validateSchemasAttribute(rs: ResourceSchema, value: unknown): void {
  if (value === undefined || value === null) return;
  if (!Array.isArray(value)) throw typeError('schemas', 'an array of schema URNs', value);
  value.forEach((urn, i) => {
    if (typeof urn !== 'string') throw typeError(`schemas[${i}]`, 'a string', urn);
    // Other policies deal with the data under an unknown URN; `schemas` itself is recomputed from what is kept.
    if ((rs.unknownAttributes ?? 'reject') === 'reject' && !isCoreUrn(rs, urn) && !findExtension(rs, urn)) {
      throw ScimError.invalidValue(`Unknown schema "${urn}" in schemas for resource type ${rs.resourceType.name}`);
    }
  });
}

function isUrnKey(key: string): boolean {
  return key.length > 4 && key.slice(0, 4).toLowerCase() === 'urn:';
}

/**
 * Data a stored document holds under a URN the schema set no longer has (an extension that was removed): kept as it
 * is through every write, neither validated nor returned, so that declaring the extension again brings it back.
 */
function dormantKeys(rs: ResourceSchema, existing: Json | undefined): string[] {
  if (!existing) return [];
  return Object.keys(existing).filter((key) => isUrnKey(key) && !isCoreUrn(rs, key) && !findExtension(rs, key));
}

/**
 * Validates `input` as a resource of type `rs` and returns a new canonical document (RFC 7643).
 * Throws ScimError 400 (invalidValue, mutability, invalidSyntax) naming the offending attribute path.
 */
export function validateResource(rs: ResourceSchema, input: unknown, context: ValidationContext): Record<string, unknown> {
  if (!isPlainObject(input)) throw ScimError.invalidSyntax(`A ${rs.resourceType.name} must be a JSON object, got ${describe(input)}`);
  const policy = rs.unknownAttributes ?? 'reject';
  const validator = new Validator(context.mode, policy, context.ignored, rs.resourceType.name);
  const existing = context.existing;
  const dormant = dormantKeys(rs, existing);
  const kept: Json = {};
  const coreDefs = [...COMMON_ATTRIBUTES, ...rs.core.attributes];

  // Split the input into core attributes and extension objects, matching names case-insensitively.
  const core: Json = Object.create(null) as Json;
  const extensions = new Map<SchemaDefinition, unknown>();
  let schemasSeen = false;
  for (const key of Object.keys(input)) {
    if (isForbiddenKey(key)) throw ScimError.invalidValue(`Attribute name "${key}" is not allowed`);
    const value = input[key];
    if (key.toLowerCase() === 'schemas') {
      if (schemasSeen) throw ScimError.invalidValue('Attribute "schemas" is given more than once');
      schemasSeen = true;
      validateSchemasAttribute(rs, value);
      continue;
    }
    const ext = findExtension(rs, key);
    if (ext) {
      if (extensions.has(ext)) throw ScimError.invalidValue(`Extension "${ext.id}" is given more than once`);
      extensions.set(ext, value);
      continue;
    }
    if (isUrnKey(key)) {
      if (policy !== 'keep' && dormant.includes(key)) continue; // the stored value is kept below, whatever came in
      const value = validator.unknown(key, input[key], `Unknown attribute "${key}": not a schema extension of resource type ${rs.resourceType.name}`);
      if (value !== undefined) kept[key] = value;
      continue;
    }
    core[key] = value;
  }

  const out: Json = { schemas: [rs.core.id] };
  Object.assign(out, validator.attributes(coreDefs, core, existing, '', false));
  const schemas = out.schemas as string[];
  for (const key of dormant) if (!Object.hasOwn(kept, key)) kept[key] = structuredClone(existing![key]);
  for (const ext of rs.extensions) {
    const value = extensions.get(ext);
    const before = existing?.[ext.id];
    const beforeObject = isPlainObject(before) ? before : undefined;
    // An absent extension means the resource has none (its required attributes apply only when it is present).
    let validated: Json | undefined;
    if (value !== undefined && value !== null) {
      if (!isPlainObject(value)) throw typeError(ext.id, 'an object', value);
      validated = validator.attributes(ext.attributes, value, beforeObject, `${ext.id}:`, false);
    }
    if (validated && Object.keys(validated).length > 0) {
      out[ext.id] = validated;
      schemas.push(ext.id);
    } else {
      const ref = rs.resourceType.schemaExtensions.find((s) => s.schema.toLowerCase() === ext.id.toLowerCase());
      if (ref?.required) throw ScimError.invalidValue(`Required schema extension "${ext.id}" is missing`);
    }
  }
  for (const key of Object.keys(kept)) {
    out[key] = kept[key];
    if (isPlainObject(kept[key])) schemas.push(key);
  }
  defaultActive(rs, out, context);
  checkResourceSize(rs.resourceType.name, out, rs.core.id === GROUP_SCHEMA);
  return out;
}

/**
 * What an absent `active` means (docs/compatibility.md): a User is active unless a client says otherwise, so every
 * stored User has the attribute. Created without it, a User is active; a PUT without it keeps the stored value (a
 * client that never sends it, as OneLogin's default template, does not manage it, and must not reactivate a suspended
 * user by updating a name); a PATCH that removes it leaves the default, true.
 */
function defaultActive(rs: ResourceSchema, out: Json, context: ValidationContext): void {
  if (out.active !== undefined || rs.core.id !== USER_SCHEMA || !findAttribute(rs.core.attributes, 'active')) return;
  const stored = context.existing?.active;
  out.active = context.mode === 'replace' && typeof stored === 'boolean' ? stored : true;
}
