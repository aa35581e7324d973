/**
 * Where a destination's tables live, and the versioned migrations that create and upgrade them.
 *
 * A namespace keeps one source's tables apart from another's in the same database: in SQLite its name prefixes
 * every table (`acme_users`), in PostgreSQL it is a schema (`acme.users`, reached through the connection's
 * search_path). Without a namespace the tables have their plain names, as before namespaces existed.
 *
 * Migrations are append-only. Version 1 is the schema every connector release before versioned migrations created
 * (scimkit 4a34322): its `CREATE TABLE IF NOT EXISTS` adopts an existing warehouse as it is, so an old file
 * upgrades in place. Never edit a shipped version; add the next one.
 */
import { raw, type Sql } from '../../sql/builder.ts';
import type { ColumnType, DialectName } from '../../sql/dialect.ts';
import type { Migration, MigrationSet } from '../../sql/migrate.ts';

/** A namespace: lower-case letters, digits and underscores, starting with a letter (it becomes an SQL identifier). */
export const NAMESPACE_PATTERN = /^[a-z][a-z0-9_]{0,39}$/;

/** The connector's tables inside one namespace. */
export type TableKey = 'users' | 'groups' | 'group_members' | 'state' | 'seen' | 'lock' | 'source' | 'columns';

const BASE_NAMES: Readonly<Record<TableKey, string>> = {
  users: 'users',
  groups: 'groups',
  group_members: 'group_members',
  state: '_scimkit_state',
  seen: '_scimkit_seen',
  lock: '_scimkit_lock',
  source: '_scimkit_source',
  columns: '_scimkit_columns',
};

/** How a dialect places a namespace: a table-name prefix (SQLite) or a schema on the search_path (PostgreSQL, DuckDB). */
export function usesSchemas(dialect: DialectName): boolean {
  return dialect !== 'sqlite';
}

/** The unquoted name of a table in a namespace. */
export function tableName(dialect: DialectName, namespace: string | null, key: TableKey | 'migrations'): string {
  const base = key === 'migrations' ? '_scimkit_migrations' : BASE_NAMES[key];
  return namespace !== null && !usesSchemas(dialect) ? `${namespace}_${base}` : base;
}

/** Quoted table references for statements. */
export type TableRefs = Readonly<Record<TableKey, Sql>>;

export function tableRefs(dialect: DialectName, namespace: string | null): TableRefs {
  const out = {} as Record<TableKey, Sql>;
  for (const key of Object.keys(BASE_NAMES) as TableKey[]) out[key] = raw(`"${tableName(dialect, namespace, key)}"`);
  return out;
}

/**
 * DuckDB: the temporary table rows of `table` are appended to before each set-based upsert, named after its columns
 * (extension columns change the users table's), so a stage always has the columns it is filled with.
 */
export function stageTable(table: string, columns: readonly { readonly name: string; readonly type: string }[]): string {
  return `scimkit_stage_${table}_${fnv32(columns.map((c) => `${c.name} ${c.type}`).join(',')).toString(36)}`;
}

