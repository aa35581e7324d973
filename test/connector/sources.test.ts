/**
 * Sources and namespaces (issue 17, item 1): a destination records which source its rows and state came from (the
 * base URL, never the token); a config pointed at a namespace holding another source refuses before any request;
 * each source can have its own namespace (a table prefix in SQLite, a schema in PostgreSQL) side by side; ids the
 * destination has never seen are fetched whatever their lastModified says. Run once per destination.
 */
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { after, describe, it, type TestContext } from 'node:test';
import pg from 'pg';
import type { DestinationUrl } from '../../src/connector/config.ts';
import { openDestination, SourceMismatch } from '../../src/connector/destination/index.ts';
import { FakeProvider, type Json } from './fake-provider.ts';
import { assertTablesEqualSource, configFor, DestinationFactory, destinationKinds, sync, TOKEN, type DestinationKind } from './helpers.ts';

const { kinds, missing } = destinationKinds({ duckdb: true });
const factory = new DestinationFactory();
after(() => factory.cleanup());

if (missing) it('runs against PostgreSQL under CI', () => assert.fail(missing));

const HOUR = 3_600_000;

async function provider(t: TestContext, token: string, users: number, groups: number): Promise<FakeProvider> {
  const p = await new FakeProvider({ token }).start();
  t.after(() => p.stop());
  p.populate(users, groups, 4);
  p.backdate(HOUR);
  return p;
}

async function inNamespace<T>(d: DestinationUrl, namespace: string | null, fn: (dest: Awaited<ReturnType<typeof openDestination>>) => Promise<T>): Promise<T> {
  const dest = await openDestination(d, namespace);
  try {
    return await fn(dest);
  } finally {
    await dest.close();
  }
}

/** Every text a destination holds, for looking for the token in it. */
async function everything(d: DestinationUrl): Promise<string> {
  if (d.kind !== 'postgres') {
    const dir = dirname(d.path);
    return readdirSync(dir).map((f) => readFileSync(join(dir, f)).toString('latin1')).join('\n');
  }
  const client = new pg.Client({ connectionString: d.url });
  await client.connect();
  try {
    const tables = (await client.query(`SELECT table_schema, table_name FROM information_schema.tables WHERE table_schema NOT IN ('pg_catalog', 'information_schema')`)).rows as { table_schema: string; table_name: string }[];
    const out: string[] = [];
    for (const t of tables) out.push(JSON.stringify((await client.query(`SELECT * FROM "${t.table_schema}"."${t.table_name}"`)).rows));
    return out.join('\n');
  } finally {
    await client.end();
  }
}

