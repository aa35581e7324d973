/**
 * `POST /Bulk` (RFC 7644 section 3.7): many Users/Groups operations in one request, run through the resource
 * service one by one (no shared transaction, as the RFC allows partial success).
 *
 * - `bulkId:<id>` anywhere in an operation's data (also inside `members[].value` and PATCH values) or path is
 *   replaced by the id that the POST with that bulkId created. Operations run in dependency order (stable: request
 *   order among independent ones), so a reference may point forward in the request. A PATCH whose operation path
 *   filters by a reference (`members[value eq "bulkId:x"]`) is refused with 400 instead of matching nothing.
 * - Circular references cannot be ordered: those operations, and everything that depends on them, fail with 409.
 *   An operation whose dependency failed fails with 409 too; a reference to a bulkId no POST defines gives 400.
 * - `failOnErrors`: processing stops once that many operations have failed; the response holds what ran.
 *   Operations that fail without running (unreadable, or on a cycle) count at their place in request order.
 * - More than `maxOperations` operations: 413 for the whole request (section 3.7.4); so is a body larger than
 *   `maxPayloadSize`, which the route enforces on the raw body before parsing it.
 */
import type { FastifyError, FastifyInstance } from 'fastify';
import { ScimError, isScimError } from '../scim/errors.ts';
import { BULK_REQUEST_SCHEMA, BULK_RESPONSE_SCHEMA } from '../scim/schema/core.ts';
import { isForbiddenKey } from '../scim/schema/registry.ts';
import { isPlainObject } from '../scim/validate.ts';
import type { ResourceKind } from '../store/types.ts';
import { parseEtagCondition } from './etag.ts';
import type { ScimPluginContext } from './app.ts';
import { discardUnreadBody, errorBody, sendProblem, sendScim } from './http.ts';
import type { HttpErrorBody } from './http.ts';
import { unsupportedMethods } from './routes.ts';
import { createResource, deleteResource, patchResource, replaceResource, resourceLocation } from './resources.ts';
import type { ResourceContext, ResourceView } from './resources.ts';

export interface BulkLimits {
  /** Most operations in one request; advertised in ServiceProviderConfig `bulk.maxOperations`. */
  readonly maxOperations: number;
  /** Largest request body in bytes; advertised as `bulk.maxPayloadSize`. */
  readonly maxPayloadSize: number;
}

export interface BulkOptions {
  readonly limits: BulkLimits;
  /** Names the request in the generic detail of an operation that failed with an internal error. */
  readonly requestId?: string;
  /** Receives the cause of an operation's internal error, for the log (the response shows only a generic detail). */
  readonly onInternalError?: (error: unknown, operationIndex: number) => void;
}

type BulkMethod = 'POST' | 'PUT' | 'PATCH' | 'DELETE';

/** One entry of the BulkResponse `Operations` (section 3.7.3). */
export interface BulkOperationResult {
  location?: string;
  method: string;
  bulkId?: string;
  version?: string;
  status: string;
  response?: HttpErrorBody;
}

export interface BulkResponseBody {
  schemas: [typeof BULK_RESPONSE_SCHEMA];
  Operations: BulkOperationResult[];
}

const BULK_REF_PREFIX = 'bulkId:';
const METHODS: ReadonlySet<string> = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
// A bulkId is an opaque client token; keep it printable and short so it is safe to echo.
const BULK_ID = /^[\x21-\x7e]{1,200}$/;
// Bounds the walk over hostile data (the JSON parser already limits nesting).
const MAX_REFERENCE_DEPTH = 64;

/** An operation as read from the request, before its references are resolved. */
interface ParsedOperation {
  readonly index: number;
  readonly method: BulkMethod;
  readonly bulkId: string | undefined;
  readonly kind: ResourceKind;
  /** The id segment of the path (may itself be a `bulkId:` reference); null for POST. */
  readonly id: string | null;
  readonly version: string | undefined;
  readonly data: unknown;
  /** bulkIds this operation refers to, in its path or data. */
  readonly refs: ReadonlySet<string>;
}

/** An operation that could not even be read: it fails without running. */
interface RejectedOperation {
  readonly index: number;
  readonly method: string;
  readonly bulkId: string | undefined;
  readonly error: ScimError;
}

