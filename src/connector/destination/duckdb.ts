/**
 * DuckDB destination: one database file through src/sql's DuckDB runner. Rows are loaded with DuckDB's appender into
 * staging tables (temporary, per connection; Operations.upsert) and merged with one set-based upsert per batch. A namespace
 * is a schema, the connection's default. DuckDB lets one process open a file for writing, so the file itself is the
 * run lock: a second process cannot open it while a sync runs.
 */
import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { exec, raw, sql } from '../../sql/builder.ts';
import { DuckDbRunner } from '../../sql/duckdb.ts';
import { SqlDestination, type RunLock } from './destination.ts';
import { connectorMigrations, tableName, tableRefs } from './schema.ts';

/** Holding the file open is the lock: nothing to take, and nobody else can hold it while this process has it. */
const FILE_LOCK: RunLock = {
  acquire: async () => {},
  release: async () => {},
  holder: async () => null,
};

export async function openDuckDb(path: string, namespace: string | null): Promise<SqlDestination> {
  const full = resolve(path);
  mkdirSync(dirname(full), { recursive: true });
  const setup = namespace === null ? [] : [`CREATE SCHEMA IF NOT EXISTS "${namespace}"`, `SET schema = '${namespace}'`];
  const runner = await DuckDbRunner.open(full, { setup, migrations: [connectorMigrations('duckdb', namespace)] });
  const tables = tableRefs('duckdb', namespace);
  return new SqlDestination({
    kind: 'duckdb',
    label: `duckdb:${full}${namespace === null ? '' : ` (namespace ${namespace}: schema ${namespace})`}`,
    namespace,
    runner,
    tables,
    lock: FILE_LOCK,
    tableLabel: (table) => (namespace === null ? table : `${namespace}.${table}`),
    *dropAll() {
      for (const key of ['users', 'groups', 'group_members', 'state', 'seen', 'source', 'columns'] as const) yield* exec(sql`DROP TABLE IF EXISTS ${tables[key]}`);
      yield* exec(sql`DROP TABLE IF EXISTS ${raw(`"${tableName('duckdb', namespace, 'migrations')}"`)}`);
    },
  });
}
