/** The Store, once for both dialects: each method runs one operation (operations.ts) in one driver transaction. */
import { resolveFilterPath } from '../scim/filter/index.ts';
import type { PatchOperation } from '../scim/patch/types.ts';
import type { SchemaExtensionDeclaration } from '../scim/schema/declare.ts';
import { USER } from '../scim/schema/registry.ts';
import { fold } from './columns.ts';
import * as events from './events.ts';
import type { EventPage, EventReadOptions, EventTimelineOptions, StoredEvent } from './events.ts';
import * as directory from './directory.ts';
import type { NewEvent } from './events.ts';
import * as keys from './keys.ts';
import * as roleAdmin from './role-admin.ts';
import * as ops from './operations.ts';
import { SecretBox } from './secrets.ts';
import * as webhooks from './webhooks.ts';
import * as consoleOps from './console.ts';
import { CONSOLE_HASHING_QUEUE, UNKNOWN_ADMIN_HASH } from './console.ts';
import type { OpContext } from './operations.ts';
import { PasswordHashing } from './hashing.ts';
import type { PasswordHashingLimits } from './hashing.ts';
import { verifyPassword, withHashedPassword, withHashedPasswords } from './passwords.ts';
import type { StoredHash } from './passwords.ts';
import { queryResources } from './query.ts';
import type { JsonDialect, Op, Runner } from '../sql/index.ts';
import { UserCache } from './user-cache.ts';
import type {
  ActiveEndpoint,
  ApiToken,
  ClaimedDelivery,
  CreateOptions,
  DeleteOptions,
  DeliveryListOptions,
  DeliveryOutcome,
  DirectoryGroup,
  DirectoryGroupPage,
  DirectoryGroupQuery,
  DirectoryUser,
  DirectoryUserPage,
  DirectoryUserQuery,
  GroupMemberPage,
  GroupSelector,
  RoleCatalogue,
  RoleCatalogueUpdate,
  RoleMapping,
  RoleMappingPage,
  ManagementKey,
  NewManagementKey,
  NewWebhookSecret,
  WebhookDelivery,
  WebhookEndpoint,
  WebhookEndpointUpdate,
  Admin,
  AdminSession,
  NewSetupLink,
  RequestLogQuery,
  RequestLogRecord,
  SetupLink,
  OrganizationCounts,
  StoredAdmin,
  TokenUse,
  NewToken,
  NewTokenOptions,
  Organization,
  OrganizationDeletion,
  OrgSettings,
  PatchOptions,
  QueryOptions,
  QueryResult,
  ReadOptions,
  RemovedSchemaExtension,
  StoredSchemaExtension,
  ResourceKind,
  Store,
  StoredResource,
  TokenScope,
  WriteOptions,
} from './types.ts';

/**
 * Runs the store's operations against one database (src/sql's runner). A store keeps what it read (tokens, Users)
 * only with a runner's externalVersion.
 */
export type Driver = Runner<JsonDialect>;

export interface SqlStoreOptions {
  /** Users kept in memory for repeated reads (see user-cache.ts); 0 keeps none. Only with a driver's externalVersion. */
  readonly userCacheEntries?: number;
  /** The 32-byte key that encrypts webhook secrets, loaded on first use (secrets.ts); without it webhooks cannot be created. */
  readonly secretKey?: () => Buffer;
  /** How password hashing is shared between organizations (hashing.ts). */
  readonly passwordHashing?: Partial<PasswordHashingLimits>;
  /**
   * false: writes append no events. Only for measuring what the outbox costs (bench:events); a store serving SCIM
   * always writes them.
   */
  readonly writeEvents?: boolean;
  /** Users recomputed per transaction after a rule or catalogue change (tests make it small). */
  readonly recomputeBatch?: number;
}

/** Users kept by default: some 10 to 30 MB of documents. */
export const DEFAULT_USER_CACHE_ENTRIES = 10_000;

/** The folded userName of a query that can only match the User holding it: `userName eq "..."`, first page, no sort. */
function userNameLookup(options: QueryOptions): string | undefined {
  const { filter } = options;
  if (filter?.kind !== 'compare' || filter.op !== 'eq' || typeof filter.value !== 'string') return undefined;
  if (options.sortBy !== undefined || options.cursor !== undefined || (options.startIndex ?? 1) !== 1 || !(options.count >= 1)) return undefined;
  const resolved = resolveFilterPath(filter.path, USER);
  if (resolved?.extension !== null || resolved.attribute.name !== 'userName' || resolved.subAttribute !== null) return undefined;
  return fold(filter.value);
}

