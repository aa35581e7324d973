/**
 * `scimkit serve`, `scimkit orgs ...` and `scimkit tokens ...`: run the SCIM service provider and administer its
 * organizations and bearer tokens. Every command opens the same store (`--db PATH` or `--postgres URL`).
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { dirname, resolve } from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import { maskPassword } from '../sql/url.ts';
import { explicitSettings, optionsFromEnvironment } from './env.ts';
import { stopOnSignals } from './signals.ts';
import { isScimError } from '../scim/errors.ts';
import { MAX_INDEXED_CHARS, MAX_RESOURCE_BYTES, MAX_STRING_CHARS } from '../scim/limits.ts';
import { defaultConnectionLimits, FILE_HEADROOM, openFileLimit } from '../server/connections.ts';
import { defaultHashingLimits } from '../store/hashing.ts';
import { DEFAULT_MAX_ORGANIZATION_LABELS } from '../server/metrics.ts';
import { checkPublicUrl } from '../server/public-url.ts';
import type { RateLimiter } from '../server/ratelimit/types.ts';
import type { SchemaExtensionDeclaration } from '../scim/schema/declare.ts';
import { MAX_ORGANIZATION_NAME_CHARS } from '../store/types.ts';
import type { OrgSettings, Store, TokenScope } from '../store/types.ts';

// The server, store and protocol modules load inside the actions, so other commands (and --help) start fast.

export const DEFAULT_DB_PATH = './data/scimkit.db';
export const DEFAULT_ORG_NAME = 'default';
/** The store's own default (store.ts), restated here so that `--help` stays fast: the store loads only in actions. */
const DEFAULT_USER_CACHE_ENTRIES = 10_000;


export interface StoreFlags {
  db?: string;
  postgres?: string;
  secretKeyFile?: string;
  /** serve only */
  userCache?: number;
  /** serve only */
  passwordHashingConcurrency?: number;
  /** serve only */
  passwordHashingPerOrg?: number;
}

/** A value that must not be blank (a path, a host name). */
export function nonEmpty(value: string): string {
  if (value.trim() === '') throw new InvalidArgumentError('must not be empty');
  return value;
}

/**
 * `--db`: a file path. openStore's URL form (`sqlite:./x.db`) made a folder named `sqlite:.` with the database in
 * it, and a postgres:// URL became a SQLite file too.
 */
function dbPath(value: string): string {
  nonEmpty(value);
  if (/^(sqlite|postgres|postgresql):/i.test(value.trim())) {
    throw new InvalidArgumentError('is a file path, not a URL: write ./data/scimkit.db (without sqlite:), or use --postgres (SCIMKIT_POSTGRES_URL) for PostgreSQL');
  }
  return value;
}

/** A URL with one of `schemes` (`postgres:`), for the store and Redis; messages never repeat its password. */
function urlOf(schemes: readonly string[], example: string): (value: string) => string {
  return (value) => {
    let url: URL;
    try {
      url = new URL(value);
    } catch {
      throw new InvalidArgumentError(`must be a URL such as ${example}`);
    }
    if (!schemes.includes(url.protocol)) throw new InvalidArgumentError(`must be a URL such as ${example} (${schemes.join(' or ')})`);
    return value;
  };
}

