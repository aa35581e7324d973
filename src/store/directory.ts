/**
 * The directory API's reads (docs/directory.md): users with their effective roles and direct groups, groups with
 * the roles their rules give, and a group's members, each paged by id (keyset) so that no page costs more than its
 * rows, whatever the organization's size. Each page also reads the organization's event stream position in the
 * same snapshot, so that an app can pull once and then follow the events from there.
 */
import type { Filter } from '../scim/filter/ast.ts';
import { USER } from '../scim/schema/registry.ts';
import { chunks, first, list, raw, rows, sql } from '../sql/index.ts';
import type { Op, Row, Sql } from '../sql/index.ts';
import { fold } from './columns.ts';
import { streamEnd } from './events.ts';
import { compileFilterSql } from './filter-sql.ts';
import { RESOURCE_COLUMNS, parseJson, toResource } from './operations.ts';
import type { OpContext } from './operations.ts';
import type {
  DirectoryGroup,
  DirectoryGroupPage,
  DirectoryGroupQuery,
  DirectoryUser,
  DirectoryUserPage,
  DirectoryUserQuery,
  GroupMember,
  GroupMemberPage,
  MatchedGroup,
  ResourceKind,
} from './types.ts';

const CHUNK = 500;

function compare(name: string, sub: string | null, value: string | boolean): Filter {
  return { kind: 'compare', path: { urn: null, name, sub }, op: 'eq', value };
}

function limitOf(n: number): Sql {
  // Written into the statement (see query.ts limitLiteral): page sizes are few, and SQLite plans better with it.
  return raw(String(Math.max(0, Math.floor(n)) + 1));
}

/** Effective roles of these users, sorted. */
function* rolesOf(orgId: string, table: 'user_roles' | 'group_roles', ids: readonly string[]): Op<Map<string, string[]>> {
  const out = new Map<string, string[]>();
  const owner = raw(table === 'user_roles' ? 'user_id' : 'group_id');
  for (const part of chunks(ids, CHUNK)) {
    for (const row of yield* rows(sql`SELECT ${owner} AS owner, role_key FROM ${raw(table)} WHERE org_id = ${orgId} AND ${owner} IN (${list(part)}) ORDER BY ${owner}, role_key`)) {
      const id = String(row.owner);
      const listed = out.get(id);
      if (listed) listed.push(String(row.role_key));
      else out.set(id, [String(row.role_key)]);
    }
  }
  return out;
}

/** The groups these users are direct members of, by group id. */
function* directGroupsOf(orgId: string, ids: readonly string[]): Op<Map<string, MatchedGroup[]>> {
  const out = new Map<string, MatchedGroup[]>();
  for (const part of chunks(ids, CHUNK)) {
    const found = yield* rows(
      sql`SELECT m.member_id AS owner, m.group_id AS id, g.display AS display FROM memberships m
        JOIN resources g ON g.org_id = m.org_id AND g.id = m.group_id
        WHERE m.org_id = ${orgId} AND m.member_id IN (${list(part)}) ORDER BY m.member_id, m.group_id`,
    );
    for (const row of found) {
      const entry = { id: String(row.id), displayName: row.display === null ? '' : String(row.display) };
      const listed = out.get(String(row.owner));
      if (listed) listed.push(entry);
      else out.set(String(row.owner), [entry]);
    }
  }
  return out;
}

function* withRolesAndGroups(orgId: string, found: readonly Row[]): Op<DirectoryUser[]> {
  const ids = found.map((r) => String(r.id));
  const roles = yield* rolesOf(orgId, 'user_roles', ids);
  const groups = yield* directGroupsOf(orgId, ids);
  return found.map((row) => ({ resource: toResource(row, parseJson(row.doc)), roles: roles.get(String(row.id)) ?? [], groups: groups.get(String(row.id)) ?? [] }));
}

const USER_ID = raw('r.id');

/**
 * Users by id, after `query.after`. A role or group filter drives the read from its own index (user_roles by role,
 * memberships by group), so a filtered page walks only matching rows, in the same id order.
 */
