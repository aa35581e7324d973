/**
 * DuckDB runner (@duckdb/node-api, loaded on first use): one connection to a database file; each operation runs in
 * one transaction on it, one operation at a time (DuckDB statements on one connection must not interleave). Values
 * are always bound: JavaScript arrays bind as lists (`?::VARCHAR[]`, see Dialect.values). Bulk rows go through
 * DuckDB's appender (`append` in builder.ts), far faster than row-at-a-time statements, and a set-based statement
 * then moves them where they belong.
 *
 * DuckDB lets one process open a file for writing: a second process fails to open it, and DuckDbBusy names the
 * process that has it.
 */
import { totalmem } from 'node:os';
import type { AppendRows, Op, Row, Statement, StatementResult } from './builder.ts';
import { duckdbDialect } from './dialect.ts';
import { migrate } from './migrate.ts';
import type { MigrationSet } from './migrate.ts';
import type { Runner, RunnerOptions, TransactionMode } from './runner.ts';

type Api = typeof import('@duckdb/node-api');
type Connection = Awaited<ReturnType<Awaited<ReturnType<Api['DuckDBInstance']['create']>>['connect']>>;
type Instance = Awaited<ReturnType<Api['DuckDBInstance']['create']>>;
type Prepared = Awaited<ReturnType<Connection['prepare']>>;

/** Another process has the file open (DuckDB allows one writer process per file). */
export class DuckDbBusy extends Error {
  constructor(
    readonly path: string,
    /** The process holding the file, as DuckDB reports it (`PID 1234`), when it does. */
    readonly holder: string | null,
  ) {
    super(`${path} is open in another process${holder ? ` (${holder})` : ''}; DuckDB lets one process open a database file at a time`);
    this.name = 'DuckDbBusy';
  }
}

const STATEMENT_CACHE_SIZE = 200;

export interface DuckDbRunnerOptions extends RunnerOptions {
  /** Statements run once on the connection after it opens, before migrations (e.g. choosing a schema). */
  readonly setup?: readonly string[];
  /**
   * Rows per row group of tables created in the file (DuckDB's default is 122,880). A checkpoint compresses a row
   * group at a time, so smaller groups bound the memory a checkpoint of wide rows takes.
   */
  readonly rowGroupSize?: number;
  /**
   * DuckDB's memory_limit to start with, in MiB (DuckDB's default is 80% of the machine's memory). It bounds the
   * blocks DuckDB keeps cached; a transaction that runs out of it runs again with twice the limit, up to that default.
   */
  readonly memoryLimitMb?: number;
}

/** DuckDB's own default memory limit, the most a raised one reaches. */
const MAX_MEMORY_MB = Math.floor((totalmem() * 0.8) / 1048576);

function outOfMemory(err: unknown): boolean {
  return /Out of Memory Error|failed to pin block|could not allocate block/i.test((err as Error)?.message ?? '');
}

export class DuckDbRunner implements Runner {
  readonly dialect = duckdbDialect;
  private readonly statements = new Map<string, Prepared>();
  /** Operations run one after another on the one connection. */
  private queue: Promise<unknown> = Promise.resolve();
  private memoryLimitMb: number | null = null;

  private constructor(
    private readonly api: Api,
    private readonly instance: Instance,
    private readonly connection: Connection,
  ) {}

  /** Opens (creating when missing) the database file and applies `options.migrations`. */
  static async open(path: string, options: DuckDbRunnerOptions = {}): Promise<DuckDbRunner> {
    const api = await import('@duckdb/node-api');
    // The file is attached to an in-memory instance: only ATTACH takes storage options such as the row group size.
    const instance = await api.DuckDBInstance.create(':memory:');
    const connection = await instance.connect();
    const runner = new DuckDbRunner(api, instance, connection);
    const file = `'${path.replaceAll("'", "''")}'`;
    try {
      await connection.run(`ATTACH ${file} AS warehouse${options.rowGroupSize ? ` (ROW_GROUP_SIZE ${options.rowGroupSize})` : ''}`);
    } catch (err) {
      await runner.close();
      const message = (err as Error).message;
      if (/lock/i.test(message)) throw new DuckDbBusy(path, /PID \d+/.exec(message)?.[0] ?? null);
      throw err;
    }
    try {
      // What spills past the memory limit goes beside the file, where a file instance would put it.
      for (const statement of ['USE warehouse', `SET temp_directory = '${`${path}.tmp`.replaceAll("'", "''")}'`, ...(options.setup ?? [])]) await connection.run(statement);
      if (options.memoryLimitMb !== undefined) await runner.limitMemory(Math.min(options.memoryLimitMb, MAX_MEMORY_MB));
      for (const set of options.migrations ?? []) await runner.migrate(set);
    } catch (err) {
      await runner.close();
      throw err;
    }
    return runner;
  }

