/**
 * A fault-injecting fake SCIM provider for the connector's tests: a real node:http server on loopback holding users
 * and groups in memory, with switches for the quirks real providers have (numbers as strings, ignored startIndex,
 * no lastModified filter, capped counts, wrong totals, cursor paging, rate limits) and a queue of one-off faults
 * (status codes, Retry-After as seconds or a date, slow responses, dropped connections, malformed JSON).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export type Json = Record<string, unknown>;

export interface FakeOptions {
  token: string;
  /** Send totalResults, startIndex and itemsPerPage as strings. */
  stringNumbers?: boolean;
  /** Always serve the first page, whatever startIndex says. */
  ignoreStartIndex?: boolean;
  /** `supported`: `meta.lastModified gt "…"` works; `invalidFilter`: any filter is a 400; `ignored`: filters are ignored. */
  filter?: 'supported' | 'invalidFilter' | 'ignored';
  /** Offer RFC 9865 cursor paging in ServiceProviderConfig and honour `cursor`. */
  cursorPaging?: boolean;
  /** Largest page served, whatever count asks for. */
  maxCount?: number;
  totalResults?: 'ok' | 'missing' | 'wrong';
  serviceProviderConfig?: 'full' | 'missing' | 'broken';
  /** Requests per one-second window; over it a 429 with Retry-After: 1. Headers announce it. */
  rateLimit?: number;
  /** Delay before every response. */
  delayMs?: number;
  /** Put the presented credentials into 401 error details (a careless server), to prove the connector redacts. */
  echoCredentials?: boolean;
  /** Whether `attributes=` is honoured. */
  projection?: boolean;
  /**
   * Like many servers (scimkit's own included): deleting or renaming a user changes its groups' member lists but
   * not those groups' meta.lastModified.
   */
  staleGroups?: boolean;
  /** Users carry a `groups` attribute (value, display), derived from the groups at read time as servers do. */
  userGroups?: boolean;
  /** The server's clock against ours: its Date header and the timestamps it stamps are this far off. */
  clockSkewMs?: number;
  /** Cursor paging that never ends: every page brings fresh users, a new nextCursor and `totalResults: 5`. */
  endlessPaging?: boolean;
}

export type FaultKind = 'status' | 'retryAfterSeconds' | 'retryAfterDate' | 'slow' | 'destroy' | 'malformed' | 'huge' | 'text' | 'truncated' | 'garbled';

export interface Fault {
  kind: FaultKind;
  /** For `status`. */
  status?: number;
  /** For `slow`: how long to stall before answering. */
  ms?: number;
  /** For `slow`: stall until this settles instead (a test that waits for an event, not for a time). */
  until?: Promise<unknown>;
  /** For `huge`: bytes of a chunked 200 response with no Content-Length. */
  bytes?: number;
  /**
   * For `truncated` (the real response's first part, then the connection drops) and `garbled` (the whole real
   * response, a 200, with its JSON broken there): where, as a share of the body's length.
   */
  at?: number;
  /** For `text`: a text/plain body sent with `status`. */
  text?: string;
  /** How many matching requests get it. */
  times: number;
  /** Which requests (default: list requests to /Users or /Groups). */
  match?: (req: { method: string; path: string; query: URLSearchParams }) => boolean;
  body?: Json;
  headers?: Record<string, string>;
}

export interface LoggedRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  status: number;
  at: number;
}

const USER_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:User';
const GROUP_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:Group';
const ENTERPRISE = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';

export class FakeProvider {
  readonly users = new Map<string, Json>();
  readonly groups = new Map<string, Json>();
  readonly requests: LoggedRequest[] = [];
  readonly faults: Fault[] = [];
  opts: FakeOptions;
  private server: Server | null = null;
  private port = 0;
  private lastStamp = 0;
  private seq = 0;
  private window = { second: 0, count: 0 };
  /** Responses that were rate limited (429 from the limit itself, not from injected faults). */
  limited = 0;

  constructor(opts: FakeOptions) {
    this.opts = { filter: 'supported', totalResults: 'ok', serviceProviderConfig: 'full', projection: true, ...opts };
  }

