/**
 * The declarative column map: which attributes the `resources` table (aliased `r` in queries) keeps in columns of
 * their own, and how. Writes (hot-column extraction), the filter compiler and sorting all read it; attributes not
 * listed here live only in the JSON document. A text column of an attribute that is not caseExact in its schema
 * definition holds the value folded (fold()), so comparisons fold only their operand and the column's index serves
 * case-insensitive lookups and uniqueness.
 */
import { ScimError } from '../scim/errors.ts';
import { INDEXED_VALUE_MAX_BYTES, maxCharsOf } from '../scim/limits.ts';
import { GROUP, USER, resolveAttribute } from '../scim/schema/registry.ts';
import type { ResourceSchema } from '../scim/schema/registry.ts';
import type { AttributeDefinition } from '../scim/schema/types.ts';
import { raw, sql } from '../sql/index.ts';
import type { ColumnType, Sql } from '../sql/index.ts';
import type { ResourceKind } from './types.ts';

/** An attribute held in a column, as filters and sortBy see it. */
export interface AttributeColumn {
  /** The attribute path as filters and sortBy name it, with canonical names: `userName`, `meta.created`. */
  readonly path: string;
  readonly column: string;
  /** The column as SQL on the row alias `r`. */
  readonly expr: Sql;
  readonly type: ColumnType;
  /** Holds fold()ed text (the attribute is not caseExact). */
  readonly folded: boolean;
  /** May be NULL within its resource type (NULLs sort last ascending). */
  readonly nullable: boolean;
  /** A timestamp in the fixed `YYYY-MM-DDTHH:MM:SS.sssZ` form, so text order is time order. */
  readonly timestamp: boolean;
  /** What a filter compares, when not the column itself. */
  readonly filterExpr?: Sql;
  /** False where sorting by it means nothing (meta.resourceType is the same for every row of a listing). */
  readonly sortable: boolean;
}

/** A column written from the document on every create and update (the store sets id, kind, timestamps, version). */
export interface DocumentColumn {
  readonly column: string;
  /** `column = ` as SQL, for UPDATE ... SET. */
  readonly assign: Sql;
  /** The column's value for a validated document of `kind` (throws 400 when a required attribute is missing). */
  value(kind: ResourceKind, doc: Record<string, unknown>): string | null;
}

export interface ColumnSpec {
  readonly column: string;
  readonly type: ColumnType;
  /** The attribute path it holds, per resource type whose filters and sorting read it. */
  readonly attributes?: Partial<Record<ResourceKind, string>>;
  readonly nullable?: boolean;
  readonly timestamp?: boolean;
  readonly sortable?: boolean;
  readonly filterExpr?: Sql;
  /** Written from the document: the attribute whose value it holds per resource type (null for other types). */
  readonly fromDocument?: Partial<Record<ResourceKind, { readonly attribute: string; readonly required: boolean }>>;
  /** Written from the document by a rule of its own. */
  readonly derive?: (kind: ResourceKind, doc: Record<string, unknown>) => string | null;
  /**
   * A B-tree index covers it (see migrations.ts; a test compares this flag with the databases' indexes). A column
   * written from the document must then hold an attribute whose length limit (scim/limits.ts) fits an index entry.
   */
  readonly indexed?: boolean;
}

/** Folding for case-insensitive uniqueness and lookups; filters fold their operands the same way. */
export function fold(text: string): string {
  return text.toLowerCase();
}

const SCHEMAS: Readonly<Record<ResourceKind, ResourceSchema>> = { User: USER, Group: GROUP };

function documentString(doc: Record<string, unknown>, name: string): string | null {
  const value = doc[name];
  return typeof value === 'string' ? value : null;
}

const SPECS: readonly ColumnSpec[] = [
  { column: 'id', type: 'text', attributes: { User: 'id', Group: 'id' }, indexed: true },
  {
    column: 'user_name_folded',
    type: 'text',
    attributes: { User: 'userName' },
    fromDocument: { User: { attribute: 'userName', required: true } },
    indexed: true,
  },
  {
    column: 'group_name_folded',
    type: 'text',
    attributes: { Group: 'displayName' },
    fromDocument: { Group: { attribute: 'displayName', required: true } },
    indexed: true,
  },
  {
    column: 'external_id',
    type: 'text',
    attributes: { User: 'externalId', Group: 'externalId' },
    nullable: true,
    fromDocument: { User: { attribute: 'externalId', required: false }, Group: { attribute: 'externalId', required: false } },
    indexed: true,
  },
  {
    // The name memberships show for the other side: a User's displayName, else its userName; a Group's displayName.
    column: 'display',
    type: 'text',
    derive(kind, doc) {
      const displayName = documentString(doc, 'displayName');
      return kind === 'User' && (displayName === null || displayName === '') ? documentString(doc, 'userName') : displayName;
    },
  },
  { column: 'created', type: 'text', attributes: { User: 'meta.created', Group: 'meta.created' }, timestamp: true, indexed: true },
  { column: 'last_modified', type: 'text', attributes: { User: 'meta.lastModified', Group: 'meta.lastModified' }, timestamp: true, indexed: true },
  { column: 'kind', type: 'text', attributes: { User: 'meta.resourceType', Group: 'meta.resourceType' }, sortable: false, indexed: true },
  {
    column: 'version',
    type: 'integer',
    attributes: { User: 'meta.version', Group: 'meta.version' },
    // Filters compare the ETag form the server serves (src/server/etag.ts): W/"<version>".
    filterExpr: sql`('W/"' || r.version || '"')`,
  },
];

