/**
 * The sync engine. Per stream (users, then groups with their memberships): read pages, map them to rows, and write
 * each page's rows together with the stream's state in one destination transaction, so a process killed at any
 * moment resumes where it stopped with nothing lost and nothing duplicated. Deletes are found after a complete pass
 * (every key the pass saw is recorded alongside the page) and applied as soft deletes behind a guard.
 */
import type { Op } from '../sql/builder.ts';
import type { ConnectorConfig } from './config.ts';
import { openDestination } from './destination/index.ts';
import {
  emptyState, STREAMS, type DeletePlan, type DestinationTx, type ExistingRow, type SourceIdentity, type StreamName, type StreamPosition, type StreamState,
  type RowsPerWrite, type SyncTarget,
} from './destination/types.ts';
import { HttpClient, HttpError } from './http.ts';
import { createLogger, createRedactor, type Logger, type Redactor } from './log.ts';
import type { ExtensionColumn } from './extensions.ts';
import { isLegacyHash, lastModifiedMs, legacyHash, mapGroup, mapUser, memberIdOf, memberRow, resourceId, type Json, type Row } from './mapping.ts';
import type { MemberSpool } from './member-spool.ts';
import { emptyTableStats, noProgress, type ProgressSink, type SyncSummary, type TableStats } from './progress.ts';
import { ENDPOINTS, lastModifiedFilter, listPage, probe, type Capabilities, type ListPage, type ListQuery } from './source.ts';
import { GROUPS_TABLE, MEMBERS_TABLE, usersTableWith, type TableDef, type TableName } from './tables.ts';

/** How far behind the newest server timestamp a cursor is set, so changes committed out of order are not lost. */
export const CURSOR_LOOKBACK_MS = 60_000;

const FIRST_PAGE: StreamPosition = { startIndex: 1, cursor: '', done: false, total: null };
/** Unseen rows confirmed one by one before a soft delete (beyond that the listing is trusted; the guard still applies). */
const CONFIRM_LIMIT = 1000;
const CONFIRM_BY_GET_LIMIT = 100;
const ID_FILTER_BATCH = 25;

/**
 * How far paging may run past the server's own totalResults before the run stops: a server whose paging never ends
 * (a nextCursor that always comes back) would otherwise fill the tables forever.
 */
export function pagingBound(total: number): number {
  return 2 * total + 1000;
}

type ListingOptions = NonNullable<Parameters<typeof listPage>[3]>;

/** What identifies a request for a page of a listing. */
function listingKey(name: StreamName, q: ListQuery, opts: ListingOptions): string {
  return JSON.stringify([name, q, opts]);
}

/** Raised (and caught) when a source answers an `id eq` filter with resources that were not asked for. */
class IgnoredFilter extends Error {}

/** A run stopped on purpose, with a message for the user; the stream's state was not advanced. */
export class SyncError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SyncError';
  }
}

export interface SyncOptions {
  readonly config: ConnectorConfig;
  readonly fullRefresh?: boolean;
  readonly allowMassDelete?: boolean;
  readonly logger?: Logger;
  readonly progress?: ProgressSink;
  /**
   * An already-open destination (left open); otherwise the config's is opened and closed. The platform shells pass
   * one that emits each committed page as platform messages instead of writing tables.
   */
  readonly destination?: SyncTarget;
  /** The streams to run, in this order (all of them by default). */
  readonly streams?: readonly StreamName[];
  /**
   * Interrupts the run: requests in flight are aborted, the open transaction rolls back, the run lock is released
   * and the run rejects with the signal's reason. Everything committed stays, so the next run resumes.
   */
  readonly signal?: AbortSignal;
  /** Overrides for tests that cannot wait out the configured minimums. */
  readonly timeoutMs?: number;
  readonly backoffBaseMs?: number;
  /** Member text a page keeps in memory before spooling to a file (member-spool.ts); tests set a small one. */
  readonly spoolMemoryBytes?: number;
}

/** The client and logger a config implies, shared by sync, check and seed. */
export function clientFor(config: ConnectorConfig, opts: { logger?: Logger; timeoutMs?: number; backoffBaseMs?: number; connections?: number; signal?: AbortSignal } = {}): {
  http: HttpClient;
  logger: Logger;
  redact: Redactor;
} {
  const redact = createRedactor([config.bearerToken]);
  const logger = opts.logger ?? createLogger({ debug: config.enableDebugLogging, redact });
  const http = new HttpClient({
    baseUrl: config.baseUrl,
    token: config.bearerToken,
    timeoutMs: opts.timeoutMs ?? config.requestTimeoutSeconds * 1000,
    retryAttempts: config.retryAttempts,
    logger,
    redact,
    backoffBaseMs: opts.backoffBaseMs,
    connections: opts.connections,
    rateShare: config.rateLimitShare,
    maxResponseBytes: config.maxResponseMb * 1024 * 1024,
    signal: opts.signal,
  });
  return { http, logger, redact };
}

function serverIso(ms: number | null): string | null {
  return ms === null ? null : new Date(ms).toISOString();
}

/** Where a config's rows come from, as the destination records it: the base URL (organization included), never the token. */
export function sourceIdentity(config: ConnectorConfig): SourceIdentity {
  return { source: config.baseUrl, provider: config.provider, orgId: config.orgId };
}

