/**
 * The Airbyte protocol's message schema, for the tests: the definitions our source can emit, transcribed as data
 * from the published specification (airbytehq/airbyte-protocol, protocol-models/src/main/resources/
 * airbyte_protocol/airbyte_protocol.yaml, protocol version 1: required fields, types and enums; descriptions left
 * out), and a validator for the JSON Schema subset they use. Each emitted message is checked against
 * AirbyteMessage, and each record's data against its stream's json_schema from our own CATALOG.
 */

export type Schema = {
  type?: string | string[];
  required?: string[];
  properties?: Record<string, Schema>;
  additionalProperties?: boolean;
  enum?: unknown[];
  items?: Schema;
  minItems?: number;
  $ref?: string;
  format?: string;
  [extra: string]: unknown;
};

const ref = (name: string): Schema => ({ $ref: `#/definitions/${name}` });

export const DEFINITIONS: Record<string, Schema> = {
  AirbyteMessage: {
    type: 'object',
    required: ['type'],
    properties: {
      type: { type: 'string', enum: ['RECORD', 'STATE', 'LOG', 'SPEC', 'CONNECTION_STATUS', 'CATALOG', 'TRACE', 'CONTROL'] },
      log: ref('AirbyteLogMessage'),
      spec: ref('ConnectorSpecification'),
      connectionStatus: ref('AirbyteConnectionStatus'),
      catalog: ref('AirbyteCatalog'),
      record: ref('AirbyteRecordMessage'),
      state: ref('AirbyteStateMessage'),
      trace: ref('AirbyteTraceMessage'),
    },
  },
  AirbyteRecordMessage: {
    type: 'object',
    required: ['stream', 'data', 'emitted_at'],
    properties: { namespace: { type: 'string' }, stream: { type: 'string' }, data: { type: 'object' }, emitted_at: { type: 'integer' } },
  },
  AirbyteStateMessage: {
    type: 'object',
    properties: {
      type: ref('AirbyteStateType'),
      stream: ref('AirbyteStreamState'),
      global: ref('AirbyteGlobalState'),
      data: { type: 'object' },
      sourceStats: ref('AirbyteStateStats'),
    },
  },
  AirbyteStateType: { type: 'string', enum: ['GLOBAL', 'STREAM', 'LEGACY'] },
  AirbyteStreamState: {
    type: 'object',
    required: ['stream_descriptor'],
    properties: { stream_descriptor: ref('StreamDescriptor'), stream_state: ref('AirbyteStateBlob') },
  },
  AirbyteGlobalState: {
    type: 'object',
    required: ['stream_states'],
    properties: { shared_state: ref('AirbyteStateBlob'), stream_states: { type: 'array', items: ref('AirbyteStreamState') } },
  },
  StreamDescriptor: { type: 'object', required: ['name'], properties: { name: { type: 'string' }, namespace: { type: 'string' } } },
  AirbyteStateBlob: { type: 'object' },
  AirbyteStateStats: { type: 'object', properties: { recordCount: { type: 'number' } } },
  AirbyteLogMessage: {
    type: 'object',
    required: ['level', 'message'],
    properties: {
      level: { type: 'string', enum: ['FATAL', 'ERROR', 'WARN', 'INFO', 'DEBUG', 'TRACE'] },
      message: { type: 'string' },
      stack_trace: { type: 'string' },
    },
  },
  AirbyteTraceMessage: {
    type: 'object',
    required: ['type', 'emitted_at'],
    properties: {
      type: { type: 'string', enum: ['ERROR', 'ESTIMATE', 'STREAM_STATUS', 'ANALYTICS'] },
      emitted_at: { type: 'number' },
      error: ref('AirbyteErrorTraceMessage'),
    },
  },
  AirbyteErrorTraceMessage: {
    type: 'object',
    required: ['message'],
    properties: {
      message: { type: 'string' },
      internal_message: { type: 'string' },
      stack_trace: { type: 'string' },
      failure_type: { type: 'string', enum: ['system_error', 'config_error', 'transient_error'] },
      stream_descriptor: ref('StreamDescriptor'),
    },
  },
  AirbyteConnectionStatus: {
    type: 'object',
    required: ['status'],
    properties: { status: { type: 'string', enum: ['SUCCEEDED', 'FAILED'] }, message: { type: 'string' } },
  },
  AirbyteCatalog: { type: 'object', required: ['streams'], properties: { streams: { type: 'array', items: ref('AirbyteStream') } } },
  AirbyteStream: {
    type: 'object',
    required: ['name', 'json_schema', 'supported_sync_modes'],
    properties: {
      name: { type: 'string' },
      json_schema: { type: 'object' },
      supported_sync_modes: { type: 'array', minItems: 1, items: ref('SyncMode') },
      source_defined_cursor: { type: 'boolean' },
      default_cursor_field: { type: 'array', items: { type: 'string' } },
      source_defined_primary_key: { type: 'array', items: { type: 'array', items: { type: 'string' } } },
      namespace: { type: 'string' },
      is_resumable: { type: 'boolean' },
    },
  },
  SyncMode: { type: 'string', enum: ['full_refresh', 'incremental'] },
  ConnectorSpecification: {
    type: 'object',
    required: ['connectionSpecification'],
    properties: {
      documentationUrl: { type: 'string', format: 'uri' },
      changelogUrl: { type: 'string', format: 'uri' },
      connectionSpecification: { type: 'object' },
      supportsIncremental: { type: 'boolean' },
      protocol_version: { type: 'string' },
    },
  },
};

