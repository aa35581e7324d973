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
import { connectorMigrations } from '../../src/connector/destination/schema.ts';
import { isLegacyHash, legacyHash, mapGroup, mapUser, memberRow } from '../../src/connector/mapping.ts';
import { GROUPS_TABLE, MEMBERS_TABLE, TABLES, USERS_TABLE } from '../../src/connector/tables.ts';
import { DuckDbRunner, exec, PostgresRunner, raw, SqliteRunner, sql, type Runner } from '../../src/sql/index.ts';
import { FakeProvider, type Json } from './fake-provider.ts';
import { assertTablesEqualSource, configFor, DestinationFactory, destinationKinds, queryDestination, sync, TOKEN, withDestination } from './helpers.ts';

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

/** A runner on the destination's database, outside the connector: migrated up to `version` (of the connector's migrations), or not at all. */
async function runnerOn(d: DestinationUrl, version?: number): Promise<Runner> {
  const all = connectorMigrations(d.kind, null);
  const migrations = version === undefined ? [] : [{ ...all, migrations: all.migrations.filter((m) => m.version <= version) }];
  if (d.kind === 'sqlite') return new SqliteRunner(d.path, { migrations });
  return d.kind === 'duckdb' ? DuckDbRunner.open(d.path, { migrations }) : PostgresRunner.open(d.url, { migrations, poolSize: 1 });
}

async function columnsOf(d: DestinationUrl, table: string): Promise<string[]> {
  const query =
    d.kind === 'sqlite'
      ? `SELECT name AS column_name FROM pragma_table_info('${table}')`
      : `SELECT column_name FROM information_schema.columns WHERE table_name = '${table}' AND table_schema = '${d.kind === 'duckdb' ? 'main' : 'public'}' ORDER BY ordinal_position`;
  return (await queryDestination(d, query)).map((r) => String(r.column_name));
}

async function migrationVersions(d: DestinationUrl): Promise<number[]> {
  return (await queryDestination(d, 'SELECT version FROM _scimkit_migrations ORDER BY version')).map((r) => Number(r.version));
}