export function* listDirectoryUsers(ctx: OpContext, orgId: string, query: DirectoryUserQuery): Op<DirectoryUserPage> {
  const eventsPosition = yield* streamEnd(orgId);
  const conditions: Sql[] = [];
  const filter = (f: Filter) => conditions.push(compileFilterSql(f, USER, ctx.dialect));
  if (query.email !== undefined) filter(compare('emails', 'value', query.email));
  if (query.userName !== undefined) filter(compare('userName', null, query.userName));
  if (query.active === false) filter(compare('active', null, false));
  if (query.active === true) filter({ kind: 'not', filter: compare('active', null, false) });

  let from: Sql;
  let idColumn: Sql;
  if (query.role !== undefined) {
    from = sql`user_roles x JOIN resources r ON r.org_id = x.org_id AND r.id = x.user_id WHERE x.org_id = ${orgId} AND x.role_key = ${query.role}`;
    idColumn = raw('x.user_id');
    if (query.group !== undefined) {
      conditions.push(sql`EXISTS (SELECT 1 FROM memberships m WHERE m.org_id = r.org_id AND m.group_id = ${query.group} AND m.member_id = r.id)`);
    }
  } else if (query.group !== undefined) {
    from = sql`memberships x JOIN resources r ON r.org_id = x.org_id AND r.id = x.member_id WHERE x.org_id = ${orgId} AND x.group_id = ${query.group} AND x.member_type = 'User'`;
    idColumn = raw('x.member_id');
  } else {
    from = sql`resources r WHERE r.org_id = ${orgId} AND r.kind = 'User'`;
    idColumn = USER_ID;
  }
  if (query.after !== undefined) {
    conditions.push(sql`${idColumn} > ${query.after}`);
    // Also on the users' side of a join: PostgreSQL carries equalities across a join, not inequalities, and with
    // statistics it merge-joins, reading the organization's resources from the first id at every page.
    if (idColumn !== USER_ID) conditions.push(sql`r.id > ${query.after}`);
  }
  const where = conditions.map((c) => sql` AND ${c}`);
  const found = yield* rows(
    sql`SELECT ${RESOURCE_COLUMNS} FROM ${from}${joinAll(where)} AND r.kind = 'User' ORDER BY ${idColumn} LIMIT ${limitOf(query.limit)}`,
  );
  const page = found.slice(0, query.limit);
  return { users: yield* withRolesAndGroups(orgId, page), next: found.length > query.limit ? String(page[page.length - 1].id) : null, eventsPosition };
}

function joinAll(parts: readonly Sql[]): Sql {
  return parts.reduce((acc, part) => sql`${acc}${part}`, sql``);
}

export function* getDirectoryUser(orgId: string, id: string): Op<DirectoryUser | null> {
  const row = yield* first(sql`SELECT ${RESOURCE_COLUMNS} FROM resources r WHERE r.org_id = ${orgId} AND r.id = ${String(id)} AND r.kind = 'User'`);
  if (!row) return null;
  const [user] = yield* withRolesAndGroups(orgId, [row]);
  return user;
}

function* withGroupRoles(orgId: string, found: readonly Row[]): Op<DirectoryGroup[]> {
  const roles = yield* rolesOf(
    orgId,
    'group_roles',
    found.map((r) => String(r.id)),
  );
  return found.map((row) => ({ resource: toResource(row, parseJson(row.doc)), roles: roles.get(String(row.id)) ?? [] }));
}

export function* listDirectoryGroups(orgId: string, query: DirectoryGroupQuery): Op<DirectoryGroupPage> {
  const eventsPosition = yield* streamEnd(orgId);
  const conditions: Sql[] = [];
  if (query.name !== undefined) conditions.push(sql` AND r.group_name_folded = ${fold(query.name)}`);
  if (query.externalId !== undefined) conditions.push(sql` AND r.external_id = ${query.externalId}`);
  if (query.after !== undefined) conditions.push(sql` AND r.id > ${query.after}`);
  const found = yield* rows(
    sql`SELECT ${RESOURCE_COLUMNS} FROM resources r WHERE r.org_id = ${orgId} AND r.kind = 'Group'${joinAll(conditions)} ORDER BY r.id LIMIT ${limitOf(query.limit)}`,
  );
  const page = found.slice(0, query.limit);
  return { groups: yield* withGroupRoles(orgId, page), next: found.length > query.limit ? String(page[page.length - 1].id) : null, eventsPosition };
}

export function* getDirectoryGroup(orgId: string, id: string): Op<DirectoryGroup | null> {
  const row = yield* first(sql`SELECT ${RESOURCE_COLUMNS} FROM resources r WHERE r.org_id = ${orgId} AND r.id = ${String(id)} AND r.kind = 'Group'`);
  if (!row) return null;
  const [group] = yield* withGroupRoles(orgId, [row]);
  return group;
}

/** A page of a group's direct members by id, read through the membership key: a 100,000-member group is never loaded whole. */
export function* listGroupMembers(orgId: string, groupId: string, query: { after?: string; limit: number }): Op<GroupMemberPage | null> {
  const eventsPosition = yield* streamEnd(orgId);
  const group = yield* first(sql`SELECT id FROM resources WHERE org_id = ${orgId} AND id = ${String(groupId)} AND kind = 'Group'`);
  if (!group) return null;
  // The cursor on both sides of the join (see listDirectoryUsers).
  const after = query.after === undefined ? sql`` : sql` AND m.member_id > ${query.after} AND r.id > ${query.after}`;
  const found = yield* rows(
    sql`SELECT ${RESOURCE_COLUMNS}, r.display AS display FROM memberships m JOIN resources r ON r.org_id = m.org_id AND r.id = m.member_id
      WHERE m.org_id = ${orgId} AND m.group_id = ${String(groupId)}${after} ORDER BY m.member_id LIMIT ${limitOf(query.limit)}`,
  );
  const page = found.slice(0, query.limit);
  const members: GroupMember[] = page.map((row) => ({
    type: row.kind as ResourceKind,
    id: String(row.id),
    display: row.display === null ? null : String(row.display),
    resource: toResource(row, parseJson(row.doc)),
  }));
  return { members, next: found.length > query.limit ? String(page[page.length - 1].id) : null, eventsPosition };
}
