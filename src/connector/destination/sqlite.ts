/** SQLite destination (better-sqlite3): a WAL file, one write transaction per page. */
import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname, resolve } from 'node:path';
import type { Row } from '../mapping.ts';
import { LOCK_TABLE, type Cell, type ColumnType, type TableDef } from '../tables.ts';
import { allColumns, q, SqlDestination, type Params, type SqlDriver } from './sql.ts';
import type { LockHolder } from './types.ts';

const TYPES: Readonly<Record<ColumnType, string>> = {
  text: 'TEXT',
  boolean: 'BOOLEAN',
  integer: 'INTEGER',
  timestamp: 'TIMESTAMP',
  json: 'TEXT',
};

/** SQLite has no boolean type: booleans bind as 0/1. */
function bind(v: unknown): unknown {
  return typeof v === 'boolean' ? (v ? 1 : 0) : v;
}

/** Whether a process id is alive on this host (a killed sync leaves its lock row behind). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

class SqliteDriver implements SqlDriver {
  readonly dialect = 'sqlite' as const;
  readonly listSource = 'json_each(?)';
  readonly label: string;
  private readonly db: Database.Database;
  private readonly statements = new Map<string, Database.Statement>();
  private locked = false;

  constructor(path: string) {
    const full = resolve(path);
    mkdirSync(dirname(full), { recursive: true });
    this.label = `sqlite:${full}`;
    this.db = new Database(full);
    this.db.pragma('journal_mode = WAL');
    // NORMAL keeps every committed transaction across a process kill; only a power cut may lose the last ones.
    this.db.pragma('synchronous = NORMAL');
    this.db.pragma('busy_timeout = 10000');
  }

  private prepare(sql: string): Database.Statement {
    let s = this.statements.get(sql);
    if (!s) {
      s = this.db.prepare(sql);
      this.statements.set(sql, s);
    }
    return s;
  }

  async all(sql: string, params: Params = []): Promise<Record<string, unknown>[]> {
    return this.prepare(sql).all(...params.map(bind)) as Record<string, unknown>[];
  }

  async run(sql: string, params: Params = []): Promise<number> {
    return this.prepare(sql).run(...params.map(bind)).changes;
  }

  async exec(script: string): Promise<void> {
    this.db.exec(script);
  }

  async begin(): Promise<void> {
    this.db.exec('BEGIN IMMEDIATE');
  }

  async commit(): Promise<void> {
    this.db.exec('COMMIT');
  }

  async rollback(): Promise<void> {
    if (this.db.inTransaction) this.db.exec('ROLLBACK');
  }

  columnType(type: ColumnType): string {
    return TYPES[type];
  }

  listParam(values: readonly string[]): unknown {
    return JSON.stringify(values);
  }

  async upsert(table: TableDef, rows: readonly Row[], syncedAt: string): Promise<void> {
    const cols = allColumns(table);
    const keys = new Set(table.key);
    const sql = `INSERT INTO ${q(table.name)} (${cols.map((c) => q(c.name)).join(', ')}) VALUES (${cols.map(() => '?').join(', ')})
      ON CONFLICT (${table.key.map(q).join(', ')}) DO UPDATE SET ${cols.filter((c) => !keys.has(c.name)).map((c) => `${q(c.name)} = excluded.${q(c.name)}`).join(', ')}`;
    const stmt = this.prepare(sql);
    for (const row of rows) {
      const values: Cell[] = [...row.values, row.hash, syncedAt, false, null];
      stmt.run(...values.map(bind));
    }
  }

  async lock(): Promise<void> {
    const me = { pid: process.pid, host: hostname() };
    this.db.exec('BEGIN IMMEDIATE');
    try {
      const held = this.db.prepare(`SELECT pid, host, started_at FROM ${LOCK_TABLE} WHERE name = 'sync'`).get() as { pid: number; host: string; started_at: string } | undefined;
      if (held && !(held.pid === me.pid && held.host === me.host) && (held.host !== me.host || alive(held.pid))) {
        throw new Error(`another sync (pid ${held.pid} on ${held.host}, since ${held.started_at}) is writing to ${this.label}`);
      }
      this.db.prepare(`INSERT INTO ${LOCK_TABLE} (name, pid, host, started_at) VALUES ('sync', ?, ?, ?) ON CONFLICT (name) DO UPDATE SET pid = excluded.pid, host = excluded.host, started_at = excluded.started_at`)
        .run(me.pid, me.host, new Date().toISOString());
      this.db.exec('COMMIT');
      this.locked = true;
    } catch (err) {
      if (this.db.inTransaction) this.db.exec('ROLLBACK');
      throw err;
    }
  }

  async lockHolder(): Promise<LockHolder | null> {
    const held = this.db.prepare(`SELECT pid, host, started_at FROM ${LOCK_TABLE} WHERE name = 'sync'`).get() as { pid: number; host: string; started_at: string } | undefined;
    // A killed sync leaves its row behind; on another host the row is taken at its word.
    if (!held || (held.host === hostname() && !alive(held.pid))) return null;
    return { process: `pid ${held.pid} on ${held.host}`, since: held.started_at };
  }

  async unlock(): Promise<void> {
    if (!this.locked) return;
    this.db.prepare(`DELETE FROM ${LOCK_TABLE} WHERE name = 'sync' AND pid = ? AND host = ?`).run(process.pid, hostname());
    this.locked = false;
  }

  async close(): Promise<void> {
    await this.unlock();
    this.db.close();
  }
}

export function openSqlite(path: string): SqlDestination {
  return new SqlDestination(new SqliteDriver(path));
}
