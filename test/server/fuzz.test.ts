/**
 * Random and mutated requests against a real server over loopback. Whatever arrives, the server answers in time,
 * never with a 5xx, always with a SCIM error body for 4xx, and nothing reaches Object.prototype.
 * The seed is printed; rerun one with SCIMKIT_FUZZ_SEED=<seed>.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { backends, startHarness, USER_SCHEMA, GROUP_SCHEMA, PATCH_SCHEMA, SEARCH_SCHEMA, ERROR_SCHEMA } from './helpers.ts';
import type { Backend, Harness } from './helpers.ts';
import { prng } from '../prng.ts';

const ENTERPRISE = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';
const RANDOM_REQUESTS = Number(process.env.SCIMKIT_FUZZ_REQUESTS ?? 3000);
const TIMEOUT_MS = 10_000;
const CONCURRENCY = 8;

/** Helpers over a seeded PRNG, so that a failing case replays. */
function randomness(seed: number) {
  const next = prng(seed);
  const int = (n: number) => Math.floor(next() * n);
  const pick = <T>(items: readonly T[]): T => items[int(items.length)];
  const chance = (p: number) => next() < p;
  return { next, int, pick, chance };
}
type Rng = ReturnType<typeof randomness>;

interface FuzzRequest {
  readonly method: string;
  /** Path and query, relative to the organization's base unless it starts with `//` (then from the origin). */
  readonly path: string;
  readonly headers: Record<string, string>;
  readonly body?: string | Buffer;
}

interface FuzzResponse {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly text: string;
}

let h: Harness;
let ids: { users: string[]; groups: string[] };
const prototypeBefore = Object.getOwnPropertyNames(Object.prototype).sort();

async function setUp(backend: Backend): Promise<void> {
  // Limits raised so the fuzzer reaches the handlers instead of the rate limiter.
  h = await startHarness({ backend, settings: { readLimit: 1_000_000, writeLimit: 1_000_000 }, limits: { authFailuresPerSecond: 1_000_000 } });
  ids = { users: [], groups: [] };
  for (let i = 0; i < 5; i++) {
    const u = await send({ method: 'POST', path: '/Users', headers: json(), body: JSON.stringify({ schemas: [USER_SCHEMA], userName: `seed${i}`, emails: [{ type: 'work', value: `seed${i}@x.test` }], name: { givenName: 'S', familyName: `${i}` } }) });
    ids.users.push(JSON.parse(u.text).id);
  }
  for (let i = 0; i < 2; i++) {
    const g = await send({ method: 'POST', path: '/Groups', headers: json(), body: JSON.stringify({ schemas: [GROUP_SCHEMA], displayName: `seedg${i}`, members: ids.users.slice(0, 3).map((value) => ({ value })) }) });
    ids.groups.push(JSON.parse(g.text).id);
  }
}

function json(): Record<string, string> {
  return { 'content-type': 'application/scim+json', authorization: `Bearer ${h.token}` };
}

