/**
 * Update's two hot messages, encoded straight to protobuf bytes: an UpdateResponse holding a Record, or holding a
 * Checkpoint (fields and numbers of connector_sdk.proto and common.proto). The generic encoder first converts each
 * plain object into message instances (fromObject), which cost more CPU per record than the rest of the shell; a
 * record is always the same small shape, so it is written directly: sizes first, then the bytes into one buffer
 * of exactly that size, every length a minimal varint. The tests decode every message with the .proto
 * definitions, so a byte out of place fails them.
 */
import type { Cell, ColumnType } from '../tables.ts';

export type RecordKind = 'UPSERT' | 'DELETE' | 'TRUNCATE';
const RECORD_TYPE: Readonly<Record<RecordKind, number>> = { UPSERT: 0, DELETE: 2, TRUNCATE: 3 };

const VARINT = 0;
const LEN = 2;
const tag = (field: number, wire: number): number => (field << 3) | wire;

/** Bytes of a varint holding n (a negative int64 takes ten). */
function varintSize(n: number): number {
  if (n < 0) return 10;
  let size = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 0x80);
    size += 1;
  }
  return size;
}

/** Bytes of a length-delimited field with a one-byte tag. */
const fieldSize = (payload: number): number => 1 + varintSize(payload) + payload;

class Out {
  pos = 0;
  constructor(readonly buf: Buffer) {}

  varint(n: number): void {
    if (n < 0) {
      let v = BigInt.asUintN(64, BigInt(Math.trunc(n)));
      while (v >= 0x80n) {
        this.buf[this.pos++] = Number(v & 0x7fn) | 0x80;
        v >>= 7n;
      }
      this.buf[this.pos++] = Number(v);
      return;
    }
    while (n >= 0x80) {
      this.buf[this.pos++] = (n % 0x80) | 0x80;
      n = Math.floor(n / 0x80);
    }
    this.buf[this.pos++] = n;
  }

  head(field: number, payload: number): void {
    this.buf[this.pos++] = tag(field, LEN);
    this.varint(payload);
  }

  string(field: number, s: string, bytes: number): void {
    this.head(field, bytes);
    this.pos += this.buf.write(s, this.pos, bytes, 'utf8');
  }
}

/** One column's value, prepared: its ValueType payload size, and what writing it needs. */
interface Prepared {
  readonly size: number;
  readonly write: (o: Out) => void;
}

function prepare(type: ColumnType, v: Cell): Prepared {
  if (v === null) return { size: 2, write: (o) => { o.buf[o.pos++] = tag(1, VARINT); o.buf[o.pos++] = 1; } };
  switch (type) {
    case 'text':
    case 'json': {
      const s = String(v);
      const bytes = Buffer.byteLength(s);
      const field = type === 'text' ? 13 : 14;
      return { size: fieldSize(bytes), write: (o) => o.string(field, s, bytes) };
    }
    case 'boolean':
      return { size: 2, write: (o) => { o.buf[o.pos++] = tag(2, VARINT); o.buf[o.pos++] = v === true ? 1 : 0; } };
    case 'integer': {
      const n = Number(v);
      return { size: 1 + varintSize(n), write: (o) => { o.buf[o.pos++] = tag(5, VARINT); o.varint(n); } };
    }
    case 'timestamp': {
      const ms = Date.parse(String(v));
      const seconds = Math.floor(ms / 1000);
      const nanos = (ms - seconds * 1000) * 1_000_000;
      // google.protobuf.Timestamp { seconds = 1; nanos = 2 }, zero fields left out as proto3 does.
      const inner = (seconds !== 0 ? 1 + varintSize(seconds) : 0) + (nanos !== 0 ? 1 + varintSize(nanos) : 0);
      return {
        size: fieldSize(inner),
        write: (o) => {
          o.head(10, inner);
          if (seconds !== 0) {
            o.buf[o.pos++] = tag(1, VARINT);
            o.varint(seconds);
          }
          if (nanos !== 0) {
            o.buf[o.pos++] = tag(2, VARINT);
            o.varint(nanos);
          }
        },
      };
    }
  }
}

/** UpdateResponse { record (1): Record { table_name (2), type (3), data (4): map<string, ValueType> } }. */
export function encodeRecord(table: string, kind: RecordKind, columns: readonly { readonly name: string; readonly type: ColumnType }[], values: readonly Cell[]): Buffer {
  const tableBytes = Buffer.byteLength(table);
  const type = RECORD_TYPE[kind];
  // The type is written even when it is UPSERT (0), so a reader that leaves out defaults still sees it.
  let recordSize = fieldSize(tableBytes) + 2;
  const entries: { name: string; nameBytes: number; value: Prepared; size: number }[] = [];
  for (let i = 0; i < columns.length; i++) {
    const nameBytes = Buffer.byteLength(columns[i].name);
    const value = prepare(columns[i].type, values[i]);
    // A map entry: { key (1): string, value (2): ValueType }.
    const size = fieldSize(nameBytes) + fieldSize(value.size);
    entries.push({ name: columns[i].name, nameBytes, value, size });
    recordSize += fieldSize(size);
  }
  const o = new Out(Buffer.allocUnsafe(fieldSize(recordSize)));
  o.head(1, recordSize);
  o.string(2, table, tableBytes);
  o.buf[o.pos++] = tag(3, VARINT);
  o.buf[o.pos++] = type;
  for (const e of entries) {
    o.head(4, e.size);
    o.string(1, e.name, e.nameBytes);
    o.head(2, e.value.size);
    e.value.write(o);
  }
  return o.buf;
}

/** UpdateResponse { checkpoint (3): Checkpoint { state_json (1) } }. */
export function encodeCheckpoint(stateJson: string): Buffer {
  const bytes = Buffer.byteLength(stateJson);
  const checkpointSize = fieldSize(bytes);
  const o = new Out(Buffer.allocUnsafe(fieldSize(checkpointSize)));
  o.head(3, checkpointSize);
  o.string(1, stateJson, bytes);
  return o.buf;
}
