/**
 * Connector configuration: a JSON file with the keys of the published Contentful SCIM connector example plus
 * `provider`, `region`, `base_url`, `destination`, `namespace`, `max_delete_share`, `rate_limit_share` and
 * `max_response_mb`. Connector platforms pass every value as a
 * string, so numbers and booleans are accepted in either form. Anything unknown, mistyped or out of range is an
 * error naming the key and its allowed values: nothing silently falls back to a default.
 */
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { isForbiddenKey } from '../scim/schema/registry.ts';
import { filePathOf, maskPassword, parseDatabaseUrl, type DatabaseUrl } from '../sql/url.ts';
import { NAMESPACE_PATTERN } from './destination/schema.ts';
import { CONTENTSTACK_REGIONS, type ContentstackRegion, type ProviderKind, resolveBaseUrl } from './providers.ts';

export interface ConnectorConfig {
  readonly bearerToken: string;
  readonly orgId: string | null;
  readonly syncFrequencyHours: number;
  /** First sync limited to resources modified in this many days (when the server can filter); null means everything. */
  readonly initialSyncDays: number | null;
  readonly maxRecordsPerPage: number;
  readonly requestTimeoutSeconds: number;
  /** Retries after the first attempt of each request. */
  readonly retryAttempts: number;
  readonly enableIncrementalSync: boolean;
  readonly enableDebugLogging: boolean;
  readonly provider: ProviderKind;
  readonly region: ContentstackRegion | null;
  /** The SCIM base URL every endpoint path is appended to (no trailing slash). */
  readonly baseUrl: string;
  readonly destination: DestinationUrl;
  /** Largest share of a table's live rows one run may soft-delete without `--allow-mass-delete`. */
  readonly maxDeleteShare: number;
  /** Share of the source's announced rate limit the connector may use; the rest is left to other clients. */
  readonly rateLimitShare: number;
  /** Largest response body read, in MiB; a larger one fails the run (nothing is written from it). */
  readonly maxResponseMb: number;
  /**
   * Keeps this source's tables apart from others in the same database: a table prefix in SQLite, a schema in
   * PostgreSQL. Null: the plain table names.
   */
  readonly namespace: string | null;
}

/** Where the rows go: the databases the store also reads (src/sql/url.ts), or a DuckDB file (the connector's alone). */
export type DestinationUrl = DatabaseUrl | { readonly kind: 'duckdb'; readonly path: string };

