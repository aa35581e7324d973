/** SCIM response helpers shared by the routes, the hooks and the error handler. */
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ERROR_SCHEMA, ScimError, isScimError } from '../scim/errors.ts';
import { isForbiddenKey } from '../scim/schema/registry.ts';

export const SCIM_CONTENT_TYPE = 'application/scim+json; charset=utf-8';

/** A SCIM error body for any HTTP status, including the few (405, 415) that ScimError does not model. */
export interface HttpErrorBody {
  schemas: [typeof ERROR_SCHEMA];
  status: string;
  scimType?: string;
  detail: string;
}

/** What went wrong, for the request's log line: an error answer's scimType (or the management API's code) and detail. */
export interface RequestProblem {
  readonly scimType?: string;
  /** The management API's error code (`/api/v1`). */
  readonly code?: string;
  readonly detail: string;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** Set when the answer is an error; the access log line carries it. */
    problem: RequestProblem | null;
  }
}

/** Sends a SCIM error body and keeps its scimType and detail for the request's log line. */
export function sendProblem(request: FastifyRequest, reply: FastifyReply, status: number, body: HttpErrorBody): FastifyReply {
  request.problem = body.scimType === undefined ? { detail: body.detail } : { scimType: body.scimType, detail: body.detail };
  return sendScim(reply, status, body);
}

export function errorBody(status: number, detail: string, scimType?: string): HttpErrorBody {
  const body: HttpErrorBody = { schemas: [ERROR_SCHEMA], status: String(status), detail };
  if (scimType) body.scimType = scimType;
  return body;
}

export function sendScim(reply: FastifyReply, status: number, body: unknown): FastifyReply {
  return reply.code(status).type(SCIM_CONTENT_TYPE).send(body);
}

export function sendError(reply: FastifyReply, error: ScimError): FastifyReply {
  return sendScim(reply, error.status, error.toJSON());
}

/** Fastify's own errors carry a statusCode and a code such as FST_ERR_CTP_BODY_TOO_LARGE. */
interface FrameworkError {
  statusCode?: number;
  code?: string;
  message: string;
}

function isFrameworkError(value: unknown): value is FrameworkError {
  return value instanceof Error && typeof (value as FrameworkError).statusCode === 'number';
}

/** The code of the error a body parser raises for a compressed body, which it cannot read. */
export const CONTENT_ENCODING_ERROR = 'SCIMKIT_CONTENT_ENCODING';

/**
 * 415 for a body with a Content-Encoding other than identity (RFC 9110 section 15.5.16): the parser would read gzip
 * bytes as text and answer that the JSON is invalid, which sends the client looking in the wrong place.
 */
export function checkContentEncoding(header: string | undefined): Error | null {
  if (header === undefined || header.trim() === '' || header.trim().toLowerCase() === 'identity') return null;
  return Object.assign(new Error('compressed request body'), { statusCode: 415, code: CONTENT_ENCODING_ERROR });
}

export interface ErrorResponse {
  readonly status: number;
  readonly body: HttpErrorBody;
  /** A fault of the server: the body is generic, the cause belongs in the log. */
  readonly internal: boolean;
  /** Seconds for the Retry-After header (a 503 while a dependency is down, a 429 the error itself timed). */
  readonly retryAfter?: number;
}

/**
 * Maps any thrown value to a status and SCIM body. Client errors keep their message, and so does a 503 (a
 * dependency is down: the client should retry); anything else becomes a generic 500 naming the request id, so the
 * cause stays in the log.
 */
export function toErrorResponse(error: unknown, requestId: string): ErrorResponse {
  if (isScimError(error)) {
    if (error.status >= 500 && error.status !== 501 && error.status !== 503) return internalError(requestId);
    return { status: error.status, body: error.toJSON(), internal: false, retryAfter: error.retryAfter };
  }
  if (isFrameworkError(error)) {
    const status = error.statusCode ?? 500;
    if (error.code === 'FST_ERR_CTP_BODY_TOO_LARGE' || status === 413) {
      return { status: 413, body: errorBody(413, 'Request body is larger than the maximum payload size'), internal: false };
    }
    if (error.code === CONTENT_ENCODING_ERROR) {
      return { status: 415, body: errorBody(415, 'A compressed request body (Content-Encoding) is not supported: send it uncompressed'), internal: false };
    }
    if (error.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE' || status === 415) {
      return {
        status: 415,
        body: errorBody(415, 'Unsupported media type: send application/scim+json or application/json'),
        internal: false,
      };
    }
    if (status >= 400 && status < 500) {
      return { status, body: errorBody(status, error.message, status === 400 ? 'invalidSyntax' : undefined), internal: false };
    }
  }
  return internalError(requestId);
}

