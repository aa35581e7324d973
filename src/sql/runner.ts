/**
 * The one transaction runner: runs an operation (a generator of statements, see builder.ts) in one transaction and
 * hands each statement's result back to it. Commit when the operation returns, rollback when it throws. SQLite
 * (sqlite.ts) runs it synchronously inside a better-sqlite3 transaction; PostgreSQL (postgres.ts) awaits each
 * statement on one pooled client.
 */
import type { Op } from './builder.ts';
import type { Dialect } from './dialect.ts';
import type { MigrationSet } from './migrate.ts';

/** Read transactions see one snapshot; write transactions are serialized where they conflict. */
export type TransactionMode = 'read' | 'write';

export interface Runner<D extends Dialect = Dialect> {
  readonly dialect: D;
  /** Runs `op` in one transaction. */
  run<T>(op: () => Op<T>, mode: TransactionMode): Promise<T>;
  /** Applies the set's pending migrations in one write transaction; returns how many it applied. */
  migrate(set: MigrationSet): Promise<number>;
  close(): Promise<void>;
  /**
   * Optional, for a runner whose operations run start to finish in one synchronous call: a number that changes
   * whenever another connection (another process on the same database) has committed. A caller may keep what it
   * read only with one.
   */
  externalVersion?(): number;
}

/**
 * The errors a runner throws for constraint violations when the statement names none (ViolationMessages). Each one
 * left out rethrows the database's own error.
 */
export interface ViolationErrors {
  readonly unique?: () => Error;
  readonly foreignKey?: () => Error;
  /** Text the database cannot store (PostgreSQL: a NUL character, invalid Unicode). */
  readonly unstorableText?: () => Error;
  /**
   * The database cannot serve now, and a retry later may succeed: PostgreSQL refused or lost the connection, is
   * shutting down or starting, or has no connection slot left; SQLite stayed locked by another process past the
   * busy timeout, or its disk is full. `cause` is the database's error.
   */
  readonly unavailable?: (cause: unknown) => Error;
}

export interface RunnerOptions {
  readonly violations?: ViolationErrors;
  /** Applied, in order, when the runner opens. */
  readonly migrations?: readonly MigrationSet[];
}
