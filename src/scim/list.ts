/**
 * List and search parameters (RFC 7644 sections 3.4.2 and 3.4.3, cursor paging from RFC 9865) and the
 * ListResponse message.
 */
import { ScimError } from './errors.ts';
import type { Filter } from './filter/ast.ts';
import { parseAttrPath, parseFilter } from './filter/index.ts';
import type { FilterParseOptions } from './filter/index.ts';
import { parseAttributeList } from './projection.ts';
import { LIST_RESPONSE_SCHEMA, SEARCH_REQUEST_SCHEMA } from './schema/core.ts';
import { isPlainObject } from './json.ts';

export interface ListQuery {
  readonly filter?: Filter;
  /** The filter as the client wrote it, for logs and cursors. */
  readonly filterText?: string;
  /** 1-based. */
  readonly startIndex: number;
  readonly count: number;
  readonly sortBy?: string;
  readonly sortOrder: 'ascending' | 'descending';
  /** RFC 9865: '' asks for the first page of cursor paging. */
  readonly cursor?: string;
  readonly attributes: string[];
  readonly excludedAttributes: string[];
}

export interface ListLimits {
  readonly defaultCount: number;
  readonly maxCount: number;
}

export interface ListPage {
  readonly totalResults: number;
  readonly startIndex?: number;
  readonly itemsPerPage?: number;
  readonly nextCursor?: string;
  readonly previousCursor?: string;
}

const PARAMETERS = ['filter', 'startIndex', 'count', 'sortBy', 'sortOrder', 'cursor', 'attributes', 'excludedAttributes'] as const;
type Parameter = (typeof PARAMETERS)[number];

/** Picks the known parameters, matching names case-insensitively; anything else is ignored. */
function pickParameters(query: Record<string, unknown>): Map<Parameter, unknown> {
  const picked = new Map<Parameter, unknown>();
  for (const name of Object.keys(query)) {
    const lower = name.toLowerCase();
    const param = PARAMETERS.find((p) => p.toLowerCase() === lower);
    if (!param) continue;
    if (picked.has(param)) throw ScimError.invalidValue(`Parameter "${param}" is given more than once`);
    const value = query[name];
    if (value !== undefined && value !== null) picked.set(param, value);
  }
  return picked;
}

function singleString(param: Parameter, value: unknown): string {
  if (Array.isArray(value)) throw ScimError.invalidValue(`Parameter "${param}" is given more than once`);
  if (typeof value !== 'string') throw ScimError.invalidValue(`Parameter "${param}" must be a string`);
  return value;
}

/** An integer from a query string or a JSON number; clamped into the safe integer range. */
function integerParam(param: Parameter, value: unknown): number {
  if (Array.isArray(value)) throw ScimError.invalidValue(`Parameter "${param}" is given more than once`);
  let n: number;
  if (typeof value === 'number') {
    n = value;
  } else if (typeof value === 'string' && /^\s*[+-]?\d+\s*$/.test(value)) {
    n = Number(value);
  } else {
    throw ScimError.invalidValue(`Parameter "${param}" must be an integer, got ${JSON.stringify(value)}`);
  }
  if (!Number.isInteger(n)) throw ScimError.invalidValue(`Parameter "${param}" must be an integer, got ${value}`);
  return Math.max(Number.MIN_SAFE_INTEGER, Math.min(Number.MAX_SAFE_INTEGER, n));
}

function attributeListParam(param: Parameter, value: unknown): string[] {
  if (typeof value !== 'string' && !(Array.isArray(value) && value.every((v) => typeof v === 'string'))) {
    throw ScimError.invalidValue(`Parameter "${param}" must be a comma-separated string or an array of strings`);
  }
  return parseAttributeList(value);
}

/**
 * Parses list parameters from a query string (values are strings; a repeated parameter arrives as an array)
 * or from a SearchRequest body (numbers, and arrays for the attribute lists).
 */
