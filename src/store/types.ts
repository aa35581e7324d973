/** The persistence contract of the SCIM server. Both dialects (SQLite, PostgreSQL) implement it with identical behaviour. */
import type { Filter } from '../scim/filter/ast.ts';
import type { PatchApplyOptions, PatchOperation } from '../scim/patch/types.ts';
import type { SchemaExtensionDeclaration } from '../scim/schema/declare.ts';
import type { ResourceSchema, UnknownAttributePolicy } from '../scim/schema/registry.ts';
import type { EventPage, EventReadOptions, EventTimelineOptions, StoredEvent } from './events.ts';

export type ResourceKind = 'User' | 'Group';

export interface OrgSettings {
  /** Read requests (GET, POST .search) per second. */
  readonly readLimit: number;
  /** Write requests (POST, PUT, PATCH, DELETE, Bulk) per second. */
  readonly writeLimit: number;
  /** IdP compatibility normalizers switched on or off by name; absent names use their defaults. */
  readonly compat: Readonly<Record<string, boolean>>;
  /**
   * What an attribute no schema of the organization defines gets: `reject` (400), `ignore` (dropped and logged) or
   * `keep` (stored and returned as sent). docs/compatibility.md says why `ignore` is the default.
   */
  readonly unknownAttributes: UnknownAttributePolicy;
  /**
   * Whether /ServiceProviderConfig advertises RFC 9865 `pagination`. Cursor paging works either way; strict RFC 7643
   * clients (scim2-models) refuse the member, which is why it is off by default (docs/compatibility.md).
   */
  readonly advertisePagination: boolean;
}

export const DEFAULT_ORG_SETTINGS: OrgSettings = { readLimit: 10, writeLimit: 10, compat: {}, unknownAttributes: 'ignore', advertisePagination: false };

/** Most characters (code points) of an organization's name. */
export const MAX_ORGANIZATION_NAME_CHARS = 256;

export interface Organization {
  readonly id: string;
  readonly name: string;
  readonly settings: OrgSettings;
  readonly created: string;
  /** Moves whenever a schema extension is declared or removed (0: none ever was), so readers know when to reload them. */
  readonly schemaVersion: number;
}

/** A schema extension declared for an organization. */
export interface StoredSchemaExtension {
  readonly declaration: SchemaExtensionDeclaration;
  readonly created: string;
}

/** What removing a schema extension did: the data stays in the documents that hold it. */
export interface RemovedSchemaExtension {
  readonly declaration: SchemaExtensionDeclaration;
  /** Resources of its type whose documents still hold data under its URN (kept, no longer returned). */
  readonly resourcesWithData: number;
}

export type TokenScope = 'read' | 'read-write';

export interface ApiToken {
  readonly id: string;
  readonly orgId: string;
  readonly scope: TokenScope;
  /** The User this token acts as, for `/Me`; null when bound to none. */
  readonly userId: string | null;
  readonly created: string;
  readonly revoked: string | null;
  /** When it stops working (ISO 8601 UTC, milliseconds); null when it never expires. */
  readonly expires: string | null;
  /**
   * When it last authenticated a request, to within a minute or so (servers keep a tally in memory and write it
   * every few seconds, never once per request); null when never.
   */
  readonly lastUsed: string | null;
}

export interface NewTokenOptions {
  readonly scope: TokenScope;
  /** Binds the token to this User: it then reaches only `/Me`. */
  readonly userId?: string | null;
  /** When it stops working (ISO 8601 UTC with milliseconds, in the future); absent or null: never. */
  readonly expires?: string | null;
}

/** What deleting an organization removed. */
export interface OrganizationDeletion {
  readonly organization: Organization;
  readonly users: number;
  readonly groups: number;
  readonly tokens: number;
}

/**
 * A stored resource. `document` is the SCIM representation without `id` and `meta`; a Group's `members`
 * and a User's `groups` appear only when the read asked for relations.
 */
