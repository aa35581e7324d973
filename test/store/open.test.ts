/** openStore by a database string (what embedding apps and `serve --database` pass), and a close that is safe twice. */
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { parseDatabaseUrl } from '../../src/sql/url.ts';
import { openStore, type StoreTuning } from '../../src/store/index.ts';
import { freshPostgresUrl } from '../server/helpers.ts';

describe('openStore', () => {
  const dir = mkdtempSync(join(tmpdir(), 'scimkit-open-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('sqlite:PATH opens (and creates) that file; a second store on it sees the data', async () => {
    const url = `sqlite:${join(dir, 'a.db')}`;
    const store = await openStore(url);
    const org = await store.createOrganization('Acme');
    const again = await openStore(url);
    assert.equal((await again.getOrganization(org.id))?.name, 'Acme');
    await again.close();
    await store.close();
  });

  test('a new SQLite file, its -wal and -shm are readable by their owner only; an existing file keeps its mode', async () => {
    const path = join(dir, 'private.db');
    const store = await openStore({ sqlitePath: path });
    try {
      await store.createOrganization('Acme');
      for (const file of [path, `${path}-wal`, `${path}-shm`]) {
        const mode = statSync(file).mode & 0o777;
        assert.equal(mode & 0o077, 0, `${file} is ${mode.toString(8)}`);
      }
    } finally {
      await store.close();
    }
    const shared = join(dir, 'shared.db');
    writeFileSync(shared, '');
    chmodSync(shared, 0o640);
    await (await openStore({ sqlitePath: shared })).close();
    assert.equal(statSync(shared).mode & 0o777, 0o640);
  });

  test('sqlite::memory: is a private database', async () => {
    const a = await openStore('sqlite::memory:');
    const b = await openStore('sqlite::memory:');
    await a.createOrganization('Only in a');
    assert.equal((await a.listOrganizations()).length, 1);
    assert.equal((await b.listOrganizations()).length, 0);
    await a.close();
    await b.close();
  });

  test('tuning applies to the string form', async () => {
    // userCacheEntries 0 keeps no user cache; the store still works.
    const store = await openStore(`sqlite:${join(dir, 'b.db')}`, { userCacheEntries: 0 });
    await store.createOrganization('Acme');
    await store.close();
  });

  test('close() is safe to call twice, at once or one after the other', async () => {
    const store = await openStore(`sqlite:${join(dir, 'c.db')}`);
    await Promise.all([store.close(), store.close()]);
    await store.close();
  });

  test('a string that names no database is refused with what is allowed, without its password', async () => {
    await assert.rejects(openStore('mysql://root:hunter2@db/scim'), (err: Error) => {
      assert.match(err.message, /^openStore: the database must be sqlite:PATH or a postgres:\/\/ URL \(got "mysql:\/\/\*\*\*@db\/scim"\)$/);
      return true;
    });
    await assert.rejects(openStore('sqlite:'), /sqlite: needs a file path/);
    await assert.rejects(openStore('postgres://[bad'), /not a valid postgres:\/\/ URL/);
    await assert.rejects(openStore({}), /exactly one of sqlitePath and postgresUrl/);
  });

  test('parseDatabaseUrl reads the URL spelling of an absolute path', () => {
    assert.deepEqual(parseDatabaseUrl('sqlite:///var/lib/scimkit.db'), { kind: 'sqlite', path: '/var/lib/scimkit.db' });
    assert.deepEqual(parseDatabaseUrl('sqlite:./data/scimkit.db'), { kind: 'sqlite', path: './data/scimkit.db' });
    assert.deepEqual(parseDatabaseUrl('postgresql://u@h/db'), { kind: 'postgres', url: 'postgresql://u@h/db' });
  });

  test('tuning that is not a whole number is refused before anything is opened', async () => {
    // A pool size of -1 failed every PostgreSQL operation after the 5 s connect timeout as "The database is unavailable".
    for (const [tuning, message] of [
      [{ poolSize: -1 }, 'openStore: poolSize must be a whole number, 1 or more, got -1'],
      [{ poolSize: 0 }, 'openStore: poolSize must be a whole number, 1 or more, got 0'],
      [{ statementTimeoutMs: '5000' }, 'openStore: statementTimeoutMs must be a whole number, 0 or more, got "5000"'],
      [{ userCacheEntries: Number.NaN }, 'openStore: userCacheEntries must be a whole number, 0 or more, got NaN'],
    ] as const) {
      await assert.rejects(openStore('postgres://u@127.0.0.1:1/none', tuning as StoreTuning), (err: Error) => err instanceof RangeError && err.message === message);
      await assert.rejects(openStore('sqlite::memory:', tuning as StoreTuning), (err: Error) => err.message === message);
    }
    const store = await openStore('sqlite::memory:', { poolSize: 1, statementTimeoutMs: 0, userCacheEntries: 0 });
    await store.close();
  });

  test('sqlite://x.db and sqlite://./x.db are refused: as paths they were /x.db at the root of the filesystem', async () => {
    for (const url of ['sqlite://scim.db', 'sqlite://./data/scim.db', 'sqlite://']) {
      assert.throws(() => parseDatabaseUrl(url, 'openStore: the database'), (err: Error) => {
        assert.equal(err.message, `openStore: the database ${JSON.stringify(url)} names no file: write sqlite:./file.db for a path relative to the working directory, or sqlite:///abs/path for an absolute one`);
        return true;
      });
    }
    await assert.rejects(openStore('sqlite://./scim.db'), /names no file/);
  });

  test('a PostgreSQL that cannot be reached at open is a 503 whose message says why, without the password', { timeout: 60_000 }, async () => {
    // The message was only "The database is unavailable; retry later": an app at start-up could not tell a wrong port
    // from a wrong host name without digging into err.cause.
    for (const [url, why] of [
      ['postgres://app:hunter2@127.0.0.1:1/scim', /\(PostgreSQL at postgres:\/\/\*\*\*@127\.0\.0\.1:1\/scim: connect ECONNREFUSED 127\.0\.0\.1:1\); retry later$/],
      ['postgres://app@nohost.invalid/scim?password=hunter2', /\(PostgreSQL at postgres:\/\/\*\*\*@nohost\.invalid\/scim\?password=\*\*\*: getaddrinfo (ENOTFOUND|EAI_AGAIN) nohost\.invalid\); retry later$/],
    ] as const) {
      await assert.rejects(openStore(url), (err: Error & { status?: number }) => {
        assert.equal(err.status, 503, err.message);
        assert.match(err.message, /^The database is unavailable /);
        assert.match(err.message, why);
        assert.doesNotMatch(err.message, /hunter2/);
        assert.ok(err.cause instanceof Error, 'the socket error stays on cause');
        return true;
      });
    }
  });

  test('a PostgreSQL login that fails at open says so, without the password', { skip: !process.env.SCIMKIT_TEST_POSTGRES_URL && !process.env.CI ? 'PostgreSQL not installed' : false }, async () => {
    const url = new URL(process.env.SCIMKIT_TEST_POSTGRES_URL as string);
    url.username = 'nobody';
    url.password = 'hunter2';
    await assert.rejects(openStore(url.toString()), (err: Error) => {
      assert.match(err.message, /role "nobody" does not exist/);
      assert.doesNotMatch(err.message, /hunter2/);
      return true;
    });
  });

  test('postgres:// opens PostgreSQL, and close() is safe twice there too', { skip: !process.env.SCIMKIT_TEST_POSTGRES_URL && !process.env.CI ? 'PostgreSQL not installed' : false }, async () => {
    const store = await openStore(await freshPostgresUrl(), { poolSize: 2 });
    const org = await store.createOrganization('Acme');
    assert.equal((await store.getOrganization(org.id))?.name, 'Acme');
    await Promise.all([store.close(), store.close()]);
    await store.close();
  });
});