/** Validates the BulkRequest envelope; problems here reject the whole request. */
function readEnvelope(body: unknown, limits: BulkLimits): { operations: unknown[]; failOnErrors: number } {
  if (!isPlainObject(body)) throw ScimError.invalidSyntax('A BulkRequest must be a JSON object');
  const schemas = body.schemas;
  if (!Array.isArray(schemas) || !schemas.includes(BULK_REQUEST_SCHEMA)) {
    throw ScimError.invalidSyntax(`A BulkRequest must list the schema "${BULK_REQUEST_SCHEMA}" in "schemas"`);
  }
  const operations = body.Operations;
  if (!Array.isArray(operations)) throw ScimError.invalidSyntax('A BulkRequest needs an "Operations" array');
  if (operations.length > limits.maxOperations) {
    throw ScimError.payloadTooLarge(`The bulk request has ${operations.length} operations, more than the maxOperations of ${limits.maxOperations}`);
  }
  let failOnErrors = Number.POSITIVE_INFINITY;
  if (body.failOnErrors !== undefined && body.failOnErrors !== null) {
    const n = body.failOnErrors;
    if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 1) {
      throw ScimError.invalidValue('"failOnErrors" must be a positive integer');
    }
    failOnErrors = n;
  }
  return { operations, failOnErrors };
}

/** Collects the bulkIds referred to by string values equal to `bulkId:<id>`, at any depth. */
function collectRefs(value: unknown, into: Set<string>, depth: number): void {
  if (typeof value === 'string') {
    if (value.startsWith(BULK_REF_PREFIX)) into.add(value.slice(BULK_REF_PREFIX.length));
    return;
  }
  if (typeof value !== 'object' || value === null) return;
  if (depth > MAX_REFERENCE_DEPTH) throw ScimError.invalidSyntax(`Operation data is nested deeper than ${MAX_REFERENCE_DEPTH} levels`);
  if (Array.isArray(value)) {
    for (const item of value) collectRefs(item, into, depth + 1);
    return;
  }
  for (const [key, item] of Object.entries(value)) {
    if (isForbiddenKey(key)) throw ScimError.invalidSyntax(`Operation data uses the reserved key "${key}"`);
    collectRefs(item, into, depth + 1);
  }
}

/** A copy of `value` with every `bulkId:<id>` string replaced by the created resource's id. */
function substituteRefs(value: unknown, ids: ReadonlyMap<string, string>): unknown {
  if (typeof value === 'string') {
    return value.startsWith(BULK_REF_PREFIX) ? (ids.get(value.slice(BULK_REF_PREFIX.length)) ?? value) : value;
  }
  if (Array.isArray(value)) return value.map((item) => substituteRefs(item, ids));
  if (isPlainObject(value)) {
    // fromEntries defines own properties, so even a key such as __proto__ could not reach a prototype.
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, substituteRefs(item, ids)]));
  }
  return value;
}

/**
 * A PATCH operation's `path` that compares with a bulkId reference (`members[value eq "bulkId:u1"]`) is refused:
 * references are attribute values (RFC 7644 section 3.7.2), and a filter literal is text inside a path, which
 * substituteRefs leaves alone, so the filter would match nothing and the operation would silently do nothing.
 */
function refusePathReferences(data: unknown): void {
  if (!isPlainObject(data)) return;
  for (const [key, operations] of Object.entries(data)) {
    if (key.toLowerCase() !== 'operations' || !Array.isArray(operations)) continue;
    for (const [i, op] of operations.entries()) {
      if (!isPlainObject(op)) continue;
      for (const [name, path] of Object.entries(op)) {
        if (name.toLowerCase() === 'path' && typeof path === 'string' && path.includes(`"${BULK_REF_PREFIX}`)) {
          throw ScimError.invalidValue(
            `Operations[${i}].path compares with a bulkId reference: references are resolved in values and in the operation's path, not inside a PATCH path filter. Send this PATCH in a later request with the created resource's id, or use a value (e.g. "remove" with "value": [{"value": "bulkId:..."}])`,
          );
        }
      }
    }
  }
}

