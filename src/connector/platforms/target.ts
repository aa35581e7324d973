/**
 * The engine's destination under a platform: the same transactions the SQL destinations run, applied to the shell's
 * state (state.ts) instead of tables. When a transaction commits, the rows it changed go to the shell as changes
 * (upserts with whole rows, deletes by key), which the shell translates into platform messages followed by its
 * state. A transaction that fails is undone and emits nothing, so what the platform saw always matches the state it
 * will hand back.
 */
import type { Op } from '../../sql/builder.ts';
import type { Row } from '../mapping.ts';
import {
  emptyState, type DeletePlan, type DestinationTx, type ExistingRow, type StreamName, type StreamState, type SyncTarget,
} from '../destination/types.ts';
import { GROUPS_TABLE, MEMBERS_TABLE, USERS_TABLE, type Cell, type TableDef, type TableName } from '../tables.ts';
import { PLATFORM_TABLES, type EngineEntry, type RowEntry, type ShellState, type UserEntry } from './state.ts';

export type Change =
  | { readonly op: 'upsert'; readonly table: TableName; readonly values: readonly Cell[] }
  /** An upserted row the sink encoded when the transaction wrote it (CommitSink.encode). */
  | { readonly op: 'encoded'; readonly table: TableName; readonly encoded: Buffer }
  | { readonly op: 'delete'; readonly table: TableName; readonly key: readonly Cell[]; readonly at: string };

export interface CommitSink {
  /**
   * A user's row as the platform will receive it, encoded when the transaction writes it (null when the table is not
   * sent): the bytes wait for the commit outside V8's heap, and the row itself dies young. Held as rows, a page of
   * 1,000 users (about 2 MB) outlived the young generation and was promoted: scavenges took a sixth of an Airbyte
   * run's CPU, and a third less since (BENCHMARKS.md, "Issue 16, session 6"). A user row's final form is known when
   * it is written; a group's and a membership's are derived at the commit (and the state holds them anyway), so those
   * stay rows.
   */
  encode(table: TableName, values: readonly Cell[]): Buffer | null;
  /**
   * Receives one committed transaction's changes, in the order they were made (each row once, in its final form).
   * `boundary` is true when the transaction completed a stream. The shell writes them out, then its state.
   */
  commit(changes: readonly Change[], boundary: boolean): Promise<void>;
}

function column(table: TableDef, name: string): number {
  const i = table.columns.findIndex((c) => c.name === name);
  if (i < 0) throw new Error(`${table.name} has no column ${name}`);
  return i;
}

const USER_NAME = column(USERS_TABLE, 'user_name');
const USER_DISPLAY_NAME = column(USERS_TABLE, 'display_name');
const MEMBER_COUNT = column(GROUPS_TABLE, 'member_count');
const MEMBER_TYPE = column(MEMBERS_TABLE, 'member_type');
const MEMBER_DISPLAY = column(MEMBERS_TABLE, 'display');

/** A membership whose member is a User (SCIM's `type` is optional; a missing one means a User). */
function isUserMember(values: readonly Cell[]): boolean {
  const t = values[MEMBER_TYPE];
  return t === null || String(t).toLowerCase() === 'user';
}

/** What a membership of a synced user shows as its display: the user's display name, else its user name. */
function userDisplay(values: readonly Cell[]): string | null {
  const v = values[USER_DISPLAY_NAME] ?? values[USER_NAME];
  return v === null ? null : String(v);
}

const memberKey = (gid: string, mid: string): string => `${gid.length}:${gid}${mid}`;

type Pending =
  | { readonly op: 'upsert'; readonly key: readonly [string] | readonly [string, string]; readonly values?: readonly Cell[]; readonly encoded?: Buffer }
  | { readonly op: 'delete'; readonly key: readonly [string] | readonly [string, string]; readonly at: string };

/** One transaction: mutates the state in place, keeping an undo log, and collects the rows it touched. */
class ShellTx implements DestinationTx {
  private readonly undo: (() => void)[] = [];
  private readonly pending = new Map<TableName, Map<string, Pending>>(PLATFORM_TABLES.map((t) => [t, new Map()]));
  /** Display names users had before this transaction changed them (undefined: the user was not known). */
  private readonly previousDisplay = new Map<string, string | null | undefined>();
  boundary = false;

  constructor(
    private readonly s: ShellState,
    private readonly memberOf: Map<string, Set<string>>,
    private readonly sink: CommitSink,
  ) {}

  private mark(table: TableName, key: string, p: Pending): void {
    (this.pending.get(table) as Map<string, Pending>).set(key, p);
  }