/** A server timestamp as a filter value: whole seconds, UTC. */
function isoSeconds(ms: number): string {
  return `${new Date(ms).toISOString().slice(0, 19)}Z`;
}

/**
 * The next cursor, once a pass has completed. Everything modified before the server's clock at the start of the
 * pass, minus the lookback, was committed before the pass began (changes committed out of order are allowed the
 * lookback), so the pass read it: that window is settled and the next pass starts there. Without a server Date,
 * the newest timestamp seen minus the lookback. Never moves backwards, and does not move at all when the listing
 * shifted under index paging (a record may have slipped between two pages unread).
 */
export function nextCursor(state: StreamState): string | null {
  if (state.passShifted) return state.cursor;
  const start = state.passServerStart ? Date.parse(state.passServerStart) : NaN;
  const seen = state.passMaxModified ? Date.parse(state.passMaxModified) : NaN;
  const settled = Number.isNaN(start) ? seen : start;
  if (Number.isNaN(settled)) return state.cursor;
  const previous = state.cursor ? Date.parse(state.cursor) : -Infinity;
  return isoSeconds(Math.max(settled - CURSOR_LOOKBACK_MS, previous));
}

/** The delete plan of a pass that left no live row unseen, having seen `seen` keys (live rows are then not counted). */
function nothingToDelete(seen: number): DeletePlan {
  return { unseen: 0, live: seen, memberships: 0, liveMemberships: 0, seen };
}

type Change = 'inserted' | 'updated' | 'unchanged';

/**
 * Insert, update (content changed, or back from a soft delete) or leave alone. A row stored with an earlier version's
 * hash is unchanged when that version's hash of the same values matches: it only gets the current hash ('rehash').
 */
function compare(existing: ExistingRow | undefined, row: Row, table: TableDef): Change | 'rehash' {
  if (!existing) return 'inserted';
  if (existing.deleted) return 'updated';
  if (existing.hash === row.hash) return 'unchanged';
  return isLegacyHash(existing.hash) && existing.hash === legacyHash(table, row.values) ? 'rehash' : 'updated';
}

/** Rows sorted by what writing them takes, and counted for the summary. */
class Sorted {
  private changed: Row[] = [];
  private rehashed: Row[] = [];
  readonly stats = { inserted: 0, updated: 0, unchanged: 0 };
  /** Keys (first column) of the rows written with new content so far. */
  readonly written: string[] = [];

  constructor(private readonly table: TableDef) {}

  /** Returns how the row counts. `counted` false: written as usual, but already counted (a member listed again by its group). */
  add(existing: ExistingRow | undefined, row: Row, counted = true): Change {
    const compared = compare(existing, row, this.table);
    const change = compared === 'rehash' ? 'unchanged' : compared;
    if (compared === 'rehash') this.rehashed.push(row);
    else if (change !== 'unchanged') this.changed.push(row);
    if (counted) this.stats[change] += 1;
    return change;
  }

  /** Rows added and not written yet. */
  get pending(): number {
    return this.changed.length + this.rehashed.length;
  }

  /** Writes the rows added since the last write. */
  *write(tx: DestinationTx, syncedAt: string): Op<void> {
    yield* tx.upsert(this.table.name, this.changed, syncedAt);
    yield* tx.rehash(this.table.name, this.rehashed, syncedAt);
    for (const row of this.changed) this.written.push(String(row.values[0]));
    this.changed = [];
    this.rehashed = [];
  }
}

/**
 * Rows mapped, then written, at a time within a page's transaction, unless the destination asks otherwise. A batch
 * lives until it is written: a whole page of users (1,000: about 3 MB of rows) or 5,000 memberships outlived V8's
 * young generation and were promoted, where 200 users and 1,000 memberships die young (BENCHMARKS.md, session 5).
 */
const ROWS_PER_WRITE: RowsPerWrite = { users: 200, members: 1000 };

/** Live member ids read at a time, looking for the memberships a group no longer lists. */
const MEMBER_IDS_PER_READ = 5000;

function addStats(into: TableStats, from: Partial<TableStats>): void {
  into.inserted += from.inserted ?? 0;
  into.updated += from.updated ?? 0;
  into.unchanged += from.unchanged ?? 0;
  into.softDeleted += from.softDeleted ?? 0;
}

type PageStats = Partial<Record<TableName, Partial<TableStats>>>;

/** What one transaction counted, and the groups among them it counted as updated (SyncRun.updatedGroups). */
interface Counted {
  readonly stats: PageStats;
  readonly updatedGroups: readonly string[];
}

/** One member as a group listed it. */
interface Listed {
  readonly groupId: string;
  readonly memberId: string;
  readonly member: Json;
  /** Listed again by its group after an earlier listing was written: written again, not counted again. */
  readonly repeat: boolean;
}

/** A group's members: from the page's spool when they were streamed there, else as the resource holds them. */
function membersOf(resource: Json, spool: MemberSpool | null): Iterable<unknown> {
  if (spool?.has(resource)) return spool.members(resource);
  return Array.isArray(resource.members) ? resource.members : [];
}

