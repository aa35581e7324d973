/**
 * Fivetran's side, for the tests: a gRPC client built from the connector's .proto, and a warehouse that applies
 * Update's operations into a SQLite file the way Fivetran's destinations do (per the Partner SDK's source guide):
 * UPSERT replaces the row with the columns sent (absent ones become null), DELETE soft-deletes by primary key,
 * TRUNCATE soft-deletes every row synced before it, and a Checkpoint commits everything before it and keeps the
 * state for the next Update. A call that fails or dies loses what followed its last checkpoint.
 */
import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { PROTO_OPTIONS } from '../../../src/connector/platforms/fivetran.ts';
import { rowKey, type Json } from './airbyte-harness.ts';

export type { Json };

type Client = grpc.Client & Record<string, (...args: unknown[]) => unknown>;

/** The proto files as they are in the source tree (the same files the build copies next to the compiled module). */
export const PROTO_SOURCE = new URL('../../../src/connector/platforms/fivetran/', import.meta.url).pathname;

export function connectorClient(port: number): Client {
  const definition = protoLoader.loadSync('connector_sdk.proto', { ...PROTO_OPTIONS, includeDirs: [PROTO_SOURCE] });
  const pkg = grpc.loadPackageDefinition(definition) as unknown as { fivetran_sdk: { v2: { SourceConnector: grpc.ServiceClientConstructor } } };
  return new pkg.fivetran_sdk.v2.SourceConnector(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), {
    'grpc.max_receive_message_length': -1,
  }) as unknown as Client;
}

export function unary(client: Client, method: string, request: Json): Promise<Json> {
  return new Promise((resolve, reject) => {
    client[method](request, (err: grpc.ServiceError | null, res: Json) => (err ? reject(err) : resolve(res)));
  });
}

interface ColumnInfo {
  name: string;
  type: string;
  primary_key?: boolean;
}

/** A decoded ValueType as the plain value the CLI's readRows gives for the same cell. */
function plain(type: string, v: Json): unknown {
  const kind = v.inner as string;
  if (kind === 'null') return null;
  const raw = v[kind];
  switch (type) {
    case 'STRING': assert.equal(kind, 'string'); return raw;
    case 'BOOLEAN': assert.equal(kind, 'bool'); return raw;
    case 'LONG': assert.equal(kind, 'long'); return Number(raw);
    case 'JSON': assert.equal(kind, 'json'); return JSON.parse(String(raw));
    case 'UTC_DATETIME': {
      assert.equal(kind, 'utc_datetime');
      const ts = raw as { seconds: string; nanos: number };
      return new Date(Number(ts.seconds) * 1000 + Math.round((ts.nanos ?? 0) / 1e6)).toISOString();
    }
    default: assert.fail(`unexpected column type ${type}`);
  }
}

export interface UpdateResult {
  /** `failed`: the call ended with an error status, or the connection dropped (the connector died). */
  outcome: 'finished' | 'failed';
  error?: grpc.ServiceError;
  records: Json[];
  checkpoints: number;
}

export class FivetranWarehouse {
  readonly db: Database.Database;
  private readonly columns = new Map<string, ColumnInfo[]>();
  private synced = 0;
  state: string | undefined;

  constructor(path: string, schema: Json) {
    this.db = new Database(path);
    for (const t of (schema.without_schema as { tables: { name: string; columns: ColumnInfo[] }[] }).tables) {
      this.columns.set(t.name, t.columns);
      const keys = t.columns.filter((c) => c.primary_key).map((c) => `"${c.name}"`);
      this.db.exec(`CREATE TABLE "${t.name}" (${t.columns.map((c) => `"${c.name}" TEXT`).join(', ')}, _fivetran_synced INTEGER NOT NULL, _fivetran_deleted INTEGER NOT NULL, PRIMARY KEY (${keys.join(', ')}))`);
    }
  }

