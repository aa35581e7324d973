/** The destination contract: SQLite and PostgreSQL implement it with the same tables and behaviour. */
import type { ExtensionColumn } from '../extensions.ts';
import type { Op } from '../../sql/builder.ts';
import type { Row } from '../mapping.ts';
import type { TableName } from '../tables.ts';

export type StreamName = 'users' | 'groups';
export const STREAMS: readonly StreamName[] = ['users', 'groups'];

export type Strategy = 'incremental' | 'full';
/**
 * What a stream is doing: `full` reads everything and then soft-deletes what it did not see; `changes` reads what
 * changed since the cursor; `ids` lists only ids after a `changes` phase, to find deletes.
 */
export type Phase = 'full' | 'changes' | 'ids';

export interface StreamPosition {
  /** Next startIndex for index paging. */
  readonly startIndex: number;
  /** Next RFC 9865 cursor, when the phase pages by cursor ('' asks for the first page). */
  readonly cursor: string | null;
  /** Every page of the phase has been read; only its completion is left. */
  readonly done: boolean;
  /** The latest totalResults the server reported for this phase. */
  readonly total: number | null;
}

export interface StreamState {
  readonly stream: StreamName;
  readonly strategy: Strategy | null;
  /** The committed cursor: a server `meta.lastModified` minus the lookback; only moves when a stream completes. */
  readonly cursor: string | null;
  readonly phase: Phase | null;
  readonly position: StreamPosition | null;
  /** The `meta.lastModified gt` value the running `changes` phase filters by (kept so a resume asks the same). */
  readonly since: string | null;
  /** Whether the running pass will end with delete detection (false for a first sync limited by initial_sync_days). */
  readonly detectDeletes: boolean;
  /** Largest `meta.lastModified` seen by the running pass, and the server's Date when it began. */
  readonly passMaxModified: string | null;
  readonly passServerStart: string | null;
  /** The listing shrank during the pass (index paging): the cursor then stays where it was. */
  readonly passShifted: boolean;
  readonly passRecords: number;
  readonly lastCompletedAt: string | null;
  /** Set when the stream's first pass was limited by initial_sync_days: the lower bound it used. */
  readonly initialSince: string | null;
  /**
   * The stream's table held no rows when the running pass (a `full` or `changes` phase) began. Every row in it was
   * then written by this pass, in the transaction that read its key, so a key was seen exactly when its row exists:
   * the pass keeps no separate record of seen keys and has nothing to soft-delete.
   */
  readonly passFromEmpty: boolean;
  readonly updatedAt: string | null;
}

export function emptyState(stream: StreamName): StreamState {
  return {
    stream, strategy: null, cursor: null, phase: null, position: null, since: null, detectDeletes: false,
    passMaxModified: null, passServerStart: null, passShifted: false, passRecords: 0, lastCompletedAt: null, initialSince: null, passFromEmpty: false,
    updatedAt: null,
  };
}

export interface ExistingRow {
  readonly hash: string;
  readonly deleted: boolean;
}

/** What reconciling a completed pass would soft-delete. */
export interface DeletePlan {
  /** Live rows of the stream's table not seen by the pass. */
  readonly unseen: number;
  readonly live: number;
  /** Live memberships that go with them (members of deleted groups, or deleted users as members). */
  readonly memberships: number;
  /** All live memberships, for the guard's share (may be left at 0 when `memberships` is 0). */
  readonly liveMemberships: number;
  /** Keys the pass saw. */
  readonly seen: number;
}

/**
 * Operations inside one destination transaction. Each is a generator of statements (src/sql): a transaction body
 * composes them with `yield*` and the destination's runner runs the whole body in one transaction, so the body must
 * have no effects outside the database (PostgreSQL reruns it after a deadlock).
 */