/** All problems found in a config, reported together. The CLI exits with code 2 on it. */
export class ConfigError extends Error {
  readonly problems: readonly string[];
  constructor(problems: readonly string[]) {
    super(problems.length === 1 ? `invalid config: ${problems[0]}` : `invalid config:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

export const DEFAULTS = {
  sync_frequency_hours: 24,
  max_records_per_page: 100,
  request_timeout_seconds: 30,
  retry_attempts: 3,
  enable_incremental_sync: true,
  enable_debug_logging: false,
  provider: 'contentful',
  region: 'aws-na',
  destination: 'sqlite:./warehouse.db',
  max_delete_share: 0.5,
  rate_limit_share: 0.8,
  max_response_mb: 128,
} as const;

/** Every key a config may hold (anything else is an error). */
export const CONFIG_KEYS = [
  'bearer_token', 'org_id', 'sync_frequency_hours', 'initial_sync_days', 'max_records_per_page', 'request_timeout_seconds',
  'retry_attempts', 'enable_incremental_sync', 'enable_debug_logging', 'provider', 'region', 'base_url', 'destination',
  'max_delete_share', 'rate_limit_share', 'max_response_mb', 'namespace',
] as const;

type Raw = Map<string, unknown>;

function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 60 ? `${value.slice(0, 60)}...` : value);
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return 'an object';
  return String(value);
}

/** A number given natively or as a decimal string. */
function toNumber(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) ? value : undefined;
  if (typeof value === 'string' && /^\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*$/.test(value)) return Number(value);
  return undefined;
}

function toBoolean(value: unknown): boolean | undefined {
  if (typeof value === 'boolean') return value;
  if (typeof value === 'string') {
    const v = value.trim().toLowerCase();
    if (v === 'true') return true;
    if (v === 'false') return false;
  }
  return undefined;
}

class Reader {
  readonly problems: string[] = [];
  constructor(private readonly raw: Raw) {}

  has(key: string): boolean {
    return this.raw.has(key) && this.raw.get(key) !== null && this.raw.get(key) !== '';
  }

  number(key: string, min: number, max: number, integer: boolean, fallback: number): number;
  number(key: string, min: number, max: number, integer: boolean, fallback: null): number | null;
  number(key: string, min: number, max: number, integer: boolean, fallback: number | null): number | null {
    if (!this.has(key)) return fallback;
    const value = this.raw.get(key);
    const n = toNumber(value);
    const kind = integer ? 'an integer' : 'a number';
    if (n === undefined || (integer && !Number.isInteger(n)) || n < min || n > max) {
      this.problems.push(`${key} must be ${kind} from ${min} to ${max} (got ${describe(value)})`);
      return fallback;
    }
    return n;
  }

  boolean(key: string, fallback: boolean): boolean {
    if (!this.has(key)) return fallback;
    const value = this.raw.get(key);
    const b = toBoolean(value);
    if (b === undefined) {
      this.problems.push(`${key} must be true or false (got ${describe(value)})`);
      return fallback;
    }
    return b;
  }

  /** `secret` keeps the value itself out of the message. */
  string(key: string, opts: { secret?: boolean } = {}): string | null {
    if (!this.raw.has(key) || this.raw.get(key) === null) return null;
    const value = this.raw.get(key);
    if (typeof value === 'number' && !opts.secret) return String(value);
    if (typeof value !== 'string') {
      this.problems.push(`${key} must be a string (got ${opts.secret ? typeof value : describe(value)})`);
      return null;
    }
    const trimmed = value.trim();
    if (trimmed === '') {
      this.problems.push(`${key} must not be empty`);
      return null;
    }
    return trimmed;
  }

  oneOf<T extends string>(key: string, allowed: readonly T[], fallback: T): T {
    const s = this.string(key);
    if (s === null) return fallback;
    const hit = allowed.find((a) => a === s.toLowerCase());
    if (!hit) {
      this.problems.push(`${key} must be one of ${allowed.join(', ')} (got ${describe(s)})`);
      return fallback;
    }
    return hit;
  }
}

/**
 * A file destination's path, as the process will open it: relative to the working directory. `~` means nothing
 * there (no shell reads the config), so a `~/...` path would quietly become a folder named `~` in the working
 * directory: refused, naming what to write instead.
 */
function checkFilePath(kind: 'sqlite' | 'duckdb', path: string, problems: string[]): void {
  if (path === '~' || path.startsWith('~/')) {
    problems.push(`destination ${kind}:${path}: "~" is not expanded (no shell reads the config); write the full path, as in ${kind}:${homedir()}${path.slice(1)}`);
  }
}

function parseDestination(value: string, problems: string[]): DestinationUrl {
  if (value.startsWith('duckdb:')) {
    try {
      const path = filePathOf(value, 'duckdb', './warehouse.duckdb', 'destination');
      checkFilePath('duckdb', path, problems);
      return { kind: 'duckdb', path };
    } catch (err) {
      problems.push((err as Error).message);
      return { kind: 'duckdb', path: '' };
    }
  }
  if (!value.startsWith('sqlite:') && !/^postgres(ql)?:\/\//i.test(value)) {
    problems.push(`destination must be sqlite:PATH, duckdb:PATH or a postgres:// URL (got ${describe(maskPassword(value))})`);
    return { kind: 'sqlite', path: '' };
  }
  try {
    const url = parseDatabaseUrl(value, 'destination');
    if (url.kind === 'sqlite') checkFilePath('sqlite', url.path, problems);
    return url;
  } catch (err) {
    problems.push((err as Error).message);
    return { kind: 'sqlite', path: '' };
  }
}

/** Validates an already-parsed JSON value. Throws ConfigError listing every problem. */
export function parseConfig(input: unknown): ConnectorConfig {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) throw new ConfigError(['the config must be a JSON object']);
  const raw: Raw = new Map(Object.entries(input));
  const problems: string[] = [];
  for (const key of raw.keys()) {
    if (isForbiddenKey(key) || !(CONFIG_KEYS as readonly string[]).includes(key)) {
      problems.push(`unknown key ${JSON.stringify(key)} (allowed: ${CONFIG_KEYS.join(', ')})`);
    }
  }
  const r = new Reader(raw);
  const bearerToken = r.string('bearer_token', { secret: true });
  if (bearerToken === null && !r.problems.some((p) => p.startsWith('bearer_token'))) r.problems.push('bearer_token is required');
  // The header's scheme pasted along with the token (a token has no spaces): sent as "Bearer Bearer ...", it is refused.
  else if (bearerToken !== null && /^bearer\s/i.test(bearerToken)) r.problems.push('bearer_token must be the token alone, without "Bearer " in front (the connector adds it)');
  const orgId = r.string('org_id');
  const provider = r.oneOf<ProviderKind>('provider', ['contentful', 'contentstack', 'scim'], DEFAULTS.provider);
  let region: ContentstackRegion | null = null;
  if (provider === 'contentstack') region = r.oneOf('region', CONTENTSTACK_REGIONS, DEFAULTS.region);
  else if (r.has('region')) r.problems.push(`region applies only to provider contentstack (provider is ${provider})`);
  const baseUrlOverride = r.string('base_url');
  const config = {
    syncFrequencyHours: r.number('sync_frequency_hours', 0.01, 720, false, DEFAULTS.sync_frequency_hours),
    initialSyncDays: r.number('initial_sync_days', 1, 36500, true, null),
    maxRecordsPerPage: r.number('max_records_per_page', 1, 1000, true, DEFAULTS.max_records_per_page),
    requestTimeoutSeconds: r.number('request_timeout_seconds', 10, 60, false, DEFAULTS.request_timeout_seconds),
    retryAttempts: r.number('retry_attempts', 1, 5, true, DEFAULTS.retry_attempts),
    enableIncrementalSync: r.boolean('enable_incremental_sync', DEFAULTS.enable_incremental_sync),
    enableDebugLogging: r.boolean('enable_debug_logging', DEFAULTS.enable_debug_logging),
    maxDeleteShare: r.number('max_delete_share', 0, 1, false, DEFAULTS.max_delete_share),
    rateLimitShare: r.number('rate_limit_share', 0.05, 1, false, DEFAULTS.rate_limit_share),
    maxResponseMb: r.number('max_response_mb', 1, 512, false, DEFAULTS.max_response_mb),
  };
  const destination = parseDestination(r.string('destination') ?? DEFAULTS.destination, r.problems);
  const namespace = r.string('namespace');
  if (namespace !== null && !NAMESPACE_PATTERN.test(namespace)) {
    r.problems.push(`namespace must be 1 to 40 lower-case letters, digits and underscores, starting with a letter (it names tables or a PostgreSQL schema; got ${describe(namespace)})`);
  }
  problems.push(...r.problems);

  let baseUrl = '';
  if (provider === 'scim' && baseUrlOverride === null) problems.push('base_url is required when provider is scim');
  else if (provider !== 'scim' && baseUrlOverride === null && orgId === null) problems.push(`org_id is required for provider ${provider}`);
  else {
    const resolved = resolveBaseUrl(provider, region, orgId, baseUrlOverride);
    if (typeof resolved === 'string') baseUrl = resolved;
    else problems.push(resolved.problem);
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return { ...config, bearerToken: bearerToken as string, orgId, provider, region, baseUrl, destination, namespace };
}

/** Reads and validates a config file. File and JSON errors never quote the file's text, which holds the token. */
export function loadConfig(path: string): ConnectorConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    throw new ConfigError([`cannot read config file ${path} (${code})`]);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    const m = /position (\d+)/.exec(String((err as Error).message));
    let where = '';
    if (m) {
      const before = text.slice(0, Number(m[1]));
      const line = before.split('\n').length;
      where = ` at line ${line}, column ${Number(m[1]) - before.lastIndexOf('\n')}`;
    }
    throw new ConfigError([`config file ${path} is not valid JSON${where}`]);
  }
  return parseConfig(parsed);
}