/** Reads `/Users`, `/Groups`, `/Users/<id>`, `/Groups/<id>` (endpoint names match case-insensitively). */
function readPath(path: unknown, method: BulkMethod): { kind: ResourceKind; id: string | null } {
  if (typeof path !== 'string' || !path.startsWith('/')) {
    throw ScimError.invalidValue('"path" must be a resource endpoint such as "/Users" or "/Groups/<id>"');
  }
  const segments = path.slice(1).split('/');
  const endpoint = segments[0].toLowerCase();
  const kind: ResourceKind | null = endpoint === 'users' ? 'User' : endpoint === 'groups' ? 'Group' : null;
  if (!kind || segments.length > 2 || path.includes('?') || path.includes('#')) {
    throw ScimError.invalidValue(`"path" ${JSON.stringify(path.slice(0, 200))} is not a Users or Groups endpoint`);
  }
  let id: string | null = null;
  if (segments.length === 2) {
    try {
      id = decodeURIComponent(segments[1]);
    } catch {
      throw ScimError.invalidValue('"path" holds a malformed percent-encoded id');
    }
    if (id === '') id = null;
  }
  if (method === 'POST' && id !== null) throw ScimError.invalidValue('A POST operation\'s "path" is the endpoint, e.g. "/Users", without an id');
  if (method !== 'POST' && id === null) throw ScimError.invalidValue(`A ${method} operation's "path" must name a resource, e.g. "/Users/<id>"`);
  return { kind, id };
}

function readOperation(raw: unknown, index: number): ParsedOperation | RejectedOperation {
  const method = isPlainObject(raw) && typeof raw.method === 'string' ? raw.method.toUpperCase() : '';
  const bulkId = isPlainObject(raw) && typeof raw.bulkId === 'string' ? raw.bulkId : undefined;
  try {
    if (!isPlainObject(raw)) throw ScimError.invalidSyntax('Each bulk operation must be a JSON object');
    if (!METHODS.has(method)) throw ScimError.invalidValue('"method" must be one of POST, PUT, PATCH, DELETE');
    const m = method as BulkMethod;
    if (raw.bulkId !== undefined && (typeof raw.bulkId !== 'string' || !BULK_ID.test(raw.bulkId))) {
      throw ScimError.invalidValue('"bulkId" must be a non-empty string of printable characters without spaces');
    }
    if (m === 'POST' && bulkId === undefined) throw ScimError.invalidValue('A POST operation needs a "bulkId"');
    if (raw.version !== undefined && typeof raw.version !== 'string') throw ScimError.invalidValue('"version" must be a string (an ETag)');
    if (m !== 'DELETE' && raw.data === undefined) throw ScimError.invalidSyntax(`A ${m} operation needs "data"`);
    const { kind, id } = readPath(raw.path, m);
    const refs = new Set<string>();
    if (id !== null) collectRefs(id, refs, 0);
    if (m !== 'DELETE') collectRefs(raw.data, refs, 0);
    if (m === 'PATCH') refusePathReferences(raw.data);
    return { index, method: m, bulkId, kind, id, version: raw.version as string | undefined, data: raw.data, refs };
  } catch (err) {
    if (!isScimError(err)) throw err;
    return { index, method: method || String(isPlainObject(raw) ? (raw.method ?? '') : ''), bulkId, error: err };
  }
}

function isRejected(op: ParsedOperation | RejectedOperation): op is RejectedOperation {
  return 'error' in op;
}

/**
 * Orders operations so that each runs after the POSTs whose bulkIds it uses, keeping request order among
 * independent ones. Returns that order and the operations that cannot be ordered (on or behind a cycle).
 */
function dependencyOrder(ops: readonly ParsedOperation[], definedBy: ReadonlyMap<string, ParsedOperation>): { order: ParsedOperation[]; cyclic: ParsedOperation[] } {
  const waitingOn = new Map<ParsedOperation, number>();
  const dependents = new Map<ParsedOperation, ParsedOperation[]>();
  for (const op of ops) {
    let count = 0;
    for (const ref of op.refs) {
      const producer = definedBy.get(ref);
      if (!producer) continue;
      count++;
      const list = dependents.get(producer) ?? [];
      list.push(op);
      dependents.set(producer, list);
    }
    waitingOn.set(op, count);
  }
  // Ready operations by request index; at most maxOperations entries, so a sorted array is cheap enough.
  const ready = ops.filter((op) => waitingOn.get(op) === 0);
  const order: ParsedOperation[] = [];
  while (ready.length > 0) {
    const op = ready.shift() as ParsedOperation;
    order.push(op);
    for (const next of dependents.get(op) ?? []) {
      const left = (waitingOn.get(next) ?? 0) - 1;
      waitingOn.set(next, left);
      if (left === 0) {
        const at = ready.findIndex((r) => r.index > next.index);
        ready.splice(at < 0 ? ready.length : at, 0, next);
      }
    }
  }
  const placed = new Set(order);
  return { order, cyclic: ops.filter((op) => !placed.has(op)) };
}

