/**
 * Shared helpers for the connector tests: fresh destinations (a temporary SQLite file, or a fresh PostgreSQL database
 * with a random name when SCIMKIT_TEST_POSTGRES_URL is set), configs, and the check that tables equal the source.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { parseConfig, type ConnectorConfig, type DestinationUrl } from '../../src/connector/config.ts';
import { openDestination } from '../../src/connector/destination/index.ts';
import type { Destination } from '../../src/connector/destination/types.ts';
import { silentLogger } from '../../src/connector/log.ts';
import { runSync, type SyncOptions } from '../../src/connector/sync.ts';
import type { SyncSummary } from '../../src/connector/progress.ts';
import type { FakeProvider, Json } from './fake-provider.ts';

export const TOKEN = 'tok_S3cr3t-connector-test-0123456789';

export type DestinationKind = 'sqlite' | 'postgres' | 'duckdb';

/**
 * The destination kinds a test file covers: SQLite always, PostgreSQL when a server is given (required under CI:
 * its absence is reported as a failure), and DuckDB (`duckdb`) for the destination contract suite: the files that
 * hold every destination to the same tables, soft deletes, state and kill-and-resume guarantees (sync, resume,
 * sources, upgrade, extensions) and the CLI's view of a running sync. The other files test the source side, on SQLite and
 * PostgreSQL.
 */
export function destinationKinds(opts: { duckdb?: boolean } = {}): { kinds: DestinationKind[]; missing: string | null } {
  const kinds: DestinationKind[] = ['sqlite'];
  if (process.env.SCIMKIT_TEST_POSTGRES_URL) kinds.push('postgres');
  if (opts.duckdb) kinds.push('duckdb');
  const missing = !process.env.SCIMKIT_TEST_POSTGRES_URL && process.env.CI ? 'SCIMKIT_TEST_POSTGRES_URL is required under CI' : null;
  return { kinds, missing };
}

/** Creates fresh destinations and cleans them up afterwards. */
export class DestinationFactory {
  private readonly dirs: string[] = [];
  private readonly databases: string[] = [];

  async create(kind: DestinationKind): Promise<DestinationUrl> {
    if (kind === 'sqlite' || kind === 'duckdb') {
      const dir = mkdtempSync(join(tmpdir(), 'scimkit-conn-'));
      this.dirs.push(dir);
      return kind === 'sqlite' ? { kind, path: join(dir, 'warehouse.db') } : { kind, path: join(dir, 'warehouse.duckdb') };
    }
    const base = process.env.SCIMKIT_TEST_POSTGRES_URL as string;
    const name = `scimkit_conn_${randomBytes(6).toString('hex')}`;
    const admin = new pg.Client({ connectionString: base });
    await admin.connect();
    try {
      await admin.query(`CREATE DATABASE ${name}`);
    } finally {
      await admin.end();
    }
    this.databases.push(name);
    const url = new URL(base);
    url.pathname = `/${name}`;
    return { kind: 'postgres', url: url.toString() };
  }

