/**
 * Setup links: an operator creates an expiring, revocable link for one organization and sends it to the customer's
 * IT admin, who opens the setup page (/admin/setup) with it: no account, and nothing beyond that page.
 *
 * Operators (a key or a session): `GET`, `POST /organizations/{org_id}/setup-links` (the link's URL, with its secret,
 * is in the creation's answer only) and `DELETE .../setup-links/{link_id}` (revoke).
 *
 * The setup page (`Authorization: Bearer ssl_...`, the link's secret, which the page takes from the URL fragment):
 * `GET /setup` (the organization's name and SCIM base URL, whether the IdP's first request arrived, recent errors in
 * plain words) and `POST /setup/token` (a read-write SCIM token, shown once; the link's earlier token is revoked).
 * A link reaches these two routes and nothing else, for its own organization only.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { RequestLogRecord, SetupLink } from '../../store/types.ts';
import { requestOrigin } from '../auth.ts';
import { ApiError, listJson, objectBody, organizationOf, sendJson } from './index.ts';
import type { ManagementContext } from './index.ts';
import { scimBaseUrl } from './organizations.ts';
import { principalOf } from './session.ts';

export const DEFAULT_LINK_HOURS = 72;
export const MAX_LINK_HOURS = 30 * 24;
const RECENT_ERRORS = 10;

function linkJson(link: SetupLink): Record<string, unknown> {
  return {
    id: link.id,
    created_at: link.created,
    expires_at: link.expires,
    revoked_at: link.revoked,
    token_id: link.tokenId,
    first_request_at: link.firstRequest,
  };
}

/** The setup page's address for a link: the secret goes in the fragment, which browsers never send to a server. */
export function setupUrl(request: FastifyRequest, publicUrl: string | undefined, secret: string): string {
  return `${requestOrigin(request, publicUrl)}/admin/setup#${secret}`;
}

/** What an error the IdP met means, and what to do about it, for an IT admin who is not a SCIM expert. */
export function explainError(entry: Pick<RequestLogRecord, 'status' | 'scimType' | 'detail'>, baseUrl: string): string {
  const detail = entry.detail ?? '';
  switch (entry.status) {
    case 401:
      if (/expired/i.test(detail)) return 'The token has expired. Create a new token on this page and paste it into your identity provider.';
      if (/required|send Authorization/i.test(detail)) return 'Your identity provider sent no token. Set its authentication to a bearer token (HTTP header) and paste the token from this page.';
      return 'The token your identity provider sent is not valid: it was mistyped, replaced or revoked. Create a new token on this page and paste it again.';
    case 403:
      return 'The token cannot do this: it belongs to another organization, or it is read-only. Paste the token made on this page, and check the base URL.';
    case 404:
      if (/^No endpoint/i.test(detail)) return `The address is wrong. The base URL must be exactly ${baseUrl}, with nothing added after it.`;
      return 'Your identity provider asked for a user or group that no longer exists here. It usually recovers on its own on its next run.';
    case 409:
      return 'A user or group with the same name already exists here. Your identity provider should match it instead of creating a new one: check which attribute it matches users on (userName).';
    case 413:
      return 'A request was too large for the server. Ask your identity provider to send fewer changes at a time.';
    case 415:
      return 'The request was not sent as JSON. Check that the connection uses SCIM 2.0.';
    case 429:
      return 'Your identity provider sent requests faster than this organization allows. It waits and tries again on its own; if this happens often, ask for a higher limit.';
    default:
      if (entry.status >= 500) return 'The server could not answer this request. Tell the people who sent you this link, with the time it happened.';
      return `Your identity provider sent something the server could not accept${entry.scimType ? ` (${entry.scimType})` : ''}: ${detail || 'no detail given'}. Check its attribute mappings.`;
  }
}

/** The operator's routes, under `/organizations/{org_id}`. */
export function registerSetupLinkRoutes(org: FastifyInstance, context: ManagementContext): void {
  const { store } = context;

  org.get('/setup-links', async (request, reply) => {
    const links = await store.listSetupLinks(organizationOf(request).id);
    return sendJson(reply, 200, listJson(links.map(linkJson), null));
  });

  org.post('/setup-links', async (request, reply) => {
    const body = objectBody(request);
    for (const key of Object.keys(body)) if (key !== 'expires_in_hours') throw ApiError.badRequest('invalid_field', `Unknown field ${JSON.stringify(key)}; known: expires_in_hours`);
    const hours = body.expires_in_hours ?? DEFAULT_LINK_HOURS;
    if (typeof hours !== 'number' || !Number.isInteger(hours) || hours < 1 || hours > MAX_LINK_HOURS) {
      throw ApiError.badRequest('invalid_expiry', `"expires_in_hours" must be a whole number from 1 to ${MAX_LINK_HOURS}`);
    }
    const made = await store.createSetupLink(organizationOf(request).id, new Date(Date.now() + hours * 3_600_000).toISOString());
    return sendJson(reply, 201, { ...linkJson(made.link), url: setupUrl(request, context.publicUrl, made.secret) });
  });

  org.delete<{ Params: { orgId: string; linkId: string } }>('/setup-links/:linkId', async (request, reply) => {
    const orgId = organizationOf(request).id;
    const link = await store.getSetupLink(orgId, request.params.linkId);
    if (!link) throw ApiError.notFound(`Setup link ${JSON.stringify(request.params.linkId)} not found`);
    if (link.revoked === null) await store.revokeSetupLink(orgId, link.id);
    return reply.code(204).send();
  });
}

/** The setup page's routes, which take a setup link and nothing else. */
export function registerSetupRoutes(api: FastifyInstance, context: ManagementContext): void {
  const { store } = context;
  const linkOf = (request: FastifyRequest): SetupLink => {
    const principal = principalOf(request);
    if (principal.kind !== 'setup-link') throw new Error('a setup route ran without a setup link');
    return principal.link;
  };

  api.get('/setup', { config: { managementAccess: 'setup-link' } }, async (request, reply) => {
    const link = linkOf(request);
    const org = await store.getOrganization(link.orgId);
    if (!org) throw new ApiError(410, 'gone', 'The organization no longer exists');
    const baseUrl = scimBaseUrl(request, context.publicUrl, org.id);
    const token = link.tokenId === null ? undefined : (await store.listTokens(org.id)).find((t) => t.id === link.tokenId);
    const errors = await store.listRequestLog(org.id, { status: { kind: 'range', from: 400, to: 600 }, since: link.created, limit: RECENT_ERRORS });
    return sendJson(reply, 200, {
      organization: { id: org.id, name: org.name },
      scim_base_url: baseUrl,
      expires_at: link.expires,
      token: token ? { id: token.id, created_at: token.created, revoked: token.revoked !== null } : null,
      connected: link.firstRequest !== null,
      first_request_at: link.firstRequest,
      last_request_at: token?.lastUsed ?? null,
      recent_errors: errors.map((e) => ({
        at: e.at,
        method: e.method,
        path: e.path.split('?')[0],
        status: e.status,
        scim_type: e.scimType,
        detail: e.detail,
        explanation: explainError(e, baseUrl),
      })),
    });
  });

  api.post('/setup/token', { config: { managementAccess: 'setup-link' } }, async (request, reply) => {
    const made = await store.createSetupLinkToken(linkOf(request).id);
    return sendJson(reply, 201, { id: made.token.id, token: made.secret, created_at: made.token.created });
  });
}
