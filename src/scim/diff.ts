/**
 * What changed between two versions of a resource document: the one comparison behind "a write that changes nothing
 * writes nothing" (the store) and the provisioning events derived from a write. Pure and key-order independent.
 */
import { deepEqual, isPlainObject } from './json.ts';

/** An extension schema URN as a key of a resource document (`urn:...:enterprise:2.0:User`). */
function isExtensionKey(key: string): boolean {
  return key.startsWith('urn:');
}

/**
 * The attributes whose values differ between `before` and `after`: core attributes by name (`title`, `emails`,
 * `schemas`), attributes of an extension by their full path (`urn:...:enterprise:2.0:User:department`), each once,
 * in the order they appear (`after`'s keys first, then keys only `before` has). An attribute present on one side
 * only counts as changed. Object key order is ignored; array order is not (a multi-valued attribute is kept as the
 * client sent it, and served in that order). Empty when the two documents are equal.
 *
 * Cost: one walk over both documents, stopping at the first difference inside each attribute; documents hold no
 * Group members (they live in their own table), so this stays small.
 */
export function changedAttributes(before: Record<string, unknown>, after: Record<string, unknown>): string[] {
  const changed: string[] = [];
  const visit = (key: string, a: unknown, b: unknown) => {
    if (isExtensionKey(key) && (isPlainObject(a) || isPlainObject(b))) {
      const left = isPlainObject(a) ? a : {};
      const right = isPlainObject(b) ? b : {};
      for (const name of unionKeys(left, right)) if (!deepEqual(left[name], right[name])) changed.push(`${key}:${name}`);
      return;
    }
    if (!deepEqual(a, b)) changed.push(key);
  };
  for (const key of unionKeys(before, after)) visit(key, before[key], after[key]);
  return changed;
}

/** The own keys of `after`, then those only `before` has. */
function unionKeys(before: Record<string, unknown>, after: Record<string, unknown>): string[] {
  const keys = Object.keys(after);
  for (const key of Object.keys(before)) if (!Object.hasOwn(after, key)) keys.push(key);
  return keys;
}