/** Writes one batch of memberships: those new or changed (or back from a soft delete), against their current rows. */
function* writeMembers(tx: DestinationTx, batch: readonly Listed[], stats: TableStats, syncedAt: string): Op<void> {
  if (batch.length === 0) return;
  const groupIds = [...new Set(batch.map((l) => l.groupId))];
  const existing = yield* tx.existingMembers(groupIds, batch.map((l) => l.memberId));
  const sorted = new Sorted(MEMBERS_TABLE);
  for (const l of batch) sorted.add(existing.get(l.groupId)?.get(l.memberId), memberRow(l.groupId, l.memberId, l.member), !l.repeat);
  yield* sorted.write(tx, syncedAt);
  addStats(stats, sorted.stats);
}

/** Soft-deletes the live memberships of a group that `listed` does not name, reading them a batch at a time. */
function* removeUnlisted(tx: DestinationTx, groupId: string, listed: Iterable<unknown>, at: string): Op<number> {
  const keep = new Set<string>();
  for (const member of listed) {
    const id = memberIdOf(member);
    if (id !== null) keep.add(id);
  }
  let removed = 0;
  for (let after: string | null = null; ;) {
    const live: string[] = yield* tx.liveMemberIds(groupId, after, MEMBER_IDS_PER_READ);
    removed += yield* tx.softDeleteMembers(groupId, live.filter((id) => !keep.has(id)), at);
    if (live.length < MEMBER_IDS_PER_READ) return removed;
    after = live[live.length - 1];
  }
}

class SyncRun {
  private readonly tables = emptyTableStats();
  private records = 0;
  private readonly strategies: Record<string, string> = {};
  private readonly rowsPerWrite: RowsPerWrite;

  constructor(
    private readonly opts: SyncOptions,
    private readonly http: HttpClient,
    private readonly dest: SyncTarget,
    private readonly caps: Capabilities,
    private readonly logger: Logger,
    private readonly progress: ProgressSink,
    /** The extension columns of the users table, after the fixed ones. */
    private readonly extensions: readonly ExtensionColumn[] = [],
  ) {
    this.rowsPerWrite = dest.rowsPerWrite ?? ROWS_PER_WRITE;
  }

  summary(wallMs: number): SyncSummary {
    const s = this.http.stats;
    return {
      tables: this.tables,
      strategies: this.strategies,
      records: this.records,
      requests: s.requests,
      retries: s.retries,
      throttled: s.throttled,
      wallMs,
      recordsPerSecond: wallMs > 0 ? this.records / (wallMs / 1000) : 0,
    };
  }

  /** Adds what a committed transaction counted (never before its commit: a retried transaction counts again). */
  private merge({ stats, updatedGroups }: Counted): void {
    for (const [table, s] of Object.entries(stats) as [TableName, Partial<TableStats>][]) addStats(this.tables[table], s);
    for (const id of updatedGroups) this.updatedGroups.add(id);
  }

  /**
   * Groups counted as updated in this run. A user's delete recounts its groups, and the groups stream may then read
   * the same groups, changed: each is one updated group, not two.
   */
  private readonly updatedGroups = new Set<string>();

  /**
   * Where a stream starts: a new pass, decided from its saved state and what the source supports (`fresh`), or the
   * pass it was in, where it stopped. Decides only; stream() saves a new pass.
   */
  private startingPoint(name: StreamName, saved: StreamState | undefined): { state: StreamState; fresh: boolean } {
    const cap = this.caps.streams[name];
    const { config } = this.opts;
    let st = saved ?? emptyState(name);
    // An interrupted incremental pass on a source that no longer filters starts over as a full pass.
    if (st.phase !== null && !(st.phase === 'changes' && cap.strategy === 'full')) return { state: { ...st, strategy: cap.strategy }, fresh: false };
    const serverNow = this.caps.serverDate ?? Date.now();
    if (cap.strategy === 'incremental' && st.cursor) st = { ...st, phase: 'changes', since: st.cursor, detectDeletes: true };
    else if (cap.strategy === 'incremental' && config.initialSyncDays !== null) {
      const since = isoSeconds(serverNow - config.initialSyncDays * 86_400_000);
      st = { ...st, phase: 'changes', since, detectDeletes: false, initialSince: since };
    } else st = { ...st, phase: 'full', since: null, detectDeletes: true };
    return {
      state: { ...st, strategy: cap.strategy, position: FIRST_PAGE, passMaxModified: null, passServerStart: null, passShifted: false, passRecords: 0 },
      fresh: true,
    };
  }

  /**
   * Decides how a stream starts (or resumes), saves that, and runs its phases to completion. `next` is the stream
   * that follows, whose first page is asked for while this one's last page is written.
   */
  async stream(name: StreamName, saved: StreamState | undefined, next?: { readonly name: StreamName; readonly saved: StreamState | undefined }): Promise<void> {
    const cap = this.caps.streams[name];
    this.strategies[name] = cap.strategy;
    if (saved?.strategy && saved.strategy !== cap.strategy) this.logger.info(`${name}: strategy changes from ${saved.strategy} to ${cap.strategy}`);
    this.logger.info(`${name}: ${cap.strategy === 'incremental' ? 'incremental by meta.lastModified' : 'full scan with local change detection'} (${cap.reason})`);
    this.next = next ?? null;
    const start = this.startingPoint(name, saved);
    let st = start.state;
    if (start.fresh) {
      if (saved?.phase === 'changes') this.logger.info(`${name}: the interrupted incremental pass restarts as a full pass`);
      if (st.phase === 'full' && !saved?.cursor && this.opts.config.initialSyncDays !== null) {
        this.logger.info(`${name}: initial_sync_days does not apply (${cap.reason}), so the first sync reads everything`);
      }
      const fresh = st;
      st = await this.dest.write(function* (tx) {
        yield* tx.clearSeen(name);
        const started = { ...fresh, passFromEmpty: !(yield* tx.anyRows(name)) };
        yield* tx.saveState(started);
        return started;
      });
    } else {
      this.logger.info(`${name}: resuming the ${st.phase} pass at record ${st.position?.startIndex ?? 1}`);
    }
    while (st.phase !== null) st = await this.phase(st);
  }

