/**
 * The directory API (docs/directory.md): read-only, for the app, with a management key.
 *
 * - `GET /users` (filters `email`, `user_name`, `active`, `role`, `group`), `GET /users/{id}`
 * - `GET /groups` (filters `name`, `external_id`), `GET /groups/{id}`, `GET /groups/{id}/members`
 *
 * Users come in a flat shape an app can use without knowing SCIM. Lists are `{"data", "next_cursor",
 * "events_cursor"}`: `events_cursor` is the organization's event stream position when the pull began (the first
 * page; later pages carry it on in their cursors), so that an app that pulls every page and then reads the events
 * API from `events_cursor` ends with exactly what a fresh pull would give.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { ENTERPRISE_USER_SCHEMA } from '../../scim/schema/core.ts';
import type { SchemaSet } from '../../scim/schema/declare.ts';
import { eventResource, isActive } from '../../store/events.ts';
import type { DirectoryGroup, DirectoryUser, GroupMember, StoredResource } from '../../store/types.ts';
import { unknownRole } from '../../store/role-admin.ts';
import { ApiError, limitParam, organizationOf, queryParam, sendJson } from './index.ts';
import type { ManagementContext } from './index.ts';
import { scimBaseUrl } from './organizations.ts';

const DEFAULT_LIMIT = 100;
const MAX_LIMIT = 1000;
const MAX_CURSOR_LENGTH = 2048;

function objectAt(value: unknown): Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
}

function stringAt(value: unknown): string | null {
  return typeof value === 'string' ? value : null;
}

/** The primary email's value, else the first one's. */
function primaryEmail(emails: unknown): string | null {
  if (!Array.isArray(emails)) return null;
  const values = emails.map(objectAt);
  return stringAt((values.find((e) => e.primary === true) ?? values[0])?.value);
}

/** How `raw` is written: located under the organization's SCIM base URL, without what its schemas never return. */
export interface RawContext {
  readonly baseUrl: string;
  readonly schemas: SchemaSet;
}

/** The resource as `raw`: as the events carry it (no relations, never a password), located under `/scim/v2`. */
function rawResource(resource: StoredResource, raw: RawContext): Record<string, unknown> {
  const schema = resource.resourceType === 'User' ? raw.schemas.user : raw.schemas.group;
  return eventResource(resource.resourceType, resource, resource.document, { baseUrl: raw.baseUrl, schema });
}

/** The flat user of the directory API. */
export function directoryUserJson(user: DirectoryUser, raw: RawContext): Record<string, unknown> {
  const { resource } = user;
  const doc = resource.document;
  const name = objectAt(doc.name);
  const enterprise = objectAt(doc[ENTERPRISE_USER_SCHEMA]);
  const manager = objectAt(enterprise.manager);
  return {
    id: resource.id,
    user_name: stringAt(doc.userName),
    email: primaryEmail(doc.emails),
    first_name: stringAt(name.givenName),
    last_name: stringAt(name.familyName),
    display_name: stringAt(doc.displayName),
    active: isActive(doc),
    roles: user.roles,
    groups: user.groups.map((g) => ({ id: g.id, name: g.displayName })),
    employee_number: stringAt(enterprise.employeeNumber),
    cost_center: stringAt(enterprise.costCenter),
    organization: stringAt(enterprise.organization),
    division: stringAt(enterprise.division),
    department: stringAt(enterprise.department),
    manager: typeof manager.value === 'string' ? { id: manager.value, display_name: stringAt(manager.displayName) } : null,
    created_at: resource.created,
    updated_at: resource.lastModified,
    raw: rawResource(resource, raw),
  };
}

export function directoryGroupJson(group: DirectoryGroup, raw: RawContext): Record<string, unknown> {
  const { resource } = group;
  return {
    id: resource.id,
    name: stringAt(resource.document.displayName),
    external_id: stringAt(resource.document.externalId),
    roles: group.roles,
    created_at: resource.created,
    updated_at: resource.lastModified,
    raw: rawResource(resource, raw),
  };
}

export function groupMemberJson(member: GroupMember): Record<string, unknown> {
  const doc = member.resource.document;
  if (member.type === 'Group') return { type: 'group', id: member.id, name: stringAt(doc.displayName) };
  return { type: 'user', id: member.id, user_name: stringAt(doc.userName), email: primaryEmail(doc.emails), display_name: stringAt(doc.displayName), active: isActive(doc) };
}

/** A list position: the last id of the page before, and the events position of the pull's first page. */
interface Position {
  readonly after: string | undefined;
  readonly events: number | undefined;
}

function encodeCursor(after: string, events: number): string {
  return Buffer.from(JSON.stringify([after, events]), 'utf8').toString('base64url');
}

function position(request: FastifyRequest): Position {
  const cursor = queryParam(request, 'after');
  if (cursor === undefined || cursor === '') return { after: undefined, events: undefined };
  const invalid = () => ApiError.badRequest('invalid_cursor', 'after must be a next_cursor from this list');
  if (cursor.length > MAX_CURSOR_LENGTH || !/^[A-Za-z0-9_-]+$/.test(cursor)) throw invalid();
  let decoded: unknown;
  try {
    decoded = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw invalid();
  }
  if (!Array.isArray(decoded) || decoded.length !== 2 || typeof decoded[0] !== 'string' || decoded[0].includes('\u0000')) throw invalid();
  const events = decoded[1];
  if (typeof events !== 'number' || !Number.isSafeInteger(events) || events < 0) throw invalid();
  return { after: decoded[0], events };
}