export interface StoredResource {
  readonly id: string;
  readonly resourceType: ResourceKind;
  /** Bumped on every write; the ETag is W/"<version>". */
  readonly version: number;
  /** ISO 8601 UTC with milliseconds. */
  readonly created: string;
  readonly lastModified: string;
  readonly document: Record<string, unknown>;
}

/**
 * What a write changed, as the store derives it inside the write's transaction from the stored resource and the
 * result (scim/diff.ts `changedAttributes`, and the membership rows actually inserted or deleted). A write whose
 * change is empty writes nothing.
 */
export interface ResourceChange {
  /** Changed attributes: core ones by name, extension ones as `<schema URN>:<name>`. `members` never appears here. */
  readonly attributes: readonly string[];
  /** Ids that became members of the Group (they were not members before the write). */
  readonly membersAdded: readonly string[];
  /** Ids that were members of the Group and no longer are. */
  readonly membersRemoved: readonly string[];
}

export interface ReadOptions {
  /** Load a Group's members or a User's groups. Reading without them never touches the membership table. */
  readonly relations?: boolean;
}

/** What a write needs to describe the resource in the events it causes (events.ts). */
export interface EventOptions {
  /** The organization's SCIM base URL, for `meta.location` in event data; left out when absent. */
  readonly baseUrl?: string;
  /**
   * The organization's schema for the resource type (its declared extensions and policy); the built-in one if absent.
   * Event data leaves out what it never returns.
   */
  readonly schema?: ResourceSchema;
}

export interface CreateOptions extends ReadOptions, EventOptions {}

export interface DeleteOptions extends EventOptions {
  readonly expectedVersion?: number;
}

export interface WriteOptions extends ReadOptions, EventOptions {
  /** When set, the write succeeds only if the stored version still equals it (else 412). */
  readonly expectedVersion?: number;
}

export interface PatchOptions extends WriteOptions {
  readonly apply?: PatchApplyOptions;
  /** Receives what the `ignore` unknown-attribute policy drops from the patched document. */
  readonly ignored?: string[];
}

export interface QueryOptions extends ReadOptions {
  /** The organization's schema for the resource type, which filters and sortBy resolve against; the built-in one if absent. */
  readonly schema?: ResourceSchema;
  readonly filter?: Filter;
  /** An attribute path string such as `userName` or `name.familyName`. */
  readonly sortBy?: string;
  readonly sortOrder?: 'ascending' | 'descending';
  /** 1-based; ignored when `cursor` is given. */
  readonly startIndex?: number;
  readonly count: number;
  /** RFC 9865: '' asks for the first page of cursor paging; otherwise a value from an earlier `nextCursor`. */
  readonly cursor?: string;
  /**
   * Most bytes of stored JSON one page may hold: rows past it are left for the next page (at least one row is always
   * returned), so the page is shorter than `count` and, with cursors, carries a nextCursor. Unbounded when absent.
   */
  readonly maxBytes?: number;
}

export interface QueryResult {
  readonly totalResults: number;
  readonly resources: StoredResource[];
  readonly nextCursor?: string;
  readonly previousCursor?: string;
}

export interface NewToken {
  readonly token: ApiToken;
  /** The bearer secret; shown once, stored only as a SHA-256 hash. */
  readonly secret: string;
}

export interface OrganizationCounts {
  readonly users: number;
  readonly groups: number;
  /** Events kept (retention purges older ones). */
  readonly events: number;
}

/** An operator of the admin console. */
export interface Admin {
  readonly id: string;
  readonly email: string;
  readonly created: string;
  readonly lastLogin: string | null;
}

/** An operator with the scrypt hash of their password (passwords.ts), for signing in. */
export interface StoredAdmin extends Admin {
  readonly passwordHash: string;
}

export interface AdminSession {
  readonly adminId: string;
  readonly created: string;
  readonly expires: string;
}

/** An expiring, revocable link that lets a customer's IT admin set up their IdP for one organization. */
export interface SetupLink {
  readonly id: string;
  readonly orgId: string;
  readonly created: string;
  readonly expires: string;
  readonly revoked: string | null;
  /** The token last made through the link (one at a time). */
  readonly tokenId: string | null;
  /** When that token first authenticated a request. */
  readonly firstRequest: string | null;
}