/** 32-bit FNV-1a: a stable number per namespace for lock keys. */
function fnv32(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

/**
 * Advisory lock keys of a namespace (PostgreSQL): `run` is held by a sync for its whole run; `migrate` serializes
 * migrations. They differ, so that opening a destination (which migrates) never waits for a running sync.
 */
export function lockKeys(namespace: string | null): { run: number; migrate: number } {
  const low = fnv32(namespace ?? '');
  return { run: 0x5c1 * 2 ** 32 + low, migrate: 0x5c2 * 2 ** 32 + low };
}

type Types = Readonly<Record<ColumnType, string>>;

/** The column types of version 1, frozen with it (the dialects' current types must not change a shipped migration). */
const V1_TYPES: Readonly<Record<DialectName, Types>> = {
  sqlite: { text: 'TEXT', integer: 'INTEGER', boolean: 'BOOLEAN', timestamp: 'TIMESTAMP', json: 'TEXT' },
  postgres: { text: 'text', integer: 'integer', boolean: 'boolean', timestamp: 'timestamptz', json: 'jsonb' },
  duckdb: { text: 'VARCHAR', integer: 'INTEGER', boolean: 'BOOLEAN', timestamp: 'TIMESTAMPTZ', json: 'JSON' },
};

/** The data tables of version 1: name, key, columns (bookkeeping columns follow). */
const V1_TABLES: readonly { key: 'users' | 'groups' | 'group_members'; primary: readonly string[]; columns: readonly [string, ColumnType][] }[] = [
  {
    key: 'users',
    primary: ['id'],
    columns: [
      ['id', 'text'], ['user_name', 'text'], ['external_id', 'text'], ['email', 'text'], ['emails', 'json'], ['first_name', 'text'],
      ['last_name', 'text'], ['display_name', 'text'], ['active', 'boolean'], ['title', 'text'], ['user_type', 'text'],
      ['employee_number', 'text'], ['department', 'text'], ['division', 'text'], ['cost_center', 'text'], ['organization', 'text'],
      ['manager_id', 'text'], ['created', 'timestamp'], ['last_modified', 'timestamp'], ['raw', 'json'],
    ],
  },
  {
    key: 'groups',
    primary: ['id'],
    columns: [['id', 'text'], ['display_name', 'text'], ['external_id', 'text'], ['member_count', 'integer'], ['created', 'timestamp'], ['last_modified', 'timestamp'], ['raw', 'json']],
  },
  {
    key: 'group_members',
    primary: ['group_id', 'member_id'],
    columns: [['group_id', 'text'], ['member_id', 'text'], ['member_type', 'text'], ['display', 'text'], ['raw', 'json']],
  },
];

/** Version 1's DDL; `withSource` puts version 2's `source` column straight into the data tables (DuckDB). */
function v1(dialect: DialectName, namespace: string | null, withSource = false): string[] {
  const t = (key: TableKey) => `"${tableName(dialect, namespace, key)}"`;
  const types = V1_TYPES[dialect];
  const out: string[] = [];
  for (const table of V1_TABLES) {
    const cols = [
      ...table.columns.map(([name, type]) => `"${name}" ${types[type]}${table.primary.includes(name) ? ' NOT NULL' : ''}`),
      `"_hash" ${types.text} NOT NULL`,
      `"_synced_at" ${types.timestamp} NOT NULL`,
      `"_deleted" ${types.boolean} NOT NULL DEFAULT FALSE`,
      `"_deleted_at" ${types.timestamp}`,
      ...(withSource ? [`"source" ${types.text}`] : []),
    ];
    out.push(`CREATE TABLE IF NOT EXISTS ${t(table.key)} (${cols.join(', ')}, PRIMARY KEY (${table.primary.map((c) => `"${c}"`).join(', ')}))`);
  }
  // The index name is per namespace too (SQLite index names share one namespace per database).
  const index = namespace !== null && !usesSchemas(dialect) ? `${namespace}_group_members_member_id` : 'group_members_member_id';
  out.push(`CREATE INDEX IF NOT EXISTS "${index}" ON ${t('group_members')} ("member_id")`);
  out.push(`CREATE TABLE IF NOT EXISTS ${t('state')} (stream TEXT PRIMARY KEY, strategy TEXT, cursor TEXT, phase TEXT, detail TEXT NOT NULL, updated_at TEXT NOT NULL)`);
  out.push(`CREATE TABLE IF NOT EXISTS ${t('seen')} (stream TEXT NOT NULL, key TEXT NOT NULL, PRIMARY KEY (stream, key))`);
  if (dialect === 'sqlite') out.push(`CREATE TABLE IF NOT EXISTS ${t('lock')} (name TEXT PRIMARY KEY, pid INTEGER NOT NULL, host TEXT NOT NULL, started_at TEXT NOT NULL)`);
  return out;
}

/** Version 2: where rows and state came from (issue 17). The token is never stored. */
function v2(dialect: DialectName, namespace: string | null): string[] {
  const t = (key: TableKey) => `"${tableName(dialect, namespace, key)}"`;
  const text = V1_TYPES[dialect].text;
  return [
    ...(['users', 'groups', 'group_members'] as const).map((key) => `ALTER TABLE ${t(key)} ADD COLUMN "source" ${text}`),
    sourceTable(dialect, namespace),
  ];
}

function sourceTable(dialect: DialectName, namespace: string | null): string {
  const text = V1_TYPES[dialect].text;
  return `CREATE TABLE "${tableName(dialect, namespace, 'source')}" (id INTEGER PRIMARY KEY CHECK (id = 1), source ${text} NOT NULL, provider ${text}, org_id ${text}, registered_at ${text} NOT NULL)`;
}

/**
 * Version 3: the multi-valued core attributes as JSON columns, and the register of the users columns that extension
 * attributes get as they appear (each batch of them is a numbered migration of its own, see extendUsers).
 */
function v3(dialect: DialectName, namespace: string | null): string[] {
  const t = (key: TableKey) => `"${tableName(dialect, namespace, key)}"`;
  const types = V1_TYPES[dialect];
  const lists: [string, string][] = [['phone_numbers', 'phoneNumbers'], ['addresses', 'addresses'], ['roles', 'roles'], ['entitlements', 'entitlements']];
  // Rows synced before keep their cursor: their values come from the resource as it was synced (raw).
  const backfill = ([column, attribute]: [string, string]) =>
    dialect === 'postgres'
      ? `UPDATE ${t('users')} SET "${column}" = raw -> '${attribute}' WHERE jsonb_typeof(raw -> '${attribute}') = 'array'`
      : // SQLite's json_type says 'array', DuckDB's 'ARRAY'.
        `UPDATE ${t('users')} SET "${column}" = json_extract(raw, '$.${attribute}') WHERE lower(json_type(raw, '$.${attribute}')) = 'array'`;
  return [
    ...lists.map(([column]) => `ALTER TABLE ${t('users')} ADD COLUMN "${column}" ${types.json}`),
    ...lists.map(backfill),
    `CREATE TABLE ${t('columns')} (name ${types.text} PRIMARY KEY, batch INTEGER NOT NULL, position INTEGER NOT NULL, type ${types.text} NOT NULL,
      urn ${types.text} NOT NULL, attribute ${types.text} NOT NULL, added_at ${types.text} NOT NULL)`,
  ];
}

/** The time now as the connector writes timestamps (ISO 8601 text in SQLite, which has no timestamp type). */
const NOW: Readonly<Record<DialectName, string>> = { sqlite: "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')", postgres: 'now()', duckdb: 'now()' };

/**
 * Version 4: the displays of User memberships derived from the users table, once. The engine derives the display
 * of each membership it writes and of every membership of a user that changes, and nothing else; warehouses
 * written before displays were derived (6a8a319) still hold what each group sent in rows that may never be
 * written again.
 */
function v4(dialect: DialectName, namespace: string | null): string[] {
  const t = (key: TableKey) => `"${tableName(dialect, namespace, key)}"`;
  const name = 'coalesce(u.display_name, u.user_name)';
  return [
    `UPDATE ${t('group_members')} AS m SET display = ${name}, _synced_at = ${NOW[dialect]} FROM ${t('users')} AS u
      WHERE u.id = m.member_id AND m._deleted = FALSE AND (m.member_type IS NULL OR lower(m.member_type) = 'user')
      AND m.display IS DISTINCT FROM ${name}`,
  ];
}

/** The SQL type of a column added later (extension columns), as the fixed columns of the same type are declared. */
export function columnTypeSql(dialect: DialectName, type: ColumnType): string {
  return V1_TYPES[dialect][type];
}

/** The connector's migrations for one namespace of a database. */
export function connectorMigrations(dialect: DialectName, namespace: string | null): MigrationSet {
  const versions: [number, string, (d: DialectName, ns: string | null) => string[]][] = [
    [1, 'connector tables (as created before versioned migrations)', v1],
    [2, 'source identity: a source column and the namespace source record', v2],
    [3, 'multi-valued core attributes as JSON columns; the register of extension columns', v3],
    [4, 'displays of User memberships derived from the users table', v4],
  ];
  const migrations: Migration[] = versions.map(([version, name, build]) => ({
    version,
    name,
    sqlite: build('sqlite', namespace),
    postgres: build('postgres', namespace),
    // DuckDB arrived after version 2, so no DuckDB warehouse has the version 1 tables alone: its first version is
    // the whole schema of version 2 (DuckDB cannot add a column to a table that has an index, as group_members
    // has), its second nothing; later versions are the same as on the others.
    duckdb: version === 1 ? [...v1('duckdb', namespace, true), sourceTable('duckdb', namespace)] : version === 2 ? [] : build('duckdb', namespace),
  }));
  return { table: tableName(dialect, namespace, 'migrations'), migrations, lockKey: lockKeys(namespace).migrate };
}
