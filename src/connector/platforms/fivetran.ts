/**
 * The Fivetran Partner SDK source connector (`scimkit fivetran`): a gRPC server for Fivetran's client, with the four
 * calls of connector_sdk.proto. ConfigurationForm shows the settings, Test makes the probe `scimkit check` makes,
 * Schema lists the three tables, and Update runs the engine and streams each committed page as records (UPSERT with
 * whole rows, DELETE by key, TRUNCATE before a table's first full read) followed by a Checkpoint carrying the state.
 * Logs are JSON lines on stdout (level, message, message-origin), as the SDK's development guide asks.
 */
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import type { ConnectorConfig } from '../config.ts';
import { createRedactor, type Logger, type Redactor } from '../log.ts';
import { probe } from '../source.ts';
import { clientFor } from '../sync.ts';
import { TABLES, type Cell, type ColumnType, type TableDef, type TableName } from '../tables.ts';
import { CheckpointPolicy } from './checkpoint.ts';
import { classifyFailure, PlatformInputError, type FailureKind } from './errors.ts';
import { prepareState, runShell } from './run.ts';
import { platformConfig, SETTINGS, type Setting } from './settings.ts';
import { emptyShellState, parseState, PLATFORM_TABLES, serializeState, type ShellState } from './state.ts';
import type { Change, CommitSink } from './target.ts';
import { encodeCheckpoint, encodeRecord } from './fivetran-wire.ts';

/** Where the .proto files are (copied next to the compiled module by the build). */
export const PROTO_DIR = fileURLToPath(new URL('./fivetran/', import.meta.url));
export const DEFAULT_PORT = 50051;

/** Loader options shared with the tests' client: field names as in the .proto, enums as names. */
export const PROTO_OPTIONS: protoLoader.Options = { keepCase: true, enums: String, longs: String, defaults: false, oneofs: true, includeDirs: [PROTO_DIR] };

export function loadConnectorService(): grpc.ServiceClientConstructor {
  const definition = protoLoader.loadSync('connector_sdk.proto', PROTO_OPTIONS);
  const pkg = grpc.loadPackageDefinition(definition) as unknown as { fivetran_sdk: { v2: { SourceConnector: grpc.ServiceClientConstructor } } };
  return pkg.fivetran_sdk.v2.SourceConnector;
}

type Json = Record<string, unknown>;
type Level = 'INFO' | 'WARNING' | 'SEVERE';

/** One log line in the format the SDK asks for, on stdout. */
export function logLine(level: Level, message: string): string {
  return `${JSON.stringify({ level, message, 'message-origin': 'sdk_connector' })}\n`;
}

function fivetranLogger(write: (line: string) => void, redact: Redactor, debug: boolean): Logger {
  return {
    debugEnabled: debug,
    info: (m) => write(logLine('INFO', redact(m))),
    warn: (m) => write(logLine('WARNING', redact(m))),
    debug: (m) => {
      if (debug) write(logLine('INFO', redact(m)));
    },
  };
}

// ---------- ConfigurationForm and Schema ----------

function formField(s: Setting): Json {
  const field: Json = { name: s.key, label: s.label, required: s.required === true, description: s.description };
  if (s.kind === 'boolean') field.toggle_field = {};
  else if (s.kind === 'choice') field.dropdown_field = { dropdown_field: [...(s.choices ?? [])] };
  else field.text_field = s.kind === 'secret' ? 'Password' : 'PlainText';
  if (s.default !== undefined) field.default_value = String(s.default);
  return field;
}

export function configurationForm(): Json {
  return {
    schema_selection_supported: false,
    table_selection_supported: true,
    fields: SETTINGS.map(formField),
    tests: [{ name: 'connection', label: 'Connecting to the SCIM API' }],
  };
}

const DATA_TYPES: Readonly<Record<ColumnType, string>> = { text: 'STRING', boolean: 'BOOLEAN', integer: 'LONG', timestamp: 'UTC_DATETIME', json: 'JSON' };

export function schemaResponse(): Json {
  return {
    without_schema: {
      tables: TABLES.map((t) => ({
        name: t.name,
        columns: t.columns.map((c) => ({ name: c.name, type: DATA_TYPES[c.type], primary_key: t.key.includes(c.name) })),
      })),
    },
    selection_not_supported: false,
  };
}

