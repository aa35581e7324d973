/** Case-insensitive lookups over the schema definitions (RFC 7643 section 2.1: names are case-insensitive). */
import { ScimError } from '../errors.ts';
import {
  COMMON_ATTRIBUTES,
  ENTERPRISE_USER_SCHEMA_DEFINITION,
  GROUP_RESOURCE_TYPE,
  GROUP_SCHEMA_DEFINITION,
  USER_RESOURCE_TYPE,
  USER_SCHEMA_DEFINITION,
} from './core.ts';
import type { AttributeDefinition, ResourceTypeDefinition, SchemaDefinition } from './types.ts';

/**
 * What an organization does with attributes its schemas do not define (docs/compatibility.md): `reject` answers 400
 * naming the attribute, `ignore` drops it (the server logs what it dropped), `keep` stores it as sent and returns it,
 * without validation, filtering or sorting.
 */
export type UnknownAttributePolicy = 'reject' | 'ignore' | 'keep';

export const UNKNOWN_ATTRIBUTE_POLICIES: readonly UnknownAttributePolicy[] = ['reject', 'ignore', 'keep'];

/** A resource type together with the schema definitions it uses. */
export interface ResourceSchema {
  readonly resourceType: ResourceTypeDefinition;
  readonly core: SchemaDefinition;
  readonly extensions: readonly SchemaDefinition[];
  /** Absent means `reject`. */
  readonly unknownAttributes?: UnknownAttributePolicy;
}

export const USER: ResourceSchema = {
  resourceType: USER_RESOURCE_TYPE,
  core: USER_SCHEMA_DEFINITION,
  extensions: [ENTERPRISE_USER_SCHEMA_DEFINITION],
};

export const GROUP: ResourceSchema = {
  resourceType: GROUP_RESOURCE_TYPE,
  core: GROUP_SCHEMA_DEFINITION,
  extensions: [],
};

export const RESOURCE_SCHEMAS: readonly ResourceSchema[] = [USER, GROUP];

/** Where an attribute path lands: the owning schema (null for common attributes and the core schema's own) and the definitions. */
export interface ResolvedAttribute {
  /** The extension URN that holds the attribute in a document, or null when it sits at the top level. */
  readonly extension: string | null;
  readonly attribute: AttributeDefinition;
  readonly subAttribute: AttributeDefinition | null;
}

export function findAttribute(list: readonly AttributeDefinition[] | undefined, name: string): AttributeDefinition | undefined {
  if (!list) return undefined;
  const lower = name.toLowerCase();
  return list.find((a) => a.name.toLowerCase() === lower);
}

export function findExtension(rs: ResourceSchema, urn: string): SchemaDefinition | undefined {
  const lower = urn.toLowerCase();
  return rs.extensions.find((s) => s.id.toLowerCase() === lower);
}

export function isCoreUrn(rs: ResourceSchema, urn: string): boolean {
  return rs.core.id.toLowerCase() === urn.toLowerCase();
}

/** All schema URNs a resource of this type may declare. */
export function knownUrns(rs: ResourceSchema): string[] {
  return [rs.core.id, ...rs.extensions.map((s) => s.id)];
}

/**
 * Resolves `[urn:]attr[.sub]` for a resource type. Returns undefined when the path names nothing.
 * `urn` is null for unqualified paths.
 */
export function resolveAttribute(rs: ResourceSchema, urn: string | null, name: string, sub: string | null): ResolvedAttribute | undefined {
  let extension: string | null = null;
  let attribute: AttributeDefinition | undefined;
  if (urn === null || isCoreUrn(rs, urn)) {
    attribute = findAttribute(rs.core.attributes, name) ?? (urn === null ? findAttribute(COMMON_ATTRIBUTES, name) : undefined);
  } else {
    const ext = findExtension(rs, urn);
    if (!ext) return undefined;
    extension = ext.id;
    attribute = findAttribute(ext.attributes, name);
  }
  if (!attribute) return undefined;
  if (sub === null) return { extension, attribute, subAttribute: null };
  const subAttribute = findAttribute(attribute.subAttributes, sub);
  if (!subAttribute) return undefined;
  return { extension, attribute, subAttribute };
}

/** Splits a full attribute path `urn:...:User:name.givenName` into its URN (if any) and the remainder. */
export function splitUrn(rs: ResourceSchema, path: string): { urn: string | null; rest: string } {
  const lower = path.toLowerCase();
  for (const urn of knownUrns(rs)) {
    const u = urn.toLowerCase();
    if (lower.startsWith(u + ':')) return { urn, rest: path.slice(urn.length + 1) };
    if (lower === u) return { urn, rest: '' };
  }
  if (lower.startsWith('urn:')) {
    // An unknown schema: take everything up to the last colon as the URN.
    const idx = path.lastIndexOf(':');
    return { urn: path.slice(0, idx), rest: path.slice(idx + 1) };
  }
  return { urn: null, rest: path };
}

/** Resolves a dotted attribute path string such as `emails.value` or `urn:...:enterprise:2.0:User:manager.value`. */
export function resolvePathString(rs: ResourceSchema, path: string): ResolvedAttribute {
  const { urn, rest } = splitUrn(rs, path);
  const dot = rest.indexOf('.');
  const name = dot < 0 ? rest : rest.slice(0, dot);
  const sub = dot < 0 ? null : rest.slice(dot + 1);
  const resolved = name ? resolveAttribute(rs, urn, name, sub) : undefined;
  if (!resolved) throw ScimError.invalidPath(`Unknown attribute "${path}"`);
  return resolved;
}

const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

/** Keys that could reach an object's prototype; rejected wherever input names a key. */
export function isForbiddenKey(key: string): boolean {
  return FORBIDDEN_KEYS.has(key.toLowerCase());
}
