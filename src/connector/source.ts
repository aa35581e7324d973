/**
 * Reading a SCIM source: tolerant ListResponse parsing, and the capability probe that picks each stream's strategy.
 */
import { extensionColumns, type ExtensionColumn } from './extensions.ts';
import { HttpError, type HttpClient } from './http.ts';
import { ListResponseReader } from './json-stream.ts';
import { MemberSpool } from './member-spool.ts';
import { lastModifiedMs, looseBool, type Json } from './mapping.ts';
import type { StreamName, Strategy } from './destination/types.ts';

export const ENDPOINTS: Readonly<Record<StreamName, string>> = { users: '/Users', groups: '/Groups' };

export interface ListQuery {
  readonly count: number;
  readonly startIndex?: number;
  /** RFC 9865: '' asks for the first page. */
  readonly cursor?: string;
  readonly filter?: string;
  readonly attributes?: string;
  readonly excludedAttributes?: string;
}

export interface ListPage {
  /** The Resources array as sent (entries that are not objects are dropped). */
  readonly resources: Json[];
  /** How many entries the server sent, objects or not: what startIndex advances by. */
  readonly returned: number;
  readonly totalResults: number | null;
  readonly nextCursor: string | null;
  readonly serverDate: number | null;
  /** Where the groups' members went when they were streamed (listPage's `spoolMembers`); close it once written. */
  readonly spool: MemberSpool | null;
}

/** A number sent as a number or a numeric string (the failure that crashed the example connector). */
export function looseInt(v: unknown): number | null {
  if (typeof v === 'number' && Number.isFinite(v)) return Math.trunc(v);
  if (typeof v === 'string' && /^\s*\d+\s*$/.test(v)) return Number(v);
  return null;
}

function obj(v: unknown): Json | null {
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Json) : null;
}

export function parseListResponse(body: unknown, what: string, serverDate: number | null, spool: MemberSpool | null = null): ListPage {
  const o = obj(body);
  if (!o) throw new Error(`${what}: the response is not a SCIM ListResponse (expected a JSON object)`);
  const list = o.Resources ?? o.resources;
  if (list !== undefined && list !== null && !Array.isArray(list)) throw new Error(`${what}: the response's Resources is not an array`);
  const raw = Array.isArray(list) ? list : [];
  const next = typeof o.nextCursor === 'string' && o.nextCursor !== '' ? o.nextCursor : null;
  return {
    resources: raw.map(obj).filter((r): r is Json => r !== null),
    returned: raw.length,
    totalResults: looseInt(o.totalResults),
    nextCursor: next,
    serverDate,
    spool,
  };
}

/**
 * One page of a listing. With `spoolMembers`, the response is read as a stream and each resource's members go to the
 * page's spool instead of staying in the resource: a page of groups then holds one batch of members in memory, not
 * its largest group (SCIM has no paging of a group's members).
 */
export async function listPage(http: HttpClient, stream: StreamName, query: ListQuery, opts: { spoolMembers?: boolean; spoolMemoryBytes?: number } = {}): Promise<ListPage> {
  const endpoint = ENDPOINTS[stream];
  const q: Record<string, string | number | undefined> = {
    filter: query.filter,
    attributes: query.attributes,
    excludedAttributes: query.excludedAttributes,
    startIndex: query.startIndex,
    cursor: query.cursor,
    count: query.count,
  };
  const what = http.describe('GET', endpoint, q);
  if (!opts.spoolMembers) {
    const res = await http.get(endpoint, q);
    return parseListResponse(res.body, what, res.serverDate);
  }
  const res = await http.stream(endpoint, q, async (text) => {
    const spool = new MemberSpool(opts.spoolMemoryBytes);
    try {
      const reader = new ListResponseReader(spool);
      for await (const part of text) reader.write(part);
      return { body: reader.end(), spool };
    } catch (err) {
      spool.close();
      throw err;
    }
  });
  try {
    return parseListResponse(res.body.body, what, res.serverDate, res.body.spool);
  } catch (err) {
    res.body.spool.close();
    throw err;
  }
}

export interface ServiceProviderInfo {
  /** False when the endpoint is missing or unreadable: everything else is then unknown (null). */
  readonly found: boolean;
  readonly filter: boolean | null;
  readonly maxResults: number | null;
  readonly sort: boolean | null;
  readonly patch: boolean | null;
  readonly etag: boolean | null;
  readonly bulk: { readonly supported: boolean | null; readonly maxOperations: number | null; readonly maxPayloadSize: number | null };
  readonly pagination: { readonly cursor: boolean | null; readonly index: boolean | null; readonly maxPageSize: number | null };
}