  private engine(stream: StreamName): EngineEntry {
    let e = this.s.engine.get(stream);
    if (!e) {
      e = { state: emptyState(stream), seen: new Set() };
      this.s.engine.set(stream, e);
    }
    return e;
  }

  private known(stream: StreamName): Map<string, UserEntry | RowEntry> {
    return stream === 'users' ? this.s.users : this.s.groups;
  }

  private setMember(gid: string, mid: string, entry: RowEntry): void {
    let group = this.s.members.get(gid);
    if (!group) {
      const created = new Map<string, RowEntry>();
      this.s.members.set(gid, created);
      this.undo.push(() => {
        if (created.size === 0) this.s.members.delete(gid);
      });
      group = created;
    }
    const before = group.get(mid);
    group.set(mid, entry);
    let of = this.memberOf.get(mid);
    if (!of) this.memberOf.set(mid, (of = new Set()));
    const added = !of.has(gid);
    of.add(gid);
    const g = group;
    this.undo.push(() => {
      if (before) g.set(mid, before);
      else g.delete(mid);
      if (added) this.memberOf.get(mid)?.delete(gid);
    });
  }

  private deleteMember(gid: string, mid: string, at: string): boolean {
    const group = this.s.members.get(gid);
    const before = group?.get(mid);
    if (!group || !before) return false;
    group.delete(mid);
    this.memberOf.get(mid)?.delete(gid);
    this.undo.push(() => {
      group.set(mid, before);
      let of = this.memberOf.get(mid);
      if (!of) this.memberOf.set(mid, (of = new Set()));
      of.add(gid);
    });
    this.mark('group_members', memberKey(gid, mid), { op: 'delete', key: [gid, mid], at });
    return true;
  }

  private deleteRow(stream: StreamName, id: string, at: string): void {
    const known = this.known(stream);
    const before = known.get(id);
    if (!before) return;
    known.delete(id);
    this.undo.push(() => (known as Map<string, typeof before>).set(id, before));
    this.mark(stream, id, { op: 'delete', key: [id], at });
  }

  *anyRows(table: 'users' | 'groups'): Op<boolean> {
    return this.known(table).size > 0;
  }

  *rowCount(table: 'users' | 'groups'): Op<number> {
    return this.known(table).size;
  }

  *existing(table: 'users' | 'groups', ids: readonly string[]): Op<Map<string, ExistingRow>> {
    const known = this.known(table);
    const out = new Map<string, ExistingRow>();
    for (const id of ids) {
      const e = known.get(id);
      if (e) out.set(id, e);
    }
    return out;
  }

  *missing(table: 'users' | 'groups', ids: readonly string[]): Op<string[]> {
    const known = this.known(table);
    return ids.filter((id) => !known.has(id));
  }

  *existingMembers(groupIds: readonly string[], memberIds: readonly string[]): Op<Map<string, Map<string, ExistingRow>>> {
    const out = new Map<string, Map<string, ExistingRow>>();
    // Copies: the engine reads these while this transaction changes the state's own maps.
    for (const gid of groupIds) {
      const m = this.s.members.get(gid);
      if (!m) continue;
      const found = new Map<string, ExistingRow>();
      for (const mid of memberIds) {
        const e = m.get(mid);
        if (e) found.set(mid, e);
      }
      out.set(gid, found);
    }
    return out;
  }

  *liveMemberCounts(groupIds: readonly string[]): Op<Map<string, number>> {
    const out = new Map<string, number>();
    for (const gid of groupIds) {
      const n = this.s.members.get(gid)?.size ?? 0;
      if (n > 0) out.set(gid, n);
    }
    return out;
  }

  *liveMemberIds(groupId: string, after: string | null, limit: number): Op<string[]> {
    const ids = [...(this.s.members.get(groupId)?.keys() ?? [])].sort();
    return ids.filter((id) => after === null || id > after).slice(0, limit);
  }

