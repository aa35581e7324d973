/**
 * Managing roles (docs/roles.md): the role catalogue and its settings (default role, IdP-sent roles), the mapping
 * rules, and the recomputation a change of them starts.
 *
 * A change of rules or catalogue commits with its first batch of recomputed users (up to RECOMPUTE_BATCH) and, when
 * more users are concerned, a job that later batches continue, each in a transaction of its own with the events of
 * the users it changed. So a rule on a 100,000-member group never holds the organization's writes for the whole
 * recomputation. Meanwhile every user's stored roles are either already recomputed or still those of the rules
 * before, and a SCIM write that touches a user recomputes that user under the new rules at once: the API and the
 * events always show the same stored roles, and the job's end brings the last ones current. A job outlives a
 * crashed process: `serve` runs whatever jobs it finds when it starts and every few seconds after.
 */
import { randomUUID } from 'node:crypto';
import { ScimError } from '../scim/errors.ts';
import { MAX_INDEXED_CHARS } from '../scim/limits.ts';
import { exec, first, list, rows, sql } from '../sql/index.ts';
import type { Op, Row } from '../sql/index.ts';
import { fold } from './columns.ts';
import type { NewEvent } from './events.ts';
import type { OpContext } from './operations.ts';
import { groupsBelow, lockRoles, recomputeUsers, refreshGroupRoles } from './roles.ts';
import type { GroupMatch, GroupSelector, MatchedGroup, RoleCatalogue, RoleCatalogueUpdate, RoleDefinition, RoleMapping, RoleMappingPage } from './types.ts';

/** Users recomputed per transaction after a rule or catalogue change. */
export const RECOMPUTE_BATCH = 250;
/** Roles an organization may define. */
export const MAX_CATALOGUE_ROLES = 1000;
export const MAX_ROLE_DESCRIPTION_CHARS = 1024;
/** A role key: what the app checks for, so letters, digits and `_ . : -`, starting with a letter or digit. */
export const ROLE_KEY_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$/;
export const GROUP_MATCHES: readonly GroupMatch[] = ['id', 'externalId', 'displayName'];

/** A 400 with a stable code for the management API (`unknown_role`, `duplicate_rule`, ...). */
export class RoleError extends ScimError {
  constructor(
    readonly code: string,
    message: string,
    status: 400 | 404 = 400,
  ) {
    super(status, message, status === 400 ? 'invalidValue' : undefined);
  }
}

function checkRoleKey(key: unknown): string {
  if (typeof key !== 'string' || !ROLE_KEY_PATTERN.test(key)) {
    throw new RoleError('invalid_role', `Role key ${JSON.stringify(key)} is not valid: use 1 to 64 letters, digits, "_", ".", ":" or "-", starting with a letter or digit`);
  }
  return key;
}

// ------------------------------------------------------------------------------------------------- catalogue

function* catalogueRows(orgId: string): Op<RoleDefinition[]> {
  const found = yield* rows(sql`SELECT key, description, created FROM roles WHERE org_id = ${orgId} ORDER BY key`);
  return found.map((r) => ({ key: String(r.key), description: r.description === null ? null : String(r.description), created: String(r.created) }));
}

function* requireOrganization(orgId: string): Op<void> {
  if (!(yield* first(sql`SELECT id FROM organizations WHERE id = ${String(orgId)}`))) throw ScimError.notFound(`Organization ${JSON.stringify(orgId)} not found`);
}

function* hasJobs(orgId: string): Op<boolean> {
  return (yield* first(sql`SELECT 1 AS one FROM role_jobs WHERE org_id = ${orgId} LIMIT 1`)) !== undefined;
}

export function* getRoleCatalogue(orgId: string): Op<RoleCatalogue> {
  yield* requireOrganization(orgId);
  const settings = yield* first(sql`SELECT default_role, accept_idp_roles FROM role_settings WHERE org_id = ${orgId}`);
  return {
    roles: yield* catalogueRows(orgId),
    defaultRole: settings?.default_role === null || settings?.default_role === undefined ? null : String(settings.default_role),
    acceptIdpRoles: settings !== undefined && (settings.accept_idp_roles === true || settings.accept_idp_roles === 1),
    recomputing: yield* hasJobs(orgId),
  };
}

/** Every rule's roles, for the check that a role being removed is not in use. */
function* ruleRoles(orgId: string): Op<{ id: string; roles: string[] }[]> {
  const found = yield* rows(sql`SELECT id, roles FROM role_mappings WHERE org_id = ${orgId} ORDER BY created, id`);
  return found.map((r) => ({ id: String(r.id), roles: JSON.parse(String(r.roles)) as string[] }));
}

