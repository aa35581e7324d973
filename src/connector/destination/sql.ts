/**
 * The SQL behind both destinations. Statements are written once with `?` placeholders; a small driver per dialect
 * supplies execution, list parameters, column types and the batched upsert.
 */
import type { Row } from '../mapping.ts';
import { LOCK_TABLE, SEEN_TABLE, STATE_TABLE, TABLES, type ColumnType, type TableDef, type TableName } from '../tables.ts';
import type {
  DeletePlan, Destination, DestinationTx, ExistingRow, LockHolder, Phase, StreamName, StreamPosition, StreamState, Strategy, TableCounts,
} from './types.ts';
import { emptyState } from './types.ts';

export type Params = readonly unknown[];

export interface SqlDriver {
  readonly dialect: 'sqlite' | 'postgres';
  readonly label: string;
  all(sql: string, params?: Params): Promise<Record<string, unknown>[]>;
  run(sql: string, params?: Params): Promise<number>;
  exec(script: string): Promise<void>;
  begin(): Promise<void>;
  commit(): Promise<void>;
  rollback(): Promise<void>;
  /** Declared SQL type for a column type. */
  columnType(type: ColumnType): string;
  /** A table expression with one column `value` holding the elements of the list parameter `?`. */
  readonly listSource: string;
  listParam(values: readonly string[]): unknown;
  /** Writes whole rows (data columns plus bookkeeping), inserting or overwriting by key. */
  upsert(table: TableDef, rows: readonly Row[], syncedAt: string): Promise<void>;
  lock(): Promise<void>;
  unlock(): Promise<void>;
  lockHolder(): Promise<LockHolder | null>;
  close(): Promise<void>;
}

export const q = (name: string): string => `"${name}"`;

function byName(name: TableName): TableDef {
  return TABLES.find((t) => t.name === name) as TableDef;
}

function toBool(v: unknown): boolean | null {
  if (v === null || v === undefined) return null;
  return v === true || v === 1 || v === '1' || v === 't';
}

function toIso(v: unknown): string | null {
  if (v === null || v === undefined) return null;
  if (v instanceof Date) return v.toISOString();
  const ms = Date.parse(String(v));
  return Number.isNaN(ms) ? String(v) : new Date(ms).toISOString();
}

function toJson(v: unknown): unknown {
  if (v === null || v === undefined) return null;
  return typeof v === 'string' ? JSON.parse(v) : v;
}

const BOOKKEEPING: readonly { name: string; type: ColumnType }[] = [
  { name: '_hash', type: 'text' },
  { name: '_synced_at', type: 'timestamp' },
  { name: '_deleted', type: 'boolean' },
  { name: '_deleted_at', type: 'timestamp' },
];

/** Column names of a table in write order: data columns, then bookkeeping. */
export function allColumns(table: TableDef): { name: string; type: ColumnType }[] {
  return [...table.columns, ...BOOKKEEPING];
}

/** The unseen-row condition for a stream's table, aliased `t`. */
function unseen(stream: StreamName): string {
  return `t._deleted = FALSE AND NOT EXISTS (SELECT 1 FROM ${SEEN_TABLE} s WHERE s.stream = '${stream}' AND s.key = t.id)`;
}

/** A membership whose member is a User (the type is optional in SCIM; a missing one means a User). */
const USER_MEMBER = `(m.member_type IS NULL OR lower(m.member_type) = 'user')`;

/** Memberships that go with unseen rows: members of unseen groups, or unseen users as members. */
function affectedMemberships(stream: StreamName): string {
  const target = stream === 'users' ? `${q('users')}` : `${q('groups')}`;
  const match = stream === 'users'
    ? `${USER_MEMBER} AND m.member_id IN (SELECT t.id FROM ${target} t WHERE ${unseen(stream)})`
    : `m.group_id IN (SELECT t.id FROM ${target} t WHERE ${unseen(stream)})`;
  return `m._deleted = FALSE AND ${match}`;
}

function num(v: unknown): number {
  return Number(v ?? 0);
}

interface StateDetail {
  position: StreamPosition | null;
  since: string | null;
  detectDeletes: boolean;
  passMaxModified: string | null;
  passServerStart: string | null;
  passShifted?: boolean;
  passRecords: number;
  lastCompletedAt: string | null;
}

