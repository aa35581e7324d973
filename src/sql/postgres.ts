/**
 * PostgreSQL runner (pg): a pool; each operation runs in one transaction on one client. Writes use READ COMMITTED
 * with row locks and unique indexes deciding races; reads use one REPEATABLE READ snapshot so a page and its count
 * agree. Deadlocks and serialization failures rerun the whole operation, which is safe because it has not committed
 * (so an operation must not have effects outside the database before it returns).
 */
import type { Pool, PoolClient, QueryConfig, QueryResultRow } from 'pg';
import type { Op, Row, Statement, StatementResult } from './builder.ts';
import { postgresDialect } from './dialect.ts';
import { migrate } from './migrate.ts';
import type { MigrationSet } from './migrate.ts';
import type { Runner, RunnerOptions, TransactionMode, ViolationErrors } from './runner.ts';

const TEXT_CACHE_SIZE = 500;
const RETRIES = 3;
const CONNECT_TIMEOUT_MS = 5000;
/**
 * How much longer than the statement bound the client waits before it gives up on the server itself: a server that
 * still runs cancels the statement first (the connection stays usable); one that is stopped, or whose host no longer
 * answers, cannot, and only the client's timer ends the wait.
 */
const CLIENT_GRACE_MS = 2000;

/** Maps a constraint violation or unstorable text to the statement's error, else the default one; anything else is rethrown. */
function postgresError(err: unknown, statement: Statement | undefined, defaults: ViolationErrors): unknown {
  const code = (err as { code?: unknown } | null)?.code;
  if (code === '23505') return (statement?.unique ?? defaults.unique)?.() ?? err;
  if (code === '23503') return (statement?.foreignKey ?? defaults.foreignKey)?.() ?? err;
  // NUL characters and broken escapes cannot be stored or compared as PostgreSQL text.
  if (code === '22021' || code === '22P05') return defaults.unstorableText?.() ?? err;
  if (isPostgresUnavailable(err)) return defaults.unavailable?.(err) ?? err;
  return err;
}

/** Node socket errors of a connection that could not be made or was lost. */
const CONNECTION_ERRNOS = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'EPIPE']);

/**
 * Whether `err` means the server cannot be reached or cannot serve now: a socket error, SQLSTATE class 08
 * (connection exception), 57P01-57P03 (shutting down, crashed, starting up), 53300 (too many connections), 57014 (a
 * statement cancelled, by its statement_timeout or an administrator), or pg's own messages for a lost or timed-out
 * connection or query (which carry no code).
 */
export function isPostgresUnavailable(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && (CONNECTION_ERRNOS.has(code) || code.startsWith('08') || /^57P0[123]$/.test(code) || code === '53300' || code === '57014')) return true;
  return isClientTimeout(err) || /^(Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|Connection closed)/.test(err instanceof Error ? err.message : '');
}

/** pg's error when a query outlived its client-side `query_timeout`: the connection still waits for its answer. */
function isClientTimeout(err: unknown): boolean {
  return err instanceof Error && err.message === 'Query read timeout';
}

function retryable(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === '40001' || code === '40P01';
}

export interface PostgresRunnerOptions extends RunnerOptions {
  /** Pool size (default 10). */
  readonly poolSize?: number;
  /**
   * Milliseconds a statement of `run` may take (default 0: no bound). PostgreSQL cancels it past the bound
   * (`statement_timeout`); a server that cannot (stopped, unreachable) is given up CLIENT_GRACE_MS later and that
   * connection is closed. Both fail the operation as unavailable. Migrations run without the bound.
   */
  readonly statementTimeoutMs?: number;
}

export class PostgresRunner implements Runner {
  readonly dialect = postgresDialect;
  private readonly texts = new Map<string, string>();

  private constructor(
    private readonly pool: Pool,
    private readonly violations: ViolationErrors,
    private readonly statementTimeoutMs: number,
  ) {}