/**
 * Defines roles (new ones added, descriptions of existing ones replaced when given), removes roles, and sets the
 * default role and whether IdP-sent roles count. 400 for a bad key, a key differing from a defined one only in case,
 * removing a role a rule or the default uses, or a default outside the catalogue.
 */
export function* updateRoleCatalogue(ctx: OpContext, orgId: string, update: RoleCatalogueUpdate): Op<{ catalogue: RoleCatalogue; events: NewEvent[] }> {
  yield* requireOrganization(orgId);
  yield* lockRoles(ctx, orgId);
  yield* exec(sql`INSERT INTO role_settings (org_id, default_role, accept_idp_roles) VALUES (${orgId}, NULL, ${false}) ON CONFLICT (org_id) DO NOTHING`);
  const before = yield* getRoleCatalogue(orgId);
  const byFolded = new Map(before.roles.map((r) => [r.key.toLowerCase(), r]));

  const defined: { key: string; description: string | null | undefined }[] = [];
  for (const entry of update.define ?? []) {
    const key = checkRoleKey(entry?.key);
    const description = entry.description;
    if (description !== undefined && description !== null && (typeof description !== 'string' || Array.from(description).length > MAX_ROLE_DESCRIPTION_CHARS || description.includes('\u0000'))) {
      throw new RoleError('invalid_role', `The description of role "${key}" must be text of at most ${MAX_ROLE_DESCRIPTION_CHARS} characters`);
    }
    const existing = byFolded.get(key.toLowerCase());
    if (existing && existing.key !== key) {
      throw new RoleError('conflicting_role', `Role "${key}" differs only in case from the defined role "${existing.key}" (keys are unique case-insensitively)`);
    }
    if (defined.some((d) => d.key.toLowerCase() === key.toLowerCase())) throw new RoleError('invalid_role', `Role "${key}" is given twice`);
    defined.push({ key, description });
  }
  const removed = [...new Set(update.remove ?? [])].map((key) => {
    if (typeof key !== 'string' || !before.roles.some((r) => r.key === key)) throw unknownRole(key, before.roles);
    if (defined.some((d) => d.key === key)) throw new RoleError('invalid_role', `Role "${key}" is both defined and removed`);
    return key;
  });
  const after = new Set([...before.roles.map((r) => r.key), ...defined.map((d) => d.key)].filter((k) => !removed.includes(k)));
  if (after.size > MAX_CATALOGUE_ROLES) throw new RoleError('too_many_roles', `An organization may define at most ${MAX_CATALOGUE_ROLES} roles`);

  const defaultRole = update.defaultRole === undefined ? before.defaultRole : update.defaultRole;
  if (update.defaultRole === undefined && defaultRole !== null && removed.includes(defaultRole)) {
    throw new RoleError('role_in_use', `Role "${defaultRole}" is the default role: set another default (or none) first`);
  }
  if (defaultRole !== null && (typeof defaultRole !== 'string' || !after.has(defaultRole))) {
    throw new RoleError('unknown_role', `The default role ${JSON.stringify(defaultRole)} is not in the catalogue (${[...after].sort().join(', ') || 'no roles'})`);
  }
  const acceptIdpRoles = update.acceptIdpRoles ?? before.acceptIdpRoles;
  if (typeof acceptIdpRoles !== 'boolean') throw new RoleError('invalid_request', 'accept_idp_roles must be true or false');
  if (removed.length > 0) {
    for (const rule of yield* ruleRoles(orgId)) {
      const used = rule.roles.find((role) => removed.includes(role));
      if (used !== undefined) throw new RoleError('role_in_use', `Role "${used}" is used by mapping rule ${rule.id}: unmap it first`);
    }
  }

  const now = ctx.now();
  for (const d of defined) {
    const existing = byFolded.get(d.key.toLowerCase());
    if (!existing) {
      yield* exec(sql`INSERT INTO roles (org_id, key, key_folded, description, created) VALUES (${orgId}, ${d.key}, ${d.key.toLowerCase()}, ${d.description ?? null}, ${now})`);
    } else if (d.description !== undefined && d.description !== existing.description) {
      yield* exec(sql`UPDATE roles SET description = ${d.description} WHERE org_id = ${orgId} AND key = ${d.key}`);
    }
  }
  if (removed.length > 0) yield* exec(sql`DELETE FROM roles WHERE org_id = ${orgId} AND key IN (${list(removed)})`);
  yield* exec(sql`UPDATE role_settings SET default_role = ${defaultRole}, accept_idp_roles = ${acceptIdpRoles} WHERE org_id = ${orgId}`);

  // Who can be moved: everyone, when the default or the IdP-roles switch changed, or IdP-sent roles count and the
  // catalogue they are filtered by changed (rules cannot name a removed role, so they are not affected).
  const added = defined.some((d) => !byFolded.has(d.key.toLowerCase()));
  const everyone =
    defaultRole !== before.defaultRole || acceptIdpRoles !== before.acceptIdpRoles || (acceptIdpRoles && (added || removed.length > 0));
  const events = everyone ? yield* startJob(ctx, orgId, { all: true }) : [];
  return { catalogue: yield* getRoleCatalogue(orgId), events };
}