class SqlTx implements DestinationTx {
  constructor(private readonly d: SqlDriver) {}

  async existing(table: 'users' | 'groups', ids: readonly string[]): Promise<Map<string, ExistingRow>> {
    const out = new Map<string, ExistingRow>();
    if (ids.length === 0) return out;
    const rows = await this.d.all(`SELECT id, _hash, _deleted FROM ${q(table)} WHERE id IN (SELECT value FROM ${this.d.listSource})`, [this.d.listParam(ids)]);
    for (const r of rows) out.set(String(r.id), { hash: String(r._hash), deleted: toBool(r._deleted) === true });
    return out;
  }

  async existingMembers(groupIds: readonly string[]): Promise<Map<string, Map<string, ExistingRow>>> {
    const out = new Map<string, Map<string, ExistingRow>>();
    if (groupIds.length === 0) return out;
    const rows = await this.d.all(
      `SELECT group_id, member_id, _hash, _deleted FROM group_members WHERE group_id IN (SELECT value FROM ${this.d.listSource})`,
      [this.d.listParam(groupIds)],
    );
    for (const r of rows) {
      const g = String(r.group_id);
      let m = out.get(g);
      if (!m) out.set(g, (m = new Map()));
      m.set(String(r.member_id), { hash: String(r._hash), deleted: toBool(r._deleted) === true });
    }
    return out;
  }

  async upsert(table: TableName, rows: readonly Row[], syncedAt: string): Promise<void> {
    if (rows.length > 0) await this.d.upsert(byName(table), rows, syncedAt);
  }

  async softDeleteMembers(groupId: string, memberIds: readonly string[], at: string): Promise<number> {
    if (memberIds.length === 0) return 0;
    return this.d.run(
      `UPDATE group_members SET _deleted = TRUE, _deleted_at = ?, _synced_at = ? WHERE group_id = ? AND _deleted = FALSE AND member_id IN (SELECT value FROM ${this.d.listSource})`,
      [at, at, groupId, this.d.listParam(memberIds)],
    );
  }

  async refreshMemberDisplays(scope: { readonly groupIds: readonly string[] } | { readonly memberIds: readonly string[] }, at: string): Promise<number> {
    const byGroup = 'groupIds' in scope;
    const ids = byGroup ? scope.groupIds : scope.memberIds;
    if (ids.length === 0) return 0;
    const name = 'coalesce(u.display_name, u.user_name)';
    return this.d.run(
      `UPDATE group_members AS m SET display = ${name}, _synced_at = ? FROM ${q('users')} AS u
       WHERE u.id = m.member_id AND m.${byGroup ? 'group_id' : 'member_id'} IN (SELECT value FROM ${this.d.listSource})
       AND m._deleted = FALSE AND ${USER_MEMBER} AND m.display IS DISTINCT FROM ${name}`,
      [at, this.d.listParam(ids)],
    );
  }

  async recountMembers(groupIds: readonly string[] | null, at: string): Promise<number> {
    if (groupIds !== null && groupIds.length === 0) return 0;
    const live = `(SELECT count(*) FROM group_members m WHERE m.group_id = g.id AND m._deleted = FALSE)`;
    const scope = groupIds === null ? '' : `AND g.id IN (SELECT value FROM ${this.d.listSource})`;
    return this.d.run(
      `UPDATE ${q('groups')} AS g SET member_count = ${live}, _synced_at = ? WHERE g._deleted = FALSE ${scope} AND g.member_count IS DISTINCT FROM ${live}`,
      groupIds === null ? [at] : [at, this.d.listParam(groupIds)],
    );
  }

  async markSeen(stream: StreamName, keys: readonly string[]): Promise<void> {
    if (keys.length === 0) return;
    await this.d.run(`INSERT INTO ${SEEN_TABLE} (stream, key) SELECT ?, value FROM ${this.d.listSource} WHERE TRUE ON CONFLICT DO NOTHING`, [stream, this.d.listParam(keys)]);
  }

  async countSeen(stream: StreamName, keys: readonly string[]): Promise<number> {
    if (keys.length === 0) return 0;
    const rows = await this.d.all(`SELECT count(*) AS n FROM ${SEEN_TABLE} WHERE stream = ? AND key IN (SELECT value FROM ${this.d.listSource})`, [stream, this.d.listParam(keys)]);
    return num(rows[0]?.n);
  }