/** `--public-url`: the scheme and authority clients reach the server at, nothing after them (the plugin's own rule). */
function publicUrl(value: string): string {
  try {
    return checkPublicUrl(value);
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

export function logLevel(value: string): string {
  const level = value.trim().toLowerCase();
  if (!(LOG_LEVELS as readonly string[]).includes(level)) throw new InvalidArgumentError(`must be one of ${LOG_LEVELS.join(', ')}`);
  return level;
}

/** The options naming the store, which every command that opens it takes, each with its environment variable. */
export function storeOptions(command: Command): Command {
  return command
    .addOption(new Option('--db <path>', 'SQLite database file').argParser(dbPath).default(DEFAULT_DB_PATH).env('SCIMKIT_DB').conflicts('postgres'))
    .addOption(
      new Option('--postgres <url>', 'PostgreSQL connection URL (instead of the SQLite file)')
        .argParser(urlOf(['postgres:', 'postgresql:'], 'postgres://localhost:5432/scimkit'))
        .env('SCIMKIT_POSTGRES_URL'),
    )
    .addOption(
      new Option('--secret-key-file <path>', 'file holding the 32-byte key that encrypts webhook secrets (default with --db: <db>.key, created 0600)')
        .argParser(nonEmpty)
        .env('SCIMKIT_SECRET_KEY_FILE'),
    );
}

/**
 * Where the key that encrypts webhook secrets comes from (docs/events.md), read on first use: SCIMKIT_SECRET_KEY
 * (base64 or hex), else --secret-key-file, else for a SQLite file `<db>.key` beside it, created with 0600
 * permissions when missing. PostgreSQL deployments must give one of the first two, the same to every process.
 */
function secretKeyLoader(mod: typeof import('../store/index.ts'), flags: StoreFlags, sqlitePath: string | undefined): () => Buffer {
  return () => {
    const { parseSecretKey, newSecretKey, SecretKeyError } = mod;
    const fromEnv = process.env.SCIMKIT_SECRET_KEY;
    if (fromEnv !== undefined && fromEnv.trim() !== '') return parseSecretKey(fromEnv);
    const file = flags.secretKeyFile ?? (sqlitePath !== undefined ? `${sqlitePath}.key` : undefined);
    if (file === undefined) throw new SecretKeyError('Webhook secrets need an encryption key with PostgreSQL: set SCIMKIT_SECRET_KEY or --secret-key-file');
    try {
      return parseSecretKey(readFileSync(file, 'utf8'));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || flags.secretKeyFile !== undefined) {
        if (err instanceof SecretKeyError) throw err;
        throw new SecretKeyError(`The secret key file ${file} cannot be read: ${(err as Error).message}`);
      }
    }
    const key = newSecretKey();
    try {
      // 'wx': never overwrite a key another process created meanwhile (that one wins, and is read back).
      writeFileSync(file, key.toString('base64') + '\n', { mode: 0o600, flag: 'wx' });
      return key;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') return parseSecretKey(readFileSync(file, 'utf8'));
      throw err;
    }
  };
}

/**
 * For commands that only read or change what exists (every one but `serve`, `orgs create`, `admins create` and
 * `keys create` without --org: docs/server.md): a SQLite file that is not there is a mistyped or relative path, not
 * a new database. Opening it created an empty one, which `orgs list` then listed as nothing, and which `deliver` and
 * `events --follow` waited on forever.
 */
export function requireDatabase(flags: StoreFlags, command: Command): void {
  if (flags.postgres) return;
  const path = resolve(flags.db ?? DEFAULT_DB_PATH);
  if (!existsSync(path)) fail(command, `error: no database at ${path}: scimkit serve (or openStore in your app) creates it; give this command the same --db (SCIMKIT_DB)`);
}

/** `administrative`: a command's one-off work (deleting an organization, say), which the statement bound must not cut. */
export async function openConfiguredStore(flags: StoreFlags, administrative = false): Promise<Store> {
  const mod = await import('../store/index.ts');
  const passwordHashing = { concurrency: flags.passwordHashingConcurrency, perOrganization: flags.passwordHashingPerOrg };
  if (flags.postgres) {
    const statementTimeoutMs = administrative ? 0 : undefined;
    return mod.openStore({ postgresUrl: flags.postgres, secretKey: secretKeyLoader(mod, flags, undefined), passwordHashing, statementTimeoutMs });
  }
  const path = resolve(flags.db ?? DEFAULT_DB_PATH);
  // Only its owner may list it: the database and the webhook secret key live in it.
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  return mod.openStore({ sqlitePath: path, userCacheEntries: flags.userCache, secretKey: secretKeyLoader(mod, flags, path), passwordHashing });
}

/**
 * openConfiguredStore for a command: a database it cannot open (PostgreSQL unreachable or refusing the login, a file
 * that is not SQLite) ends the command with the reason in one line; it was an uncaught stack trace.
 */
export async function openCommandStore(command: Command, flags: StoreFlags, administrative = false): Promise<Store> {
  try {
    return await openConfiguredStore(flags, administrative);
  } catch (err) {
    return fail(command, `error: ${(err as Error).message}`);
  }
}

/**
 * Ends the command with an error in what it found (an organization that does not exist, a duplicate rule), not in how
 * it was called: the message alone. A usage error (`command.error`) also prints the command's help, 20 to 40 lines
 * under which such a message was lost.
 */
export function fail(command: Command, message: string): never {
  command.showHelpAfterError(false);
  return command.error(message);
}

/**
 * Runs `fn` with an open store and always closes it; the store's validation errors become one-line CLI errors.
 * A missing SQLite database is refused (requireDatabase) unless `createsDatabase`: the command makes something a
 * new deployment starts from.
 */
export async function withStore<T>(command: Command, flags: StoreFlags, fn: (store: Store) => Promise<T>, { createsDatabase = false } = {}): Promise<T> {
  if (!createsDatabase) requireDatabase(flags, command);
  const store = await openCommandStore(command, flags, true);
  try {
    return await fn(store);
  } catch (err) {
    const { isSecretKeyError } = await import('../store/secrets.ts');
    if (!isScimError(err) && !isSecretKeyError(err)) throw err;
    await store.close();
    return fail(command, `error: ${err.message}`);
  } finally {
    await store.close();
  }
}

export function positiveInteger(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) < 1 || !Number.isSafeInteger(Number(value))) {
    throw new InvalidArgumentError('must be a positive integer');
  }
  return Number(value);
}

/** A positive integer up to `max`; `why` says where the bound comes from. */
function integerUpTo(max: number, why: string): (value: string) => number {
  return (value) => {
    const n = positiveInteger(value);
    if (n > max) throw new InvalidArgumentError(`must be at most ${max} (${why})`);
    return n;
  };
}

/**
 * A receiver that has not answered in an hour is not going to: Standard Webhooks recommends 15 to 30 s. Past
 * 2,147,483 s Node's timer would also overflow and fire at once, timing every delivery out.
 */
const MAX_WEBHOOK_TIMEOUT_SECONDS = 3600;

/** Past about 100,000,000 days the purge's cutoff is no date at all (Invalid time value), and every purge fails. */
const MAX_EVENT_RETENTION_DAYS = 36_500;

/** A duration that is not zero (see parseDuration). */
function positiveDuration(value: string): number {
  const ms = parseDuration(value);
  if (ms === 0) throw new InvalidArgumentError('must be longer than 0');
  return ms;
}

function nonNegativeInteger(value: string): number {
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(Number(value))) throw new InvalidArgumentError('must be a whole number, 0 or more');
  return Number(value);
}

const DURATION_UNITS_MS: Readonly<Record<string, number>> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };
/** The longest duration the token options take: about ten years. */
const MAX_DURATION_MS = 3650 * 86_400_000;

/**
 * A duration such as `90d`, `12h`, `1d12h` or `30m`: whole numbers with a unit (s, m, h, d, w), added up. `0` (or
 * `0s`) is allowed where the option says so.
 */
export function parseDuration(value: string): number {
  const text = value.trim().toLowerCase();
  if (text === '0') return 0;
  const parts = text.match(/\d+[smhdw]/g);
  if (!parts || parts.join('') !== text) throw new InvalidArgumentError('must be a duration such as 30m, 12h, 90d or 1d12h (units s, m, h, d, w)');
  const ms = parts.reduce((sum, part) => sum + Number(part.slice(0, -1)) * DURATION_UNITS_MS[part.slice(-1)], 0);
  if (!Number.isSafeInteger(ms) || ms > MAX_DURATION_MS) throw new InvalidArgumentError('must be at most 3650d (about ten years)');
  return ms;
}

