/**
 * Effective roles (docs/roles.md): what each user of an organization may do in the app, kept in `user_roles` and
 * changed only by the writes that can move it, in their own transactions, each change with a `user.roles_changed`
 * event. Never computed for the whole organization on a read.
 *
 * A user's effective roles, when the user is active (`active` absent counts as active):
 * - the roles of every mapping rule that matches a group the user belongs to, directly or through nested groups
 *   (the same traversal, depth bound and cycle handling as the User's `groups`);
 * - with `accept_idp_roles` on, the values of the User's SCIM `roles` that name a catalogue role (compared
 *   case-insensitively; the catalogue's spelling is kept);
 * - when both give nothing, the default role, if the organization has one.
 * An inactive user has none.
 *
 * `group_roles` holds, per group, the roles the rules give its members (a rule names a group by id, externalId or
 * displayName; a group matches when any of its three does). It changes with the rules and with a group's creation,
 * rename or externalId, so a user's roles are one join away from their groups.
 *
 * Concurrency. A user's roles depend on rows that different writes change at once: the user's own document, its
 * memberships, the memberships of the groups above it, the rules. Under PostgreSQL's READ COMMITTED two such writes,
 * each computing from what the other has not committed yet, could both commit a result that is wrong once both are
 * in (a user removed from one group while added to another; a subgroup taken out of a mapped group while a user is
 * added to the subgroup; a rule changed while its group gains a member). So every SCIM write of Users or Groups,
 * every rule or catalogue change and every recomputation batch first takes the organization's role lock
 * (lockRoles), before any row lock: they run one at a time per organization, each computing from everything
 * committed before it. (They already committed one at a time: appending events takes the organization's event
 * stream row.) Taken first, it cannot deadlock with the row locks the writes take after it. SQLite runs one write at
 * a time anyway.
 */
import { raw, rows, first, exec, join, list, chunks, sql } from '../sql/index.ts';
import type { Op, Sql } from '../sql/index.ts';
import type { NewEvent } from './events.ts';
import { MAX_GROUP_NESTING } from './filter-sql.ts';
import { resourceKinds } from './lookups.ts';
import type { OpContext } from './operations.ts';

/** `depth < LAST_DEPTH` lets a walk go as deep as a User's `groups` are followed (MAX_GROUP_NESTING levels). */
const LAST_DEPTH = raw(String(MAX_GROUP_NESTING - 1));

/** Ids per statement (IN lists, multi-row VALUES): far below both databases' parameter limits. */
const CHUNK = 500;

/** Key of the per-organization role lock (PostgreSQL advisory locks: this key with a hash of the organization id). */
const ROLE_LOCK_KEY = 72_670_014;

/**
 * Takes the organization's role lock until the transaction ends (see the top of this file). The first statement of
 * every write that can move roles.
 */
export function* lockRoles(ctx: OpContext, orgId: string): Op<void> {
  if (ctx.dialect.name !== 'postgres') return; // SQLite: a write transaction already excludes every other writer.
  yield* first(sql`SELECT pg_advisory_xact_lock(${ROLE_LOCK_KEY}, hashtext(${String(orgId)})) IS NULL AS locked`);
}

/** What the organization's roles are computed from. */
export interface RoleConfig {
  readonly defaultRole: string | null;
  readonly acceptIdpRoles: boolean;
  /** Catalogue keys by their lower case, for IdP-sent roles (keys are unique case-insensitively). */
  readonly keys: ReadonlyMap<string, string>;
}

function truthy(value: unknown): boolean {
  return value === true || value === 1 || value === '1' || value === 't';
}

/** The organization's role configuration; null when it never defined a role (then no user has any). */
export function* roleConfig(orgId: string): Op<RoleConfig | null> {
  const settings = yield* first(sql`SELECT default_role, accept_idp_roles FROM role_settings WHERE org_id = ${orgId}`);
  if (!settings) return null;
  const acceptIdpRoles = truthy(settings.accept_idp_roles);
  const keys = new Map<string, string>();
  if (acceptIdpRoles) {
    for (const row of yield* rows<{ key: string }>(sql`SELECT key FROM roles WHERE org_id = ${orgId}`)) keys.set(String(row.key).toLowerCase(), String(row.key));
  }
  return { defaultRole: settings.default_role === null ? null : String(settings.default_role), acceptIdpRoles, keys };
}

