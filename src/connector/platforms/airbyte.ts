/**
 * The Airbyte source protocol (airbyte_protocol.yaml): `spec`, `check`, `discover` and `read`, one JSON message per
 * line on stdout. The engine is the one `scimkit sync` runs; this module only translates. Each committed page
 * becomes RECORD messages followed by per-stream STATE messages (see checkpoint.ts for how often), deletes become
 * records carrying `_ab_cdc_deleted_at`, engine log lines become LOG messages and failures a TRACE error.
 */
import { clientFor } from '../sync.ts';
import type { ConnectorConfig } from '../config.ts';
import type { Logger, Redactor } from '../log.ts';
import { probe } from '../source.ts';
import { TABLES, type Cell, type ColumnDef, type ColumnType, type TableDef, type TableName } from '../tables.ts';
import { CheckpointPolicy } from './checkpoint.ts';
import { classifyFailure, PlatformInputError, type FailureKind } from './errors.ts';
import { prepareState, runShell } from './run.ts';
import { SETTINGS, type Setting } from './settings.ts';
import { emptyShellState, parseState, PLATFORM_TABLES, serializeState, StateError, type ShellState } from './state.ts';
import type { Change, CommitSink } from './target.ts';

type Json = Record<string, unknown>;
export type SyncMode = 'full_refresh' | 'incremental';
/** The streams a configured catalog asks for, with their sync modes. */
export type ConfiguredStreams = ReadonlyMap<TableName, SyncMode>;
/** Where messages go: one call per line or group of lines, each line ending in a newline; as text or its UTF-8 bytes. */
export type Output = (data: string | Buffer) => void;

/** The CDC columns Airbyte's destinations understand: a non-null `_ab_cdc_deleted_at` deletes the row. */
export const CDC_UPDATED_AT = '_ab_cdc_updated_at';
export const CDC_DELETED_AT = '_ab_cdc_deleted_at';
/** Increases with every record emitted, across runs: the cursor a deduplicating destination orders by. */
export const CDC_CURSOR = '_ab_cdc_cursor';

const DRAFT_07 = 'http://json-schema.org/draft-07/schema#';

function tableDef(name: TableName): TableDef {
  return TABLES.find((t) => t.name === name) as TableDef;
}

// ---------- spec and catalog ----------

function settingSchema(s: Setting, order: number): Json {
  const type = s.kind === 'secret' || s.kind === 'text' || s.kind === 'choice' ? 'string' : s.kind;
  const out: Json = { type, title: s.label, description: s.description, order };
  if (s.kind === 'secret') out.airbyte_secret = true;
  if (s.choices) out.enum = [...s.choices];
  if (s.default !== undefined) out.default = s.default;
  return out;
}

export function airbyteSpec(): Json {
  return {
    documentationUrl: 'https://github.com/scimkit/scimkit/blob/main/docs/connector.md',
    connectionSpecification: {
      $schema: DRAFT_07,
      title: 'scimkit SCIM source',
      type: 'object',
      required: SETTINGS.filter((s) => s.required).map((s) => s.key),
      // The same file `scimkit sync` reads (with `destination` and `sync_frequency_hours`) is accepted too.
      additionalProperties: true,
      properties: Object.fromEntries(SETTINGS.map((s, i) => [s.key, settingSchema(s, i)])),
    },
    supportsIncremental: true,
  };
}

function columnSchema(column: Pick<ColumnDef, 'type' | 'list'>): Json {
  switch (column.type) {
    case 'text': return { type: ['null', 'string'] };
    case 'boolean': return { type: ['null', 'boolean'] };
    case 'integer': return { type: ['null', 'integer'] };
    case 'timestamp': return { type: ['null', 'string'], format: 'date-time', airbyte_type: 'timestamp_with_timezone' };
    case 'json': return { type: ['null', column.list ? 'array' : 'object'] };
  }
}

export function streamSchema(name: TableName): Json {
  const properties: Json = {};
  for (const c of tableDef(name).columns) properties[c.name] = columnSchema(c);
  properties[CDC_UPDATED_AT] = columnSchema({ type: 'timestamp' });
  properties[CDC_DELETED_AT] = columnSchema({ type: 'timestamp' });
  properties[CDC_CURSOR] = { type: 'integer' };
  return { $schema: DRAFT_07, type: 'object', additionalProperties: true, required: [...tableDef(name).key, CDC_CURSOR], properties };
}

