/**
 * SCIM resources to table rows. Reads only the attributes it maps (never merges server objects into ours), tolerates
 * numbers where strings are expected and strings where booleans are, and normalises timestamps to UTC ISO-8601.
 */
import { hash } from 'node:crypto';
import { ENTERPRISE_USER_SCHEMA } from '../scim/schema/core.ts';
import { extensionValue, type ExtensionColumn } from './extensions.ts';
import type { Cell, TableDef } from './tables.ts';

export type Json = Record<string, unknown>;

/** A mapped row: cells in the table's column order, plus its content hash. */
export interface Row {
  readonly values: readonly Cell[];
  readonly hash: string;
}

function obj(v: unknown): Json | null {
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Json) : null;
}

function text(v: unknown): string | null {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  return null;
}

/** A boolean sent as a boolean or as "true"/"false" in any case (some providers send strings). */
export function looseBool(v: unknown): boolean | null {
  if (typeof v === 'boolean') return v;
  if (typeof v === 'string') {
    const s = v.trim().toLowerCase();
    if (s === 'true') return true;
    if (s === 'false') return false;
  }
  return null;
}

const CANONICAL_UTC = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;
const MONTH_DAYS = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

function twoDigits(v: string, at: number): number {
  return (v.charCodeAt(at) - 48) * 10 + v.charCodeAt(at + 1) - 48;
}

/**
 * Whether `v` is already what toISOString writes for the instant it names, as most servers send it: then no Date
 * is built (two per user cost a third of mapping one). Date.parse alone would not tell: it takes 24:00 and
 * February 30 and rolls them over.
 */
function isCanonicalUtc(v: string): boolean {
  if (v.length !== 24 || !CANONICAL_UTC.test(v)) return false;
  const year = twoDigits(v, 0) * 100 + twoDigits(v, 2);
  const month = twoDigits(v, 5);
  const day = twoDigits(v, 8);
  if (month < 1 || month > 12 || day < 1 || twoDigits(v, 11) > 23 || twoDigits(v, 14) > 59 || twoDigits(v, 17) > 59) return false;
  const leapDay = month === 2 && year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 1 : 0;
  return day <= MONTH_DAYS[month - 1] + leapDay;
}

/** A SCIM dateTime as a UTC ISO-8601 string, or null when absent or unparseable. */
export function timestamp(v: unknown): string | null {
  if (typeof v !== 'string') return null;
  if (isCanonicalUtc(v)) return v;
  const ms = Date.parse(v);
  return Number.isNaN(ms) ? null : new Date(ms).toISOString();
}

/**
 * What a row's content hash is a hash of, and the prefix every hash carries. A copied column is a function of the
 * resource's JSON (the row's `raw` cell) and, for users, of the extension columns the table has; so the hash is taken
 * over that text, not over the row's values serialised again, which cost more than mapping the row (BENCHMARKS.md).
 * Change what a resource maps to and bump the version: every row is then written again with the new mapping.
 */
export const MAPPING_VERSION = 2;
const HASH_PREFIX = `${MAPPING_VERSION}:`;

function contentHash(text: string): string {
  // The one-shot hash: a Hash object per row cost more than the hashing itself.
  return HASH_PREFIX + hash('sha1', text, 'base64');
}

/** A hash written before MAPPING_VERSION 2: over the copied values serialised as JSON, with no prefix. */
export function isLegacyHash(stored: string): boolean {
  return !stored.includes(':');
}

/** A row's hash as versions before 2 computed it: an unchanged row written then has this one. */
export function legacyHash(table: TableDef, values: readonly Cell[]): string {
  const copied = table.columns.some((c) => c.derived) ? values.filter((_, i) => !table.columns[i].derived) : values;
  return hash('sha1', JSON.stringify(copied), 'base64');
}

/** The users table's extension columns as they enter a user's hash (computed once per list of them). */
const extensionsKey = new WeakMap<readonly ExtensionColumn[], string>();
function extensionsHashKey(extensions: readonly ExtensionColumn[]): string {
  let key = extensionsKey.get(extensions);
  if (key === undefined) {
    key = extensions.map((c) => `${c.name} ${c.type} ${c.urn} ${c.attribute}\n`).join('');
    extensionsKey.set(extensions, key);
  }
  return key;
}

/**
 * The resource without the given attribute, to be serialised: itself when it has none (most do not), else a
 * null-prototype copy, so that a server-sent "__proto__" key stays a plain key.
 */
