/**
 * Dialect-neutral SQL building blocks. Statements are fragments with `?` placeholders (PostgreSQL renumbers them
 * to `$n` when it runs them), and operations are generators that yield statements: the SQLite runner runs them
 * synchronously inside one better-sqlite3 transaction, the PostgreSQL runner awaits each on one pooled client.
 * One piece of operation logic therefore serves both databases.
 */

/** A piece of SQL text with its parameters, in placeholder order. The text never contains a literal `?`. */
export interface Sql {
  readonly text: string;
  readonly params: readonly unknown[];
}

function isSql(value: unknown): value is Sql {
  return typeof value === 'object' && value !== null && Object.getPrototypeOf(value) === SqlFragment.prototype;
}

class SqlFragment implements Sql {
  constructor(
    readonly text: string,
    readonly params: readonly unknown[],
  ) {}
}

/** Tagged template: interpolated `Sql` fragments are inlined, any other value becomes a bound parameter. */
export function sql(strings: TemplateStringsArray, ...values: unknown[]): Sql {
  let text = strings[0];
  const params: unknown[] = [];
  values.forEach((value, i) => {
    if (isSql(value)) {
      text += value.text;
      params.push(...value.params);
    } else {
      text += '?';
      params.push(value);
    }
    text += strings[i + 1];
  });
  return new SqlFragment(text, params);
}

/** Trusted SQL text (identifiers, keywords chosen by code, never input). */
export function raw(text: string): Sql {
  if (text.includes('?')) throw new Error('raw SQL must not contain "?"');
  return new SqlFragment(text, []);
}

export function join(fragments: readonly Sql[], separator: string): Sql {
  return new SqlFragment(
    fragments.map((f) => f.text).join(separator),
    fragments.flatMap((f) => f.params),
  );
}

/** `?, ?, ?` for a list of values. */
export function list(values: readonly unknown[]): Sql {
  return new SqlFragment(values.map(() => '?').join(', '), values);
}

export type Row = Record<string, unknown>;

/**
 * What a statement's constraint violations mean to its caller (the runners detect them per dialect). Without one,
 * the runner's defaults apply (see RunnerOptions.violations), else the database's own error is thrown.
 */
export interface ViolationMessages {
  /** The error for a unique index violation. */
  readonly unique?: () => Error;
  /** The error for a foreign key violation. */
  readonly foreignKey?: () => Error;
}

/** Rows loaded in bulk into one table by DuckDB's appender, in the table's column order. */
export interface AppendRows {
  readonly table: string;
  readonly schema: string | null;
  readonly catalog: string | null;
  readonly rows: readonly (readonly unknown[])[];
}

export interface Statement extends ViolationMessages {
  readonly sql: Sql;
  /** Bulk rows for DuckDB's appender instead of SQL; only the DuckDB runner runs it (the others refuse it). */
  readonly append?: AppendRows;
  /** Run `sql` once per parameter list here, each taking the places of its params: one prepared statement, many rows. */
  readonly each?: readonly (readonly unknown[])[];
}

export interface StatementResult {
  readonly rows: Row[];
  /** Rows changed by INSERT/UPDATE/DELETE (with RETURNING: rows returned). */
  readonly changes: number;
}

/** An operation: yields statements, receives their results, returns T. A runner runs it in one transaction. */
export type Op<T> = Generator<Statement, T, StatementResult>;

export function* rows<R = Row>(query: Sql, messages: ViolationMessages = {}): Op<R[]> {
  const result = yield { sql: query, ...messages };
  return result.rows as R[];
}

export function* first<R = Row>(query: Sql, messages: ViolationMessages = {}): Op<R | undefined> {
  const result = yield { sql: query, ...messages };
  return result.rows[0] as R | undefined;
}

/**
 * Loads rows through DuckDB's appender (a statement per row would be far slower, and a list parameter per column
 * too); returns the number of rows appended. Only a DuckDB runner runs it.
 */
export function* append(rows: AppendRows): Op<number> {
  const result = yield { sql: raw('-- append'), append: rows };
  return result.changes;
}

/**
 * Runs one statement once per list of parameters, in order, each list taking the places of the statement's own
 * (which give only their number); returns the rows changed in all. SQLite prepares it once and runs it per row
 * without building SQL or a statement per row (a page of upserts built that way cost several times more); the other
 * runners run it row by row too.
 */
export function* execEach(query: Sql, paramRows: readonly (readonly unknown[])[]): Op<number> {
  const width = query.params.length;
  if (paramRows.some((p) => p.length !== width)) throw new Error(`execEach: every row must have ${width} parameters`);
  if (paramRows.length === 0) return 0;
  const result = yield { sql: query, each: paramRows };
  return result.changes;
}

/** Runs a statement for its effect; returns the number of rows changed. */
export function* exec(query: Sql, messages: ViolationMessages = {}): Op<number> {
  const result = yield { sql: query, ...messages };
  return result.changes;
}

/** Splits a list into chunks, keeping statements under the databases' parameter limits. */
export function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}