export class SqlStore implements Store {
  readonly dialect: JsonDialect['name'];
  private ctx: OpContext;
  /** Writes through this store that change tokens or organizations (see authStamp). */
  private authChanges = 0;
  private readonly users: UserCache | null;
  private readonly secrets: SecretBox;
  private readonly eventListeners = new Set<(orgId: string, types: ReadonlyMap<string, number>) => void>();
  /** Every scrypt of a write runs through here, so that one organization's passwords cannot starve the others. */
  private readonly hashing: PasswordHashing;

  private closing: Promise<void> | undefined;

  constructor(
    private readonly driver: Driver,
    options: SqlStoreOptions = {},
  ) {
    this.dialect = driver.dialect.name;
    this.hashing = new PasswordHashing(options.passwordHashing);
    const entries = options.userCacheEntries ?? DEFAULT_USER_CACHE_ENTRIES;
    const externalVersion = driver.externalVersion?.bind(driver);
    this.users = externalVersion && entries > 0 ? new UserCache(entries, externalVersion) : null;
    const users = this.users;
    this.ctx = { dialect: driver.dialect, now: ops.nowIso, ...(options.recomputeBatch !== undefined && { recomputeBatch: options.recomputeBatch }), ...(users && { changed: (orgId, ids) => users.changed(orgId, ids) }) };
    this.secrets = new SecretBox(options.secretKey);
    if (options.writeEvents === false) this.ctx = { ...this.ctx, writeEvents: false };
  }

  /**
   * Runs a write that may append events to `orgId`'s stream, and tells the listeners once it has committed.
   * The operation gets a context of its own, in which it counts the events it appends.
   */
  private async eventWrite<T>(orgId: string, op: (ctx: OpContext) => Op<T>): Promise<T> {
    const ctx: OpContext = { ...this.ctx, eventsWritten: new Map() };
    const result = await this.driver.run(() => op(ctx), 'write');
    const written = ctx.eventsWritten as Map<string, number>;
    if (written.size > 0) for (const listener of this.eventListeners) listener(orgId, written);
    return result;
  }

  onEventsCommitted(listener: (orgId: string, types: ReadonlyMap<string, number>) => void): () => void {
    this.eventListeners.add(listener);
    return () => this.eventListeners.delete(listener);
  }

  readEvents(orgId: string, options: EventReadOptions): Promise<EventPage> {
    return this.driver.run(() => events.readEvents(orgId, options), 'read');
  }

  readEventTimeline(orgId: string, options: EventTimelineOptions): Promise<StoredEvent[]> {
    return this.driver.run(() => events.readEventTimeline(orgId, options), 'read');
  }

  purgeEvents(orgId: string, cutoff: string, batch: number): Promise<number> {
    return this.driver.run(() => events.purgeEventBatch(orgId, cutoff, batch), 'write');
  }

  organizationIds(): Promise<string[]> {
    return this.driver.run(() => events.organizationIds(), 'read');
  }

  createManagementKey(options: { orgId: string | null; name?: string | null }): Promise<NewManagementKey> {
    return this.driver.run(() => keys.createManagementKey(this.ctx, options), 'write');
  }

  findManagementKey(secret: string): Promise<ManagementKey | null> {
    return this.driver.run(() => keys.findManagementKey(secret), 'read');
  }

  listManagementKeys(): Promise<ManagementKey[]> {
    return this.driver.run(() => keys.listManagementKeys(), 'read');
  }

  revokeManagementKey(id: string): Promise<boolean> {
    return this.driver.run(() => keys.revokeManagementKey(this.ctx, id), 'write');
  }

  createWebhook(orgId: string, options: { url: string; eventTypes?: readonly string[] | null }): Promise<NewWebhookSecret> {
    return this.driver.run(() => webhooks.createWebhook(this.ctx, this.secrets, orgId, options), 'write');
  }

  getWebhook(orgId: string, id: string): Promise<WebhookEndpoint | null> {
    return this.driver.run(() => webhooks.getWebhook(orgId, id), 'read');
  }

  listWebhooks(orgId: string): Promise<WebhookEndpoint[]> {
    return this.driver.run(() => webhooks.listWebhooks(orgId), 'read');
  }