// ---------- Update ----------

interface TableSelectionMessage {
  included?: boolean;
  table_name?: string;
  columns?: Record<string, boolean>;
  include_new_columns?: boolean;
}

/** The tables (and, per table, the columns) Fivetran asks for. Without a selection, everything. */
export function selectedColumns(selection: Json | null | undefined): Map<TableName, Set<string>> {
  const all = (t: TableDef) => new Set(t.columns.map((c) => c.name));
  const out = new Map<TableName, Set<string>>();
  let tables: TableSelectionMessage[] | null = null;
  let includeNew = true;
  const without = selection?.without_schema as { tables?: TableSelectionMessage[]; include_new_tables?: boolean } | undefined;
  const withSchema = selection?.with_schema as { schemas?: { included?: boolean; tables?: TableSelectionMessage[] }[]; include_new_schemas?: boolean } | undefined;
  if (without) {
    tables = without.tables ?? [];
    includeNew = without.include_new_tables === true;
  } else if (withSchema) {
    tables = (withSchema.schemas ?? []).filter((s) => s.included).flatMap((s) => s.tables ?? []);
    includeNew = false;
  }
  for (const t of TABLES) {
    const chosen = tables?.find((x) => x.table_name === t.name);
    if (tables !== null && (chosen ? !chosen.included : !includeNew)) continue;
    if (!chosen?.columns || Object.keys(chosen.columns).length === 0) {
      out.set(t.name, all(t));
      continue;
    }
    const cols = new Set<string>();
    for (const c of t.columns) {
      const choice = Object.hasOwn(chosen.columns, c.name) ? chosen.columns[c.name] : chosen.include_new_columns === true;
      // A primary key column is always sent: Fivetran could not apply the row without it.
      if (choice || t.key.includes(c.name)) cols.add(c.name);
    }
    out.set(t.name, cols);
  }
  return out;
}

/**
 * Update's messages handed to HTTP/2 before they are written. grpc-js writes a server stream's messages one at a time,
 * each once the last has reached the socket: a socket write per record (42,201 for 20,000 users), 330 against 120 ms
 * of CPU for 42,000 messages with this window, which lets Node's HTTP/2 stream write what waits together. It bounds
 * what a slow Fivetran client leaves buffered here (about 0.6 MB at 20,000 users), before gRPC's own flow control.
 */
export const UPDATE_WINDOW = 256;

/**
 * Update's call with UPDATE_WINDOW messages in flight: a message counts as sent (its stream may take the next) as soon
 * as it is handed on, until the window is full; then once half of it has been written.
 */
class WindowedCall extends grpc.ServerInterceptingCall {
  private inFlight = 0;
  private held: (() => void) | null = null;

  override sendMessage(message: unknown, callback: () => void): void {
    this.inFlight += 1;
    super.sendMessage(message, () => {
      this.inFlight -= 1;
      if (this.held && this.inFlight <= UPDATE_WINDOW / 2) {
        const release = this.held;
        this.held = null;
        release();
      }
    });
    if (this.inFlight < UPDATE_WINDOW) callback();
    else this.held = callback;
  }
}

const windowedUpdate: grpc.ServerInterceptor = (method, call) =>
  method.path.endsWith('/Update') ? new WindowedCall(call) : new grpc.ServerInterceptingCall(call);

/** Waits out gRPC's flow control, so a slow Fivetran client holds the engine back instead of filling memory. */
async function send(call: UpdateCall, message: Buffer, signal: AbortSignal): Promise<void> {
  signal.throwIfAborted();
  if (!call.write(message)) await once(call, 'drain', { signal });
}

/** Update's stream: its messages go out already encoded (fivetran-wire.ts). */
type UpdateCall = grpc.ServerWritableStream<Json, Buffer>;

/** Sends each commit's rows as records, then a Checkpoint when the checkpoint policy says so. */
class FivetranSink implements CommitSink {
  private readonly policy: CheckpointPolicy;
  private readonly defs = new Map(TABLES.map((t) => [t.name, t]));
  records = 0;