/** A timestamp `ms` from now, in the form the store keeps. */
function fromNow(ms: number): string {
  return new Date(Date.now() + ms).toISOString();
}

function tokenState(token: { revoked: string | null; expires: string | null }): string {
  if (token.revoked) return `revoked ${token.revoked}`;
  if (token.expires === null) return 'live';
  return token.expires <= new Date().toISOString() ? `expired ${token.expires}` : `live until ${token.expires}`;
}

function port(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) > 65535) throw new InvalidArgumentError('must be a port number (0 picks a free one)');
  return Number(value);
}

/** `--compat name=on|off`, repeatable; names are checked against the IdP compatibility normalizers in the action. */
interface OrgUpdateFlags {
  readLimit?: number;
  writeLimit?: number;
  compat?: [string, boolean][];
  unknownAttributes?: 'reject' | 'ignore' | 'keep';
  advertisePagination?: boolean;
  json?: boolean;
}

function onOff(value: string): boolean {
  if (/^(on|true)$/i.test(value)) return true;
  if (/^(off|false)$/i.test(value)) return false;
  throw new InvalidArgumentError('must be on or off');
}

function compatSwitch(value: string, previous: [string, boolean][] | undefined): [string, boolean][] {
  const m = /^([^=]+)=(on|off|true|false)$/i.exec(value.trim());
  if (!m) throw new InvalidArgumentError('must be NAME=on or NAME=off');
  return [...(previous ?? []), [m[1].trim(), /^(on|true)$/i.test(m[2])]];
}

async function compatSettings(command: Command, switches: [string, boolean][], current: Readonly<Record<string, boolean>>): Promise<Record<string, boolean>> {
  const { NORMALIZERS } = await import('../scim/patch/index.ts');
  const known = NORMALIZERS.map((n) => n.name);
  const out: Record<string, boolean> = { ...current };
  for (const [given, on] of switches) {
    const name = known.find((k) => k.toLowerCase() === given.toLowerCase());
    if (!name) command.error(`error: unknown compatibility normalizer "${given}"; known: ${known.join(', ')}`);
    out[name] = on;
  }
  return out;
}

/** A declared schema extension as the CLI prints it with --json. */
function schemaJson(declaration: SchemaExtensionDeclaration, created: string): Record<string, unknown> {
  return { urn: declaration.schema.id, resourceType: declaration.resourceType, required: declaration.required, created, schema: declaration.schema };
}

/** The SCIM base path of an organization (the server also answers under /scim/v2.0). */
function basePath(orgId: string): string {
  return `/scim/v2/organizations/${encodeURIComponent(orgId)}`;
}

export function print(line: string): void {
  process.stdout.write(line + '\n');
}

/** `--trust-proxy`: proxy addresses, CIDR ranges or the names loopback, linklocal, uniquelocal, comma-separated. */
function trustedProxies(value: string): string[] {
  const entries = value.split(',').map((entry) => entry.trim()).filter((entry) => entry !== '');
  const valid = (entry: string) => {
    if (entry === 'loopback' || entry === 'linklocal' || entry === 'uniquelocal') return true;
    const [address, bits, ...rest] = entry.split('/');
    const family = isIP(address);
    if (family === 0 || rest.length > 0) return false;
    return bits === undefined || (/^\d{1,3}$/.test(bits) && Number(bits) <= (family === 4 ? 32 : 128));
  };
  if (entries.length === 0 || !entries.every(valid)) {
    throw new InvalidArgumentError('must be proxy addresses or CIDR ranges (or loopback, linklocal, uniquelocal), comma-separated');
  }
  return entries;
}

/** A duration in seconds (decimals allowed). Kept in seconds, so that the start-up report shows it as given. */
function seconds(value: string): number {
  if (!/^\d+(\.\d{1,3})?$/.test(value) || Number(value) <= 0) throw new InvalidArgumentError('must be a number of seconds above 0');
  return Number(value);
}

function milliseconds(seconds: number): number {
  return Math.round(seconds * 1000);
}

const DEFAULT_CONNECTIONS = defaultConnectionLimits();
const DEFAULT_HASHING = defaultHashingLimits();
const FILE_LIMIT = openFileLimit();

/**
 * The serve options this file adds beyond listening, the store and Redis: one Option each, with its parser and
 * default, so that `--help` shows them and each can be given another source (an environment variable) in one place.
 */
const SERVE_OPTIONS = {
  maxConnections: () =>
    new Option('--max-connections <n>', 'open connections at most; one more is closed at once')
      .argParser(positiveInteger)
      .default(
        DEFAULT_CONNECTIONS.maxConnections,
        FILE_LIMIT === null ? String(DEFAULT_CONNECTIONS.maxConnections) : `the open-file limit (${FILE_LIMIT}) minus ${FILE_HEADROOM}, at most 10000: ${DEFAULT_CONNECTIONS.maxConnections}`,
      ),
  maxConnectionsPerAddress: () =>
    new Option('--max-connections-per-address <n>', 'open connections per client address at most, except from --trust-proxy proxies (0: no cap)')
      .argParser(nonNegativeInteger)
      .default(DEFAULT_CONNECTIONS.maxConnectionsPerAddress),
  headersTimeout: () =>
    new Option('--headers-timeout <seconds>', "time for a request's headers to arrive (408 past it)")
      .argParser(seconds)
      .default(DEFAULT_CONNECTIONS.headersTimeoutMs / 1000),
  requestTimeout: () =>
    new Option('--request-timeout <seconds>', 'time for a whole request, headers and body, to arrive (408 past it)')
      .argParser(seconds)
      .default(DEFAULT_CONNECTIONS.requestTimeoutMs / 1000),
  keepAliveTimeout: () =>
    new Option('--keep-alive-timeout <seconds>', 'time an idle connection is kept open between requests (keep it above a load balancer\'s idle timeout)')
      .argParser(seconds)
      .default(DEFAULT_CONNECTIONS.keepAliveTimeoutMs / 1000),
  passwordHashingConcurrency: () =>
    new Option('--password-hashing-concurrency <n>', 'password hashes (scrypt, a tenth of a second of a core each) computed at once, across organizations, which take turns')
      .argParser(positiveInteger)
      .default(DEFAULT_HASHING.concurrency, `one less than the cores, 1 to 3: ${DEFAULT_HASHING.concurrency}`),
  passwordHashingPerOrg: () =>
    new Option('--password-hashing-per-org <n>', "password hashes one organization may have running or waiting; past it its write is 429 with Retry-After")
      .argParser(positiveInteger)
      .default(DEFAULT_HASHING.perOrganization),
  metricsMaxOrgs: () =>
    new Option('--metrics-max-orgs <n>', 'organizations with their own label in the per-organization metrics; later ones share org="_other"')
      .argParser(positiveInteger)
      .default(DEFAULT_MAX_ORGANIZATION_LABELS),
  trustProxy: () =>
    new Option('--trust-proxy <proxies>', 'take the client address, scheme and host from X-Forwarded-* sent by these proxies: addresses, CIDR ranges, loopback, linklocal or uniquelocal, comma-separated')
      .argParser(trustedProxies)
      .default([] as string[], 'none'),
} as const;

