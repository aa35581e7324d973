/**
 * The store's runners (src/sql): the shared SQLite and PostgreSQL runners with the store's migrations, and SCIM
 * errors for constraint violations a statement does not name itself.
 */
import { closeSync, openSync } from 'node:fs';
import { ScimError } from '../scim/errors.ts';
import { PostgresRunner, SqliteRunner } from '../sql/index.ts';
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
 * Creates a missing database file readable and writable by its owner only (SQLite would create it 0644): it holds
 * users' data and password hashes. SQLite gives the -wal and -shm files the database file's mode. An existing file
 * keeps the mode it has; anything but "it exists" is left for SQLite to report when it opens the path.
 */
function createPrivately(path: string): void {
  if (path === ':memory:' || path === '') return;
  try {
    closeSync(openSync(path, 'wx', 0o600));
  } catch {
    // EEXIST, or a path SQLite will refuse with its own error.
  }
}

/**
 * How long one PostgreSQL statement of the store may run by default (StoreTuning.statementTimeoutMs): a request
 * never needs near this long, and a hung or overloaded database then answers 503 instead of holding the request.
 */
export const DEFAULT_STATEMENT_TIMEOUT_MS = 10_000;

/** The store's PostgreSQL driver, migrated (without the statement bound: a migration may take long). */
export function openPostgresDriver(url: string, poolSize?: number, statementTimeoutMs = DEFAULT_STATEMENT_TIMEOUT_MS): Promise<PostgresRunner> {
  return PostgresRunner.open(url, { poolSize, statementTimeoutMs, violations: STORE_VIOLATIONS, migrations: [STORE_MIGRATIONS] });
}