for (const kind of kinds) {
  describe(`a fresh warehouse in ${kind}`, () => {
    it('is built by the same migrations, with exactly the columns the connector writes', async () => {
      const d = await factory.create(kind);
      await withDestination(d, async () => {});
      // Columns added by later versions come after the bookkeeping ones: the set is what must match.
      for (const table of TABLES) assert.deepEqual((await columnsOf(d, table.name)).sort(), allColumns(table).map((c) => c.name).sort());
      assert.deepEqual(await migrationVersions(d), [1, 2, 3, 4]);
    });
  });

  describe(`a warehouse at version 2 (before the JSON columns), in ${kind}`, () => {
    it('upgrades: the multi-valued core attributes of rows already there are filled from raw', async () => {
      const d = await factory.create(kind);
      // The warehouse as the connector left it at version 2: its migrations up to 2, and one user row.
      const runner = await runnerOn(d, 2);
      const resource = { id: 'u1', userName: 'ada', phoneNumbers: [{ value: '+1 555 0100', type: 'work' }], addresses: [{ locality: 'London' }], roles: 'admin' };
      try {
        await runner.run(function* () {
          yield* exec(raw(`INSERT INTO users (id, user_name, raw, _hash, _synced_at, _deleted, source)
            VALUES ('u1', 'ada', '${JSON.stringify(resource)}', 'h', '2026-12-04T20:00:00.000Z', FALSE, 'https://old.example')`));
        }, 'write');
      } finally {
        await runner.close();
      }
      assert.deepEqual(await migrationVersions(d), [1, 2]);

      await withDestination(d, async (dest) => {
        const [row] = await dest.readRows('users');
        assert.deepEqual([row.phone_numbers, row.addresses], [resource.phoneNumbers, resource.addresses]);
        assert.deepEqual([row.roles, row.entitlements], [null, null], 'a value that is not a list, or none, stays empty');
      });
      assert.deepEqual(await migrationVersions(d), [1, 2, 3, 4]);
    });
  });

  describe(`a warehouse at version 3 (memberships showing the display their group sent), in ${kind}`, () => {
    it("upgrades: a User membership shows its user's name, other members keep theirs", async () => {
      const d = await factory.create(kind);
      const runner = await runnerOn(d, 3);
      const at = '2026-12-04T20:00:00.000Z';
      try {
        await runner.run(function* () {
          yield* exec(raw(`INSERT INTO users (id, user_name, display_name, _hash, _synced_at, _deleted) VALUES ('u1', 'ada', 'Ada Lovelace', 'h', '${at}', FALSE)`));
          yield* exec(raw(`INSERT INTO group_members (group_id, member_id, member_type, display, _hash, _synced_at, _deleted)
            VALUES ('g1', 'u1', 'User', 'ada (old)', 'h', '${at}', FALSE), ('g1', 'g2', 'Group', 'Nested', 'h', '${at}', FALSE)`));
        }, 'write');
      } finally {
        await runner.close();
      }
      await withDestination(d, async (dest) => {
        const rows = await dest.readRows('group_members');
        const user = rows.find((m) => m.member_id === 'u1');
        assert.equal(user?.display, 'Ada Lovelace');
        assert.ok(String(user?._synced_at) > at, `a changed row gets a new _synced_at (${String(user?._synced_at)})`);
        const group = rows.find((m) => m.member_id === 'g2');
        assert.deepEqual([group?.display, group?._synced_at], ['Nested', at]);
      });
      assert.deepEqual(await migrationVersions(d), [1, 2, 3, 4]);
    });
  });

  describe(`rows hashed by an earlier mapping version, in ${kind}`, () => {
    it('stay unchanged: only their hash is rewritten, their _synced_at stays; a changed row is updated', async (t) => {
      const d = await factory.create(kind);
      const p = await new FakeProvider({ token: TOKEN }).start();
      t.after(() => p.stop());
      p.load(SOURCE.users, SOURCE.groups);
      // Full scans read every row every time, so every row is compared.
      const config = configFor(p, d, { enable_incremental_sync: false });
      await sync(config);
      // The hashes version 1 wrote, from the same values.
      const legacy: [string, string, string][] = [];
      for (const u of p.users.values()) legacy.push(['users', String(u.id), legacyHash(USERS_TABLE, mapUser(u).values)]);
      for (const g of p.groups.values()) {
        const members = (g.members as Json[]) ?? [];
        legacy.push(['groups', String(g.id), legacyHash(GROUPS_TABLE, mapGroup(g, new Set(members.map((m) => m.value)).size).values)]);
        for (const m of members) legacy.push(['group_members', `${g.id}/${m.value}`, legacyHash(MEMBERS_TABLE, memberRow(String(g.id), String(m.value), m).values)]);
      }
      const runner = await runnerOn(d);
      try {
        await runner.run(function* () {
          for (const [table, key, hash] of legacy) {
            const [id, member] = key.split('/');
            yield* exec(table === 'group_members'
              ? sql`UPDATE group_members SET _hash = ${hash} WHERE group_id = ${id} AND member_id = ${member}`
              : sql`UPDATE ${raw(table)} SET _hash = ${hash} WHERE id = ${id}`);
          }
        }, 'write');
      } finally {
        await runner.close();
      }
      const stamps = async () => {
        const out = new Map<string, unknown>();
        for (const table of TABLES) {
          const found = await queryDestination(d, `SELECT ${table.key.join(` || '/' || `)} AS k, _hash, _synced_at FROM ${table.name}`);
          for (const r of found) out.set(`${table.name}/${r.k}`, [String(r._hash), r._synced_at instanceof Date ? r._synced_at.toISOString() : String(r._synced_at)]);
        }
        return out as Map<string, [string, string]>;
      };
      const before = await stamps();
      assert.equal(before.size, legacy.length);
      assert.ok([...before.values()].every(([hash]) => isLegacyHash(hash)), 'the stored hashes are version 1 hashes');

      p.updateUser('u-000004', { title: 'Changed' });
      const run = await sync(config);
      assert.deepEqual([run.tables.users.updated, run.tables.users.unchanged], [1, SOURCE.users.length - 1]);
      assert.deepEqual([run.tables.groups.updated, run.tables.group_members.updated, run.tables.group_members.unchanged], [0, 0, legacy.filter(([table]) => table === 'group_members').length]);
      const after = await stamps();
      for (const [key, [hash, syncedAt]] of after) {
        assert.ok(!isLegacyHash(hash), `${key} has the current hash`);
        if (key !== 'users/u-000004') assert.equal(syncedAt, before.get(key)?.[1], `${key} was not written again`);
      }
      assert.notEqual(after.get('users/u-000004')?.[1], before.get('users/u-000004')?.[1]);
      await assertTablesEqualSource(d, p);
      // From now on the current hashes decide.
      const again = await sync(config);
      assert.equal(again.tables.users.updated, 0);
      assert.deepEqual(await stamps(), after);
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
      // The changed user, and any user the incremental pass reads again (the cursor's lookback): its hash now covers the
      // columns of migration 3, so it is rewritten once. The table contents are checked below.
      assert.ok(run.tables.users.updated >= 1 && run.tables.users.updated <= 3, `users updated: ${run.tables.users.updated}`);
      assert.equal(run.tables.users.softDeleted, 1);
      assert.ok(run.records < 10, `the saved cursor was used: only changes were read (${run.records} records)`);
      assert.ok(p.listRequests().some((r) => r.query.get('filter') === 'meta.lastModified gt "2026-12-04T18:52:42Z"'), 'the old cursor was asked for');
      await assertTablesEqualSource(d, p);
      for (const table of TABLES) {
        assert.deepEqual((await columnsOf(d, table.name)).sort(), allColumns(table).map((c) => c.name).sort(), `${table.name}: the migrated columns are the ones written`);
      }
      assert.deepEqual(await migrationVersions(d), [1, 2, 3, 4]);
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
