/**
 * The store's runners (src/sql): the shared SQLite and PostgreSQL runners with the store's migrations, and SCIM
 * errors for constraint violations a statement does not name itself.
 */
import { isScimError, ScimError } from '../scim/errors.ts';
import { createPrivately, PostgresRunner, SqliteRunner } from '../sql/index.ts';
import { maskPassword } from '../sql/url.ts';
import type { ViolationErrors } from '../sql/index.ts';
import { STORE_MIGRATIONS } from './migrations.ts';

/** What a client is told to wait after a database outage answer: a restart or failover takes seconds. */
export const DATABASE_RETRY_AFTER_SECONDS = 5;

const STORE_VIOLATIONS: ViolationErrors = {
  unique: () => ScimError.uniqueness('A unique value is already in use'),
  foreignKey: () => ScimError.notFound('A referenced record does not exist'),
  unstorableText: () => ScimError.invalidValue('Values must not contain NUL characters or invalid Unicode'),
  unavailable: (cause) => ScimError.unavailable('The database is unavailable; retry later', DATABASE_RETRY_AFTER_SECONDS, cause),
};

/** The store's SQLite driver; migrated when constructed. The options are for tests (see src/sql/sqlite.ts). */
export class SqliteDriver extends SqliteRunner {
  constructor(path: string, options: { readonly walRestartPages?: number; readonly backstopPages?: number } = {}) {
    createPrivately(path);
    super(path, { ...options, violations: STORE_VIOLATIONS, migrations: [STORE_MIGRATIONS] });
  }
}

/**
 * How long one PostgreSQL statement of the store may run by default (StoreTuning.statementTimeoutMs): a request
 * never needs near this long, and a hung or overloaded database then answers 503 instead of holding the request.
 */
export const DEFAULT_STATEMENT_TIMEOUT_MS = 10_000;

/**
 * The store's PostgreSQL driver, migrated (without the statement bound: a migration may take long). A database that
 * cannot be reached at open says why in the message (`connect ECONNREFUSED 127.0.0.1:5432`, `getaddrinfo ENOTFOUND
 * db`), which is what to fix at start-up; a request's 503 keeps it on `cause` only, so clients never learn it.
 */
export async function openPostgresDriver(url: string, poolSize?: number, statementTimeoutMs = DEFAULT_STATEMENT_TIMEOUT_MS): Promise<PostgresRunner> {
  try {
    return await PostgresRunner.open(url, { poolSize, statementTimeoutMs, violations: STORE_VIOLATIONS, migrations: [STORE_MIGRATIONS] });
  } catch (err) {
    if (!isScimError(err) || err.status !== 503) throw err;
    const why = maskPassword(err.cause instanceof Error ? err.cause.message : String(err.cause));
    throw ScimError.unavailable(`The database is unavailable (PostgreSQL at ${maskPassword(url)}: ${why}); retry later`, DATABASE_RETRY_AFTER_SECONDS, err.cause);
  }
}