  /** The stream after the one running, if any (see stream()). */
  private next: { readonly name: StreamName; readonly saved: StreamState | undefined } | null = null;

  /** The request for a page of a stream's pass at `at`. */
  private listQuery(st: StreamState, at: Pick<StreamPosition, 'startIndex' | 'cursor'>): ListQuery {
    const useCursor = this.caps.paging === 'cursor';
    return {
      count: this.caps.pageSize,
      filter: st.phase === 'changes' ? lastModifiedFilter(st.since as string) : undefined,
      ...this.view(st.stream, st.phase === 'ids'),
      startIndex: useCursor ? undefined : at.startIndex,
      cursor: useCursor ? at.cursor ?? '' : undefined,
    };
  }

  /** How a stream's pages are read: a groups page's members are streamed to a spool, except when only ids are read. */
  private listing(st: StreamState): ListingOptions {
    return { spoolMembers: st.stream === 'groups' && st.phase !== 'ids', spoolMemoryBytes: this.opts.spoolMemoryBytes };
  }

  /** Whether `st`'s phase is its stream's last: only an incremental pass that looks for deletes has another. */
  private static lastPhase(st: StreamState): boolean {
    return !(st.phase === 'changes' && st.detectDeletes);
  }

  /** Asks for the next stream's first page, so that the source prepares it while this stream finishes. */
  private readAheadNext(): void {
    if (!this.next) return;
    const { state } = this.startingPoint(this.next.name, this.next.saved);
    if (state.phase === null || state.position?.done) return;
    this.readAhead(state.stream, this.listQuery(state, state.position ?? FIRST_PAGE), this.listing(state));
  }