  async seenTotal(stream: StreamName): Promise<number> {
    const rows = await this.d.all(`SELECT count(*) AS n FROM ${SEEN_TABLE} WHERE stream = ?`, [stream]);
    return num(rows[0]?.n);
  }

  async unseenIds(stream: StreamName, limit: number): Promise<string[]> {
    const rows = await this.d.all(`SELECT t.id FROM ${q(stream)} t WHERE ${unseen(stream)} ORDER BY t.id LIMIT ?`, [limit]);
    return rows.map((r) => String(r.id));
  }

  async planDeletes(stream: StreamName): Promise<DeletePlan> {
    const t = q(stream);
    const [a] = await this.d.all(`SELECT count(*) AS n FROM ${t} t WHERE ${unseen(stream)}`);
    const [b] = await this.d.all(`SELECT count(*) AS n FROM ${t} WHERE _deleted = FALSE`);
    const [c] = await this.d.all(`SELECT count(*) AS n FROM group_members m WHERE ${affectedMemberships(stream)}`);
    const [d] = await this.d.all(`SELECT count(*) AS n FROM group_members WHERE _deleted = FALSE`);
    return { unseen: num(a.n), live: num(b.n), memberships: num(c.n), liveMemberships: num(d.n), seen: await this.seenTotal(stream) };
  }

  async applyDeletes(stream: StreamName, at: string): Promise<{ rows: number; memberships: number }> {
    // Memberships first: their condition reads the rows' live flag, which the second statement clears.
    const memberships = await this.d.run(`UPDATE group_members AS m SET _deleted = TRUE, _deleted_at = ?, _synced_at = ? WHERE ${affectedMemberships(stream)}`, [at, at]);
    const rows = await this.d.run(`UPDATE ${q(stream)} AS t SET _deleted = TRUE, _deleted_at = ?, _synced_at = ? WHERE ${unseen(stream)}`, [at, at]);
    return { rows, memberships };
  }

  async clearSeen(stream: StreamName): Promise<void> {
    await this.d.run(`DELETE FROM ${SEEN_TABLE} WHERE stream = ?`, [stream]);
  }

  async saveState(s: StreamState): Promise<void> {
    const detail: StateDetail = {
      position: s.position, since: s.since, detectDeletes: s.detectDeletes, passMaxModified: s.passMaxModified,
      passServerStart: s.passServerStart, passShifted: s.passShifted, passRecords: s.passRecords, lastCompletedAt: s.lastCompletedAt,
    };
    await this.d.run(
      `INSERT INTO ${STATE_TABLE} (stream, strategy, cursor, phase, detail, updated_at) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (stream) DO UPDATE SET strategy = excluded.strategy, cursor = excluded.cursor, phase = excluded.phase,
       detail = excluded.detail, updated_at = excluded.updated_at`,
      [s.stream, s.strategy, s.cursor, s.phase, JSON.stringify(detail), new Date().toISOString()],
    );
  }
}

export class SqlDestination implements Destination {
  readonly kind: 'sqlite' | 'postgres';
  readonly label: string;

  constructor(private readonly d: SqlDriver) {
    this.kind = d.dialect;
    this.label = d.label;
  }

  async migrate(): Promise<void> {
    const ddl: string[] = [];
    for (const table of TABLES) {
      const cols = allColumns(table).map((c) => {
        const notNull = c.name === '_hash' || c.name === '_synced_at' || c.name === '_deleted' || table.key.includes(c.name);
        return `${q(c.name)} ${this.d.columnType(c.type)}${notNull ? ' NOT NULL' : ''}${c.name === '_deleted' ? ' DEFAULT FALSE' : ''}`;
      });
      ddl.push(`CREATE TABLE IF NOT EXISTS ${q(table.name)} (${cols.join(', ')}, PRIMARY KEY (${table.key.map(q).join(', ')}))`);
    }
    ddl.push('CREATE INDEX IF NOT EXISTS group_members_member_id ON group_members (member_id)');
    ddl.push(`CREATE TABLE IF NOT EXISTS ${STATE_TABLE} (stream TEXT PRIMARY KEY, strategy TEXT, cursor TEXT, phase TEXT, detail TEXT NOT NULL, updated_at TEXT NOT NULL)`);
    ddl.push(`CREATE TABLE IF NOT EXISTS ${SEEN_TABLE} (stream TEXT NOT NULL, key TEXT NOT NULL, PRIMARY KEY (stream, key))`);
    if (this.d.dialect === 'sqlite') ddl.push(`CREATE TABLE IF NOT EXISTS ${LOCK_TABLE} (name TEXT PRIMARY KEY, pid INTEGER NOT NULL, host TEXT NOT NULL, started_at TEXT NOT NULL)`);
    await this.d.exec(ddl.map((s) => `${s};`).join('\n'));
  }

