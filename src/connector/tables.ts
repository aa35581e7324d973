/**
 * The destination tables, as data: both SQL dialects build their DDL and statements from these definitions, so
 * SQLite and PostgreSQL always have the same columns. Every table also gets the bookkeeping columns
 * `_hash` (content hash: unchanged rows are never rewritten), `_synced_at`, `_deleted` and `_deleted_at`.
 */

export type ColumnType = 'text' | 'boolean' | 'integer' | 'timestamp' | 'json';
export type Cell = string | number | boolean | null;

export interface ColumnDef {
  readonly name: string;
  readonly type: ColumnType;
  /**
   * Derived from other rows rather than copied from the resource (a group's live member count, a member's display
   * from the users table): kept current by the engine and left out of the content hash.
   */
  readonly derived?: boolean;
  /** A JSON column holding a list (a multi-valued attribute), not an object. */
  readonly list?: boolean;
}

export type TableName = 'users' | 'groups' | 'group_members';

export interface TableDef {
  readonly name: TableName;
  /** Primary key columns, a prefix of `columns`. */
  readonly key: readonly string[];
  readonly columns: readonly ColumnDef[];
}

const c = (name: string, type: ColumnType, derived = false): ColumnDef => (derived ? { name, type, derived } : { name, type });
const list = (name: string): ColumnDef => ({ name, type: 'json', list: true });

export const USERS_TABLE: TableDef = {
  name: 'users',
  key: ['id'],
  columns: [
    c('id', 'text'), c('user_name', 'text'), c('external_id', 'text'), c('email', 'text'), list('emails'),
    c('first_name', 'text'), c('last_name', 'text'), c('display_name', 'text'), c('active', 'boolean'), c('title', 'text'),
    c('user_type', 'text'), c('employee_number', 'text'), c('department', 'text'), c('division', 'text'),
    c('cost_center', 'text'), c('organization', 'text'), c('manager_id', 'text'), c('created', 'timestamp'),
    c('last_modified', 'timestamp'), c('raw', 'json'),
    // Multi-valued core attributes, as JSON (migration 3).
    list('phone_numbers'), list('addresses'), list('roles'), list('entitlements'),
  ],
};

/** The users table with the extension columns a destination has added (extensions.ts), after the fixed ones. */
export function usersTableWith(extensions: readonly { readonly name: string; readonly type: ColumnType }[]): TableDef {
  if (extensions.length === 0) return USERS_TABLE;
  return { ...USERS_TABLE, columns: [...USERS_TABLE.columns, ...extensions.map((e) => ({ name: e.name, type: e.type }))] };
}

export const GROUPS_TABLE: TableDef = {
  name: 'groups',
  key: ['id'],
  columns: [
    c('id', 'text'), c('display_name', 'text'), c('external_id', 'text'), c('member_count', 'integer', true),
    c('created', 'timestamp'), c('last_modified', 'timestamp'), c('raw', 'json'),
  ],
};

export const MEMBERS_TABLE: TableDef = {
  name: 'group_members',
  key: ['group_id', 'member_id'],
  columns: [c('group_id', 'text'), c('member_id', 'text'), c('member_type', 'text'), c('display', 'text', true), c('raw', 'json')],
};

export const TABLES: readonly TableDef[] = [USERS_TABLE, GROUPS_TABLE, MEMBERS_TABLE];

/** The connector's own tables: per-stream state, and the keys seen by the pass in progress (for delete detection). */
export const STATE_TABLE = '_scimkit_state';
export const SEEN_TABLE = '_scimkit_seen';
export const LOCK_TABLE = '_scimkit_lock';