/** `unknown_role`, naming the catalogue's roles so that the message says what would do. */
export function unknownRole(key: unknown, catalogue: readonly { key: string }[]): RoleError {
  const known = catalogue.map((r) => r.key).join(', ');
  return new RoleError('unknown_role', `Role ${JSON.stringify(key)} is not in the organization's catalogue (${known || 'no roles are defined: define them first'})`);
}

// ------------------------------------------------------------------------------------------------- mapping rules

function checkSelector(group: unknown): GroupSelector & { key: string } {
  const selector = group as Partial<GroupSelector> | null;
  if (typeof selector !== 'object' || selector === null || !GROUP_MATCHES.includes(selector.by as GroupMatch)) {
    throw new RoleError('invalid_group', 'A rule names its group by exactly one of id, external_id or display_name');
  }
  const { by, value } = selector as GroupSelector;
  if (typeof value !== 'string' || value === '' || value.includes('\u0000') || Array.from(value).length > MAX_INDEXED_CHARS) {
    throw new RoleError('invalid_group', `The group's ${by} must be a non-empty string of at most ${MAX_INDEXED_CHARS} characters`);
  }
  return { by, value, key: by === 'displayName' ? fold(value) : value };
}

/** The groups a selector matches now: by id at most one, by displayName at most one (it is unique), by externalId any. */
function* matchedGroups(orgId: string, by: GroupMatch, key: string): Op<MatchedGroup[]> {
  const column = by === 'id' ? sql`id = ${key}` : by === 'externalId' ? sql`external_id = ${key}` : sql`group_name_folded = ${key}`;
  const found = yield* rows(sql`SELECT id, display FROM resources WHERE org_id = ${orgId} AND kind = 'Group' AND ${column} ORDER BY id`);
  return found.map((r) => ({ id: String(r.id), displayName: r.display === null ? '' : String(r.display) }));
}

function* toMapping(orgId: string, row: Row): Op<RoleMapping> {
  const by = String(row.match_by) as GroupMatch;
  return {
    id: String(row.id),
    group: { by, value: String(row.match_value) },
    roles: JSON.parse(String(row.roles)) as string[],
    created: String(row.created),
    matchedGroups: yield* matchedGroups(orgId, by, String(row.match_key)),
  };
}

const MAPPING_COLUMNS = sql`id, match_by, match_value, match_key, roles, created`;

export function* getRoleMapping(orgId: string, id: string): Op<RoleMapping | null> {
  const row = yield* first(sql`SELECT ${MAPPING_COLUMNS} FROM role_mappings WHERE org_id = ${orgId} AND id = ${String(id)}`);
  return row ? yield* toMapping(orgId, row) : null;
}

/** The rule naming a group this way, if any (a group selector has at most one rule). */
export function* findRoleMapping(orgId: string, group: GroupSelector): Op<RoleMapping | null> {
  const { by, key } = checkSelector(group);
  const row = yield* first(sql`SELECT ${MAPPING_COLUMNS} FROM role_mappings WHERE org_id = ${orgId} AND match_by = ${by} AND match_key = ${key}`);
  return row ? yield* toMapping(orgId, row) : null;
}

/** Rules oldest first, `limit` at a time after the rule `after` (an id from an earlier page). */
export function* listRoleMappings(orgId: string, options: { after?: string; limit: number }): Op<RoleMappingPage> {
  yield* requireOrganization(orgId);
  let position = sql``;
  if (options.after !== undefined) {
    const from = yield* first(sql`SELECT created, id FROM role_mappings WHERE org_id = ${orgId} AND id = ${String(options.after)}`);
    if (!from) throw new RoleError('invalid_cursor', 'after must be a cursor from next_cursor (its rule no longer exists; list again from the start)');
    position = sql` AND (created > ${from.created} OR (created = ${from.created} AND id > ${from.id}))`;
  }
  const found = yield* rows(sql`SELECT ${MAPPING_COLUMNS} FROM role_mappings WHERE org_id = ${orgId}${position} ORDER BY created, id LIMIT ${options.limit + 1}`);
  const page = found.slice(0, options.limit);
  const mappings: RoleMapping[] = [];
  for (const row of page) mappings.push(yield* toMapping(orgId, row));
  return { mappings, next: found.length > options.limit ? mappings[mappings.length - 1].id : null };
}