/** node:http rather than fetch, so raw bytes, odd methods and odd headers go out exactly as generated. */
function send(req: FuzzRequest): Promise<FuzzResponse> {
  const url = new URL(h.base);
  const path = req.path.startsWith('//') ? req.path.slice(1) : url.pathname + req.path;
  // Node's client frames a GET/HEAD/DELETE body only when told its length; unframed bytes would be a second request.
  const headers = req.body === undefined || 'content-length' in req.headers ? req.headers : { ...req.headers, 'content-length': String(Buffer.byteLength(req.body)) };
  return new Promise((resolve, reject) => {
    const r = httpRequest(
      // A fresh connection per request: one request's closed connection must not be blamed on the next.
      { host: url.hostname, port: url.port, method: req.method, path, headers, timeout: TIMEOUT_MS, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    r.on('timeout', () => r.destroy(new Error(`no answer within ${TIMEOUT_MS} ms`)));
    r.on('error', reject);
    r.end(req.body);
  });
}

function describeRequest(req: FuzzRequest): string {
  const body = req.body === undefined ? '' : ` body=${JSON.stringify(String(req.body).slice(0, 300))}`;
  return `${req.method} ${req.path.slice(0, 300)} headers=${JSON.stringify(req.headers).slice(0, 300)}${body}`;
}

/** The invariant every answer must satisfy. */
function check(req: FuzzRequest, res: FuzzResponse): string | null {
  // 501 is the SCIM answer for methods and features the server does not offer; any other 5xx is a bug.
  if (res.status >= 500 && res.status !== 501) return `status ${res.status}: ${res.text.slice(0, 300)}`;
  if (res.status >= 400 && req.method !== 'HEAD') {
    let body: any;
    try {
      body = JSON.parse(res.text);
    } catch {
      return `status ${res.status} without a JSON body: ${res.text.slice(0, 200)}`;
    }
    if (!Array.isArray(body?.schemas) || body.schemas[0] !== ERROR_SCHEMA) return `status ${res.status} without a SCIM error body: ${res.text.slice(0, 200)}`;
    if (body.status !== String(res.status)) return `error body status ${body.status} differs from ${res.status}`;
    if (typeof body.detail !== 'string') return 'error body without a detail';
    if (!/^application\/scim\+json/.test(String(res.headers['content-type']))) return `error content type ${res.headers['content-type']}`;
  }
  return null;
}

// ---- generators

const USER_PATHS = [
  'userName', 'name', 'name.givenName', 'name.familyName', 'name.formatted', 'displayName', 'nickName', 'title', 'active',
  'emails', 'emails.value', 'emails.type', 'emails[type eq "work"]', 'emails[type eq "work"].value', 'emails[primary eq true].value',
  'emails[value co "@"]', 'phoneNumbers', 'phoneNumbers[type eq "mobile"].value', 'addresses', 'addresses[type eq "work"].locality',
  'roles', 'entitlements', 'x509Certificates.value', 'groups', 'id', 'externalId', 'meta', 'meta.created', 'meta.lastModified',
  'password', 'schemas', 'locale', 'timezone', 'userType', 'preferredLanguage', 'profileUrl',
  `${ENTERPRISE}:department`, `${ENTERPRISE}:manager`, `${ENTERPRISE}:manager.value`, `${ENTERPRISE}:employeeNumber`,
  `${USER_SCHEMA}:userName`, `${USER_SCHEMA}:name.givenName`, 'urn:unknown:schema:attr',
  'members', 'members.value', 'members[value eq "x"]', 'members[type eq "User"].display',
  '', ' ', '.', 'emails[', 'emails[type eq]', 'emails[type eq "work"', 'emails]', 'a.b.c.d', 'name..givenName', 'emails[type eq "a"][type eq "b"]',
  '__proto__', '__proto__.polluted', 'constructor', 'constructor.prototype', 'prototype', 'name.__proto__', 'emails[__proto__ eq 1]',
  'émails', 'user\u0000Name', 'userName\n', 'x'.repeat(600),
];
const GROUP_PATHS = ['displayName', 'members', 'members.value', 'members.display', 'members[value eq "ID"]', 'members[type eq "Group"]', 'externalId', 'id', 'meta.version'];
const OPS = ['eq', 'ne', 'co', 'sw', 'ew', 'gt', 'ge', 'lt', 'le', 'pr', 'EQ', 'Eq', 'eqq', 'like', '=', 'and', 'or', 'not'];

/** `n` random characters from several scripts (1 to 4 bytes of UTF-8 each): text that no index can compress. */
function randomText(rng: Rng, n: number): string {
  const ranges: [number, number][] = [[0x21, 0x7e], [0x3b1, 0x3c9], [0x4e00, 0x9fff], [0x1f300, 0x1f5ff]];
  let out = '';
  for (let i = 0; i < n; i++) {
    const [lo, hi] = rng.pick(ranges);
    out += String.fromCodePoint(lo + rng.int(hi - lo));
  }
  return out;
}

function randomString(rng: Rng): string {
  switch (rng.int(14)) {
    // Long strings around the length limits (512 characters for indexed attributes, 32,768 for any string).
    case 12: return randomText(rng, rng.pick([511, 512, 513, 700, 2800]));
    case 13: return rng.pick(['\u{1F600}'.repeat(rng.pick([512, 513, 1400])), 'y'.repeat(rng.pick([32_768, 32_769, 200_000]))]);
    case 0: return '';
    case 1: return ' ';
    case 2: return 'x'.repeat(rng.pick([1, 255, 256, 4096, 70_000]));
    case 3: return '\u0000\u0001\u001f';
    case 4: return '\ud800';
    case 5: return '😀'.repeat(rng.int(20));
    case 6: return 'a"b\\c';
    case 7: return rng.pick(ids.users);
    case 8: return '2026-11-23T00:00:00Z';
    case 9: return rng.pick(['true', 'False', 'null', '1e400', '-0', 'NaN']);
    case 10: return `user${rng.int(1000)}@example.com`;
    default: return Math.random().toString(36).slice(2);
  }
}

function randomNumber(rng: Rng): number | string {
  // Strings here are emitted verbatim into JSON, for numbers JSON.stringify cannot produce.
  return rng.pick<number | string>([0, -1, 1, 2147483647, 2147483648, -2147483649, 9007199254740993, 1e308, 0.5, -0, 'RAW:1e400', 'RAW:-1e999', 'RAW:123456789012345678901234567890']);
}

function randomJson(rng: Rng, depth: number): unknown {
  const kind = depth > 3 ? rng.int(5) : rng.int(8);
  switch (kind) {
    case 0: return null;
    case 1: return rng.chance(0.5);
    case 2: return randomNumber(rng);
    case 3:
    case 4: return randomString(rng);
    case 5: return Array.from({ length: rng.int(4) }, () => randomJson(rng, depth + 1));
    default: {
      const obj: Record<string, unknown> = {};
      for (let i = rng.int(4); i > 0; i--) defineKey(obj, rng.pick([...USER_PATHS, 'value', 'type', 'primary', 'display', '$ref', 'op', 'path']), randomJson(rng, depth + 1));
      return obj;
    }
  }
}

/** Sets a key as an own property even when it is `__proto__`, as JSON.parse would on the server. */
function defineKey(obj: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
}

/** JSON text with RAW: numbers spliced in, since JSON.stringify cannot write 1e400. */
function toJsonText(value: unknown): string {
  return JSON.stringify(value).replace(/"RAW:([^"]*)"/g, '$1');
}

function randomFilterTerm(rng: Rng, depth: number): string {
  const r = rng.int(10);
  if (depth < 4 && r < 2) return `${randomFilterTerm(rng, depth + 1)} ${rng.pick(['and', 'or', 'AND', 'Or', 'xor'])} ${randomFilterTerm(rng, depth + 1)}`;
  if (depth < 4 && r === 2) return `not (${randomFilterTerm(rng, depth + 1)})`;
  if (depth < 4 && r === 3) return `(${randomFilterTerm(rng, depth + 1)})`;
  if (depth < 4 && r === 4) return `${rng.pick(['emails', 'members', 'addresses', 'name', 'userName'])}[${randomFilterTerm(rng, depth + 1)}]`;
  const path = rng.pick([...USER_PATHS, ...GROUP_PATHS]);
  const op = rng.pick(OPS);
  if (op === 'pr') return `${path} pr`;
  const value = rng.pick([
    JSON.stringify(randomString(rng)),
    String(randomNumber(rng)).replace('RAW:', ''),
    'true', 'false', 'null', '"2026-11-23T10:00:00Z"', '"unterminated', "'single'", '"\\u00"', '"\\ud800"',
  ]);
  return `${path} ${op} ${value}`;
}

function mutateText(rng: Rng, text: string): string {
  let out = text;
  for (let i = rng.int(3); i > 0; i--) {
    const at = rng.int(out.length + 1);
    switch (rng.int(4)) {
      case 0: out = out.slice(0, at) + rng.pick(['(', ')', '[', ']', '"', '\\', ' ', '.', ':', '\u0000', 'é', '%', '\ud83d']) + out.slice(at); break;
      case 1: out = out.slice(0, at) + out.slice(at + 1 + rng.int(5)); break;
      case 2: out = out.slice(0, at) + out.slice(at, at + 10).repeat(rng.int(4)) + out.slice(at + 10); break;
      default: out = out.slice(0, at);
    }
  }
  return out;
}

function randomFilter(rng: Rng): string {
  const f = randomFilterTerm(rng, 0);
  return rng.chance(0.4) ? mutateText(rng, f) : f;
}

function validUser(rng: Rng): Record<string, unknown> {
  return {
    schemas: rng.chance(0.8) ? [USER_SCHEMA, ENTERPRISE] : rng.pick([[], [GROUP_SCHEMA], 'x', [USER_SCHEMA, 'urn:nope']]),
    userName: `fz${rng.int(1e9)}`,
    name: { givenName: 'F', familyName: 'Z' },
    emails: [{ value: 'f@z.test', type: 'work', primary: true }],
    active: true,
    [ENTERPRISE]: { department: 'D', manager: { value: rng.pick(ids.users) } },
  };
}

function validGroup(rng: Rng): Record<string, unknown> {
  return { schemas: [GROUP_SCHEMA], displayName: `fzg${rng.int(1e9)}`, members: ids.users.slice(0, rng.int(4)).map((value) => ({ value })) };
}

/** A valid resource with a few attributes replaced by random values or removed. */
function mutatedResource(rng: Rng, base: Record<string, unknown>): Record<string, unknown> {
  const out = { ...base };
  for (let i = rng.int(4); i > 0; i--) {
    const key = rng.pick([...Object.keys(out), ...USER_PATHS]);
    if (rng.chance(0.3)) delete out[key];
    else defineKey(out, key, randomJson(rng, 1));
  }
  return out;
}

function randomPatch(rng: Rng, group: boolean): unknown {
  const paths = group ? GROUP_PATHS.map((p) => p.replace('ID', rng.pick(ids.users))) : USER_PATHS;
  const ops = Array.from({ length: 1 + rng.int(4) }, () => {
    const op: Record<string, unknown> = { op: rng.pick(['add', 'replace', 'remove', 'Add', 'Replace', 'Remove', 'REMOVE', 'move', 'copy', '', 7, null]) };
    if (rng.chance(0.8)) op.path = rng.chance(0.2) ? mutateText(rng, rng.pick(paths)) : rng.pick(paths);
    if (rng.chance(0.8)) {
      op.value = rng.pick([
        () => randomJson(rng, 0),
        () => ids.users.slice(0, rng.int(4)).map((value) => ({ value, $ref: null })),
        () => ({ active: rng.pick([true, 'False', 'yes']) }),
        () => ({ 'name.givenName': 'G', [`${ENTERPRISE}:department`]: 'E', displayName: randomString(rng) }),
        () => ({ id: rng.pick(ids.users), displayName: 'renamed' }),
        () => rng.pick(['False', 'True', 'x', '']),
      ])();
    }
    return op;
  });
  const schemas = rng.chance(0.9) ? [PATCH_SCHEMA] : rng.pick([[], ['urn:wrong'], 'x']);
  return rng.chance(0.95) ? { schemas, Operations: ops } : rng.pick([{ schemas }, { schemas, Operations: {} }, [], 'ops', null]);
}

/** Lone surrogates replaced, since encodeURIComponent refuses them (the server sees %EF%BF%BD instead). */
function wellFormed(text: string): string {
  return text.replace(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, '\ufffd');
}

function randomQuery(rng: Rng): string {
  const params: string[] = [];
  for (let i = rng.int(5); i > 0; i--) {
    const name = rng.pick(['filter', 'startIndex', 'count', 'sortBy', 'sortOrder', 'attributes', 'excludedAttributes', 'cursor', 'FILTER', 'startindex', 'unknown', '__proto__', 'constructor[prototype][x]', 'filter[]', 'count[a]']);
    const value = rng.pick([
      () => randomFilter(rng),
      () => String(randomNumber(rng)).replace('RAW:', ''),
      () => rng.pick(['ascending', 'descending', 'sideways', '']),
      () => rng.pick(USER_PATHS),
      () => rng.pick(USER_PATHS) + ',' + rng.pick(USER_PATHS),
      () => rng.pick(['', 'abc', 'U.x', 'G.', '%%%', 'eyJ4Ijo=']),
      () => randomString(rng).slice(0, 3000),
    ])();
    // Mostly well encoded; sometimes raw characters or broken escapes straight into the URL.
    const encoded = rng.chance(0.9) ? encodeURIComponent(wellFormed(value)) : value.replace(/[\s#\u0000-\u001f\u007f-\uffff]/g, '%20');
    params.push(`${name}=${encoded}`);
  }
  if (rng.chance(0.05)) params.push('%zz=1', 'a=%E0%A4%A', '=');
  return params.length ? `?${params.join('&')}` : '';
}

function randomPath(rng: Rng): { path: string; kind: 'users' | 'groups' | 'other' } {
  const user = rng.pick(ids.users);
  const group = rng.pick(ids.groups);
  const choices: [string, 'users' | 'groups' | 'other'][] = [
    ['/Users', 'users'], [`/Users/${user}`, 'users'], ['/users', 'users'], [`/USERS/${user}`, 'users'],
    ['/Groups', 'groups'], [`/Groups/${group}`, 'groups'], [`/groups/${group}`, 'groups'],
    ['/Users/.search', 'other'], ['/Groups/.search', 'other'], ['/.search', 'other'], ['/Me', 'users'], ['/Bulk', 'other'],
    ['/ServiceProviderConfig', 'other'], ['/Schemas', 'other'], [`/Schemas/${USER_SCHEMA}`, 'other'], ['/Schemas/nope', 'other'],
    ['/ResourceTypes', 'other'], ['/ResourceTypes/User', 'other'], ['/ResourceTypes/%00', 'other'],
    ['/Users/does-not-exist', 'users'], [`/Users/${'x'.repeat(2000)}`, 'users'], ['/Users/%', 'users'], ['/Users/%E0%A4%A', 'users'],
    ['/Users/..%2F..%2Fhealthz', 'users'], ['/Users/a/b/c', 'other'], ['/Nope', 'other'], ['/', 'other'], ['', 'other'],
    ['//scim/v2/organizations/someone-else/Users', 'users'], [`//scim/v2.0/organizations/${h.org.id}/Users`, 'users'],
    ['//scim/v2/organizations//Users', 'other'], ['//metrics', 'other'], ['//healthz', 'other'], ['//nothing/here', 'other'],
    ['/Users/%ff%fe', 'users'], ['/Users/\u00e9', 'users'],
  ];
  const [path, kind] = rng.pick(choices);
  // node:http refuses characters outside Latin-1 and spaces in a path, so those are percent-encoded.
  return { path: path.replace(/[^\x21-\x7e]/g, (c) => encodeURIComponent(c)), kind };
}

function randomHeaders(rng: Rng, hasBody: boolean): Record<string, string> {
  const headers: Record<string, string> = {};
  const auth = rng.int(40);
  if (auth === 0) {
    /* none */
  } else if (auth === 1) headers.authorization = 'Bearer wrong-token';
  else if (auth === 2) headers.authorization = rng.pick(['Basic dXNlcjpwYXNz', 'Bearer', 'bearer  ', `Bearer ${h.token} extra`, `Bearer ${'a'.repeat(5000)}`]);
  else headers.authorization = `Bearer ${h.token}`;
  if (hasBody || rng.chance(0.1)) {
    headers['content-type'] = rng.chance(0.85)
      ? rng.pick(['application/scim+json', 'application/json', 'application/scim+json; charset=utf-8', 'APPLICATION/JSON'])
      : rng.pick(['text/plain', 'application/xml', 'multipart/form-data; boundary=x', 'application/x-www-form-urlencoded', 'application/json; charset=latin1', '', 'garbage', 'application/scim+json; charset=utf-16']);
  }
  if (rng.chance(0.1)) headers['if-match'] = rng.pick(['*', 'W/"1"', '"1"', 'W/"999999999999999999"', 'W/', '"', 'W/"1", W/"2"', 'garbage']);
  if (rng.chance(0.1)) headers['if-none-match'] = rng.pick(['*', 'W/"1"', 'W/"2"', 'nope']);
  if (rng.chance(0.05)) headers.accept = rng.pick(['text/html', 'application/scim+json', '*/*', 'application/xml']);
  if (rng.chance(0.03)) headers['x-forwarded-for'] = '1.2.3.4';
  if (rng.chance(0.03)) headers.host = rng.pick(['evil.example', 'a b', '[::1]:1', '']);
  return headers;
}

function fittingMethod(rng: Rng, path: string): string {
  if (/\/(Users|Groups)$/i.test(path)) return rng.pick(['GET', 'POST', 'POST']);
  if (/\/(Users|Groups)\/[^/]+$/i.test(path) && !path.endsWith('.search')) return rng.pick(['GET', 'PUT', 'PATCH', 'PATCH', 'DELETE']);
  if (/\.search$|\/Bulk$/.test(path)) return 'POST';
  if (path.endsWith('/Me')) return rng.pick(['GET', 'PUT', 'PATCH', 'DELETE']);
  return 'GET';
}

function randomRequest(rng: Rng): FuzzRequest {
  const picked = randomPath(rng);
  // Mostly a method the endpoint supports, so requests get past routing into validation and storage.
  const method = rng.chance(0.75) ? fittingMethod(rng, picked.path) : rng.pick(['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS']);
  const { kind } = picked;
  let path = picked.path;
  // Mostly spare the seed resources from DELETE, so later requests still find something to work on.
  if (method === 'DELETE' && rng.chance(0.9)) for (const id of [...ids.users, ...ids.groups]) path = path.replace(id, 'gone');
  const query = method === 'GET' || rng.chance(0.2) ? randomQuery(rng) : '';
  let body: string | Buffer | undefined;
  if (method === 'POST' || method === 'PUT' || method === 'PATCH' || rng.chance(0.05)) {
    const isGroup = kind === 'groups';
    let value: unknown;
    if (path.endsWith('.search')) {
      value = { schemas: rng.chance(0.9) ? [SEARCH_SCHEMA] : [], filter: randomFilter(rng), startIndex: randomNumber(rng), count: randomNumber(rng), attributes: [rng.pick(USER_PATHS)], sortBy: rng.pick(USER_PATHS), cursor: rng.chance(0.3) ? '' : undefined };
    } else if (path.endsWith('/Bulk')) {
      value = {
        schemas: ['urn:ietf:params:scim:api:messages:2.0:BulkRequest'],
        failOnErrors: rng.pick([undefined, 1, 0, -1, 'x']),
        Operations: Array.from({ length: rng.int(5) }, (_, i) => ({
          method: rng.pick(['POST', 'PUT', 'PATCH', 'DELETE', 'GET', 'post']),
          path: rng.pick(['/Users', '/Groups', `/Users/${rng.pick(ids.users)}`, `/Groups/${rng.pick(ids.groups)}`, '/Users/bulkId:b0', '/x', 7]),
          bulkId: rng.pick([`b${i}`, 'b0', undefined, '', 5]),
          version: rng.pick([undefined, 'W/"1"', 7]),
          data: rng.pick([validUser(rng), validGroup(rng), randomPatch(rng, true), { ...validGroup(rng), members: [{ value: `bulkId:b${rng.int(5)}` }] }, randomJson(rng, 0)]),
        })),
      };
    } else if (method === 'PATCH') value = randomPatch(rng, isGroup);
    else value = mutatedResource(rng, isGroup ? validGroup(rng) : validUser(rng));
    let text = toJsonText(value);
    if (rng.chance(0.1)) text = mutateText(rng, text);
    body = text;
    if (rng.chance(0.02)) body = Buffer.concat([Buffer.from(text.slice(0, text.length >> 1)), Buffer.from([0xff, 0xfe, 0xc3, 0x28]), Buffer.from(text.slice(text.length >> 1))]);
  }
  return { method, path: path + query, headers: randomHeaders(rng, body !== undefined), body };
}

/** Indexed values too long for a B-tree entry, random or repetitive, and the longest that are allowed, in 4-byte characters. */
function longIndexedValues(): string[] {
  const rng = randomness(2800);
  return [randomText(rng, 2800), randomText(rng, 513), 'r'.repeat(900_000), '\u{1F600}'.repeat(512), '\u{1F600}'.repeat(513), '\u0130'.repeat(512)];
}

/** Requests nobody would send by accident. */
function hostileRequests(): FuzzRequest[] {
  const headers = json();
  const user = ids.users[0];
  const group = ids.groups[0];
  const deepArray = '['.repeat(100_000) + ']'.repeat(100_000);
  const deepObject = '{"a":'.repeat(20_000) + '1' + '}'.repeat(20_000);
  const parens = (n: number) => '('.repeat(n) + 'userName eq "x"' + ')'.repeat(n);
  const out: FuzzRequest[] = [
    { method: 'POST', path: '/Users', headers, body: deepArray },
    { method: 'POST', path: '/Users', headers, body: deepObject },
    { method: 'PATCH', path: `/Users/${user}`, headers, body: `{"schemas":["${PATCH_SCHEMA}"],"Operations":[{"op":"add","value":${deepObject}}]}` },
    { method: 'POST', path: '/Users', headers, body: JSON.stringify({ schemas: [USER_SCHEMA], userName: 'h'.repeat(900_000) }) },
    // Values past what a PostgreSQL B-tree entry holds (2,704 bytes), random so that no compression saves them.
    ...longIndexedValues().flatMap((long): FuzzRequest[] => [
      { method: 'POST', path: '/Users', headers, body: JSON.stringify({ schemas: [USER_SCHEMA], userName: long }) },
      { method: 'POST', path: '/Users', headers, body: JSON.stringify({ schemas: [USER_SCHEMA], userName: `ext${long.length}`, externalId: long }) },
      { method: 'POST', path: '/Groups', headers, body: JSON.stringify({ schemas: [GROUP_SCHEMA], displayName: long }) },
      { method: 'PUT', path: `/Users/${user}`, headers, body: JSON.stringify({ schemas: [USER_SCHEMA], userName: 'seed0', externalId: long }) },
      { method: 'PATCH', path: `/Users/${user}`, headers, body: JSON.stringify({ schemas: [PATCH_SCHEMA], Operations: [{ op: 'replace', path: 'userName', value: long }] }) },
      { method: 'PATCH', path: `/Groups/${group}`, headers, body: JSON.stringify({ schemas: [PATCH_SCHEMA], Operations: [{ op: 'replace', value: { displayName: long, externalId: long } }] }) },
      { method: 'POST', path: '/Bulk', headers, body: JSON.stringify({ schemas: ['urn:ietf:params:scim:api:messages:2.0:BulkRequest'], Operations: [{ method: 'POST', path: '/Groups', bulkId: 'l', data: { schemas: [GROUP_SCHEMA], displayName: 'lg', externalId: long } }] }) },
      { method: 'GET', path: `/Users?filter=${encodeURIComponent(`userName eq ${JSON.stringify(long)}`)}`, headers },
    ]),
    { method: 'POST', path: '/Users', headers, body: JSON.stringify({ schemas: [USER_SCHEMA], userName: 'h'.repeat(2_000_000) }) },
    { method: 'POST', path: '/Users', headers, body: JSON.stringify({ schemas: [USER_SCHEMA], userName: 'big', emails: Array.from({ length: 20_000 }, (_, i) => ({ value: `${i}@x.test` })) }) },
    { method: 'GET', path: `/Users?filter=${encodeURIComponent(parens(10_000))}`, headers },
    { method: 'GET', path: `/Users?filter=${encodeURIComponent(parens(1_000))}`, headers },
    { method: 'GET', path: `/Users?filter=${encodeURIComponent('not ('.repeat(500) + 'userName pr' + ')'.repeat(500))}`, headers },
    { method: 'GET', path: `/Users?filter=${encodeURIComponent(Array.from({ length: 600 }, (_, i) => `userName eq "u${i}"`).join(' or '))}`, headers },
    { method: 'POST', path: '/Users/.search', headers, body: JSON.stringify({ schemas: [SEARCH_SCHEMA], filter: parens(10_000) }) },
    { method: 'GET', path: `/Users?filter=${encodeURIComponent(`emails[${'value co "a" and '.repeat(300)}type eq "w"]`)}`, headers },
    { method: 'GET', path: `/Users?count=99999999999999999999&startIndex=-99999999999999999999`, headers },
    { method: 'GET', path: `/Users?count=2147483648&startIndex=2147483648`, headers },
    { method: 'GET', path: `/Users?count=1e400&startIndex=NaN`, headers },
    { method: 'GET', path: `/Users?count=-2147483649`, headers },
    { method: 'GET', path: `/Users?sortBy=${'a.'.repeat(2000)}b`, headers },
    { method: 'GET', path: `/Users?attributes=${encodeURIComponent(Array.from({ length: 2000 }, () => 'userName').join(','))}`, headers },
    { method: 'GET', path: `/Users?${Array.from({ length: 2000 }, () => 'filter=userName%20pr').join('&')}`, headers },
    { method: 'POST', path: '/Users', headers, body: `{"schemas":["${USER_SCHEMA}"],"userName":"p1","__proto__":{"polluted":"yes"}}` },
    { method: 'POST', path: '/Users', headers, body: `{"schemas":["${USER_SCHEMA}"],"userName":"p2","constructor":{"prototype":{"polluted":"yes"}}}` },
    { method: 'POST', path: '/Users', headers, body: `{"schemas":["${USER_SCHEMA}"],"userName":"p3","name":{"__proto__":{"polluted":"yes"}}}` },
    { method: 'POST', path: '/Users', headers, body: `{"schemas":["${USER_SCHEMA}"],"userName":"p4","emails":[{"value":"a@b.c","__proto__":{"polluted":"yes"}}]}` },
    { method: 'PATCH', path: `/Users/${user}`, headers, body: `{"schemas":["${PATCH_SCHEMA}"],"Operations":[{"op":"add","path":"__proto__.polluted","value":"yes"}]}` },
    { method: 'PATCH', path: `/Users/${user}`, headers, body: `{"schemas":["${PATCH_SCHEMA}"],"Operations":[{"op":"add","value":{"__proto__":{"polluted":"yes"}}}]}` },
    { method: 'PATCH', path: `/Users/${user}`, headers, body: `{"schemas":["${PATCH_SCHEMA}"],"Operations":[{"op":"add","path":"constructor.prototype.polluted","value":"yes"}]}` },
    { method: 'PATCH', path: `/Users/${user}`, headers, body: `{"schemas":["${PATCH_SCHEMA}"],"Operations":[{"op":"replace","value":{"name.__proto__.polluted":"yes","constructor.prototype":"x"}}]}` },
    { method: 'PATCH', path: `/Groups/${group}`, headers, body: `{"schemas":["${PATCH_SCHEMA}"],"Operations":[{"op":"add","path":"members","value":[{"value":"${user}","__proto__":{"polluted":"yes"}}]}]}` },
    { method: 'POST', path: '/Bulk', headers, body: `{"schemas":["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],"Operations":[{"method":"POST","path":"/Users","bulkId":"__proto__","data":{"schemas":["${USER_SCHEMA}"],"userName":"p5"}},{"method":"POST","path":"/Groups","bulkId":"g","data":{"schemas":["${GROUP_SCHEMA}"],"displayName":"p6","members":[{"value":"bulkId:__proto__"}]}}]}` },
    { method: 'POST', path: '/Bulk', headers, body: `{"schemas":["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],"Operations":[{"method":"POST","path":"/Users","bulkId":"constructor","data":{"schemas":["${USER_SCHEMA}"],"userName":"p7"}},{"method":"PATCH","path":"/Users/bulkId:constructor","data":{"schemas":["${PATCH_SCHEMA}"],"Operations":[{"op":"add","path":"title","value":"bulkId:toString"}]}}]}` },
    { method: 'GET', path: `/Users?filter=${encodeURIComponent('__proto__.polluted eq "yes"')}`, headers },
    { method: 'GET', path: `/Users?__proto__[polluted]=yes&constructor[prototype][polluted]=yes`, headers },
    { method: 'POST', path: '/Users', headers, body: Buffer.from([0x7b, 0x22, 0x75, 0xff, 0xfe, 0x22, 0x3a, 0x31, 0x7d]) },
    { method: 'POST', path: '/Users', headers, body: Buffer.concat([Buffer.from(`{"schemas":["${USER_SCHEMA}"],"userName":"`), Buffer.from([0xed, 0xa0, 0x80, 0xc0, 0xaf]), Buffer.from('"}')]) },
    { method: 'POST', path: '/Users', headers, body: Buffer.from([0xef, 0xbb, 0xbf, ...Buffer.from(`{"schemas":["${USER_SCHEMA}"],"userName":"bom"}`)]) },
    { method: 'POST', path: '/Users', headers, body: Buffer.from(`{"schemas":["${USER_SCHEMA}"],"userName":"utf16"}`, 'utf16le') },
    { method: 'POST', path: '/Users', headers: { ...headers, 'content-type': 'text/plain' }, body: '{}' },
    { method: 'POST', path: '/Users', headers: { ...headers, 'content-type': 'application/xml' }, body: '<User/>' },
    { method: 'POST', path: '/Users', headers: { authorization: headers.authorization }, body: '{}' },
    { method: 'POST', path: '/Users', headers: { ...headers, 'content-type': 'application/x-www-form-urlencoded' }, body: 'userName=x' },
    { method: 'POST', path: '/Users', headers: { ...headers, 'content-type': 'application/json', 'content-encoding': 'gzip' }, body: 'not gzip' },
    { method: 'POST', path: '/Users', headers: { ...headers, 'content-length': '10' }, body: '{}' + ' '.repeat(8) },
    { method: 'POST', path: '/Users', headers, body: '' },
    { method: 'POST', path: '/Users', headers, body: 'null' },
    { method: 'POST', path: '/Users', headers, body: '"string"' },
    { method: 'POST', path: '/Users', headers, body: '1e400' },
    { method: 'PUT', path: `/Users/${user}`, headers, body: `{"schemas":["${USER_SCHEMA}"],"userName":"seed0","active":1e400,"x509Certificates":[{"value":"!!"}]}` },
    { method: 'PUT', path: `/Users/${user}`, headers, body: `{"schemas":["${USER_SCHEMA}"],"userName":"seed0","meta":{"version":123,"created":"yesterday"},"id":"other"}` },
    { method: 'PATCH', path: `/Users/${user}`, headers: { ...headers, 'if-match': 'W/"99999999999999999999999"' }, body: `{"schemas":["${PATCH_SCHEMA}"],"Operations":[{"op":"replace","path":"title","value":"t"}]}` },
    { method: 'GET', path: `/Users/${user}`, headers: { ...headers, 'if-none-match': `${'W/"1",'.repeat(3000)}*` } },
    { method: 'GET', path: '/Users', headers: { ...headers, authorization: `Bearer ${'\u00ff'.repeat(100)}` } },
  ];
  return out;
}

/** Raw bytes over a socket, for what no HTTP client will send: invalid UTF-8 in the request line, oversized headers. */
async function rawExchange(payload: Buffer): Promise<string> {
  const url = new URL(h.base);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(url.port), url.hostname);
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no answer within ${TIMEOUT_MS} ms`));
    }, TIMEOUT_MS);
    socket.on('data', (c) => chunks.push(c));
    socket.on('error', () => {
      /* a reset after the answer is fine; the answer is judged below */
    });
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks).toString('latin1'));
    });
    socket.write(payload);
    // Half-close so the server answers and then ends the connection.
    socket.end();
  });
}

async function runAll(requests: Iterable<FuzzRequest>): Promise<{ failures: string[]; count: number; statuses: Map<number, number> }> {
  const failures: string[] = [];
  const statuses = new Map<number, number>();
  let count = 0;
  const iterator = requests[Symbol.iterator]();
  const worker = async () => {
    for (let next = iterator.next(); !next.done; next = iterator.next()) {
      const req = next.value;
      count++;
      try {
        const res = await send(req);
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
        const problem = check(req, res);
        if (problem) failures.push(`${problem}\n  request: ${describeRequest(req)}`);
      } catch (err) {
        failures.push(`${(err as Error).message}\n  request: ${describeRequest(req)}`);
      }
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  return { failures, count, statuses };
}

function assertPrototypeClean(): void {
  assert.deepEqual(Object.getOwnPropertyNames(Object.prototype).sort(), prototypeBefore);
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
  assert.equal(Object.prototype.toString.call([]), '[object Array]');
}

for (const backend of backends()) {
  describe(`fuzzing (${backend})`, () => {
    before(() => setUp(backend));
    after(async () => {
      await h?.close();
    });

    test('hostile requests: deep nesting, huge strings, prototype keys, invalid UTF-8, wrong content types, huge numbers, 10,000 parentheses', async () => {
      const { failures, count } = await runAll(hostileRequests());
      assert.deepEqual(failures, [], `${failures.length} of ${count} hostile requests misbehaved`);
      assertPrototypeClean();
      // Stored data has no polluted keys either.
      const everyone = await send({ method: 'GET', path: '/Users?count=1000', headers: json() });
      assert.equal(everyone.status, 200);
      assert.doesNotMatch(everyone.text, /polluted/);
    });

    test('raw protocol abuse gets an answer, never a 5xx', async () => {
      const auth = `Authorization: Bearer ${h.token}\r\n`;
      const base = new URL(h.base).pathname;
      const cases: Buffer[] = [
        Buffer.concat([Buffer.from(`GET ${base}/Users/`), Buffer.from([0xff, 0xfe, 0x80]), Buffer.from(` HTTP/1.1\r\nHost: x\r\n${auth}\r\n`)]),
        Buffer.from(`GET ${base}/Users?filter=${'('.repeat(20_000)} HTTP/1.1\r\nHost: x\r\n${auth}\r\n`),
        Buffer.from(`GET ${base}/Users HTTP/1.1\r\nHost: x\r\n${auth}X-Big: ${'a'.repeat(70_000)}\r\n\r\n`),
        Buffer.from(`POST ${base}/Users HTTP/1.1\r\nHost: x\r\n${auth}Content-Type: application/json\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`),
        Buffer.from(`POST ${base}/Users HTTP/1.1\r\nHost: x\r\n${auth}Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"a":`),
        Buffer.from(`BREW ${base}/Users HTTP/1.1\r\nHost: x\r\n${auth}\r\n`),
        Buffer.from('NOT HTTP AT ALL\r\n\r\n'),
      ];
      for (const payload of cases) {
        const answer = await rawExchange(payload);
        const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(answer)?.[1] ?? 0);
        // Closing without a word is acceptable for bytes that are not HTTP; a 5xx is not.
        if (status !== 0) assert.ok(status < 500, `answered ${status} to ${payload.toString('latin1').slice(0, 80)}`);
      }
      const health = await send({ method: 'GET', path: '//healthz', headers: {} });
      assert.equal(health.status, 200);
    });

    test(`${RANDOM_REQUESTS} random and mutated requests: no 5xx, no hang, SCIM error bodies`, async () => {
      const seed = Number(process.env.SCIMKIT_FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31));
      console.log(`# fuzz seed ${seed} (rerun with SCIMKIT_FUZZ_SEED=${seed})`);
      const rng = randomness(seed);
      function* generate() {
        for (let i = 0; i < RANDOM_REQUESTS; i++) yield randomRequest(rng);
      }
      const { failures, count, statuses } = await runAll(generate());
      console.log(`# statuses: ${[...statuses].sort((a, b) => a[0] - b[0]).map(([s, n]) => `${s}:${n}`).join(' ')}`);
      assert.equal(count, RANDOM_REQUESTS);
      assert.deepEqual(failures.slice(0, 20), [], `${failures.length} of ${count} requests misbehaved (seed ${seed})`);
      // The fuzzer reached the handlers: successes and client errors both occurred.
      assert.ok([...statuses.keys()].some((s) => s >= 200 && s < 300), 'some requests succeeded');
      assert.ok([...statuses.keys()].some((s) => s >= 400 && s < 500), 'some requests were refused');
      assertPrototypeClean();
      const health = await send({ method: 'GET', path: '/Users?count=1', headers: json() });
      assert.equal(health.status, 200, 'the server still answers normal requests');
    });
  });
}
