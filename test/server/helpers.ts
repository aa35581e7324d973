/** Test harness for the HTTP API: a real server on a loopback port over a real SQLite or PostgreSQL store. */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import pg from 'pg';
import { buildServer } from '../../src/server/app.ts';
import type { BuildServerOptions, ServerLimits } from '../../src/server/app.ts';
import { createRateLimiter } from '../../src/server/ratelimit/index.ts';
import type { RateLimiter } from '../../src/server/ratelimit/types.ts';
import { openStore } from '../../src/store/index.ts';
import type { OpenStoreOptions } from '../../src/store/index.ts';
import type { Organization, OrgSettings, Store } from '../../src/store/types.ts';

export const SCIM_JSON = 'application/scim+json';
export const USER_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:User';
export const GROUP_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:Group';
export const PATCH_SCHEMA = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';
export const SEARCH_SCHEMA = 'urn:ietf:params:scim:api:messages:2.0:SearchRequest';
export const ERROR_SCHEMA = 'urn:ietf:params:scim:api:messages:2.0:Error';
/** A declared User extension with attributes that are never returned (`pin`, `door.code`), for redaction tests. */
export const ACME = 'urn:ietf:params:scim:schemas:extension:acme:2.0:User';
export const ACME_DOCUMENT = {
  id: ACME,
  name: 'Acme',
  attributes: [
    { name: 'pin', type: 'string', mutability: 'writeOnly', returned: 'never' },
    { name: 'badge', type: 'string' },
    { name: 'door', type: 'complex', subAttributes: [{ name: 'room', type: 'string' }, { name: 'code', type: 'string', returned: 'never' }] },
  ],
};

/** High limits, so suites that are not about rate limiting never meet one. */
export const GENEROUS: Partial<OrgSettings> = { readLimit: 100_000, writeLimit: 100_000 };

export type Backend = 'sqlite' | 'postgres';

/** The key that encrypts webhook secrets in test stores (one per test process). */
export const TEST_SECRET_KEY = randomBytes(32);

/**
 * The backends a suite runs on: SQLite always; PostgreSQL when SCIMKIT_TEST_POSTGRES_URL is set
 * (scripts/run-tests.mjs starts one when installed). Under CI a missing PostgreSQL fails the suite.
 */
export function backends(): Backend[] {
  if (process.env.SCIMKIT_TEST_POSTGRES_URL) return ['sqlite', 'postgres'];
  if (process.env.CI) throw new Error('SCIMKIT_TEST_POSTGRES_URL is required under CI');
  return ['sqlite'];
}

/** A fresh PostgreSQL database on the test server, so suites never share state. */
export async function freshPostgresUrl(): Promise<string> {
  const base = process.env.SCIMKIT_TEST_POSTGRES_URL;
  if (!base) throw new Error('SCIMKIT_TEST_POSTGRES_URL is not set');
  const name = `scimkit_server_${randomBytes(6).toString('hex')}`;
  const client = new pg.Client({ connectionString: base });
  await client.connect();
  try {
    await client.query(`CREATE DATABASE "${name}"`);
  } finally {
    await client.end();
  }
  const url = new URL(base);
  url.pathname = `/${name}`;
  return url.toString();
}

export interface OpenedStore {
  readonly store: Store;
  /** Opens another store on the same database, as another process would (the caller closes it). */
  reopen(): Promise<Store>;
  cleanup(): Promise<void>;
}

/** Store options a test may set (beyond where the database is). */
export type TestStoreOptions = Pick<OpenStoreOptions, 'passwordHashing' | 'recomputeBatch'>;