/** Webhook delivery and retention flags, shared by `serve` and `deliver`. */
export interface DeliveryFlags {
  allowHttpWebhooks?: boolean;
  webhookTimeout: number;
  eventRetentionDays: number;
}

export function deliveryOptions(command: Command): Command {
  return command
    .option('--allow-http-webhooks', 'accept and deliver to plain http webhook URLs (development and tests only)')
    .option(
      '--webhook-timeout <seconds>',
      `a delivery succeeds on a 2xx within this many seconds (at most ${MAX_WEBHOOK_TIMEOUT_SECONDS})`,
      integerUpTo(MAX_WEBHOOK_TIMEOUT_SECONDS, 'an hour'),
      15,
    )
    .option(
      '--event-retention-days <days>',
      `events are kept this many days, then purged in small batches (at most ${MAX_EVENT_RETENTION_DAYS})`,
      integerUpTo(MAX_EVENT_RETENTION_DAYS, 'a hundred years'),
      30,
    );
}

interface ServeFlags extends StoreFlags, DeliveryFlags {
  requestLog: number;
  console: boolean;
  host: string;
  port: number;
  redis?: string;
  publicUrl?: string;
  logLevel: string;
  trustProxy: string[];
  maxConnections: number;
  maxConnectionsPerAddress: number;
  headersTimeout: number;
  requestTimeout: number;
  keepAliveTimeout: number;
  metricsMaxOrgs: number;
  deliver: boolean;
}

/**
 * Starts webhook delivery (unless `deliver` is false) and event retention; returns what stops them. `serve` signs and
 * posts on a thread of its own (sender-thread.ts), so that deliveries do not slow SCIM requests down; `deliver`,
 * which serves nothing, on its main thread.
 */
export async function startBackgroundWork(
  store: Store,
  flags: DeliveryFlags & { deliver?: boolean },
  logger: import('../server/delivery.ts').WorkerLogger,
  metrics: import('../server/event-metrics.ts').EventMetrics,
  sendFrom: 'thread' | 'here',
): Promise<() => Promise<void>> {
  const [{ DeliveryWorker, DEFAULT_CONCURRENCY_PER_ENDPOINT }, { EventRetention }, { ThreadSender }] = await Promise.all([
    import('../server/delivery.ts'),
    import('../server/retention.ts'),
    import('../server/sender-thread.ts'),
  ]);
  const timeoutMs = flags.webhookTimeout * 1000;
  const worker =
    flags.deliver === false
      ? null
      : new DeliveryWorker({
          store,
          allowHttp: flags.allowHttpWebhooks ?? false,
          timeoutMs,
          logger,
          metrics,
          sender: sendFrom === 'thread' ? new ThreadSender({ timeoutMs, connections: DEFAULT_CONCURRENCY_PER_ENDPOINT }) : undefined,
        });
  worker?.start();
  const retention = new EventRetention(store, { days: flags.eventRetentionDays, logger });
  retention.start();
  const { RoleJobRunner } = await import('../server/role-jobs.ts');
  const roleJobs = new RoleJobRunner(store, logger);
  roleJobs.start();
  return async () => {
    await worker?.stop();
    await retention.stop();
    await roleJobs.stop();
  };
}

/**
 * The bearer token /metrics requires, from SCIMKIT_METRICS_TOKEN (a secret: never a flag, so it stays out of the
 * command line and `ps`); undefined when unset. Empty or holding spaces (a Bearer token cannot), it stops the start.
 */
function metricsToken(): string | undefined {
  const value = process.env.SCIMKIT_METRICS_TOKEN;
  if (value === undefined) return undefined;
  if (value === '' || /\s/.test(value)) throw new Error("environment variable 'SCIMKIT_METRICS_TOKEN' must be a token without spaces (unset it to leave /metrics open)");
  return value;
}

/**
 * What `serve` prints before it starts: where its data lives, where rate limits are counted, and every setting that
 * came from a flag or the environment (URLs without their passwords; the secret key itself never).
 */