export interface NewSetupLink {
  readonly link: SetupLink;
  /** The link's secret; shown once, stored only as a SHA-256 hash. */
  readonly secret: string;
}

/** Uses of one token seen by a server since its last flush. */
export interface TokenUse {
  readonly tokenId: string;
  readonly firstAt: string;
  readonly at: string;
}

/** One SCIM request as the request log keeps it. */
export interface RequestLogRecord {
  readonly id: string;
  readonly orgId: string;
  readonly at: string;
  readonly method: string;
  /** The path without its query string. */
  readonly path: string;
  readonly status: number;
  readonly latencyMs: number;
  readonly tokenId: string | null;
  readonly scimType: string | null;
  readonly detail: string | null;
  /** The request body as JSON text, with passwords and secrets replaced; null when there was none. */
  readonly requestBody: string | null;
  readonly userAgent: string | null;
  readonly requestId: string;
}

export type StatusFilter = { readonly kind: 'exact'; readonly code: number } | { readonly kind: 'range'; readonly from: number; readonly to: number };

export interface RequestLogQuery {
  /** Entries older than this id (paging back in time). */
  readonly before?: number;
  readonly status?: StatusFilter;
  readonly tokenId?: string;
  /** Entries at or after this time. */
  readonly since?: string;
  readonly limit: number;
}

export interface Store {
  readonly dialect: 'sqlite' | 'postgres';
  close(): Promise<void>;
  /** Resolves once the database answered a trivial query (readiness); rejects, like any call, when it cannot be reached. */
  ping(): Promise<void>;

  createOrganization(name: string, settings?: Partial<OrgSettings>): Promise<Organization>;
  getOrganization(id: string): Promise<Organization | null>;
  listOrganizations(): Promise<Organization[]>;
  updateOrganization(id: string, settings: Partial<OrgSettings>): Promise<Organization>;
  /** Renames an organization (404 when absent; 400 for a name that is empty or longer than 256 characters). */
  renameOrganization(id: string, name: string): Promise<Organization>;
  /**
   * Deletes an organization and every row that belongs to it, in one transaction: each table with an `org_id`
   * references `organizations` (or a table that does) ON DELETE CASCADE. null when it does not exist.
   */
  deleteOrganization(id: string): Promise<OrganizationDeletion | null>;

  /** The organization's declared schema extensions, oldest first. */
  listSchemaExtensions(orgId: string): Promise<StoredSchemaExtension[]>;
  /** Declares one (checked by checkNewDeclaration: 400, 409 when its URN is taken, 404 without the organization). */
  addSchemaExtension(orgId: string, declaration: SchemaExtensionDeclaration): Promise<StoredSchemaExtension>;
  /** Removes one by URN (any case); 404 when it is not declared. Stored data under it is kept. */
  removeSchemaExtension(orgId: string, urn: string): Promise<RemovedSchemaExtension>;

  createToken(orgId: string, options: NewTokenOptions): Promise<NewToken>;
  /**
   * Finds an unrevoked token by its secret, through the hash index. An expired token is returned too, so the caller
   * can say why it is refused (see isTokenExpired).
   */
  findToken(secret: string): Promise<ApiToken | null>;
  listTokens(orgId: string): Promise<ApiToken[]>;
  revokeToken(tokenId: string): Promise<boolean>;
  /**
   * Replaces a live token: creates a new one with the same organization, scope and User (expiring at `expires`, or
   * never), and makes the old one expire at `graceUntil` (or earlier, if it already expired sooner), so that a client
   * can switch to the new secret without a failed request (a `graceUntil` already past ends it at once). 404 when
   * the token does not exist, is revoked or expired.
   */
  rotateToken(tokenId: string, options: { graceUntil: string; expires?: string | null }): Promise<NewToken>;
  /**
   * Optional: a value that stays the same only while no token or organization can have changed (through this
   * store, or through any other connection to the same database). While it is unchanged, what findToken and
   * getOrganization returned is still current, so callers may keep it. null when the store cannot tell cheaply.
   */
  authStamp?(): string | null;