  async cleanup(): Promise<void> {
    for (const dir of this.dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
    if (this.databases.length === 0) return;
    const admin = new pg.Client({ connectionString: process.env.SCIMKIT_TEST_POSTGRES_URL });
    await admin.connect();
    try {
      for (const name of this.databases.splice(0)) await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    } finally {
      await admin.end();
    }
  }
}

/** Rows of one query run straight against a destination's database (opened just for it, outside the connector). */
export async function queryDestination(d: DestinationUrl, query: string): Promise<Record<string, unknown>[]> {
  if (d.kind === 'sqlite') {
    const db = new Database(d.path, { readonly: true });
    try {
      return db.prepare(query).all() as Record<string, unknown>[];
    } finally {
      db.close();
    }
  }
  if (d.kind === 'duckdb') {
    const { DuckDBInstance } = await import('@duckdb/node-api');
    const instance = await DuckDBInstance.create(d.path);
    const connection = await instance.connect();
    try {
      return (await connection.runAndReadAll(query)).getRowObjectsJS() as Record<string, unknown>[];
    } finally {
      connection.closeSync();
      instance.closeSync();
    }
  }
  const client = new pg.Client({ connectionString: d.url });
  await client.connect();
  try {
    return (await client.query(query)).rows as Record<string, unknown>[];
  } finally {
    await client.end();
  }
}

export function destinationString(d: DestinationUrl): string {
  return d.kind === 'postgres' ? d.url : `${d.kind}:${d.path}`;
}

/** The JSON a user would write for this provider and destination. */
export function rawConfig(provider: FakeProvider, dest: DestinationUrl, extra: Json = {}): Json {
  return {
    bearer_token: TOKEN,
    org_id: 'org-1',
    provider: 'scim',
    base_url: provider.baseUrl,
    destination: destinationString(dest),
    max_records_per_page: 10,
    retry_attempts: 3,
    request_timeout_seconds: 10,
    ...extra,
  };
}

export function configFor(provider: FakeProvider, dest: DestinationUrl, extra: Json = {}): ConnectorConfig {
  return parseConfig(rawConfig(provider, dest, extra));
}

/** Runs a sync quietly, with short backoffs so fault tests do not crawl. */
export function sync(config: ConnectorConfig, opts: Partial<SyncOptions> = {}): Promise<SyncSummary> {
  return runSync({ config, logger: silentLogger, backoffBaseMs: 20, ...opts });
}

export async function withDestination<T>(url: DestinationUrl, fn: (d: Destination) => Promise<T>): Promise<T> {
  const d = await openDestination(url);
  try {
    return await fn(d);
  } finally {
    await d.close();
  }
}

/** Asserts the live rows equal the provider's data exactly, and every other row is soft-deleted. */
export async function assertTablesEqualSource(url: DestinationUrl, provider: FakeProvider): Promise<void> {
  await withDestination(url, async (d) => {
    const users = await d.readRows('users');
    const live = users.filter((u) => u._deleted === false);
    assert.deepEqual(live.map((u) => u.id), [...provider.users.keys()].sort(), 'live user ids equal the source');
    for (const u of live) {
      const { groups: _relation, ...src } = provider.users.get(String(u.id)) as Json;
      assert.deepEqual(u.raw, src, `users.raw of ${u.id} equals the source resource, without its groups`);
      assert.equal(u.user_name, src.userName);
      assert.equal(u.last_modified, new Date(String((src.meta as Json).lastModified)).toISOString());
    }
    for (const u of users.filter((x) => x._deleted !== false)) {
      assert.ok(!provider.users.has(String(u.id)), `soft-deleted user ${u.id} is gone from the source`);
      assert.ok(u._deleted_at, 'soft-deleted rows carry _deleted_at');
    }
    const groups = await d.readRows('groups');
    assert.deepEqual(groups.filter((g) => g._deleted === false).map((g) => g.id), [...provider.groups.keys()].sort(), 'live group ids equal the source');
    for (const g of groups.filter((x) => x._deleted !== false)) assert.ok(!provider.groups.has(String(g.id)));
    const members = await d.readRows('group_members');
    const liveMembers = members.filter((m) => m._deleted === false).map((m) => `${m.group_id}/${m.member_id}`).sort();
    const expected: string[] = [];
    for (const g of provider.groups.values()) for (const m of (g.members as Json[]) ?? []) expected.push(`${g.id}/${m.value}`);
    assert.deepEqual(liveMembers, [...new Set(expected)].sort(), 'live memberships equal the source');
    for (const g of groups.filter((x) => x._deleted === false)) {
      const src = provider.groups.get(String(g.id)) as Json;
      assert.equal(g.member_count, ((src.members as Json[]) ?? []).length, `member_count of ${g.id} equals the source`);
      assert.equal(g.member_count, members.filter((m) => m.group_id === g.id && m._deleted === false).length, `member_count of ${g.id} equals its live memberships`);
      assert.equal(g.display_name, src.displayName);
    }
    // A member's display is the user's current name when the user is synced.
    const byId = new Map(users.map((u) => [String(u.id), u]));
    for (const m of members.filter((x) => x._deleted === false)) {
      const u = byId.get(String(m.member_id));
      if (u) assert.equal(m.display, u.display_name ?? u.user_name, `display of ${m.group_id}/${m.member_id} follows users`);
    }
  });
}
