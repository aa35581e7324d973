/**
 * `/api/v1/organizations/{org_id}/roles` and `/role-mappings`: the role catalogue and the group-to-role rules
 * (docs/roles.md). A change answers once every user's roles follow it.
 */
import type { FastifyInstance } from 'fastify';
import type { GroupSelector, RoleCatalogue, RoleDefinition, RoleMapping } from '../../store/types.ts';
import { ApiError, limitParam, listJson, objectBody, organizationOf, queryParam, sendJson } from './index.ts';
import type { ManagementContext } from './index.ts';

const DEFAULT_LIMIT = 100;
const MAX_LIMIT = 1000;

/** The API's names of the ways a rule names its group, and the store's. */
const GROUP_FIELDS = { id: 'id', external_id: 'externalId', display_name: 'displayName' } as const;
const FIELD_OF = { id: 'id', externalId: 'external_id', displayName: 'display_name' } as const;

export function roleJson(role: RoleDefinition): Record<string, unknown> {
  return { key: role.key, description: role.description, created_at: role.created };
}

/** The catalogue as a list (the catalogue is at most 1,000 roles, so it comes whole) with the settings beside it. */
export function catalogueJson(catalogue: RoleCatalogue): Record<string, unknown> {
  return {
    ...listJson(catalogue.roles.map(roleJson), null),
    default_role: catalogue.defaultRole,
    accept_idp_roles: catalogue.acceptIdpRoles,
    recomputing: catalogue.recomputing,
  };
}

export function mappingJson(mapping: RoleMapping): Record<string, unknown> {
  return {
    id: mapping.id,
    group: { [FIELD_OF[mapping.group.by]]: mapping.group.value },
    roles: mapping.roles,
    matched_groups: mapping.matchedGroups.map((g) => ({ id: g.id, name: g.displayName })),
    created_at: mapping.created,
  };
}

function groupField(body: Record<string, unknown>): GroupSelector {
  const group = body.group;
  if (typeof group !== 'object' || group === null || Array.isArray(group)) {
    throw ApiError.badRequest('invalid_group', '"group" must be an object naming the group by one of id, external_id or display_name');
  }
  const named = Object.keys(group).filter((k) => Object.hasOwn(GROUP_FIELDS, k));
  const unknown = Object.keys(group).find((k) => !Object.hasOwn(GROUP_FIELDS, k));
  if (unknown !== undefined || named.length !== 1) {
    throw ApiError.badRequest('invalid_group', '"group" must name the group by exactly one of id, external_id or display_name');
  }
  const field = named[0] as keyof typeof GROUP_FIELDS;
  const value = (group as Record<string, unknown>)[field];
  if (typeof value !== 'string') throw ApiError.badRequest('invalid_group', `"group.${field}" must be a string`);
  return { by: GROUP_FIELDS[field], value };
}

function rolesField(body: Record<string, unknown>): string[] {
  const roles = body.roles;
  if (!Array.isArray(roles) || !roles.every((r) => typeof r === 'string')) throw ApiError.badRequest('invalid_roles', '"roles" must be a list of role keys');
  return roles as string[];
}

function onlyFields(body: Record<string, unknown>, allowed: readonly string[]): void {
  const unknown = Object.keys(body).find((k) => !allowed.includes(k));
  if (unknown !== undefined) throw ApiError.badRequest('invalid_body', `Unknown field ${JSON.stringify(unknown)}; expected ${allowed.join(', ')}`);
}

type OrgParams = { Params: { orgId: string } };
type KeyParams = { Params: { orgId: string; key: string } };
type IdParams = { Params: { orgId: string; id: string } };