  /** Reads one phase page by page, then completes it; returns the state after completion. */
  private async phase(start: StreamState): Promise<StreamState> {
    let st = start;
    const name = st.stream;
    const phase = st.phase as NonNullable<StreamState['phase']>;
    const idsOnly = phase === 'ids';
    const useCursor = this.caps.paging === 'cursor';
    let restartedCursor = false;
    let announced = false;
    const query = (at: Pick<StreamPosition, 'startIndex' | 'cursor'>): ListQuery => this.listQuery(start, at);
    const listing = this.listing(start);
    for (;;) {
      this.opts.signal?.throwIfAborted();
      const pos: StreamPosition = st.position ?? FIRST_PAGE;
      if (pos.done) break;
      let page: ListPage;
      try {
        page = await this.readPage(name, query(pos), listing);
      } catch (err) {
        // An RFC 9865 cursor may expire between runs: start the phase over (seen keys make it idempotent).
        const expired = err instanceof HttpError && (err.scimType === 'expiredCursor' || err.scimType === 'invalidCursor');
        if (useCursor && expired && pos.cursor && !restartedCursor) {
          this.logger.warn(`${name}: the saved paging cursor is no longer valid; reading the ${phase} pass again from the start`);
          restartedCursor = true;
          st = { ...st, position: FIRST_PAGE };
          continue;
        }
        throw err;
      }
      // The page's streamed members are spooled (member-spool.ts) until the page is written.
      const byId = new Map<string, Json>();
      try {
        if (!announced) {
          this.progress.phase(name, phase, page.totalResults, st.passRecords);
          announced = true;
        }
        for (const r of page.resources) {
          const id = resourceId(r);
          if (id) byId.set(id, r);
        }
        if (page.resources.length > byId.size) this.logger.debug(`${name}: ${page.resources.length - byId.size} resources without an id or repeated within one page were skipped`);
        const where = useCursor ? 'the saved cursor' : `startIndex ${pos.startIndex}`;
        const last = useCursor ? page.nextCursor === null : page.returned === 0;
        const total = page.totalResults ?? pos.total;
        // With index paging, a listing that shrank mid-pass shifted later records back: one may have slipped unread.
        const shifted = !useCursor && !idsOnly && pos.total !== null && page.totalResults !== null && page.totalResults < pos.total;
        if (byId.size === 0) {
          if (page.returned > 0) throw new SyncError(`${name}: the page at ${where} holds ${page.returned} entries but none with an id`);
          if (!last && page.nextCursor === pos.cursor) throw new SyncError(`${name}: the server returned an empty page whose nextCursor repeats the one asked for; stopping instead of looping`);
          // The pass's start on the server's clock counts even when its first page is empty (nothing to commit yet).
          st = { ...st, position: { startIndex: pos.startIndex, cursor: page.nextCursor, done: last, total }, passServerStart: st.passServerStart ?? serverIso(page.serverDate) };
          if (last) break;
          continue;
        }
        if (total !== null && st.passRecords + byId.size > pagingBound(total)) {
          throw new SyncError(
            `${name}: paging would reach ${st.passRecords + byId.size} records while the server reports ${total} in all; ` +
              'stopping, because the listing does not appear to end (a server bug, such as a nextCursor that never runs out). ' +
              'This page was not written and the cursor did not advance; report it to the provider',
          );
        }
        // The next page is asked for now, so that the server prepares it while this one is written; and with the
        // pass's last page with records (by the server's count), the next stream's first page as well, which a server
        // may take longer to build than this stream's last two pages take to write.
        if (!last) this.readAhead(name, query({ startIndex: pos.startIndex + page.returned, cursor: page.nextCursor }), listing);
        if (SyncRun.lastPhase(st) && (last || (total !== null && st.passRecords + byId.size + this.caps.pageSize >= total))) this.readAheadNext();
        // Ids the destination has never seen are fetched, whatever their lastModified says (a cursor is only a hint).
        const fetched = idsOnly ? await this.fetchUnknown(name, st, [...byId.keys()]) : null;
        const run = this;
        const outcome = await this.dest.write(function* (tx) {
          const ids = [...byId.keys()];
          // A pass that began on an empty table saw exactly the keys that have a row (StreamState.passFromEmpty).
          const known = st.passFromEmpty && !idsOnly ? yield* tx.existing(name, ids) : null;
          if ((known ? known.size : yield* tx.countSeen(name, ids)) === ids.length) {
            // The whole page was already read in this pass: the server ignored our paging parameter.
            const seen = known ? yield* tx.rowCount(name) : yield* tx.seenTotal(name);
            if (page.totalResults !== null && seen >= page.totalResults) return null;
            throw new SyncError(
              `${name}: the server sent the same ${ids.length} records again for ${where}; it appears to ignore ` +
                `${useCursor ? 'the cursor' : 'startIndex'}, so the sync stops instead of looping (nothing was lost; the cursor did not advance)`,
            );
          }
          const written = idsOnly ? fetched : byId;
          const counted: Counted = written && written.size > 0 ? yield* run.writePage(tx, name, written, page.spool, known) : { stats: {}, updatedGroups: [] };
          if (!known) yield* tx.markSeen(name, ids);
          let max = st.passMaxModified ? Date.parse(st.passMaxModified) : -Infinity;
          if (!idsOnly) for (const r of byId.values()) max = Math.max(max, lastModifiedMs(r) ?? -Infinity);
          const next: StreamState = {
            ...st,
            position: { startIndex: pos.startIndex + page.returned, cursor: useCursor ? page.nextCursor : null, done: last, total },
            passMaxModified: Number.isFinite(max) ? new Date(max).toISOString() : st.passMaxModified,
            passServerStart: st.passServerStart ?? serverIso(page.serverDate),
            passShifted: st.passShifted || shifted,
            passRecords: st.passRecords + byId.size,
          };
          yield* tx.saveState(next);
          return { counted, state: next };
        });
        if (outcome === null) {
          st = { ...st, position: { ...pos, done: true, total } };
          break;
        }
        this.merge(outcome.counted);
        this.records += idsOnly ? fetched?.size ?? 0 : byId.size;
        this.progress.update(name, outcome.state.passRecords);
        st = outcome.state;
      } finally {
        page.spool?.close();
        // The page's resources go as soon as it is written. V8 kept the page reachable from this iteration into the
        // next page's read, so each page outlived a second scavenge and was promoted to the old generation, garbage
        // there until a full collection: 30 MB of a 20,000-user sync (BENCHMARKS.md, issue 16 session 7).
        byId.clear();
        page.resources.length = 0;
      }
    }
    this.progress.finish(name);
    const final = st;
    const findsDeletes = (final.phase === 'full' || final.phase === 'ids') && final.detectDeletes;
    const noneUnseen = final.passFromEmpty || (findsDeletes && (await this.confirmUnseen(name)));
    const done = await this.dest.write((tx) => this.complete(tx, final, noneUnseen));
    this.merge(done.deletes);
    return done.state;
  }

  /** Pages asked for ahead of time (readAhead), by what was asked for: at most one per stream. */
  private readonly ahead = new Map<string, { readonly stream: StreamName; readonly page: Promise<ListPage> }>();

  /** A page of a listing: the one asked for ahead when it is this one, else asked for now. */
  private readPage(name: StreamName, q: ListQuery, opts: ListingOptions): Promise<ListPage> {
    const key = listingKey(name, q, opts);
    const ahead = this.ahead.get(key);
    if (ahead) {
      this.ahead.delete(key);
      return ahead.page;
    }
    this.dropAhead(name);
    return listPage(this.http, name, q, opts);
  }

  /** Asks for a page before it is needed, so that the source prepares it while the current one is written. */
  private readAhead(name: StreamName, q: ListQuery, opts: ListingOptions): void {
    const key = listingKey(name, q, opts);
    if (this.ahead.has(key)) return;
    this.dropAhead(name);
    const page = listPage(this.http, name, q, opts);
    // Its failure reaches readPage's caller; a dropped page's failure matters to nobody.
    page.catch(() => {});
    this.ahead.set(key, { stream: name, page });
  }

  /** Pages asked for ahead and then dropped, until their members' spools are closed. */
  private readonly dropping = new Set<Promise<void>>();

