/** Server persistence: one Store interface, SQLite (embedded default) and PostgreSQL implementations. */
import { parseDatabaseUrl, type DatabaseUrl } from '../sql/url.ts';
import { openPostgresDriver, SqliteDriver } from './drivers.ts';
import type { PasswordHashingLimits } from './hashing.ts';
import { SqlStore } from './store.ts';
import type { Store } from './types.ts';

export * from './types.ts';
export { DEFAULT_USER_CACHE_ENTRIES, SqlStore } from './store.ts';
export { EVENT_TYPES, eventJson, isEventType, toEnvelope } from './events.ts';
export type { EventPage, EventReadOptions, ProvisioningEvent, StoredEvent } from './events.ts';
export { SecretBox, SecretKeyError, isSecretKeyError, newSecretKey, parseSecretKey } from './secrets.ts';
export { checkWebhookUrl } from './webhooks.ts';
export { defaultHashingLimits } from './hashing.ts';
export type { PasswordHashingLimits } from './hashing.ts';
export { RoleError, ROLE_KEY_PATTERN } from './role-admin.ts';

export interface OpenStoreOptions extends StoreTuning {
  /** A SQLite database file (created when missing), or ':memory:' for a private in-memory database. */
  readonly sqlitePath?: string;
  /** A PostgreSQL connection URL. */
  readonly postgresUrl?: string;
}

/** Settings of an open store that do not say where its data lives. */
export interface StoreTuning {
  /** PostgreSQL pool size (default 10). */
  readonly poolSize?: number;
  /**
   * PostgreSQL: milliseconds one statement may run before the operation fails as unavailable (a 503 with
   * Retry-After on the server), default 10 s (drivers.ts); 0 sets no bound, for administrative
   * work such as deleting a large organization. Migrations at open never have one.
   */
  readonly statementTimeoutMs?: number;
  /** Users the SQLite store keeps in memory for repeated reads (default DEFAULT_USER_CACHE_ENTRIES; 0 keeps none). */
  readonly userCacheEntries?: number;
  /** The key that encrypts webhook secrets, loaded on first use (see secrets.ts). */
  readonly secretKey?: () => Buffer;
  /** How password hashing is shared between organizations (hashing.ts); each limit defaults as documented there. */
  readonly passwordHashing?: Partial<PasswordHashingLimits>;
  /** Users recomputed per transaction after a role rule or catalogue change (default 250; see role-admin.ts). */
  readonly recomputeBatch?: number;
}

/**
 * Opens a store and applies pending migrations. `database` is `sqlite:PATH` (`sqlite:./data/scimkit.db`,
 * `sqlite:///var/lib/scimkit.db`, `sqlite::memory:`; `sqlite://x.db` is refused, as a path it is /x.db) or a
 * `postgres://` URL, or options naming exactly one of `sqlitePath` and `postgresUrl`.
 * The store's `close()` is safe to call more than once.
 */
export async function openStore(database: string | OpenStoreOptions, tuning: StoreTuning = {}): Promise<Store> {
  const options: OpenStoreOptions = typeof database === 'string' ? { ...tuning, ...fromUrl(parseDatabaseUrl(database, 'openStore: the database')) } : { ...tuning, ...database };
  const { sqlitePath, postgresUrl } = options;
  if ((sqlitePath === undefined) === (postgresUrl === undefined)) throw new Error('openStore needs exactly one of sqlitePath and postgresUrl');
  checkTuning(options);
  const shared = { secretKey: options.secretKey, passwordHashing: options.passwordHashing, recomputeBatch: options.recomputeBatch };
  if (sqlitePath !== undefined) return new SqlStore(new SqliteDriver(sqlitePath), { ...shared, userCacheEntries: options.userCacheEntries });
  return new SqlStore(await openPostgresDriver(postgresUrl as string, options.poolSize, options.statementTimeoutMs), shared);
}

/**
 * A pool size below 1 failed every operation after the 5 s connect timeout as "The database is unavailable"; a value
 * that is not a number was passed on as it was.
 */
function checkTuning(tuning: StoreTuning): void {
  for (const [name, least] of [['poolSize', 1], ['statementTimeoutMs', 0], ['userCacheEntries', 0]] as const) {
    const value = tuning[name];
    if (value !== undefined && (!Number.isSafeInteger(value) || value < least)) {
      throw new RangeError(`openStore: ${name} must be a whole number, ${least} or more, got ${typeof value === 'string' ? JSON.stringify(value) : String(value)}`);
    }
  }
}

function fromUrl(url: DatabaseUrl): OpenStoreOptions {
  return url.kind === 'sqlite' ? { sqlitePath: url.path } : { postgresUrl: url.url };
}
