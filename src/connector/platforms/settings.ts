/**
 * The connector's settings as the platforms show them: one list that the Airbyte spec and the Fivetran setup form
 * are both generated from. The values are checked by the same parseConfig as `scimkit sync`'s file (ranges and all),
 * so the platforms report the same errors. `destination`, `namespace` and `sync_frequency_hours` are left out: the
 * platform chooses where the records go and when a sync runs.
 */
import { DEFAULTS, parseConfig, type ConnectorConfig } from '../config.ts';
import { CONTENTSTACK_REGIONS } from '../providers.ts';

export type SettingKind = 'secret' | 'text' | 'integer' | 'number' | 'boolean' | 'choice';

export interface Setting {
  readonly key: string;
  readonly label: string;
  readonly description: string;
  readonly kind: SettingKind;
  readonly required?: boolean;
  readonly choices?: readonly string[];
  readonly default?: string | number | boolean;
}

/** Config keys the platforms do not offer (they decide these themselves: where the records go, and when). */
export const PLATFORM_OMITTED_KEYS = ['destination', 'namespace', 'sync_frequency_hours'] as const;

export const SETTINGS: readonly Setting[] = [
  { key: 'bearer_token', label: 'API token', description: 'The SCIM API token, sent as "Authorization: Bearer ...". It is never logged.', kind: 'secret', required: true },
  { key: 'provider', label: 'Provider', description: 'contentful and contentstack know their own URLs; scim needs base_url.', kind: 'choice', choices: ['contentful', 'contentstack', 'scim'], default: DEFAULTS.provider },
  { key: 'org_id', label: 'Organization id', description: 'The organization in the provider\'s URL (required for contentful and contentstack).', kind: 'text' },
  { key: 'region', label: 'Contentstack region', description: 'Only for provider contentstack.', kind: 'choice', choices: CONTENTSTACK_REGIONS, default: DEFAULTS.region },
  { key: 'base_url', label: 'SCIM base URL', description: 'Required for provider scim, an override for the others; {org_id} in it is replaced.', kind: 'text' },
  { key: 'initial_sync_days', label: 'Initial sync days', description: 'Limit the first sync to resources modified in this many days (when the server can filter by meta.lastModified). Empty: everything.', kind: 'integer' },
  { key: 'max_records_per_page', label: 'Records per page', description: 'The count asked for per page, 1 to 1000 (a server may cap it lower).', kind: 'integer', default: DEFAULTS.max_records_per_page },
  { key: 'request_timeout_seconds', label: 'Request timeout (seconds)', description: 'Timeout of each attempt, 10 to 60.', kind: 'number', default: DEFAULTS.request_timeout_seconds },
  { key: 'retry_attempts', label: 'Retry attempts', description: 'Retries after the first attempt of a request, 1 to 5.', kind: 'integer', default: DEFAULTS.retry_attempts },
  { key: 'enable_incremental_sync', label: 'Incremental sync', description: 'Read only what changed (by meta.lastModified) when the server can filter; off always scans in full.', kind: 'boolean', default: DEFAULTS.enable_incremental_sync },
  { key: 'enable_debug_logging', label: 'Debug logging', description: 'Log every request, retry and pacing decision (the token stays redacted).', kind: 'boolean', default: DEFAULTS.enable_debug_logging },
  { key: 'max_delete_share', label: 'Largest share deleted per run', description: 'A run that would delete more than this share of a table\'s rows (0 to 1) stops instead; set 1 for one run to let a real mass removal through.', kind: 'number', default: DEFAULTS.max_delete_share },
  { key: 'rate_limit_share', label: 'Share of the rate limit', description: 'Share of the source\'s announced rate limit this connector uses (0.05 to 1); the rest is left to other clients.', kind: 'number', default: DEFAULTS.rate_limit_share },
  { key: 'max_response_mb', label: 'Largest response (MiB)', description: 'A larger response body fails the run (1 to 512).', kind: 'number', default: DEFAULTS.max_response_mb },
];

/**
 * A platform's settings as a connector config. Platforms send unset fields as empty strings (and every value as a
 * string): those count as absent, so the defaults apply, exactly as a key left out of `scimkit sync`'s file.
 */
export function platformConfig(values: Readonly<Record<string, unknown>>): ConnectorConfig {
  const present: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
  for (const [k, v] of Object.entries(values)) if (v !== '' && v !== null && v !== undefined) present[k] = v;
  return parseConfig(present);
}