function startupReport(flags: ServeFlags, command: Command): string[] {
  const lines: string[] = [];
  const from = (key: string, env: string) => {
    const source = command.getOptionValueSource(key);
    return source === 'env' ? ` (from ${env})` : source === 'cli' ? ' (from the command line)' : ' (default)';
  };
  if (flags.postgres) lines.push(`Data: PostgreSQL at ${maskPassword(flags.postgres)}${from('postgres', 'SCIMKIT_POSTGRES_URL')}`);
  else lines.push(`Data: SQLite file ${resolve(flags.db ?? DEFAULT_DB_PATH)}${from('db', 'SCIMKIT_DB')}`);
  const fromEnv = process.env.SCIMKIT_SECRET_KEY !== undefined && process.env.SCIMKIT_SECRET_KEY.trim() !== '';
  const keyFile = flags.secretKeyFile ?? (flags.postgres ? undefined : `${resolve(flags.db ?? DEFAULT_DB_PATH)}.key`);
  lines.push(
    `Webhook secret key: ${fromEnv ? 'from SCIMKIT_SECRET_KEY' : keyFile !== undefined ? `file ${keyFile}` : 'none (set SCIMKIT_SECRET_KEY or --secret-key-file to store webhook secrets)'}`,
  );
  lines.push(flags.redis ? `Rate limits: counted in Redis at ${maskPassword(flags.redis)}${from('redis', 'SCIMKIT_REDIS_URL')}` : 'Rate limits: counted in this process');
  lines.push(
    metricsToken() !== undefined
      ? 'Metrics: /metrics needs its bearer token (from SCIMKIT_METRICS_TOKEN)'
      : 'Metrics: /metrics is open to every client that reaches this port and names organization ids (set SCIMKIT_METRICS_TOKEN to require a bearer token)',
  );
  const shown = (value: unknown) => maskPassword(Array.isArray(value) ? value.join(',') : String(value));
  const settings = explicitSettings(command);
  const byFlag = settings.filter((s) => s.source === 'cli').map((s) => (typeof s.value === 'boolean' ? s.flag : `${s.flag} ${shown(s.value)}`));
  const byEnv = settings.filter((s) => s.source === 'env').map((s) => `${s.env}=${shown(s.value)}`);
  lines.push(`Settings from flags: ${byFlag.length ? byFlag.join(', ') : 'none'}`);
  lines.push(`Settings from the environment: ${byEnv.length ? byEnv.join(', ') : 'none'}`);
  lines.push('Every other setting has its default (scimkit serve --help lists them, with their variables).');
  return lines;
}

async function serve(flags: ServeFlags, command: Command): Promise<void> {
  for (const line of startupReport(flags, command)) print(line);
  const [{ pino }, { buildServer }, { createRateLimiter }, { EventMetrics }] = await Promise.all([
    import('pino'),
    import('../server/app.ts'),
    import('../server/ratelimit/index.ts'),
    import('../server/event-metrics.ts'),
  ]);
  const store = await openConfiguredStore(flags);
  let rateLimiter: RateLimiter | undefined;
  try {
    const counter = createRateLimiter({ redisUrl: flags.redis });
    rateLimiter = counter;
    // Fail at start-up, not on the first request, when Redis is unreachable.
    await counter.connect();

    // Logs go to stderr as JSON, so stdout carries only the lines below (which scripts and tests read).
    const logger = pino({ level: flags.logLevel }, pino.destination(2));
    const eventMetrics = new EventMetrics();
    eventMetrics.watch(store);
    const app = buildServer({
      store,
      rateLimiter,
      logger,
      publicUrl: flags.publicUrl,
      trustProxy: flags.trustProxy.length > 0 ? flags.trustProxy : false,
      allowHttpWebhooks: flags.allowHttpWebhooks,
      eventMetrics,
      metricsMaxOrganizations: flags.metricsMaxOrgs,
      metricsToken: metricsToken(),
      connections: {
        maxConnections: flags.maxConnections,
        maxConnectionsPerAddress: flags.maxConnectionsPerAddress,
        headersTimeoutMs: milliseconds(flags.headersTimeout),
        requestTimeoutMs: milliseconds(flags.requestTimeout),
        keepAliveTimeoutMs: milliseconds(flags.keepAliveTimeout),
      },
      requestLogSize: flags.requestLog,
      adminConsole: flags.console === false ? false : {},
    });
    if (FILE_LIMIT !== null && flags.maxConnections > FILE_LIMIT - FILE_HEADROOM) {
      logger.warn(
        { maxConnections: flags.maxConnections, openFileLimit: FILE_LIMIT },
        `--max-connections leaves fewer than ${FILE_HEADROOM} of the ${FILE_LIMIT} open files for the store and logs: raise the limit (ulimit -n) or lower --max-connections`,
      );
    }
    const address = await app.listen({ host: flags.host, port: flags.port }).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'EADDRINUSE') throw new Error(`port ${flags.port} on ${flags.host} is already in use: stop the other process or pass --port`);
      if (err.code === 'EACCES') throw new Error(`no permission to listen on ${flags.host}:${flags.port}: pick a port above 1023 with --port`);
      throw err;
    });
    // Created only once the server listens, so a failed start never swallows the one-time token.
    let created: { orgId: string; secret: string } | undefined;
    if ((await store.listOrganizations()).length === 0) {
      const org = await store.createOrganization(DEFAULT_ORG_NAME);
      const { secret } = await store.createToken(org.id, { scope: 'read-write' });
      created = { orgId: org.id, secret };
    }

    const url = flags.publicUrl?.replace(/\/+$/, '') ?? address;
    if (created) {
      print(`Created organization "${DEFAULT_ORG_NAME}" (${created.orgId}).`);
      print(`SCIM base URL: ${url}${basePath(created.orgId)}`);
      print(`Bearer token (shown once, store it now): ${created.secret}`);
    }
    const stopBackground = await startBackgroundWork(store, flags, app.log, eventMetrics, 'thread');

    const limiter = rateLimiter;
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) {
        // A second signal means "now".
        process.exit(1);
      }
      stopping = true;
      app.log.info({ signal }, 'shutting down');
      // close() stops accepting connections and waits for requests in flight before the store goes away.
      app
        .close()
        .then(() => stopBackground())
        .then(() => limiter.close())
        .then(() => store.close())
        .then(
          () => process.exit(0),
          (err: unknown) => {
            app.log.error({ err }, 'shutdown failed');
            process.exit(1);
          },
        );
    };
    stopOnSignals(stop);
    // Only now: whoever waits for this line may signal at once, and a signal before the handlers kills the process
    // without closing the store (it happened to the tests, with PostgreSQL, 3 starts in 4).
    print(`listening on ${address}`);
  } catch (err) {
    await rateLimiter?.close().catch(() => {});
    await store.close().catch(() => {});
    throw err;
  }
}