export async function openTestStore(backend: Backend, postgresUrl?: string, options: TestStoreOptions = {}): Promise<OpenedStore> {
  if (backend === 'postgres') {
    const url = postgresUrl ?? (await freshPostgresUrl());
    const store = await openStore({ postgresUrl: url, secretKey: () => TEST_SECRET_KEY, ...options });
    return { store, reopen: () => openStore({ postgresUrl: url, secretKey: () => TEST_SECRET_KEY }), cleanup: () => store.close() };
  }
  const dir = mkdtempSync(join(tmpdir(), 'scimkit-server-'));
  const sqlitePath = join(dir, 'scim.db');
  const store = await openStore({ sqlitePath, secretKey: () => TEST_SECRET_KEY, ...options });
  return {
    store,
    reopen: () => openStore({ sqlitePath, secretKey: () => TEST_SECRET_KEY }),
    cleanup: async () => {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface Harness {
  readonly app: FastifyInstance;
  readonly store: Store;
  readonly rateLimiter: RateLimiter;
  /** http://127.0.0.1:PORT */
  readonly origin: string;
  readonly org: Organization;
  /** A read-write token for `org`. */
  readonly token: string;
  /** origin + /scim/v2/organizations/<org id> */
  readonly base: string;
  /** Opens another store on the same database, as another process would (the caller closes it). */
  reopen(): Promise<Store>;
  close(): Promise<void>;
}

export interface HarnessOptions {
  readonly backend?: Backend;
  readonly settings?: Partial<OrgSettings>;
  readonly limits?: Partial<ServerLimits>;
  /** Wraps the store the server sees (e.g. to make one method fail); the harness keeps the real one. */
  readonly wrapStore?: (store: Store) => Store;
  readonly logger?: BuildServerOptions['logger'];
  /** A clock for the in-memory rate limiter, so tests decide which requests share a one-second window. */
  readonly clock?: { now: number };
  /** Count rate limits in this Redis (under a fresh key prefix) instead of in memory. */
  readonly redisUrl?: string;
  readonly trustProxy?: BuildServerOptions['trustProxy'];
  readonly connections?: BuildServerOptions['connections'];
  /** With backend 'postgres': this database instead of a fresh one on the shared test server. */
  readonly postgresUrl?: string;
  /** Accept plain http webhook URLs in the management API (the receivers in tests listen on loopback http). */
  readonly allowHttpWebhooks?: boolean;
  readonly store?: TestStoreOptions;
  readonly metricsMaxOrganizations?: number;
  readonly requestLogSize?: number;
  readonly loginLimits?: BuildServerOptions['loginLimits'];
}

export async function startHarness(options: HarnessOptions = {}): Promise<Harness> {
  const opened = await openTestStore(options.backend ?? 'sqlite', options.postgresUrl, options.store);
  const store = opened.store;
  const clock = options.clock;
  const rateLimiter = options.redisUrl
    ? createRateLimiter({ redisUrl: options.redisUrl, keyPrefix: `test:${randomBytes(6).toString('hex')}:` })
    : createRateLimiter(clock ? { now: () => clock.now } : {});
  const app = buildServer({
    store: options.wrapStore ? options.wrapStore(store) : store,
    rateLimiter,
    limits: options.limits,
    logger: options.logger,
    trustProxy: options.trustProxy,
    connections: options.connections,
    metricsMaxOrganizations: options.metricsMaxOrganizations,
    allowHttpWebhooks: options.allowHttpWebhooks,
    requestLogSize: options.requestLogSize,
    loginLimits: options.loginLimits,
  });
  const origin = await app.listen({ host: '127.0.0.1', port: 0 });
  const org = await store.createOrganization('acme', options.settings ?? GENEROUS);
  const { secret } = await store.createToken(org.id, { scope: 'read-write' });
  return {
    app,
    store,
    rateLimiter,
    origin,
    org,
    token: secret,
    base: `${origin}/scim/v2/organizations/${org.id}`,
    reopen: opened.reopen,
    close: async () => {
      await app.close();
      await rateLimiter.close();
      await opened.cleanup();
    },
  };
}

export interface Reply {
  readonly status: number;
  readonly headers: Headers;
  /** Parsed JSON when the body is JSON; the text otherwise; undefined when empty. */
  readonly body: any;
  readonly text: string;
}

export interface RequestOptions {
  readonly token?: string | null;
  readonly body?: unknown;
  /** A raw body (sent as is). */
  readonly raw?: string;
  readonly headers?: Record<string, string>;
}

/** One HTTP request over loopback. `url` is absolute or relative to `base`. */
export async function call(base: string, method: string, url: string, options: RequestOptions & { defaultToken?: string } = {}): Promise<Reply> {
  const headers: Record<string, string> = {};
  const token = options.token === undefined ? options.defaultToken : options.token;
  if (token) headers.authorization = `Bearer ${token}`;
  let body: string | undefined;
  if (options.raw !== undefined) body = options.raw;
  else if (options.body !== undefined) body = JSON.stringify(options.body);
  if (body !== undefined) headers['content-type'] = SCIM_JSON;
  Object.assign(headers, options.headers);
  const res = await fetch(url.startsWith('http') ? url : base + url, { method, headers, body });
  const text = await res.text();
  let parsed: unknown = text === '' ? undefined : text;
  if (text !== '' && /json/.test(res.headers.get('content-type') ?? '')) parsed = JSON.parse(text);
  return { status: res.status, headers: res.headers, body: parsed, text };
}

/** A client bound to a harness and its token. */
export function client(h: Harness, token: string = h.token) {
  return (method: string, url: string, options: RequestOptions = {}) => call(h.base, method, url, { defaultToken: token, ...options });
}

export function user(userName: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { schemas: [USER_SCHEMA], userName, ...extra };
}

export function group(displayName: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { schemas: [GROUP_SCHEMA], displayName, ...extra };
}

export function patchOp(...operations: Record<string, unknown>[]): Record<string, unknown> {
  return { schemas: [PATCH_SCHEMA], Operations: operations };
}

/**
 * The test Redis from scripts/run-tests.mjs, or null (the test is skipped) when Redis is not installed. Under CI its
 * absence fails the test: a suite that needs Redis never silently stops running.
 */
export function testRedisUrl(t: { skip(message: string): void }): string | null {
  const url = process.env.SCIMKIT_TEST_REDIS_URL;
  if (url) return url;
  if (process.env.CI) throw new Error('SCIMKIT_TEST_REDIS_URL is required under CI');
  t.skip('Redis not installed');
  return null;
}

/** Polls until `read` returns something `done` accepts (flushes happen every second), or fails after 10 s. */
export async function eventually<T>(read: () => Promise<T>, done: (value: T) => boolean, what: string): Promise<T> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const value = await read();
    if (done(value)) return value;
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}; last value: ${JSON.stringify(value)}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
