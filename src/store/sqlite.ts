/**
 * SQLite driver (better-sqlite3): one connection, WAL, each operation in one transaction (BEGIN IMMEDIATE for
 * writes). better-sqlite3 is synchronous, so an operation runs start to finish without yielding to the event loop
 * and concurrent calls never interleave inside a transaction.
 */
import Database from 'better-sqlite3';
import type { Database as DatabaseType, Statement as PreparedStatement } from 'better-sqlite3';
import { ScimError } from '../scim/errors.ts';
import { sqliteDialect } from './dialect.ts';
import { MIGRATIONS, MIGRATIONS_TABLE } from './migrations.ts';
import type { Op, Row, Statement, StatementResult } from './sql.ts';
import type { Driver } from './store.ts';

/** Prepared statements kept per connection; filters make many shapes, so the cache is bounded. */
const STATEMENT_CACHE_SIZE = 500;

function bindable(value: unknown): unknown {
  if (value === undefined) return null;
  if (typeof value === 'boolean') return value ? 1 : 0;
  return value;
}

/** Maps a constraint violation to the statement's client error; anything else is rethrown as it is. */
export function sqliteError(err: unknown, statement: Statement): unknown {
  const code = (err as { code?: unknown } | null)?.code;
  if (code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY') {
    return statement.unique?.() ?? ScimError.uniqueness('A unique value is already in use');
  }
  if (code === 'SQLITE_CONSTRAINT_FOREIGNKEY') return statement.foreignKey?.() ?? ScimError.notFound('A referenced record does not exist');
  return err;
}

export class SqliteDriver implements Driver {
  readonly dialect = sqliteDialect;
  private readonly db: DatabaseType;
  private readonly statements = new Map<string, PreparedStatement>();

  constructor(path: string) {
    this.db = new Database(path);
    try {
      if (path !== ':memory:' && path !== '') this.db.pragma('journal_mode = WAL');
      this.db.pragma('synchronous = NORMAL');
      this.db.pragma('busy_timeout = 5000');
      this.db.pragma('foreign_keys = ON');
      // LIKE must be case-sensitive: case-insensitive filters fold both sides explicitly, as the evaluator does.
      this.db.pragma('case_sensitive_like = ON');
      this.db.function('scim_lower', { deterministic: true }, (value: unknown) => (typeof value === 'string' ? value.toLowerCase() : value));
      this.migrate();
    } catch (err) {
      this.db.close();
      throw err;
    }
  }

  private migrate(): void {
    const apply = this.db.transaction(() => {
      this.db.exec(MIGRATIONS_TABLE.sqlite);
      const applied = new Set(this.db.prepare('SELECT version FROM schema_migrations').pluck().all() as number[]);
      for (const migration of MIGRATIONS) {
        if (applied.has(migration.version)) continue;
        for (const statement of migration.sqlite) this.db.exec(statement);
        this.db.prepare('INSERT INTO schema_migrations (version, name, applied) VALUES (?, ?, ?)').run(migration.version, migration.name, new Date().toISOString());
      }
    });
    apply.immediate();
  }

  private prepare(text: string): PreparedStatement {
    let statement = this.statements.get(text);
    if (statement) return statement;
    statement = this.db.prepare(text);
    if (this.statements.size >= STATEMENT_CACHE_SIZE) {
      const oldest = this.statements.keys().next().value;
      if (oldest !== undefined) this.statements.delete(oldest);
    }
    this.statements.set(text, statement);
    return statement;
  }

  private execute(statement: Statement): StatementResult {
    try {
      const prepared = this.prepare(statement.sql.text);
      const params = statement.sql.params.map(bindable);
      if (prepared.reader) {
        const found = prepared.all(...params) as Row[];
        return { rows: found, changes: found.length };
      }
      return { rows: [], changes: prepared.run(...params).changes };
    } catch (err) {
      throw sqliteError(err, statement);
    }
  }

  run<T>(op: () => Op<T>, mode: 'read' | 'write'): Promise<T> {
    const transaction = this.db.transaction((): T => {
      const steps = op();
      try {
        let step = steps.next();
        while (!step.done) step = steps.next(this.execute(step.value));
        return step.value;
      } finally {
        steps.return(undefined as T);
      }
    });
    try {
      return Promise.resolve(mode === 'write' ? transaction.immediate() : transaction.deferred());
    } catch (err) {
      return Promise.reject(err);
    }
  }

  close(): Promise<void> {
    this.db.close();
    return Promise.resolve();
  }
}
