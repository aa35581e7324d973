/**
 * Schema extensions an operator declares for one organization (RFC 7643 section 7 schema documents), and the schema
 * set an organization's requests are validated against: the built-in schemas plus its declared extensions.
 *
 * A declared document is checked before it is kept, so that everything reading schemas (validation, filters, sorting,
 * PATCH, projection, /Schemas) can rely on it. Every failure is a ScimError 400 invalidValue naming the problem.
 */
import { ScimError } from '../errors.ts';
import { isPlainObject } from '../json.ts';
import { ENTERPRISE_USER_SCHEMA, SCHEMAS } from './core.ts';
import { GROUP, USER, isForbiddenKey } from './registry.ts';
import type { ResourceSchema, UnknownAttributePolicy } from './registry.ts';
import type { AttributeDefinition, AttributeType, Mutability, ResourceTypeDefinition, Returned, SchemaDefinition, Uniqueness } from './types.ts';

export type ExtensibleResourceType = 'User' | 'Group';

/** One declared extension: the schema, the resource type it extends, and whether resources must carry it. */
export interface SchemaExtensionDeclaration {
  readonly resourceType: ExtensibleResourceType;
  readonly required: boolean;
  readonly schema: SchemaDefinition;
}

/** The schemas one organization's requests use. */
export interface SchemaSet {
  readonly user: ResourceSchema;
  readonly group: ResourceSchema;
  /** What /Schemas lists: the built-in schemas, then the declared ones. */
  readonly schemas: readonly SchemaDefinition[];
  /** What /ResourceTypes lists, with the declared extensions in `schemaExtensions`. */
  readonly resourceTypes: readonly ResourceTypeDefinition[];
}

/** Limits that keep a declared document small enough to check and resolve on every request without thought. */
export const DECLARATION_LIMITS = {
  /** Declared extensions per organization. */
  extensions: 20,
  /** Attributes per extension. */
  attributes: 100,
  /** Sub-attributes per complex attribute. */
  subAttributes: 50,
  /** Characters in a schema URN. */
  urnLength: 200,
  /** Characters in an attribute name. */
  nameLength: 64,
  /** Characters in a name or description. */
  textLength: 1000,
  /** Entries of canonicalValues or referenceTypes. */
  listEntries: 100,
} as const;

/** ATTRNAME of RFC 7643 section 2.1: ALPHA *(nameChar). */
const ATTR_NAME = /^[A-Za-z][A-Za-z0-9_-]*$/;
/**
 * RFC 8141: `urn:` NID `:` NSS, with NID of 2 to 32 letters, digits and hyphens. Our attribute paths split a URN
 * from the attribute at the last colon, so each colon-separated segment of the NSS must be non-empty and hold only
 * characters the filter parser accepts in a URN.
 */
