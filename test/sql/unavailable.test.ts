/**
 * A database that cannot serve now is the runner's `unavailable` error (the store makes it a 503 with Retry-After),
 * not the driver's raw error: SQLite locked by another process past the busy timeout; PostgreSQL with nothing
 * listening. (test/server/outages.test.ts stops and restarts a real PostgreSQL under the whole server.)
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import pg from 'pg';
import { freePort } from '../../scripts/services.mjs';
import { exec, PostgresRunner, raw, rows, sql, SqliteRunner } from '../../src/sql/index.ts';

class Unavailable extends Error {
  constructor(cause: unknown) {
    super('unavailable', { cause });
  }
}

test('SQLite: a write waiting past the busy timeout for another process\'s lock is unavailable', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'scimkit-busy-'));
  const path = join(dir, 'busy.db');
  const runner = new SqliteRunner(path, { busyTimeoutMs: 50, violations: { unavailable: (cause) => new Unavailable(cause) } });
  const other = new Database(path);
  try {
    await runner.run(() => exec(sql`CREATE TABLE t (x INTEGER)`), 'write');
    other.exec('BEGIN IMMEDIATE');
    await assert.rejects(runner.run(() => exec(sql`INSERT INTO t (x) VALUES (${1})`), 'write'), (err: unknown) => {
      assert.ok(err instanceof Unavailable, String(err));
      assert.equal((err.cause as { code?: string }).code, 'SQLITE_BUSY');
      return true;
    });
    other.exec('ROLLBACK');
    await runner.run(() => exec(sql`INSERT INTO t (x) VALUES (${1})`), 'write');
  } finally {
    other.close();
    await runner.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('SQLite: a write waiting for another process\'s lock leaves the thread free, and goes through once the lock is released', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'scimkit-busy-'));
  const path = join(dir, 'busy.db');
  const runner = new SqliteRunner(path, { violations: { unavailable: (cause) => new Unavailable(cause) } });
  const other = new Database(path);
  try {
    await runner.run(() => exec(sql`CREATE TABLE t (x INTEGER)`), 'write');
    other.exec('BEGIN IMMEDIATE');
    let settled = false;
    const write = runner.run(() => exec(sql`INSERT INTO t (x) VALUES (${1})`), 'write');
    write.then(() => (settled = true), () => (settled = true));
    // The event loop turns while the write waits (it used to block the thread for the whole 5 s busy timeout, so
    // every other request of a server waited too, and the write then failed).
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(settled, false);
    assert.deepEqual(await runner.run(() => rows(sql`SELECT count(*) AS n FROM t`), 'read'), [{ n: 0 }]);
    other.exec('COMMIT');
    await write;
    assert.deepEqual(await runner.run(() => rows(sql`SELECT count(*) AS n FROM t`), 'read'), [{ n: 1 }]);
  } finally {
    other.close();
    await runner.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('PostgreSQL: nothing listening is unavailable, not a raw connection error', async () => {
  const port = await freePort();
  // A runner without migrations connects on first use, like one whose server has gone away since.
  const runner = await PostgresRunner.open(`postgres://postgres@127.0.0.1:${port}/none`, { violations: { unavailable: (cause) => new Unavailable(cause) } });
  try {
    await assert.rejects(runner.run(() => exec(sql`SELECT 1`), 'read'), (err: unknown) => err instanceof Unavailable);
  } finally {
    await runner.close();
  }
});

test('PostgreSQL: a connection lost in the middle of a transaction fails that run, and nothing else', async (t) => {
  const url = process.env.SCIMKIT_TEST_POSTGRES_URL;
  if (!url) return t.skip('needs PostgreSQL (SCIMKIT_TEST_POSTGRES_URL)');
  const runner = await PostgresRunner.open(url, { violations: { unavailable: (cause) => new Unavailable(cause) } });
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  // pg's client emits 'error' when its connection ends unexpectedly; a client checked out of the pool has no
  // listener of the pool's, so that event was an uncaught exception that took the whole server down.
  const uncaught: unknown[] = [];
  const onUncaught = (err: unknown) => uncaught.push(err);
  process.on('uncaughtException', onUncaught);
  try {
    let reportPid!: (pid: number) => void;
    const started = new Promise<number>((resolve) => (reportPid = resolve));
    const running = runner.run(function* () {
      const [{ pid }] = yield* rows<{ pid: number }>(sql`SELECT pg_backend_pid() AS pid`);
      reportPid(pid);
      yield* exec(sql`SELECT pg_sleep(30)`);
    }, 'write');
    // Checked from now on: the run may fail before pg_terminate_backend returns.
    const failed = assert.rejects(running, (err: unknown) => err instanceof Unavailable);
    await admin.query('SELECT pg_terminate_backend($1)', [await started]);
    await failed;
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(uncaught, []);
    // The pool replaced the lost connection.
    assert.deepEqual(await runner.run(() => rows(sql`SELECT 1 AS one`), 'read'), [{ one: 1 }]);
  } finally {
    process.off('uncaughtException', onUncaught);
    await admin.end();
    await runner.close();
  }
});

test('PostgreSQL: a statement past the bound is cancelled as unavailable and its connection serves on; migrations are not bounded', async (t) => {
  const url = process.env.SCIMKIT_TEST_POSTGRES_URL;
  if (!url) return t.skip('needs PostgreSQL (SCIMKIT_TEST_POSTGRES_URL)');
  const table = `bound_${Math.random().toString(36).slice(2, 10)}`;
  // The migration sleeps past the bound, and applies all the same.
  const migrations = [{ table, lockKey: 7_300_001, migrations: [{ version: 1, name: 'slow', postgres: ['SELECT pg_sleep(1.5)'] }] }];
  const runner = await PostgresRunner.open(url, { poolSize: 1, statementTimeoutMs: 1000, migrations, violations: { unavailable: (cause) => new Unavailable(cause) } });
  try {
    const pid = () => runner.run(() => rows<{ pid: number }>(sql`SELECT pg_backend_pid() AS pid`), 'read');
    const [before] = await pid();
    await assert.rejects(runner.run(() => exec(sql`SELECT pg_sleep(30)`), 'read'), (err: unknown) => {
      assert.ok(err instanceof Unavailable, String(err));
      assert.equal((err.cause as { code?: string }).code, '57014');
      return true;
    });
    // PostgreSQL cancelled the statement itself, so the one connection was kept, in a usable state.
    assert.deepEqual(await pid(), [before]);
    assert.deepEqual(await runner.run(() => rows(sql`SELECT version FROM ${raw(table)}`), 'read'), [{ version: 1 }]);
  } finally {
    await runner.run(() => exec(sql`DROP TABLE IF EXISTS ${raw(table)}`), 'write').catch(() => {});
    await runner.close();
  }
});
