/**
 * Organizations, their settings and their SCIM tokens in the management API (docs/console.md lists the routes):
 *
 * - `GET /organizations`, `POST /organizations` (a key for every organization, or an operator), `GET` and `PATCH
 *   /organizations/{org_id}` (name, rate limits, compatibility switches, unknown-attribute policy, pagination);
 * - `GET /settings`: every organization setting with its type, default and a one-line explanation;
 * - `GET`, `POST /organizations/{org_id}/tokens` and `DELETE .../tokens/{token_id}` (revoke). A token's secret is in
 *   the answer to its creation only.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { NORMALIZERS, validateCompatSettings } from '../../scim/patch/index.ts';
import { parseScimDateTime } from '../../scim/filter/index.ts';
import { UNKNOWN_ATTRIBUTE_POLICIES } from '../../scim/schema/registry.ts';
import type { UnknownAttributePolicy } from '../../scim/schema/registry.ts';
import type { ApiToken, Organization, OrgSettings, TokenScope } from '../../store/types.ts';
import { requestOrigin } from '../auth.ts';
import { ApiError, listJson, objectBody, organizationOf, scimToApi, sendJson } from './index.ts';
import type { ManagementContext } from './index.ts';
import { organizationScope, principalOf } from './session.ts';

const LIMIT_MAX = 1_000_000;

/** The SCIM base URL an IdP is given for an organization. */
export function scimBaseUrl(request: FastifyRequest, publicUrl: string | undefined, orgId: string): string {
  return `${requestOrigin(request, publicUrl)}/scim/v2/organizations/${encodeURIComponent(orgId)}`;
}

/** Every compatibility switch with its value for the organization (a switch not set has its default). */
function effectiveCompat(settings: OrgSettings): Record<string, boolean> {
  const out: Record<string, boolean> = {};
  for (const n of NORMALIZERS) out[n.name] = Object.hasOwn(settings.compat, n.name) ? settings.compat[n.name] === true : n.enabledByDefault;
  return out;
}

export function organizationJson(org: Organization, baseUrl: string): Record<string, unknown> {
  return {
    id: org.id,
    name: org.name,
    created_at: org.created,
    scim_base_url: baseUrl,
    settings: {
      read_limit: org.settings.readLimit,
      write_limit: org.settings.writeLimit,
      compat: effectiveCompat(org.settings),
      unknown_attributes: org.settings.unknownAttributes,
      advertise_pagination: org.settings.advertisePagination,
    },
  };
}

interface SettingDescription {
  readonly key: string;
  readonly label: string;
  readonly kind: 'integer' | 'boolean' | 'choice';
  /** One line. */
  readonly description: string;
  /** More, where there is more to say (a compatibility switch: what exactly the IdP sends and what it becomes). */
  readonly details?: string;
  readonly default: number | boolean | string;
  readonly min?: number;
  readonly max?: number;
  readonly choices?: readonly string[];
}

/** The settings an organization has, each explained in one line (the console's settings form is built from it). */
export const SETTINGS: readonly SettingDescription[] = [
  {
    key: 'read_limit',
    label: 'Read limit (requests per second)',
    kind: 'integer',
    min: 1,
    max: LIMIT_MAX,
    default: 10,
    description: 'GET requests and searches per second; past it the identity provider gets 429 with Retry-After and tries again.',
  },
  {
    key: 'write_limit',
    label: 'Write limit (requests per second)',
    kind: 'integer',
    min: 1,
    max: LIMIT_MAX,
    default: 10,
    description: 'POST, PUT, PATCH, DELETE and Bulk requests per second; past it the identity provider gets 429 with Retry-After.',
  },
  {
    key: 'unknown_attributes',
    label: 'Attributes no schema defines',
    kind: 'choice',
    choices: UNKNOWN_ATTRIBUTE_POLICIES,
    default: 'ignore',
    description: 'ignore drops them and logs it (what most IdPs expect), reject answers 400, keep stores and returns them as sent.',
  },
  {
    key: 'advertise_pagination',
    label: 'Advertise cursor paging',
    kind: 'boolean',
    default: false,
    description: 'Lists RFC 9865 cursor paging in /ServiceProviderConfig. Cursors work either way; strict RFC 7643 clients refuse the extra member.',
  },
  ...NORMALIZERS.map(
    (n): SettingDescription => ({
      key: `compat.${n.name}`,
      label: n.name,
      kind: 'boolean',
      default: n.enabledByDefault,
      description: n.summary,
      details: n.description,
    }),
  ),
];