  /** Forgets the pages asked for ahead (of one stream, or all): a page's members' spool is closed once it has arrived. */
  private dropAhead(stream?: StreamName): void {
    for (const [key, ahead] of this.ahead) {
      if (stream !== undefined && ahead.stream !== stream) continue;
      this.ahead.delete(key);
      const closed: Promise<void> = ahead.page.then((page) => page.spool?.close(), () => {}).finally(() => this.dropping.delete(closed));
      this.dropping.add(closed);
    }
  }

  /** Once the client is closed (nothing more arrives): waits until every dropped page has closed its spool. */
  async settle(): Promise<void> {
    this.dropAhead();
    await Promise.all(this.dropping);
  }

  /**
   * Rows a pass did not see are asked about by id before they are soft-deleted: with index paging, a delete at the
   * source during the pass shifts later records back by one page slot, and the record that slipped past must not
   * be taken for deleted. Those that still exist are marked seen. Returns whether no live row is left unseen.
   */
  private async confirmUnseen(name: StreamName): Promise<boolean> {
    const candidates = await this.dest.write((tx) => tx.unseenIds(name, CONFIRM_LIMIT + 1));
    if (candidates.length === 0) return true;
    if (candidates.length > CONFIRM_LIMIT) {
      this.logger.debug(`${name}: ${candidates.length}+ rows not seen; too many to confirm one by one, trusting the listing`);
      return false;
    }
    const alive = await this.stillAtSource(name, candidates);
    if (alive.length === 0) return false;
    this.logger.warn(`${name}: ${alive.length} resources missing from the listing still exist at the source (paging shifted during the pass); they are kept`);
    await this.dest.write((tx) => tx.markSeen(name, alive));
    return alive.length === candidates.length;
  }

  private async stillAtSource(name: StreamName, ids: readonly string[]): Promise<string[]> {
    const found = await this.lookUp(name, ids, false);
    if (found === null) {
      this.logger.debug(`${name}: the server cannot filter by id and ${ids.length} rows are unseen; trusting the listing`);
      return [];
    }
    return [...found.keys()];
  }

  /**
   * Of the ids an id listing returned, fetches those the destination has no row for: a resource can exist at the
   * source with a lastModified the cursor has already passed (an import that kept old timestamps, a cursor from
   * before the destination recorded its source). Not after a first pass limited by initial_sync_days, whose point
   * is to leave older resources out.
   */
  private async fetchUnknown(name: StreamName, st: StreamState, ids: readonly string[]): Promise<Map<string, Json> | null> {
    if (st.initialSince !== null) return null;
    const missing = await this.dest.write((tx) => tx.missing(name, ids));
    if (missing.length === 0) return null;
    const found = await this.lookUp(name, missing, true);
    if (found === null) {
      this.logger.warn(`${name}: ${missing.length} resources listed by id are not in the tables, and the server cannot filter by id to fetch them; run \`scimkit sync --full-refresh\` to read everything`);
      return null;
    }
    this.logger.info(`${name}: fetched ${found.size} resources the tables did not hold although their lastModified is before the cursor`);
    return found;
  }

  /**
   * Resources by id: with `id eq` filters in batches, or one GET each for up to CONFIRM_BY_GET_LIMIT ids when the
   * server cannot filter by id (null past that). `full` reads whole resources, else ids only where `attributes=`
   * is honoured. Ids the source does not have are simply absent from the result.
   */
  private async lookUp(name: StreamName, ids: readonly string[], full: boolean): Promise<Map<string, Json> | null> {
    const out = new Map<string, Json>();
    const view = this.view(name, !full);
    if (this.idFilter !== false) {
      try {
        for (let i = 0; i < ids.length; i += ID_FILTER_BATCH) {
          const batch = ids.slice(i, i + ID_FILTER_BATCH);
          const wanted = new Set(batch);
          const page = await listPage(this.http, name, { count: batch.length, filter: batch.map((id) => `id eq ${JSON.stringify(id)}`).join(' or '), ...view });
          // A server that ignored the filter answers with other resources: its answer proves nothing.
          for (const r of page.resources) {
            const id = resourceId(r);
            if (id === null || !wanted.has(id)) throw new IgnoredFilter();
            out.set(id, r);
          }
        }
        this.idFilter = true;
        return out;
      } catch (err) {
        const refused = err instanceof HttpError && err.status !== null && err.status >= 400 && err.status < 500 && err.status !== 401 && err.status !== 403;
        if (!refused && !(err instanceof IgnoredFilter)) throw err;
        this.idFilter = false;
        out.clear();
      }
    }
    if (ids.length > CONFIRM_BY_GET_LIMIT) return null;
    for (const id of ids) {
      try {
        const res = await this.http.get(`${ENDPOINTS[name]}/${encodeURIComponent(id)}`, view);
        const body = res.body;
        if (!full) out.set(id, { id });
        else if (body !== null && typeof body === 'object' && !Array.isArray(body) && resourceId(body) === id) out.set(id, body as Json);
      } catch (err) {
        if (!(err instanceof HttpError && err.status === 404)) throw err;
      }
    }
    return out;
  }

  /**
   * What to ask of a resource where the source honours `attributes` (the probe found out): ids only, or whole
   * resources; for users without `groups`, which the tables take from group_members, never from a user, and which
   * costs a server a membership lookup per user (scimkit's own: about 8 s per page of 1,000 users in 1,000 groups).
   */
  private view(name: StreamName, idsOnly: boolean): { attributes?: string; excludedAttributes?: string } {
    if (!this.caps.projection) return {};
    if (idsOnly) return { attributes: 'id' };
    return name === 'users' ? { excludedAttributes: 'groups' } : {};
  }

