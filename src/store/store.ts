/** The Store, once for both dialects: each method runs one operation (operations.ts) in one driver transaction. */
import type { PatchOperation } from '../scim/patch/types.ts';
import type { Dialect } from './dialect.ts';
import * as ops from './operations.ts';
import type { OpContext } from './operations.ts';
import { withHashedPassword, withHashedPasswords } from './passwords.ts';
import { queryResources } from './query.ts';
import type { Op } from './sql.ts';
import type {
  ApiToken,
  NewToken,
  Organization,
  OrgSettings,
  PatchOptions,
  QueryOptions,
  QueryResult,
  ReadOptions,
  ResourceKind,
  Store,
  StoredResource,
  TokenScope,
  WriteOptions,
} from './types.ts';

/** Runs operations against one database. */
export interface Driver {
  readonly dialect: Dialect;
  /** Runs `op` in one transaction: read-only ones see one snapshot, write ones are serialized where they conflict. */
  run<T>(op: () => Op<T>, mode: 'read' | 'write'): Promise<T>;
  close(): Promise<void>;
  /** Optional: a stamp that changes when another connection commits, combined with the caller's own change count. */
  changeStamp?(localChanges: number): string;
}

export class SqlStore implements Store {
  readonly dialect: Dialect['name'];
  private readonly ctx: OpContext;
  /** Writes through this store that change tokens or organizations (see authStamp). */
  private authChanges = 0;

  constructor(private readonly driver: Driver) {
    this.dialect = driver.dialect.name;
    this.ctx = { dialect: driver.dialect, now: ops.nowIso };
  }

  close(): Promise<void> {
    return this.driver.close();
  }

  createOrganization(name: string, settings?: Partial<OrgSettings>): Promise<Organization> {
    return this.driver.run(() => ops.createOrganization(this.ctx, name, settings), 'write');
  }

  getOrganization(id: string): Promise<Organization | null> {
    return this.driver.run(() => ops.getOrganization(this.ctx, id), 'read');
  }

  listOrganizations(): Promise<Organization[]> {
    return this.driver.run(() => ops.listOrganizations(), 'read');
  }

  updateOrganization(id: string, settings: Partial<OrgSettings>): Promise<Organization> {
    return this.authWrite(() => ops.updateOrganization(this.ctx, id, settings));
  }

  createToken(orgId: string, options: { scope: TokenScope; userId?: string | null }): Promise<NewToken> {
    return this.driver.run(() => ops.createToken(this.ctx, orgId, options), 'write');
  }

  findToken(secret: string): Promise<ApiToken | null> {
    return this.driver.run(() => ops.findToken(this.ctx, secret), 'read');
  }

  listTokens(orgId: string): Promise<ApiToken[]> {
    return this.driver.run(() => ops.listTokens(this.ctx, orgId), 'read');
  }

  revokeToken(tokenId: string): Promise<boolean> {
    return this.authWrite(() => ops.revokeToken(this.ctx, tokenId));
  }

  authStamp(): string | null {
    return this.driver.changeStamp?.(this.authChanges) ?? null;
  }

  /** A write that changes a token or an organization: the stamp moves once it has run and again once it settles. */
  private authWrite<T>(op: () => Op<T>): Promise<T> {
    try {
      return this.driver.run(op, 'write').finally(() => this.authChanges++);
    } finally {
      this.authChanges++;
    }
  }

  async create(orgId: string, kind: ResourceKind, document: Record<string, unknown>, options?: ReadOptions): Promise<StoredResource> {
    const hashed = await withHashedPassword(document);
    return this.driver.run(() => ops.createResource(this.ctx, orgId, kind, hashed, options), 'write');
  }

  get(orgId: string, kind: ResourceKind, id: string, options?: ReadOptions): Promise<StoredResource | null> {
    return this.driver.run(() => ops.getResource(this.ctx, orgId, kind, id, options), 'read');
  }

  async replace(orgId: string, kind: ResourceKind, id: string, document: Record<string, unknown>, options?: WriteOptions): Promise<StoredResource> {
    const hashed = await withHashedPassword(document);
    return this.driver.run(() => ops.replaceResource(this.ctx, orgId, kind, id, hashed, options), 'write');
  }

  async patch(orgId: string, kind: ResourceKind, id: string, operations: readonly PatchOperation[], options?: PatchOptions): Promise<StoredResource> {
    const hashed = await withHashedPasswords(ops.schemaFor(kind), operations);
    return this.driver.run(() => ops.patchResource(this.ctx, orgId, kind, id, hashed, options), 'write');
  }

  delete(orgId: string, kind: ResourceKind, id: string, options?: { expectedVersion?: number }): Promise<void> {
    return this.driver.run(() => ops.deleteResource(this.ctx, orgId, kind, id, options), 'write');
  }

  query(orgId: string, kind: ResourceKind, options: QueryOptions): Promise<QueryResult> {
    return this.driver.run(() => queryResources(this.ctx, orgId, kind, options), 'read');
  }

  /** Not part of Store: inserts many resources in one transaction (seeding and benchmarks). Returns their ids. */
  async bulkCreate(orgId: string, kind: ResourceKind, documents: readonly Record<string, unknown>[]): Promise<string[]> {
    const hashed = await Promise.all(documents.map(withHashedPassword));
    return this.driver.run(() => ops.bulkCreateResources(this.ctx, orgId, kind, hashed), 'write');
  }
}
