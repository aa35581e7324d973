/**
 * DuckDB destination: one database file through src/sql's DuckDB runner. Rows are loaded with DuckDB's appender into
 * staging tables (temporary, per connection; Operations.upsert) and merged with one set-based upsert per batch. A namespace
 * is a schema, the connection's default. DuckDB lets one process open a file for writing, so the file itself is the
 * run lock: a second process cannot open it while a sync runs.
 */
import { chmodSync, existsSync, mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { exec, raw, sql } from '../../sql/builder.ts';
import { DuckDbBusy, DuckDbRunner } from '../../sql/duckdb.ts';
import { SqlDestination, type RunLock } from './destination.ts';
import { connectorMigrations, tableName, tableRefs } from './schema.ts';
import type { RowsPerWrite } from './types.ts';

/** Holding the file open is the lock: nothing to take, and nobody else can hold it while this process has it. */
const FILE_LOCK: RunLock = {
  acquire: async () => {},
  release: async () => {},
  holder: async () => null,
};

/**
 * DuckDB's memory, held to what a sync needs (docs/connector.md, "DuckDB's memory"): by default DuckDB keeps every
 * block it wrote cached up to 80% of the machine's memory, and its allocator keeps what it freed, so a sync's
 * resident memory grew with the data written (764 MB at 100,000 users against 314 MB at 10,000). A sync writes and
 * rarely reads back, so a small cache costs little; a transaction that needs more raises the limit (DuckDbRunner).
 */
const MEMORY_LIMIT_MB = 64;
const ALLOCATOR_SETTINGS = ["SET allocator_flush_threshold = '16MB'", 'SET allocator_background_threads = true'];
/** Rows per row group: a checkpoint then compresses at most this many users (raw JSON included) at a time. */
const ROW_GROUP_SIZE = 16_384;
/**
 * A write here is a staged, set-based upsert, which costs per write rather than per row: a page of users (at most
 * 1,000) and 5,000 memberships at a time. The sync's smaller default cost DuckDB 14% (users) and 20% (memberships,
 * whose groups page also passed the memory limit and ran twice) more CPU (BENCHMARKS.md, issue 16, session 5).
 */
const DUCKDB_ROWS_PER_WRITE: RowsPerWrite = { users: 1000, members: 5000 };

export async function openDuckDb(path: string, namespace: string | null): Promise<SqlDestination> {
  const full = resolve(path);
  // As for SQLite (sqlite.ts): a new file and a folder made for it are its owner's alone. DuckDB refuses an empty
  // file, so the file it creates is made private as soon as it exists, before a row is written.
  mkdirSync(dirname(full), { recursive: true, mode: 0o700 });
  const created = !existsSync(full);
  const setup = [...ALLOCATOR_SETTINGS, ...(namespace === null ? [] : [`CREATE SCHEMA IF NOT EXISTS "${namespace}"`, `SET schema = '${namespace}'`])];
  const label = `duckdb:${full}${namespace === null ? '' : ` (namespace ${namespace}: schema ${namespace})`}`;
  let runner: DuckDbRunner;
  try {
    runner = await DuckDbRunner.open(full, { setup, rowGroupSize: ROW_GROUP_SIZE, memoryLimitMb: MEMORY_LIMIT_MB, migrations: [connectorMigrations('duckdb', namespace)] });
    if (created) chmodSync(full, 0o600);
  } catch (err) {
    // A file another process holds is its own message (`scimkit state` reports the running sync from it).
    if (err instanceof DuckDbBusy) throw err;
    throw new Error(`cannot open ${label}: ${(err as Error).message}`);
  }
  const tables = tableRefs('duckdb', namespace);
  return new SqlDestination({
    kind: 'duckdb',
    label,
    namespace,
    runner,
    tables,
    lock: FILE_LOCK,
    tableLabel: (table) => (namespace === null ? table : `${namespace}.${table}`),
    rowsPerWrite: DUCKDB_ROWS_PER_WRITE,
    *dropAll() {
      for (const key of ['users', 'groups', 'group_members', 'state', 'seen', 'source', 'columns'] as const) yield* exec(sql`DROP TABLE IF EXISTS ${tables[key]}`);
      yield* exec(sql`DROP TABLE IF EXISTS ${raw(`"${tableName('duckdb', namespace, 'migrations')}"`)}`);
    },
  });
}
