/**
 * Users as last read, so that a repeated GET by id, or a `userName eq` lookup of a user read before, skips the
 * database. It never serves a stale answer:
 *
 * - Every write through the store reports, as it writes, which resources' reads it changed (OpContext.changed): a
 *   User's own row, or the members whose `groups` a Group write changed (all of the organization's users when a
 *   group is renamed, deleted or has its members replaced). Those entries go.
 * - A commit through any other connection to the database (another process on the same SQLite file) empties it.
 *
 * That is only sound when reads and writes never interleave, so the store keeps one only for a driver that runs each
 * operation start to finish in one synchronous call and can tell when another connection committed (SQLite).
 * Entries are frozen, since every caller gets the same object, and the least recently used go first past `capacity`.
 */
import { fold } from './operations.ts';
import type { StoredResource } from './types.ts';

interface Entry {
  readonly resource: StoredResource;
  /** The organization's generation when read: a write that may change any of its users' `groups` moves it on. */
  readonly generation: number;
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const inner of Object.values(value)) deepFreeze(inner);
  }
  return value;
}

export class UserCache {
  /** Keyed by organization, whether `groups` was read, and id (see key()); in least recently used order. */
  private readonly entries = new Map<string, Entry>();
  private readonly generations = new Map<string, number>();
  /** Folded userName to the id of the user last read with it, per organization; a hint checked against the entry. */
  private readonly userNames = new Map<string, string>();
  private seenExternalVersion: number | null = null;

  /**
   * @param capacity entries kept (a User read with and without its groups counts twice).
   * @param externalVersion changes whenever another connection has committed to the database.
   */
  constructor(
    private readonly capacity: number,
    private readonly externalVersion: () => number,
  ) {}

  /** Organization ids are UUIDs and the flag is one character, so no two (org, relations, id) share a key. */
  private key(orgId: string, id: string, relations: boolean): string {
    return `${orgId}\n${relations ? 'g' : '-'}${id}`;
  }

  private generation(orgId: string): number {
    return this.generations.get(orgId) ?? 0;
  }

  /** Empties the cache when another connection has committed since the last look. */
  private syncWithDatabase(): void {
    const version = this.externalVersion();
    if (version === this.seenExternalVersion) return;
    this.seenExternalVersion = version;
    this.entries.clear();
    this.userNames.clear();
  }

  get(orgId: string, id: string, relations: boolean): StoredResource | undefined {
    this.syncWithDatabase();
    const key = this.key(orgId, id, relations);
    const entry = this.entries.get(key);
    if (entry === undefined) return undefined;
    this.entries.delete(key);
    if (entry.generation !== this.generation(orgId)) return undefined;
    this.entries.set(key, entry); // most recently used last
    return entry.resource;
  }

  /** The User whose userName folds to `folded`, when it was read before and has not changed since. */
  getByUserName(orgId: string, folded: string, relations: boolean): StoredResource | undefined {
    this.syncWithDatabase();
    const id = this.userNames.get(`${orgId}\n${folded}`);
    if (id === undefined) return undefined;
    const user = this.get(orgId, id, relations);
    // userName is unique in an organization (case-insensitively), so the current holder is the only match.
    return user !== undefined && typeof user.document.userName === 'string' && fold(user.document.userName) === folded ? user : undefined;
  }

  /**
   * Keeps a User just read (in the same synchronous run as the read, so no write came between) and returns it frozen.
   * Anything else is returned as it is.
   */
  keep(orgId: string, resource: StoredResource, relations: boolean): StoredResource {
    if (this.capacity <= 0 || resource.resourceType !== 'User') return resource;
    this.syncWithDatabase();
    deepFreeze(resource);
    const key = this.key(orgId, resource.id, relations);
    this.entries.delete(key);
    this.entries.set(key, { resource, generation: this.generation(orgId) });
    if (this.entries.size > this.capacity) this.entries.delete(this.entries.keys().next().value as string);
    if (typeof resource.document.userName === 'string') {
      if (this.userNames.size >= this.capacity) this.userNames.clear();
      this.userNames.set(`${orgId}\n${fold(resource.document.userName)}`, resource.id);
    }
    return resource;
  }

  /** A write changed what reads of these resources return; `null`: of any user of the organization. */
  changed(orgId: string, ids: readonly string[] | null): void {
    if (ids === null) {
      this.generations.set(orgId, this.generation(orgId) + 1);
      return;
    }
    for (const id of ids) {
      this.entries.delete(this.key(orgId, id, true));
      this.entries.delete(this.key(orgId, id, false));
    }
  }
}