  get baseUrl(): string {
    return `http://127.0.0.1:${this.port}/scim/v2`;
  }

  async start(): Promise<this> {
    this.server = createServer((req, res) => void this.handle(req, res));
    this.server.keepAliveTimeout = 60_000;
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }

  async stop(): Promise<void> {
    if (!this.server) return;
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server!.close(() => resolve()));
    this.server = null;
  }

  /** The server's clock. */
  now(): number {
    return Date.now() + (this.opts.clockSkewMs ?? 0);
  }

  /** A strictly increasing timestamp, as a server's `meta.lastModified`. */
  private stamp(): string {
    this.lastStamp = Math.max(this.now(), this.lastStamp + 1);
    return new Date(this.lastStamp).toISOString();
  }

  addUser(fields: Json = {}): Json {
    const n = ++this.seq;
    const id = `u-${String(n).padStart(6, '0')}`;
    const now = this.stamp();
    const user: Json = {
      schemas: [USER_SCHEMA, ENTERPRISE],
      id,
      userName: `user${n}@example.com`,
      externalId: `ext-${n}`,
      name: { givenName: `Given${n}`, familyName: `Family${n}` },
      displayName: `Given${n} Family${n}`,
      emails: [{ value: `user${n}@example.com`, type: 'work', primary: true }, { value: `u${n}@home.example`, type: 'home' }],
      active: true,
      title: 'Engineer',
      userType: 'Employee',
      [ENTERPRISE]: { employeeNumber: String(1000 + n), department: 'R&D', division: 'Core', costCenter: 'CC1', organization: 'Example', manager: { value: 'u-000001' } },
      meta: { resourceType: 'User', created: now, lastModified: now, location: `${this.baseUrl}/Users/${id}` },
      ...fields,
    };
    this.users.set(id, user);
    return user;
  }

  updateUser(id: string, fields: Json): void {
    const u = this.users.get(id);
    if (!u) throw new Error(`no user ${id}`);
    Object.assign(u, fields);
    (u.meta as Json).lastModified = this.stamp();
    // A stale-groups server shows the new name in member lists without touching the groups' lastModified.
    if (this.opts.staleGroups && 'displayName' in fields) {
      for (const g of this.groups.values()) for (const m of (g.members as Json[]) ?? []) if (m.value === id) m.display = fields.displayName;
    }
  }

  /**
   * Deletes a user and removes it from its groups: a careful server moves their lastModified, a stale-groups
   * server does not.
   */
  deleteUser(id: string): void {
    this.users.delete(id);
    for (const g of this.groups.values()) {
      const members = (g.members as Json[]) ?? [];
      if (!members.some((m) => m.value === id)) continue;
      if (this.opts.staleGroups) g.members = members.filter((m) => m.value !== id);
      else this.setMembers(String(g.id), members.map((m) => String(m.value)).filter((v) => v !== id));
    }
  }

  /** A user as served: with its groups when the server derives them. */
  private served(user: Json): Json {
    if (!this.opts.userGroups) return user;
    const groups = [...this.groups.values()]
      .filter((g) => ((g.members as Json[]) ?? []).some((m) => m.value === user.id))
      .map((g) => ({ value: g.id, display: g.displayName, type: 'direct' }));
    return groups.length ? { ...user, groups } : user;
  }

  addGroup(displayName: string, memberIds: string[]): Json {
    const n = ++this.seq;
    const id = `g-${String(n).padStart(6, '0')}`;
    const now = this.stamp();
    const group: Json = {
      schemas: [GROUP_SCHEMA],
      id,
      displayName,
      externalId: `gext-${n}`,
      members: [],
      meta: { resourceType: 'Group', created: now, lastModified: now, location: `${this.baseUrl}/Groups/${id}` },
    };
    this.groups.set(id, group);
    this.setMembers(id, memberIds);
    return group;
  }

  setMembers(groupId: string, memberIds: string[]): void {
    const g = this.groups.get(groupId);
    if (!g) throw new Error(`no group ${groupId}`);
    g.members = memberIds.map((value) => ({ value, type: 'User', display: String(this.users.get(value)?.displayName ?? value), $ref: `${this.baseUrl}/Users/${value}` }));
    (g.meta as Json).lastModified = this.stamp();
  }

  /** Moves the timestamps of the given resources (default: all) `ms` into the past, as if last changed that long ago. */
  backdate(ms: number, ids?: string[]): void {
    for (const r of [...this.users.values(), ...this.groups.values()]) {
      if (ids && !ids.includes(String(r.id))) continue;
      const meta = r.meta as Json;
      meta.created = new Date(Date.parse(String(meta.created)) - ms).toISOString();
      meta.lastModified = new Date(Date.parse(String(meta.lastModified)) - ms).toISOString();
    }
  }

  /** Rewrites every timestamp so resource i (users, then groups) was last changed at `from + i * step`. */
  spreadTimestamps(from: number, step: number): void {
    [...this.users.values(), ...this.groups.values()].forEach((r, i) => {
      const at = new Date(from + i * step).toISOString();
      Object.assign(r.meta as Json, { created: at, lastModified: at });
    });
  }

  deleteGroup(id: string): void {
    this.groups.delete(id);
  }

  /** Fills the provider: `users` users and `groups` groups, each group holding a spread of members. */
  populate(users: number, groups: number, membersPerGroup = 5): void {
    const ids: string[] = [];
    for (let i = 0; i < users; i++) ids.push(String(this.addUser().id));
    for (let g = 0; g < groups; g++) {
      const members: string[] = [];
      for (let k = 0; k < Math.min(membersPerGroup, ids.length); k++) members.push(ids[(g * 7 + k * 3) % ids.length]);
      this.addGroup(`Group ${g}`, [...new Set(members)]);
    }
  }

  /** Holds the given resources (a saved snapshot); new ones get ids after the highest number among them. */
  load(users: readonly Json[], groups: readonly Json[]): void {
    for (const u of users) this.users.set(String(u.id), structuredClone(u));
    for (const g of groups) this.groups.set(String(g.id), structuredClone(g));
    for (const id of [...this.users.keys(), ...this.groups.keys()]) this.seq = Math.max(this.seq, Number(id.replace(/\D/g, '')) || 0);
  }

  /** Queues a fault for the next `times` matching requests. */
  inject(fault: Fault): void {
    this.faults.push(fault);
  }

  listRequests(): LoggedRequest[] {
    return this.requests.filter((r) => /\/(Users|Groups)$/.test(r.path));
  }

  private num(n: number): number | string {
    return this.opts.stringNumbers ? String(n) : n;
  }

  /** Responses to spoil on their way out (`truncated` and `garbled` faults), by response. */
  private readonly spoiled = new WeakMap<ServerResponse, Fault>();

  private send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
    const text = JSON.stringify(body);
    const date = this.opts.clockSkewMs ? { date: new Date(this.now()).toUTCString() } : {};
    const spoil = this.spoiled.get(res);
    if (spoil) {
      const at = Math.floor(text.length * (spoil.at ?? 0.5));
      // Chunked, so the client cannot tell from a Content-Length that the body is cut short.
      res.writeHead(status, { 'content-type': 'application/scim+json', 'transfer-encoding': 'chunked', ...date, ...headers, ...this.rateHeaders() });
      if (spoil.kind === 'garbled') {
        // A control character is invalid JSON anywhere, inside a string or out.
        res.end(`${text.slice(0, at)}\u0001${text.slice(at)}`);
        return;
      }
      res.write(text.slice(0, at), () => res.socket?.destroy());
      return;
    }
    res.writeHead(status, { 'content-type': 'application/scim+json', ...date, ...headers, ...this.rateHeaders() });
    res.end(text);
  }

  private rateHeaders(): Record<string, string> {
    if (!this.opts.rateLimit) return {};
    return { 'x-ratelimit-limit': String(this.opts.rateLimit), 'x-ratelimit-remaining': String(Math.max(0, this.opts.rateLimit - this.window.count)) };
  }

  private error(res: ServerResponse, status: number, detail: string, scimType?: string, headers: Record<string, string> = {}): void {
    this.send(res, status, { schemas: ['urn:ietf:params:scim:api:messages:2.0:Error'], status: String(status), detail, ...(scimType ? { scimType } : {}) }, headers);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://x');
    const path = url.pathname.replace(/^\/scim\/v2/, '');
    const method = req.method ?? 'GET';
    const log: LoggedRequest = { method, path, query: url.searchParams, status: 0, at: Date.now() };
    this.requests.push(log);
    res.on('finish', () => (log.status = res.statusCode));
    if (this.opts.delayMs) await new Promise((r) => setTimeout(r, this.opts.delayMs));

    const isList = method === 'GET' && (path === '/Users' || path === '/Groups');
    const fault = this.faults.find((f) => f.times > 0 && (f.match ? f.match({ method, path, query: url.searchParams }) : isList));
    if (fault) {
      fault.times -= 1;
      switch (fault.kind) {
        case 'status':
          return this.send(res, fault.status ?? 500, fault.body ?? { detail: 'injected failure' }, fault.headers);
        case 'retryAfterSeconds':
          return this.error(res, 429, 'slow down', undefined, { 'retry-after': '1' });
        case 'retryAfterDate':
          return this.error(res, 429, 'slow down', undefined, { 'retry-after': new Date(Date.now() + 1500).toUTCString() });
        case 'destroy':
          req.socket.destroy();
          return;
        case 'malformed':
          res.writeHead(200, { 'content-type': 'application/scim+json' });
          res.end('{"schemas":["urn:ietf:params:scim:api:messages:2.0:ListResponse"],"Resources":[{"id":');
          return;
        case 'huge': {
          res.writeHead(200, { 'content-type': 'application/scim+json' });
          const chunk = Buffer.alloc(64 * 1024, 0x20);
          let left = fault.bytes ?? 0;
          res.write('{"Resources":[');
          while (left > 0 && !res.destroyed) {
            const ok = res.write(chunk);
            left -= chunk.length;
            if (!ok) await new Promise((r) => { res.once('drain', r); res.once('close', r); });
          }
          if (!res.destroyed) res.end(']}');
          return;
        }
        case 'truncated':
        case 'garbled':
          this.spoiled.set(res, fault);
          break;
        case 'text':
          res.writeHead(fault.status ?? 400, { 'content-type': 'text/plain', ...fault.headers });
          res.end(fault.text ?? '');
          return;
        case 'slow':
          await (fault.until ?? new Promise((r) => setTimeout(r, fault.ms ?? 3000)));
          if (res.destroyed || req.socket.destroyed) return;
          break;
      }
    }

    const auth = req.headers.authorization ?? '';
    if (auth !== `Bearer ${this.opts.token}`) {
      return this.error(res, 401, this.opts.echoCredentials ? `invalid credentials: ${auth}` : 'invalid bearer token');
    }

    if (this.opts.rateLimit) {
      const second = Math.floor(Date.now() / 1000);
      if (second !== this.window.second) this.window = { second, count: 0 };
      this.window.count += 1;
      if (this.window.count > this.opts.rateLimit) {
        this.limited += 1;
        return this.error(res, 429, 'rate limit exceeded', undefined, { 'retry-after': '1' });
      }
    }

    if (method === 'GET' && path === '/ServiceProviderConfig') {
      if (this.opts.serviceProviderConfig === 'missing') return this.error(res, 404, 'not found');
      if (this.opts.serviceProviderConfig === 'broken') {
        res.writeHead(200, { 'content-type': 'text/html' });
        res.end('<html>maintenance</html>');
        return;
      }
      return this.send(res, 200, {
        schemas: ['urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig'],
        patch: { supported: true },
        bulk: { supported: false, maxOperations: 0, maxPayloadSize: 0 },
        // Like Contentful: filtering is advertised, yet a meta.lastModified filter is refused.
        filter: { supported: true, maxResults: this.num(1000) },
        changePassword: { supported: false },
        sort: { supported: false },
        etag: { supported: false },
        pagination: { cursor: Boolean(this.opts.cursorPaging), index: true },
      });
    }
    if (isList) return this.list(res, path === '/Users' ? this.users : this.groups, url.searchParams);
    const one = /^\/(Users|Groups)\/([^/]+)$/.exec(path);
    if (method === 'GET' && one) {
      const r = (one[1] === 'Users' ? this.users : this.groups).get(decodeURIComponent(one[2]));
      return r ? this.send(res, 200, r) : this.error(res, 404, `${one[1]} ${one[2]} not found`);
    }
    return this.error(res, 404, `no route ${method} ${path}`);
  }

  private list(res: ServerResponse, source: Map<string, Json>, q: URLSearchParams): void {
    if (this.opts.endlessPaging && source === this.users && q.has('cursor') && !q.has('filter')) {
      const at = Number(q.get('cursor') || '0');
      const count = Number(q.get('count') ?? 10);
      const page = Array.from({ length: count }, (_, i) => ({ ...(this.users.values().next().value as Json), id: `endless-${at + i}`, userName: `endless${at + i}@example.com` }));
      return this.send(res, 200, { schemas: ['urn:ietf:params:scim:api:messages:2.0:ListResponse'], totalResults: 5, itemsPerPage: count, nextCursor: String(at + count), Resources: page });
    }
    let items = [...source.values()];
    const filter = q.get('filter');
    if (filter !== null && this.opts.filter === 'invalidFilter') return this.error(res, 400, 'Filtering on meta.lastModified is not supported', 'invalidFilter');
    if (filter !== null && this.opts.filter === 'supported') {
      const m = /^meta\.lastModified gt "([^"]+)"$/.exec(filter);
      const ids = /^id eq "[^"]*"( or id eq "[^"]*")*$/.test(filter) ? new Set([...filter.matchAll(/"([^"]*)"/g)].map((x) => x[1])) : null;
      if (ids) items = items.filter((r) => ids.has(String(r.id)));
      else if (!m || Number.isNaN(Date.parse(m[1]))) return this.error(res, 400, `unsupported filter ${filter}`, 'invalidFilter');
      else {
        const since = Date.parse(m[1]);
        items = items.filter((r) => Date.parse(String((r.meta as Json).lastModified)) > since);
      }
    }
    const total = items.length;
    const asked = q.has('count') ? Number(q.get('count')) : 100;
    const count = Math.min(asked, this.opts.maxCount ?? 1000);
    let start = 0;
    let nextCursor: string | undefined;
    if (this.opts.cursorPaging && q.has('cursor')) {
      const c = q.get('cursor') ?? '';
      if (c !== '') {
        const decoded = Number(Buffer.from(c, 'base64url').toString());
        if (!Number.isInteger(decoded)) return this.error(res, 400, 'bad cursor', 'invalidCursor');
        start = decoded;
      }
      if (start + count < total) nextCursor = Buffer.from(String(start + count)).toString('base64url');
    } else if (!this.opts.ignoreStartIndex) {
      start = Math.max(1, Number(q.get('startIndex') ?? 1)) - 1;
    }
    let page = items.slice(start, start + count).map((r) => (source === this.users ? this.served(r) : r));
    const attrs = q.get('attributes');
    if (attrs && this.opts.projection) {
      const keep = new Set(['id', 'schemas', ...attrs.split(',').map((a) => a.trim())]);
      page = page.map((r) => Object.fromEntries(Object.entries(r).filter(([k]) => keep.has(k))));
    }
    const body: Json = { schemas: ['urn:ietf:params:scim:api:messages:2.0:ListResponse'] };
    if (this.opts.totalResults === 'ok') body.totalResults = this.num(total);
    if (this.opts.totalResults === 'wrong') body.totalResults = this.num(Math.max(0, Math.floor(total / 3)));
    body.itemsPerPage = this.num(page.length);
    if (!this.opts.cursorPaging) body.startIndex = this.num(start + 1);
    if (nextCursor) body.nextCursor = nextCursor;
    body.Resources = page;
    this.send(res, 200, body);
  }
}