function scopeOption(value: string): TokenScope {
  const lower = value.toLowerCase();
  if (lower === 'read') return 'read';
  if (lower === 'write' || lower === 'read-write') return 'read-write';
  throw new InvalidArgumentError('must be "read" or "write"');
}

export function registerServerCommands(program: Command): void {
  const serveCommand = storeOptions(
    program
      .command('serve')
      .description('Run the SCIM 2.0 service provider')
      .option('--host <host>', 'address to listen on', nonEmpty, '127.0.0.1')
      .option('--port <port>', 'port to listen on (0 picks a free one)', port, 8080)
      .option('--redis <url>', 'share rate-limit counters through Redis (several processes on one PostgreSQL)', urlOf(['redis:', 'rediss:'], 'redis://127.0.0.1:6379'))
      .option('--public-url <url>', 'scheme and host clients reach the server at, for Location and $ref values', publicUrl)
      .addOption(new Option('--log-level <level>', 'pino log level (logs go to stderr)').argParser(logLevel).default('info'))
      .option('--request-log <entries>', "SCIM requests kept in each organization's request log, shown in the console (0 keeps none)", nonNegativeInteger, 1000)
      .option('--no-console', 'do not serve the admin console at /admin (the management API stays)')
      .option('--user-cache <entries>', 'with the SQLite file: users kept in memory for repeated reads (0 keeps none)', nonNegativeInteger, DEFAULT_USER_CACHE_ENTRIES)
      .addOption(SERVE_OPTIONS.trustProxy())
      .addOption(SERVE_OPTIONS.maxConnections())
      .addOption(SERVE_OPTIONS.maxConnectionsPerAddress())
      .addOption(SERVE_OPTIONS.headersTimeout())
      .addOption(SERVE_OPTIONS.requestTimeout())
      .addOption(SERVE_OPTIONS.keepAliveTimeout())
      .option('--no-deliver', 'do not deliver webhooks in this process (run `scimkit deliver` instead)')
      .addOption(SERVE_OPTIONS.passwordHashingConcurrency())
      .addOption(SERVE_OPTIONS.passwordHashingPerOrg())
      .addOption(SERVE_OPTIONS.metricsMaxOrgs())
      // Built when shown: toLocaleString maps ICU's locale data (about 5 MB resident) into every command's process.
      .addHelpText(
        'after',
        () => `\nLength limits (fixed, the same on SQLite and PostgreSQL; past one a write is 400 invalidValue):\n` +
          `  userName, a Group's displayName, externalId   ${MAX_INDEXED_CHARS} characters (indexed)\n` +
          `  any other string value                         ${MAX_STRING_CHARS.toLocaleString('en')} characters\n` +
          `  a whole resource (without a Group's members)   ${MAX_RESOURCE_BYTES / 1024} KiB of JSON\n` +
          `\nEvery option also comes from the environment variable shown beside it (a switch takes true or false);\n` +
          `a flag wins over its variable, and a bad value stops the start. SCIMKIT_SECRET_KEY (32 bytes, base64 or hex)\n` +
          `gives the webhook-secret key itself instead of --secret-key-file. SCIMKIT_METRICS_TOKEN makes /metrics\n` +
          `require that bearer token (its series name organization ids).\n` +
          `See docs/server.md.`,
      ),
  );
  // Every serve option, delivery's included, also comes from the environment (PORT, as platforms set it).
  optionsFromEnvironment(deliveryOptions(serveCommand), { port: 'PORT', redis: 'SCIMKIT_REDIS_URL' }).action(async (flags: ServeFlags, command: Command) =>
    serve(flags, command).catch((err: Error) => {
      process.stderr.write(`scimkit serve: ${maskPassword(err.message)}\n`);
      process.exit(1);
    }),
  );

  const orgs = program.command('orgs').description('Manage organizations (tenants)');
  storeOptions(
    orgs
      .command('create <name>')
      .description('Create an organization and print its id and a new read-write token')
      .option('--read-limit <n>', 'read requests per second', positiveInteger)
      .option('--write-limit <n>', 'write requests per second', positiveInteger)
      .option('--json', 'print one JSON object'),
  ).action(async (name: string, flags: StoreFlags & { readLimit?: number; writeLimit?: number; json?: boolean }, command: Command) => {
    await withStore(command, flags, async (store) => {
      const settings: Partial<OrgSettings> = {
        ...(flags.readLimit !== undefined ? { readLimit: flags.readLimit } : {}),
        ...(flags.writeLimit !== undefined ? { writeLimit: flags.writeLimit } : {}),
      };
      const org = await store.createOrganization(name, settings);
      const { token, secret } = await store.createToken(org.id, { scope: 'read-write' });
      if (flags.json) {
        print(JSON.stringify({ id: org.id, name: org.name, settings: org.settings, basePath: basePath(org.id), tokenId: token.id, token: secret }));
      } else {
        print(`Organization ${org.name}: ${org.id}`);
        print(`SCIM base path: ${basePath(org.id)}`);
        print(`Bearer token (shown once): ${secret}`);
      }
    }, { createsDatabase: true });
  });

  storeOptions(orgs.command('list').description('List organizations').option('--json', 'print a JSON array')).action(
    async (flags: StoreFlags & { json?: boolean }, command: Command) => {
      await withStore(command, flags, async (store) => {
        const list = await store.listOrganizations();
        if (flags.json) {
          print(JSON.stringify(list));
          return;
        }
        for (const org of list) {
          const compat = Object.entries(org.settings.compat).map(([k, v]) => `${k}=${v ? 'on' : 'off'}`).join(',');
          print(`${org.id}\t${org.name}\tread=${org.settings.readLimit}/s\twrite=${org.settings.writeLimit}/s${compat ? `\tcompat=${compat}` : ''}`);
        }
      });
    },
  );

  storeOptions(
    orgs
      .command('update <orgId>')
      .description("Change an organization's rate limits and IdP compatibility switches")
      .option('--read-limit <n>', 'read requests per second', positiveInteger)
      .option('--write-limit <n>', 'write requests per second', positiveInteger)
      .option('--compat <name=on|off>', 'switch an IdP compatibility normalizer on or off (repeatable)', compatSwitch)
      .addOption(new Option('--unknown-attributes <policy>', 'what attributes no schema defines get: reject (400), ignore (dropped, logged) or keep').choices(['reject', 'ignore', 'keep']))
      .option('--advertise-pagination <on|off>', 'list RFC 9865 cursor paging in /ServiceProviderConfig (cursors work either way)', onOff)
      .option('--json', 'print the organization as JSON'),
  ).action(async (orgId: string, flags: StoreFlags & OrgUpdateFlags, command: Command) => {
    if (
      flags.readLimit === undefined &&
      flags.writeLimit === undefined &&
      flags.compat === undefined &&
      flags.unknownAttributes === undefined &&
      flags.advertisePagination === undefined
    ) {
      command.error('error: nothing to update: give --read-limit, --write-limit, --compat, --unknown-attributes or --advertise-pagination');
    }
    await withStore(command, flags, async (store) => {
      const current = await store.getOrganization(orgId);
      if (!current) fail(command, `error: organization ${orgId} not found`);
      const settings: Partial<OrgSettings> = {
        ...(flags.readLimit !== undefined ? { readLimit: flags.readLimit } : {}),
        ...(flags.writeLimit !== undefined ? { writeLimit: flags.writeLimit } : {}),
        ...(flags.compat !== undefined ? { compat: await compatSettings(command, flags.compat, current.settings.compat) } : {}),
        ...(flags.unknownAttributes !== undefined ? { unknownAttributes: flags.unknownAttributes } : {}),
        ...(flags.advertisePagination !== undefined ? { advertisePagination: flags.advertisePagination } : {}),
      };
      const org = await store.updateOrganization(orgId, settings);
      if (flags.json) print(JSON.stringify(org));
      else print(`Organization ${org.name} (${org.id}): read=${org.settings.readLimit}/s write=${org.settings.writeLimit}/s`);
    });
  });

  const schemas = program.command('schemas').description("Manage an organization's schema extensions (custom attributes, RFC 7643 section 7)");
  storeOptions(
    schemas
      .command('add <orgId> <file>')
      .description('Declare a schema extension from an RFC 7643 schema document (a JSON file with id, name, attributes)')
      .addOption(new Option('--resource-type <type>', 'the resource type it extends').choices(['User', 'Group']).default('User'))
      .option('--required', 'every resource of the type must carry the extension')
      .option('--json', 'print the declaration as JSON'),
  ).action(async (orgId: string, file: string, flags: StoreFlags & { resourceType: 'User' | 'Group'; required?: boolean; json?: boolean }, command: Command) => {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      return fail(command, `error: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    let document: unknown;
    try {
      document = JSON.parse(text);
    } catch (err) {
      return fail(command, `error: ${file} is not JSON: ${(err as Error).message}`);
    }
    await withStore(command, flags, async (store) => {
      const { parseSchemaDocument } = await import('../scim/schema/declare.ts');
      const declaration = { resourceType: flags.resourceType, required: flags.required === true, schema: parseSchemaDocument(document) };
      const added = await store.addSchemaExtension(orgId, declaration);
      if (flags.json) print(JSON.stringify(schemaJson(added.declaration, added.created)));
      else print(`Declared ${declaration.schema.id} (${declaration.schema.attributes.length} attributes) for ${declaration.resourceType}s of organization ${orgId}`);
    });
  });

  storeOptions(schemas.command('list <orgId>').description("List an organization's declared schema extensions").option('--json', 'print a JSON array')).action(
    async (orgId: string, flags: StoreFlags & { json?: boolean }, command: Command) => {
      await withStore(command, flags, async (store) => {
        if (!(await store.getOrganization(orgId))) fail(command, `error: organization ${orgId} not found`);
        const list = await store.listSchemaExtensions(orgId);
        if (flags.json) print(JSON.stringify(list.map((e) => schemaJson(e.declaration, e.created))));
        else for (const e of list) print(`${e.declaration.schema.id}\t${e.declaration.resourceType}${e.declaration.required ? ' (required)' : ''}\t${e.declaration.schema.attributes.map((a) => a.name).join(',')}`);
      });
    },
  );

  storeOptions(schemas.command('remove <orgId> <urn>').description('Remove a schema extension; the data stored under it is kept').option('--json', 'print what was removed as JSON')).action(
    async (orgId: string, urn: string, flags: StoreFlags & { json?: boolean }, command: Command) => {
      await withStore(command, flags, async (store) => {
        const removed = await store.removeSchemaExtension(orgId, urn);
        const { schema, resourceType } = removed.declaration;
        if (flags.json) print(JSON.stringify({ urn: schema.id, resourceType, resourcesWithData: removed.resourcesWithData }));
        else {
          print(`Removed ${schema.id} from organization ${orgId}.`);
          print(
            `${removed.resourcesWithData} ${resourceType}(s) still hold data under it: it is kept in storage, no longer validated or returned, and comes back if the schema is declared again.`,
          );
        }
      });
    },
  );

  storeOptions(
    orgs
      .command('rename <orgId> <name>')
      .description(`Rename an organization (1 to ${MAX_ORGANIZATION_NAME_CHARS} characters); its id, tokens and data stay as they are`)
      .option('--json', 'print the organization as JSON'),
  ).action(async (orgId: string, name: string, flags: StoreFlags & { json?: boolean }, command: Command) => {
    await withStore(command, flags, async (store) => {
      if (!(await store.getOrganization(orgId))) fail(command, `error: organization ${orgId} not found`);
      const org = await store.renameOrganization(orgId, name);
      if (flags.json) print(JSON.stringify(org));
      else print(`Organization ${org.id} is now named ${JSON.stringify(org.name)}`);
    });
  });

  storeOptions(
    orgs
      .command('delete <orgId>')
      .description('Delete an organization and everything it holds (users, groups, memberships, tokens, and every other row of it), at once and for good; refuses without --yes')
      .option('--yes', 'really delete (without it, the command only says what would be deleted)')
      .option('--json', 'print what was deleted as JSON'),
  ).action(async (orgId: string, flags: StoreFlags & { yes?: boolean; json?: boolean }, command: Command) => {
    await withStore(command, flags, async (store) => {
      const org = await store.getOrganization(orgId);
      if (!org) fail(command, `error: organization ${orgId} not found`);
      if (!flags.yes) {
        const [users, groups, tokenList] = await Promise.all([
          store.query(orgId, 'User', { count: 0 }),
          store.query(orgId, 'Group', { count: 0 }),
          store.listTokens(orgId),
        ]);
        fail(command,
          `error: refusing to delete organization ${JSON.stringify(org.name)} (${org.id}) with ${users.totalResults} users, ${groups.totalResults} groups and ${tokenList.length} tokens without --yes; this cannot be undone`,
        );
      }
      const deleted = await store.deleteOrganization(orgId);
      if (!deleted) fail(command, `error: organization ${orgId} not found`);
      if (flags.json) print(JSON.stringify({ id: deleted.organization.id, name: deleted.organization.name, users: deleted.users, groups: deleted.groups, tokens: deleted.tokens }));
      else print(`Deleted organization ${JSON.stringify(deleted.organization.name)} (${deleted.organization.id}): ${deleted.users} users, ${deleted.groups} groups, ${deleted.tokens} tokens`);
    });
  });

  const tokens = program.command('tokens').description('Manage bearer tokens');
  storeOptions(
    tokens
      .command('create <orgId>')
      .description('Create a bearer token for an organization')
      .addOption(new Option('--scope <scope>', 'read or write (read-write)').argParser(scopeOption).default('read-write' as TokenScope, 'write'))
      .option('--user <userId>', 'bind the token to this User: it then reaches only /Me (GET, and with --scope write also PUT, PATCH, DELETE)')
      .option('--expires-in <duration>', 'the token stops working after this long, e.g. 90d, 12h, 1d12h (units s, m, h, d, w; at most 3650d); default: never', positiveDuration)
      .option('--json', 'print one JSON object'),
  ).action(async (orgId: string, flags: StoreFlags & { scope: TokenScope; user?: string; expiresIn?: number; json?: boolean }, command: Command) => {
    await withStore(command, flags, async (store) => {
      if (!(await store.getOrganization(orgId))) fail(command, `error: organization ${orgId} not found`);
      if (flags.user !== undefined && !(await store.get(orgId, 'User', flags.user))) {
        fail(command, `error: User ${flags.user} not found in organization ${orgId}`);
      }
      const expires = flags.expiresIn === undefined ? null : fromNow(flags.expiresIn);
      const { token, secret } = await store.createToken(orgId, { scope: flags.scope, userId: flags.user ?? null, expires });
      if (flags.json) print(JSON.stringify({ id: token.id, orgId, scope: token.scope, userId: token.userId, expires: token.expires, token: secret }));
      else {
        print(`Token ${token.id} (${token.scope}) for organization ${orgId}${token.expires ? `, expires ${token.expires}` : ''}`);
        print(`Bearer token (shown once): ${secret}`);
      }
    });
  });

  storeOptions(
    tokens
      .command('rotate <tokenId>')
      .description('Replace a token: create a new one (same organization, scope and User) and keep the old one working for a grace period, so an IdP can switch without a failed request')
      .requiredOption('--grace <duration>', 'how long the old token keeps working, e.g. 24h, 7d (0 ends it now; units s, m, h, d, w)', parseDuration)
      .option('--expires-in <duration>', 'the new token stops working after this long; default: never', positiveDuration)
      .option('--json', 'print one JSON object'),
  ).action(async (tokenId: string, flags: StoreFlags & { grace: number; expiresIn?: number; json?: boolean }, command: Command) => {
    await withStore(command, flags, async (store) => {
      const graceUntil = fromNow(flags.grace);
      const { token, secret } = await store.rotateToken(tokenId, { graceUntil, expires: flags.expiresIn === undefined ? null : fromNow(flags.expiresIn) });
      if (flags.json) {
        print(JSON.stringify({ id: token.id, orgId: token.orgId, scope: token.scope, userId: token.userId, expires: token.expires, token: secret, replaced: tokenId, replacedExpires: graceUntil }));
      } else {
        print(`Token ${token.id} (${token.scope}) replaces ${tokenId}, which keeps working until ${graceUntil}`);
        print(`Bearer token (shown once): ${secret}`);
      }
    });
  });

  storeOptions(tokens.command('list <orgId>').description("List an organization's tokens (never their secrets)").option('--json', 'print a JSON array')).action(
    async (orgId: string, flags: StoreFlags & { json?: boolean }, command: Command) => {
      await withStore(command, flags, async (store) => {
        if (!(await store.getOrganization(orgId))) fail(command, `error: organization ${orgId} not found`);
        const list = await store.listTokens(orgId);
        if (flags.json) print(JSON.stringify(list));
        else for (const t of list) print(`${t.id}\t${t.scope}\t${t.userId ?? '-'}\t${tokenState(t)}`);
      });
    },
  );

  storeOptions(tokens.command('revoke <tokenId>').description('Revoke a bearer token')).action(async (tokenId: string, flags: StoreFlags, command: Command) => {
    await withStore(command, flags, async (store) => {
      if (!(await store.revokeToken(tokenId))) fail(command, `error: token ${tokenId} not found or already revoked`);
      print(`Revoked token ${tokenId}`);
    });
  });
}