function typeOf(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  return typeof v;
}

function typeMatches(actual: string, wanted: string): boolean {
  return actual === wanted || (wanted === 'number' && actual === 'integer');
}

/** Problems with `value` against `schema` (empty when it conforms), each with a JSON path. */
export function validate(value: unknown, schema: Schema, path = '$', definitions = DEFINITIONS): string[] {
  if (schema.$ref) {
    const name = schema.$ref.replace('#/definitions/', '');
    const def = definitions[name];
    if (!def) return [`${path}: unknown definition ${name}`];
    return validate(value, def, path, definitions);
  }
  const problems: string[] = [];
  const actual = typeOf(value);
  if (schema.type !== undefined) {
    const wanted = Array.isArray(schema.type) ? schema.type : [schema.type];
    if (!wanted.some((w) => typeMatches(actual, w))) return [`${path}: expected ${wanted.join(' or ')}, got ${actual}`];
  }
  if (schema.enum && !schema.enum.includes(value)) problems.push(`${path}: ${JSON.stringify(value)} is not one of ${schema.enum.join(', ')}`);
  if (schema.format === 'date-time' && typeof value === 'string' && Number.isNaN(Date.parse(value))) problems.push(`${path}: not a date-time`);
  if (schema.format === 'uri' && typeof value === 'string' && !URL.canParse(value)) problems.push(`${path}: not a URI`);
  if (actual === 'object') {
    const obj = value as Record<string, unknown>;
    for (const key of schema.required ?? []) if (!Object.hasOwn(obj, key)) problems.push(`${path}: missing required ${key}`);
    for (const [key, v] of Object.entries(obj)) {
      const sub = schema.properties?.[key];
      if (sub) problems.push(...validate(v, sub, `${path}.${key}`, definitions));
      else if (schema.additionalProperties === false) problems.push(`${path}: unexpected property ${key}`);
    }
  }
  if (actual === 'array') {
    const arr = value as unknown[];
    if (schema.minItems !== undefined && arr.length < schema.minItems) problems.push(`${path}: fewer than ${schema.minItems} items`);
    if (schema.items) arr.forEach((item, i) => problems.push(...validate(item, schema.items as Schema, `${path}[${i}]`, definitions)));
  }
  return problems;
}
