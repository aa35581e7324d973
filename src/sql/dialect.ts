/**
 * The SQL that differs between databases: column types, list parameters, locks, case folding, collation, parameter
 * casts and JSON access. Everything else (tables, statements, the store's filter compiler) is written once against
 * these interfaces. `Dialect` is what every database supplies; `JsonDialect` adds the queries into JSON documents
 * that the store's filters and sorting need. A DuckDB dialect (for the connector) needs only `Dialect`.
 */
import { join, list, raw, sql } from './builder.ts';
import type { Sql } from './builder.ts';

/** The databases scimkit speaks (DuckDB for the connector's DuckDB destination). */
export type DialectName = 'sqlite' | 'postgres' | 'duckdb';

/** Portable column types; each dialect declares them as its own SQL type (Dialect.columnType). */
export type ColumnType = 'text' | 'integer' | 'boolean' | 'timestamp' | 'json';

/** A column of JsonDialect.rows: its name and what it holds. */
export interface TableColumn {
  readonly name: string;
  readonly type: 'text' | 'integer';
}

/** JsonDialect.rows as a multi-row VALUES list (SQLite names its columns column1, column2, ...). */
function valuesRows(alias: string, columns: readonly TableColumn[], rows: readonly (readonly unknown[])[]): Sql {
  const names = raw(columns.map((c, i) => `column${i + 1} AS ${c.name}`).join(', '));
  return sql`(SELECT ${names} FROM (VALUES ${join(rows.map((row) => sql`(${list(row)})`), ', ')})) AS ${raw(alias)}`;
}

/** A JSON value inside a row: `keys` below the JSON expression `json`; `each` marks a SQLite json_each row alias. */
export interface JsonRef {
  readonly json: Sql;
  readonly keys: readonly string[];
  /** SQLite: `json` is a json_each alias, whose scalar elements are read from `atom`, not parsed as JSON. */
  readonly each?: string;
}

/** How a stored value is compared in SQL. */
export type ScalarKind = 'text' | 'number' | 'boolean';

export interface Dialect {
  readonly name: DialectName;
  /** The declared SQL type of a column of `type`. */
  columnType(type: ColumnType): string;
  /** A bound JSON document parameter. */
  jsonParam(text: string): Sql;
  /**
   * A table expression with one text column `value` holding `values`, bound as ONE parameter whatever their number
   * (`... IN (SELECT value FROM ${d.values(ids)})`): one statement text, no parameter limit. For short lists that
   * must use an index on the other side, `IN (${list(ids)})` in chunks is the alternative.
   */
  values(values: readonly string[]): Sql;
  /** Suffix that locks the rows a SELECT reads inside a write transaction (SQLite's write lock already covers it). */
  readonly forUpdate: Sql;
  /**
   * A statement that serializes write transactions holding `key` until they end (PostgreSQL: an advisory
   * transaction lock), or null where a write transaction already excludes every other writer (SQLite).
   */
  transactionLock(key: number): Sql | null;
  /**
   * Folds case as `foldCase` does (SQLite: a registered function; PostgreSQL: lower() under the database's collation,
   * which matches it for non-ASCII letters only when the database has a UTF-8 locale such as C.UTF-8).
   */
  lower(expr: Sql): Sql;
  /** Byte-order (code point) collation for ordering comparisons, so both databases sort alike. */
  binary(expr: Sql): Sql;
}

/** A dialect that can also read values inside JSON documents (the store's filters and sorting). */
export interface JsonDialect extends Dialect {
  /** The databases whose JSON the store queries (DuckDB serves only the connector). */
  readonly name: 'sqlite' | 'postgres';
  /**
   * A table expression `alias` with these columns holding `rows` (each row a value per column, in order), for
   * `INSERT ... SELECT` of many rows. PostgreSQL binds one array parameter per column (`unnest`), so the statement
   * has a few parameters whatever the number of rows and takes no time to plan; the others bind a multi-row VALUES.
   */
  rows(alias: string, columns: readonly TableColumn[], rows: readonly (readonly unknown[])[]): Sql;
  /** The value at `ref` as SQL of `kind`, NULL when absent or JSON null. */
  scalar(ref: JsonRef, kind: ScalarKind): Sql;
  /** True when the value at `ref` is a scalar that is not null and not "" (the evaluator's `pr` for scalars). */
  scalarPresent(ref: JsonRef): Sql;
  /** FROM item iterating the array (or, with `object`, the object members) at `ref`, and a reference to one item. */
  items(ref: JsonRef, alias: string, container: 'array' | 'object'): { readonly from: Sql; readonly item: JsonRef };
  /** True when the value at `ref` is a JSON object. */
  isObject(ref: JsonRef): Sql;
  /** Normalizes an xsd:dateTime text to the fixed `YYYY-MM-DDTHH:MM:SS.sssZ` form used for stored timestamps. */
  dateTime(expr: Sql): Sql;
  /**
   * The object element of the array at `ref` marked `"primary": true`, else the first object element, as JSON (NULL
   * when there is none): what a sort by a multi-valued attribute compares (RFC 7644 section 3.4.2.3).
   */
  primaryOrFirst(ref: JsonRef): Sql;
  /** The size in bytes of a text or JSON column's value, without reading the value itself. */
  byteLength(expr: Sql): Sql;
}

