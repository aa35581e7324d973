/**
 * The one versioned migrator. A migration set is a list of numbered migrations and the table that records which
 * ones a database has (`version`, `name`, `applied`). Pending ones run in version order, each statement as given,
 * all in one write transaction, so a database is never left half migrated. Append new versions; never edit one
 * that has shipped.
 */
import { exec, raw, rows, sql } from './builder.ts';
import type { Op } from './builder.ts';
import type { Dialect, DialectName } from './dialect.ts';

export interface Migration {
  readonly version: number;
  readonly name: string;
  /** The statements per dialect, one SQL statement each, without `?`. */
  readonly sqlite?: readonly string[];
  readonly postgres?: readonly string[];
  readonly duckdb?: readonly string[];
}

export interface MigrationSet {
  /** The table that records applied versions (an SQL identifier: letters, digits, underscores). */
  readonly table: string;
  readonly migrations: readonly Migration[];
  /** Serializes migrations of this set across processes where the dialect needs it (Dialect.transactionLock). */
  readonly lockKey: number;
}

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;

function statementsFor(migration: Migration, dialect: DialectName): readonly string[] {
  const statements = migration[dialect];
  if (statements === undefined) throw new Error(`Migration ${migration.version} (${migration.name}) has no statements for ${dialect}`);
  return statements;
}

/** The migration operation, for a runner to run in one write transaction. Returns the number applied. */
export function* migrate(dialect: Dialect, set: MigrationSet, now: string): Op<number> {
  if (!IDENTIFIER.test(set.table)) throw new Error(`Migrations table name ${JSON.stringify(set.table)} is not a plain SQL identifier`);
  const ordered = [...set.migrations].sort((a, b) => a.version - b.version);
  ordered.forEach((m, i) => {
    if (!Number.isSafeInteger(m.version) || m.version < 1) throw new Error(`Migration version ${m.version} must be a positive integer`);
    if (i > 0 && ordered[i - 1].version === m.version) throw new Error(`Migration version ${m.version} appears twice in ${set.table}`);
  });
  const table = raw(set.table);
  const lock = dialect.transactionLock(set.lockKey);
  if (lock) yield* exec(lock);
  yield* exec(sql`CREATE TABLE IF NOT EXISTS ${table} (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied TEXT NOT NULL)`);
  const found = yield* rows<{ version: number | string }>(sql`SELECT version FROM ${table}`);
  const applied = new Set(found.map((r) => Number(r.version)));
  let count = 0;
  for (const migration of ordered) {
    if (applied.has(migration.version)) continue;
    for (const statement of statementsFor(migration, dialect.name)) yield* exec(raw(statement));
    yield* exec(sql`INSERT INTO ${table} (version, name, applied) VALUES (${migration.version}, ${migration.name}, ${now})`);
    count++;
  }
  return count;
}