  /** Whether the source answers `id eq` filters (learned on first use). */
  private idFilter: boolean | null = null;

  /** Writes a page's resources; `known` is their rows' existing state when the caller has read it already. */
  private *writePage(tx: DestinationTx, name: StreamName, byId: Map<string, Json>, spool: MemberSpool | null, known: Map<string, ExistingRow> | null): Op<Counted> {
    const syncedAt = new Date().toISOString();
    const ids = [...byId.keys()];
    if (name === 'users') {
      const existing = known ?? (yield* tx.existing('users', ids));
      const users = new Sorted(usersTableWith(this.extensions));
      for (const id of ids) {
        users.add(existing.get(id), mapUser(byId.get(id) as Json, this.extensions));
        if (users.pending === this.rowsPerWrite.users) yield* users.write(tx, syncedAt);
      }
      yield* users.write(tx, syncedAt);
      // A renamed user's memberships show the new name, whether or not the server touched its groups.
      const renamed = yield* tx.refreshMemberDisplays({ memberIds: users.written }, syncedAt);
      return { stats: { users: users.stats, group_members: { updated: renamed } }, updatedGroups: [] };
    }
    // Memberships first, a batch at a time, so that each group's row can carry how many distinct members it listed.
    const existingGroups = known ?? (yield* tx.existing('groups', ids));
    const m = { inserted: 0, updated: 0, unchanged: 0, softDeleted: 0 };
    const counts = new Map<string, number>();
    let batch: Listed[] = [];
    /** Where each member of the group being read sits in `batch` (a later listing of it replaces the earlier one). */
    let inBatch = new Map<string, number>();
    for (const id of ids) {
      const listed = new Set<string>();
      inBatch = new Map();
      for (const member of membersOf(byId.get(id) as Json, spool)) {
        const memberId = memberIdOf(member);
        if (memberId === null) continue;
        const at = inBatch.get(memberId);
        if (at !== undefined) {
          batch[at] = { ...batch[at], member: member as Json };
          continue;
        }
        // Listed again after its batch was written: written again (the last listing wins), counted once.
        const repeat = listed.has(memberId);
        listed.add(memberId);
        inBatch.set(memberId, batch.length);
        batch.push({ groupId: id, memberId, member: member as Json, repeat });
        if (batch.length >= this.rowsPerWrite.members) {
          yield* writeMembers(tx, batch, m, syncedAt);
          batch = [];
          inBatch = new Map();
        }
      }
      counts.set(id, listed.size);
    }
    yield* writeMembers(tx, batch, m, syncedAt);
    // A group lists all its members, so a live membership it no longer lists was removed. Every member it listed is
    // live by now: only a group with more live memberships than that has any to remove.
    const live = yield* tx.liveMemberCounts([...existingGroups.keys()]);
    for (const [id, n] of live) {
      if (n > (counts.get(id) ?? 0)) m.softDeleted += yield* removeUnlisted(tx, id, membersOf(byId.get(id) as Json, spool), syncedAt);
    }
    const g = new Sorted(GROUPS_TABLE);
    /** How each group counts; a group counted as updated earlier in the run is not counted again. */
    const changes = new Map<string, Change>();
    for (const id of ids) {
      const change = g.add(existingGroups.get(id), mapGroup(byId.get(id) as Json, counts.get(id) ?? 0));
      if (!this.updatedGroups.has(id)) changes.set(id, change);
    }
    yield* g.write(tx, syncedAt);
    // Rows just written carry the display the group sent; members that are synced users show their current name.
    yield* tx.refreshMemberDisplays({ groupIds: ids }, syncedAt);
    // Counts are derived from live membership rows: a group whose lastModified did not move still gets its count.
    for (const id of yield* tx.recountMembers(ids, syncedAt)) if (changes.get(id) === 'unchanged') changes.set(id, 'updated');
    const groups = { inserted: 0, updated: 0, unchanged: 0 };
    for (const change of changes.values()) groups[change] += 1;
    return { stats: { groups, group_members: m }, updatedGroups: [...changes].filter(([, c]) => c === 'updated').map(([id]) => id) };
  }