  /**
   * `truncate`: the tables read in full, whose TRUNCATE goes out with the first commit, so after the probe and the
   * first page: Fivetran may apply a TRUNCATE at once (its deferred truncate, which waits for a successful sync, is
   * an option of its own), so one sent before a probe that then failed left the warehouse's rows marked deleted.
   */
  constructor(
    private readonly call: UpdateCall,
    private readonly state: ShellState,
    private readonly columns: ReadonlyMap<TableName, ReadonlySet<string>>,
    private readonly signal: AbortSignal,
    stateBytes: number,
    private truncate: readonly TableName[],
  ) {
    this.policy = new CheckpointPolicy(stateBytes);
  }

  /** Sends the TRUNCATEs still due: before the first commit's records, or at the end of a run that committed nothing. */
  async truncateFresh(): Promise<void> {
    const tables = this.truncate;
    this.truncate = [];
    for (const t of tables) await send(this.call, encodeRecord(t, 'TRUNCATE', [], []), this.signal);
  }

  /** A row's Record message, with the columns Fivetran asked for; null when it did not ask for the table. */
  private message(table: TableName, kind: 'UPSERT' | 'DELETE', values: readonly Cell[]): Buffer | null {
    const wanted = this.columns.get(table);
    if (!wanted) return null;
    const columns = (this.defs.get(table) as TableDef).columns.slice(0, values.length);
    if (columns.length === wanted.size) return encodeRecord(table, kind, columns, values);
    const sent = columns.map((col) => wanted.has(col.name));
    return encodeRecord(table, kind, columns.filter((_, i) => sent[i]), values.filter((_, i) => sent[i]));
  }

  encode(table: TableName, values: readonly Cell[]): Buffer | null {
    return this.message(table, 'UPSERT', values);
  }

  async commit(changes: readonly Change[], boundary: boolean): Promise<void> {
    await this.truncateFresh();
    let bytes = 0;
    for (const c of changes) {
      const message = c.op === 'encoded' ? c.encoded : c.op === 'upsert' ? this.message(c.table, 'UPSERT', c.values) : this.message(c.table, 'DELETE', c.key);
      if (!message) continue;
      bytes += message.length;
      await send(this.call, message, this.signal);
      this.records += 1;
    }
    if (this.policy.due(bytes, boundary)) await this.checkpoint();
  }

  async checkpoint(): Promise<void> {
    const json = serializeState(this.state);
    await send(this.call, encodeCheckpoint(json), this.signal);
    this.policy.written(json.length);
  }

  /** A final checkpoint when a commit since the last one has not been covered (at the end, or before failing). */
  async flush(): Promise<void> {
    if (this.policy.pending) await this.checkpoint();
  }
}

const STATUS: Readonly<Record<FailureKind, grpc.status>> = {
  config: grpc.status.INVALID_ARGUMENT,
  transient: grpc.status.UNAVAILABLE,
  system: grpc.status.INTERNAL,
};

/** The configuration map as a connector config (unset fields arrive as empty strings). */
function configOf(map: unknown): ConnectorConfig {
  return platformConfig(map !== null && typeof map === 'object' ? (map as Record<string, unknown>) : {});
}

function stateOf(json: unknown): ShellState {
  if (json === undefined || json === null || json === '') return emptyShellState();
  if (typeof json !== 'string') throw new PlatformInputError('state_json is not a string');
  return parseState(json);
}

export interface FivetranOptions {
  /** Where log lines go (stdout by default). */
  readonly write?: (line: string) => void;
}

