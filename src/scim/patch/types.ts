/** Typed PATCH operations (RFC 7644 section 3.5.2) as the store receives them. */
import type { Filter, PatchPath } from '../filter/ast.ts';

export type PatchOpName = 'add' | 'replace' | 'remove';

export interface PatchOperation {
  readonly op: PatchOpName;
  readonly path: PatchPath | null;
  readonly value?: unknown;
}

export interface MemberRef {
  readonly value: string;
  readonly type?: 'User' | 'Group';
  readonly display?: string;
}

/**
 * Changes to a Group's `members`, in order, so the store can apply them to the membership table in O(changed members).
 * `removeWhere` carries a filter over member sub-attributes (value, type, display) for rare non-id removals.
 */
export type MemberChange =
  | { readonly kind: 'add'; readonly members: readonly MemberRef[] }
  | { readonly kind: 'remove'; readonly ids: readonly string[] }
  | { readonly kind: 'removeWhere'; readonly filter: Filter }
  | { readonly kind: 'removeAll' };

/** Switches that change how operations apply (set per tenant through the compatibility normalizers). */
export interface PatchApplyOptions {
  /**
   * Entra ID: a filtered `add` (`emails[type eq "work"].value`) whose filter matches nothing creates the value
   * (`{type: "work", value: ...}`) instead of failing with noTarget. `replace` and `remove` never create.
   */
  readonly createMissingFilteredTarget?: boolean;
}
