/**
 * A destination on src/sql: one runner (SQLite or PostgreSQL), the namespace's tables, the run lock, and the record
 * of which source the namespace holds. Opening it applies the connector's migrations for that namespace.
 */
import { exec, first, rows, sql, type Op } from '../../sql/builder.ts';
import type { Runner, ViolationErrors } from '../../sql/runner.ts';
import type { ExtensionColumn } from '../extensions.ts';
import type { TableName } from '../tables.ts';
import { Operations } from './operations.ts';
import type { TableRefs } from './schema.ts';
import type {
  Destination, DestinationKind, DestinationTx, LockHolder, RowsPerWrite, SourceIdentity, SourceRecord, StreamName, StreamState, TableCounts,
} from './types.ts';

/** The run lock, per database: a lock row (SQLite) or a session advisory lock (PostgreSQL). */
export interface RunLock {
  acquire(): Promise<void>;
  release(): Promise<void>;
  holder(): Promise<LockHolder | null>;
}

/**
 * What a destination's runner raises when its database cannot serve now (src/sql's `unavailable`: SQLite locked by
 * another program past the busy timeout, or its disk full; PostgreSQL refusing or losing the connection). The
 * database's own message ("database is locked", "connect ECONNREFUSED 10.0.0.5:5432") names neither the destination
 * nor, mid-run, what became of the run. `hint` says what usually causes it there.
 */
export function unavailableDestination(label: string, hint: string): ViolationErrors {
  return {
    unavailable: (cause) => new Error(
      `${label} is unavailable: ${databaseMessage(cause)} (${hint}); what was written before is kept, and the next sync resumes where this one stopped`,
      { cause },
    ),
  };
}

/** The database's own message, under an error made by unavailableDestination (opening says it its own way). */
export function databaseMessage(err: unknown): string {
  const e = err instanceof Error && err.cause instanceof Error ? err.cause : err;
  return e instanceof Error ? e.message : String(e);
}

/** A sync pointed at a namespace that holds another source's rows: nothing was read or written. */
export class SourceMismatch extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SourceMismatch';
  }
}

export interface SqlDestinationParts {
  readonly kind: DestinationKind;
  readonly label: string;
  readonly namespace: string | null;
  readonly runner: Runner;
  readonly tables: TableRefs;
  readonly lock: RunLock;
  /** How a user names a table of this namespace in a query. */
  readonly tableLabel: (table: TableName) => string;
  /** Drops everything of the namespace (reset --drop-tables), in one write transaction. */
  readonly dropAll: () => Op<void>;
  readonly rowsPerWrite?: RowsPerWrite;
}

export class SqlDestination implements Destination {
  readonly kind: DestinationKind;
  readonly label: string;
  readonly namespace: string | null;
  readonly rowsPerWrite?: RowsPerWrite;
  private readonly ops: Operations;
  private claimed: string | null = null;

  constructor(private readonly parts: SqlDestinationParts) {
    this.kind = parts.kind;
    this.label = parts.label;
    this.namespace = parts.namespace;
    this.rowsPerWrite = parts.rowsPerWrite;
    this.ops = new Operations(parts.runner.dialect, parts.tables, () => this.claimed);
  }

  tableLabel(table: TableName): string {
    return this.parts.tableLabel(table);
  }

  lock(): Promise<void> {
    return this.parts.lock.acquire();
  }

  unlock(): Promise<void> {
    return this.parts.lock.release();
  }

  lockHolder(): Promise<LockHolder | null> {
    return this.parts.lock.holder();
  }

  write<T>(body: (tx: DestinationTx) => Op<T>): Promise<T> {
    return this.parts.runner.run(() => body(this.ops.tx), 'write');
  }

  private read<T>(body: () => Op<T>): Promise<T> {
    return this.parts.runner.run(body, 'read');
  }

  source(): Promise<SourceRecord | null> {
    const t = this.parts.tables;
    return this.read(function* () {
      const r = yield* first<{ source: string; provider: string | null; org_id: string | null; registered_at: string }>(
        sql`SELECT source, provider, org_id, registered_at FROM ${t.source} WHERE id = 1`,
      );
      return r ? { source: r.source, provider: r.provider ?? '', orgId: r.org_id, registeredAt: r.registered_at } : null;
    });
  }

