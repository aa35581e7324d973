/**
 * PostgreSQL destination: src/sql's runner on a small pool, batched `unnest()` upserts, and a session advisory lock
 * per namespace for the length of a run. A namespace is a schema, reached through the connection's search_path.
 */
import { hostname } from 'node:os';
import { exec, first, raw, sql } from '../../sql/builder.ts';
import { tryPostgresLock } from '../../sql/postgres-lock.ts';
import { PostgresRunner } from '../../sql/postgres.ts';
import { databaseMessage, SqlDestination, unavailableDestination, type RunLock } from './destination.ts';
import { connectorMigrations, lockKeys, tableName, tableRefs } from './schema.ts';
import type { LockHolder } from './types.ts';

/** Query parameters node-postgres reads as secrets (a `?password=` wins over the URL's own password). */
const SECRET_PARAMS = ['password', 'sslpassword'];

/** The URL without its password (in its user part or its query), for messages. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    for (const name of SECRET_PARAMS) if (u.searchParams.has(name)) u.searchParams.set(name, '***');
    return u.toString();
  } catch {
    return 'postgres://(invalid URL)';
  }
}

/**
 * The URL every connection of this destination uses: its name shows in pg_stat_activity (so `scimkit state` can
 * name the process holding the run lock), and a namespace's schema comes first on the search_path.
 */
function connectionUrl(url: string, namespace: string | null): string {
  const u = new URL(url);
  u.searchParams.set('application_name', `scimkit pid ${process.pid} on ${hostname()}`.slice(0, 63));
  if (namespace !== null) {
    const options = u.searchParams.get('options');
    u.searchParams.set('options', `${options ? `${options} ` : ''}-c search_path="${namespace}"`);
  }
  return u.toString();
}

class PostgresLock implements RunLock {
  private release_: (() => Promise<void>) | null = null;

  constructor(
    private readonly url: string,
    private readonly runner: PostgresRunner,
    private readonly key: number,
    private readonly label: string,
  ) {}

  async acquire(): Promise<void> {
    const release = await tryPostgresLock(this.url, this.key);
    if (!release) {
      const holder = await this.holder();
      throw new Error(`another sync${holder ? ` (${holder.process}, since ${holder.since})` : ''} is writing to ${this.label}`);
    }
    this.release_ = release;
  }

  async release(): Promise<void> {
    const release = this.release_;
    this.release_ = null;
    if (release) await release();
  }

  async holder(): Promise<LockHolder | null> {
    const key = this.key;
    // A bigint advisory key shows in pg_locks as its high and low 32 bits; advisory locks belong to one database.
    const row = await this.runner.run(
      () => first<{ application_name: string; backend_start: Date }>(sql`SELECT a.application_name, a.backend_start
        FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
        WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 AND l.classid::bigint = ${Math.floor(key / 2 ** 32)}::bigint
          AND l.objid::bigint = ${key % 2 ** 32}::bigint AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())`),
      'read',
    );
    if (!row) return null;
    return { process: row.application_name.replace(/^scimkit /, '') || 'a PostgreSQL session', since: new Date(row.backend_start).toISOString() };
  }
}

export async function openPostgres(url: string, namespace: string | null): Promise<SqlDestination> {
  const label = `${redactUrl(url)}${namespace === null ? '' : ` (namespace ${namespace}: schema ${namespace})`}`;
  const runUrl = connectionUrl(url, namespace);
  let runner: PostgresRunner;
  try {
    if (namespace !== null) {
      // The schema must exist before the migrator creates its table in it.
      const setup = await PostgresRunner.open(url, { poolSize: 1 });
      try {
        await setup.run(() => exec(sql`CREATE SCHEMA IF NOT EXISTS ${raw(`"${namespace}"`)}`), 'write');
      } finally {
        await setup.close();
      }
    }
    runner = await PostgresRunner.open(runUrl, {
      migrations: [connectorMigrations('postgres', namespace)], poolSize: 2,
      violations: unavailableDestination(label, 'the server refused or lost the connection, or is shutting down'),
    });
  } catch (err) {
    throw new Error(`cannot open ${label}: ${databaseMessage(err)}`);
  }
  const tables = tableRefs('postgres', namespace);
  return new SqlDestination({
    kind: 'postgres',
    label,
    namespace,
    runner,
    tables,
    lock: new PostgresLock(runUrl, runner, lockKeys(namespace).run, label),
    tableLabel: (table) => (namespace === null ? table : `${namespace}.${table}`),
    *dropAll() {
      for (const key of ['users', 'groups', 'group_members', 'state', 'seen', 'source', 'columns'] as const) yield* exec(sql`DROP TABLE IF EXISTS ${tables[key]}`);
      yield* exec(sql`DROP TABLE IF EXISTS ${raw(`"${tableName('postgres', namespace, 'migrations')}"`)}`);
    },
  });
}