function failure(op: { method: string; bulkId: string | undefined }, error: ScimError, location?: string): BulkOperationResult {
  const result: BulkOperationResult = { method: op.method, status: String(error.status), response: error.toJSON() };
  if (location !== undefined) result.location = location;
  if (op.bulkId !== undefined) result.bulkId = op.bulkId;
  return result;
}

// Bulk operations answer with status and location only, so nothing needs the membership relation loaded.
const ID_ONLY_VIEW: ResourceView = { attributes: ['id'] };

/** Runs a BulkRequest. Whole-request problems throw a ScimError (400, 413); per-operation ones are in the response. */
export async function processBulk(ctx: ResourceContext, body: unknown, options: BulkOptions): Promise<BulkResponseBody> {
  const { operations, failOnErrors } = readEnvelope(body, options.limits);
  const results: (BulkOperationResult | undefined)[] = new Array(operations.length);
  let errors = 0;
  const fail = (index: number, result: BulkOperationResult) => {
    results[index] = result;
    errors++;
  };
  const response = (): BulkResponseBody => ({
    schemas: [BULK_RESPONSE_SCHEMA],
    Operations: results.filter((r): r is BulkOperationResult => r !== undefined),
  });

  const parsed: ParsedOperation[] = [];
  const rejected: RejectedOperation[] = [];
  for (let i = 0; i < operations.length; i++) {
    const op = readOperation(operations[i], i);
    if (isRejected(op)) rejected.push(op);
    else parsed.push(op);
  }

  // Each bulkId names one POST; a later POST reusing it is an error (its references would be ambiguous).
  const definedBy = new Map<string, ParsedOperation>();
  const runnable: ParsedOperation[] = [];
  for (const op of parsed) {
    if (op.method === 'POST' && op.bulkId !== undefined) {
      if (definedBy.has(op.bulkId)) {
        rejected.push({ index: op.index, method: op.method, bulkId: op.bulkId, error: ScimError.invalidValue(`bulkId ${JSON.stringify(op.bulkId)} is used by more than one POST operation`) });
        continue;
      }
      definedBy.set(op.bulkId, op);
    }
    runnable.push(op);
  }
  // A POST that could not be read defines nothing; operations referring to its bulkId fail with 409.
  const unusableBulkIds = new Set(rejected.filter((op) => op.method === 'POST' && op.bulkId !== undefined && !definedBy.has(op.bulkId)).map((op) => op.bulkId as string));
  const { order, cyclic } = dependencyOrder(runnable, definedBy);
  // Operations that fail without running (unreadable, or on a cycle) take their turn in request order, so that
  // failOnErrors stops at the same point as it would for a request without forward references.
  const doomed: { index: number; result: BulkOperationResult }[] = [
    ...rejected.map((op) => ({ index: op.index, result: failure(op, op.error) })),
    ...cyclic.map((op) => ({
      index: op.index,
      result: failure(op, new ScimError(409, `Operation ${op.index} is part of, or depends on, a circular bulkId reference that cannot be resolved`)),
    })),
  ].sort((a, b) => a.index - b.index);
  let nextDoomed = 0;
  const failDoomedBefore = (index: number): boolean => {
    for (; nextDoomed < doomed.length && doomed[nextDoomed].index < index; nextDoomed++) {
      fail(doomed[nextDoomed].index, doomed[nextDoomed].result);
      if (errors >= failOnErrors) return true;
    }
    return false;
  };

  const createdIds = new Map<string, string>();
  for (const op of order) {
    if (failDoomedBefore(op.index)) return response();
    let result: BulkOperationResult;
    try {
      result = await runOperation(ctx, op, definedBy, createdIds, unusableBulkIds);
    } catch (err) {
      if (!isScimError(err) || err.status === 500) options.onInternalError?.(err, op.index);
      const error = isScimError(err) && err.status !== 500 ? err : ScimError.internal(`Internal server error${options.requestId ? ` (request id ${options.requestId})` : ''}`);
      const id = op.id !== null ? resolveId(op.id, createdIds) : null;
      result = failure(op, error, id !== null ? resourceLocation(ctx, op.kind, id) : undefined);
    }
    results[op.index] = result;
    if (result.response) {
      errors++;
      if (errors >= failOnErrors) return response();
    }
  }
  failDoomedBefore(Number.POSITIVE_INFINITY);
  return response();
}

