/** SQLite destination: a WAL file through src/sql's runner; the run lock is a row holding the process id. */
import { mkdirSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname, resolve } from 'node:path';
import { exec, first, raw, sql } from '../../sql/builder.ts';
import { createPrivately, SqliteRunner } from '../../sql/sqlite.ts';
import { databaseMessage, SqlDestination, unavailableDestination, type RunLock } from './destination.ts';
import { connectorMigrations, tableName, tableRefs, type TableRefs } from './schema.ts';
import type { LockHolder } from './types.ts';

/** Whether a process id is alive on this host (a killed sync leaves its lock row behind). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

interface LockRow {
  pid: number;
  host: string;
  started_at: string;
}

/** The lock row: BEGIN IMMEDIATE excludes other writers while it is checked and written. */
class SqliteLock implements RunLock {
  private held = false;

  constructor(
    private readonly runner: SqliteRunner,
    private readonly t: TableRefs,
    private readonly label: string,
  ) {}

  async acquire(): Promise<void> {
    const me = { pid: process.pid, host: hostname() };
    const { t, label } = this;
    await this.runner.run(function* () {
      const held = yield* first<LockRow>(sql`SELECT pid, host, started_at FROM ${t.lock} WHERE name = 'sync'`);
      if (held && !(held.pid === me.pid && held.host === me.host) && (held.host !== me.host || alive(held.pid))) {
        throw new Error(`another sync (pid ${held.pid} on ${held.host}, since ${held.started_at}) is writing to ${label}`);
      }
      yield* exec(sql`INSERT INTO ${t.lock} (name, pid, host, started_at) VALUES ('sync', ${me.pid}, ${me.host}, ${new Date().toISOString()})
        ON CONFLICT (name) DO UPDATE SET pid = excluded.pid, host = excluded.host, started_at = excluded.started_at`);
    }, 'write');
    this.held = true;
  }

  async release(): Promise<void> {
    if (!this.held) return;
    this.held = false;
    const { t } = this;
    await this.runner.run(function* () {
      yield* exec(sql`DELETE FROM ${t.lock} WHERE name = 'sync' AND pid = ${process.pid} AND host = ${hostname()}`);
    }, 'write');
  }

  async holder(): Promise<LockHolder | null> {
    const { t } = this;
    const held = await this.runner.run(() => first<LockRow>(sql`SELECT pid, host, started_at FROM ${t.lock} WHERE name = 'sync'`), 'read');
    // A killed sync leaves its row behind; on another host the row is taken at its word.
    if (!held || (held.host === hostname() && !alive(held.pid))) return null;
    return { process: `pid ${held.pid} on ${held.host}`, since: held.started_at };
  }
}

export function openSqlite(path: string, namespace: string | null): SqlDestination {
  const full = resolve(path);
  // The warehouse holds users' data: a new file (with its -wal and -shm) and a folder made for it are its owner's
  // alone, as the server's database is; an existing file keeps the mode its owner gave it.
  mkdirSync(dirname(full), { recursive: true, mode: 0o700 });
  createPrivately(full);
  // No memory map: a sync writes the file once through and reads little back, and mapped pages count as the
  // process's resident memory (372 MB against 262 MB at 50,000 users, BENCHMARKS.md). For the same reason a 2 MiB
  // page cache, not better-sqlite3's 16. Rows hold a resource's JSON (about 1.2 KB a user): 16 KiB pages write
  // them with a fifth less CPU than 4 KiB ones (a new file only; an existing one keeps its page size). No checkpoint
  // worker: a sync is one writer with nothing waiting behind its commits (the worker cost 8 MiB from the 100th page).
  const label = `sqlite:${full}${namespace === null ? '' : ` (namespace ${namespace}: tables ${namespace}_*)`}`;
  let runner: SqliteRunner;
  try {
    runner = new SqliteRunner(full, {
      migrations: [connectorMigrations('sqlite', namespace)], busyTimeoutMs: 10_000, mmapBytes: 0, pageBytes: 16_384, cacheKib: 2048,
      checkpointWorker: false, violations: unavailableDestination(label, 'another program held the file locked for more than 10 s, or the disk is full'),
    });
  } catch (err) {
    // SQLite's own message ("file is not a database") does not say which file.
    throw new Error(`cannot open ${label}: ${databaseMessage(err)}`);
  }
  const tables = tableRefs('sqlite', namespace);
  return new SqlDestination({
    kind: 'sqlite',
    label,
    namespace,
    runner,
    tables,
    lock: new SqliteLock(runner, tables, label),
    tableLabel: (table) => tableName('sqlite', namespace, table),
    *dropAll() {
      for (const key of ['users', 'groups', 'group_members', 'state', 'seen', 'source', 'columns'] as const) yield* exec(sql`DROP TABLE IF EXISTS ${tables[key]}`);
      // The next open migrates an empty namespace from the first version again.
      yield* exec(sql`DROP TABLE IF EXISTS ${raw(`"${tableName('sqlite', namespace, 'migrations')}"`)}`);
    },
  });
}
