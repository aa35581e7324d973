/**
 * The destination's SQL, written once on src/sql: every operation is a generator of statements that a runner runs
 * inside one transaction (see sql/builder.ts), with values always bound, never interpolated. Table names come from
 * the namespace (schema.ts). The few statements that differ per database (the batched upsert) switch on the
 * dialect's name.
 */
import { append, chunks, exec, execEach, first, join, list, raw, rows, sql, type Op, type Sql } from '../../sql/builder.ts';
import type { Dialect } from '../../sql/dialect.ts';
import type { Row } from '../mapping.ts';
import type { ExtensionColumn } from '../extensions.ts';
import { TABLES, USERS_TABLE, usersTableWith, type ColumnType, type TableDef, type TableName } from '../tables.ts';
import { columnTypeSql, stageTable, type TableRefs } from './schema.ts';
import {
  emptyState, type DeletePlan, type DestinationTx, type ExistingRow, type Phase, type StreamName, type StreamPosition, type StreamState,
  type Strategy, type TableCounts,
} from './types.ts';

/** Bookkeeping columns every data table has after its data columns (then `source`, added by migration 2). */
const BOOKKEEPING: readonly { name: string; type: ColumnType }[] = [
  { name: '_hash', type: 'text' },
  { name: '_synced_at', type: 'timestamp' },
  { name: '_deleted', type: 'boolean' },
  { name: '_deleted_at', type: 'timestamp' },
  { name: 'source', type: 'text' },
];

/** Column names of a table in write order: data columns, then bookkeeping. */
export function allColumns(table: TableDef): { name: string; type: ColumnType }[] {
  return [...table.columns, ...BOOKKEEPING];
}

export function tableDef(name: TableName): TableDef {
  return TABLES.find((t) => t.name === name) as TableDef;
}

const ident = (name: string): Sql => raw(`"${name}"`);

/** A membership whose member is a User (the type is optional in SCIM; a missing one means a User). */
const USER_MEMBER = raw(`(m.member_type IS NULL OR lower(m.member_type) = 'user')`);

/** PostgreSQL ships a chunk of rows as one array per column; timestamps and JSON travel as text and are cast. */
const PG_ARRAY: Readonly<Record<ColumnType, string>> = { text: 'text[]', boolean: 'boolean[]', integer: 'integer[]', timestamp: 'text[]', json: 'text[]' };
const PG_CAST: Readonly<Record<ColumnType, string>> = { text: '', boolean: '', integer: '', timestamp: '::timestamptz', json: '::jsonb' };
const PG_CHUNK = 2000;

function num(v: unknown): number {
  return Number(v ?? 0);
}