function without(resource: Json, attribute: string): Json {
  if (!Object.hasOwn(resource, attribute)) return resource;
  const copy: Json = Object.create(null) as Json;
  for (const [k, v] of Object.entries(resource)) if (k !== attribute) copy[k] = v;
  return copy;
}

/** The resource's id, when it has a usable one. */
export function resourceId(resource: unknown): string | null {
  const o = obj(resource);
  if (!o) return null;
  const id = text(o.id);
  return id && id.length > 0 ? id : null;
}

/** The resource's `meta.lastModified` in epoch ms, or null. */
export function lastModifiedMs(resource: Json): number | null {
  const meta = obj(resource.meta);
  if (!meta || typeof meta.lastModified !== 'string') return null;
  const ms = Date.parse(meta.lastModified);
  return Number.isNaN(ms) ? null : ms;
}

/** The value of the email marked primary, else of the first with a value. */
function primaryEmail(emails: unknown): string | null {
  if (!Array.isArray(emails)) return null;
  let first: string | null = null;
  for (const email of emails) {
    const e = obj(email);
    const value = e ? text(e.value) : null;
    if (value === null) continue;
    if (looseBool((e as Json).primary) === true) return value;
    first ??= value;
  }
  return first;
}

/** A multi-valued attribute as JSON text, when it is an array. */
function jsonList(v: unknown): string | null {
  return Array.isArray(v) ? JSON.stringify(v) : null;
}

/** A User's row: the fixed columns, then one per extension column the destination has (extensions.ts). */
export function mapUser(resource: Json, extensions: readonly ExtensionColumn[] = []): Row {
  const name = obj(resource.name) ?? {};
  const ent = obj(resource[ENTERPRISE_USER_SCHEMA]) ?? {};
  const meta = obj(resource.meta) ?? {};
  const manager = obj(ent.manager);
  // A User's `groups` is a relation the server derives, and many servers do not move the User's lastModified
  // when it changes: group_members holds it, kept current, so raw leaves it out rather than go stale.
  const raw = JSON.stringify(without(resource, 'groups'));
  const values: Cell[] = [
    resourceId(resource),
    text(resource.userName),
    text(resource.externalId),
    primaryEmail(resource.emails),
    Array.isArray(resource.emails) ? JSON.stringify(resource.emails) : null,
    text(name.givenName),
    text(name.familyName),
    text(resource.displayName),
    // An absent `active` means active, as scimkit's server stores it (docs/compatibility.md).
    resource.active === undefined || resource.active === null ? true : looseBool(resource.active),
    text(resource.title),
    text(resource.userType),
    text(ent.employeeNumber),
    text(ent.department),
    text(ent.division),
    text(ent.costCenter),
    text(ent.organization),
    manager ? text(manager.value) : null,
    timestamp(meta.created),
    timestamp(meta.lastModified),
    raw,
    jsonList(resource.phoneNumbers),
    jsonList(resource.addresses),
    jsonList(resource.roles),
    jsonList(resource.entitlements),
  ];
  for (const column of extensions) values.push(extensionValue(resource, column));
  return { values, hash: contentHash(extensions.length === 0 ? raw : extensionsHashKey(extensions) + raw) };
}

/**
 * The group_members row of one member value. `display` starts as the group sent it; the engine then derives it
 * from the users table when the member is a synced user (see refreshMemberDisplays).
 */
export function memberRow(groupId: string, memberId: string, member: Json): Row {
  const raw = JSON.stringify(member);
  return { values: [groupId, memberId, text(member.type), text(member.display), raw], hash: contentHash(raw) };
}

/** A member value's id (its `value`), or null when it is not an object with one. */
export function memberIdOf(member: unknown): string | null {
  const m = obj(member);
  const id = m ? text(m.value) : null;
  return id ? id : null;
}

/**
 * A group's row. Its `raw` leaves out `members` (they live in group_members, one row each), so a 100,000-member
 * group does not also sit in one giant JSON cell; `memberCount` is how many distinct members it listed.
 */
export function mapGroup(resource: Json, memberCount: number): Row {
  const meta = obj(resource.meta) ?? {};
  const raw = JSON.stringify(without(resource, 'members'));
  return {
    values: [resourceId(resource) as string, text(resource.displayName), text(resource.externalId), memberCount, timestamp(meta.created), timestamp(meta.lastModified), raw],
    hash: contentHash(raw),
  };
}
