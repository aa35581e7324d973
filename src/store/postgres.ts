/**
 * PostgreSQL driver (pg): a pool; each operation runs in one transaction on one client. Writes use READ COMMITTED
 * with row locks and unique indexes deciding races; reads use one REPEATABLE READ snapshot so a page and its count
 * agree. Deadlocks and serialization failures rerun the whole operation, which is safe because it has not committed.
 */
import pg from 'pg';
import type { PoolClient } from 'pg';
import { ScimError } from '../scim/errors.ts';
import { postgresDialect } from './dialect.ts';
import { MIGRATIONS, MIGRATIONS_TABLE } from './migrations.ts';
import type { Op, Row, Statement } from './sql.ts';
import type { Driver } from './store.ts';

const TEXT_CACHE_SIZE = 500;
const RETRIES = 3;
/** Serializes migrations across processes opening the same database at once (an arbitrary application key). */
const MIGRATION_LOCK_KEY = 72_670_001;

/** Maps a constraint violation or unstorable text to the statement's client error; anything else is rethrown. */
export function postgresError(err: unknown, statement: Statement | undefined): unknown {
  const code = (err as { code?: unknown } | null)?.code;
  if (code === '23505') return statement?.unique?.() ?? ScimError.uniqueness('A unique value is already in use');
  if (code === '23503') return statement?.foreignKey?.() ?? ScimError.notFound('A referenced record does not exist');
  // NUL characters and broken escapes cannot be stored or compared as PostgreSQL text.
  if (code === '22021' || code === '22P05') return ScimError.invalidValue('Values must not contain NUL characters or invalid Unicode');
  return err;
}

function retryable(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === '40001' || code === '40P01';
}

export class PostgresDriver implements Driver {
  readonly dialect = postgresDialect;
  private readonly texts = new Map<string, string>();

  private constructor(private readonly pool: pg.Pool) {}

  static async open(url: string, poolSize = 10): Promise<PostgresDriver> {
    const pool = new pg.Pool({ connectionString: url, max: poolSize });
    // An idle client losing its connection must not crash the process; the pool replaces it.
    pool.on('error', () => {});
    const driver = new PostgresDriver(pool);
    try {
      await driver.migrate();
    } catch (err) {
      await pool.end();
      throw err;
    }
    return driver;
  }

  private async migrate(): Promise<void> {
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      await client.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK_KEY]);
      await client.query(MIGRATIONS_TABLE.postgres);
      const applied = new Set((await client.query<{ version: number }>('SELECT version FROM schema_migrations')).rows.map((r) => r.version));
      for (const migration of MIGRATIONS) {
        if (applied.has(migration.version)) continue;
        for (const statement of migration.postgres) await client.query(statement);
        await client.query('INSERT INTO schema_migrations (version, name, applied) VALUES ($1, $2, $3)', [migration.version, migration.name, new Date().toISOString()]);
      }
      await client.query('COMMIT');
    } catch (err) {
      await client.query('ROLLBACK').catch(() => {});
      throw err;
    } finally {
      client.release();
    }
  }

  /** `?` placeholders to `$1, $2, ...` (statement text never contains a literal `?`). */
  private text(sqlText: string): string {
    let out = this.texts.get(sqlText);
    if (out !== undefined) return out;
    let n = 0;
    out = sqlText.replace(/\?/g, () => `$${++n}`);
    if (this.texts.size >= TEXT_CACHE_SIZE) {
      const oldest = this.texts.keys().next().value;
      if (oldest !== undefined) this.texts.delete(oldest);
    }
    this.texts.set(sqlText, out);
    return out;
  }

  private async attempt<T>(client: PoolClient, op: () => Op<T>, mode: 'read' | 'write'): Promise<T> {
    await client.query(mode === 'read' ? 'BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY' : 'BEGIN');
    const steps = op();
    try {
      let step = steps.next();
      while (!step.done) {
        const statement = step.value;
        let result;
        try {
          result = await client.query<Row>(this.text(statement.sql.text), statement.sql.params as unknown[]);
        } catch (err) {
          throw retryable(err) ? err : postgresError(err, statement);
        }
        step = steps.next({ rows: result.rows, changes: result.rowCount ?? result.rows.length });
      }
      await client.query('COMMIT');
      return step.value;
    } finally {
      steps.return(undefined as T);
    }
  }

  async run<T>(op: () => Op<T>, mode: 'read' | 'write'): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      const client = await this.pool.connect();
      let broken: Error | undefined;
      try {
        return await this.attempt(client, op, mode);
      } catch (err) {
        await client.query('ROLLBACK').catch((e: Error) => {
          broken = e;
        });
        if (retryable(err) && attempt < RETRIES) continue;
        throw postgresError(err, undefined);
      } finally {
        client.release(broken);
      }
    }
  }

  close(): Promise<void> {
    return this.pool.end();
  }
}