const URN_NID = /^[A-Za-z0-9][A-Za-z0-9-]{0,30}[A-Za-z0-9]$/;
const URN_SEGMENT = /^[A-Za-z0-9._~+%!$&'*=@;-]+$/;
/** Namespaces that RFC 7643/7644 reserve for their own schemas and messages. */
const RESERVED_PREFIXES = ['urn:ietf:params:scim:schemas:core:', 'urn:ietf:params:scim:api:'];

const TYPES: ReadonlySet<string> = new Set<AttributeType>(['string', 'boolean', 'decimal', 'integer', 'dateTime', 'reference', 'complex', 'binary']);
const MUTABILITIES: ReadonlySet<string> = new Set<Mutability>(['readOnly', 'readWrite', 'immutable', 'writeOnly']);
const RETURNED: ReadonlySet<string> = new Set<Returned>(['always', 'never', 'default', 'request']);
const UNIQUENESS: ReadonlySet<string> = new Set<Uniqueness>(['none', 'server', 'global']);

/** The members of an attribute definition (RFC 7643 section 7), matched case-insensitively. */
const ATTRIBUTE_MEMBERS = [
  'name',
  'type',
  'multiValued',
  'description',
  'required',
  'caseExact',
  'mutability',
  'returned',
  'uniqueness',
  'canonicalValues',
  'referenceTypes',
  'subAttributes',
] as const;
type AttributeMember = (typeof ATTRIBUTE_MEMBERS)[number];

/** Members of a schema document; `schemas` and `meta` are what /Schemas serves and are ignored on the way in. */
const DOCUMENT_MEMBERS = ['id', 'name', 'description', 'attributes', 'schemas', 'meta'] as const;
type DocumentMember = (typeof DOCUMENT_MEMBERS)[number];

function invalid(detail: string): ScimError {
  return ScimError.invalidValue(`Invalid schema extension: ${detail}`);
}

/** Reads the members of `obj` into canonical names, refusing unknown, repeated and prototype-reaching ones. */
function members<K extends string>(obj: Record<string, unknown>, known: readonly K[], where: string): Partial<Record<K, unknown>> {
  const out: Partial<Record<K, unknown>> = Object.create(null) as Partial<Record<K, unknown>>;
  for (const key of Object.keys(obj)) {
    if (isForbiddenKey(key)) throw invalid(`${where} has the member "${key}", which is not allowed`);
    const name = known.find((k) => k.toLowerCase() === key.toLowerCase());
    if (name === undefined) throw invalid(`${where} has the unknown member "${key}" (known: ${known.join(', ')})`);
    if (Object.hasOwn(out, name)) throw invalid(`${where} gives "${name}" more than once (names are case-insensitive)`);
    out[name] = obj[key];
  }
  return out;
}

function text(value: unknown, where: string, fallback: string | undefined): string {
  if (value === undefined || value === null) {
    if (fallback === undefined) throw invalid(`${where} is missing`);
    return fallback;
  }
  if (typeof value !== 'string') throw invalid(`${where} must be a string`);
  if (value.length > DECLARATION_LIMITS.textLength) throw invalid(`${where} is longer than ${DECLARATION_LIMITS.textLength} characters`);
  return value;
}

function flag(value: unknown, where: string): boolean {
  if (value === undefined || value === null) return false;
  if (typeof value !== 'boolean') throw invalid(`${where} must be true or false`);
  return value;
}

function oneOf<T extends string>(value: unknown, allowed: ReadonlySet<string>, where: string, fallback: T): T {
  if (value === undefined || value === null) return fallback;
  if (typeof value !== 'string' || !allowed.has(value)) throw invalid(`${where} must be one of ${[...allowed].join(', ')}, got ${JSON.stringify(value)}`);
  return value as T;
}

function strings(value: unknown, where: string): string[] | undefined {
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'string' && v !== '' && v.length <= DECLARATION_LIMITS.textLength)) {
    throw invalid(`${where} must be an array of non-empty strings`);
  }
  if (value.length > DECLARATION_LIMITS.listEntries) throw invalid(`${where} has more than ${DECLARATION_LIMITS.listEntries} entries`);
  return [...(value as string[])];
}

/** Checks a schema URN: RFC 8141 form, not a reserved SCIM namespace. Returns it unchanged. */
export function checkSchemaUrn(urn: unknown): string {
  if (typeof urn !== 'string' || urn === '') throw invalid('"id" must be the schema URN, such as "urn:ietf:params:scim:schemas:extension:acme:2.0:User"');
  if (urn.length > DECLARATION_LIMITS.urnLength) throw invalid(`the URN is longer than ${DECLARATION_LIMITS.urnLength} characters`);
  const segments = urn.split(':');
  if (segments[0].toLowerCase() !== 'urn' || segments.length < 3) {
    throw invalid(`"${urn}" is not a URN: it must look like urn:<namespace>:<name>, such as "urn:ietf:params:scim:schemas:extension:acme:2.0:User"`);
  }
  if (!URN_NID.test(segments[1])) throw invalid(`"${urn}" has an invalid namespace identifier "${segments[1]}" (2 to 32 letters, digits or hyphens)`);
  const bad = segments.slice(2).find((s) => !URN_SEGMENT.test(s));
  if (bad !== undefined) {
    throw invalid(`"${urn}" has ${bad === '' ? 'an empty segment' : `an invalid segment "${bad}"`} (segments between colons use letters, digits and . _ ~ + % ! $ & ' * = @ ; -)`);
  }
  const lower = urn.toLowerCase();
  if (RESERVED_PREFIXES.some((p) => lower.startsWith(p)) || lower === ENTERPRISE_USER_SCHEMA.toLowerCase()) {
    throw invalid(`"${urn}" is a schema RFC 7643 defines; declare extensions under a URN of your own`);
  }
  return urn;
}

function checkName(value: unknown, where: string): string {
  if (typeof value !== 'string' || value === '') throw invalid(`${where} needs a "name"`);
  if (value.length > DECLARATION_LIMITS.nameLength) throw invalid(`${where}: the name "${value.slice(0, 20)}..." is longer than ${DECLARATION_LIMITS.nameLength} characters`);
  if (isForbiddenKey(value)) throw invalid(`${where}: the name "${value}" is not allowed`);
  if (!ATTR_NAME.test(value)) {
    throw invalid(`${where}: "${value}" is not an attribute name (RFC 7643 section 2.1: a letter, then letters, digits, "-" or "_")`);
  }
  return value;
}

