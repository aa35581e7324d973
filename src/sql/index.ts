/**
 * The SQL foundation the server store and the connector share. It knows nothing of SCIM resources.
 *
 * - builder.ts: the tagged `sql` template (values become bound `?` parameters, `Sql` fragments are inlined), `raw`,
 *   `join`, `list`, `chunks`; operations as generators of statements (`Op<T>`) read results with `rows<T>`,
 *   `first<T>` and `exec`.
 * - dialect.ts: what differs per database (`Dialect`: column types, list parameters, locks, folding, collation;
 *   `JsonDialect`: queries into JSON documents), for SQLite and PostgreSQL.
 * - runner.ts, sqlite.ts, postgres.ts: the one transaction runner (`Runner.run(op, mode)`), per database.
 * - migrate.ts: the one versioned migrator, generic over a list of migrations and the table recording them.
 *
 * How a connector destination builds on it:
 *
 * - Open a runner with the destination's own migration set (its own table name, e.g. `_scimkit_migrations`, and lock
 *   key), so its tables migrate like the store's: `new SqliteRunner(file, { migrations: [set], busyTimeoutMs })` or
 *   `await PostgresRunner.open(url, { migrations: [set], poolSize: 1 })`. Version 1 of the set is today's DDL
 *   (`CREATE TABLE IF NOT EXISTS`, so an existing file adopts it); columns are declared with
 *   `runner.dialect.columnType(type)` (text, integer, boolean, timestamp, json).
 * - Write each page as one operation: `runner.run(function* () { ...; yield* exec(sql`...`); return n; }, 'write')`.
 *   The runner begins, commits, and rolls back when the generator throws; SQLite runs the page synchronously in one
 *   better-sqlite3 transaction, PostgreSQL on one client, and reruns the whole operation after a deadlock (so the
 *   generator must have no side effects outside the database before it returns).
 * - List parameters: `IN (SELECT value FROM ${dialect.values(ids)})` binds any number of ids as one parameter;
 *   `IN (${list(ids)})` over `chunks(ids, 500)` binds them one by one.
 * - Batched upserts: SQLite, one prepared `INSERT ... ON CONFLICT DO UPDATE` yielded per row (the runner caches the
 *   prepared statement by its text) or a multi-row VALUES per chunk; PostgreSQL, one statement per chunk with a
 *   bound array per column (`SELECT * FROM unnest(${texts}::text[], ${flags}::boolean[])`): pg binds a JS array as
 *   a PostgreSQL array, so the statement text stays the same for every chunk size.
 * - The run lock: PostgreSQL `tryPostgresLock(url, key)` (a session advisory lock on a connection of its own);
 *   SQLite, a lock row written in a `write` operation (BEGIN IMMEDIATE excludes other writers meanwhile).
 * - duckdb.ts: the DuckDB runner (the connector's DuckDB destination): `duckdbDialect`, migrations with a `duckdb`
 *   statement list, and `append` (builder.ts) for bulk rows through DuckDB's appender.
 */
export { append, chunks, exec, execEach, first, join, list, raw, rows, sql } from './builder.ts';
export type { AppendRows, Op, Row, Sql, Statement, StatementResult, ViolationMessages } from './builder.ts';
export { duckdbDialect, foldCase, postgresDialect, sqliteDialect } from './dialect.ts';
export type { ColumnType, Dialect, DialectName, JsonDialect, JsonRef, ScalarKind, TableColumn } from './dialect.ts';
export { migrate } from './migrate.ts';
export type { Migration, MigrationSet } from './migrate.ts';
export type { Runner, RunnerOptions, TransactionMode, ViolationErrors } from './runner.ts';
export { createPrivately, SqliteRunner } from './sqlite.ts';
export type { SqliteRunnerOptions } from './sqlite.ts';
export { PostgresRunner } from './postgres.ts';
export { DuckDbBusy, DuckDbRunner } from './duckdb.ts';
export type { DuckDbRunnerOptions } from './duckdb.ts';
export { tryPostgresLock } from './postgres-lock.ts';
export type { PostgresRunnerOptions } from './postgres.ts';
export { maskPassword, parseDatabaseUrl } from './url.ts';
export type { DatabaseUrl } from './url.ts';