export function parseServiceProviderConfig(body: unknown): ServiceProviderInfo {
  const o = obj(body) ?? {};
  const sub = (k: string) => obj(o[k]) ?? {};
  const filter = sub('filter');
  const pagination = sub('pagination');
  const bulk = sub('bulk');
  return {
    found: obj(body) !== null,
    filter: looseBool(filter.supported),
    maxResults: looseInt(filter.maxResults),
    sort: looseBool(sub('sort').supported),
    patch: looseBool(sub('patch').supported),
    etag: looseBool(sub('etag').supported),
    bulk: { supported: looseBool(bulk.supported), maxOperations: looseInt(bulk.maxOperations), maxPayloadSize: looseInt(bulk.maxPayloadSize) },
    pagination: { cursor: looseBool(pagination.cursor), index: looseBool(pagination.index), maxPageSize: looseInt(pagination.maxPageSize) },
  };
}

const UNKNOWN_SPC: ServiceProviderInfo = {
  found: false, filter: null, maxResults: null, sort: null, patch: null, etag: null,
  bulk: { supported: null, maxOperations: null, maxPayloadSize: null },
  pagination: { cursor: null, index: null, maxPageSize: null },
};

export interface StreamCapability {
  readonly total: number | null;
  readonly lastModifiedFilter: boolean;
  /** Why the filter can or cannot be used, for the log and `check`. */
  readonly reason: string;
  readonly strategy: Strategy;
}

export interface Capabilities {
  readonly spc: ServiceProviderInfo;
  /** Whether `attributes=` is honoured (used to list only ids when looking for deletes). */
  readonly projection: boolean;
  readonly paging: 'cursor' | 'index';
  readonly pageSize: number;
  readonly streams: Readonly<Record<StreamName, StreamCapability>>;
  /** The server's clock at probe time (epoch ms), when it sent a Date header. */
  readonly serverDate: number | null;
  readonly rateLimit: number | null;
  /** User extension attributes the source declares in /ResourceTypes and /Schemas (none when it cannot say). */
  readonly extensions: readonly ExtensionColumn[];
}

/** A discovery document, or null when the server has none or refuses it (authentication failures still throw). */
async function discovery(http: HttpClient, path: string): Promise<unknown> {
  try {
    return (await http.get(path)).body;
  } catch (err) {
    if (unsupported(err) || (err instanceof HttpError && err.status !== null && err.status >= 200 && err.status < 300)) return null;
    throw err;
  }
}

/** Statuses that mean "this query is not supported here", as opposed to auth or server failures. */
function unsupported(err: unknown): err is HttpError {
  return err instanceof HttpError && err.status !== null && [400, 404, 405, 422, 501].includes(err.status);
}

function filterDate(ms: number): string {
  return `${new Date(ms).toISOString().slice(0, 19)}Z`;
}

export function lastModifiedFilter(sinceIso: string): string {
  return `meta.lastModified gt "${sinceIso}"`;
}

export interface ProbeOptions {
  readonly maxRecordsPerPage: number;
  /** When false, no filter test is made and every stream scans in full. */
  readonly incremental: boolean;
}

/** A 404 to a resource type's listing, with and without `attributes=`: there is no such listing at the base URL. */
class NoListing extends Error {
  constructor(readonly response: HttpError) {
    super(response.message);
  }
}

/**
 * A stream probe's failure as the run reports it. A missing listing says what it means: with no /Users either, the
 * configured URL is not the SCIM base URL (the commonest mistake in a config); with users listed there, the source
 * has no Groups at all (an API that provisions users only).
 */
function probeFailure(err: unknown, usersListed: boolean): unknown {
  if (!(err instanceof NoListing)) return err;
  const { message, scimType } = err.response;
  const why = usersListed
    ? 'the source lists /Users at this base_url but has no /Groups: the connector reads users, groups and memberships together, and cannot sync a source without groups'
    : 'is base_url right? It must be the SCIM base URL, the one /Users and /Groups are under';
  return new HttpError(`${message}; ${why}`, 404, scimType, false);
}

