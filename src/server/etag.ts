/**
 * Weak entity tags (RFC 7644 section 3.14; RFC 9110 section 8.8.3) over the store's integer versions.
 *
 * A version counts writes to the resource itself. A User's `groups` and a Group's `members` (with display names) come
 * from the membership table and change without such a write, so a representation that lists them carries a digest
 * of them after the version: `W/"7"` without relations, `W/"7.<digest>"` with them. Preconditions on writes compare
 * the version (the store checks it atomically); If-None-Match compares the whole tag, so a changed relation is a
 * changed representation.
 */
import { createHash, hash } from 'node:crypto';
import type { Hash } from 'node:crypto';

/** One entry of a relation list: a member of a Group, or a group of a User. */
export interface RelationEntry {
  readonly value?: unknown;
  readonly display?: unknown;
  readonly type?: unknown;
}

/** `relations`: the relation list the representation shows (a User's groups, a Group's members), when it shows any. */
export function formatEtag(version: number, relations?: readonly RelationEntry[]): string {
  if (relations === undefined || relations.length === 0) return `W/"${version}"`;
  // A few hundred entries per update: a 100,000-member list is never one string, nor 100,000 calls into the hash;
  // a short list (a user's groups, on every uncached read) is hashed in one call, without a Hash object.
  let digest: Hash | undefined;
  let batch = '';
  for (let i = 0; i < relations.length; i++) {
    const r = relations[i];
    batch += `${String(r.value)}\u0000${String(r.display ?? '')}\u0000${String(r.type ?? '')}\n`;
    if (i % 512 === 511) {
      (digest ??= createHash('sha1')).update(batch);
      batch = '';
    }
  }
  const base64 = digest ? digest.update(batch).digest('base64url') : hash('sha1', batch, 'base64url');
  return `W/"${version}.${base64.slice(0, 16)}"`;
}

/** The tag naming the version alone: `W/"7.<digest>"` becomes `W/"7"`; anything else is returned as it is. */
export function versionTag(tag: string): string {
  const m = /^W\/"(\d{1,15})\.[A-Za-z0-9_-]+"$/.exec(tag);
  return m ? `W/"${m[1]}"` : tag;
}

/** A parsed If-Match / If-None-Match header: `*`, or the opaque tags it lists and the versions they name. */
export type EtagCondition =
  | { readonly any: true }
  | { readonly any: false; readonly tags: ReadonlySet<string>; readonly versions: ReadonlySet<number> };

// One entity tag: optional weak prefix, then a quoted opaque tag without quotes inside.
const ENTITY_TAG = /^(?:W\/)?"([^"]*)"$/;
// Ours: a version, optionally followed by a relations digest.
const OUR_TAG = /^(\d{1,15})(?:\.[A-Za-z0-9_-]+)?$/;

/** Returns null when the header is absent or empty. Unparseable tags are kept as "matches nothing". */
export function parseEtagCondition(header: string | string[] | undefined): EtagCondition | null {
  if (header === undefined) return null;
  const text = Array.isArray(header) ? header.join(',') : header;
  const parts = text.split(',').map((p) => p.trim()).filter((p) => p !== '');
  if (parts.length === 0) return null;
  if (parts.includes('*')) return { any: true };
  const tags = new Set<string>();
  const versions = new Set<number>();
  for (const part of parts) {
    // Comparison is weak (RFC 9110 section 8.8.3.2), so W/"3" and "3" are the same tag.
    const opaque = ENTITY_TAG.exec(part)?.[1];
    const ours = opaque === undefined ? null : OUR_TAG.exec(opaque);
    if (ours === null) continue;
    tags.add(opaque!);
    versions.add(Number(ours[1]));
  }
  return { any: false, tags, versions };
}

/** If-Match on a write: does the condition name this version (whatever relations the client saw with it)? */
export function conditionMatches(condition: EtagCondition, version: number): boolean {
  return condition.any || condition.versions.has(version);
}

/** If-None-Match on a read: does the condition name this representation's tag? */
export function tagMatches(condition: EtagCondition, etag: string): boolean {
  return condition.any || condition.tags.has(etag.slice('W/"'.length, -1));
}