  lock(): Promise<void> {
    return this.d.lock();
  }

  lockHolder(): Promise<LockHolder | null> {
    return this.d.lockHolder();
  }

  unlock(): Promise<void> {
    return this.d.unlock();
  }

  async loadState(): Promise<Map<StreamName, StreamState>> {
    const out = new Map<StreamName, StreamState>();
    const rows = await this.d.all(`SELECT stream, strategy, cursor, phase, detail, updated_at FROM ${STATE_TABLE}`);
    for (const r of rows) {
      const stream = String(r.stream);
      if (stream !== 'users' && stream !== 'groups') continue;
      const detail = JSON.parse(String(r.detail)) as Partial<StateDetail>;
      out.set(stream, {
        ...emptyState(stream),
        strategy: (r.strategy as Strategy | null) ?? null,
        cursor: (r.cursor as string | null) ?? null,
        phase: (r.phase as Phase | null) ?? null,
        position: detail.position ?? null,
        since: detail.since ?? null,
        detectDeletes: detail.detectDeletes ?? false,
        passMaxModified: detail.passMaxModified ?? null,
        passServerStart: detail.passServerStart ?? null,
        passShifted: detail.passShifted ?? false,
        passRecords: detail.passRecords ?? 0,
        lastCompletedAt: detail.lastCompletedAt ?? null,
        updatedAt: String(r.updated_at),
      });
    }
    return out;
  }

  async transaction<T>(fn: (tx: DestinationTx) => Promise<T>): Promise<T> {
    await this.d.begin();
    try {
      const result = await fn(new SqlTx(this.d));
      await this.d.commit();
      return result;
    } catch (err) {
      await this.d.rollback().catch(() => {});
      throw err;
    }
  }

  async counts(): Promise<Record<TableName, TableCounts>> {
    const out = {} as Record<TableName, TableCounts>;
    for (const t of TABLES) {
      const [r] = await this.d.all(`SELECT sum(CASE WHEN _deleted THEN 0 ELSE 1 END) AS live, sum(CASE WHEN _deleted THEN 1 ELSE 0 END) AS deleted FROM ${q(t.name)}`);
      out[t.name] = { live: num(r.live), deleted: num(r.deleted) };
    }
    return out;
  }

  async readRows(table: TableName): Promise<Record<string, unknown>[]> {
    const def = byName(table);
    const cols = allColumns(def);
    const rows = await this.d.all(`SELECT ${cols.map((c) => q(c.name)).join(', ')} FROM ${q(table)} ORDER BY ${def.key.map(q).join(', ')}`);
    return rows.map((r) => {
      const out: Record<string, unknown> = {};
      for (const c of cols) {
        const v = r[c.name];
        out[c.name] = c.type === 'boolean' ? toBool(v) : c.type === 'timestamp' ? toIso(v) : c.type === 'json' ? toJson(v) : c.type === 'integer' && v !== null ? Number(v) : v ?? null;
      }
      return out;
    });
  }

  async reset(opts: { dropTables: boolean }): Promise<void> {
    await this.d.begin();
    try {
      await this.d.run(`DELETE FROM ${STATE_TABLE}`);
      await this.d.run(`DELETE FROM ${SEEN_TABLE}`);
      if (opts.dropTables) for (const t of TABLES) await this.d.run(`DROP TABLE IF EXISTS ${q(t.name)}`);
      await this.d.commit();
    } catch (err) {
      await this.d.rollback().catch(() => {});
      throw err;
    }
  }

  close(): Promise<void> {
    return this.d.close();
  }
}