for (const kind of kinds) {
  describe(`sources and namespaces in ${kind}`, () => {
    it('refuses to sync another source into a namespace that holds one, before any request, and leaves everything as it was', async (t) => {
      const a = await provider(t, TOKEN, 30, 3);
      const b = await provider(t, 'tok-of-org-b-0123456789abcdef', 19, 2);
      const d = await factory.create(kind);
      await sync(configFor(a, d));
      const before = await inNamespace(d, null, async (dest) => ({ state: await dest.loadState(), users: await dest.readRows('users') }));
      b.requests.length = 0;
      const err = await sync(configFor(b, d, { bearer_token: 'tok-of-org-b-0123456789abcdef', org_id: 'org-b' })).then(() => null, (e: Error) => e);
      assert.ok(err instanceof SourceMismatch, String(err));
      assert.match(err.message, new RegExp(`holds data from ${a.baseUrl.replace(/[.]/g, '\\.')} \\(in users, groups and group_members\\), and this config reads ${b.baseUrl.replace(/[.]/g, '\\.')}; refusing to mix two sources`));
      assert.match(err.message, /give this config its own namespace, for example "namespace": "scim_org_b"; to replace the old data instead, run `scimkit reset --drop-tables`/);
      assert.equal(b.requests.length, 0, 'nothing was asked of the other source');
      const afterwards = await inNamespace(d, null, async (dest) => ({ state: await dest.loadState(), users: await dest.readRows('users') }));
      assert.deepEqual(afterwards, before, 'state and rows are untouched');
      // A run with --allow-mass-delete (what the old message suggested) refuses just the same.
      await assert.rejects(sync(configFor(b, d, { bearer_token: 'tok-of-org-b-0123456789abcdef', org_id: 'org-b' }), { allowMassDelete: true }), SourceMismatch);
      await assertTablesEqualSource(d, a);
    });

    it('a first sync that failed before reading anything (a mistyped source) leaves the namespace to the corrected config', async (t) => {
      const a = await provider(t, TOKEN, 12, 2);
      const mistyped = await provider(t, 'tok-of-another-org-0123456789', 5, 1);
      const d = await factory.create(kind);
      // The mistyped source refuses the token: the run fails at its first request, with nothing read or written.
      await assert.rejects(sync(configFor(mistyped, d)), /401/);
      await sync(configFor(a, d));
      await assertTablesEqualSource(d, a);
      await inNamespace(d, null, async (dest) => assert.equal((await dest.source())?.source, a.baseUrl));
      // Once the namespace holds rows, another source is refused as before.
      await assert.rejects(sync(configFor(mistyped, d, { bearer_token: 'tok-of-another-org-0123456789' })), SourceMismatch);
    });

    it('lands two sources side by side in their own namespaces, each row stamped with its source, the token stored nowhere', async (t) => {
      const tokenB = 'tok-of-org-b-0123456789abcdef';
      const a = await provider(t, TOKEN, 30, 3);
      const b = await provider(t, tokenB, 19, 2);
      const d = await factory.create(kind);
      const cfgA = configFor(a, d);
      const cfgB = configFor(b, d, { bearer_token: tokenB, namespace: 'org_b' });
      await sync(cfgA);
      const first = await sync(cfgB);
      assert.equal(first.tables.users.inserted, 19, 'every user of the second source was loaded');
      await assertTablesEqualSource(d, a);
      a.updateUser('u-000005', { title: 'Changed in A' });
      b.deleteUser('u-000003');
      await sync(cfgA);
      await sync(cfgB);
      await assertTablesEqualSource(d, a);
      await inNamespace(d, 'org_b', async (dest) => {
        assert.equal(dest.tableLabel('users'), kind === 'sqlite' ? 'org_b_users' : 'org_b.users');
        const users = await dest.readRows('users');
        assert.deepEqual(users.filter((u) => u._deleted === false).map((u) => u.id), [...b.users.keys()].sort());
        assert.ok(users.every((u) => u.source === b.baseUrl), 'every row records its source');
        assert.equal((await dest.source())?.source, b.baseUrl);
        assert.equal((await dest.loadState()).get('users')?.strategy, 'incremental');
      });
      await inNamespace(d, null, async (dest) => {
        for (const table of ['users', 'groups', 'group_members'] as const) {
          assert.ok((await dest.readRows(table)).every((r) => r.source === a.baseUrl), `${table} rows of the first source say so`);
        }
        assert.deepEqual((await dest.source())?.source, a.baseUrl);
      });
      if (kind === 'postgres' && d.kind === 'postgres') {
        const client = new pg.Client({ connectionString: d.url });
        await client.connect();
        const { rows } = await client.query(`SELECT count(*)::int AS n FROM org_b.users WHERE NOT _deleted`);
        await client.end();
        assert.equal(rows[0].n, 18, 'queryable as schema.table');
      }
      const stored = await everything(d);
      // Runs of 12 characters: shorter ones of the test token ("connector") are ordinary words in the schema.
      for (const token of [TOKEN, tokenB]) {
        for (let i = 0; i + 12 <= token.length; i++) assert.ok(!stored.includes(token.slice(i, i + 12)), `no part of a token is stored (${token.slice(i, i + 12)})`);
      }
    });

    it('reset --drop-tables empties the namespace, so another source may then use it', async (t) => {
      const a = await provider(t, TOKEN, 10, 1);
      const b = await provider(t, TOKEN, 7, 1);
      const d = await factory.create(kind);
      await sync(configFor(a, d));
      await assert.rejects(sync(configFor(b, d)), SourceMismatch);
      await inNamespace(d, null, (dest) => dest.reset({ dropTables: true }));
      await sync(configFor(b, d));
      await assertTablesEqualSource(d, b);
    });

    it('fetches ids it has never seen even when their lastModified is before the cursor', async (t) => {
      const a = await provider(t, TOKEN, 20, 2);
      const d = await factory.create(kind);
      const cfg = configFor(a, d);
      await sync(cfg);
      a.opts.clockSkewMs = 5 * 60_000;
      // An import that keeps the timestamps of the system it came from: changed long before the cursor.
      const late = a.addUser({ userName: 'imported@example.com' });
      const stamp = new Date(Date.now() - 48 * HOUR).toISOString();
      Object.assign(late.meta as Json, { created: stamp, lastModified: stamp });
      const run = await sync(cfg);
      assert.equal(run.tables.users.inserted, 1, 'the imported user was fetched');
      await assertTablesEqualSource(d, a);
    });
  });
}