function internalError(requestId: string): ErrorResponse {
  return { status: 500, body: errorBody(500, `Internal server error (request id ${requestId})`), internal: true };
}

/**
 * After an answer sent before the request body was read (413, 401, 429, 404, ...), reads and discards the rest of
 * the body, up to `maxBytes`, and keeps the connection. A client is usually still sending then, and closing the
 * connection under it resets it: the client sees ECONNRESET or EPIPE instead of the answer. Past `maxBytes` the
 * connection is closed after all, as it is when the request timeout ends the upload.
 */
export function discardUnreadBody(request: FastifyRequest, reply: FastifyReply, maxBytes: number): void {
  const raw = request.raw;
  if (raw.complete || raw.destroyed) return;
  // fastify asks for a close after a body parser error; that close is what resets a client that is still sending.
  if (reply.getHeader('connection') === 'close') reply.removeHeader('connection');
  let discarded = 0;
  raw.on('data', (chunk: Buffer) => {
    discarded += chunk.length;
    if (discarded > maxBytes) raw.socket.destroy();
  });
}

/** Parses a JSON request body; malformed JSON and prototype-reaching keys are client errors. */
export function parseJsonBody(text: string): unknown {
  if (text.trim() === '') return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    // Only the position: V8's message quotes the text around the error (`..."password":hunter2"...`), which can be a secret.
    const position = /at position (\d+)/.exec((e as Error).message)?.[1];
    throw ScimError.invalidSyntax(`Request body is not valid JSON${position === undefined ? '' : ` (at position ${position})`}`);
  }
  assertNoForbiddenKeys(value, 0);
  return value;
}

const MAX_JSON_DEPTH = 64;

function assertNoForbiddenKeys(value: unknown, depth: number): void {
  if (typeof value !== 'object' || value === null) return;
  if (depth > MAX_JSON_DEPTH) throw ScimError.invalidSyntax(`Request body is nested deeper than ${MAX_JSON_DEPTH} levels`);
  if (Array.isArray(value)) {
    for (const item of value) assertNoForbiddenKeys(item, depth + 1);
    return;
  }
  for (const key of Object.keys(value)) {
    if (isForbiddenKey(key)) throw ScimError.invalidSyntax(`Request body uses the reserved key "${key}"`);
    assertNoForbiddenKeys((value as Record<string, unknown>)[key], depth + 1);
  }
}

/**
 * Answers what Node's HTTP parser rejects before fastify sees a request (oversized headers or URL, malformed
 * request lines, bad Host headers) with a SCIM error body instead of fastify's generic JSON.
 */
export function scimClientErrorHandler(error: Error & { code?: string; rawPacket?: unknown }, socket: Duplex): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  const status = error.code === 'HPE_HEADER_OVERFLOW' ? 431 : error.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
  const detail =
    status === 431 ? 'The request headers or URL are larger than the server accepts' : status === 408 ? 'The request did not arrive in time' : 'The request is not valid HTTP';
  const body = JSON.stringify(errorBody(status, detail, status === 400 ? 'invalidSyntax' : undefined));
  // A response to HEAD carries no content (RFC 9110 section 9.3.2); bytes after its header would be read as garbage.
  const head = Buffer.isBuffer(error.rawPacket) && error.rawPacket.subarray(0, 5).toString('latin1') === 'HEAD ';
  if (socket.writable) {
    socket.write(
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nConnection: close\r\nContent-Type: ${SCIM_CONTENT_TYPE}\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${head ? '' : body}`,
    );
  }
  socket.destroy();
}