/**
 * The roles each of these groups gives its direct members: its own (group_roles) and those of every group it is
 * nested in, up to the depth a User's groups are followed (a direct group is the first level), cycles ending there.
 * The walk goes up from the distinct groups, not from each user: the users of one group share one walk. It joins
 * with CROSS JOIN, which SQLite takes as the join order: without statistics (the store never runs ANALYZE), it
 * otherwise walked every membership of the organization at each step.
 */
export function* rolesOfGroups(ctx: OpContext, orgId: string, groupIds: readonly string[]): Op<Map<string, Set<string>>> {
  const out = new Map<string, Set<string>>();
  if (groupIds.length === 0) return out;
  const found = yield* rows<{ start: string; role_key: string }>(
    sql`WITH RECURSIVE up(start, group_id, depth) AS (
        SELECT ${ctx.dialect.binary(raw('value'))}, ${ctx.dialect.binary(raw('value'))}, 0 FROM ${ctx.dialect.values([...new Set(groupIds)])}
        UNION
        SELECT up.start, m.group_id, up.depth + 1 FROM up CROSS JOIN memberships m
        WHERE m.org_id = ${orgId} AND m.member_id = up.group_id AND up.depth < ${LAST_DEPTH}
      )
      SELECT DISTINCT up.start AS start, gr.role_key AS role_key FROM up CROSS JOIN group_roles gr
      WHERE gr.org_id = ${orgId} AND gr.group_id = up.group_id`,
  );
  for (const row of found) {
    const roles = out.get(String(row.start));
    if (roles) roles.add(String(row.role_key));
    else out.set(String(row.start), new Set([String(row.role_key)]));
  }
  return out;
}

/** Whether any of these groups, or any group they are nested in, gives roles: if none does, their members' roles cannot move. */
export function* groupsGiveRoles(ctx: OpContext, orgId: string, groupIds: readonly string[]): Op<boolean> {
  return (yield* rolesOfGroups(ctx, orgId, groupIds)).size > 0;
}

/**
 * The groups below these ones (their member groups, and theirs, as deep as a User's groups are followed), the
 * given ones included: the groups whose users a change to these groups' roles reaches.
 */
export function* groupsBelow(orgId: string, groupIds: readonly string[]): Op<string[]> {
  const out = new Set<string>();
  for (const part of chunks(groupIds, CHUNK)) {
    const found = yield* rows<{ group_id: string }>(
      sql`WITH RECURSIVE below(group_id, depth) AS (
          SELECT g.id, 0 FROM resources g WHERE g.org_id = ${orgId} AND g.id IN (${list(part)}) AND g.kind = 'Group'
          UNION
          SELECT m.member_id, below.depth + 1 FROM below CROSS JOIN memberships m
          WHERE m.org_id = ${orgId} AND m.group_id = below.group_id AND m.member_type = 'Group' AND below.depth < ${LAST_DEPTH}
        )
        SELECT DISTINCT group_id FROM below`,
    );
    for (const row of found) out.add(String(row.group_id));
  }
  return [...out];
}

/** The users in these groups, directly or through nested groups. */
export function* usersBelow(orgId: string, groupIds: readonly string[]): Op<string[]> {
  const groups = yield* groupsBelow(orgId, groupIds);
  const out = new Set<string>();
  for (const part of chunks(groups, CHUNK)) {
    const found = yield* rows<{ member_id: string }>(
      sql`SELECT member_id FROM memberships WHERE org_id = ${orgId} AND group_id IN (${list(part)}) AND member_type = 'User'`,
    );
    for (const row of found) out.add(String(row.member_id));
  }
  return [...out];
}

/** Of these ids, the users themselves and the users below the groups among them. */
export function* usersOf(ctx: OpContext, orgId: string, ids: readonly string[]): Op<string[]> {
  if (ids.length === 0) return [];
  const users: string[] = [];
  const groups: string[] = [];
  for (const [id, kind] of yield* resourceKinds(ctx.dialect, orgId, ids)) (kind === 'User' ? users : groups).push(id);
  if (groups.length === 0) return users;
  return [...new Set([...users, ...(yield* usersBelow(orgId, groups))])];
}

function sameRoles(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((role, i) => role === b[i]);
}

