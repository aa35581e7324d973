/**
 * The organization-scoped SCIM endpoints (RFC 7644 section 3): Users, Groups, /Me, root and per-type .search,
 * and the discovery endpoints. Registered once per base path prefix; auth runs before every route (auth.ts).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest, HTTPMethods } from 'fastify';
import { ScimError } from '../scim/errors.ts';
import { resourceTypeResource, schemaResource, serviceProviderConfig } from '../scim/discovery.ts';
import type { ServiceProviderFeatures } from '../scim/discovery.ts';
import { parseListQuery, parseSearchRequest, listResponse } from '../scim/list.ts';
import type { ListLimits } from '../scim/list.ts';
import { filterParseOptions } from '../scim/patch/index.ts';
import { parseAttributeList } from '../scim/projection.ts';
import type { ResourceKind } from '../store/types.ts';
import type { ScimRequestState } from './auth.ts';
import { parseEtagCondition, tagMatches } from './etag.ts';
import { sendScim } from './http.ts';
import {
  createResource,
  deleteResource,
  getResource,
  listResources,
  patchResource,
  replaceResource,
  searchAll,
} from './resources.ts';
import type { ResourceContext, ResourceView, ServedResource } from './resources.ts';

export interface RouteOptions {
  readonly listLimits: ListLimits;
  readonly features: ServiceProviderFeatures;
}

type Params = Record<string, string>;

function state(request: FastifyRequest): ScimRequestState {
  // The auth hook sets it before any route runs; its absence is a wiring bug, not a client error.
  if (!request.scim) throw new Error('request reached a SCIM route without authentication');
  return request.scim;
}

function ctxOf(request: FastifyRequest): ResourceContext {
  return state(request).ctx;
}

/** `attributes` / `excludedAttributes` from the query string, parameter names matched case-insensitively. */
function viewFromQuery(query: unknown): ResourceView {
  let attributes: string[] = [];
  let excludedAttributes: string[] = [];
  if (query && typeof query === 'object') {
    for (const [name, value] of Object.entries(query as Record<string, unknown>)) {
      const lower = name.toLowerCase();
      if (lower !== 'attributes' && lower !== 'excludedattributes') continue;
      if (typeof value !== 'string' && !(Array.isArray(value) && value.every((v) => typeof v === 'string'))) {
        throw ScimError.invalidValue(`Parameter "${name}" must be a comma-separated list of attribute paths`);
      }
      const paths = parseAttributeList(value as string | string[]);
      if (lower === 'attributes') attributes = attributes.concat(paths);
      else excludedAttributes = excludedAttributes.concat(paths);
    }
  }
  return { attributes, excludedAttributes };
}

function hasView(view: ResourceView): boolean {
  return (view.attributes?.length ?? 0) > 0 || (view.excludedAttributes?.length ?? 0) > 0;
}

function requireBody(body: unknown, what: string): unknown {
  if (body === undefined) throw ScimError.invalidSyntax(`The request needs a JSON body: ${what}`);
  return body;
}

function sendResource(reply: FastifyReply, status: number, served: ServedResource): FastifyReply {
  reply.header('etag', served.etag);
  if (status === 201) reply.header('location', served.location);
  return sendScim(reply, status, served.body);
}

function ifMatch(request: FastifyRequest) {
  return parseEtagCondition(request.headers['if-match']);
}

/** The user a token acts as for `/Me` (RFC 7644 section 3.11); 501 when the token is bound to none. */
function meId(request: FastifyRequest): string {
  const userId = state(request).token.userId;
  if (userId === null) throw ScimError.notImplemented('/Me is not available: this token is not bound to a User');
  return userId;
}

async function getOne(request: FastifyRequest, reply: FastifyReply, kind: ResourceKind, id: string): Promise<FastifyReply> {
  const served = await getResource(ctxOf(request), kind, id, viewFromQuery(request.query));
  const ifNoneMatch = parseEtagCondition(request.headers['if-none-match']);
  if (ifNoneMatch && tagMatches(ifNoneMatch, served.etag)) {
    return reply.code(304).header('etag', served.etag).send();
  }
  return sendResource(reply, 200, served);
}