const SETTING_FIELDS = new Set(['name', 'read_limit', 'write_limit', 'compat', 'unknown_attributes', 'advertise_pagination']);

/** The settings in a PATCH or POST body (absent fields stay as they are); 400 for a field this API does not know. */
function settingsFrom(body: Record<string, unknown>, allowed: ReadonlySet<string>): Partial<OrgSettings> {
  for (const key of Object.keys(body)) if (!allowed.has(key)) throw ApiError.badRequest('invalid_field', `Unknown field ${JSON.stringify(key)}; known: ${[...allowed].join(', ')}`);
  const limit = (name: string): number | undefined => {
    const value = body[name];
    if (value === undefined) return undefined;
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > LIMIT_MAX) {
      throw ApiError.badRequest('invalid_limit', `"${name}" must be a whole number from 1 to ${LIMIT_MAX.toLocaleString('en')}`);
    }
    return value;
  };
  const settings: { -readonly [K in keyof OrgSettings]?: OrgSettings[K] } = {};
  const readLimit = limit('read_limit');
  const writeLimit = limit('write_limit');
  if (readLimit !== undefined) settings.readLimit = readLimit;
  if (writeLimit !== undefined) settings.writeLimit = writeLimit;
  if (body.compat !== undefined) {
    try {
      validateCompatSettings(body.compat);
    } catch (err) {
      throw scimToApi(err);
    }
    settings.compat = body.compat as Record<string, boolean>;
  }
  if (body.unknown_attributes !== undefined) {
    if (typeof body.unknown_attributes !== 'string' || !(UNKNOWN_ATTRIBUTE_POLICIES as readonly string[]).includes(body.unknown_attributes)) {
      throw ApiError.badRequest('invalid_field', `"unknown_attributes" must be one of ${UNKNOWN_ATTRIBUTE_POLICIES.join(', ')}`);
    }
    settings.unknownAttributes = body.unknown_attributes as UnknownAttributePolicy;
  }
  if (body.advertise_pagination !== undefined) {
    if (typeof body.advertise_pagination !== 'boolean') throw ApiError.badRequest('invalid_field', '"advertise_pagination" must be true or false');
    settings.advertisePagination = body.advertise_pagination;
  }
  return settings;
}

function nameFrom(body: Record<string, unknown>): string | undefined {
  if (body.name === undefined) return undefined;
  if (typeof body.name !== 'string' || body.name.trim() === '') throw ApiError.badRequest('invalid_name', '"name" must be non-empty text');
  return body.name;
}

/** `GET /settings`, `GET` and `POST /organizations`. */
export function registerOrganizationRootRoutes(api: FastifyInstance, context: ManagementContext): void {
  const { store } = context;

  api.get('/settings', async (_request, reply) => sendJson(reply, 200, listJson(SETTINGS, null)));

  api.get('/organizations', async (request, reply) => {
    const scope = organizationScope(principalOf(request));
    const all = await store.listOrganizations();
    const visible = scope === null ? all : all.filter((org) => org.id === scope);
    return sendJson(reply, 200, listJson(visible.map((org) => organizationJson(org, scimBaseUrl(request, context.publicUrl, org.id))), null));
  });

  api.post('/organizations', async (request, reply) => {
    if (organizationScope(principalOf(request)) !== null) throw new ApiError(403, 'forbidden', 'Only a management key for every organization, or an operator, can create organizations');
    const body = objectBody(request);
    const name = nameFrom(body);
    if (name === undefined) throw ApiError.badRequest('invalid_name', 'Send the organization\'s "name"');
    const settings = settingsFrom(body, SETTING_FIELDS);
    let org: Organization;
    try {
      org = await store.createOrganization(name, settings);
    } catch (err) {
      throw scimToApi(err);
    }
    return sendJson(reply, 201, organizationJson(org, scimBaseUrl(request, context.publicUrl, org.id)));
  });
}