  /** Ends a phase inside `tx`: reconciles deletes after a complete pass, then starts the id scan or closes the stream. */
  private *complete(tx: DestinationTx, st: StreamState, noneUnseen: boolean): Op<{ state: StreamState; deletes: Counted }> {
    const name = st.stream;
    const now = new Date().toISOString();
    const deletes: PageStats = {};
    let recounted: readonly string[] = [];
    if (st.phase === 'changes' && st.detectDeletes) {
      // Changes are in; deletes need the list of ids that still exist.
      const next: StreamState = { ...st, phase: 'ids', position: FIRST_PAGE, passRecords: 0, passFromEmpty: false };
      yield* tx.clearSeen(name);
      yield* tx.saveState(next);
      return { state: next, deletes: { stats: deletes, updatedGroups: [] } };
    }
    if ((st.phase === 'full' || st.phase === 'ids') && st.detectDeletes) {
      // No live row left unseen (none found just before, or a pass from an empty table, which wrote and saw every
      // row there is): nothing to delete, and no scan of the table to plan it.
      const seen = noneUnseen ? yield* (st.passFromEmpty ? tx.rowCount(name) : tx.seenTotal(name)) : null;
      const plan = seen !== null ? nothingToDelete(seen) : yield* tx.planDeletes(name);
      const reported = st.position?.total ?? null;
      if (reported !== null && reported > plan.seen) {
        this.logger.warn(`${name}: the server reported ${reported} resources but paging returned ${plan.seen}; skipping delete detection for this pass`);
      } else if (plan.unseen > 0 || plan.memberships > 0) {
        this.guard(name, plan.unseen, plan.live, plan.seen);
        this.guard('group_members', plan.memberships, plan.liveMemberships, null);
        const res = yield* tx.applyDeletes(name, now);
        deletes[name] = { softDeleted: res.rows };
        deletes.group_members = { softDeleted: res.memberships };
        // Deleted users leave their groups even when the server did not move those groups' lastModified.
        if (res.memberships > 0) recounted = yield* tx.recountMembers(null, now);
        this.logger.info(`${name}: soft-deleted ${res.rows} rows and ${res.memberships} memberships no longer in the source`);
      }
    }
    yield* tx.clearSeen(name);
    const done: StreamState = {
      ...st, phase: null, position: null, since: null, cursor: nextCursor(st), passMaxModified: null, passServerStart: null, passShifted: false,
      passRecords: 0, lastCompletedAt: now, passFromEmpty: false,
    };
    yield* tx.saveState(done);
    const updatedGroups = recounted.filter((id) => !this.updatedGroups.has(id));
    if (updatedGroups.length > 0) deletes.groups = { ...deletes.groups, updated: updatedGroups.length };
    return { state: done, deletes: { stats: deletes, updatedGroups } };
  }

  /** Refuses deletes that look like a broken source rather than real removals, unless told otherwise. */
  private guard(table: string, toDelete: number, live: number, seen: number | null): void {
    if (this.opts.allowMassDelete || toDelete === 0) return;
    if (seen === 0 && live > 0) {
      throw new SyncError(
        `${table}: the source returned no resources but the table holds ${live} live rows; refusing to soft-delete them all ` +
          '(re-run with --allow-mass-delete if the source really is empty)',
      );
    }
    const share = toDelete / live;
    const max = this.opts.config.maxDeleteShare;
    if (share > max) {
      throw new SyncError(
        `${table}: this run would soft-delete ${toDelete} of ${live} live rows (${(share * 100).toFixed(1)}%), more than max_delete_share ` +
          `(${(max * 100).toFixed(1)}%); refusing (re-run with --allow-mass-delete if this is intended)`,
      );
    }
  }
}

/** Runs one sync. Throws ConfigError-free errors: HttpError, SyncError, or destination errors; state is never advanced past what was committed. */
export async function runSync(opts: SyncOptions): Promise<SyncSummary> {
  const started = Date.now();
  const { config } = opts;
  const { http, logger } = clientFor(config, opts);
  const progress = opts.progress ?? noProgress;
  const owned = opts.destination ? null : await openDestination(config.destination, config.namespace);
  const dest: SyncTarget = opts.destination ?? (owned as SyncTarget);
  let locked = false;
  let run: SyncRun | null = null;
  try {
    await dest.lock();
    locked = true;
    // Before any request: a namespace holding another source's rows refuses here, with nothing read or written.
    const { adopted } = await dest.claimSource(sourceIdentity(config));
    if (adopted) logger.warn(`${dest.label} was written before sources were recorded; its rows are taken to come from ${config.baseUrl} and stamped with it`);
    logger.debug(`syncing ${config.baseUrl} into ${dest.label}`);
    const caps = await probe(http, { maxRecordsPerPage: config.maxRecordsPerPage, incremental: config.enableIncrementalSync });
    logger.debug(`paging by ${caps.paging}, ${caps.pageSize} per page${caps.rateLimit ? `, server limit ${caps.rateLimit} requests/s` : ''}`);
    if (opts.fullRefresh) {
      await dest.write(function* (tx) {
        for (const s of STREAMS) {
          yield* tx.clearSeen(s);
          yield* tx.saveState(emptyState(s));
        }
      });
      logger.info('full refresh: cursors and positions cleared');
    }
    // Before the state is read: new extension columns make the users stream start over.
    const extended = dest.extendUsers ? await dest.extendUsers(caps.extensions) : { columns: [], added: [] };
    if (extended.added.length > 0) {
      logger.info(`users: ${extended.added.length} extension attribute column(s) added (${extended.added.map((c) => c.name).join(', ')}); reading every user again to fill them`);
    }
    const states = await dest.loadState();
    run = new SyncRun(opts, http, dest, caps, logger, progress, extended.columns);
    const streams = opts.streams ?? STREAMS;
    for (const [i, s] of streams.entries()) {
      const next = streams[i + 1];
      await run.stream(s, states.get(s), next === undefined ? undefined : { name: next, saved: states.get(next) });
    }
    return run.summary(Date.now() - started);
  } finally {
    progress.stop();
    if (locked) await dest.unlock().catch(() => {});
    if (owned) await owned.close().catch(() => {});
    await http.close().catch(() => {});
    // After the close, so that a page still arriving is aborted rather than waited for.
    await run?.settle();
  }
}
