/**
 * SQLite runner (better-sqlite3): one connection, WAL, each operation in one transaction (BEGIN IMMEDIATE for
 * writes). better-sqlite3 is synchronous, so an operation runs start to finish without yielding to the event loop
 * and concurrent calls never interleave inside a transaction.
 *
 * WAL checkpoints run on a worker thread with its own connection once a process has written a little (a server,
 * not a one-shot CLI command): an automatic checkpoint would otherwise run inside whichever commit crosses the WAL
 * size threshold, copying a thousand pages and syncing the file while every request queued behind it waits.
 * Under a steady stream of writes the worker's checkpoint never catches up with the last commit, and the WAL only
 * starts over once a checkpoint has copied all of it; so when the WAL has grown past a threshold the worker raises
 * a flag and the next write first finishes the checkpoint itself, which leaves only the few pages written since
 * the worker's last pass to copy.
 */
import { closeSync, openSync } from 'node:fs';
import { createRequire } from 'node:module';
import { resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Worker } from 'node:worker_threads';
import Database from 'better-sqlite3';
import type { Database as DatabaseType, Statement as PreparedStatement, Transaction } from 'better-sqlite3';
import type { Op, Row, Statement, StatementResult } from './builder.ts';
import { SQLITE_LOWER_FUNCTION, foldCase, sqliteDialect } from './dialect.ts';
import { migrate } from './migrate.ts';
import type { MigrationSet } from './migrate.ts';
import type { Runner, RunnerOptions, TransactionMode, ViolationErrors } from './runner.ts';

/** Prepared statements kept per connection; filters make many shapes, so the cache is bounded. */
const STATEMENT_CACHE_SIZE = 500;
const MMAP_BYTES = 1024 * 1024 * 1024;
/** Write transactions after which the checkpoint worker starts; until then SQLite checkpoints as it commits. */
const CHECKPOINT_WORKER_AFTER_WRITES = 100;
const CHECKPOINT_INTERVAL_MS = 50;
/**
 * WAL pages (4 KiB each) past which the next write finishes the worker's checkpoint, so that the WAL starts over.
 * Finishing syncs the files twice (a few milliseconds on a virtual disk) while writes wait, so it is kept rare:
 * 64 MiB of WAL is some 3,000 group PATCHes or POSTs.
 */
const WAL_RESTART_PAGES = 16_384;
/** At most this many pages left for the main thread to copy when it finishes a checkpoint, when the worker can manage. */
const FINISH_PAGES = 64;
/** With the worker on, SQLite's own automatic checkpoint stays as a backstop at a size the worker never lets the WAL reach. */
const BACKSTOP_AUTOCHECKPOINT_PAGES = 32_768;
/** SQLite's default wal_autocheckpoint, restored when the worker cannot run. */
const DEFAULT_AUTOCHECKPOINT_PAGES = 1000;
/**
 * The longest a write's BEGIN IMMEDIATE waits at a time, with the thread blocked, for another process's write lock.
 * better-sqlite3 waits synchronously, so a write that waited the whole busy timeout at once would stop every other
 * request of the process (reads and health checks included) for that long; the write waits out the rest between
 * tries instead, while the event loop serves the others.
 */
const BUSY_SLICE_MS = 20;
/** Longest pause between two tries of a write waiting for another process's lock. */
const BUSY_RETRY_MAX_MS = 100;

/**
 * The checkpoint worker (CommonJS, run with eval): a PASSIVE checkpoint never waits for or blocks readers and
 * writers; it copies what it can and leaves the rest for the next round. `flag[0]` set to 1 asks the main thread
 * to finish the checkpoint (shared memory, so it works even while the main thread never returns to its event loop).
 */