  migrate(set: MigrationSet): Promise<number> {
    const now = new Date().toISOString();
    return this.run(() => migrate(this.dialect, set, now), 'write');
  }

  private bindable(value: unknown): unknown {
    if (value === undefined) return null;
    if (Array.isArray(value)) return this.api.listValue(value.map((v) => (v === undefined ? null : v)));
    // A whole number binds as an integer (DuckDB reads a JavaScript number as DOUBLE, which LIMIT refuses).
    if (typeof value === 'number' && Number.isSafeInteger(value)) return BigInt(value);
    return value;
  }

  private async prepare(text: string): Promise<Prepared> {
    let prepared = this.statements.get(text);
    if (prepared) return prepared;
    prepared = await this.connection.prepare(text);
    if (this.statements.size >= STATEMENT_CACHE_SIZE) {
      const oldest = this.statements.keys().next().value;
      if (oldest !== undefined) this.statements.delete(oldest);
    }
    this.statements.set(text, prepared);
    return prepared;
  }

  private async append(rows: AppendRows): Promise<number> {
    const appender = await this.connection.createAppender(rows.table, rows.schema, rows.catalog);
    try {
      for (const row of rows.rows) {
        for (const v of row) {
          if (v === null || v === undefined) appender.appendNull();
          else if (typeof v === 'string') appender.appendVarchar(v);
          else if (typeof v === 'boolean') appender.appendBoolean(v);
          else if (typeof v === 'number') {
            if (Number.isInteger(v)) appender.appendBigInt(BigInt(v));
            else appender.appendDouble(v);
          } else appender.appendVarchar(String(v));
        }
        appender.endRow();
      }
    } finally {
      appender.closeSync();
    }
    return rows.rows.length;
  }

  private async execute(statement: Statement): Promise<StatementResult> {
    if (statement.append) return { rows: [], changes: await this.append(statement.append) };
    const prepared = await this.prepare(statement.sql.text);
    if (statement.each) {
      let changes = 0;
      for (const params of statement.each) {
        prepared.bind(params.map((p) => this.bindable(p)) as Parameters<Prepared['bind']>[0]);
        changes += (await prepared.run()).rowsChanged;
      }
      return { rows: [], changes };
    }
    if (statement.sql.params.length > 0) prepared.bind(statement.sql.params.map((p) => this.bindable(p)) as Parameters<Prepared['bind']>[0]);
    else prepared.clearBindings();
    const reader = await prepared.runAndReadAll();
    // INSERT, UPDATE and DELETE answer with one row holding their count, also when it is 0: that row is not a result.
    if (reader.returnType === this.api.ResultReturnType.CHANGED_ROWS) return { rows: [], changes: Number(reader.rowsChanged) };
    const found = reader.getRowObjectsJS() as Row[];
    return { rows: found, changes: found.length };
  }

  run<T>(op: () => Op<T>, mode: TransactionMode): Promise<T> {
    const turn = this.queue.then(() => this.attempt(op, mode));
    this.queue = turn.then(() => undefined, () => undefined);
    return turn;
  }

  private async limitMemory(mb: number): Promise<void> {
    await this.connection.run(`SET memory_limit = '${mb}MB'`);
    this.memoryLimitMb = mb;
  }

  /** Runs `op`; when it ran out of the memory limit, raises the limit and runs it again (bodies may run again). */
  private async attempt<T>(op: () => Op<T>, mode: TransactionMode): Promise<T> {
    for (;;) {
      try {
        return await this.once(op, mode);
      } catch (err) {
        if (this.memoryLimitMb === null || this.memoryLimitMb >= MAX_MEMORY_MB || !outOfMemory(err)) throw err;
        await this.limitMemory(Math.min(this.memoryLimitMb * 2, MAX_MEMORY_MB));
      }
    }
  }

  /** The memory limit in force, in MiB (null: DuckDB's default). */
  get memoryLimit(): number | null {
    return this.memoryLimitMb;
  }

  private async once<T>(op: () => Op<T>, mode: TransactionMode): Promise<T> {
    await this.connection.run(mode === 'read' ? 'BEGIN TRANSACTION READ ONLY' : 'BEGIN TRANSACTION');
    const steps = op();
    try {
      let step = steps.next();
      while (!step.done) step = steps.next(await this.execute(step.value));
      await this.connection.run('COMMIT');
      return step.value;
    } catch (err) {
      await this.connection.run('ROLLBACK').catch(() => {});
      // Statements prepared in the transaction may stay bound to what it made and rolled back: a temporary stage
      // table, which an appender then saw with no columns when the transaction ran again ("Too many appends").
      this.statements.clear();
      throw err;
    } finally {
      steps.return(undefined as T);
    }
  }

  async close(): Promise<void> {
    await this.queue;
    this.statements.clear();
    this.connection.closeSync();
    this.instance.closeSync();
  }
}