  // The admin console (console.ts): operators, sessions, setup links, token use and the request log.
  /** 409 when the email is taken (compared case-insensitively); 400 for one that does not look like an email. */
  createAdmin(email: string, passwordHash: string): Promise<Admin>;
  /** Sets a new password hash and ends the operator's sessions; false when there is no such operator. */
  setAdminPassword(email: string, passwordHash: string): Promise<boolean>;
  findAdminByEmail(email: string): Promise<StoredAdmin | null>;
  /**
   * The operator whose email and password these are, or null. The scrypt check shares the password-hashing bound
   * (429 past it); an unknown email costs a check too, so the answer's timing does not tell which emails exist.
   */
  verifyAdminPassword(email: string, password: string): Promise<Admin | null>;
  organizationCounts(orgId: string): Promise<OrganizationCounts>;
  listAdmins(): Promise<Admin[]>;
  /** Deletes an operator and their sessions; false when there is no such operator. */
  deleteAdmin(email: string): Promise<boolean>;
  createAdminSession(adminId: string, expires: string): Promise<{ session: AdminSession; secret: string }>;
  /** The unexpired session for a secret, with its operator. */
  findAdminSession(secret: string): Promise<{ session: AdminSession; admin: Admin } | null>;
  deleteAdminSession(secret: string): Promise<void>;
  createSetupLink(orgId: string, expires: string): Promise<NewSetupLink>;
  /** The link for a secret while it is neither revoked nor expired. */
  findSetupLink(secret: string): Promise<SetupLink | null>;
  getSetupLink(orgId: string, id: string): Promise<SetupLink | null>;
  listSetupLinks(orgId: string): Promise<SetupLink[]>;
  revokeSetupLink(orgId: string, id: string): Promise<boolean>;
  /** A read-write token made through a live link; the link's earlier token is revoked in the same transaction. */
  createSetupLinkToken(linkId: string): Promise<NewToken>;
  recordTokenUses(uses: readonly TokenUse[]): Promise<void>;
  /** Appends entries and keeps each organization's newest `keepPerOrg`. */
  /**
   * Appends entries and keeps each organization's newest `keepPerOrg`, of which at most `keepUnauthenticated` (default:
   * no bound of their own) without a token.
   */
  appendRequestLog(entries: readonly Omit<RequestLogRecord, 'id'>[], keepPerOrg: number, keepUnauthenticated?: number): Promise<void>;
  listRequestLog(orgId: string, query: RequestLogQuery): Promise<RequestLogRecord[]>;

  create(orgId: string, kind: ResourceKind, document: Record<string, unknown>, options?: CreateOptions): Promise<StoredResource>;
  get(orgId: string, kind: ResourceKind, id: string, options?: ReadOptions): Promise<StoredResource | null>;
  replace(orgId: string, kind: ResourceKind, id: string, document: Record<string, unknown>, options?: WriteOptions): Promise<StoredResource>;
  patch(orgId: string, kind: ResourceKind, id: string, operations: readonly PatchOperation[], options?: PatchOptions): Promise<StoredResource>;
  delete(orgId: string, kind: ResourceKind, id: string, options?: DeleteOptions): Promise<void>;
  query(orgId: string, kind: ResourceKind, options: QueryOptions): Promise<QueryResult>;

  // Events (the outbox, read by the events API and the delivery worker), management keys and webhooks.
  /** Calls `listener` after each commit that appended events, with their organization and counts by type. Returns an unsubscribe function. */
  onEventsCommitted(listener: (orgId: string, types: ReadonlyMap<string, number>) => void): () => void;
  readEvents(orgId: string, options: EventReadOptions): Promise<EventPage>;
  /** Events newest first, for a timeline: paged with `before`, filterable by type and resource. */
  readEventTimeline(orgId: string, options: EventTimelineOptions): Promise<StoredEvent[]>;
  /** Deletes up to `batch` events of one organization that occurred before `cutoff` (a short transaction). */
  purgeEvents(orgId: string, cutoff: string, batch: number): Promise<number>;
  organizationIds(): Promise<string[]>;