/** The rule's roles, checked against the catalogue: at least one, no repeats. */
function* checkRuleRoles(orgId: string, roles: unknown): Op<string[]> {
  if (!Array.isArray(roles) || roles.length === 0) throw new RoleError('invalid_request', 'A rule maps its group to at least one role');
  const catalogue = yield* catalogueRows(orgId);
  const keys = new Set(catalogue.map((r) => r.key));
  const out: string[] = [];
  for (const role of roles) {
    if (typeof role !== 'string' || !keys.has(role)) throw unknownRole(role, catalogue);
    if (!out.includes(role)) out.push(role);
  }
  return out.sort();
}

/**
 * Creates a rule. 400: a role outside the catalogue (`unknown_role`); a group named by id that does not exist
 * (`unknown_group`: SCIM ids are ours, so that is a typo; by externalId or displayName the group may come later);
 * a group already named the same way by another rule (`duplicate_rule`: change that rule's roles instead).
 */
export function* createRoleMapping(ctx: OpContext, orgId: string, input: { group: GroupSelector; roles: readonly string[] }): Op<{ mapping: RoleMapping; events: NewEvent[] }> {
  yield* requireOrganization(orgId);
  yield* lockRoles(ctx, orgId);
  const { by, value, key } = checkSelector(input?.group);
  const roles = yield* checkRuleRoles(orgId, input.roles);
  const matched = yield* matchedGroups(orgId, by, key);
  if (by === 'id' && matched.length === 0) throw new RoleError('unknown_group', `No group has the id ${JSON.stringify(value)}; to map a group the IdP has not sent yet, name it by external_id or display_name`);
  const existing = yield* first(sql`SELECT id, roles FROM role_mappings WHERE org_id = ${orgId} AND match_by = ${by} AND match_key = ${key}`);
  if (existing) {
    throw new RoleError('duplicate_rule', `Rule ${existing.id} already maps the group with ${by} ${JSON.stringify(value)} (to ${(JSON.parse(String(existing.roles)) as string[]).join(', ')}): change that rule's roles instead`);
  }
  const id = randomUUID();
  const created = ctx.now();
  yield* exec(
    sql`INSERT INTO role_mappings (org_id, id, match_by, match_value, match_key, roles, created) VALUES (${orgId}, ${id}, ${by}, ${value}, ${key}, ${JSON.stringify(roles)}, ${created})`,
    { unique: () => new RoleError('duplicate_rule', `Another rule already maps the group with ${by} ${JSON.stringify(value)}`) },
  );
  const events = yield* afterRuleChange(ctx, orgId, matched);
  return { mapping: { id, group: { by, value }, roles, created, matchedGroups: matched }, events };
}

function* lockedMapping(ctx: OpContext, orgId: string, id: string): Op<Row> {
  yield* requireOrganization(orgId);
  yield* lockRoles(ctx, orgId);
  const row = yield* first(sql`SELECT ${MAPPING_COLUMNS} FROM role_mappings WHERE org_id = ${orgId} AND id = ${String(id)}${ctx.dialect.forUpdate}`);
  if (!row) throw new RoleError('not_found', `Mapping rule ${JSON.stringify(id)} not found`, 404);
  return row;
}

/** Replaces a rule's roles (the group it names stays; to name another group, delete the rule and create one). */
export function* updateRoleMapping(ctx: OpContext, orgId: string, id: string, input: { roles: readonly string[] }): Op<{ mapping: RoleMapping; events: NewEvent[] }> {
  const row = yield* lockedMapping(ctx, orgId, id);
  const roles = yield* checkRuleRoles(orgId, input?.roles);
  yield* exec(sql`UPDATE role_mappings SET roles = ${JSON.stringify(roles)} WHERE org_id = ${orgId} AND id = ${String(id)}`);
  const mapping = { ...(yield* toMapping(orgId, row)), roles };
  return { mapping, events: yield* afterRuleChange(ctx, orgId, mapping.matchedGroups) };
}

export function* deleteRoleMapping(ctx: OpContext, orgId: string, id: string): Op<{ mapping: RoleMapping; events: NewEvent[] }> {
  const row = yield* lockedMapping(ctx, orgId, id);
  const mapping = yield* toMapping(orgId, row);
  yield* exec(sql`DELETE FROM role_mappings WHERE org_id = ${orgId} AND id = ${String(id)}`);
  return { mapping, events: yield* afterRuleChange(ctx, orgId, mapping.matchedGroups) };
}