/** What one stream's probe found: whether `attributes=` was honoured, and whether lastModified filtering works. */
async function probeStream(http: HttpClient, stream: StreamName, spc: ServiceProviderInfo, opts: ProbeOptions, knownDate: number | null): Promise<{
  capability: StreamCapability;
  projection: boolean;
  serverDate: number | null;
}> {
  let projection = true;
  let first: ListPage;
  try {
    first = await listPage(http, stream, { count: 1, attributes: 'id' });
  } catch (err) {
    if (!unsupported(err)) throw err;
    projection = false;
    first = await listPage(http, stream, { count: 1 }).catch((e: unknown) => {
      if (!(e instanceof HttpError && e.status === 404)) throw e;
      throw new NoListing(e);
    });
  }
  const serverDate = knownDate ?? first.serverDate;
  const total = first.totalResults ?? (first.resources.length === 0 ? 0 : null);
  const attrs = projection ? 'id,meta' : undefined;
  let ok = false;
  let reason: string;
  if (!opts.incremental) reason = 'enable_incremental_sync is false';
  else if (spc.filter === false) reason = 'ServiceProviderConfig says filtering is not supported';
  else {
    try {
      const past = await listPage(http, stream, { count: 1, attributes: attrs, filter: lastModifiedFilter('1970-01-01T00:00:00Z') });
      const future = await listPage(http, stream, { count: 1, attributes: attrs, filter: lastModifiedFilter(filterDate((serverDate ?? Date.now()) + 3650 * 86_400_000)) });
      if ((total ?? 0) > 0 && past.resources.length === 0) reason = 'a meta.lastModified filter matched nothing although resources exist';
      else if (past.resources.length > 0 && lastModifiedMs(past.resources[0]) === null) reason = 'resources carry no meta.lastModified';
      else if (future.resources.length > 0) reason = 'the server ignores the meta.lastModified filter';
      else {
        ok = true;
        reason = 'the server filters by meta.lastModified';
      }
    } catch (err) {
      if (!unsupported(err)) throw err;
      reason = `the meta.lastModified filter was refused (${err.message.replace(/^.*? failed: /, '')})`;
    }
  }
  return { capability: { total, lastModifiedFilter: ok, reason, strategy: ok ? 'incremental' : 'full' }, projection, serverDate: first.serverDate };
}

export async function probe(http: HttpClient, opts: ProbeOptions): Promise<Capabilities> {
  let spc = UNKNOWN_SPC;
  let serverDate: number | null = null;
  try {
    const res = await http.get('/ServiceProviderConfig');
    spc = parseServiceProviderConfig(res.body);
    serverDate = res.serverDate;
  } catch (err) {
    // A missing or broken ServiceProviderConfig is common; authentication failures are not tolerated.
    if (!(unsupported(err) || (err instanceof HttpError && err.status !== null && err.status >= 200 && err.status < 300))) throw err;
  }
  const pageSize = Math.max(1, Math.min(opts.maxRecordsPerPage, spc.pagination.maxPageSize ?? Infinity, spc.maxResults ?? Infinity));
  const paging = spc.pagination.cursor === true ? 'cursor' : 'index';

  // The two streams are probed side by side, and the extension documents read meanwhile: a probe is a handful of
  // small requests, each a round trip the run would otherwise wait for in turn.
  const [probedUsers, probedGroups, discovered] = await Promise.allSettled([
    probeStream(http, 'users', spc, opts, serverDate),
    probeStream(http, 'groups', spc, opts, serverDate),
    // Declared extension attributes become typed users columns; a server without discovery documents has none.
    discovery(http, '/ResourceTypes').then(async (resourceTypes) => (resourceTypes === null ? [] : extensionColumns(resourceTypes, await discovery(http, '/Schemas')))),
  ]);
  // Users first: how the groups listing failed means something else once users were listed.
  if (probedUsers.status === 'rejected') throw probeFailure(probedUsers.reason, false);
  if (probedGroups.status === 'rejected') throw probeFailure(probedGroups.reason, true);
  if (discovered.status === 'rejected') throw discovered.reason;
  const [users, groups, extensions] = [probedUsers.value, probedGroups.value, discovered.value];
  const streams: Record<StreamName, StreamCapability> = { users: users.capability, groups: groups.capability };
  const projection = users.projection && groups.projection;
  serverDate ??= users.serverDate ?? groups.serverDate;
  return { spc, projection, paging, pageSize, streams, serverDate, rateLimit: http.pacer.announcedLimit, extensions };
}