async function replaceOne(request: FastifyRequest, reply: FastifyReply, kind: ResourceKind, id: string): Promise<FastifyReply> {
  const body = requireBody(request.body, `a ${kind} resource`);
  const served = await replaceResource(ctxOf(request), kind, id, body, ifMatch(request), viewFromQuery(request.query));
  return sendResource(reply, 200, served);
}

/**
 * PATCH answers 200 with the resource. A Group PATCH without `attributes`/`excludedAttributes` answers 204
 * (RFC 7644 section 3.5.2 allows either), so adding one member never loads a large group's member list.
 */
async function patchOne(request: FastifyRequest, reply: FastifyReply, kind: ResourceKind, id: string): Promise<FastifyReply> {
  const body = requireBody(request.body, 'a PatchOp message');
  const requested = viewFromQuery(request.query);
  const silent = kind === 'Group' && !hasView(requested);
  const view = silent ? { excludedAttributes: ['members'] } : requested;
  const served = await patchResource(ctxOf(request), kind, id, body, ifMatch(request), view);
  if (silent) return reply.code(204).header('etag', served.etag).send();
  return sendResource(reply, 200, served);
}

async function deleteOne(request: FastifyRequest, reply: FastifyReply, kind: ResourceKind, id: string): Promise<FastifyReply> {
  await deleteResource(ctxOf(request), kind, id, ifMatch(request));
  return reply.code(204).send();
}

/** RFC 7644 section 4: a filter on a discovery endpoint SHOULD get 403, so that no client mistakes the full list for a filtered one. */
async function refuseFilter(request: FastifyRequest): Promise<void> {
  const names = Object.keys((request.query as Record<string, unknown> | undefined) ?? {});
  if (names.some((name) => name.toLowerCase() === 'filter')) throw ScimError.forbidden('Discovery endpoints do not support filter');
}

const ALL_METHODS: HTTPMethods[] = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'TRACE'];

/** Answers methods a known endpoint does not support with 501 (RFC 7644 section 3.12), naming what it does support. */
export function unsupportedMethods(app: FastifyInstance, url: string, supported: HTTPMethods[], config?: { meAlias: boolean }): void {
  const others = ALL_METHODS.filter((m) => !supported.includes(m));
  if (others.length === 0) return;
  app.route({
    method: others,
    url,
    ...(config && { config }),
    handler: async (request) => {
      throw ScimError.notImplemented(`${request.method} is not supported on this endpoint; it supports ${supported.join(', ')}`);
    },
  });
}