/** The list envelope, with the events position of the pull's first page. */
function pageJson(data: unknown[], next: string | null, at: Position, eventsPosition: number): Record<string, unknown> {
  const events = at.events ?? eventsPosition;
  return { data, next_cursor: next === null ? null : encodeCursor(next, events), events_cursor: String(events) };
}

function textFilter(request: FastifyRequest, name: string): string | undefined {
  const value = queryParam(request, name);
  if (value === undefined) return undefined;
  if (value === '') throw ApiError.badRequest('invalid_filter', `${name} must not be empty`);
  return value;
}

function booleanFilter(request: FastifyRequest, name: string): boolean | undefined {
  const value = queryParam(request, name);
  if (value === undefined) return undefined;
  if (value !== 'true' && value !== 'false') throw ApiError.badRequest('invalid_filter', `${name} must be true or false`);
  return value === 'true';
}

type OrgParams = { Params: { orgId: string } };
type IdParams = { Params: { orgId: string; id: string } };

export function registerDirectoryRoutes(org: FastifyInstance, context: ManagementContext): void {
  const { store } = context;
  // meta.location in `raw`, as the SCIM API builds it for a request to /scim/v2.
  const rawOf = async (request: FastifyRequest): Promise<RawContext> => {
    const org = organizationOf(request);
    const schemas = context.schemas.get(org);
    return { baseUrl: scimBaseUrl(request, context.publicUrl, org.id), schemas: schemas instanceof Promise ? await schemas : schemas };
  };

  org.get<OrgParams>('/users', { config: { query: ['limit', 'after', 'role', 'email', 'user_name', 'active', 'group'] } }, async (request, reply) => {
    const orgId = organizationOf(request).id;
    const at = position(request);
    const limit = limitParam(request, DEFAULT_LIMIT, MAX_LIMIT);
    const role = textFilter(request, 'role');
    if (role !== undefined) {
      const catalogue = (await store.getRoleCatalogue(orgId)).roles;
      if (!catalogue.some((r) => r.key === role)) throw unknownRole(role, catalogue);
    }
    const email = textFilter(request, 'email');
    const userName = textFilter(request, 'user_name');
    const active = booleanFilter(request, 'active');
    const group = textFilter(request, 'group');
    const page = await store.listDirectoryUsers(orgId, {
      limit,
      ...(at.after !== undefined && { after: at.after }),
      ...(email !== undefined && { email }),
      ...(userName !== undefined && { userName }),
      ...(active !== undefined && { active }),
      ...(role !== undefined && { role }),
      ...(group !== undefined && { group }),
    });
    const raw = await rawOf(request);
    return sendJson(
      reply,
      200,
      pageJson(
        page.users.map((u) => directoryUserJson(u, raw)),
        page.next,
        at,
        page.eventsPosition,
      ),
    );
  });

  org.get<IdParams>('/users/:id', async (request, reply) => {
    const user = await store.getDirectoryUser(organizationOf(request).id, request.params.id);
    if (!user) throw ApiError.notFound(`User ${JSON.stringify(request.params.id)} not found`);
    return sendJson(reply, 200, directoryUserJson(user, await rawOf(request)));
  });

  org.get<OrgParams>('/groups', { config: { query: ['limit', 'after', 'name', 'external_id'] } }, async (request, reply) => {
    const at = position(request);
    const limit = limitParam(request, DEFAULT_LIMIT, MAX_LIMIT);
    const name = textFilter(request, 'name');
    const externalId = textFilter(request, 'external_id');
    const page = await store.listDirectoryGroups(organizationOf(request).id, {
      limit,
      ...(at.after !== undefined && { after: at.after }),
      ...(name !== undefined && { name }),
      ...(externalId !== undefined && { externalId }),
    });
    const raw = await rawOf(request);
    return sendJson(
      reply,
      200,
      pageJson(
        page.groups.map((g) => directoryGroupJson(g, raw)),
        page.next,
        at,
        page.eventsPosition,
      ),
    );
  });

  org.get<IdParams>('/groups/:id', async (request, reply) => {
    const group = await store.getDirectoryGroup(organizationOf(request).id, request.params.id);
    if (!group) throw ApiError.notFound(`Group ${JSON.stringify(request.params.id)} not found`);
    return sendJson(reply, 200, directoryGroupJson(group, await rawOf(request)));
  });

  org.get<IdParams>('/groups/:id/members', { config: { query: ['limit', 'after'] } }, async (request, reply) => {
    const at = position(request);
    const limit = limitParam(request, DEFAULT_LIMIT, MAX_LIMIT);
    const page = await store.listGroupMembers(organizationOf(request).id, request.params.id, { limit, ...(at.after !== undefined && { after: at.after }) });
    if (!page) throw ApiError.notFound(`Group ${JSON.stringify(request.params.id)} not found`);
    return sendJson(reply, 200, pageJson(page.members.map(groupMemberJson), page.next, at, page.eventsPosition));
  });
}