export function connectorHandlers(opts: FivetranOptions = {}): grpc.UntypedServiceImplementation {
  const write = opts.write ?? ((line: string) => void process.stdout.write(line));
  const plain: Redactor = (s) => s;

  return {
    ConfigurationForm(_call: grpc.ServerUnaryCall<Json, Json>, callback: grpc.sendUnaryData<Json>) {
      callback(null, configurationForm());
    },

    Schema(_call: grpc.ServerUnaryCall<Json, Json>, callback: grpc.sendUnaryData<Json>) {
      callback(null, schemaResponse());
    },

    Test(call: grpc.ServerUnaryCall<Json, Json>, callback: grpc.sendUnaryData<Json>) {
      void (async () => {
        let redact = plain;
        try {
          const config = configOf(call.request.configuration);
          redact = createRedactor([config.bearerToken]);
          const { http } = clientFor(config, { logger: fivetranLogger(write, redact, config.enableDebugLogging) });
          try {
            await probe(http, { maxRecordsPerPage: config.maxRecordsPerPage, incremental: config.enableIncrementalSync });
          } finally {
            await http.close().catch(() => {});
          }
          write(logLine('INFO', redact(`test ${String(call.request.name)}: connected to ${config.baseUrl}`)));
          callback(null, { success: true });
        } catch (err) {
          const failure = classifyFailure(err, redact);
          write(logLine('WARNING', `test failed: ${failure.message}`));
          callback(null, { failure: failure.message });
        }
      })();
    },

    Update(call: UpdateCall) {
      void (async () => {
        let redact = plain;
        let sink: FivetranSink | null = null;
        const abort = new AbortController();
        call.on('cancelled', () => abort.abort(new Error('Fivetran cancelled the Update call')));
        try {
          const config = configOf(call.request.configuration);
          redact = createRedactor([config.bearerToken]);
          const logger = fivetranLogger(write, redact, config.enableDebugLogging);
          const columns = selectedColumns(call.request.selection as Json | undefined);
          const tables = PLATFORM_TABLES.filter((t) => columns.has(t));
          const state = stateOf(call.request.state_json);
          // A table the state does not vouch for (the first sync, a re-sync, a newly selected table) is read in
          // full, after a TRUNCATE: rows Fivetran holds from before are soft-deleted unless the read sends them.
          const fresh = new Set(tables.filter((t) => !state.synced.has(t)));
          prepareState(state, tables, fresh);
          sink = new FivetranSink(call, state, columns, abort.signal, typeof call.request.state_json === 'string' ? call.request.state_json.length : 0, [...fresh]);
          logger.info(`update: ${tables.join(', ') || 'no tables'}${fresh.size ? ` (read in full: ${[...fresh].join(', ')})` : ''}`);
          if (tables.length > 0) {
            const summary = await runShell({ config, state, tables, sink, logger, label: 'fivetran', signal: abort.signal });
            logger.info(`update done: ${sink.records} records sent, ${summary.records} resources read in ${(summary.wallMs / 1000).toFixed(3)} s (${summary.requests} requests)`);
          }
          await sink.truncateFresh();
          await sink.flush();
          call.end();
        } catch (err) {
          const failure = classifyFailure(err, redact);
          if (call.cancelled) {
            // Fivetran ended the call (a paused connector, its own timeout): nothing can be sent any more, and no
            // failure of the connector's to report as one.
            write(logLine('WARNING', `update stopped: ${failure.message}; the next Update resumes from the last checkpoint`));
            return;
          }
          if (sink) await sink.flush().catch(() => {});
          write(logLine('SEVERE', `update failed: ${failure.message}`));
          call.emit('error', { code: STATUS[failure.kind], details: failure.message });
        }
      })();
    },
  };
}

export interface ServeOptions extends FivetranOptions {
  readonly port: number;
}

/**
 * Serves the connector on every address (IPv6 `[::]`, which takes IPv4 too; IPv4 alone where IPv6 is missing).
 * Resolves with the server and its port once it listens.
 */
export async function serveFivetran(opts: ServeOptions): Promise<{ server: grpc.Server; port: number }> {
  const write = opts.write ?? ((line: string) => void process.stdout.write(line));
  // A state is as large as the directory it describes: the 4 MiB default would refuse a large one.
  const server = new grpc.Server({ 'grpc.max_receive_message_length': -1, 'grpc.max_send_message_length': -1, interceptors: [windowedUpdate] });
  const service = loadConnectorService().service;
  // Update's records and checkpoints arrive as bytes already (fivetran-wire.ts); anything else the generic way.
  const serialize = service.Update.responseSerialize;
  const update = { ...service.Update, responseSerialize: (m: unknown) => (Buffer.isBuffer(m) ? m : serialize(m)) };
  server.addService({ ...service, Update: update }, connectorHandlers({ write }));
  const bind = (address: string) => new Promise<number>((resolve, reject) => {
    server.bindAsync(address, grpc.ServerCredentials.createInsecure(), (err, port) => (err ? reject(err) : resolve(port)));
  });
  let port: number;
  let address = `[::]:${opts.port}`;
  try {
    port = await bind(address);
  } catch {
    address = `0.0.0.0:${opts.port}`;
    port = await bind(address);
  }
  write(logLine('INFO', `scimkit Fivetran connector listening on ${address.replace(/:\d+$/, '')}:${port}`));
  return { server, port };
}