export function toBool(v: unknown): boolean | null {
  if (v === null || v === undefined) return null;
  return v === true || v === 1 || v === 1n || v === '1' || v === 't';
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

/** What `_scimkit_state.detail` holds (JSON), besides the columns. */
interface StateDetail {
  position: StreamPosition | null;
  since: string | null;
  detectDeletes: boolean;
  passMaxModified: string | null;
  passServerStart: string | null;
  passShifted?: boolean;
  passRecords: number;
  lastCompletedAt: string | null;
  initialSince?: string | null;
  passFromEmpty?: boolean;
}

/** The operations of one destination: its dialect, its tables, and the source its rows are stamped with. */
export class Operations {
  /** The users table with the extension columns added so far (read from the register, see extendUsers). */
  private usersTable: TableDef = USERS_TABLE;

  constructor(
    readonly dialect: Dialect,
    readonly t: TableRefs,
    /** The source every written row records (null only before the source is claimed). */
    private readonly sourceOf: () => string | null,
  ) {}

  private table(name: TableName): Sql {
    return this.t[name];
  }

  private def(name: TableName): TableDef {
    return name === 'users' ? this.usersTable : tableDef(name);
  }

  /** The extension columns added so far, in the order they were added. */
  *userExtensions(): Op<ExtensionColumn[]> {
    const found = yield* rows<{ name: string; type: ColumnType; urn: string; attribute: string }>(
      sql`SELECT name, type, urn, attribute FROM ${this.t.columns} ORDER BY batch, position`,
    );
    const columns = found.map((r) => ({ name: String(r.name), type: r.type, urn: String(r.urn), attribute: String(r.attribute) }));
    this.usersTable = usersTableWith(columns);
    return columns;
  }

  /**
   * Adds a users column for each extension attribute of `found` that has none yet: one numbered batch in the
   * register, its ALTER TABLEs in the same transaction. Rows synced before hold nothing in them, so the users stream
   * is read again in full. Returns every extension column (old ones stay, whatever the source declares now).
   */
  *extendUsers(found: readonly ExtensionColumn[]): Op<{ columns: ExtensionColumn[]; added: ExtensionColumn[] }> {
    const columns = yield* this.userExtensions();
    const key = (c: ExtensionColumn) => `${c.urn.toLowerCase()}\u0000${c.attribute.toLowerCase()}`;
    const known = new Set(columns.map(key));
    const names = new Set(this.usersTable.columns.map((c) => c.name));
    const added: ExtensionColumn[] = [];
    for (const column of found) {
      if (known.has(key(column))) continue;
      known.add(key(column));
      let name = column.name;
      for (let n = 2; names.has(name); n++) name = `${column.name.slice(0, 56)}_${n}`;
      names.add(name);
      added.push({ ...column, name });
    }
    if (added.length === 0) return { columns, added };
    const last = yield* first<{ batch: unknown }>(sql`SELECT MAX(batch) AS batch FROM ${this.t.columns}`);
    const batch = Number(last?.batch ?? 0) + 1;
    const at = new Date().toISOString();
    for (let i = 0; i < added.length; i++) {
      const c = added[i];
      yield* exec(sql`ALTER TABLE ${this.t.users} ADD COLUMN ${ident(c.name)} ${raw(columnTypeSql(this.dialect.name, c.type))}`);
      yield* exec(sql`INSERT INTO ${this.t.columns} (name, batch, position, type, urn, attribute, added_at) VALUES (${c.name}, ${batch}, ${i}, ${c.type}, ${c.urn}, ${c.attribute}, ${at})`);
    }
    yield* this.clearSeen('users');
    yield* this.saveState(emptyState('users'));
    const all = [...columns, ...added];
    this.usersTable = usersTableWith(all);
    return { columns: all, added };
  }

  private values(ids: readonly string[]): Sql {
    return this.dialect.values(ids);
  }

  /** Rows of a stream's table the running pass has not seen (alias `t`). */
  private notSeen(stream: StreamName): Sql {
    return sql`NOT EXISTS (SELECT 1 FROM ${this.t.seen} s WHERE s.stream = ${stream} AND s.key = t.id)`;
  }

  /** Live rows of a stream's table the running pass has not seen (alias `t`). */
  private unseen(stream: StreamName): Sql {
    return sql`t._deleted = FALSE AND ${this.notSeen(stream)}`;
  }

  /** Live memberships that go with unseen rows: members of unseen groups, or unseen users as members (alias `m`). */
  private affectedMemberships(stream: StreamName): Sql {
    const target = this.table(stream);
    const match = stream === 'users'
      ? sql`${USER_MEMBER} AND m.member_id IN (SELECT t.id FROM ${target} t WHERE ${this.unseen(stream)})`
      : sql`m.group_id IN (SELECT t.id FROM ${target} t WHERE ${this.unseen(stream)})`;
    return sql`m._deleted = FALSE AND ${match}`;
  }

  readonly tx: DestinationTx = {
    anyRows: (table) => this.anyRows(table),
    rowCount: (table) => this.rowCount(table),
    existing: (table, ids) => this.existing(table, ids),
    missing: (table, ids) => this.missing(table, ids),
    existingMembers: (groupIds, memberIds) => this.existingMembers(groupIds, memberIds),
    liveMemberCounts: (groupIds) => this.liveMemberCounts(groupIds),
    liveMemberIds: (groupId, after, limit) => this.liveMemberIds(groupId, after, limit),
    upsert: (table, rows, syncedAt) => this.upsert(table, rows, syncedAt),
    rehash: (table, rows, syncedAt) => this.upsert(table, rows, syncedAt, true),
    softDeleteMembers: (groupId, memberIds, at) => this.softDeleteMembers(groupId, memberIds, at),
    refreshMemberDisplays: (scope, at) => this.refreshMemberDisplays(scope, at),
    recountMembers: (groupIds, at) => this.recountMembers(groupIds, at),
    markSeen: (stream, keys) => this.markSeen(stream, keys),
    countSeen: (stream, keys) => this.countSeen(stream, keys),
    seenTotal: (stream) => this.seenTotal(stream),
    unseenIds: (stream, limit) => this.unseenIds(stream, limit),
    planDeletes: (stream) => this.planDeletes(stream),
    applyDeletes: (stream, at) => this.applyDeletes(stream, at),
    clearSeen: (stream) => this.clearSeen(stream),
    saveState: (state) => this.saveState(state),
  };

  *anyRows(table: TableName): Op<boolean> {
    return (yield* first(sql`SELECT 1 AS x FROM ${this.table(table)} LIMIT 1`)) !== undefined;
  }

  *rowCount(table: 'users' | 'groups'): Op<number> {
    return num((yield* first<{ n: unknown }>(sql`SELECT count(*) AS n FROM ${this.table(table)}`))?.n);
  }

  *existing(table: 'users' | 'groups', ids: readonly string[]): Op<Map<string, ExistingRow>> {
    const out = new Map<string, ExistingRow>();
    if (ids.length === 0) return out;
    const found = yield* rows<{ id: string; _hash: string; _deleted: unknown }>(
      sql`SELECT id, _hash, _deleted FROM ${this.table(table)} WHERE id IN (SELECT value FROM ${this.values(ids)})`,
    );
    for (const r of found) out.set(String(r.id), { hash: String(r._hash), deleted: toBool(r._deleted) === true });
    return out;
  }

  /** Of `ids`, those with no row at all in the table (never seen by this destination). */
  *missing(table: 'users' | 'groups', ids: readonly string[]): Op<string[]> {
    if (ids.length === 0) return [];
    const found = yield* rows<{ id: string }>(sql`SELECT id FROM ${this.table(table)} WHERE id IN (SELECT value FROM ${this.values(ids)})`);
    const known = new Set(found.map((r) => String(r.id)));
    return ids.filter((id) => !known.has(id));
  }

  *existingMembers(groupIds: readonly string[], memberIds: readonly string[]): Op<Map<string, Map<string, ExistingRow>>> {
    const out = new Map<string, Map<string, ExistingRow>>();
    if (groupIds.length === 0 || memberIds.length === 0) return out;
    const found = yield* rows<{ group_id: string; member_id: string; _hash: string; _deleted: unknown }>(
      sql`SELECT group_id, member_id, _hash, _deleted FROM ${this.t.group_members}
        WHERE group_id IN (SELECT value FROM ${this.values(groupIds)}) AND member_id IN (SELECT value FROM ${this.values(memberIds)})`,
    );
    for (const r of found) {
      const g = String(r.group_id);
      let m = out.get(g);
      if (!m) out.set(g, (m = new Map()));
      m.set(String(r.member_id), { hash: String(r._hash), deleted: toBool(r._deleted) === true });
    }
    return out;
  }

  *liveMemberCounts(groupIds: readonly string[]): Op<Map<string, number>> {
    const out = new Map<string, number>();
    if (groupIds.length === 0) return out;
    const found = yield* rows<{ group_id: string; n: unknown }>(sql`SELECT group_id, count(*) AS n FROM ${this.t.group_members}
      WHERE group_id IN (SELECT value FROM ${this.values(groupIds)}) AND _deleted = FALSE GROUP BY group_id`);
    for (const r of found) out.set(String(r.group_id), num(r.n));
    return out;
  }

  *liveMemberIds(groupId: string, after: string | null, limit: number): Op<string[]> {
    const from = after === null ? raw('') : sql`AND member_id > ${after}`;
    const found = yield* rows<{ member_id: string }>(sql`SELECT member_id FROM ${this.t.group_members}
      WHERE group_id = ${groupId} AND _deleted = FALSE ${from} ORDER BY member_id LIMIT ${limit}`);
    return found.map((r) => String(r.member_id));
  }

  /**
   * Inserts or overwrites whole rows, live again if they were soft-deleted, stamped with the source. `onlyHash`: rows
   * known to exist with the same content get their `_hash` and nothing else (DestinationTx.rehash).
   */
  *upsert(name: TableName, data: readonly Row[], syncedAt: string, onlyHash = false): Op<void> {
    if (data.length === 0) return;
    const table = this.def(name);
    const cols = allColumns(table);
    const keys = new Set(table.key);
    const names = join(cols.map((c) => ident(c.name)), ', ');
    const updated = onlyHash ? ['_hash'] : cols.filter((c) => !keys.has(c.name)).map((c) => c.name);
    const conflict = sql`ON CONFLICT (${join(table.key.map(ident), ', ')}) DO UPDATE SET ${join(updated.map((c) => raw(`"${c}" = excluded."${c}"`)), ', ')}`;
    const source = this.sourceOf();
    if (this.dialect.name === 'duckdb') {
      // The appender into the table's staging twin, then one set-based upsert: row-at-a-time statements cost about
      // 2.4 ms a row in DuckDB, the appender a few microseconds. The stage is temporary (this connection's own), and
      // made here, in the transaction that fills it, so a rolled-back one leaves nothing behind that this relies on.
      const stage = raw(`temp.main."${stageTable(name, cols)}"`);
      // Declared column by column: DuckDB fails to run a cached CREATE ... AS SELECT again once its table exists.
      const declared = raw(cols.map((c) => `"${c.name}" ${columnTypeSql('duckdb', c.type)}`).join(', '));
      yield* exec(sql`CREATE TEMPORARY TABLE IF NOT EXISTS ${stage} (${declared})`);
      yield* append({ table: stageTable(name, cols), schema: 'main', catalog: 'temp', rows: data.map((row) => [...row.values, row.hash, syncedAt, false, null, source]) });
      yield* exec(sql`INSERT INTO ${this.table(name)} (${names}) SELECT ${names} FROM ${stage} ${conflict}`);
      yield* exec(sql`DELETE FROM ${stage}`);
      return;
    }
    if (this.dialect.name === 'sqlite') {
      // One prepared statement run per row inside the page's transaction.
      const insert = sql`INSERT INTO ${this.table(name)} (${names}) VALUES (${list(cols.map(() => null))}) ${conflict}`;
      yield* execEach(insert, data.map((row) => [...row.values, row.hash, syncedAt, false, null, source]));
      return;
    }
    // PostgreSQL: one statement per chunk, one array parameter per column; the text is the same for every chunk.
    const columns = table.columns;
    const select = join(columns.map((c, i) => raw(`u.c${i}${PG_CAST[c.type]}`)), ', ');
    const aliases = raw(columns.map((_, i) => `c${i}`).join(', '));
    for (const chunk of chunks(data, PG_CHUNK)) {
      const arrays = join(columns.map((c, i) => sql`${chunk.map((r) => r.values[i])}::${raw(PG_ARRAY[c.type])}`), ', ');
      yield* exec(sql`INSERT INTO ${this.table(name)} (${names})
        SELECT ${select}, u.h, ${syncedAt}::timestamptz, FALSE, NULL, ${source}::text
        FROM unnest(${arrays}, ${chunk.map((r) => r.hash)}::text[]) AS u(${aliases}, h) ${conflict}`);
    }
  }

  *softDeleteMembers(groupId: string, memberIds: readonly string[], at: string): Op<number> {
    if (memberIds.length === 0) return 0;
    return yield* exec(sql`UPDATE ${this.t.group_members} SET _deleted = TRUE, _deleted_at = ${at}, _synced_at = ${at}
      WHERE group_id = ${groupId} AND _deleted = FALSE AND member_id IN (SELECT value FROM ${this.values(memberIds)})`);
  }

  *refreshMemberDisplays(scope: { readonly groupIds: readonly string[] } | { readonly memberIds: readonly string[] }, at: string): Op<number> {
    const byGroup = 'groupIds' in scope;
    const ids = byGroup ? scope.groupIds : scope.memberIds;
    if (ids.length === 0) return 0;
    // A first sync writes its users before any membership: nothing to refresh, and no list of ids to build.
    if (!byGroup && !(yield* this.anyRows('group_members'))) return 0;
    const name = raw('coalesce(u.display_name, u.user_name)');
    // Of a group, only the memberships written in this transaction: the others already show their user's name (a
    // rename refreshes by member), so a 20,000-member group changed by one member does not look up 20,000 users.
    const scoped = byGroup ? sql`m.group_id IN (SELECT value FROM ${this.values(ids)}) AND m._synced_at = ${at}` : sql`m.member_id IN (SELECT value FROM ${this.values(ids)})`;
    if (this.dialect.name === 'sqlite') {
      // The users are read in the order they are stored, each page of them once: looked up in the memberships' order,
      // every membership read a page of users from the file again (22,000 memberships: 72 against 25 ms of CPU), as
      // the page cache is kept small. Most memberships already show their user's name, so few rows are updated.
      const stale = yield* rows<{ mrid: number; name: string | null }>(sql`WITH t AS MATERIALIZED (
          SELECT m.rowid AS mrid, m.display AS shown, u.rowid AS urid FROM ${this.t.group_members} AS m JOIN ${this.t.users} AS u ON u.id = m.member_id
          WHERE ${scoped} AND m._deleted = FALSE AND ${USER_MEMBER} ORDER BY u.rowid)
        SELECT t.mrid AS mrid, ${name} AS name FROM t JOIN ${this.t.users} AS u ON u.rowid = t.urid WHERE t.shown IS DISTINCT FROM ${name}`);
      return yield* execEach(sql`UPDATE ${this.t.group_members} SET display = ${null}, _synced_at = ${at} WHERE rowid = ${null}`, stale.map((r) => [r.name, at, r.mrid]));
    }
    return yield* exec(sql`UPDATE ${this.t.group_members} AS m SET display = ${name}, _synced_at = ${at} FROM ${this.t.users} AS u
      WHERE u.id = m.member_id AND ${scoped} AND m._deleted = FALSE AND ${USER_MEMBER} AND m.display IS DISTINCT FROM ${name}`);
  }

  *recountMembers(groupIds: readonly string[] | null, at: string): Op<string[]> {
    if (groupIds !== null && groupIds.length === 0) return [];
    const live = sql`(SELECT count(*) FROM ${this.t.group_members} m WHERE m.group_id = g.id AND m._deleted = FALSE)`;
    const scope = groupIds === null ? raw('') : sql`AND g.id IN (SELECT value FROM ${this.values(groupIds)})`;
    const changed = yield* rows<{ id: string }>(sql`UPDATE ${this.t.groups} AS g SET member_count = ${live}, _synced_at = ${at}
      WHERE g._deleted = FALSE ${scope} AND g.member_count IS DISTINCT FROM ${live} RETURNING id`);
    return changed.map((r) => String(r.id));
  }

  *markSeen(stream: StreamName, keys: readonly string[]): Op<void> {
    if (keys.length === 0) return;
    yield* exec(sql`INSERT INTO ${this.t.seen} (stream, key) SELECT ${stream}, value FROM ${this.values(keys)} WHERE TRUE ON CONFLICT DO NOTHING`);
  }

  *countSeen(stream: StreamName, keys: readonly string[]): Op<number> {
    if (keys.length === 0) return 0;
    const r = yield* first<{ n: unknown }>(sql`SELECT count(*) AS n FROM ${this.t.seen} WHERE stream = ${stream} AND key IN (SELECT value FROM ${this.values(keys)})`);
    return num(r?.n);
  }

  *seenTotal(stream: StreamName): Op<number> {
    const r = yield* first<{ n: unknown }>(sql`SELECT count(*) AS n FROM ${this.t.seen} WHERE stream = ${stream}`);
    return num(r?.n);
  }

  *unseenIds(stream: StreamName, limit: number): Op<string[]> {
    // In no particular order: a scan that stops at the limit, not the whole table in key order.
    const found = yield* rows<{ id: string }>(sql`SELECT t.id FROM ${this.table(stream)} t WHERE ${this.unseen(stream)} LIMIT ${limit}`);
    return found.map((r) => String(r.id));
  }

  *planDeletes(stream: StreamName): Op<DeletePlan> {
    // One scan of the table for both counts; memberships of unseen rows only when there are some.
    const rowsOf = yield* first<{ live: unknown; unseen: unknown }>(
      sql`SELECT count(*) AS live, sum(CASE WHEN ${this.notSeen(stream)} THEN 1 ELSE 0 END) AS unseen FROM ${this.table(stream)} t WHERE t._deleted = FALSE`,
    );
    const unseen = num(rowsOf?.unseen);
    const c = unseen === 0 ? undefined : yield* first<{ n: unknown }>(sql`SELECT count(*) AS n FROM ${this.t.group_members} m WHERE ${this.affectedMemberships(stream)}`);
    // All live memberships are counted only for the guard's share, which needs them only when some go.
    const d = num(c?.n) === 0 ? undefined : yield* first<{ n: unknown }>(sql`SELECT count(*) AS n FROM ${this.t.group_members} WHERE _deleted = FALSE`);
    return { unseen, live: num(rowsOf?.live), memberships: num(c?.n), liveMemberships: num(d?.n), seen: yield* this.seenTotal(stream) };
  }

  *applyDeletes(stream: StreamName, at: string): Op<{ rows: number; memberships: number }> {
    // Memberships first: their condition reads the rows' live flag, which the second statement clears.
    const memberships = yield* exec(sql`UPDATE ${this.t.group_members} AS m SET _deleted = TRUE, _deleted_at = ${at}, _synced_at = ${at} WHERE ${this.affectedMemberships(stream)}`);
    const changed = yield* exec(sql`UPDATE ${this.table(stream)} AS t SET _deleted = TRUE, _deleted_at = ${at}, _synced_at = ${at} WHERE ${this.unseen(stream)}`);
    return { rows: changed, memberships };
  }

  *clearSeen(stream: StreamName): Op<void> {
    yield* exec(sql`DELETE FROM ${this.t.seen} WHERE stream = ${stream}`);
  }

  *saveState(s: StreamState): Op<void> {
    const detail: StateDetail = {
      position: s.position, since: s.since, detectDeletes: s.detectDeletes, passMaxModified: s.passMaxModified,
      passServerStart: s.passServerStart, passShifted: s.passShifted, passRecords: s.passRecords, lastCompletedAt: s.lastCompletedAt,
      initialSince: s.initialSince, passFromEmpty: s.passFromEmpty,
    };
    yield* exec(sql`INSERT INTO ${this.t.state} (stream, strategy, cursor, phase, detail, updated_at)
      VALUES (${s.stream}, ${s.strategy}, ${s.cursor}, ${s.phase}, ${JSON.stringify(detail)}, ${new Date().toISOString()})
      ON CONFLICT (stream) DO UPDATE SET strategy = excluded.strategy, cursor = excluded.cursor, phase = excluded.phase,
      detail = excluded.detail, updated_at = excluded.updated_at`);
  }

  *loadState(): Op<Map<StreamName, StreamState>> {
    const out = new Map<StreamName, StreamState>();
    const found = yield* rows<{ stream: string; strategy: string | null; cursor: string | null; phase: string | null; detail: string; updated_at: string }>(
      sql`SELECT stream, strategy, cursor, phase, detail, updated_at FROM ${this.t.state}`,
    );
    for (const r of found) {
      const stream = String(r.stream);
      if (stream !== 'users' && stream !== 'groups') continue;
      const detail = JSON.parse(String(r.detail)) as Partial<StateDetail>;
      out.set(stream, {
        ...emptyState(stream),
        strategy: (r.strategy as Strategy | null) ?? null,
        cursor: r.cursor ?? null,
        phase: (r.phase as Phase | null) ?? null,
        position: detail.position ?? null,
        since: detail.since ?? null,
        detectDeletes: detail.detectDeletes ?? false,
        passMaxModified: detail.passMaxModified ?? null,
        passServerStart: detail.passServerStart ?? null,
        passShifted: detail.passShifted ?? false,
        passRecords: detail.passRecords ?? 0,
        lastCompletedAt: detail.lastCompletedAt ?? null,
        initialSince: detail.initialSince ?? null,
        passFromEmpty: detail.passFromEmpty ?? false,
        updatedAt: String(r.updated_at),
      });
    }
    return out;
  }

  *counts(): Op<Record<TableName, TableCounts>> {
    const out = {} as Record<TableName, TableCounts>;
    for (const t of TABLES) {
      const r = yield* first<{ live: unknown; deleted: unknown }>(
        sql`SELECT sum(CASE WHEN _deleted THEN 0 ELSE 1 END) AS live, sum(CASE WHEN _deleted THEN 1 ELSE 0 END) AS deleted FROM ${this.table(t.name)}`,
      );
      out[t.name] = { live: num(r?.live), deleted: num(r?.deleted) };
    }
    return out;
  }

  *readRows(name: TableName): Op<Record<string, unknown>[]> {
    if (name === 'users') yield* this.userExtensions();
    const def = this.def(name);
    const cols = allColumns(def);
    const found = yield* rows(sql`SELECT ${join(cols.map((c) => ident(c.name)), ', ')} FROM ${this.table(name)} ORDER BY ${join(def.key.map(ident), ', ')}`);
    return found.map((r) => {
      const out: Record<string, unknown> = {};
      for (const c of cols) {
        const v = r[c.name];
        out[c.name] = c.type === 'boolean' ? toBool(v) : c.type === 'timestamp' ? toIso(v) : c.type === 'json' ? toJson(v) : c.type === 'integer' && v !== null ? Number(v) : v ?? null;
      }
      return out;
    });
  }
}
