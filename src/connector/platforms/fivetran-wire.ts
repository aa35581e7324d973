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

/** A map entry's key field ({ key (1): string }), encoded once per column name. */
const KEY_FIELDS = new Map<string, Buffer>();
function keyField(name: string): Buffer {
  let field = KEY_FIELDS.get(name);
  if (!field) {
    const bytes = Buffer.byteLength(name);
    const o = new Out(Buffer.alloc(fieldSize(bytes)));
    o.string(1, name, bytes);
    KEY_FIELDS.set(name, (field = o.buf));
  }
  return field;
}

// Per column of the record being encoded: sizes first, then the bytes (reused: a record is encoded start to finish
// without yielding, and no closure or object is made per value).
const keys: Buffer[] = [];
const valueSizes: number[] = [];
/** A text's UTF-8 bytes, or a Timestamp's encoded size. */
const payloadBytes: number[] = [];
const seconds: number[] = [];
const nanos: number[] = [];

/** The ValueType payload size of a column's value; what writing it needs goes into the arrays above, at `i`. */
function valueSize(i: number, type: ColumnType, v: Cell): number {
  if (v === null) return 2;
  switch (type) {
    case 'text':
    case 'json':
      payloadBytes[i] = Buffer.byteLength(String(v));
      return fieldSize(payloadBytes[i]);
    case 'boolean':
      return 2;
    case 'integer':
      return 1 + varintSize(Number(v));
    case 'timestamp': {
      const ms = Date.parse(String(v));
      seconds[i] = Math.floor(ms / 1000);
      nanos[i] = (ms - seconds[i] * 1000) * 1_000_000;
      // google.protobuf.Timestamp { seconds = 1; nanos = 2 }, zero fields left out as proto3 does.
      payloadBytes[i] = (seconds[i] !== 0 ? 1 + varintSize(seconds[i]) : 0) + (nanos[i] !== 0 ? 1 + varintSize(nanos[i]) : 0);
      return fieldSize(payloadBytes[i]);
    }
  }
}

function writeValue(o: Out, i: number, type: ColumnType, v: Cell): void {
  if (v === null) {
    o.buf[o.pos++] = tag(1, VARINT);
    o.buf[o.pos++] = 1;
    return;
  }
  switch (type) {
    case 'text':
    case 'json':
      o.string(type === 'text' ? 13 : 14, String(v), payloadBytes[i]);
      return;
    case 'boolean':
      o.buf[o.pos++] = tag(2, VARINT);
      o.buf[o.pos++] = v === true ? 1 : 0;
      return;
    case 'integer':
      o.buf[o.pos++] = tag(5, VARINT);
      o.varint(Number(v));
      return;
    case 'timestamp':
      o.head(10, payloadBytes[i]);
      if (seconds[i] !== 0) {
        o.buf[o.pos++] = tag(1, VARINT);
        o.varint(seconds[i]);
      }
      if (nanos[i] !== 0) {
        o.buf[o.pos++] = tag(2, VARINT);
        o.varint(nanos[i]);
      }
  }
}

/** UpdateResponse { record (1): Record { table_name (2), type (3), data (4): map<string, ValueType> } }. */
export function encodeRecord(table: string, kind: RecordKind, columns: readonly { readonly name: string; readonly type: ColumnType }[], values: readonly Cell[]): Buffer {
  const tableBytes = Buffer.byteLength(table);
  // The type is written even when it is UPSERT (0), so a reader that leaves out defaults still sees it.
  let recordSize = fieldSize(tableBytes) + 2;
  for (let i = 0; i < columns.length; i++) {
    keys[i] = keyField(columns[i].name);
    valueSizes[i] = valueSize(i, columns[i].type, values[i]);
    // A map entry: { key (1): string, value (2): ValueType }.
    recordSize += fieldSize(keys[i].length + fieldSize(valueSizes[i]));
  }
  const o = new Out(Buffer.allocUnsafe(fieldSize(recordSize)));
  o.head(1, recordSize);
  o.string(2, table, tableBytes);
  o.buf[o.pos++] = tag(3, VARINT);
  o.buf[o.pos++] = RECORD_TYPE[kind];
  for (let i = 0; i < columns.length; i++) {
    o.head(4, keys[i].length + fieldSize(valueSizes[i]));
    o.pos += keys[i].copy(o.buf, o.pos);
    o.head(2, valueSizes[i]);
    writeValue(o, i, columns[i].type, values[i]);
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