function byKey(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The IdP-sent role values of a User document (`roles[].value`). */
function idpRoleValues(doc: unknown): string[] {
  const roles = typeof doc === 'object' && doc !== null ? (doc as Record<string, unknown>).roles : undefined;
  if (!Array.isArray(roles)) return [];
  return roles.flatMap((role) => {
    const value = typeof role === 'object' && role !== null ? (role as Record<string, unknown>).value : undefined;
    return typeof value === 'string' ? [value] : [];
  });
}

function parseDoc(value: unknown): Record<string, unknown> {
  // SQLite returns JSON as text; pg has already parsed it.
  return (typeof value === 'string' ? JSON.parse(value) : value) as Record<string, unknown>;
}

/** A user's effective roles from what they are computed from (see the top of this file), sorted. */
export function effectiveRoles(config: RoleConfig, active: boolean, fromGroups: Iterable<string>, idpRoles: readonly string[]): string[] {
  if (!active) return [];
  const roles = new Set(fromGroups);
  if (config.acceptIdpRoles) {
    for (const value of idpRoles) {
      const key = config.keys.get(value.toLowerCase());
      if (key !== undefined) roles.add(key);
    }
  }
  if (roles.size === 0 && config.defaultRole !== null) roles.add(config.defaultRole);
  return [...roles].sort(byKey);
}

/** The `user.roles_changed` event: `data` the user and its new roles, `previous` its old ones. */
export function rolesChangedEvent(user: { id: string; userName: string | null }, roles: readonly string[], previous: readonly string[]): NewEvent {
  return {
    type: 'user.roles_changed',
    resourceId: user.id,
    data: { user: { id: user.id, userName: user.userName }, roles: [...roles] },
    previous: { roles: [...previous] },
  };
}

/**
 * Computes the effective roles of these users as they are now, writes those that changed, and returns a
 * `user.roles_changed` event for each (to append with the write's other events). Ids of resources that are not
 * Users, or no longer exist, are passed over. The caller holds the role lock.
 */
export function* recomputeUsers(ctx: OpContext, orgId: string, userIds: readonly string[]): Op<NewEvent[]> {
  if (userIds.length === 0) return [];
  const config = yield* roleConfig(orgId);
  if (config === null) return [];
  const events: NewEvent[] = [];
  for (const part of chunks([...new Set(userIds)], CHUNK)) events.push(...(yield* recomputeChunk(ctx, orgId, config, part)));
  return events;
}

function* recomputeChunk(ctx: OpContext, orgId: string, config: RoleConfig, ids: readonly string[]): Op<NewEvent[]> {
  // The users with their stored roles, a row per role: by primary key, the kind checked here (a condition on `kind`
  // could lead SQLite, which keeps no statistics unless ANALYZE runs, to walk the organization's Users through
  // another index instead of looking the ids up). The document is parsed here: PostgreSQL would parse its JSON text
  // again for every value taken out of it.
  const found = yield* rows(
    sql`SELECT r.id AS id, r.kind AS kind, r.doc AS doc, ur.role_key AS role_key FROM resources r
      LEFT JOIN user_roles ur ON ur.org_id = r.org_id AND ur.user_id = r.id
      WHERE r.org_id = ${orgId} AND r.id IN (${list(ids)})`,
  );
  const users = new Map<string, { doc: Record<string, unknown>; current: string[] }>();
  for (const row of found) {
    if (row.kind !== 'User') continue;
    const id = String(row.id);
    let user = users.get(id);
    if (!user) users.set(id, (user = { doc: parseDoc(row.doc), current: [] }));
    if (row.role_key !== null && row.role_key !== undefined) user.current.push(String(row.role_key));
  }
  if (users.size === 0) return [];
  const present = [...users.keys()];
  // The users' direct groups, then what each of those groups gives (with the groups above it).
  const direct = yield* rows<{ owner: string; group_id: string }>(
    sql`SELECT member_id AS owner, group_id FROM memberships WHERE org_id = ${orgId} AND member_id IN (${list(present)})`,
  );
  const gives = yield* rolesOfGroups(
    ctx,
    orgId,
    direct.map((d) => String(d.group_id)),
  );
  const fromGroups = new Map<string, Set<string>>();
  for (const row of direct) {
    const roles = gives.get(String(row.group_id));
    if (!roles) continue;
    const owner = String(row.owner);
    const held = fromGroups.get(owner);
    if (held) for (const role of roles) held.add(role);
    else fromGroups.set(owner, new Set(roles));
  }

  const changed: { id: string; userName: string | null; roles: string[]; previous: string[] }[] = [];
  for (const [id, user] of users) {
    const roles = effectiveRoles(config, user.doc.active !== false, fromGroups.get(id) ?? [], config.acceptIdpRoles ? idpRoleValues(user.doc) : []);
    const previous = user.current.sort(byKey);
    if (!sameRoles(roles, previous)) changed.push({ id, userName: typeof user.doc.userName === 'string' ? user.doc.userName : null, roles, previous });
  }
  if (changed.length === 0) return [];
  yield* writeUserRoles(ctx, orgId, changed);
  return changed.map((c) => rolesChangedEvent(c, c.roles, c.previous));
}

/** Adds `id` to the list kept under `key`. */
function addTo(lists: Map<string, string[]>, key: string, id: string): void {
  const ids = lists.get(key);
  if (ids) ids.push(id);
  else lists.set(key, [id]);
}

/**
 * Stores the users' new roles by what changed: a role replaced by another (viewer to editor) is an UPDATE of its
 * row, other roles lost are deleted and others gained inserted, a statement per (old, new) pair or per role. A rule
 * change moves many users the same way, so a batch is a few statements. An UPDATE keeps the row's user, so PostgreSQL
 * skips the foreign-key check an insert makes against `resources` (two thirds of an insert's time). The users of an
 * UPDATE or DELETE are an `IN` list, not a list parameter: without statistics (tables bulk-loaded moments before)
 * PostgreSQL joined a list parameter by comparing it with every row of the organization's role.
 */
function* writeUserRoles(ctx: OpContext, orgId: string, changed: readonly { id: string; roles: readonly string[]; previous: readonly string[] }[]): Op<void> {
  const replaced = new Map<string, string[]>(); // JSON [old, new] -> users
  const deleted = new Map<string, string[]>();
  const inserted = new Map<string, string[]>();
  for (const c of changed) {
    const lost = c.previous.filter((role) => !c.roles.includes(role));
    const gained = c.roles.filter((role) => !c.previous.includes(role));
    const pairs = Math.min(lost.length, gained.length);
    for (let i = 0; i < pairs; i++) addTo(replaced, JSON.stringify([lost[i], gained[i]]), c.id);
    for (const role of lost.slice(pairs)) addTo(deleted, role, c.id);
    for (const role of gained.slice(pairs)) addTo(inserted, role, c.id);
  }
  for (const [role, ids] of deleted) {
    for (const part of chunks(ids, CHUNK)) yield* exec(sql`DELETE FROM user_roles WHERE org_id = ${orgId} AND role_key = ${role} AND user_id IN (${list(part)})`);
  }
  for (const [pair, ids] of replaced) {
    const [from, to] = JSON.parse(pair) as [string, string];
    for (const part of chunks(ids, CHUNK)) {
      yield* exec(sql`UPDATE user_roles SET role_key = ${to} WHERE org_id = ${orgId} AND role_key = ${from} AND user_id IN (${list(part)})`);
    }
  }
  for (const [role, ids] of inserted) {
    yield* exec(sql`INSERT INTO user_roles (org_id, user_id, role_key) SELECT ${orgId}, value, ${role} FROM ${ctx.dialect.values(ids)}`);
  }
}

/**
 * Brings `group_roles` of these groups in line with the rules: a group gets the roles of every rule that names it by
 * id, externalId or displayName (folded). Returns the groups whose roles changed.
 */
export function* refreshGroupRoles(orgId: string, groupIds: readonly string[]): Op<string[]> {
  const changedGroups: string[] = [];
  for (const part of chunks([...new Set(groupIds)], CHUNK)) {
    // By primary key, the kind checked here (see recomputeChunk).
    const groups = (
      yield* rows<{ id: string; kind: string; external_id: string | null; group_name_folded: string | null }>(
        sql`SELECT id, kind, external_id, group_name_folded FROM resources WHERE org_id = ${orgId} AND id IN (${list(part)})`,
      )
    ).filter((g) => g.kind === 'Group');
    if (groups.length === 0) continue;
    const present = groups.map((g) => String(g.id));
    // One lookup per way of naming a group, each through the rules' unique index.
    const keysBy = (by: string, keys: (string | null)[]) => {
      const wanted = [...new Set(keys.filter((k): k is string => k !== null))];
      return wanted.length === 0 ? null : sql`(match_by = ${by} AND match_key IN (${list(wanted)}))`;
    };
    const conditions = [
      keysBy('id', present),
      keysBy('externalId', groups.map((g) => (g.external_id === null ? null : String(g.external_id)))),
      keysBy('displayName', groups.map((g) => (g.group_name_folded === null ? null : String(g.group_name_folded)))),
    ].filter((c): c is Sql => c !== null);
    const rules = yield* rows<{ match_by: string; match_key: string; roles: string }>(
      sql`SELECT match_by, match_key, roles FROM role_mappings WHERE org_id = ${orgId} AND (${join(conditions, ' OR ')})`,
    );
    const current = new Map<string, string[]>();
    for (const row of yield* rows<{ group_id: string; role_key: string }>(
      sql`SELECT group_id, role_key FROM group_roles WHERE org_id = ${orgId} AND group_id IN (${list(present)})`,
    )) {
      const listed = current.get(String(row.group_id));
      if (listed) listed.push(String(row.role_key));
      else current.set(String(row.group_id), [String(row.role_key)]);
    }
    const inserts: Sql[] = [];
    const cleared: string[] = [];
    for (const group of groups) {
      const id = String(group.id);
      const wanted = new Set<string>();
      for (const rule of rules) {
        const key = String(rule.match_key);
        const matches =
          (rule.match_by === 'id' && key === id) ||
          (rule.match_by === 'externalId' && key === group.external_id) ||
          (rule.match_by === 'displayName' && key === group.group_name_folded);
        if (matches) for (const role of JSON.parse(String(rule.roles)) as string[]) wanted.add(role);
      }
      const next = [...wanted].sort(byKey);
      const before = (current.get(id) ?? []).sort(byKey);
      if (sameRoles(next, before)) continue;
      changedGroups.push(id);
      if (before.length > 0) cleared.push(id);
      for (const role of next) inserts.push(sql`(${orgId}, ${id}, ${role})`);
    }
    if (cleared.length > 0) yield* exec(sql`DELETE FROM group_roles WHERE org_id = ${orgId} AND group_id IN (${list(cleared)})`);
    for (const rowsPart of chunks(inserts, CHUNK)) yield* exec(sql`INSERT INTO group_roles (org_id, group_id, role_key) VALUES ${join(rowsPart, ', ')}`);
  }
  return changedGroups;
}

/** What a SCIM write did to a group, as far as roles are concerned. */
export interface GroupWrite {
  readonly groupId: string;
  /** Created, or its displayName or externalId changed: the rules it matches may differ. */
  readonly identityChanged: boolean;
  readonly membersAdded: readonly string[];
  readonly membersRemoved: readonly string[];
}

/**
 * Roles after a write to a group: the group's own roles follow its new name or externalId (and then everyone below
 * it is recomputed); members that came or went are recomputed (users, and the users below member groups) when the
 * group or a group above it gives roles. Returns the `user.roles_changed` events.
 */
export function* rolesAfterGroupWrite(ctx: OpContext, orgId: string, write: GroupWrite): Op<NewEvent[]> {
  const moved = write.membersAdded.length > 0 || write.membersRemoved.length > 0;
  if (!write.identityChanged && !moved) return [];
  if (!(yield* first(sql`SELECT 1 AS one FROM role_settings WHERE org_id = ${orgId}`))) return [];
  const affected = new Set<string>();
  if (write.identityChanged && (yield* refreshGroupRoles(orgId, [write.groupId])).length > 0) {
    for (const id of yield* usersBelow(orgId, [write.groupId])) affected.add(id);
  }
  if (moved && (yield* groupsGiveRoles(ctx, orgId, [write.groupId]))) {
    for (const id of yield* usersOf(ctx, orgId, [...write.membersAdded, ...write.membersRemoved])) affected.add(id);
  }
  return yield* recomputeUsers(ctx, orgId, [...affected]);
}

/**
 * Before a group is deleted: the users whose roles its deletion can move (everyone below it, when it or a group
 * above it gives roles). Recompute them once it is gone.
 */
export function* usersLosingGroup(ctx: OpContext, orgId: string, groupId: string): Op<string[]> {
  if (!(yield* first(sql`SELECT 1 AS one FROM role_settings WHERE org_id = ${orgId}`))) return [];
  if (!(yield* groupsGiveRoles(ctx, orgId, [groupId]))) return [];
  return yield* usersBelow(orgId, [groupId]);
}

/** Roles after resources were created in bulk (seeding): Users get theirs, Groups the rules' (they come without members). */
export function* rolesAfterCreate(ctx: OpContext, orgId: string, kind: 'User' | 'Group', ids: readonly string[]): Op<NewEvent[]> {
  if (kind === 'User') return yield* recomputeUsers(ctx, orgId, ids);
  if (yield* first(sql`SELECT 1 AS one FROM role_settings WHERE org_id = ${orgId}`)) yield* refreshGroupRoles(orgId, ids);
  return [];
}