  createManagementKey(options: { orgId: string | null; name?: string | null }): Promise<NewManagementKey>;
  findManagementKey(secret: string): Promise<ManagementKey | null>;
  listManagementKeys(): Promise<ManagementKey[]>;
  revokeManagementKey(id: string): Promise<boolean>;

  createWebhook(orgId: string, options: { url: string; eventTypes?: readonly string[] | null }): Promise<NewWebhookSecret>;
  getWebhook(orgId: string, id: string): Promise<WebhookEndpoint | null>;
  listWebhooks(orgId: string): Promise<WebhookEndpoint[]>;
  updateWebhook(orgId: string, id: string, update: WebhookEndpointUpdate): Promise<WebhookEndpoint>;
  deleteWebhook(orgId: string, id: string): Promise<boolean>;
  rotateWebhookSecret(orgId: string, id: string, graceUntil: string): Promise<NewWebhookSecret>;
  revealWebhookSecret(orgId: string, id: string): Promise<string>;
  listDeliveries(orgId: string, options: DeliveryListOptions): Promise<WebhookDelivery[]>;
  getDelivery(orgId: string, id: string): Promise<WebhookDelivery | null>;
  replayDelivery(orgId: string, id: string): Promise<WebhookDelivery>;
  replaySince(orgId: string, endpointId: string, since: string): Promise<number>;

  // The delivery worker's side (src/server/delivery.ts).
  activeEndpoints(): Promise<ActiveEndpoint[]>;
  /** Fans out every endpoint that is behind its stream by one batch; returns the deliveries created and whether every endpoint reached its stream's end. */
  fanOutEvents(): Promise<{ created: number; caughtUp: boolean }>;
  claimDeliveries(owner: string, endpointId: string, now: string, leaseUntil: string, limit: number): Promise<ClaimedDelivery[]>;
  completeDeliveries(owner: string, outcomes: readonly DeliveryOutcome[]): Promise<void>;
  releaseDeliveries(owner: string, ids: readonly string[]): Promise<void>;
  oldestUndeliveredEvent(): Promise<string | null>;

  // Roles (docs/roles.md). Changes of the catalogue or the rules resolve once every user's roles follow them.
  getRoleCatalogue(orgId: string): Promise<RoleCatalogue>;
  updateRoleCatalogue(orgId: string, update: RoleCatalogueUpdate): Promise<RoleCatalogue>;
  listRoleMappings(orgId: string, options: { after?: string; limit: number }): Promise<RoleMappingPage>;
  getRoleMapping(orgId: string, id: string): Promise<RoleMapping | null>;
  findRoleMapping(orgId: string, group: GroupSelector): Promise<RoleMapping | null>;
  createRoleMapping(orgId: string, input: { group: GroupSelector; roles: readonly string[] }): Promise<RoleMapping>;
  updateRoleMapping(orgId: string, id: string, input: { roles: readonly string[] }): Promise<RoleMapping>;
  deleteRoleMapping(orgId: string, id: string): Promise<RoleMapping>;
  /**
   * Runs the recomputation jobs of one organization (or of all) to their end, or until `signal` aborts (between
   * batches); returns the number of users whose roles changed.
   */
  runRoleJobs(orgId?: string, signal?: AbortSignal): Promise<number>;

  // The directory API's reads (docs/directory.md).
  listDirectoryUsers(orgId: string, query: DirectoryUserQuery): Promise<DirectoryUserPage>;
  getDirectoryUser(orgId: string, id: string): Promise<DirectoryUser | null>;
  listDirectoryGroups(orgId: string, query: DirectoryGroupQuery): Promise<DirectoryGroupPage>;
  getDirectoryGroup(orgId: string, id: string): Promise<DirectoryGroup | null>;
  /** null when the group does not exist. */
  listGroupMembers(orgId: string, groupId: string, query: { after?: string; limit: number }): Promise<GroupMemberPage | null>;
}