  *upsert(table: TableName, rows: readonly Row[]): Op<void> {
    for (const row of rows) {
      if (table === 'users') {
        const id = String(row.values[0]);
        const before = this.s.users.get(id);
        if (!this.previousDisplay.has(id)) this.previousDisplay.set(id, before ? before.display : undefined);
        this.s.users.set(id, { hash: row.hash, deleted: false, display: userDisplay(row.values) });
        this.undo.push(() => (before ? this.s.users.set(id, before) : this.s.users.delete(id)));
        const encoded = this.sink.encode('users', row.values);
        this.mark('users', id, encoded ? { op: 'upsert', key: [id], encoded } : { op: 'upsert', key: [id], values: row.values });
      } else if (table === 'groups') {
        const id = String(row.values[0]);
        const before = this.s.groups.get(id);
        this.s.groups.set(id, { values: row.values, hash: row.hash, deleted: false });
        this.undo.push(() => (before ? this.s.groups.set(id, before) : this.s.groups.delete(id)));
        this.mark('groups', id, { op: 'upsert', key: [id] });
      } else {
        const gid = String(row.values[0]);
        const mid = String(row.values[1]);
        this.setMember(gid, mid, { values: row.values, hash: row.hash, deleted: false });
        this.mark('group_members', memberKey(gid, mid), { op: 'upsert', key: [gid, mid] });
      }
    }
  }

  /** Only the hash the state keeps changes: the platform already holds these rows as they are. */
  *rehash(table: TableName, rows: readonly Row[]): Op<void> {
    // Memberships are rebuilt from their member values, with current hashes, whenever a state is read (parseState).
    if (table === 'group_members') return;
    const known = this.known(table);
    for (const row of rows) {
      const id = String(row.values[0]);
      const before = known.get(id);
      if (!before) continue;
      known.set(id, { ...before, hash: row.hash });
      this.undo.push(() => known.set(id, before));
    }
  }

  *softDeleteMembers(groupId: string, memberIds: readonly string[], at: string): Op<number> {
    let n = 0;
    for (const mid of memberIds) if (this.deleteMember(groupId, mid, at)) n += 1;
    return n;
  }

  /**
   * Memberships always carry their derived display when emitted (see changes()), so only a renamed user's other
   * memberships need re-emitting: those whose display, as last emitted, differs from the user's new name.
   */
  *refreshMemberDisplays(scope: { readonly groupIds: readonly string[] } | { readonly memberIds: readonly string[] }): Op<number> {
    if ('groupIds' in scope) return 0;
    let n = 0;
    for (const uid of scope.memberIds) {
      const user = this.s.users.get(uid);
      if (!user || !this.previousDisplay.has(uid)) continue;
      const previous = this.previousDisplay.get(uid);
      for (const gid of this.memberOf.get(uid) ?? []) {
        const m = this.s.members.get(gid)?.get(uid);
        if (!m || !isUserMember(m.values)) continue;
        const shown = previous === undefined ? m.values[MEMBER_DISPLAY] : previous;
        if (shown === user.display) continue;
        this.mark('group_members', memberKey(gid, uid), { op: 'upsert', key: [gid, uid] });
        n += 1;
      }
    }
    return n;
  }

  *recountMembers(groupIds: readonly string[] | null): Op<string[]> {
    const changed: string[] = [];
    for (const id of groupIds ?? [...this.s.groups.keys()]) {
      const before = this.s.groups.get(id);
      if (!before) continue;
      const count = this.s.members.get(id)?.size ?? 0;
      if (before.values[MEMBER_COUNT] === count) continue;
      const values = [...before.values];
      values[MEMBER_COUNT] = count;
      this.s.groups.set(id, { ...before, values });
      this.undo.push(() => this.s.groups.set(id, before));
      this.mark('groups', id, { op: 'upsert', key: [id] });
      changed.push(id);
    }
    return changed;
  }

  *markSeen(stream: StreamName, keys: readonly string[]): Op<void> {
    const seen = this.engine(stream).seen;
    const added = keys.filter((k) => !seen.has(k));
    for (const k of added) seen.add(k);
    if (added.length > 0) this.undo.push(() => added.forEach((k) => seen.delete(k)));
  }

  *countSeen(stream: StreamName, keys: readonly string[]): Op<number> {
    const seen = this.engine(stream).seen;
    let n = 0;
    for (const k of new Set(keys)) if (seen.has(k)) n += 1;
    return n;
  }

  *seenTotal(stream: StreamName): Op<number> {
    return this.engine(stream).seen.size;
  }

  private unseen(stream: StreamName): string[] {
    const seen = this.engine(stream).seen;
    return [...this.known(stream).keys()].filter((id) => !seen.has(id));
  }

  *unseenIds(stream: StreamName, limit: number): Op<string[]> {
    return this.unseen(stream).sort().slice(0, limit);
  }

