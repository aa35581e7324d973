/** The destination contract: SQLite and PostgreSQL implement it with the same tables and behaviour. */
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
  readonly updatedAt: string | null;
}

export function emptyState(stream: StreamName): StreamState {
  return {
    stream, strategy: null, cursor: null, phase: null, position: null, since: null, detectDeletes: false,
    passMaxModified: null, passServerStart: null, passShifted: false, passRecords: 0, lastCompletedAt: null, updatedAt: null,
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
  readonly liveMemberships: number;
  /** Keys the pass saw. */
  readonly seen: number;
}

/** Operations inside one destination transaction. */
export interface DestinationTx {
  existing(table: 'users' | 'groups', ids: readonly string[]): Promise<Map<string, ExistingRow>>;
  /** Current memberships of the given groups: group id to member id to row. */
  existingMembers(groupIds: readonly string[]): Promise<Map<string, Map<string, ExistingRow>>>;
  /** Inserts or overwrites whole rows (live again if they were soft-deleted). */
  upsert(table: TableName, rows: readonly Row[], syncedAt: string): Promise<void>;
  softDeleteMembers(groupId: string, memberIds: readonly string[], at: string): Promise<number>;
  /**
   * Sets `display` of live User memberships (of the given groups, or of the given members) to the member's
   * display_name, else user_name, from the users table, where it differs; returns the rows changed.
   */
  refreshMemberDisplays(scope: { readonly groupIds: readonly string[] } | { readonly memberIds: readonly string[] }, at: string): Promise<number>;
  /** Sets `member_count` of live groups (the given ones, or all) to their live memberships where it differs; returns the rows changed. */
  recountMembers(groupIds: readonly string[] | null, at: string): Promise<number>;
  markSeen(stream: StreamName, keys: readonly string[]): Promise<void>;
  /** How many of `keys` the running pass already saw. */
  countSeen(stream: StreamName, keys: readonly string[]): Promise<number>;
  seenTotal(stream: StreamName): Promise<number>;
  /** Up to `limit` ids of live rows the running pass has not seen. */
  unseenIds(stream: StreamName, limit: number): Promise<string[]>;
  planDeletes(stream: StreamName): Promise<DeletePlan>;
  /** Soft-deletes live rows the pass did not see, and their memberships; returns rows and memberships deleted. */
  applyDeletes(stream: StreamName, at: string): Promise<{ rows: number; memberships: number }>;
  clearSeen(stream: StreamName): Promise<void>;
  saveState(state: StreamState): Promise<void>;
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

export interface Destination {
  readonly kind: 'sqlite' | 'postgres';
  /** Where it writes, with any password removed. */
  readonly label: string;
  /** Creates the tables when missing. */
  migrate(): Promise<void>;
  /** Claims the destination for one sync run; fails when another live run holds it. */
  lock(): Promise<void>;
  unlock(): Promise<void>;
  /** The live sync holding the run lock, if any (a killed one's leftover lock does not count). */
  lockHolder(): Promise<LockHolder | null>;
  loadState(): Promise<Map<StreamName, StreamState>>;
  transaction<T>(fn: (tx: DestinationTx) => Promise<T>): Promise<T>;
  counts(): Promise<Record<TableName, TableCounts>>;
  /** Every row of a table, ordered by key, with timestamps as ISO strings, booleans as booleans and JSON parsed. */
  readRows(table: TableName): Promise<Record<string, unknown>[]>;
  /** Forgets cursors, positions and strategies (the next sync starts a full pass); `dropTables` also drops the data. */
  reset(opts: { dropTables: boolean }): Promise<void>;
  close(): Promise<void>;
}

/**
 * What the sync engine needs of a destination. The SQL destinations are one; the Airbyte and Fivetran shells provide
 * another, which keeps no tables and emits each committed transaction as platform messages.
 */
export type SyncTarget = Pick<Destination, 'label' | 'lock' | 'unlock' | 'loadState' | 'transaction'>;