// ------------------------------------------------------------------------------------------- roles (docs/roles.md)

export interface RoleDefinition {
  readonly key: string;
  readonly description: string | null;
  readonly created: string;
}

export interface RoleCatalogue {
  /** By key. */
  readonly roles: readonly RoleDefinition[];
  /** Given to active users whom nothing else gives a role; null for none. */
  readonly defaultRole: string | null;
  /** Roles the IdP sends in a User's `roles` (Entra ID app roles) count, when they name a catalogue role. */
  readonly acceptIdpRoles: boolean;
  /** A rule or catalogue change is still being applied to some users (in batches; see role-admin.ts). */
  readonly recomputing: boolean;
}

export interface RoleCatalogueUpdate {
  /** Roles to add; a description given for an existing role replaces its description. */
  readonly define?: readonly { readonly key: string; readonly description?: string | null }[];
  readonly remove?: readonly string[];
  readonly defaultRole?: string | null;
  readonly acceptIdpRoles?: boolean;
}

/** How a rule names its group: scimkit's SCIM id, the IdP's externalId, or the displayName (case-insensitively). */
export type GroupMatch = 'id' | 'externalId' | 'displayName';

export interface GroupSelector {
  readonly by: GroupMatch;
  readonly value: string;
}

export interface MatchedGroup {
  readonly id: string;
  readonly displayName: string;
}

export interface RoleMapping {
  readonly id: string;
  readonly group: GroupSelector;
  /** Sorted. */
  readonly roles: readonly string[];
  readonly created: string;
  /** The groups the rule matches now: none for a group not (or no longer) there. */
  readonly matchedGroups: readonly MatchedGroup[];
}

export interface RoleMappingPage {
  readonly mappings: RoleMapping[];
  /** The `after` of the next page; null on the last. */
  readonly next: string | null;
}

// -------------------------------------------------------------------------------------- directory (docs/directory.md)

export interface DirectoryUserQuery {
  /** Any of the user's email addresses, case-insensitively. */
  readonly email?: string;
  /** Case-insensitively. */
  readonly userName?: string;
  /** `active` absent counts as active. */
  readonly active?: boolean;
  /** An effective role. */
  readonly role?: string;
  /** A group's id: its direct members. */
  readonly group?: string;
  /** Users with a greater id (the last id of the page before). */
  readonly after?: string;
  readonly limit: number;
}

export interface DirectoryUser {
  readonly resource: StoredResource;
  /** Effective roles, sorted. */
  readonly roles: readonly string[];
  /** The groups the user is a direct member of, by id. */
  readonly groups: readonly MatchedGroup[];
}

export interface DirectoryUserPage {
  readonly users: DirectoryUser[];
  /** The last user's id when another page may follow, else null. */
  readonly next: string | null;
  /** The organization's event stream position in the same snapshot as the page. */
  readonly eventsPosition: number;
}

export interface DirectoryGroupQuery {
  /** The group's displayName, case-insensitively. */
  readonly name?: string;
  readonly externalId?: string;
  readonly after?: string;
  readonly limit: number;
}

export interface DirectoryGroup {
  readonly resource: StoredResource;
  /** The roles the mapping rules give the group's members. */
  readonly roles: readonly string[];
}

export interface DirectoryGroupPage {
  readonly groups: DirectoryGroup[];
  readonly next: string | null;
  readonly eventsPosition: number;
}

export interface GroupMember {
  readonly type: ResourceKind;
  readonly id: string;
  /** A User's displayName, else its userName; a Group's displayName. */
  readonly display: string | null;
  readonly resource: StoredResource;
}

export interface GroupMemberPage {
  readonly members: GroupMember[];
  readonly next: string | null;
  readonly eventsPosition: number;
}

// ------------------------------------------------------------------------- events, keys and webhooks (docs/events.md)

