/**
 * Users as last read, so that a repeated GET by id, or a `userName eq` lookup of a user read before, skips the
 * database. It never serves a stale answer:
 *
 * - Every write through the store reports, as it writes, which resources' reads it changed (OpContext.changed): a
 *   User's own row, or the members a Group write added or removed (all of the organization's users when a group is
 *   renamed or deleted). Those entries go.
 * - A commit through any other connection to the database (another process on the same SQLite file) empties it.
 *
 * That is only sound when reads and writes never interleave, so the store keeps one only for a driver that runs each
 * operation start to finish in one synchronous call and can tell when another connection committed (SQLite).
 * Entries are frozen, since every caller gets the same object. Past `capacity`, eviction gives entries read since it
 * last passed them a second chance (an approximation of least recently used that costs nothing on a hit).
 */
import { fold } from './columns.ts';
import type { StoredResource } from './types.ts';

/** One organization's kept users. */
interface OrgUsers {
  /** Moves on with every write that may change any of the organization's users' `groups`. */
  generation: number;
  /** Users read without their groups. */
  readonly plain: Kept;
  /** Users read with their groups. */
  readonly withGroups: Kept;
}

/** The users of one organization read one way (with or without their groups). */
interface Kept {
  readonly byId: Map<string, Entry>;
  /** By folded userName (unique in an organization), so that a `userName eq` lookup costs one map lookup. */
  readonly byUserName: Map<string, Entry>;
}

interface Entry {
  readonly resource: StoredResource;
  readonly org: OrgUsers;
  readonly kept: Kept;
  /** The user's folded userName, as read. */
  readonly userName: string | undefined;
  /** The organization's generation when read. */
  readonly generation: number;
  /** Read since eviction last passed it (a second chance, instead of reordering on every hit). */
  used: boolean;
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const inner of Object.values(value)) deepFreeze(inner);
  }
  return value;
}

function emptyKept(): Kept {
  return { byId: new Map(), byUserName: new Map() };
}

export class UserCache {
  /** Nested by organization, so that a lookup hashes only the id or userName (no composite key is built per request). */
  private readonly orgs = new Map<string, OrgUsers>();
  /** Every entry, oldest first, for eviction. */
  private readonly order = new Set<Entry>();
  private seenExternalVersion: number | null = null;

  /**
   * @param capacity entries kept (a User read with and without its groups counts twice).
   * @param externalVersion changes whenever another connection has committed to the database.
   */
  constructor(
    private readonly capacity: number,
    private readonly externalVersion: () => number,
  ) {}

  /** Empties the cache when another connection has committed since the last look. */
  private syncWithDatabase(): void {
    const version = this.externalVersion();
    if (version === this.seenExternalVersion) return;
    this.seenExternalVersion = version;
    this.orgs.clear();
    this.order.clear();
  }

  private kept(orgId: string, relations: boolean): Kept | undefined {
    const org = this.orgs.get(orgId);
    return org && (relations ? org.withGroups : org.plain);
  }

  get(orgId: string, id: string, relations: boolean): StoredResource | undefined {
    this.syncWithDatabase();
    return this.current(this.kept(orgId, relations)?.byId.get(id));
  }

  /** The User whose userName folds to `folded`, when it was read before and has not changed since. */
  getByUserName(orgId: string, folded: string, relations: boolean): StoredResource | undefined {
    this.syncWithDatabase();
    return this.current(this.kept(orgId, relations)?.byUserName.get(folded));
  }

  /** The entry's user while its organization's generation has not moved on (the caller has synced). */
  private current(entry: Entry | undefined): StoredResource | undefined {
    if (entry === undefined) return undefined;
    if (entry.generation !== entry.org.generation) {
      this.drop(entry);
      return undefined;
    }
    entry.used = true;
    return entry.resource;
  }

  /**
   * Keeps a User just read (in the same synchronous run as the read, so no write came between) and returns it frozen.
   * Anything else is returned as it is.
   */
  keep(orgId: string, resource: StoredResource, relations: boolean): StoredResource {
    if (this.capacity <= 0 || resource.resourceType !== 'User') return resource;
    this.syncWithDatabase();
    deepFreeze(resource);
    let org = this.orgs.get(orgId);
    if (org === undefined) this.orgs.set(orgId, (org = { generation: 0, plain: emptyKept(), withGroups: emptyKept() }));
    const kept = relations ? org.withGroups : org.plain;
    const previous = kept.byId.get(resource.id);
    if (previous !== undefined) this.drop(previous);
    const userName = typeof resource.document.userName === 'string' ? fold(resource.document.userName) : undefined;
    const entry: Entry = { resource, org, kept, userName, generation: org.generation, used: false };
    kept.byId.set(resource.id, entry);
    if (userName !== undefined) kept.byUserName.set(userName, entry);
    this.order.add(entry);
    if (this.order.size > this.capacity) this.evictOne();
    return resource;
  }

  /** Drops the oldest entry not read since eviction last passed it; read ones go to the back once. */
  private evictOne(): void {
    for (const entry of this.order) {
      this.order.delete(entry);
      if (!entry.used) {
        this.drop(entry);
        return;
      }
      entry.used = false;
      this.order.add(entry);
    }
  }

  private drop(entry: Entry): void {
    this.order.delete(entry);
    const { kept, resource, userName } = entry;
    if (kept.byId.get(resource.id) === entry) kept.byId.delete(resource.id);
    if (userName !== undefined && kept.byUserName.get(userName) === entry) kept.byUserName.delete(userName);
  }

  /** A write changed what reads of these resources return; `null`: of any user of the organization. */
  changed(orgId: string, ids: readonly string[] | null): void {
    const org = this.orgs.get(orgId);
    if (org === undefined) return;
    if (ids === null) {
      org.generation++;
      return;
    }
    for (const id of ids) {
      for (const kept of [org.plain, org.withGroups]) {
        const entry = kept.byId.get(id);
        if (entry !== undefined) this.drop(entry);
      }
    }
  }
}
