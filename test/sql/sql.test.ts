/**
 * src/sql on real SQLite and PostgreSQL: the builder, the runner's transactions and error mapping, the versioned
 * migrator with its own table, list parameters, column types and the PostgreSQL run lock.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join as joinPath } from 'node:path';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { chunks, exec, execEach, first, join, list, PostgresRunner, postgresDialect, raw, rows, sql, sqliteDialect, SqliteRunner, tryPostgresLock } from '../../src/sql/index.ts';
import type { Migration, MigrationSet, Op, Runner } from '../../src/sql/index.ts';

const POSTGRES_URL = process.env.SCIMKIT_TEST_POSTGRES_URL;

describe('sql builder', () => {
  test('values become parameters in order; fragments are inlined with theirs', () => {
    const where = sql`a = ${1} AND b IN (${list(['x', 'y'])})`;
    const query = sql`SELECT * FROM ${raw('t')} WHERE ${where} AND c = ${null}`;
    assert.equal(query.text, 'SELECT * FROM t WHERE a = ? AND b IN (?, ?) AND c = ?');
    assert.deepEqual(query.params, [1, 'x', 'y', null]);
    const joined = join([sql`(${1}, ${2})`, sql`(${3}, ${4})`], ', ');
    assert.equal(joined.text, '(?, ?), (?, ?)');
    assert.deepEqual(joined.params, [1, 2, 3, 4]);
  });

  test('a value that looks like SQL stays a parameter; raw text refuses placeholders', () => {
    const query = sql`SELECT ${"'; DROP TABLE t; --"}`;
    assert.equal(query.text, 'SELECT ?');
    assert.throws(() => raw('a = ?'), /must not contain/);
  });

  test('chunks split a list without losing or reordering items', () => {
    assert.deepEqual(chunks([1, 2, 3, 4, 5], 2), [[1, 2], [3, 4], [5]]);
    assert.deepEqual(chunks([], 3), []);
  });
});

interface Target {
  readonly name: 'sqlite' | 'postgres';
  /** PostgreSQL: the database's URL. */
  readonly url?: string;
  open(options?: { migrations?: readonly MigrationSet[]; violations?: { unique?: () => Error } }): Promise<Runner>;
  dispose(): Promise<void>;
}

function sqliteTarget(): Target {
  const dir = mkdtempSync(joinPath(tmpdir(), 'scimkit-sql-'));
  const file = joinPath(dir, 'test.db');
  return {
    name: 'sqlite',
    open: async (options = {}) => new SqliteRunner(file, options),
    dispose: async () => rmSync(dir, { recursive: true, force: true }),
  };
}

