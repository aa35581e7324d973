/**
 * Provider profiles: where each known SCIM API lives. Everything else (paging, filters, rate-limit headers, error
 * bodies) is discovered or read tolerantly at run time, so one client serves all of them.
 */

export type ProviderKind = 'contentful' | 'contentstack' | 'scim';

export const CONTENTSTACK_REGIONS = ['aws-na', 'aws-eu', 'aws-au', 'azure-na', 'azure-eu', 'gcp-na', 'gcp-eu'] as const;
export type ContentstackRegion = (typeof CONTENTSTACK_REGIONS)[number];

const CONTENTSTACK_HOSTS: Readonly<Record<ContentstackRegion, string>> = {
  'aws-na': 'auth-api.contentstack.com',
  'aws-eu': 'eu-auth-api.contentstack.com',
  'aws-au': 'au-auth-api.contentstack.com',
  'azure-na': 'azure-na-auth-api.contentstack.com',
  'azure-eu': 'azure-eu-auth-api.contentstack.com',
  'gcp-na': 'gcp-na-auth-api.contentstack.com',
  'gcp-eu': 'gcp-eu-auth-api.contentstack.com',
};

export function contentstackHost(region: ContentstackRegion): string {
  return CONTENTSTACK_HOSTS[region];
}

/**
 * The SCIM base URL for a provider. `base_url` overrides the profile's; `{org_id}` inside it is replaced.
 * Returns the URL without a trailing slash, or a problem naming the key.
 */
export function resolveBaseUrl(
  provider: ProviderKind,
  region: ContentstackRegion | null,
  orgId: string | null,
  override: string | null,
): string | { problem: string } {
  const org = orgId === null ? null : encodeURIComponent(orgId);
  let url: string;
  if (override !== null) {
    if (override.includes('{org_id}')) {
      if (org === null) return { problem: 'base_url contains {org_id} but org_id is not set' };
      url = override.replaceAll('{org_id}', org);
    } else url = override;
  } else if (provider === 'contentful') {
    url = `https://api.contentful.com/scim/v2/organizations/${org}`;
  } else if (provider === 'contentstack') {
    url = `https://${contentstackHost(region ?? 'aws-na')}/scim/v2.0/organizations/${org}`;
  } else {
    return { problem: 'base_url is required when provider is scim' };
  }
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return { problem: 'base_url must be an absolute http:// or https:// URL' };
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') return { problem: 'base_url must be an absolute http:// or https:// URL' };
  if (parsed.username || parsed.password) return { problem: 'base_url must not carry credentials; put the token in bearer_token' };
  if (parsed.search || parsed.hash) return { problem: 'base_url must not have a query string or fragment' };
  return parsed.toString().replace(/\/+$/, '');
}