/** SQLite JSON path `$."a"."b"`; keys are schema names (no quotes) so quoting needs no escaping. */
function sqlitePath(keys: readonly string[]): string {
  return '$' + keys.map((k) => `."${k}"`).join('');
}

/** The function the SQLite runner registers for Dialect.lower (SQLite's own lower() folds ASCII only). */
export const SQLITE_LOWER_FUNCTION = 'js_lower';

/**
 * The case folding of Dialect.lower, which both databases compute alike: JavaScript's toLowerCase, with every
 * lower-case sigma as σ. toLowerCase lowers a word-final Σ to ς (its one context-dependent rule), which PostgreSQL's
 * lower() cannot tell; its other difference from lower() per character, İ (U+0130) to "i̇" rather than "i", the
 * PostgreSQL dialect spells out. Filters fold their operands with it when they compare with Dialect.lower.
 */
export function foldCase(text: string): string {
  const lower = text.toLowerCase();
  return lower.includes('ς') ? lower.replaceAll('ς', 'σ') : lower;
}

const SQLITE_TYPES: Readonly<Record<ColumnType, string>> = { text: 'TEXT', integer: 'INTEGER', boolean: 'BOOLEAN', timestamp: 'TIMESTAMP', json: 'TEXT' };
const DUCKDB_TYPES: Readonly<Record<ColumnType, string>> = { text: 'VARCHAR', integer: 'INTEGER', boolean: 'BOOLEAN', timestamp: 'TIMESTAMPTZ', json: 'JSON' };
const POSTGRES_TYPES: Readonly<Record<ColumnType, string>> = { text: 'text', integer: 'integer', boolean: 'boolean', timestamp: 'timestamptz', json: 'jsonb' };

export const sqliteDialect: JsonDialect = {
  name: 'sqlite',
  columnType: (type) => SQLITE_TYPES[type],
  jsonParam: (text) => sql`${text}`,
  // A JSON array text; json_each names its element column `value`.
  values: (values) => sql`json_each(${JSON.stringify(values)})`,
  forUpdate: raw(''),
  rows: valuesRows,
  transactionLock: () => null,
  lower: (expr) => sql`${raw(SQLITE_LOWER_FUNCTION)}(${expr})`,
  binary: (expr) => expr,
  // octet_length (SQLite 3.43+) reads a text's size from the record header, without reading its overflow pages.
  byteLength: (expr) => sql`octet_length(${expr})`,
  scalar(ref) {
    // json_extract returns SQL text for strings, numbers for numbers and 1/0 for booleans: comparable as they are.
    if (ref.each !== undefined && ref.keys.length === 0) return raw(`${ref.each}.atom`);
    return sql`json_extract(${ref.json}, ${sqlitePath(ref.keys)})`;
  },
  scalarPresent(ref) {
    if (ref.each !== undefined && ref.keys.length === 0) {
      const a = ref.each;
      return raw(`(${a}.type IN ('true', 'false', 'integer', 'real') OR (${a}.type = 'text' AND ${a}.atom <> ''))`);
    }
    const path = sqlitePath(ref.keys);
    return sql`(json_type(${ref.json}, ${path}) IN ('true', 'false', 'integer', 'real') OR (json_type(${ref.json}, ${path}) = 'text' AND json_extract(${ref.json}, ${path}) <> ''))`;
  },
  items(ref, alias) {
    // json_each walks arrays and objects alike; an element of an outer json_each is read from its `value`.
    const source = ref.each !== undefined && ref.keys.length === 0 ? raw(`${ref.each}.value`) : sql`${ref.json}, ${sqlitePath(ref.keys)}`;
    return { from: sql`json_each(${source}) AS ${raw(alias)}`, item: { json: raw(`${alias}.value`), keys: [], each: alias } };
  },
  isObject: (ref) => sql`(json_type(${ref.json}, ${sqlitePath(ref.keys)}) = 'object')`,
  dateTime: (expr) => sql`strftime('%Y-%m-%dT%H:%M:%fZ', ${expr})`,
  primaryOrFirst: (ref) =>
    sql`(SELECT e.value FROM json_each(${ref.json}, ${sqlitePath(ref.keys)}) AS e WHERE json_type(${ref.json}, ${sqlitePath(ref.keys)}) = 'array' AND e.type = 'object'
      ORDER BY json_type(e.value, '$."primary"') = 'true' DESC, e.key LIMIT 1)`,
};