function attribute(input: unknown, where: string, isSub: boolean): AttributeDefinition {
  if (!isPlainObject(input)) throw invalid(`${where} must be an object`);
  const m = members<AttributeMember>(input, ATTRIBUTE_MEMBERS, where);
  const name = checkName(m.name, where);
  const at = `${where} ("${name}")`;
  if (!isSub && name.toLowerCase() === 'schemas') throw invalid(`${at}: "schemas" is reserved for the list of schema URNs`);
  if (m.type === undefined || m.type === null) throw invalid(`${at} needs a "type" (${[...TYPES].join(', ')})`);
  const type = oneOf<AttributeType>(m.type, TYPES, `${at} "type"`, 'string');
  const mutability = oneOf<Mutability>(m.mutability, MUTABILITIES, `${at} "mutability"`, 'readWrite');
  // Nothing but clients writes extension values, so a readOnly one could never have any.
  if (mutability === 'readOnly') throw invalid(`${at} is readOnly, but scimkit computes no extension values: use readWrite, immutable or writeOnly`);
  const uniqueness = oneOf<Uniqueness>(m.uniqueness, UNIQUENESS, `${at} "uniqueness"`, 'none');
  if (uniqueness !== 'none') {
    throw invalid(`${at} asks for uniqueness "${uniqueness}", which scimkit does not enforce for extension attributes: declare "none"`);
  }
  const def: {
    -readonly [K in keyof AttributeDefinition]: AttributeDefinition[K];
  } = {
    name,
    type,
    multiValued: flag(m.multiValued, `${at} "multiValued"`),
    description: text(m.description, `${at} "description"`, ''),
    required: flag(m.required, `${at} "required"`),
    caseExact: flag(m.caseExact, `${at} "caseExact"`),
    mutability,
    returned: oneOf<Returned>(m.returned, RETURNED, `${at} "returned"`, 'default'),
    uniqueness,
  };
  const canonicalValues = strings(m.canonicalValues, `${at} "canonicalValues"`);
  if (canonicalValues) def.canonicalValues = canonicalValues;
  const referenceTypes = strings(m.referenceTypes, `${at} "referenceTypes"`);
  if (referenceTypes && type !== 'reference') throw invalid(`${at} has "referenceTypes" but is of type ${type}; only references have them`);
  if (type === 'reference') def.referenceTypes = referenceTypes ?? ['external'];
  const subs = m.subAttributes;
  if (type === 'complex') {
    // RFC 7643 section 2.3.8: a complex attribute's sub-attributes are simple.
    if (isSub) throw invalid(`${at} is complex inside a complex attribute; sub-attributes must be simple (RFC 7643 section 2.3.8)`);
    if (!Array.isArray(subs) || subs.length === 0) throw invalid(`${at} is complex and needs a non-empty "subAttributes" array`);
    if (subs.length > DECLARATION_LIMITS.subAttributes) throw invalid(`${at} has more than ${DECLARATION_LIMITS.subAttributes} sub-attributes`);
    def.subAttributes = uniqueNames(
      subs.map((s, i) => attribute(s, `${at} subAttributes[${i}]`, true)),
      `${at} "subAttributes"`,
    );
  } else if (subs !== undefined && subs !== null && !(Array.isArray(subs) && subs.length === 0)) {
    throw invalid(`${at} has "subAttributes" but is of type ${type}; only complex attributes have them`);
  }
  return Object.freeze(def);
}

function uniqueNames(defs: AttributeDefinition[], where: string): AttributeDefinition[] {
  const seen = new Set<string>();
  for (const def of defs) {
    const lower = def.name.toLowerCase();
    if (seen.has(lower)) throw invalid(`${where} names "${def.name}" more than once (names are case-insensitive)`);
    seen.add(lower);
  }
  return defs;
}

/**
 * Checks an RFC 7643 section 7 schema document and returns its definition: the URN's form, attribute names (unique,
 * case-insensitively), types, characteristics and sub-attributes. Missing characteristics take the defaults of
 * RFC 7643 section 2.2. Throws ScimError 400 invalidValue naming the problem.
 */
