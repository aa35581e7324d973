/** Filter AST (RFC 7644 section 3.4.2.2). One AST, read by the in-memory evaluator and the SQL compilers. */

/** An attribute path as written: `[urn:]name[.sub]`. `urn` is null when unqualified. */
export interface AttrPath {
  readonly urn: string | null;
  readonly name: string;
  readonly sub: string | null;
}

export type CompareOp = 'eq' | 'ne' | 'co' | 'sw' | 'ew' | 'gt' | 'ge' | 'lt' | 'le';
export type FilterValue = string | number | boolean | null;

export type Filter =
  | { readonly kind: 'compare'; readonly path: AttrPath; readonly op: CompareOp; readonly value: FilterValue }
  | { readonly kind: 'present'; readonly path: AttrPath }
  | { readonly kind: 'and'; readonly left: Filter; readonly right: Filter }
  | { readonly kind: 'or'; readonly left: Filter; readonly right: Filter }
  | { readonly kind: 'not'; readonly filter: Filter }
  /** `attr[filter]`: true when some value of the multi-valued `path` matches `filter` (whose paths are relative to it). */
  | { readonly kind: 'valuePath'; readonly path: AttrPath; readonly filter: Filter };

/** A PATCH path (RFC 7644 section 3.5.2): `attrPath` or `valuePath[.subAttr]`. */
export interface PatchPath {
  readonly attribute: AttrPath;
  /** The value filter inside brackets, relative to the attribute. */
  readonly filter: Filter | null;
  /** The sub-attribute after `]`, as in `emails[type eq "work"].value`. */
  readonly subAfterFilter: string | null;
}

/** Limits that keep hostile filters cheap to reject. */
export const FILTER_MAX_LENGTH = 4096;
export const FILTER_MAX_DEPTH = 32;