/** `GET` and `PATCH /organizations/{org_id}`. */
export function registerOrganizationRoutes(org: FastifyInstance, context: ManagementContext): void {
  const { store } = context;

  org.get('/', async (request, reply) => {
    const found = organizationOf(request);
    const counts = await store.organizationCounts(found.id);
    return sendJson(reply, 200, { ...organizationJson(found, scimBaseUrl(request, context.publicUrl, found.id)), counts });
  });

  org.patch('/', async (request, reply) => {
    const current = organizationOf(request);
    const body = objectBody(request);
    const name = nameFrom(body);
    const settings = settingsFrom(body, SETTING_FIELDS);
    let updated = current;
    try {
      if (Object.keys(settings).length > 0) updated = await store.updateOrganization(current.id, settings);
      if (name !== undefined && name !== current.name) updated = await store.renameOrganization(current.id, name);
    } catch (err) {
      throw scimToApi(err);
    }
    return sendJson(reply, 200, organizationJson(updated, scimBaseUrl(request, context.publicUrl, updated.id)));
  });
}

function tokenJson(token: ApiToken, setupLinkId: string | null): Record<string, unknown> {
  return {
    id: token.id,
    scope: token.scope,
    user_id: token.userId,
    created_at: token.created,
    revoked_at: token.revoked,
    expires_at: token.expires,
    last_used_at: token.lastUsed,
    setup_link_id: setupLinkId,
  };
}

/**
 * `expires_at` in the form the store keeps times (2027-01-31T12:00:00.000Z), from any ISO 8601 date-time: with Z, an
 * offset, or neither (UTC, as in SCIM), with or without fractions of a second.
 */
function expiryFrom(value: unknown): string | null {
  if (value === undefined || value === null) return null;
  const at = typeof value === 'string' ? parseScimDateTime(value.trim()) : undefined;
  if (at === undefined) throw ApiError.badRequest('invalid_field', '"expires_at" must be an ISO 8601 time such as 2027-01-31T12:00:00Z');
  return new Date(at).toISOString();
}

function scopeFrom(value: unknown): TokenScope {
  if (value === undefined || value === 'read-write' || value === 'write') return 'read-write';
  if (value === 'read') return 'read';
  throw ApiError.badRequest('invalid_scope', '"scope" must be "read" or "read-write"');
}

/** `GET`, `POST /organizations/{org_id}/tokens` and `DELETE .../tokens/{token_id}`. */
export function registerTokenRoutes(org: FastifyInstance, context: ManagementContext): void {
  const { store } = context;

  org.get('/tokens', async (request, reply) => {
    const orgId = organizationOf(request).id;
    const [tokens, links] = await Promise.all([store.listTokens(orgId), store.listSetupLinks(orgId)]);
    const linkOf = new Map(links.filter((l) => l.tokenId !== null).map((l) => [l.tokenId as string, l.id]));
    return sendJson(reply, 200, listJson(tokens.map((t) => tokenJson(t, linkOf.get(t.id) ?? null)), null));
  });

  org.post('/tokens', async (request, reply) => {
    const body = objectBody(request);
    for (const key of Object.keys(body)) {
      if (key !== 'scope' && key !== 'user_id' && key !== 'expires_at') throw ApiError.badRequest('invalid_field', `Unknown field ${JSON.stringify(key)}; known: scope, user_id, expires_at`);
    }
    if (body.user_id !== undefined && body.user_id !== null && typeof body.user_id !== 'string') throw ApiError.badRequest('invalid_field', '"user_id" must be a User id');
    const expires = expiryFrom(body.expires_at);
    try {
      const made = await store.createToken(organizationOf(request).id, {
        scope: scopeFrom(body.scope),
        userId: (body.user_id as string | null | undefined) ?? null,
        expires,
      });
      return sendJson(reply, 201, { ...tokenJson(made.token, null), token: made.secret });
    } catch (err) {
      throw scimToApi(err);
    }
  });

  org.delete<{ Params: { orgId: string; tokenId: string } }>('/tokens/:tokenId', async (request, reply) => {
    const orgId = organizationOf(request).id;
    const token = (await store.listTokens(orgId)).find((t) => t.id === request.params.tokenId);
    if (!token) throw ApiError.notFound(`Token ${JSON.stringify(request.params.tokenId)} not found`);
    if (token.revoked === null) await store.revokeToken(token.id);
    return reply.code(204).send();
  });
}