export interface DestinationTx {
  existing(table: 'users' | 'groups', ids: readonly string[]): Op<Map<string, ExistingRow>>;
  /** Whether the table has any row at all (soft-deleted ones count). */
  anyRows(table: 'users' | 'groups'): Op<boolean>;
  /** How many rows the table has (soft-deleted ones count). */
  rowCount(table: 'users' | 'groups'): Op<number>;
  /** Of `ids`, those the table has no row for at all. */
  missing(table: 'users' | 'groups', ids: readonly string[]): Op<string[]>;
  /** Current memberships of the given groups whose member is one of `memberIds`: group id to member id to row. */
  existingMembers(groupIds: readonly string[], memberIds: readonly string[]): Op<Map<string, Map<string, ExistingRow>>>;
  /** How many live memberships each of the given groups has (groups with none are absent). */
  liveMemberCounts(groupIds: readonly string[]): Op<Map<string, number>>;
  /** Up to `limit` member ids of a group's live memberships, in order, after `after` (from the start when null). */
  liveMemberIds(groupId: string, after: string | null, limit: number): Op<string[]>;
  /** Inserts or overwrites whole rows (live again if they were soft-deleted), stamped with the source. */
  upsert(table: TableName, rows: readonly Row[], syncedAt: string): Op<void>;
  /**
   * Stores the hash of existing rows whose content is unchanged but whose stored hash is an earlier version's; nothing
   * else about them changes (`syncedAt` is not written).
   */
  rehash(table: TableName, rows: readonly Row[], syncedAt: string): Op<void>;
  softDeleteMembers(groupId: string, memberIds: readonly string[], at: string): Op<number>;
  /**
   * Sets `display` of live User memberships (of the given groups those written in this transaction, stamped `at`;
   * or all of the given members) to the member's display_name, else user_name, from the users table, where it
   * differs; returns the rows changed.
   */
  refreshMemberDisplays(scope: { readonly groupIds: readonly string[] } | { readonly memberIds: readonly string[] }, at: string): Op<number>;
  /** Sets `member_count` of live groups (the given ones, or all) to their live memberships where it differs; returns the ids of the rows changed. */
  recountMembers(groupIds: readonly string[] | null, at: string): Op<string[]>;
  markSeen(stream: StreamName, keys: readonly string[]): Op<void>;
  /** How many of `keys` the running pass already saw. */
  countSeen(stream: StreamName, keys: readonly string[]): Op<number>;
  seenTotal(stream: StreamName): Op<number>;
  /** Up to `limit` ids of live rows the running pass has not seen. */
  unseenIds(stream: StreamName, limit: number): Op<string[]>;
  planDeletes(stream: StreamName): Op<DeletePlan>;
  /** Soft-deletes live rows the pass did not see, and their memberships; returns rows and memberships deleted. */
  applyDeletes(stream: StreamName, at: string): Op<{ rows: number; memberships: number }>;
  clearSeen(stream: StreamName): Op<void>;
  saveState(state: StreamState): Op<void>;
}

export interface TableCounts {
  readonly live: number;
  readonly deleted: number;
}

/** A live sync holding a destination's run lock. */
export interface LockHolder {
  /** Which process, as far as the destination can tell (`pid 1234 on host`). */
  readonly process: string;
  readonly since: string;
}

/** Where a namespace's rows come from: the source's base URL (the organization is part of it), never the token. */
export interface SourceIdentity {
  readonly source: string;
  readonly provider: string;
  readonly orgId: string | null;
}

export interface SourceRecord extends SourceIdentity {
  readonly registeredAt: string;
}

export type DestinationKind = 'sqlite' | 'postgres' | 'duckdb';

/** Rows the sync hands to one write of a table (DestinationTx.upsert) within a page's transaction. */
export interface RowsPerWrite {
  readonly users: number;
  readonly members: number;
}

export interface Destination {
  readonly kind: DestinationKind;
  /** Rows the sync writes at a time within a page, when not its default of 200 users and 1,000 memberships. */
  readonly rowsPerWrite?: RowsPerWrite;
  /** Where it writes, with any password removed, and the namespace when there is one. */
  readonly label: string;
  /** The namespace its tables live in (null: the plain table names). */
  readonly namespace: string | null;
  /** The table a stream or table name is stored in, as a user would query it (`acme_users`, `acme.users`). */
  tableLabel(table: TableName): string;
  /** Claims the destination for one sync run; fails when another live run holds it. */
  lock(): Promise<void>;
  unlock(): Promise<void>;
  /** The live sync holding the run lock, if any (a killed one's leftover lock does not count). */
  lockHolder(): Promise<LockHolder | null>;
  /** The source recorded for this namespace, if any. */
  source(): Promise<SourceRecord | null>;
  /**
   * Records `identity` as the namespace's source, or checks it against the one recorded. A namespace holding rows
   * of another source refuses with SourceMismatch. Rows written before sources were recorded are adopted (and
   * stamped) on the first claim: `adopted` says so.
   */
  claimSource(identity: SourceIdentity): Promise<{ adopted: boolean }>;
  /**
   * Adds a users column for each extension attribute (extensions.ts) that has none yet, by a numbered migration, and
   * returns every extension column the users table has. Adding some makes the next pass read every user again.
   */
  extendUsers(found: readonly ExtensionColumn[]): Promise<{ columns: ExtensionColumn[]; added: ExtensionColumn[] }>;
  loadState(): Promise<Map<StreamName, StreamState>>;
  /** Runs `body` in one write transaction. */
  write<T>(body: (tx: DestinationTx) => Op<T>): Promise<T>;
  counts(): Promise<Record<TableName, TableCounts>>;
  /** Every row of a table, ordered by key, with timestamps as ISO strings, booleans as booleans and JSON parsed. */
  readRows(table: TableName): Promise<Record<string, unknown>[]>;
  /**
   * Forgets cursors, positions and strategies (the next sync starts a full pass); `dropTables` also drops the
   * data, the source record and the migration record, leaving the namespace empty.
   */
  reset(opts: { dropTables: boolean }): Promise<void>;
  close(): Promise<void>;
}

/**
 * What the sync engine needs of a destination. The SQL destinations are one; the Airbyte and Fivetran shells provide
 * another, which keeps no tables and emits each committed transaction as platform messages.
 */
export type SyncTarget = Pick<Destination, 'label' | 'lock' | 'unlock' | 'loadState' | 'write' | 'claimSource'> &
  /** Targets that keep no tables of their own (the platform shells) have no extension columns. */
  Partial<Pick<Destination, 'extendUsers' | 'rowsPerWrite'>>;