  async claimSource(identity: SourceIdentity): Promise<{ adopted: boolean }> {
    const t = this.parts.tables;
    const describe = (table: TableName) => this.tableLabel(table);
    const where = this.label;
    const result = await this.parts.runner.run(function* () {
      const held = yield* first<{ source: string }>(sql`SELECT source FROM ${t.source} WHERE id = 1`);
      if (held) {
        if (held.source === identity.source) return { adopted: false, mismatch: null as string | null };
        // A run that recorded its source and then failed before reading anything (a typo in org_id or base_url
        // answers 401, 403 or 404) left no rows and no state: the namespace holds nothing of that source, so the
        // corrected config takes it over rather than being told to drop tables that are empty.
        const holds = yield* rows(sql`SELECT 1 AS x FROM ${t.users} UNION ALL SELECT 1 FROM ${t.groups} UNION ALL SELECT 1 FROM ${t.state} LIMIT 1`);
        if (holds.length > 0) return { adopted: false, mismatch: held.source };
        yield* exec(sql`DELETE FROM ${t.source} WHERE id = 1`);
      }
      // Rows from before sources were recorded (or from a namespace whose record was lost) are adopted.
      const legacy = yield* rows(sql`SELECT 1 AS x FROM ${t.users} UNION ALL SELECT 1 FROM ${t.groups} LIMIT 1`);
      yield* exec(sql`INSERT INTO ${t.source} (id, source, provider, org_id, registered_at) VALUES (1, ${identity.source}, ${identity.provider}, ${identity.orgId}, ${new Date().toISOString()})`);
      for (const table of [t.users, t.groups, t.group_members]) yield* exec(sql`UPDATE ${table} SET source = ${identity.source} WHERE source IS NULL`);
      return { adopted: legacy.length > 0, mismatch: null as string | null };
    }, 'write');
    if (result.mismatch !== null) {
      throw new SourceMismatch(
        `${where} holds data from ${result.mismatch} (in ${describe('users')}, ${describe('groups')} and ${describe('group_members')}), ` +
          `and this config reads ${identity.source}; refusing to mix two sources in one set of tables (nothing was read or written). ` +
          `To keep both, give this config its own namespace, for example "namespace": "${suggestNamespace(identity)}"; ` +
          'to replace the old data instead, run `scimkit reset --drop-tables` with this config first',
      );
    }
    this.claimed = identity.source;
    return { adopted: result.adopted };
  }

  /** Adds users columns for the extension attributes the source declares (Operations.extendUsers). */
  extendUsers(found: readonly ExtensionColumn[]): Promise<{ columns: ExtensionColumn[]; added: ExtensionColumn[] }> {
    return this.parts.runner.run(() => this.ops.extendUsers(found), 'write');
  }

  loadState(): Promise<Map<StreamName, StreamState>> {
    return this.read(() => this.ops.loadState());
  }

  counts(): Promise<Record<TableName, TableCounts>> {
    return this.read(() => this.ops.counts());
  }

  readRows(table: TableName): Promise<Record<string, unknown>[]> {
    return this.read(() => this.ops.readRows(table));
  }

  async reset(opts: { dropTables: boolean }): Promise<void> {
    const t = this.parts.tables;
    const dropAll = this.parts.dropAll;
    await this.parts.runner.run(function* () {
      if (opts.dropTables) {
        yield* dropAll();
        return;
      }
      yield* exec(sql`DELETE FROM ${t.state}`);
      yield* exec(sql`DELETE FROM ${t.seen}`);
    }, 'write');
  }

  async close(): Promise<void> {
    await this.parts.lock.release().catch(() => {});
    await this.parts.runner.close();
  }
}

/** A namespace name for a source: the provider and the organization (or host), as an SQL identifier. */
export function suggestNamespace(identity: SourceIdentity): string {
  let tail = identity.orgId;
  if (!tail) {
    try {
      tail = new URL(identity.source).hostname.split('.')[0];
    } catch {
      tail = 'source';
    }
  }
  const name = `${identity.provider}_${tail}`.toLowerCase().replace(/[^a-z0-9_]+/g, '_').replace(/^[^a-z]+/, '').slice(0, 40);
  return name || 'source_2';
}