  updateWebhook(orgId: string, id: string, update: WebhookEndpointUpdate): Promise<WebhookEndpoint> {
    return this.driver.run(() => webhooks.updateWebhook(this.ctx, orgId, id, update), 'write');
  }

  deleteWebhook(orgId: string, id: string): Promise<boolean> {
    return this.driver.run(() => webhooks.deleteWebhook(orgId, id), 'write');
  }

  rotateWebhookSecret(orgId: string, id: string, graceUntil: string): Promise<NewWebhookSecret> {
    return this.driver.run(() => webhooks.rotateWebhookSecret(this.ctx, this.secrets, orgId, id, graceUntil), 'write');
  }

  revealWebhookSecret(orgId: string, id: string): Promise<string> {
    return this.driver.run(() => webhooks.revealWebhookSecret(this.secrets, orgId, id), 'read');
  }

  listDeliveries(orgId: string, options: DeliveryListOptions): Promise<WebhookDelivery[]> {
    return this.driver.run(() => webhooks.listDeliveries(orgId, options), 'read');
  }

  getDelivery(orgId: string, id: string): Promise<WebhookDelivery | null> {
    return this.driver.run(() => webhooks.getDelivery(orgId, id), 'read');
  }

  replayDelivery(orgId: string, id: string): Promise<WebhookDelivery> {
    return this.driver.run(() => webhooks.replayDelivery(this.ctx, orgId, id), 'write');
  }

  replaySince(orgId: string, endpointId: string, since: string): Promise<number> {
    return this.driver.run(() => webhooks.replaySince(this.ctx, orgId, endpointId, since), 'write');
  }

  activeEndpoints(): Promise<ActiveEndpoint[]> {
    return this.driver.run(() => webhooks.activeEndpoints(), 'read');
  }

  async fanOutEvents(): Promise<{ created: number; caughtUp: boolean }> {
    const behind = await this.driver.run(() => webhooks.endpointsBehind(), 'read');
    let created = 0;
    let caughtUp = true;
    for (const id of behind) {
      const result = await this.driver.run(() => webhooks.fanOutEndpoint(this.ctx, id), 'write');
      created += result.created;
      caughtUp &&= result.caughtUp;
    }
    return { created, caughtUp };
  }

  claimDeliveries(owner: string, endpointId: string, now: string, leaseUntil: string, limit: number): Promise<ClaimedDelivery[]> {
    return this.driver.run(() => webhooks.claimDeliveries(this.ctx, this.secrets, owner, endpointId, now, leaseUntil, limit), 'write');
  }

  completeDeliveries(owner: string, outcomes: readonly DeliveryOutcome[]): Promise<void> {
    return this.driver.run(() => webhooks.completeDeliveries(this.ctx, owner, outcomes), 'write');
  }

  releaseDeliveries(owner: string, ids: readonly string[]): Promise<void> {
    return this.driver.run(() => webhooks.releaseDeliveries(owner, ids), 'write');
  }

  oldestUndeliveredEvent(): Promise<string | null> {
    return this.driver.run(() => webhooks.oldestUndelivered(), 'read');
  }

  /** Safe to call more than once: every call waits for the one close. */
  close(): Promise<void> {
    this.closing ??= this.driver.close();
    return this.closing;
  }