function resolveId(id: string, createdIds: ReadonlyMap<string, string>): string {
  return id.startsWith(BULK_REF_PREFIX) ? (createdIds.get(id.slice(BULK_REF_PREFIX.length)) ?? id) : id;
}

async function runOperation(
  ctx: ResourceContext,
  op: ParsedOperation,
  definedBy: ReadonlyMap<string, ParsedOperation>,
  createdIds: Map<string, string>,
  unusableBulkIds: ReadonlySet<string>,
): Promise<BulkOperationResult> {
  for (const ref of op.refs) {
    if (unusableBulkIds.has(ref)) throw new ScimError(409, `bulkId ${JSON.stringify(ref)} could not be resolved: the operation that defines it failed`);
    if (!definedBy.has(ref)) throw ScimError.invalidValue(`bulkId ${JSON.stringify(ref)} is not defined by any POST operation in this request`);
    if (!createdIds.has(ref)) throw new ScimError(409, `bulkId ${JSON.stringify(ref)} could not be resolved: the operation that defines it failed`);
  }
  const id = op.id !== null ? resolveId(op.id, createdIds) : null;
  const data = op.refs.size > 0 ? substituteRefs(op.data, createdIds) : op.data;
  const precondition = parseEtagCondition(op.version);
  const base: BulkOperationResult = { method: op.method, status: '200' };
  if (op.bulkId !== undefined) base.bulkId = op.bulkId;
  switch (op.method) {
    case 'POST': {
      const served = await createResource(ctx, op.kind, data, ID_ONLY_VIEW);
      createdIds.set(op.bulkId as string, served.id);
      return { ...base, location: served.location, version: served.etag, status: '201' };
    }
    case 'PUT': {
      const served = await replaceResource(ctx, op.kind, id as string, data, precondition, ID_ONLY_VIEW);
      return { ...base, location: served.location, version: served.etag };
    }
    case 'PATCH': {
      const served = await patchResource(ctx, op.kind, id as string, data, precondition, ID_ONLY_VIEW);
      return { ...base, location: served.location, version: served.etag };
    }
    case 'DELETE': {
      await deleteResource(ctx, op.kind, id as string, precondition);
      return { ...base, location: resourceLocation(ctx, op.kind, id as string), status: '204' };
    }
  }
}

/** The SCIM error body for a bulk request whose raw body exceeds maxPayloadSize (section 3.7.4). */
export function payloadTooLargeBody(limits: BulkLimits): HttpErrorBody {
  return errorBody(413, `The size of the bulk operation exceeds the maxPayloadSize (${limits.maxPayloadSize})`);
}

/**
 * Registers `POST /Bulk` on an organization-scoped instance (after its auth hook, which counts the whole request
 * as one write against the rate limit).
 */
export function registerBulkRoute(app: FastifyInstance, context: ScimPluginContext): void {
  const limits: BulkLimits = { maxOperations: context.limits.maxBulkOperations, maxPayloadSize: context.limits.maxPayloadBytes };
  app.post('/Bulk', {
    bodyLimit: limits.maxPayloadSize,
    // Only the oversized body gets the bulk-specific message; every other error goes to the instance's handler.
    errorHandler: (error: FastifyError, request, reply) => {
      if (error.code !== 'FST_ERR_CTP_BODY_TOO_LARGE') throw error;
      discardUnreadBody(request, reply, context.limits.maxDiscardedBodyBytes);
      return sendProblem(request, reply, 413, payloadTooLargeBody(limits));
    },
  }, async (request, reply) => {
    if (!request.scim) throw new Error('request reached /Bulk without authentication');
    if (request.body === undefined) throw ScimError.invalidSyntax('The request needs a JSON body: a BulkRequest');
    const result = await processBulk(request.scim.ctx, request.body, {
      limits,
      requestId: request.id,
      onInternalError: (err, index) => request.log.error({ err, operation: index }, 'bulk operation failed with an internal error'),
    });
    return sendScim(reply, 200, result);
  });
  unsupportedMethods(app, '/Bulk', ['POST']);
}
