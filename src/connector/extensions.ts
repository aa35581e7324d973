/**
 * Extension attributes as typed columns of the users table: what the source's /ResourceTypes and /Schemas declare
 * for Users (RFC 7643 sections 6 and 7), read during the probe. The Enterprise User extension has columns of its own
 * (tables.ts); every other extension attribute of Users gets one column, typed by the attribute's type: text,
 * boolean, integer or timestamp for a singular simple attribute, JSON for a multi-valued, complex or decimal one.
 * The destination adds the columns, once, by versioned migrations (destination/extensions.ts).
 */
import { ENTERPRISE_USER_SCHEMA, USER_SCHEMA } from '../scim/schema/core.ts';
import { looseBool, timestamp, type Json } from './mapping.ts';
import { USERS_TABLE, type Cell, type ColumnType } from './tables.ts';

/** A users column holding one extension attribute. */
export interface ExtensionColumn {
  /** The column name: a lower-case SQL identifier, unique in the users table. */
  readonly name: string;
  readonly type: ColumnType;
  /** The extension's URN and the attribute's name, as the source declares them. */
  readonly urn: string;
  readonly attribute: string;
}

/** Extensions with more attributes than this contribute the first ones only (a column per attribute). */
const MAX_COLUMNS = 200;
const IDENTIFIER_LENGTH = 60;

function obj(v: unknown): Json | null {
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Json) : null;
}

/** A ListResponse's Resources, or a bare array. */
function resources(body: unknown): Json[] {
  const list = Array.isArray(body) ? body : (obj(body)?.Resources ?? obj(body)?.resources);
  return Array.isArray(list) ? list.map(obj).filter((r): r is Json => r !== null) : [];
}

function snake(text: string): string {
  return text
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '_')
    .replace(/^_+|_+$/g, '');
}

function columnType(attribute: Json): ColumnType {
  if (attribute.multiValued === true) return 'json';
  switch (attribute.type) {
    case 'boolean':
      return 'boolean';
    case 'integer':
      return 'integer';
    case 'dateTime':
      return 'timestamp';
    case 'complex':
    case 'decimal':
      return 'json';
    default:
      return 'text';
  }
}

/** The URNs of the User resource type's extensions, per /ResourceTypes. */
function userExtensionUrns(resourceTypes: unknown): string[] {
  const user = resources(resourceTypes).find((rt) => typeof rt.schema === 'string' && rt.schema.toLowerCase() === USER_SCHEMA.toLowerCase());
  const extensions = Array.isArray(user?.schemaExtensions) ? user.schemaExtensions : [];
  return extensions.map((e) => obj(e)?.schema).filter((s): s is string => typeof s === 'string' && s !== '');
}

/**
 * The columns for the User extension attributes a source declares (not the Enterprise one's, which have columns of
 * their own), in declaration order, with names that collide with nothing. Unreadable documents give none.
 */
export function extensionColumns(resourceTypes: unknown, schemas: unknown): ExtensionColumn[] {
  const taken = new Set(USERS_TABLE.columns.map((c) => c.name));
  const byUrn = new Map(resources(schemas).filter((s) => typeof s.id === 'string').map((s) => [(s.id as string).toLowerCase(), s]));
  const out: ExtensionColumn[] = [];
  for (const urn of userExtensionUrns(resourceTypes)) {
    if (urn.toLowerCase() === ENTERPRISE_USER_SCHEMA.toLowerCase()) continue;
    const schema = byUrn.get(urn.toLowerCase());
    if (!schema || !Array.isArray(schema.attributes)) continue;
    const prefix = snake(typeof schema.name === 'string' && schema.name !== '' ? schema.name : urn.slice(urn.lastIndexOf(':') + 1)) || 'ext';
    for (const raw of schema.attributes) {
      const attribute = obj(raw);
      if (!attribute || typeof attribute.name !== 'string' || attribute.name === '' || attribute.returned === 'never') continue;
      if (out.length >= MAX_COLUMNS) return out;
      let name = `${prefix}_${snake(attribute.name) || 'attribute'}`.slice(0, IDENTIFIER_LENGTH).replace(/_+$/, '');
      if (!/^[a-z]/.test(name)) name = `x_${name}`.slice(0, IDENTIFIER_LENGTH);
      const base = name;
      for (let n = 2; taken.has(name); n++) name = `${base.slice(0, IDENTIFIER_LENGTH - 4)}_${n}`;
      taken.add(name);
      out.push({ name, type: columnType(attribute), urn, attribute: attribute.name });
    }
  }
  return out;
}

/** Own-property lookup ignoring case (SCIM names are case-insensitive); undefined when absent. */
function getIgnoringCase(o: Json, key: string): unknown {
  if (Object.hasOwn(o, key)) return o[key];
  const lower = key.toLowerCase();
  for (const k of Object.keys(o)) if (k.toLowerCase() === lower) return o[k];
  return undefined;
}

/** The cell of one extension column for a resource, tolerant of what a server sends (a wrong type reads as null). */
export function extensionValue(resource: Json, column: ExtensionColumn): Cell {
  const holder = obj(getIgnoringCase(resource, column.urn));
  const value = holder ? getIgnoringCase(holder, column.attribute) : undefined;
  if (value === undefined || value === null) return null;
  switch (column.type) {
    case 'text':
      return typeof value === 'string' ? value : typeof value === 'number' && Number.isFinite(value) ? String(value) : null;
    case 'boolean':
      return looseBool(value);
    case 'integer':
      return typeof value === 'number' && Number.isSafeInteger(value) ? value : typeof value === 'string' && /^-?\d{1,15}$/.test(value) ? Number(value) : null;
    case 'timestamp':
      return timestamp(value);
    case 'json':
      return JSON.stringify(value);
  }
}
