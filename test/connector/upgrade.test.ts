/**
 * A warehouse written by the connector before versioned migrations (scimkit 4a34322) upgrades in place: the SQLite
 * fixture is a real sync by that version (test/connector/fixtures, with the source data it was synced from); for
 * PostgreSQL the same rows are loaded into that version's schema, written out here as it created it. The next sync
 * migrates (versions 1 and 2), adopts the rows for its source, keeps the cursor (an incremental run, not a re-read)
 * and soft deletes, and ends with tables equal to the source.
 */
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import pg from 'pg';
import type { DestinationUrl } from '../../src/connector/config.ts';
import { allColumns } from '../../src/connector/destination/operations.ts';
import { TABLES } from '../../src/connector/tables.ts';
import { FakeProvider, type Json } from './fake-provider.ts';
import { assertTablesEqualSource, configFor, DestinationFactory, destinationKinds, sync, TOKEN, withDestination } from './helpers.ts';

const { kinds, missing } = destinationKinds({ duckdb: true });
const factory = new DestinationFactory();
const dir = mkdtempSync(join(tmpdir(), 'scimkit-upgrade-'));
after(async () => {
  await factory.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

if (missing) it('runs against PostgreSQL under CI', () => assert.fail(missing));

const FIXTURE = new URL('./fixtures/warehouse-4a34322.db', import.meta.url);
const SOURCE = JSON.parse(readFileSync(new URL('./fixtures/warehouse-4a34322.source.json', import.meta.url), 'utf8')) as { users: Json[]; groups: Json[] };

/** The PostgreSQL tables as scimkit 4a34322 created them (src/connector/destination/sql.ts, migrate()). */
const OLD_POSTGRES_SCHEMA = [
  `CREATE TABLE "users" ("id" text NOT NULL, "user_name" text, "external_id" text, "email" text, "emails" jsonb, "first_name" text, "last_name" text, "display_name" text, "active" boolean, "title" text, "user_type" text, "employee_number" text, "department" text, "division" text, "cost_center" text, "organization" text, "manager_id" text, "created" timestamptz, "last_modified" timestamptz, "raw" jsonb, "_hash" text NOT NULL, "_synced_at" timestamptz NOT NULL, "_deleted" boolean NOT NULL DEFAULT FALSE, "_deleted_at" timestamptz, PRIMARY KEY ("id"))`,
  `CREATE TABLE "groups" ("id" text NOT NULL, "display_name" text, "external_id" text, "member_count" integer, "created" timestamptz, "last_modified" timestamptz, "raw" jsonb, "_hash" text NOT NULL, "_synced_at" timestamptz NOT NULL, "_deleted" boolean NOT NULL DEFAULT FALSE, "_deleted_at" timestamptz, PRIMARY KEY ("id"))`,
  `CREATE TABLE "group_members" ("group_id" text NOT NULL, "member_id" text NOT NULL, "member_type" text, "display" text, "raw" jsonb, "_hash" text NOT NULL, "_synced_at" timestamptz NOT NULL, "_deleted" boolean NOT NULL DEFAULT FALSE, "_deleted_at" timestamptz, PRIMARY KEY ("group_id", "member_id"))`,
  'CREATE INDEX group_members_member_id ON group_members (member_id)',
  'CREATE TABLE _scimkit_state (stream TEXT PRIMARY KEY, strategy TEXT, cursor TEXT, phase TEXT, detail TEXT NOT NULL, updated_at TEXT NOT NULL)',
  'CREATE TABLE _scimkit_seen (stream TEXT NOT NULL, key TEXT NOT NULL, PRIMARY KEY (stream, key))',
];

/** Copies the fixture's rows into a PostgreSQL database laid out as 4a34322 laid it out. */
async function oldPostgres(url: string): Promise<void> {
  const old = new Database(FIXTURE.pathname, { readonly: true });
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    for (const statement of OLD_POSTGRES_SCHEMA) await client.query(statement);
    for (const table of ['users', 'groups', 'group_members', '_scimkit_state']) {
      for (const row of old.prepare(`SELECT * FROM "${table}"`).all() as Record<string, unknown>[]) {
        const cols = Object.keys(row);
        const values = cols.map((c) => (c === '_deleted' || c === 'active' ? (row[c] === null ? null : row[c] === 1) : row[c]));
        await client.query(`INSERT INTO "${table}" (${cols.map((c) => `"${c}"`).join(', ')}) VALUES (${cols.map((_, i) => `$${i + 1}`).join(', ')})`, values);
      }
    }
  } finally {
    await client.end();
    old.close();
  }
}

/** Rows of a query against a DuckDB file (opened just for it). */
async function duckRows(path: string, query: string): Promise<Record<string, unknown>[]> {
  const { DuckDBInstance } = await import('@duckdb/node-api');
  const instance = await DuckDBInstance.create(path);
  const connection = await instance.connect();
  try {
    return (await connection.runAndReadAll(query)).getRowObjectsJS();
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
}

async function columnsOf(d: DestinationUrl, table: string): Promise<string[]> {
  if (d.kind === 'duckdb') {
    return (await duckRows(d.path, `SELECT column_name FROM information_schema.columns WHERE table_name = '${table}' AND table_schema = 'main' ORDER BY ordinal_position`)).map((r) => String(r.column_name));
  }
  if (d.kind === 'sqlite') {
    const db = new Database(d.path, { readonly: true });
    try {
      return (db.prepare(`SELECT name FROM pragma_table_info('${table}')`).all() as { name: string }[]).map((r) => r.name);
    } finally {
      db.close();
    }
  }
  const client = new pg.Client({ connectionString: d.url });
  await client.connect();
  try {
    return (await client.query(`SELECT column_name FROM information_schema.columns WHERE table_name = $1 AND table_schema = 'public' ORDER BY ordinal_position`, [table])).rows.map((r) => String(r.column_name));
  } finally {
    await client.end();
  }
}

async function migrationVersions(d: DestinationUrl): Promise<number[]> {
  if (d.kind === 'duckdb') return (await duckRows(d.path, 'SELECT version FROM _scimkit_migrations ORDER BY version')).map((r) => Number(r.version));
  if (d.kind === 'sqlite') {
    const db = new Database(d.path, { readonly: true });
    try {
      return (db.prepare('SELECT version FROM _scimkit_migrations ORDER BY version').all() as { version: number }[]).map((r) => r.version);
    } finally {
      db.close();
    }
  }
  const client = new pg.Client({ connectionString: d.url });
  await client.connect();
  try {
    return (await client.query('SELECT version FROM _scimkit_migrations ORDER BY version')).rows.map((r) => Number(r.version));
  } finally {
    await client.end();
  }
}

for (const kind of kinds) {
  describe(`a fresh warehouse in ${kind}`, () => {
    it('is built by the same migrations, with exactly the columns the connector writes', async () => {
      const d = await factory.create(kind);
      await withDestination(d, async () => {});
      for (const table of TABLES) assert.deepEqual(await columnsOf(d, table.name), allColumns(table).map((c) => c.name));
      assert.deepEqual(await migrationVersions(d), [1, 2]);
    });
  });

  // DuckDB arrived after 4a34322: there is no older DuckDB warehouse to upgrade.
  if (kind === 'duckdb') continue;
  describe(`a warehouse from scimkit 4a34322, in ${kind}`, () => {
    it('upgrades in place: migrated, adopted for its source, its cursor and soft deletes kept', async (t) => {
      let d: DestinationUrl;
      if (kind === 'sqlite') {
        const path = join(dir, 'warehouse.db');
        copyFileSync(FIXTURE, path);
        d = { kind: 'sqlite', path };
      } else {
        const created = await factory.create('postgres');
        if (created.kind !== 'postgres') throw new Error('expected a PostgreSQL destination');
        d = created;
        await oldPostgres(created.url);
      }
      assert.ok(!(await columnsOf(d, 'users')).includes('source'), 'the old schema has no source column');

      const p = await new FakeProvider({ token: TOKEN }).start();
      t.after(() => p.stop());
      p.load(SOURCE.users, SOURCE.groups);
      p.updateUser('u-000004', { title: 'Upgraded' });
      p.deleteUser('u-000010');
      p.addUser({ userName: 'after-upgrade@example.com' });
      const run = await sync(configFor(p, d));

      assert.deepEqual(run.strategies, { users: 'incremental', groups: 'incremental' });
      assert.equal(run.tables.users.inserted, 1);
      assert.equal(run.tables.users.updated, 1);
      assert.equal(run.tables.users.softDeleted, 1);
      assert.ok(run.records < 10, `the saved cursor was used: only changes were read (${run.records} records)`);
      assert.ok(p.listRequests().some((r) => r.query.get('filter') === 'meta.lastModified gt "2026-12-04T18:52:42Z"'), 'the old cursor was asked for');
      await assertTablesEqualSource(d, p);
      for (const table of TABLES) assert.deepEqual(await columnsOf(d, table.name), allColumns(table).map((c) => c.name), `${table.name}: the migrated columns are the ones written`);
      assert.deepEqual(await migrationVersions(d), [1, 2]);
      await withDestination(d, async (dest) => {
        assert.equal((await dest.source())?.source, p.baseUrl, 'the source is recorded');
        const users = await dest.readRows('users');
        assert.ok(users.every((u) => u.source === p.baseUrl), 'old rows were stamped with it');
        const old = users.find((u) => u.id === 'u-000007');
        assert.equal(old?._deleted, true, 'a row the old version soft-deleted stays soft-deleted');
        assert.ok(old?._deleted_at);
      });
      // The upgraded destination is an ordinary one from now on.
      p.updateUser('u-000011', { title: 'Again' });
      const again = await sync(configFor(p, d));
      assert.equal(again.tables.users.updated, 1);
      await assertTablesEqualSource(d, p);
    });
  });
}
