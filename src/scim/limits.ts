/**
 * Length limits on resources, checked once, by validation (validateResource), so every store answers a value past
 * them with the same 400 invalidValue, whatever its own limits are.
 *
 * Lengths are in characters (Unicode code points, so an emoji is one), and every limit is chosen to be safe in
 * UTF-8 bytes, at 4 bytes per character: PostgreSQL refuses a B-tree index entry over 2,704 bytes, and a value the
 * store indexes must never reach that (the store's column map checks each indexed attribute against
 * INDEXED_VALUE_MAX_BYTES when it loads).
 */
import { ScimError } from './errors.ts';

/** Most characters of any string value (a binary or reference too): at most 128 KiB of UTF-8. */
export const MAX_STRING_CHARS = 32_768;

/**
 * Most characters of an attribute the store keeps in an indexed column: userName, a Group's displayName,
 * externalId. 512 characters are at most 2,048 bytes, folded to lower case or not (no character's lower case takes
 * more than 4 bytes), which leaves room in a PostgreSQL index entry for the organization id and resource type.
 */
export const MAX_INDEXED_CHARS = 512;

/** The UTF-8 bytes an indexed value may take at most, by MAX_INDEXED_CHARS. */
export const INDEXED_VALUE_MAX_BYTES = MAX_INDEXED_CHARS * 4;

/** Most UTF-8 bytes of a resource's JSON as stored: its attributes, without a Group's members (kept apart). */
export const MAX_RESOURCE_BYTES = 256 * 1024;

/** Attributes of each resource type with a limit of their own (top-level core attributes, canonical names). */
const ATTRIBUTE_MAX_CHARS: Readonly<Record<string, Readonly<Record<string, number>>>> = {
  User: { userName: MAX_INDEXED_CHARS, externalId: MAX_INDEXED_CHARS },
  Group: { displayName: MAX_INDEXED_CHARS, externalId: MAX_INDEXED_CHARS },
};

/** The most characters a string at `path` (canonical, as validation names it) of a resource type may have. */
export function maxCharsOf(resourceType: string, path: string): number {
  return ATTRIBUTE_MAX_CHARS[resourceType]?.[path] ?? MAX_STRING_CHARS;
}

/** Code points in `text`, stopping once past `limit` (a surrogate pair is one character). */
function exceeds(text: string, limit: number): boolean {
  if (text.length <= limit) return false;
  if (text.length > 2 * limit) return true;
  let count = 0;
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    // A high surrogate followed by a low one is one character.
    if (unit >= 0xd800 && unit <= 0xdbff && i + 1 < text.length) {
      const next = text.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) i++;
    }
    if (++count > limit) return true;
  }
  return false;
}

/** 400 invalidValue, naming the attribute and its limit, when the string at `path` is too long. */
export function checkStringLength(resourceType: string, path: string, text: string): void {
  const limit = maxCharsOf(resourceType, path);
  if (exceeds(text, limit)) {
    throw ScimError.invalidValue(`Attribute "${path}" is too long: at most ${limit.toLocaleString('en')} characters are allowed`);
  }
}

/** 400 invalidValue when a resource's JSON (as stored, without a Group's members) passes MAX_RESOURCE_BYTES. */
export function checkResourceSize(resourceType: string, document: Record<string, unknown>, withoutMembers: boolean): void {
  let own = document;
  if (withoutMembers && 'members' in document) {
    const { members: _members, ...rest } = document;
    own = rest;
  }
  const text = JSON.stringify(own);
  // A UTF-16 unit takes at most 3 bytes of UTF-8, so most documents are known to be small without counting.
  if (text.length * 3 <= MAX_RESOURCE_BYTES) return;
  const bytes = Buffer.byteLength(text, 'utf8');
  if (bytes > MAX_RESOURCE_BYTES) {
    throw ScimError.invalidValue(
      `The ${resourceType} is too large: ${bytes.toLocaleString('en')} bytes of JSON, at most ${MAX_RESOURCE_BYTES.toLocaleString('en')} are allowed (a Group's members do not count)`,
    );
  }
}