export function registerScimRoutes(app: FastifyInstance, options: RouteOptions): void {
  const { listLimits, features } = options;
  const read = { access: 'read' as const };

  for (const kind of ['User', 'Group'] as const) {
    const endpoint = kind === 'User' ? '/Users' : '/Groups';
    app.get(endpoint, { config: read }, async (request, reply) => {
      const ctx = ctxOf(request);
      const query = parseListQuery(request.query as Record<string, unknown>, listLimits, filterParseOptions(ctx.compat));
      return sendScim(reply, 200, await listResources(ctx, kind, query));
    });
    app.post(endpoint, async (request, reply) => {
      const body = requireBody(request.body, `a ${kind} resource`);
      const served = await createResource(ctxOf(request), kind, body, viewFromQuery(request.query));
      return sendResource(reply, 201, served);
    });
    app.post(`${endpoint}/.search`, { config: read }, async (request, reply) => {
      const ctx = ctxOf(request);
      const query = parseSearchRequest(requireBody(request.body, 'a SearchRequest'), listLimits, filterParseOptions(ctx.compat));
      return sendScim(reply, 200, await listResources(ctx, kind, query));
    });
    app.get(`${endpoint}/:id`, { config: read }, async (request, reply) => getOne(request, reply, kind, (request.params as Params).id));
    app.put(`${endpoint}/:id`, async (request, reply) => replaceOne(request, reply, kind, (request.params as Params).id));
    app.patch(`${endpoint}/:id`, async (request, reply) => patchOne(request, reply, kind, (request.params as Params).id));
    app.delete(`${endpoint}/:id`, async (request, reply) => deleteOne(request, reply, kind, (request.params as Params).id));
    unsupportedMethods(app, endpoint, ['GET', 'POST']);
    unsupportedMethods(app, `${endpoint}/.search`, ['POST']);
    unsupportedMethods(app, `${endpoint}/:id`, ['GET', 'PUT', 'PATCH', 'DELETE']);
  }

  app.post('/.search', { config: read }, async (request, reply) => {
    const ctx = ctxOf(request);
    const query = parseSearchRequest(requireBody(request.body, 'a SearchRequest'), listLimits, filterParseOptions(ctx.compat));
    return sendScim(reply, 200, await searchAll(ctx, query));
  });
  unsupportedMethods(app, '/.search', ['POST']);

  // The only routes a token bound to a User reaches (auth.ts).
  const me = { meAlias: true };
  app.get('/Me', { config: { ...read, ...me } }, async (request, reply) => getOne(request, reply, 'User', meId(request)));
  app.put('/Me', { config: me }, async (request, reply) => replaceOne(request, reply, 'User', meId(request)));
  app.patch('/Me', { config: me }, async (request, reply) => patchOne(request, reply, 'User', meId(request)));
  app.delete('/Me', { config: me }, async (request, reply) => deleteOne(request, reply, 'User', meId(request)));
  unsupportedMethods(app, '/Me', ['GET', 'PUT', 'PATCH', 'DELETE'], me);

  // Discovery (RFC 7644 section 4), from the organization's schemas. Authenticated like everything else under it.
  const discovery = { config: read, preHandler: refuseFilter };
  app.get('/ServiceProviderConfig', discovery, async (request, reply) => {
    const ctx = ctxOf(request);
    // RFC 9865 cursors always work; whether the document names them is the organization's choice (strict RFC 7643
    // clients refuse the unknown member, see docs/compatibility.md).
    const cursorPaging = features.cursorPaging === true && ctx.org.settings.advertisePagination;
    return sendScim(reply, 200, serviceProviderConfig({ ...features, cursorPaging, location: `${ctx.baseUrl}/ServiceProviderConfig` }));
  });
  app.get('/Schemas', discovery, async (request, reply) => {
    const ctx = ctxOf(request);
    const resources = ctx.schemas.schemas.map((s) => schemaResource(s, `${ctx.baseUrl}/Schemas/${s.id}`));
    return sendScim(reply, 200, listResponse(resources, { totalResults: resources.length, startIndex: 1 }));
  });
  app.get('/Schemas/:id', discovery, async (request, reply) => {
    const ctx = ctxOf(request);
    const id = (request.params as Params).id;
    const def = ctx.schemas.schemas.find((s) => s.id.toLowerCase() === id.toLowerCase());
    if (!def) throw ScimError.notFound(`Schema ${JSON.stringify(id)} not found`);
    return sendScim(reply, 200, schemaResource(def, `${ctx.baseUrl}/Schemas/${def.id}`));
  });
  app.get('/ResourceTypes', discovery, async (request, reply) => {
    const ctx = ctxOf(request);
    const resources = ctx.schemas.resourceTypes.map((rt) => resourceTypeResource(rt, `${ctx.baseUrl}/ResourceTypes/${rt.id}`));
    return sendScim(reply, 200, listResponse(resources, { totalResults: resources.length, startIndex: 1 }));
  });
  app.get('/ResourceTypes/:name', discovery, async (request, reply) => {
    const ctx = ctxOf(request);
    const name = (request.params as Params).name;
    const rt = ctx.schemas.resourceTypes.find((r) => r.id.toLowerCase() === name.toLowerCase() || r.name.toLowerCase() === name.toLowerCase());
    if (!rt) throw ScimError.notFound(`ResourceType ${JSON.stringify(name)} not found`);
    return sendScim(reply, 200, resourceTypeResource(rt, `${ctx.baseUrl}/ResourceTypes/${rt.id}`));
  });
  for (const url of ['/ServiceProviderConfig', '/Schemas', '/Schemas/:id', '/ResourceTypes', '/ResourceTypes/:name']) {
    unsupportedMethods(app, url, ['GET']);
  }
}