/**
 * Checks, as the store loads, that no value a client writes into an indexed column can pass PostgreSQL's B-tree
 * entry limit: each such column holds an attribute with a length limit of its own, safe in bytes. A column added
 * to the map without one stops the server from starting instead of answering 500s later.
 */
export function checkIndexedLimits(specs: readonly ColumnSpec[]): void {
  for (const spec of specs) {
    if (!spec.indexed || spec.type !== 'text') continue;
    if (spec.derive) throw new Error(`Column map: ${spec.column} is indexed and derived; give it an attribute with a length limit`);
    for (const [kind, source] of Object.entries(spec.fromDocument ?? {})) {
      const bytes = maxCharsOf(kind, source.attribute) * 4;
      if (bytes > INDEXED_VALUE_MAX_BYTES) {
        throw new Error(`Column map: ${spec.column} is indexed, but ${kind} ${source.attribute} may take ${bytes} bytes (at most ${INDEXED_VALUE_MAX_BYTES}): give it a limit in src/scim/limits.ts`);
      }
    }
  }
}

checkIndexedLimits(SPECS);

/** The indexed columns (for the test that compares them with the databases' indexes). */
export const INDEXED_COLUMNS: readonly string[] = SPECS.filter((spec) => spec.indexed).map((spec) => spec.column);

function definition(kind: ResourceKind, path: string): AttributeDefinition {
  const [name, sub] = path.split('.');
  const resolved = resolveAttribute(SCHEMAS[kind], null, name, sub ?? null);
  if (!resolved || resolved.extension !== null) throw new Error(`Column map: ${kind} has no core attribute "${path}"`);
  return resolved.subAttribute ?? resolved.attribute;
}

/** Text of an attribute that is not caseExact is stored folded. */
function foldedIn(kind: ResourceKind, path: string, type: ColumnType): boolean {
  return type === 'text' && !definition(kind, path).caseExact;
}

function attributeColumns(kind: ResourceKind): ReadonlyMap<string, AttributeColumn> {
  const out = new Map<string, AttributeColumn>();
  for (const spec of SPECS) {
    const path = spec.attributes?.[kind];
    if (path === undefined) continue;
    const stored = spec.fromDocument?.[kind];
    if (stored && stored.attribute !== path) throw new Error(`Column map: ${spec.column} holds ${stored.attribute} but maps ${path}`);
    out.set(path, {
      path,
      column: spec.column,
      expr: raw(`r.${spec.column}`),
      type: spec.type,
      // Only a column written from the document is stored folded; the others are set by the store as they are.
      folded: stored !== undefined && foldedIn(kind, path, spec.type),
      nullable: spec.nullable ?? false,
      timestamp: spec.timestamp ?? false,
      sortable: spec.sortable ?? true,
      ...(spec.filterExpr && { filterExpr: spec.filterExpr }),
    });
  }
  return out;
}

const ATTRIBUTE_COLUMNS: ReadonlyMap<string, ReadonlyMap<string, AttributeColumn>> = new Map([
  ['User', attributeColumns('User')],
  ['Group', attributeColumns('Group')],
]);

/** The column holding the attribute at `path` (canonical names, `meta.created`) of a resource type, if one does. */
export function attributeColumn(resourceType: string, path: string): AttributeColumn | undefined {
  return ATTRIBUTE_COLUMNS.get(resourceType)?.get(path);
}

function documentColumn(spec: ColumnSpec): DocumentColumn | undefined {
  const { derive, fromDocument } = spec;
  const assign = raw(`${spec.column} = `);
  if (derive) return { column: spec.column, assign, value: derive };
  if (!fromDocument) return undefined;
  const folds: Partial<Record<ResourceKind, boolean>> = {};
  for (const kind of Object.keys(fromDocument) as ResourceKind[]) folds[kind] = foldedIn(kind, (fromDocument[kind] as { attribute: string }).attribute, spec.type);
  return {
    column: spec.column,
    assign,
    value(kind, doc) {
      const source = fromDocument[kind];
      if (!source) return null;
      const value = documentString(doc, source.attribute);
      if (source.required && (value === null || value === '')) {
        throw ScimError.invalidValue(`Required attribute "${source.attribute}" of a ${kind} is missing or empty`);
      }
      return value !== null && folds[kind] ? fold(value) : value;
    },
  };
}

/** The columns written from the document, in the order of DOCUMENT_COLUMN_LIST. */
export const DOCUMENT_COLUMNS: readonly DocumentColumn[] = SPECS.map(documentColumn).filter((c) => c !== undefined);

/** `user_name_folded, group_name_folded, ...` for INSERT column lists and SELECTs. */
export const DOCUMENT_COLUMN_LIST: Sql = raw(DOCUMENT_COLUMNS.map((c) => c.column).join(', '));

/** The document columns' values for a validated document, in DOCUMENT_COLUMNS order. */
export function documentColumnValues(kind: ResourceKind, doc: Record<string, unknown>): (string | null)[] {
  return DOCUMENT_COLUMNS.map((c) => c.value(kind, doc));
}