export interface ManagementKey {
  readonly id: string;
  /** The organization the key is bound to; null for a key valid for every organization. */
  readonly orgId: string | null;
  readonly name: string | null;
  readonly created: string;
  readonly revoked: string | null;
}

export interface NewManagementKey {
  readonly key: ManagementKey;
  /** The key itself (`smk_...`); shown once, stored only as a SHA-256 hash. */
  readonly secret: string;
}

export interface WebhookEndpoint {
  readonly id: string;
  readonly orgId: string;
  readonly url: string;
  /** The event types delivered; null for all of them. */
  readonly eventTypes: readonly string[] | null;
  readonly enabled: boolean;
  /** Why delivery stopped (for example the receiver answered 410), when it is disabled. */
  readonly disabledReason: string | null;
  /** While a rotated-out secret still signs (until this time), deliveries carry both signatures. */
  readonly previousSecretUntil: string | null;
  /** No delivery is attempted before this time (the receiver answered 429 or 503 with Retry-After). */
  readonly pausedUntil: string | null;
  readonly created: string;
}

export interface NewWebhookSecret {
  readonly endpoint: WebhookEndpoint;
  /** `whsec_<base64>`: shown at creation, on rotation and on explicit reveal; stored encrypted. */
  readonly secret: string;
}

export interface WebhookEndpointUpdate {
  readonly url?: string;
  readonly eventTypes?: readonly string[] | null;
  readonly enabled?: boolean;
}

export type DeliveryStatus = 'pending' | 'succeeded' | 'failed';

export interface WebhookDelivery {
  readonly id: string;
  readonly orgId: string;
  readonly endpointId: string;
  readonly sequence: number;
  /** null once retention has purged the event. */
  readonly eventId: string | null;
  readonly eventType: string | null;
  readonly status: DeliveryStatus;
  readonly attempts: number;
  /** When the next attempt is due (pending deliveries). */
  readonly nextAttemptAt: string | null;
  /** The receiver's HTTP status at the last attempt, or null when it gave none (timeout, refused connection). */
  readonly lastStatus: number | null;
  readonly lastError: string | null;
  readonly lastAttemptAt: string | null;
  readonly created: string;
  readonly finishedAt: string | null;
}

export interface DeliveryListOptions {
  readonly endpointId?: string;
  readonly status?: DeliveryStatus;
  /** Deliveries with a greater id (cursor paging, oldest first). */
  readonly after?: string;
  /** Newest first, from before this id when given (the console's view: the latest deliveries on the first page). */
  readonly newestFirst?: { readonly before?: string };
  readonly limit: number;
}

/** A delivery a worker holds under lease, with what it needs to send it. */
export interface ClaimedDelivery {
  readonly id: string;
  readonly orgId: string;
  readonly endpointId: string;
  readonly url: string;
  /** Attempts made before this one. */
  readonly attempts: number;
  /** The webhook body (the event envelope as JSON), or null when retention purged the event. */
  readonly body: string | null;
  readonly eventId: string | null;
  readonly occurredAt: string | null;
  /** Current secret first, then the rotated-out one while it still signs. */
  readonly secrets: readonly string[];
}

/** What became of one attempt, as a worker records it. */
export interface DeliveryOutcome {
  readonly id: string;
  readonly endpointId: string;
  readonly result: 'succeeded' | 'retry' | 'failed';
  readonly httpStatus: number | null;
  readonly error: string | null;
  readonly attemptedAt: string;
  /** For a retry: when the next attempt is due. */
  readonly nextAttemptAt?: string;
  /** The receiver answered 410: no more deliveries to this endpoint until it is enabled again. */
  readonly disableEndpoint?: string;
  /** The receiver asked (429/503 Retry-After) that nothing be sent to it before this time. */
  readonly pauseEndpointUntil?: string;
}

/** An endpoint the delivery worker serves. */
export interface ActiveEndpoint {
  readonly id: string;
  readonly orgId: string;
  readonly pausedUntil: string | null;
}