/** After a rule changed: the matched groups' roles follow, and everyone below a group whose roles moved is recomputed. */
function* afterRuleChange(ctx: OpContext, orgId: string, matched: readonly MatchedGroup[]): Op<NewEvent[]> {
  const moved = yield* refreshGroupRoles(
    orgId,
    matched.map((g) => g.id),
  );
  if (moved.length === 0) return [];
  return yield* startJob(ctx, orgId, { groups: yield* groupsBelow(orgId, moved) });
}

// ------------------------------------------------------------------------------------------------- recomputation jobs

/** Whose roles a job recomputes: the users of these groups (already expanded to the groups below them), or everyone. */
type JobScope = { readonly groups: readonly string[] } | { readonly all: true };

/** Where a job has got to: the index of the group it is in (group scopes) and the last user id done. */
interface JobPosition {
  readonly group: number;
  readonly after: string | null;
}

/** Records a job and runs its first batch in the caller's transaction; returns that batch's events. */
function* startJob(ctx: OpContext, orgId: string, scope: JobScope): Op<NewEvent[]> {
  if ('groups' in scope && scope.groups.length === 0) return [];
  const id = randomUUID();
  yield* exec(sql`INSERT INTO role_jobs (org_id, id, scope, position, created) VALUES (${orgId}, ${id}, ${JSON.stringify(scope)}, NULL, ${ctx.now()})`);
  return (yield* runJobBatch(ctx, orgId, ctx.recomputeBatch ?? RECOMPUTE_BATCH)).events;
}

/**
 * Recomputes the next `limit` users of the organization's oldest job, and moves the job on (or ends it). Two
 * processes running the same job take turns: a batch holds the organization's role lock (SQLite: the write lock).
 */
export function* runJobBatch(ctx: OpContext, orgId: string, limit: number): Op<{ events: NewEvent[]; users: number; done: boolean }> {
  yield* lockRoles(ctx, orgId);
  const job = yield* first(sql`SELECT id, scope, position FROM role_jobs WHERE org_id = ${orgId} ORDER BY created, id LIMIT 1`);
  if (!job) return { events: [], users: 0, done: true };
  const scope = JSON.parse(String(job.scope)) as JobScope;
  let position: JobPosition = job.position === null ? { group: 0, after: null } : (JSON.parse(String(job.position)) as JobPosition);
  const users: string[] = [];
  let finished = false;
  while (users.length < limit) {
    const want = limit - users.length;
    let batch: Row[];
    if ('all' in scope) {
      const from = position.after === null ? sql`` : sql` AND id > ${position.after}`;
      batch = yield* rows(sql`SELECT id FROM resources WHERE org_id = ${orgId} AND kind = 'User'${from} ORDER BY id LIMIT ${want}`);
    } else {
      const group = scope.groups[position.group];
      if (group === undefined) {
        finished = true;
        break;
      }
      const from = position.after === null ? sql`` : sql` AND member_id > ${position.after}`;
      batch = yield* rows(
        sql`SELECT member_id AS id FROM memberships WHERE org_id = ${orgId} AND group_id = ${group} AND member_type = 'User'${from} ORDER BY member_id LIMIT ${want}`,
      );
    }
    for (const row of batch) users.push(String(row.id));
    if (batch.length === want) {
      position = { group: position.group, after: users[users.length - 1] };
    } else if ('all' in scope) {
      finished = true;
      break;
    } else {
      position = { group: position.group + 1, after: null };
    }
  }
  const events = yield* recomputeUsers(ctx, orgId, users);
  if (finished || ('groups' in scope && position.group >= scope.groups.length)) {
    yield* exec(sql`DELETE FROM role_jobs WHERE org_id = ${orgId} AND id = ${job.id}`);
    return { events, users: users.length, done: !(yield* hasJobs(orgId)) };
  }
  yield* exec(sql`UPDATE role_jobs SET position = ${JSON.stringify(position)} WHERE org_id = ${orgId} AND id = ${job.id}`);
  return { events, users: users.length, done: false };
}

/** Organizations with recomputation left to do (oldest job first). */
export function* organizationsWithRoleJobs(): Op<string[]> {
  const found = yield* rows<{ org_id: string }>(sql`SELECT org_id, MIN(created) AS since FROM role_jobs GROUP BY org_id ORDER BY since`);
  return found.map((r) => String(r.org_id));
}