export function parseSchemaDocument(input: unknown): SchemaDefinition {
  if (!isPlainObject(input)) throw invalid('the document must be a JSON object with "id", "name" and "attributes"');
  const m = members<DocumentMember>(input, DOCUMENT_MEMBERS, 'the document');
  const id = checkSchemaUrn(m.id);
  const attributes = m.attributes;
  if (!Array.isArray(attributes) || attributes.length === 0) throw invalid(`"${id}" needs a non-empty "attributes" array`);
  if (attributes.length > DECLARATION_LIMITS.attributes) throw invalid(`"${id}" has more than ${DECLARATION_LIMITS.attributes} attributes`);
  return Object.freeze({
    id,
    name: text(m.name, '"name"', id.slice(id.lastIndexOf(':') + 1)),
    description: text(m.description, '"description"', ''),
    attributes: Object.freeze(uniqueNames(attributes.map((a, i) => attribute(a, `attributes[${i}]`, false)), `"${id}" attributes`)),
  });
}

/** Whether one URN is the other, or a prefix of it at a colon (then an attribute path could mean either). */
function overlaps(a: string, b: string): boolean {
  const x = a.toLowerCase();
  const y = b.toLowerCase();
  return x === y || x.startsWith(`${y}:`) || y.startsWith(`${x}:`);
}

/**
 * Checks that `candidate` can join the declarations an organization already has: a URN of its own (not a built-in
 * schema's, not one already declared, not a prefix of either), and within the per-organization limit.
 */
export function checkNewDeclaration(existing: readonly SchemaExtensionDeclaration[], candidate: SchemaExtensionDeclaration): void {
  if (candidate.resourceType !== 'User' && candidate.resourceType !== 'Group') throw invalid('the resource type must be "User" or "Group"');
  for (const schema of SCHEMAS) {
    if (overlaps(schema.id, candidate.schema.id)) throw invalid(`"${candidate.schema.id}" overlaps the built-in schema "${schema.id}"`);
  }
  for (const declared of existing) {
    if (declared.schema.id.toLowerCase() === candidate.schema.id.toLowerCase()) {
      throw ScimError.uniqueness(`The schema "${declared.schema.id}" is already declared for this organization; remove it first to change it`);
    }
    if (overlaps(declared.schema.id, candidate.schema.id)) {
      throw invalid(`"${candidate.schema.id}" overlaps the declared schema "${declared.schema.id}": one URN followed by ":" would read as an attribute of the other`);
    }
  }
  if (existing.length >= DECLARATION_LIMITS.extensions) throw invalid(`an organization can declare at most ${DECLARATION_LIMITS.extensions} schema extensions`);
}

function resourceSchema(base: ResourceSchema, declared: readonly SchemaExtensionDeclaration[], unknownAttributes: UnknownAttributePolicy): ResourceSchema {
  const own = declared.filter((d) => d.resourceType === base.resourceType.id);
  if (own.length === 0 && unknownAttributes === 'reject') return base;
  return Object.freeze({
    resourceType: { ...base.resourceType, schemaExtensions: [...base.resourceType.schemaExtensions, ...own.map((d) => ({ schema: d.schema.id, required: d.required }))] },
    core: base.core,
    extensions: [...base.extensions, ...own.map((d) => d.schema)],
    unknownAttributes,
  });
}

/**
 * The schema set of an organization with these declarations and unknown-attribute policy. Without declarations and
 * with the strict policy it is the built-in one (USER and GROUP themselves). Build it once per change and share it:
 * projections and other per-schema caches are keyed by its ResourceSchema objects.
 */
export function buildSchemaSet(declared: readonly SchemaExtensionDeclaration[], unknownAttributes: UnknownAttributePolicy = 'reject'): SchemaSet {
  const user = resourceSchema(USER, declared, unknownAttributes);
  const group = resourceSchema(GROUP, declared, unknownAttributes);
  return Object.freeze({
    user,
    group,
    schemas: [...SCHEMAS, ...declared.map((d) => d.schema)],
    resourceTypes: [user.resourceType, group.resourceType],
  });
}

/** The built-in schemas with the strict unknown-attribute policy. */
export const BUILT_IN_SCHEMA_SET: SchemaSet = buildSchemaSet([]);

const BUILT_IN_BY_POLICY: Readonly<Record<UnknownAttributePolicy, SchemaSet>> = Object.freeze({
  reject: BUILT_IN_SCHEMA_SET,
  ignore: buildSchemaSet([], 'ignore'),
  keep: buildSchemaSet([], 'keep'),
});

/** The built-in schemas with an unknown-attribute policy, one shared set per policy. */
export function builtInSchemaSet(policy: UnknownAttributePolicy): SchemaSet {
  return BUILT_IN_BY_POLICY[policy];
}
