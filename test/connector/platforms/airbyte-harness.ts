/**
 * What the Airbyte platform does with a source's output, for the tests: every line must be one protocol message
 * (checked against the published schema, records against their stream's json_schema), and a warehouse applies the
 * records the way Airbyte's deduplicating destinations do: per stream, records are committed when that stream's
 * STATE arrives (or when the run succeeds), the record with the highest cursor wins for a primary key, and one
 * carrying `_ab_cdc_deleted_at` deletes the row. The states committed are what the next run gets.
 */
import assert from 'node:assert/strict';
import { airbyteCatalog, CDC_CURSOR, CDC_DELETED_AT, CDC_UPDATED_AT } from '../../../src/connector/platforms/airbyte.ts';
import type { Destination } from '../../../src/connector/destination/types.ts';
import { TABLES, type TableName } from '../../../src/connector/tables.ts';
import { validate, type Schema } from './airbyte-protocol.ts';

export type Json = Record<string, unknown>;

const STREAM_SCHEMAS = new Map(
  (airbyteCatalog().streams as Json[]).map((s) => [String(s.name), s.json_schema as Schema]),
);

/** Splits output into messages, failing on any line that is not a valid message. */
export function parseMessages(output: string, token?: string): Json[] {
  const lines = output.split('\n');
  assert.equal(lines.pop(), '', 'output ends with a newline');
  return lines.map((line, i) => {
    if (token) assert.ok(!line.includes(token.slice(0, 8)), `line ${i + 1} holds part of the token`);
    let msg: Json;
    try {
      msg = JSON.parse(line) as Json;
    } catch {
      assert.fail(`line ${i + 1} is not JSON: ${line.slice(0, 200)}`);
    }
    assert.deepEqual(validate(msg, { $ref: '#/definitions/AirbyteMessage' }), [], `line ${i + 1} is an AirbyteMessage`);
    if (msg.type === 'RECORD') {
      const record = msg.record as Json;
      const schema = STREAM_SCHEMAS.get(String(record.stream));
      assert.ok(schema, `record of an unknown stream ${String(record.stream)}`);
      assert.deepEqual(validate(record.data, schema), [], `line ${i + 1}: the record fits its stream's schema`);
    }
    if (msg.type === 'STATE') assert.equal((msg.state as Json).type, 'STREAM', 'states are per stream');
    return msg;
  });
}

export const byType = (messages: Json[], type: string): Json[] => messages.filter((m) => m.type === type);

export function configuredCatalog(streams: readonly TableName[], mode: 'incremental' | 'full_refresh' = 'incremental'): Json {
  const catalog = airbyteCatalog().streams as Json[];
  return {
    streams: streams.map((name) => {
      const stream = catalog.find((s) => s.name === name) as Json;
      return {
        stream,
        sync_mode: mode,
        destination_sync_mode: mode === 'incremental' ? 'append_dedup' : 'overwrite',
        cursor_field: stream.default_cursor_field,
        primary_key: stream.source_defined_primary_key,
      };
    }),
  };
}

const KEYS = new Map(TABLES.map((t) => [t.name as string, t.key]));

/** The primary key of a row as one string. */
export function rowKey(table: string, row: Json): string {
  return JSON.stringify((KEYS.get(table) as readonly string[]).map((k) => row[k]));
}

export class AirbyteWarehouse {
  readonly tables = new Map<string, Map<string, Json>>();
  private readonly pending = new Map<string, Json[]>();
  private readonly states = new Map<string, Json>();

  private table(stream: string): Map<string, Json> {
    let t = this.tables.get(stream);
    if (!t) this.tables.set(stream, (t = new Map()));
    return t;
  }

  private commit(stream: string): void {
    const t = this.table(stream);
    for (const data of this.pending.get(stream) ?? []) {
      const key = rowKey(stream, data);
      const current = t.get(key);
      if (current && Number(current[CDC_CURSOR]) > Number(data[CDC_CURSOR])) continue;
      if (data[CDC_DELETED_AT] !== null && data[CDC_DELETED_AT] !== undefined) t.delete(key);
      else t.set(key, data);
    }
    this.pending.set(stream, []);
  }

  /** Applies one run's messages. `completed` says the run succeeded, which commits what followed the last STATE. */
  apply(messages: Json[], completed: boolean): void {
    for (const m of messages) {
      if (m.type === 'RECORD') {
        const r = m.record as Json;
        const list = this.pending.get(String(r.stream)) ?? [];
        list.push(r.data as Json);
        this.pending.set(String(r.stream), list);
      } else if (m.type === 'STATE') {
        const s = (m.state as Json).stream as Json;
        const name = String((s.stream_descriptor as Json).name);
        this.commit(name);
        this.states.set(name, s.stream_state as Json);
      }
    }
    if (completed) for (const stream of this.pending.keys()) this.commit(stream);
    this.pending.clear();
  }

  /**
   * What Airbyte does when a stream is reset (cleared): its rows go, and its state becomes a STREAM state whose
   * stream_state is null (the platform's reset source emits that message, and the next read is handed it).
   */
  reset(stream: string): void {
    this.table(stream).clear();
    this.states.set(stream, null as unknown as Json);
  }

  /** The state file the platform passes to the next run. */
  stateFile(): Json[] {
    return [...this.states].map(([name, stream_state]) => ({ type: 'STREAM', stream: { stream_descriptor: { name }, stream_state } }));
  }

  /** A table's rows by primary key, without the CDC columns. */
  rows(stream: string): Map<string, Json> {
    const out = new Map<string, Json>();
    for (const [key, data] of this.table(stream)) {
      const { [CDC_CURSOR]: _c, [CDC_DELETED_AT]: _d, [CDC_UPDATED_AT]: _u, ...row } = data;
      out.set(key, row);
    }
    return out;
  }
}

/** The live rows `scimkit sync` wrote to a destination, by primary key, without its bookkeeping columns (and its source). */
export async function liveRows(d: Destination, table: TableName): Promise<Map<string, Json>> {
  const out = new Map<string, Json>();
  for (const r of await d.readRows(table)) {
    if (r._deleted !== false) continue;
    const { _hash, _synced_at, _deleted, _deleted_at, source: _source, ...row } = r;
    out.set(rowKey(table, row), row);
  }
  return out;
}