  /** Memberships that go with unseen rows: members of unseen groups, or unseen users as User members. */
  private affected(stream: StreamName, unseen: readonly string[]): [string, string][] {
    const out: [string, string][] = [];
    for (const id of unseen) {
      if (stream === 'groups') {
        for (const mid of this.s.members.get(id)?.keys() ?? []) out.push([id, mid]);
        continue;
      }
      for (const gid of this.memberOf.get(id) ?? []) {
        const m = this.s.members.get(gid)?.get(id);
        if (m && isUserMember(m.values)) out.push([gid, id]);
      }
    }
    return out;
  }

  *planDeletes(stream: StreamName): Op<DeletePlan> {
    const unseen = this.unseen(stream);
    let liveMemberships = 0;
    for (const m of this.s.members.values()) liveMemberships += m.size;
    return {
      unseen: unseen.length,
      live: this.known(stream).size,
      memberships: this.affected(stream, unseen).length,
      liveMemberships,
      seen: this.engine(stream).seen.size,
    };
  }

  *applyDeletes(stream: StreamName, at: string): Op<{ rows: number; memberships: number }> {
    const unseen = this.unseen(stream);
    let memberships = 0;
    for (const [gid, mid] of this.affected(stream, unseen)) if (this.deleteMember(gid, mid, at)) memberships += 1;
    for (const id of unseen) this.deleteRow(stream, id, at);
    return { rows: unseen.length, memberships };
  }

  *clearSeen(stream: StreamName): Op<void> {
    const e = this.engine(stream);
    const before = e.seen;
    e.seen = new Set();
    this.undo.push(() => (e.seen = before));
  }

  *saveState(state: StreamState): Op<void> {
    const e = this.engine(state.stream);
    const before = e.state;
    e.state = state;
    this.undo.push(() => (e.state = before));
    if (before.lastCompletedAt !== state.lastCompletedAt) this.boundary = true;
  }

  rollback(): void {
    for (let i = this.undo.length - 1; i >= 0; i--) this.undo[i]();
    this.undo.length = 0;
  }

  /** The rows this transaction changed, in their final form: a membership of a synced user shows the user's name. */
  changes(): Change[] {
    const out: Change[] = [];
    for (const [table, rows] of this.pending) {
      for (const p of rows.values()) {
        if (p.op === 'delete') {
          out.push({ op: 'delete', table, key: p.key, at: p.at });
          continue;
        }
        if (p.encoded) out.push({ op: 'encoded', table, encoded: p.encoded });
        else if (table === 'users') out.push({ op: 'upsert', table, values: p.values as readonly Cell[] });
        else if (table === 'groups') out.push({ op: 'upsert', table, values: (this.s.groups.get(p.key[0]) as RowEntry).values });
        else {
          const [gid, mid] = p.key as readonly [string, string];
          const values = (this.s.members.get(gid)?.get(mid) as RowEntry).values;
          const user = isUserMember(values) ? this.s.users.get(mid) : undefined;
          out.push({ op: 'upsert', table, values: user ? values.map((v, i) => (i === MEMBER_DISPLAY ? user.display : v)) : values });
        }
      }
    }
    return out;
  }
}

/** The engine's SyncTarget for a platform shell. It holds no lock: the platform runs one sync per connection. */
export class EmittingTarget implements SyncTarget {
  readonly label: string;
  /** Member id to the groups listing it (for renames and deleted users). */
  private readonly memberOf = new Map<string, Set<string>>();

  constructor(readonly state: ShellState, private readonly sink: CommitSink, label: string) {
    this.label = label;
    for (const [gid, members] of state.members) {
      for (const mid of members.keys()) {
        let of = this.memberOf.get(mid);
        if (!of) this.memberOf.set(mid, (of = new Set()));
        of.add(gid);
      }
    }
  }

  async lock(): Promise<void> {}

  async unlock(): Promise<void> {}

  async loadState(): Promise<Map<StreamName, StreamState>> {
    return new Map([...this.state.engine].map(([stream, e]) => [stream, e.state]));
  }

  /** The platform's state belongs to one connection, whose config names its source: nothing to record or check. */
  async claimSource(): Promise<{ adopted: boolean }> {
    return { adopted: false };
  }

  /** Runs the engine's transaction body against the state; the shell's operations never reach for SQL. */
  async write<T>(body: (tx: DestinationTx) => Op<T>): Promise<T> {
    const tx = new ShellTx(this.state, this.memberOf, this.sink);
    let result: T;
    try {
      const step = body(tx).next();
      if (!step.done) throw new Error('a platform shell has no SQL to run');
      result = step.value;
    } catch (err) {
      tx.rollback();
      throw err;
    }
    this.state.seq += 1;
    await this.sink.commit(tx.changes(), tx.boundary);
    return result;
  }
}