export const postgresDialect: JsonDialect = {
  name: 'postgres',
  columnType: (type) => POSTGRES_TYPES[type],
  jsonParam: (text) => sql`${text}::json`,
  values: (values) => sql`unnest(${[...values]}::text[]) AS values_list(value)`,
  forUpdate: raw(' FOR UPDATE'),
  rows(alias, columns, rows) {
    const arrays = columns.map((c, i) => sql`${rows.map((row) => row[i])}::${raw(c.type === 'integer' ? 'bigint' : 'text')}[]`);
    return sql`unnest(${join(arrays, ', ')}) AS ${raw(`${alias}(${columns.map((c) => c.name).join(', ')})`)}`;
  },
  transactionLock: (key) => sql`SELECT pg_advisory_xact_lock(${key})`,
  // The database's collation, not a column's "C" (resources.display is one), under which lower() folds only ASCII.
  // foldCase's two rules beyond lower(): İ becomes "i̇" as in JavaScript (lower() makes it "i"), and ς becomes σ.
  lower: (expr) => sql`replace(lower(replace((${expr}) COLLATE "default", 'İ', 'i̇')), 'ς', 'σ')`,
  binary: (expr) => sql`(${expr}) COLLATE "C"`,
  // json to text is a binary-coercible cast, and octet_length of a TOASTed text reads its size without fetching it.
  byteLength: (expr) => sql`octet_length((${expr})::text)`,
  scalar(ref, kind) {
    const value = sql`(${ref.json} #> ${[...ref.keys]}::text[])`;
    const text = sql`(${ref.json} #>> ${[...ref.keys]}::text[])`;
    // Casts are guarded by the JSON type so a value of another type reads as NULL instead of failing the query.
    if (kind === 'number') return sql`(CASE WHEN json_typeof(${value}) = 'number' THEN ${text}::numeric END)`;
    if (kind === 'boolean') return sql`(CASE WHEN json_typeof(${value}) = 'boolean' THEN ${text}::boolean END)`;
    return sql`(CASE WHEN json_typeof(${value}) = 'string' THEN ${text} END)`;
  },
  scalarPresent(ref) {
    const value = sql`(${ref.json} #> ${[...ref.keys]}::text[])`;
    const text = sql`(${ref.json} #>> ${[...ref.keys]}::text[])`;
    return sql`(json_typeof(${value}) IN ('number', 'boolean') OR (json_typeof(${value}) = 'string' AND ${text} <> ''))`;
  },
  items(ref, alias, container) {
    const value = sql`(${ref.json} #> ${[...ref.keys]}::text[])`;
    const fn = container === 'array' ? raw('json_array_elements') : raw('json_each');
    const columns = container === 'array' ? raw(`${alias}(value)`) : raw(alias);
    return {
      from: sql`${fn}(CASE WHEN json_typeof(${value}) = ${container} THEN ${value} END) AS ${columns}`,
      item: { json: raw(`${alias}.value`), keys: [] },
    };
  },
  isObject: (ref) => sql`(json_typeof(${ref.json} #> ${[...ref.keys]}::text[]) = 'object')`,
  dateTime: (expr) => sql`to_char((${expr})::timestamptz AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`,
  primaryOrFirst(ref) {
    const value = sql`(${ref.json} #> ${[...ref.keys]}::text[])`;
    return sql`(SELECT e.value FROM json_array_elements(CASE WHEN json_typeof(${value}) = 'array' THEN ${value} END) WITH ORDINALITY AS e(value, n)
      WHERE json_typeof(e.value) = 'object'
      ORDER BY (CASE WHEN json_typeof(e.value -> 'primary') = 'boolean' THEN (e.value ->> 'primary')::boolean ELSE false END) DESC, e.n LIMIT 1)`;
  },
};

/** DuckDB (the connector's DuckDB destination): no JSON queries needed, so a plain Dialect. */
export const duckdbDialect: Dialect = {
  name: 'duckdb',
  columnType: (type) => DUCKDB_TYPES[type],
  jsonParam: (text) => sql`${text}::JSON`,
  // The DuckDB runner binds a JavaScript array as a LIST.
  values: (values) => sql`unnest(${[...values]}::VARCHAR[]) AS values_list(value)`,
  forUpdate: raw(''),
  // One process opens a DuckDB file, and its runner runs one transaction at a time.
  transactionLock: () => null,
  lower: (expr) => sql`lower(${expr})`,
  // DuckDB compares strings by their bytes unless told otherwise.
  binary: (expr) => expr,
};