  private apply(record: Json): void {
    const table = String(record.table_name);
    const cols = this.columns.get(table);
    assert.ok(cols, `a record for an unknown table ${table}`);
    const data = (record.data ?? {}) as Record<string, Json>;
    for (const name of Object.keys(data)) assert.ok(cols.some((c) => c.name === name), `${table} has no column ${name}`);
    const keys = cols.filter((c) => c.primary_key);
    const seq = ++this.synced;
    if (record.type === 'TRUNCATE') {
      this.db.prepare(`UPDATE "${table}" SET _fivetran_deleted = 1 WHERE _fivetran_synced < ?`).run(seq);
      return;
    }
    for (const k of keys) assert.ok(data[k.name], `a ${String(record.type)} of ${table} without its key ${k.name}`);
    const cell = (c: ColumnInfo) => (data[c.name] ? JSON.stringify(plain(c.type, data[c.name])) : null);
    if (record.type === 'UPSERT') {
      this.db.prepare(`INSERT OR REPLACE INTO "${table}" (${cols.map((c) => `"${c.name}"`).join(', ')}, _fivetran_synced, _fivetran_deleted) VALUES (${cols.map(() => '?').join(', ')}, ?, 0)`)
        .run(...cols.map(cell), seq);
    } else if (record.type === 'DELETE') {
      this.db.prepare(`UPDATE "${table}" SET _fivetran_deleted = 1, _fivetran_synced = ? WHERE ${keys.map((k) => `"${k.name}" = ?`).join(' AND ')}`)
        .run(seq, ...keys.map(cell));
    } else assert.fail(`unexpected record type ${String(record.type)}`);
  }

  /**
   * Calls Update and applies what it streams. `onCheckpoint(n)` runs after the n-th checkpoint is committed (a
   * test kills the connector there). Resolves once the call ends, however it ends.
   */
  update(client: Client, request: Json, onCheckpoint?: (n: number) => void): Promise<UpdateResult> {
    const result: UpdateResult = { outcome: 'finished', records: [], checkpoints: 0 };
    this.db.exec('BEGIN');
    return new Promise((resolve, reject) => {
      const call = client.Update({ ...request, state_json: this.state }) as grpc.ClientReadableStream<Json>;
      let done = false;
      const finish = (outcome: UpdateResult['outcome'], error?: grpc.ServiceError) => {
        if (done) return;
        done = true;
        if (outcome === 'finished') this.db.exec('COMMIT');
        else this.db.exec('ROLLBACK');
        resolve({ ...result, outcome, error });
      };
      call.on('data', (msg: Json) => {
        if (done) return;
        try {
          this.receive(msg, result, onCheckpoint);
        } catch (err) {
          // A message the warehouse cannot apply fails the test (rather than hanging it).
          done = true;
          this.db.exec('ROLLBACK');
          call.cancel();
          reject(err);
        }
      });
      call.on('error', (err: grpc.ServiceError) => finish('failed', err));
      call.on('end', () => finish('finished'));
    });
  }

  /** Applies one UpdateResponse: a record into the open transaction, a checkpoint commits it and keeps the state. */
  private receive(msg: Json, result: UpdateResult, onCheckpoint?: (n: number) => void): void {
    if (msg.record) {
      result.records.push(msg.record as Json);
      this.apply(msg.record as Json);
    } else if (msg.checkpoint) {
      const json = String((msg.checkpoint as Json).state_json);
      JSON.parse(json);
      this.db.exec('COMMIT');
      this.state = json;
      this.db.exec('BEGIN');
      result.checkpoints += 1;
      onCheckpoint?.(result.checkpoints);
    } else assert.fail(`unexpected operation ${JSON.stringify(msg)}`);
  }


  /** Live (not soft-deleted) rows of a table by primary key, as plain values. */
  rows(table: string): Map<string, Json> {
    const cols = this.columns.get(table) as ColumnInfo[];
    const out = new Map<string, Json>();
    for (const r of this.db.prepare(`SELECT * FROM "${table}" WHERE _fivetran_deleted = 0`).all() as Record<string, string | null>[]) {
      const row: Json = {};
      for (const c of cols) row[c.name] = r[c.name] === null ? null : JSON.parse(r[c.name] as string);
      out.set(rowKey(table, row), row);
    }
    return out;
  }

  close(): void {
    this.db.close();
  }
}