export function registerRoleRoutes(org: FastifyInstance, context: ManagementContext): void {
  const { store } = context;

  org.get<OrgParams>('/roles', async (request, reply) => sendJson(reply, 200, catalogueJson(await store.getRoleCatalogue(organizationOf(request).id))));

  org.post<OrgParams>('/roles', async (request, reply) => {
    const orgId = organizationOf(request).id;
    const body = objectBody(request);
    onlyFields(body, ['key', 'description']);
    if (typeof body.key !== 'string') throw ApiError.badRequest('invalid_role', '"key" must be a string');
    const description = body.description;
    if (description !== undefined && description !== null && typeof description !== 'string') throw ApiError.badRequest('invalid_role', '"description" must be a string or null');
    const key = body.key;
    if ((await store.getRoleCatalogue(orgId)).roles.some((r) => r.key === key)) throw ApiError.badRequest('duplicate_role', `Role "${key}" is already defined`);
    const catalogue = await store.updateRoleCatalogue(orgId, { define: [{ key, description: description ?? null }] });
    return sendJson(reply, 201, roleJson(catalogue.roles.find((r) => r.key === key) as RoleDefinition));
  });

  org.patch<OrgParams>('/roles', async (request, reply) => {
    const body = objectBody(request);
    onlyFields(body, ['default_role', 'accept_idp_roles']);
    const defaultRole = body.default_role;
    if (defaultRole !== undefined && defaultRole !== null && typeof defaultRole !== 'string') throw ApiError.badRequest('invalid_role', '"default_role" must be a role key or null');
    const accept = body.accept_idp_roles;
    if (accept !== undefined && typeof accept !== 'boolean') throw ApiError.badRequest('invalid_request', '"accept_idp_roles" must be true or false');
    const catalogue = await store.updateRoleCatalogue(organizationOf(request).id, {
      ...(defaultRole !== undefined && { defaultRole }),
      ...(accept !== undefined && { acceptIdpRoles: accept }),
    });
    return sendJson(reply, 200, catalogueJson(catalogue));
  });

  org.delete<KeyParams>('/roles/:key', async (request, reply) => {
    const orgId = organizationOf(request).id;
    const { key } = request.params;
    if (!(await store.getRoleCatalogue(orgId)).roles.some((r) => r.key === key)) throw ApiError.notFound(`Role ${JSON.stringify(key)} is not defined`);
    await store.updateRoleCatalogue(orgId, { remove: [key] });
    return reply.code(204).send();
  });

  org.get<OrgParams>('/role-mappings', { config: { query: ['limit', 'after'] } }, async (request, reply) => {
    const limit = limitParam(request, DEFAULT_LIMIT, MAX_LIMIT);
    const after = queryParam(request, 'after');
    const page = await store.listRoleMappings(organizationOf(request).id, { limit, ...(after !== undefined && after !== '' && { after }) });
    return sendJson(reply, 200, listJson(page.mappings.map(mappingJson), page.next));
  });

  org.post<OrgParams>('/role-mappings', async (request, reply) => {
    const body = objectBody(request);
    onlyFields(body, ['group', 'roles']);
    const mapping = await store.createRoleMapping(organizationOf(request).id, { group: groupField(body), roles: rolesField(body) });
    return sendJson(reply, 201, mappingJson(mapping));
  });

  org.get<IdParams>('/role-mappings/:id', async (request, reply) => {
    const mapping = await store.getRoleMapping(organizationOf(request).id, request.params.id);
    if (!mapping) throw ApiError.notFound(`Mapping rule ${JSON.stringify(request.params.id)} not found`);
    return sendJson(reply, 200, mappingJson(mapping));
  });

  org.patch<IdParams>('/role-mappings/:id', async (request, reply) => {
    const body = objectBody(request);
    onlyFields(body, ['roles']);
    const mapping = await store.updateRoleMapping(organizationOf(request).id, request.params.id, { roles: rolesField(body) });
    return sendJson(reply, 200, mappingJson(mapping));
  });

  org.delete<IdParams>('/role-mappings/:id', async (request, reply) => {
    await store.deleteRoleMapping(organizationOf(request).id, request.params.id);
    return reply.code(204).send();
  });
}