  /** Connects a pool to `url` and applies `options.migrations`. */
  static async open(url: string, options: PostgresRunnerOptions = {}): Promise<PostgresRunner> {
    // pg loads here, so a process that never opens PostgreSQL never loads it.
    const { default: pg } = await import('pg');
    // A server that does not answer fails a request within the connect timeout instead of holding it; keep-alive
    // notices a connection lost without a reset.
    const statementTimeoutMs = options.statementTimeoutMs ?? 0;
    const pool = new pg.Pool({
      connectionString: url,
      max: options.poolSize ?? 10,
      connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
      keepAlive: true,
      ...(statementTimeoutMs > 0 ? { statement_timeout: statementTimeoutMs } : {}),
    });
    // A client losing its connection emits 'error'. The pool listens only while a client is idle; one checked out
    // (in a transaction) has no listener of its own, so the event would be an uncaught exception that stops the
    // process. Its query fails anyway (the run's error), and the pool drops the broken client on release.
    pool.on('error', () => {});
    pool.on('connect', (client) => client.on('error', () => {}));
    const runner = new PostgresRunner(pool, options.violations ?? {}, statementTimeoutMs);
    try {
      for (const set of options.migrations ?? []) await runner.migrate(set);
    } catch (err) {
      await pool.end();
      throw err;
    }
    return runner;
  }

  migrate(set: MigrationSet): Promise<number> {
    const now = new Date().toISOString();
    return this.transact(() => migrate(this.dialect, set, now), 'write', false);
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

  /** One statement; `timeoutMs` is the client's wait for its answer (undefined: no limit). */
  private send<R extends QueryResultRow>(client: PoolClient, text: string, values: unknown[] | undefined, timeoutMs: number | undefined) {
    const config: QueryConfig & { readonly query_timeout?: number } = { text, values, query_timeout: timeoutMs };
    return client.query<R>(config);
  }

  private async query(client: PoolClient, statement: Statement, timeoutMs: number | undefined): Promise<StatementResult> {
    const text = this.text(statement.sql.text);
    if (statement.each) {
      let changes = 0;
      for (const params of statement.each) changes += (await this.send(client, text, params as unknown[], timeoutMs)).rowCount ?? 0;
      return { rows: [], changes };
    }
    const result = await this.send<Row>(client, text, statement.sql.params as unknown[], timeoutMs);
    return { rows: result.rows, changes: result.rowCount ?? result.rows.length };
  }

  private async attempt<T>(client: PoolClient, op: () => Op<T>, mode: TransactionMode, timeoutMs: number | undefined): Promise<T> {
    await this.send(client, mode === 'read' ? 'BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY' : 'BEGIN', undefined, timeoutMs);
    // The connection's statement_timeout is the bound; unbounded work lifts it for its own transaction.
    if (timeoutMs === undefined && this.statementTimeoutMs > 0) await this.send(client, 'SET LOCAL statement_timeout = 0', undefined, undefined);
    const steps = op();
    try {
      let step = steps.next();
      while (!step.done) {
        const statement = step.value;
        if (statement.append) throw new Error('appending rows in bulk is a DuckDB runner operation; PostgreSQL runs statements');
        let result: StatementResult;
        try {
          result = await this.query(client, statement, timeoutMs);
        } catch (err) {
          throw retryable(err) ? err : postgresError(err, statement, this.violations);
        }
        step = steps.next(result);
      }
      await this.send(client, 'COMMIT', undefined, timeoutMs);
      return step.value;
    } finally {
      steps.return(undefined as T);
    }
  }

  run<T>(op: () => Op<T>, mode: TransactionMode): Promise<T> {
    return this.transact(op, mode, true);
  }

  /** Runs `op` in one transaction, within the statement bound when `bounded`. */
  private async transact<T>(op: () => Op<T>, mode: TransactionMode, bounded: boolean): Promise<T> {
    const timeoutMs = bounded && this.statementTimeoutMs > 0 ? this.statementTimeoutMs + CLIENT_GRACE_MS : undefined;
    for (let attempt = 0; ; attempt++) {
      let client: PoolClient;
      try {
        client = await this.pool.connect();
      } catch (err) {
        throw postgresError(err, undefined, this.violations);
      }
      let broken: Error | undefined;
      try {
        return await this.attempt(client, op, mode, timeoutMs);
      } catch (err) {
        // A query the client gave up on still occupies the connection: a ROLLBACK would wait behind it, so the
        // connection is closed instead (releasing it with an error), which ends the transaction too.
        const gaveUp = isClientTimeout(err) || isClientTimeout((err as { cause?: unknown } | null)?.cause);
        if (gaveUp) broken = err instanceof Error ? err : new Error('Query read timeout');
        else {
          await this.send(client, 'ROLLBACK', undefined, timeoutMs).catch((e: Error) => {
            broken = e;
          });
        }
        if (retryable(err) && attempt < RETRIES) continue;
        throw postgresError(err, undefined, this.violations);
      } finally {
        client.release(broken);
      }
    }
  }

  close(): Promise<void> {
    return this.pool.end();
  }
}