const CHECKPOINT_WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.module);
const db = new Database(workerData.path, { fileMustExist: true });
const checkpoint = db.prepare('PRAGMA wal_checkpoint(PASSIVE)');
const flag = new Int32Array(workerData.flag);
const timer = setInterval(() => {
  try {
    let [result] = checkpoint.all();
    if (result.log < workerData.restartPages) return;
    // Each pass copies what was committed during the one before; a few passes in a row leave the main thread
    // only a handful of pages to copy (and to sync) when it finishes.
    for (let pass = 0; pass < 8; pass++) {
      const before = result.log;
      [result] = checkpoint.all();
      if (result.log - before <= workerData.finishPages) break;
    }
    Atomics.store(flag, 0, 1);
  } catch { /* busy or closing: the next round retries */ }
}, workerData.intervalMs);
parentPort.once('message', () => {
  clearInterval(timer);
  db.close();
  parentPort.close();
});
`;

function bindable(value: unknown): unknown {
  if (value === undefined) return null;
  if (typeof value === 'boolean') return value ? 1 : 0;
  return value;
}

/** Maps a constraint violation to the statement's error, else the default one; anything else is rethrown as it is. */
function sqliteError(err: unknown, statement: Statement, defaults: ViolationErrors): unknown {
  const code = (err as { code?: unknown } | null)?.code;
  if (code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY') {
    return (statement.unique ?? defaults.unique)?.() ?? err;
  }
  if (code === 'SQLITE_CONSTRAINT_FOREIGNKEY') return (statement.foreignKey ?? defaults.foreignKey)?.() ?? err;
  return unavailableError(err, defaults);
}

/** The driver's own error for a lock another connection holds (not yet mapped to the unavailable error). */
function isBusy(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && code.startsWith('SQLITE_BUSY');
}

/** Another process held its lock past the busy timeout, or the disk is full: a retry later may succeed. */
function unavailableError(err: unknown, defaults: ViolationErrors): unknown {
  const code = (err as { code?: unknown } | null)?.code;
  if (code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED' || code === 'SQLITE_FULL') return defaults.unavailable?.(err) ?? err;
  return err;
}

type RunOp = (op: () => Op<unknown>) => unknown;

/**
 * Creates a missing database file readable and writable by its owner only (SQLite would create it 0644): the
 * server's holds users' data and password hashes, a connector warehouse users' data. SQLite gives the -wal and -shm
 * files (and its journals) the database file's mode. An existing file keeps the mode it has; anything but "it
 * exists" is left for SQLite to report when it opens the path.
 */
export function createPrivately(path: string): void {
  if (path === ':memory:' || path === '') return;
  try {
    closeSync(openSync(path, 'wx', 0o600));
  } catch {
    // EEXIST, or a path SQLite will refuse with its own error.
  }
}

export interface SqliteRunnerOptions extends RunnerOptions {
  /** Overrides WAL_RESTART_PAGES (tests use a small one). */
  readonly walRestartPages?: number;
  /**
   * Overrides BACKSTOP_AUTOCHECKPOINT_PAGES while the worker runs; 0 switches SQLite's own checkpoint off, so that a
   * test sees what the worker alone does.
   */
  readonly backstopPages?: number;
  /**
   * How long a write waits for another connection's lock before failing (default 5000). It waits in slices of at
   * most BUSY_SLICE_MS with the thread blocked, and between them without blocking it.
   */
  readonly busyTimeoutMs?: number;
  /** Bytes of the file SQLite reads through a memory map (default MMAP_BYTES); 0 reads through its page cache only. */
  readonly mmapBytes?: number;
  /** Page size of a new database file (SQLite's default, 4096, otherwise); an existing file keeps its own. */
  readonly pageBytes?: number;
  /** Most KiB of pages the connection caches (better-sqlite3's default is 16,000). */
  readonly cacheKib?: number;
  /**
   * false: no checkpoint worker; SQLite checkpoints inside the commit that fills the WAL, as it does by default. For
   * a single batch writer (the connector), where no request waits behind a commit and a thread's 8 MiB of memory
   * is nearly a tenth of a sync's.
   */
  readonly checkpointWorker?: boolean;
}

export class SqliteRunner implements Runner {
  readonly dialect = sqliteDialect;
  private readonly db: DatabaseType;
  private readonly statements = new Map<string, PreparedStatement>();
  /** Built once: better-sqlite3 makes a transaction wrapper per call to db.transaction(), which costs more than BEGIN and COMMIT. */
  private readonly transaction: Transaction<RunOp>;
  private readonly dataVersion: PreparedStatement;
  private seenDataVersion: number | null = null;
  private readonly fileBacked: boolean;
  private writes = 0;
  private checkpointer: Worker | null = null;
  /** Set to 1 by the checkpoint worker when the next write should finish its checkpoint. */
  private readonly finishCheckpoint = new Int32Array(new SharedArrayBuffer(4));
  private closing = false;

  /** The database file, absolute, so that the checkpoint worker opens the same one whatever the working directory is by then. */
  private readonly path: string;

  private readonly violations: ViolationErrors;
  private readonly busyTimeoutMs: number;

  /**
   * Opens (creating when missing) the database file at `path`, or a private in-memory database for ':memory:', and
   * applies `options.migrations`. Foreign keys are enforced and LIKE is case-sensitive, as in PostgreSQL.
   */
  constructor(
    path: string,
    private readonly options: SqliteRunnerOptions = {},
  ) {
    this.violations = options.violations ?? {};
    this.busyTimeoutMs = options.busyTimeoutMs ?? 5000;
    this.fileBacked = path !== ':memory:' && path !== '';
    this.path = this.fileBacked ? resolve(path) : path;
    this.db = new Database(path);
    try {
      // Only takes effect before the first table is written, and before WAL is on.
      if (options.pageBytes !== undefined) this.db.pragma(`page_size = ${options.pageBytes}`);
      if (options.cacheKib !== undefined) this.db.pragma(`cache_size = -${options.cacheKib}`);
      if (this.fileBacked) this.db.pragma('journal_mode = WAL');
      this.db.pragma('synchronous = NORMAL');
      // The whole timeout while the constructor migrates (it runs synchronously anyway); a slice from then on.
      this.db.pragma(`busy_timeout = ${this.busyTimeoutMs}`);
      this.db.pragma('foreign_keys = ON');
      // Reads through a memory map skip a system call and a copy per page (about a tenth of a GET's cost on a large
      // file); writes still go through the WAL as before.
      if (this.fileBacked) this.db.pragma(`mmap_size = ${options.mmapBytes ?? MMAP_BYTES}`);
      // LIKE must be case-sensitive: case-insensitive comparisons fold both sides explicitly (Dialect.lower).
      this.db.pragma('case_sensitive_like = ON');
      this.db.function(SQLITE_LOWER_FUNCTION, { deterministic: true }, (value: unknown) => (typeof value === 'string' ? foldCase(value) : value));
      this.transaction = this.db.transaction((op: () => Op<unknown>): unknown => {
        const steps = op();
        try {
          let step = steps.next();
          while (!step.done) step = steps.next(this.execute(step.value));
          return step.value;
        } finally {
          steps.return(undefined);
        }
      });
      this.dataVersion = this.db.prepare('PRAGMA data_version').pluck();
      for (const set of options.migrations ?? []) this.migrateNow(set);
      this.db.pragma(`busy_timeout = ${Math.min(this.busyTimeoutMs, BUSY_SLICE_MS)}`);
    } catch (err) {
      this.db.close();
      throw err;
    }
  }

  /**
   * SQLite's data_version: it changes whenever another connection (another process on the same file) has committed.
   * Read at most once per event-loop turn: reading it takes the database's shared-memory lock, which costs as much as
   * a small query. Requests handled in one turn arrived together, so a change another connection commits is seen by
   * every request that arrives after it, except those taken in the turn already under way (well under a millisecond).
   */
  externalVersion(): number {
    if (this.seenDataVersion === null) {
      this.seenDataVersion = this.dataVersion.get() as number;
      setImmediate(() => {
        this.seenDataVersion = null;
      });
    }
    return this.seenDataVersion;
  }

  /** Synchronous, so a runner is migrated by the time its constructor returns. */
  private migrateNow(set: MigrationSet): number {
    return this.transaction.immediate(() => migrate(this.dialect, set, new Date().toISOString())) as number;
  }

  migrate(set: MigrationSet): Promise<number> {
    try {
      return Promise.resolve(this.migrateNow(set));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  private prepare(text: string): PreparedStatement {
    let statement = this.statements.get(text);
    if (statement) {
      // Most recently used last, so the statements evicted first are the ones not used for longest.
      this.statements.delete(text);
      this.statements.set(text, statement);
      return statement;
    }
    statement = this.db.prepare(text);
    if (this.statements.size >= STATEMENT_CACHE_SIZE) {
      const oldest = this.statements.keys().next().value;
      if (oldest !== undefined) this.statements.delete(oldest);
    }
    this.statements.set(text, statement);
    return statement;
  }

  private execute(statement: Statement): StatementResult {
    if (statement.append) throw new Error('appending rows in bulk is a DuckDB runner operation; SQLite runs statements');
    try {
      const prepared = this.prepare(statement.sql.text);
      if (statement.each) {
        // One array for every row's bound values: better-sqlite3 copies them when it binds.
        const bound: unknown[] = new Array(statement.sql.params.length);
        let changes = 0;
        for (const params of statement.each) {
          for (let i = 0; i < bound.length; i++) bound[i] = bindable(params[i]);
          changes += prepared.run(bound).changes;
        }
        return { rows: [], changes };
      }
      const params = statement.sql.params.map(bindable);
      if (prepared.reader) {
        const found = prepared.all(...params) as Row[];
        return { rows: found, changes: found.length };
      }
      return { rows: [], changes: prepared.run(...params).changes };
    } catch (err) {
      throw sqliteError(err, statement, this.violations);
    }
  }

  run<T>(op: () => Op<T>, mode: TransactionMode): Promise<T> {
    try {
      if (mode === 'read') return Promise.resolve(this.transaction.deferred(op) as T);
      if (++this.writes === CHECKPOINT_WORKER_AFTER_WRITES && this.fileBacked && this.options.checkpointWorker !== false) this.startCheckpointer();
      if (Atomics.exchange(this.finishCheckpoint, 0, 0) === 1) this.db.pragma('wal_checkpoint(PASSIVE)');
      return Promise.resolve(this.transaction.immediate(op) as T);
    } catch (err) {
      // BEGIN IMMEDIATE itself waits for another process's write lock: a slice at a time (BUSY_SLICE_MS).
      if (mode === 'write' && isBusy(err) && this.busyTimeoutMs > BUSY_SLICE_MS) return this.writeOnceFree(op, Date.now() + this.busyTimeoutMs - BUSY_SLICE_MS);
      return Promise.reject(unavailableError(err, this.violations));
    }
  }

  /**
   * Tries a write again, between pauses that leave the event loop free, until another process's write lock is
   * released or `deadline` passes (then it is unavailable). Safe because a try that met the lock ran nothing: it
   * failed at BEGIN IMMEDIATE, or rolled back.
   */
  private async writeOnceFree<T>(op: () => Op<T>, deadline: number): Promise<T> {
    for (let pause = 5; ; pause = Math.min(pause * 2, BUSY_RETRY_MAX_MS)) {
      await sleep(Math.max(0, Math.min(pause, deadline - Date.now())));
      try {
        return this.transaction.immediate(op) as T;
      } catch (err) {
        if (!isBusy(err) || Date.now() >= deadline) throw unavailableError(err, this.violations);
      }
    }
  }

  private startCheckpointer(): void {
    let worker: Worker;
    try {
      worker = new Worker(CHECKPOINT_WORKER_SOURCE, {
        eval: true,
        workerData: {
          module: createRequire(import.meta.url).resolve('better-sqlite3'),
          path: this.path,
          intervalMs: CHECKPOINT_INTERVAL_MS,
          restartPages: this.options.walRestartPages ?? WAL_RESTART_PAGES,
          finishPages: FINISH_PAGES,
          flag: this.finishCheckpoint.buffer,
        },
      });
    } catch {
      return; // SQLite keeps checkpointing inside commits, as it did so far.
    }
    worker.unref();
    this.checkpointer = worker;
    const fallBack = () => {
      if (this.checkpointer !== worker) return;
      this.checkpointer = null;
      if (!this.closing) this.db.pragma(`wal_autocheckpoint = ${DEFAULT_AUTOCHECKPOINT_PAGES}`);
    };
    this.db.pragma(`wal_autocheckpoint = ${this.options.backstopPages ?? BACKSTOP_AUTOCHECKPOINT_PAGES}`);
    worker.once('error', fallBack);
    worker.once('exit', fallBack);
  }

  private async stopCheckpointer(): Promise<void> {
    const worker = this.checkpointer;
    this.checkpointer = null;
    if (!worker) return;
    const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
    worker.postMessage('close');
    // It closes its connection between checkpoints; a worker that does not answer is stopped.
    const timer = setTimeout(() => void worker.terminate(), 2000);
    await exited;
    clearTimeout(timer);
  }

  async close(): Promise<void> {
    this.closing = true;
    // The worker's connection goes first, so that closing the last connection checkpoints and removes the WAL.
    await this.stopCheckpointer();
    this.db.close();
  }
}