async function postgresTarget(serverUrl: string): Promise<Target> {
  const name = `scimkit_sql_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return {
    name: 'postgres',
    url: url.toString(),
    open: (options = {}) => PostgresRunner.open(url.toString(), { ...options, poolSize: 3 }),
    async dispose() {
      await admin.query(`DROP DATABASE IF EXISTS ${name}`);
      await admin.end();
    },
  };
}

const V1: Migration = {
  version: 1,
  name: 'items',
  sqlite: ['CREATE TABLE items (id TEXT PRIMARY KEY, n INTEGER NOT NULL)'],
  postgres: ['CREATE TABLE items (id TEXT PRIMARY KEY, n INTEGER NOT NULL)'],
};
const V2: Migration = {
  version: 2,
  name: 'item flags',
  sqlite: ['ALTER TABLE items ADD COLUMN flag BOOLEAN', "INSERT INTO items (id, n) VALUES ('seed', 0)"],
  postgres: ['ALTER TABLE items ADD COLUMN flag BOOLEAN', "INSERT INTO items (id, n) VALUES ('seed', 0)"],
};

function set(migrations: readonly Migration[]): MigrationSet {
  return { table: 'test_migrations', migrations, lockKey: 4242 };
}

const targets: [string, () => Promise<Target>][] = [
  ['sqlite', async () => sqliteTarget()],
  ...(POSTGRES_URL ? [['postgres', () => postgresTarget(POSTGRES_URL)] as [string, () => Promise<Target>]] : []),
];

for (const [label, make] of targets) {
  describe(`sql runner and migrator: ${label}`, () => {
    let target: Target;
    let runner: Runner;

    before(async () => {
      target = await make();
      runner = await target.open({ migrations: [set([V1])] });
    });
    after(async () => {
      await runner.close();
      await target.dispose();
    });

    test('migrations apply once, in order, recorded in the set’s own table', async () => {
      assert.equal(await runner.migrate(set([V1])), 0);
      // Listed out of order: applied by version.
      assert.equal(await runner.migrate(set([V2, V1])), 1);
      assert.equal(await runner.migrate(set([V1, V2])), 0);
      const recorded = await runner.run(() => rows<{ version: number; name: string }>(sql`SELECT version, name FROM test_migrations ORDER BY version`), 'read');
      assert.deepEqual(
        recorded.map((r) => [Number(r.version), r.name]),
        [
          [1, 'items'],
          [2, 'item flags'],
        ],
      );
      const seed = await runner.run(() => first<{ n: number }>(sql`SELECT n FROM items WHERE id = ${'seed'}`), 'read');
      assert.equal(Number(seed?.n), 0);
    });

    test('a failing migration leaves nothing behind: no table, no record', async () => {
      const broken: Migration = { version: 3, name: 'broken', sqlite: ['CREATE TABLE half (a TEXT)', 'CREATE TABLE nope ('], postgres: ['CREATE TABLE half (a TEXT)', 'CREATE TABLE nope ('] };
      await assert.rejects(runner.migrate(set([V1, V2, broken])));
      const recorded = await runner.run(() => rows(sql`SELECT version FROM test_migrations WHERE version = ${3}`), 'read');
      assert.equal(recorded.length, 0);
      await assert.rejects(runner.run(() => rows(sql`SELECT a FROM half`), 'read'));
    });

    test('a migration without statements for this dialect, or a bad table name, is refused', async () => {
      const other: Migration = { version: 9, name: 'other only', ...(target.name === 'sqlite' ? { postgres: ['SELECT 1'] } : { sqlite: ['SELECT 1'] }) };
      await assert.rejects(runner.migrate(set([other])), /has no statements for/);
      await assert.rejects(runner.migrate({ table: 'x; DROP TABLE items', migrations: [], lockKey: 1 }), /not a plain SQL identifier/);
    });

    test('an operation commits when it returns and rolls back everything when it throws', async () => {
      await runner.run(() => exec(sql`INSERT INTO items (id, n) VALUES (${'a'}, ${1})`), 'write');
      await assert.rejects(
        runner.run(function* (): Op<void> {
          yield* exec(sql`UPDATE items SET n = ${2} WHERE id = ${'a'}`);
          yield* exec(sql`INSERT INTO items (id, n) VALUES (${'b'}, ${1})`);
          throw new Error('changed my mind');
        }, 'write'),
        /changed my mind/,
      );
      const found = await runner.run(() => rows<{ id: string; n: number }>(sql`SELECT id, n FROM items WHERE id IN (${list(['a', 'b'])})`), 'read');
      assert.deepEqual(
        found.map((r) => [r.id, Number(r.n)]),
        [['a', 1]],
      );
    });

    test('constraint violations: the statement’s error, else the runner’s default, else the database’s own', async () => {
      const insertA = sql`INSERT INTO items (id, n) VALUES (${'a'}, ${5})`;
      await assert.rejects(runner.run(() => exec(insertA, { unique: () => new Error('statement says taken') }), 'write'), /statement says taken/);
      const own = await runner.run(() => exec(insertA), 'write').then(
        () => assert.fail('a duplicate key must fail'),
        (err: unknown) => err as Error,
      );
      assert.doesNotMatch(own.message, /taken/);
      const other = await target.open({ violations: { unique: () => new Error('default says taken') } });
      try {
        await assert.rejects(other.run(() => exec(insertA), 'write'), /default says taken/);
      } finally {
        await other.close();
      }
    });

    test('a list of any length binds as one parameter through dialect.values', async () => {
      const ids = Array.from({ length: 1500 }, (_, i) => `id-${i}`);
      await runner.run(function* (): Op<void> {
        for (const part of chunks(ids, 500)) yield* exec(sql`INSERT INTO items (id, n) VALUES ${join(part.map((id, i) => sql`(${id}, ${i})`), ', ')}`);
      }, 'write');
      const wanted = [...ids.filter((_, i) => i % 2 === 0), 'missing'];
      const statement = sql`SELECT count(*) AS n FROM items WHERE id IN (SELECT value FROM ${runner.dialect.values(wanted)})`;
      assert.equal(statement.params.length, 1);
      const counted = await runner.run(() => first<{ n: number | string }>(statement), 'read');
      assert.equal(Number(counted?.n), 750);
    });

    test('dialect.rows: many rows of text and integers, any characters and NULL, insert as they are', async () => {
      const dialect = target.name === 'sqlite' ? sqliteDialect : postgresDialect;
      await runner.run(() => exec(raw(`CREATE TABLE copied (n BIGINT, t TEXT, u TEXT)`)), 'write');
      const awkward = ['', 'NULL', 'null', '"quoted"', 'back\\slash', '{braces}', 'a,b', "it's", '\u00e9t\u00e9 \ud83d\ude00', '{"json":["x\\"y"]}', ' spaced '];
      const wanted = Array.from({ length: 2500 }, (_, i) => [i * 1_000_003, awkward[i % awkward.length], i % 3 === 0 ? null : `u${i}`] as const);
      const from = dialect.rows('r', [{ name: 'n', type: 'integer' }, { name: 't', type: 'text' }, { name: 'u', type: 'text' }], wanted);
      if (target.name === 'postgres') assert.equal(from.params.length, 3);
      const inserted = await runner.run(() => exec(sql`INSERT INTO copied (n, t, u) SELECT r.n, r.t, r.u FROM ${from}`), 'write');
      assert.equal(inserted, wanted.length);
      const found = await runner.run(() => rows<{ n: number | string; t: string; u: string | null }>(sql`SELECT n, t, u FROM copied ORDER BY n`), 'read');
      assert.deepEqual(
        found.map((r) => [Number(r.n), r.t, r.u]),
        wanted.map((r) => [...r]),
      );
    });

    test('execEach runs one statement per row of parameters, in order, inside the transaction', async () => {
      await runner.run(() => exec(raw('CREATE TABLE each_rows (id TEXT PRIMARY KEY, n INTEGER NOT NULL, b BOOLEAN)')), 'write');
      const upsert = sql`INSERT INTO each_rows (id, n, b) VALUES (${list([null, null, null])}) ON CONFLICT (id) DO UPDATE SET n = excluded.n, b = excluded.b`;
      const changed = await runner.run(() => execEach(upsert, [['x', 1, true], ['y', 2, false], ['x', 3, null]]), 'write');
      assert.equal(changed, 3);
      // Rolled back with the rest of its transaction.
      await assert.rejects(
        runner.run(function* (): Op<void> {
          yield* execEach(upsert, [['z', 4, true]]);
          throw new Error('changed my mind');
        }, 'write'),
        /changed my mind/,
      );
      const found = await runner.run(() => rows<{ id: string; n: number; b: unknown }>(sql`SELECT id, n, b FROM each_rows ORDER BY id`), 'read');
      // The later row for x won; booleans bound as the database stores them.
      assert.deepEqual(found.map((r) => [r.id, Number(r.n), r.b === null ? null : r.b === true || r.b === 1]), [['x', 3, null], ['y', 2, false]]);
      assert.throws(() => execEach(upsert, [['w', 1]]).next(), /every row must have 3 parameters/);
    });

    test('columnType declares a table that holds each portable type', async () => {
      const d = runner.dialect;
      const ddl = `CREATE TABLE typed (t ${d.columnType('text')}, i ${d.columnType('integer')}, b ${d.columnType('boolean')}, ts ${d.columnType('timestamp')}, j ${d.columnType('json')})`;
      await runner.run(() => exec(raw(ddl)), 'write');
      const json = target.name === 'sqlite' ? sql`${'{"a":1}'}` : sql`${'{"a":1}'}::jsonb`;
      await runner.run(() => exec(sql`INSERT INTO typed (t, i, b, ts, j) VALUES (${'x'}, ${7}, ${true}, ${'2026-01-02T03:04:05.000Z'}, ${json})`), 'write');
      const row = await runner.run(() => first(sql`SELECT t, i, b, j FROM typed`), 'read');
      assert.equal(row?.t, 'x');
      assert.equal(Number(row?.i), 7);
      assert.ok(row?.b === true || row?.b === 1);
    });

    if (label === 'postgres') {
      test('tryPostgresLock: one holder at a time, free again once released', async () => {
        const url = target.url as string;
        const release = await tryPostgresLock(url, 77);
        assert.ok(release);
        assert.equal(await tryPostgresLock(url, 77), null);
        // Another key is another lock.
        const other = await tryPostgresLock(url, 78);
        assert.ok(other);
        await other();
        await release();
        const again = await tryPostgresLock(url, 77);
        assert.ok(again);
        await again();
      });
    }
  });
}