export function airbyteCatalog(): Json {
  return {
    streams: PLATFORM_TABLES.map((name) => ({
      name,
      json_schema: streamSchema(name),
      supported_sync_modes: ['full_refresh', 'incremental'],
      source_defined_cursor: true,
      default_cursor_field: [CDC_CURSOR],
      source_defined_primary_key: tableDef(name).key.map((k) => [k]),
      is_resumable: true,
    })),
  };
}

// ---------- inputs ----------

function isObject(v: unknown): v is Json {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function tableName(v: unknown, what: string): TableName {
  if (typeof v !== 'string' || !PLATFORM_TABLES.includes(v as TableName)) {
    throw new PlatformInputError(`${what} names stream ${JSON.stringify(v)}; this source has ${PLATFORM_TABLES.join(', ')}`);
  }
  return v as TableName;
}

/** The streams and sync modes of a ConfiguredAirbyteCatalog. */
export function parseConfiguredCatalog(input: unknown): ConfiguredStreams {
  if (!isObject(input) || !Array.isArray(input.streams)) throw new PlatformInputError('the catalog is not a ConfiguredAirbyteCatalog (an object with a streams array)');
  const out = new Map<TableName, SyncMode>();
  for (const entry of input.streams) {
    if (!isObject(entry) || !isObject(entry.stream)) throw new PlatformInputError('a catalog entry has no stream');
    const name = tableName(entry.stream.name, 'the catalog');
    const mode = entry.sync_mode ?? 'full_refresh';
    if (mode !== 'full_refresh' && mode !== 'incremental') throw new PlatformInputError(`stream ${name}: sync_mode must be full_refresh or incremental (got ${JSON.stringify(mode)})`);
    if (out.has(name)) throw new PlatformInputError(`the catalog lists stream ${name} twice`);
    out.set(name, mode);
  }
  return out;
}

/**
 * The per-stream states the platform hands back (an array of STATE messages' `state` objects), by stream. An empty
 * array or object is no state. States of streams this source does not have are ignored, and so is a null
 * stream_state: what Airbyte keeps for a stream it reset (its reset emits exactly that), to be read again in full.
 */
export function parseAirbyteState(input: unknown): Map<TableName, unknown> {
  const out = new Map<TableName, unknown>();
  if (input === null || input === undefined || (isObject(input) && Object.keys(input).length === 0)) return out;
  if (!Array.isArray(input)) throw new StateError('expected an array of per-stream states');
  for (const s of input) {
    if (!isObject(s) || (s.type !== undefined && s.type !== 'STREAM') || !isObject(s.stream) || !isObject(s.stream.stream_descriptor)) {
      throw new StateError('expected per-stream (STREAM) states');
    }
    const name = s.stream.stream_descriptor.name;
    if (typeof name === 'string' && PLATFORM_TABLES.includes(name as TableName) && s.stream.stream_state !== undefined && s.stream.stream_state !== null) out.set(name as TableName, s.stream.stream_state);
  }
  return out;
}

/**
 * The state a read starts from. One selected stream (the last, "carrier") holds the whole state, the others a
 * marker with the commit number they were written at. A table's known rows are trusted only when its own stream's
 * state is there and is not older than the whole state: a stream's records are committed up to its own state, so
 * anything else is read again in full.
 */
export function loadAirbyteState(blobs: ReadonlyMap<TableName, unknown>, streams: ConfiguredStreams): { state: ShellState; fresh: Set<TableName> } {
  let whole: { seq: number; blob: Json } | null = null;
  const seqs = new Map<TableName, number>();
  for (const [table, blob] of blobs) {
    if (!isObject(blob) || typeof blob.seq !== 'number' || !Number.isInteger(blob.seq)) throw new StateError(`the ${table} state has no commit number`);
    seqs.set(table, blob.seq);
    if (Object.hasOwn(blob, 'known')) {
      if (!whole || blob.seq > whole.seq) whole = { seq: blob.seq, blob };
    } else if (typeof blob.in !== 'string') throw new StateError(`the ${table} state is neither the whole state nor a marker`);
  }
  const state = whole ? parseState(whole.blob) : emptyShellState();
  const fresh = new Set<TableName>();
  for (const [table, mode] of streams) {
    const seq = seqs.get(table);
    const trusted = mode === 'incremental' && whole !== null && state.synced.has(table) && seq !== undefined && seq >= whole.seq;
    if (!trusted) fresh.add(table);
  }
  return { state, fresh };
}

// ---------- messages ----------

export function logLine(level: 'INFO' | 'WARN' | 'DEBUG' | 'ERROR', message: string): string {
  return `${JSON.stringify({ type: 'LOG', log: { level, message } })}\n`;
}

const FAILURE_TYPE: Readonly<Record<FailureKind, string>> = { config: 'config_error', transient: 'transient_error', system: 'system_error' };

export function traceErrorLine(kind: FailureKind, message: string): string {
  return `${JSON.stringify({ type: 'TRACE', trace: { type: 'ERROR', emitted_at: Date.now(), error: { message, failure_type: FAILURE_TYPE[kind] } } })}\n`;
}

/** A Logger whose lines are LOG messages, redacted. */
export function airbyteLogger(write: Output, redact: Redactor, debug: boolean): Logger {
  return {
    debugEnabled: debug,
    info: (m) => write(logLine('INFO', redact(m))),
    warn: (m) => write(logLine('WARN', redact(m))),
    debug: (m) => {
      if (debug) write(logLine('DEBUG', redact(m)));
    },
  };
}

/** Record data as JSON text: JSON columns hold JSON text already and are spliced in, not parsed and re-encoded. */
class RecordEncoder {
  private readonly names: string[];
  private readonly json: boolean[];

  constructor(private readonly table: TableDef) {
    this.names = table.columns.map((c) => `${JSON.stringify(c.name)}:`);
    this.json = table.columns.map((c) => c.type === 'json');
  }

  upsert(values: readonly Cell[]): string {
    let out = '';
    for (let i = 0; i < values.length; i++) {
      const v = values[i];
      out += `${this.names[i]}${this.json[i] && typeof v === 'string' ? v : JSON.stringify(v)},`;
    }
    return out;
  }

  delete(key: readonly Cell[]): string {
    let out = '';
    for (let i = 0; i < key.length; i++) out += `${this.names[i]}${JSON.stringify(key[i])},`;
    return out;
  }
}

/** Emits each commit as RECORD lines, then per-stream STATE lines when the checkpoint policy says so. */
class AirbyteSink implements CommitSink {
  private readonly encoders = new Map(PLATFORM_TABLES.map((t) => [t, new RecordEncoder(tableDef(t))]));
  private readonly policy: CheckpointPolicy;
  private cursor = 0;
  records = 0;

  constructor(
    private readonly write: Output,
    private readonly state: ShellState,
    private readonly streams: readonly TableName[],
    stateBytes: number,
  ) {
    this.policy = new CheckpointPolicy(stateBytes);
  }

  /** The millisecond `updatedAt` was made for, and it (one string per millisecond, not per record). */
  private stampedAt = -1;
  private updatedAt = '';

  /** A change's RECORD line, emitted now: the cursor grows with every record. */
  private line(c: Exclude<Change, { op: 'encoded' }>): string {
    const emittedAt = Date.now();
    if (emittedAt !== this.stampedAt) {
      this.stampedAt = emittedAt;
      this.updatedAt = JSON.stringify(new Date(emittedAt).toISOString());
    }
    this.cursor = Math.max(this.cursor + 1, emittedAt * 1000);
    const enc = this.encoders.get(c.table) as RecordEncoder;
    const data = c.op === 'upsert'
      ? `${enc.upsert(c.values)}"${CDC_UPDATED_AT}":${this.updatedAt},"${CDC_DELETED_AT}":null`
      : `${enc.delete(c.key)}"${CDC_UPDATED_AT}":${JSON.stringify(c.at)},"${CDC_DELETED_AT}":${JSON.stringify(c.at)}`;
    return `{"type":"RECORD","record":{"stream":"${c.table}","data":{${data},"${CDC_CURSOR}":${this.cursor}},"emitted_at":${emittedAt}}}\n`;
  }

  encode(table: TableName, values: readonly Cell[]): Buffer | null {
    return this.streams.includes(table) ? Buffer.from(this.line({ op: 'upsert', table, values })) : null;
  }

  async commit(changes: readonly Change[], boundary: boolean): Promise<void> {
    const parts: Buffer[] = [];
    let bytes = 0;
    let text = '';
    for (const c of changes) {
      if (!this.streams.includes(c.table)) continue;
      this.records += 1;
      if (c.op !== 'encoded') {
        text += this.line(c);
        continue;
      }
      if (text) {
        parts.push(Buffer.from(text));
        bytes += text.length;
        text = '';
      }
      parts.push(c.encoded);
      bytes += c.encoded.length;
    }
    if (this.policy.due(bytes + text.length, boundary)) text += this.stateLines();
    if (text) parts.push(Buffer.from(text));
    if (parts.length > 0) this.write(parts.length === 1 ? parts[0] : Buffer.concat(parts));
  }

  /** Writes the state if a commit since the last one has not been checkpointed (at the end, or before a failure). */
  flush(): void {
    if (this.policy.pending) this.write(this.stateLines());
  }

  /** flush() on the way out of a failed run: output that is already broken must not hide the run's own error. */
  flushQuietly(): void {
    try {
      this.flush();
    } catch {
      // The TRACE message that follows will fail the same way; the exit code still reports the failure.
    }
  }

  /** Markers first, the whole state last: a stream's marker never claims a commit its records may not have reached. */
  private stateLines(): string {
    const carrier = this.streams[this.streams.length - 1];
    const whole = serializeState(this.state);
    let out = '';
    for (const t of this.streams) {
      const blob = t === carrier ? whole : JSON.stringify({ v: 1, seq: this.state.seq, in: carrier });
      out += `{"type":"STATE","state":{"type":"STREAM","stream":{"stream_descriptor":{"name":"${t}"},"stream_state":${blob}}}}\n`;
    }
    this.policy.written(whole.length);
    return out;
  }
}

export interface ReadOptions {
  readonly config: ConnectorConfig;
  readonly streams: ConfiguredStreams;
  /** The parsed state file, if any, and its size in bytes. */
  readonly state: unknown;
  readonly stateBytes?: number;
  readonly write: Output;
  readonly redact: Redactor;
}

/** Runs `read`. Returns null on success, or the kind of failure after its TRACE message was written. */
export async function airbyteRead(opts: ReadOptions): Promise<FailureKind | null> {
  const logger = airbyteLogger(opts.write, opts.redact, opts.config.enableDebugLogging);
  const tables = PLATFORM_TABLES.filter((t) => opts.streams.has(t));
  let sink: AirbyteSink | null = null;
  try {
    const { state, fresh } = loadAirbyteState(parseAirbyteState(opts.state), opts.streams);
    prepareState(state, tables, fresh);
    if (tables.length === 0) return null;
    const resumed = tables.filter((t) => !fresh.has(t));
    logger.info(`reading ${tables.join(', ')}${resumed.length ? ` (incremental from the saved state: ${resumed.join(', ')})` : ''}`);
    sink = new AirbyteSink(opts.write, state, tables, opts.stateBytes ?? 0);
    const summary = await runShell({ config: opts.config, state, tables, sink, logger, label: 'airbyte' });
    sink.flush();
    logger.info(`read done: ${sink.records} records sent, ${summary.records} resources read in ${(summary.wallMs / 1000).toFixed(3)} s (${summary.requests} requests)`);
    return null;
  } catch (err) {
    sink?.flushQuietly();
    const failure = classifyFailure(err, opts.redact);
    opts.write(traceErrorLine(failure.kind, failure.message));
    return failure.kind;
  }
}

/** Runs `check`: the probe `scimkit check` makes, as a CONNECTION_STATUS. */
export async function airbyteCheck(config: ConnectorConfig, write: Output, redact: Redactor): Promise<void> {
  const logger = airbyteLogger(write, redact, config.enableDebugLogging);
  const { http } = clientFor(config, { logger });
  try {
    const caps = await probe(http, { maxRecordsPerPage: config.maxRecordsPerPage, incremental: config.enableIncrementalSync });
    const how = (['users', 'groups'] as const).map((s) => `${s}: ${caps.streams[s].strategy === 'incremental' ? 'incremental' : 'full scan'}`).join(', ');
    logger.info(`connected to ${config.baseUrl}; ${how}`);
    write(connectionStatusLine('SUCCEEDED'));
  } catch (err) {
    write(connectionStatusLine('FAILED', classifyFailure(err, redact).message));
  } finally {
    await http.close().catch(() => {});
  }
}

export function connectionStatusLine(status: 'SUCCEEDED' | 'FAILED', message?: string): string {
  return `${JSON.stringify({ type: 'CONNECTION_STATUS', connectionStatus: message === undefined ? { status } : { status, message } })}\n`;
}

export function specLine(): string {
  return `${JSON.stringify({ type: 'SPEC', spec: airbyteSpec() })}\n`;
}

export function catalogLine(): string {
  return `${JSON.stringify({ type: 'CATALOG', catalog: airbyteCatalog() })}\n`;
}
