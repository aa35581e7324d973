/** PostgreSQL destination (pg): one connection, batched `unnest()` upserts, an advisory lock per run. */
import pg from 'pg';
import { hostname } from 'node:os';
import type { Row } from '../mapping.ts';
import type { ColumnType, TableDef } from '../tables.ts';
import { allColumns, q, SqlDestination, type Params, type SqlDriver } from './sql.ts';
import type { LockHolder } from './types.ts';

const TYPES: Readonly<Record<ColumnType, string>> = {
  text: 'text',
  boolean: 'boolean',
  integer: 'integer',
  timestamp: 'timestamptz',
  json: 'jsonb',
};

/** Array types rows are shipped in: timestamps and JSON travel as text and are cast in the SELECT. */
const ARRAY_TYPES: Readonly<Record<ColumnType, string>> = {
  text: 'text[]',
  boolean: 'boolean[]',
  integer: 'integer[]',
  timestamp: 'text[]',
  json: 'text[]',
};

const CHUNK = 2000;
/** Arbitrary fixed key for the run lock (pg_try_advisory_lock takes a bigint). */
const LOCK_KEY = 7_193_482_001;

function toPositional(sql: string): string {
  let n = 0;
  return sql.replace(/\?/g, () => `$${++n}`);
}

/** The URL without its password, for messages. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return 'postgres://(invalid URL)';
  }
}

class PostgresDriver implements SqlDriver {
  readonly dialect = 'postgres' as const;
  readonly listSource = 'unnest(?::text[]) AS l(value)';
  readonly label: string;
  private locked = false;

  constructor(private readonly client: pg.Client, url: string) {
    this.label = redactUrl(url);
  }

  async all(sql: string, params: Params = []): Promise<Record<string, unknown>[]> {
    return (await this.client.query(toPositional(sql), params as unknown[])).rows as Record<string, unknown>[];
  }

  async run(sql: string, params: Params = []): Promise<number> {
    return (await this.client.query(toPositional(sql), params as unknown[])).rowCount ?? 0;
  }

  async exec(script: string): Promise<void> {
    await this.client.query(script);
  }

  async begin(): Promise<void> {
    await this.client.query('BEGIN');
  }

  async commit(): Promise<void> {
    await this.client.query('COMMIT');
  }

  async rollback(): Promise<void> {
    await this.client.query('ROLLBACK');
  }

  columnType(type: ColumnType): string {
    return TYPES[type];
  }

  listParam(values: readonly string[]): unknown {
    return values;
  }

  async upsert(table: TableDef, rows: readonly Row[], syncedAt: string): Promise<void> {
    const data = table.columns;
    const cols = allColumns(table);
    const keys = new Set(table.key);
    const select = data.map((c, i) => {
      const v = `u.c${i}`;
      return c.type === 'timestamp' ? `${v}::timestamptz` : c.type === 'json' ? `${v}::jsonb` : v;
    });
    const hashParam = data.length + 1;
    const syncedParam = data.length + 2;
    const sql = `INSERT INTO ${q(table.name)} (${cols.map((c) => q(c.name)).join(', ')})
      SELECT ${select.join(', ')}, u.h, $${syncedParam}::timestamptz, FALSE, NULL
      FROM unnest(${data.map((c, i) => `$${i + 1}::${ARRAY_TYPES[c.type]}`).join(', ')}, $${hashParam}::text[]) AS u(${data.map((_, i) => `c${i}`).join(', ')}, h)
      ON CONFLICT (${table.key.map(q).join(', ')}) DO UPDATE SET ${cols.filter((c) => !keys.has(c.name)).map((c) => `${q(c.name)} = excluded.${q(c.name)}`).join(', ')}`;
    for (let start = 0; start < rows.length; start += CHUNK) {
      const chunk = rows.slice(start, start + CHUNK);
      const params: unknown[] = data.map((_, i) => chunk.map((r) => r.values[i]));
      params.push(chunk.map((r) => r.hash), syncedAt);
      await this.client.query(sql, params);
    }
  }

  async lock(): Promise<void> {
    const r = await this.client.query('SELECT pg_try_advisory_lock($1) AS ok', [LOCK_KEY]);
    if (!r.rows[0]?.ok) throw new Error(`another sync is writing to ${this.label}`);
    this.locked = true;
  }

  async lockHolder(): Promise<LockHolder | null> {
    // A bigint advisory key shows in pg_locks as its high and low 32 bits; advisory locks belong to one database.
    const r = await this.client.query(
      `SELECT a.application_name, a.backend_start FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
       WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 AND l.classid::bigint = $1 AND l.objid::bigint = $2 AND l.pid <> pg_backend_pid()
         AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
      [Math.floor(LOCK_KEY / 2 ** 32), LOCK_KEY % 2 ** 32],
    );
    const row = r.rows[0] as { application_name: string; backend_start: Date } | undefined;
    if (!row) return null;
    return { process: row.application_name.replace(/^scimkit /, '') || 'a PostgreSQL session', since: row.backend_start.toISOString() };
  }

  async unlock(): Promise<void> {
    if (!this.locked) return;
    await this.client.query('SELECT pg_advisory_unlock($1)', [LOCK_KEY]);
    this.locked = false;
  }

  async close(): Promise<void> {
    await this.unlock().catch(() => {});
    await this.client.end();
  }
}

export async function openPostgres(url: string): Promise<SqlDestination> {
  // The name shows in pg_stat_activity, so `scimkit state` can say which process holds the run lock.
  const client = new pg.Client({ connectionString: url, application_name: `scimkit pid ${process.pid} on ${hostname()}`.slice(0, 63) });
  try {
    await client.connect();
  } catch (err) {
    throw new Error(`cannot connect to ${redactUrl(url)}: ${(err as Error).message}`);
  }
  // Without a handler, a server-side disconnect would crash the process instead of failing the run.
  client.on('error', () => {});
  await client.query("SET client_min_messages = 'warning'");
  return new SqlDestination(new PostgresDriver(client, url));
}