export function parseListQuery(query: Record<string, unknown>, limits: ListLimits, filterOptions?: FilterParseOptions): ListQuery {
  const params = pickParameters(query);

  let filter: Filter | undefined;
  let filterText: string | undefined;
  if (params.has('filter')) {
    const text = singleString('filter', params.get('filter'));
    // An empty `filter=` is what some clients send for "no filter".
    if (text.trim() !== '') {
      filter = parseFilter(text, filterOptions);
      filterText = text;
    }
  }

  // RFC 7644 section 3.4.2.4: a startIndex below 1 is interpreted as 1; a negative count as 0.
  const startIndexGiven = params.has('startIndex');
  const startIndex = startIndexGiven ? Math.max(1, integerParam('startIndex', params.get('startIndex'))) : 1;
  const count = params.has('count')
    ? Math.min(limits.maxCount, Math.max(0, integerParam('count', params.get('count'))))
    : Math.min(limits.maxCount, limits.defaultCount);

  let sortBy: string | undefined;
  if (params.has('sortBy')) {
    const text = singleString('sortBy', params.get('sortBy')).trim();
    if (text !== '') {
      try {
        parseAttrPath(text);
      } catch (err) {
        if (err instanceof ScimError) throw ScimError.invalidValue(`Invalid sortBy "${text}": ${err.message}`);
        throw err;
      }
      sortBy = text;
    }
  }

  let sortOrder: ListQuery['sortOrder'] = 'ascending';
  if (params.has('sortOrder')) {
    const text = singleString('sortOrder', params.get('sortOrder')).trim().toLowerCase();
    if (text !== 'ascending' && text !== 'descending') {
      throw ScimError.invalidValue(`Parameter "sortOrder" must be "ascending" or "descending"`);
    }
    sortOrder = text;
  }

  let cursor: string | undefined;
  if (params.has('cursor')) {
    if (startIndexGiven) throw ScimError.invalidValue('Parameters "startIndex" and "cursor" cannot be used together');
    cursor = singleString('cursor', params.get('cursor'));
  }

  const attributes = params.has('attributes') ? attributeListParam('attributes', params.get('attributes')) : [];
  const excludedAttributes = params.has('excludedAttributes') ? attributeListParam('excludedAttributes', params.get('excludedAttributes')) : [];

  const result: { -readonly [K in keyof ListQuery]: ListQuery[K] } = { startIndex, count, sortOrder, attributes, excludedAttributes };
  if (filter) {
    result.filter = filter;
    result.filterText = filterText;
  }
  if (sortBy !== undefined) result.sortBy = sortBy;
  if (cursor !== undefined) result.cursor = cursor;
  return result;
}

/** Parses the body of `POST .search` (RFC 7644 section 3.4.3). */
export function parseSearchRequest(body: unknown, limits: ListLimits, filterOptions?: FilterParseOptions): ListQuery {
  if (!isPlainObject(body)) throw ScimError.invalidSyntax('A SearchRequest must be a JSON object');
  const schemaKeys = Object.keys(body).filter((name) => name.toLowerCase() === 'schemas');
  if (schemaKeys.length > 1) throw ScimError.invalidValue('Attribute "schemas" is given more than once');
  // The RFC requires the SearchRequest URN; a body without `schemas` is accepted, a wrong one is not.
  if (schemaKeys.length === 1) {
    const schemas = body[schemaKeys[0]];
    const ok = Array.isArray(schemas) && schemas.some((s) => typeof s === 'string' && s.toLowerCase() === SEARCH_REQUEST_SCHEMA.toLowerCase());
    if (!ok) throw ScimError.invalidValue(`A SearchRequest must declare schemas ["${SEARCH_REQUEST_SCHEMA}"]`);
  }
  // parseListQuery reads only the parameters it knows, so `schemas` and unknown members are ignored there.
  return parseListQuery(body, limits, filterOptions);
}

/** Builds a ListResponse message (RFC 7644 section 3.4.2). */
export function listResponse(resources: unknown[], page: ListPage): Record<string, unknown> {
  const response: Record<string, unknown> = {
    schemas: [LIST_RESPONSE_SCHEMA],
    totalResults: page.totalResults,
  };
  if (page.startIndex !== undefined) response.startIndex = page.startIndex;
  response.itemsPerPage = page.itemsPerPage ?? resources.length;
  response.Resources = resources;
  if (page.nextCursor !== undefined) response.nextCursor = page.nextCursor;
  if (page.previousCursor !== undefined) response.previousCursor = page.previousCursor;
  return response;
}

/**
 * The same ListResponse as UTF-8 JSON, from resources serialized already: JSON text, or UTF-8 bytes copied as they
 * are. One buffer of the exact size, so a page of uncached resources is encoded once and a cached one never.
 */
export function listResponseBytes(resources: readonly (string | Uint8Array)[], page: ListPage): Buffer {
  const envelope = JSON.stringify(listResponse([], { ...page, itemsPerPage: page.itemsPerPage ?? resources.length }));
  // Only the constant schemas and numbers come before Resources in the envelope, so the first match is the attribute.
  const empty = '"Resources":[]';
  const at = envelope.indexOf(empty) + empty.length - 1;
  const head = envelope.slice(0, at);
  const tail = envelope.slice(at);
  let length = Buffer.byteLength(head) + Buffer.byteLength(tail) + Math.max(0, resources.length - 1);
  for (const r of resources) length += typeof r === 'string' ? Buffer.byteLength(r) : r.length;
  const out = Buffer.allocUnsafe(length);
  let offset = out.write(head, 0);
  for (let i = 0; i < resources.length; i++) {
    if (i > 0) offset = out.writeUInt8(0x2c, offset); // ','
    const r = resources[i];
    if (typeof r === 'string') offset += out.write(r, offset);
    else {
      out.set(r, offset);
      offset += r.length;
    }
  }
  offset += out.write(tail, offset);
  if (offset !== length) throw new Error(`ListResponse assembled ${offset} of ${length} bytes`);
  return out;
}