  ping(): Promise<void> {
    return this.driver.run(() => ops.ping(), 'read');
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

  listSchemaExtensions(orgId: string): Promise<StoredSchemaExtension[]> {
    return this.driver.run(() => ops.listSchemaExtensions(this.ctx, orgId), 'read');
  }

  /** Changes the organization's schema version, so it is an auth write: cached organizations are read again. */
  addSchemaExtension(orgId: string, declaration: SchemaExtensionDeclaration): Promise<StoredSchemaExtension> {
    return this.authWrite(() => ops.addSchemaExtension(this.ctx, orgId, declaration));
  }

  removeSchemaExtension(orgId: string, urn: string): Promise<RemovedSchemaExtension> {
    return this.authWrite(() => ops.removeSchemaExtension(this.ctx, orgId, urn));
  }

  renameOrganization(id: string, name: string): Promise<Organization> {
    return this.authWrite(() => ops.renameOrganization(this.ctx, id, name));
  }

  deleteOrganization(id: string): Promise<OrganizationDeletion | null> {
    return this.authWrite(() => ops.deleteOrganization(this.ctx, id));
  }

  createToken(orgId: string, options: NewTokenOptions): Promise<NewToken> {
    return this.driver.run(() => ops.createToken(this.ctx, orgId, options), 'write');
  }

  rotateToken(tokenId: string, options: { graceUntil: string; expires?: string | null }): Promise<NewToken> {
    return this.authWrite(() => ops.rotateToken(this.ctx, tokenId, options));
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
    const external = this.driver.externalVersion?.();
    return external === undefined ? null : `${external}:${this.authChanges}`;
  }

  /** A write that changes a token or an organization: the stamp moves once it has run and again once it settles. */
  private authWrite<T>(op: () => Op<T>): Promise<T> {
    try {
      return this.driver.run(op, 'write').finally(() => this.authChanges++);
    } finally {
      this.authChanges++;
    }
  }

  createAdmin(email: string, passwordHash: string): Promise<Admin> {
    return this.driver.run(() => consoleOps.createAdmin(this.ctx, email, passwordHash), 'write');
  }

  setAdminPassword(email: string, passwordHash: string): Promise<boolean> {
    return this.driver.run(() => consoleOps.setAdminPassword(this.ctx, email, passwordHash), 'write');
  }

  findAdminByEmail(email: string): Promise<StoredAdmin | null> {
    return this.driver.run(() => consoleOps.findAdminByEmail(email), 'read');
  }

  async verifyAdminPassword(email: string, password: string): Promise<Admin | null> {
    const admin = await this.findAdminByEmail(email);
    const ok = await verifyPassword(admin?.passwordHash ?? UNKNOWN_ADMIN_HASH, password, this.hashing.slot(CONSOLE_HASHING_QUEUE));
    if (!admin || !ok) return null;
    const { passwordHash: _hash, ...rest } = admin;
    return rest;
  }

  organizationCounts(orgId: string): Promise<OrganizationCounts> {
    return this.driver.run(() => consoleOps.organizationCounts(orgId), 'read');
  }

  listAdmins(): Promise<Admin[]> {
    return this.driver.run(() => consoleOps.listAdmins(), 'read');
  }

  deleteAdmin(email: string): Promise<boolean> {
    return this.driver.run(() => consoleOps.deleteAdmin(email), 'write');
  }

  createAdminSession(adminId: string, expires: string): Promise<{ session: AdminSession; secret: string }> {
    return this.driver.run(() => consoleOps.createAdminSession(this.ctx, adminId, expires), 'write');
  }

  findAdminSession(secret: string): Promise<{ session: AdminSession; admin: Admin } | null> {
    return this.driver.run(() => consoleOps.findAdminSession(this.ctx, secret), 'read');
  }

  deleteAdminSession(secret: string): Promise<void> {
    return this.driver.run(() => consoleOps.deleteAdminSession(secret), 'write');
  }

  createSetupLink(orgId: string, expires: string): Promise<NewSetupLink> {
    return this.driver.run(() => consoleOps.createSetupLink(this.ctx, orgId, expires), 'write');
  }

  findSetupLink(secret: string): Promise<SetupLink | null> {
    return this.driver.run(() => consoleOps.findSetupLink(this.ctx, secret), 'read');
  }

  getSetupLink(orgId: string, id: string): Promise<SetupLink | null> {
    return this.driver.run(() => consoleOps.getSetupLink(orgId, id), 'read');
  }

  listSetupLinks(orgId: string): Promise<SetupLink[]> {
    return this.driver.run(() => consoleOps.listSetupLinks(orgId), 'read');
  }

  revokeSetupLink(orgId: string, id: string): Promise<boolean> {
    return this.driver.run(() => consoleOps.revokeSetupLink(this.ctx, orgId, id), 'write');
  }

  /** Creates and revokes tokens, so it is an auth write: cached tokens are looked up again. */
  createSetupLinkToken(linkId: string): Promise<NewToken> {
    return this.authWrite(() => consoleOps.createSetupLinkToken(this.ctx, linkId));
  }

  /** Not an auth write: a token's last use changes nothing about what it may do. */
  recordTokenUses(uses: readonly TokenUse[]): Promise<void> {
    return this.driver.run(() => consoleOps.recordTokenUses(uses), 'write');
  }

  appendRequestLog(entries: readonly Omit<RequestLogRecord, 'id'>[], keepPerOrg: number, keepUnauthenticated?: number): Promise<void> {
    return this.driver.run(() => consoleOps.appendRequestLog(entries, keepPerOrg, keepUnauthenticated), 'write');
  }

  listRequestLog(orgId: string, query: RequestLogQuery): Promise<RequestLogRecord[]> {
    return this.driver.run(() => consoleOps.listRequestLog(orgId, query), 'read');
  }

  async create(orgId: string, kind: ResourceKind, document: Record<string, unknown>, options?: CreateOptions): Promise<StoredResource> {
    const hashed = await withHashedPassword(document, undefined, this.hashing.slot(orgId));
    return this.eventWrite(orgId, (ctx) => ops.createResource(ctx, orgId, kind, hashed, options));
  }

  get(orgId: string, kind: ResourceKind, id: string, options?: ReadOptions): Promise<StoredResource | null> {
    const users = this.users;
    if (users === null || kind !== 'User') return this.driver.run(() => ops.getResource(this.ctx, orgId, kind, id, options), 'read');
    const relations = options?.relations === true;
    const kept = users.get(orgId, String(id), relations);
    if (kept !== undefined) return Promise.resolve(kept);
    const ctx = this.ctx;
    return this.driver.run(function* () {
      const found = yield* ops.getResource(ctx, orgId, kind, id, options);
      return found && users.keep(orgId, found, relations);
    }, 'read');
  }

  async replace(orgId: string, kind: ResourceKind, id: string, document: Record<string, unknown>, options?: WriteOptions): Promise<StoredResource> {
    const hashed = await withHashedPassword(document, this.storedHash(orgId, kind, id), this.hashing.slot(orgId));
    return this.eventWrite(orgId, (ctx) => ops.replaceResource(ctx, orgId, kind, id, hashed, options));
  }

  async patch(orgId: string, kind: ResourceKind, id: string, operations: readonly PatchOperation[], options?: PatchOptions): Promise<StoredResource> {
    const hashed = await withHashedPasswords(options?.schema ?? ops.schemaFor(kind), operations, this.storedHash(orgId, kind, id), this.hashing.slot(orgId));
    return this.eventWrite(orgId, (ctx) => ops.patchResource(ctx, orgId, kind, id, hashed, options));
  }

  /** Reads a User's stored password hash, once a write turns out to carry a password (see hashUnlessSame). */
  private storedHash(orgId: string, kind: ResourceKind, id: string): StoredHash | undefined {
    if (kind !== 'User') return undefined;
    return () => this.driver.run(() => ops.storedPassword(this.ctx, orgId, id), 'read');
  }

  delete(orgId: string, kind: ResourceKind, id: string, options?: DeleteOptions): Promise<void> {
    const write = this.eventWrite(orgId, (ctx) => ops.deleteResource(ctx, orgId, kind, id, options));
    if (kind !== 'User') return write;
    // Deleting a User revokes the tokens bound to it, a token change: the stamp moves as for authWrite.
    this.authChanges++;
    return write.finally(() => this.authChanges++);
  }

  query(orgId: string, kind: ResourceKind, options: QueryOptions): Promise<QueryResult> {
    const users = this.users;
    const userName = users === null || kind !== 'User' ? undefined : userNameLookup(options);
    if (users === null || userName === undefined) return this.driver.run(() => queryResources(this.ctx, orgId, kind, options), 'read');
    // The lookup an IdP makes before every provisioning decision.
    const relations = options.relations === true;
    const kept = users.getByUserName(orgId, userName, relations);
    if (kept !== undefined) return Promise.resolve({ totalResults: 1, resources: [kept] });
    const ctx = this.ctx;
    return this.driver.run(function* () {
      const result = yield* queryResources(ctx, orgId, kind, options);
      return { ...result, resources: result.resources.map((found) => users.keep(orgId, found, relations)) };
    }, 'read');
  }

  /** Not part of Store: inserts many resources in one transaction (seeding and benchmarks). Returns their ids. */
  async bulkCreate(orgId: string, kind: ResourceKind, documents: readonly Record<string, unknown>[]): Promise<string[]> {
    const hashed = await Promise.all(documents.map((document) => withHashedPassword(document)));
    return this.eventWrite(orgId, (ctx) => ops.bulkCreateResources(ctx, orgId, kind, hashed));
  }

  // ----------------------------------------------------------------------------------------------------- roles

  getRoleCatalogue(orgId: string): Promise<RoleCatalogue> {
    return this.driver.run(() => roleAdmin.getRoleCatalogue(orgId), 'read');
  }

  /**
   * A change of the rules or the catalogue: its transaction (with the first batch of users) and then the rest of
   * the recomputation, batch by batch, before it resolves.
   */
  private async roleChange<T>(orgId: string, op: (ctx: OpContext) => Op<{ events: readonly NewEvent[] } & T>): Promise<T> {
    const result = await this.eventWrite(orgId, function* (ctx) {
      const done = yield* op(ctx);
      yield* ops.emit(ctx, orgId, ctx.now(), done.events);
      return done;
    });
    await this.runRoleJobs(orgId);
    return result;
  }

  async updateRoleCatalogue(orgId: string, update: RoleCatalogueUpdate): Promise<RoleCatalogue> {
    const { catalogue } = await this.roleChange(orgId, (ctx) => roleAdmin.updateRoleCatalogue(ctx, orgId, update));
    return { ...catalogue, recomputing: false };
  }

  listRoleMappings(orgId: string, options: { after?: string; limit: number }): Promise<RoleMappingPage> {
    return this.driver.run(() => roleAdmin.listRoleMappings(orgId, options), 'read');
  }

  getRoleMapping(orgId: string, id: string): Promise<RoleMapping | null> {
    return this.driver.run(() => roleAdmin.getRoleMapping(orgId, id), 'read');
  }

  findRoleMapping(orgId: string, group: GroupSelector): Promise<RoleMapping | null> {
    return this.driver.run(() => roleAdmin.findRoleMapping(orgId, group), 'read');
  }

  async createRoleMapping(orgId: string, input: { group: GroupSelector; roles: readonly string[] }): Promise<RoleMapping> {
    return (await this.roleChange(orgId, (ctx) => roleAdmin.createRoleMapping(ctx, orgId, input))).mapping;
  }

  async updateRoleMapping(orgId: string, id: string, input: { roles: readonly string[] }): Promise<RoleMapping> {
    return (await this.roleChange(orgId, (ctx) => roleAdmin.updateRoleMapping(ctx, orgId, id, input))).mapping;
  }

  async deleteRoleMapping(orgId: string, id: string): Promise<RoleMapping> {
    return (await this.roleChange(orgId, (ctx) => roleAdmin.deleteRoleMapping(ctx, orgId, id))).mapping;
  }

  async runRoleJobs(orgId?: string, signal?: AbortSignal): Promise<number> {
    const orgs = orgId === undefined ? await this.driver.run(() => roleAdmin.organizationsWithRoleJobs(), 'read') : [orgId];
    let changed = 0;
    for (const org of orgs) {
      for (;;) {
        const batch = await this.eventWrite(org, function* (ctx) {
          const done = yield* roleAdmin.runJobBatch(ctx, org, ctx.recomputeBatch ?? roleAdmin.RECOMPUTE_BATCH);
          yield* ops.emit(ctx, org, ctx.now(), done.events);
          return done;
        });
        changed += batch.events.length;
        if (batch.done || signal?.aborted) break;
        // SQLite runs a batch without yielding: let requests that arrived meanwhile be served before the next one.
        await new Promise((resolve) => setImmediate(resolve));
      }
    }
    return changed;
  }

  // ------------------------------------------------------------------------------------------------- directory

  listDirectoryUsers(orgId: string, query: DirectoryUserQuery): Promise<DirectoryUserPage> {
    return this.driver.run(() => directory.listDirectoryUsers(this.ctx, orgId, query), 'read');
  }

  getDirectoryUser(orgId: string, id: string): Promise<DirectoryUser | null> {
    return this.driver.run(() => directory.getDirectoryUser(orgId, id), 'read');
  }

  listDirectoryGroups(orgId: string, query: DirectoryGroupQuery): Promise<DirectoryGroupPage> {
    return this.driver.run(() => directory.listDirectoryGroups(orgId, query), 'read');
  }

  getDirectoryGroup(orgId: string, id: string): Promise<DirectoryGroup | null> {
    return this.driver.run(() => directory.getDirectoryGroup(orgId, id), 'read');
  }

  listGroupMembers(orgId: string, groupId: string, query: { after?: string; limit: number }): Promise<GroupMemberPage | null> {
    return this.driver.run(() => directory.listGroupMembers(orgId, groupId, query), 'read');
  }
}
