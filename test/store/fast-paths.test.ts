/**
 * The store's fast paths keep their answers exact: totals a filtered page infers instead of counting, updates
 * that write only the columns that changed, the auth stamp that lets the server keep tokens, and the SQLite
 * checkpoint worker that keeps the WAL bounded.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ScimError } from '../../src/scim/errors.ts';
import { parseFilter } from '../../src/scim/filter/index.ts';
import { parsePatchOperations } from '../../src/scim/patch/index.ts';
import { GROUP, PATCH_OP_SCHEMA, USER } from '../../src/scim/schema/index.ts';
import { SqlStore } from '../../src/store/index.ts';
import type { QueryOptions, ResourceKind } from '../../src/store/index.ts';
import { SqliteDriver } from '../../src/store/drivers.ts';
import { groupDoc, userDoc } from './contract.ts';
import { POSTGRES_URL, postgresHarness, sqliteHarness } from './harness.ts';
import type { StoreHarness } from './harness.ts';

function ops(kind: ResourceKind, operations: unknown[]) {
  return parsePatchOperations({ schemas: [PATCH_OP_SCHEMA], Operations: operations }, kind === 'User' ? USER : GROUP);
}

function fastPaths(label: string, open: () => Promise<StoreHarness>): void {
  describe(`store fast paths: ${label}`, () => {
    let h: StoreHarness;
    before(async () => {
      h = await open();
    });
    after(async () => {
      await h?.close();
    });

    it('a filtered page gives the exact totalResults at every startIndex, count and cursor position', async () => {
      const org = (await h.store.createOrganization('totals')).id;
      for (let i = 0; i < 7; i++) await h.store.create(org, 'User', userDoc(`t${i}`, i < 5 ? { title: `T${i}` } : {}));
      const filter = parseFilter('title pr');
      const all = (await h.store.query(org, 'User', { filter, count: 100, sortBy: 'userName' })).resources.map((r) => r.document.userName);
      assert.deepEqual(all, ['t0', 't1', 't2', 't3', 't4']);
      for (const count of [1, 2, 4, 5, 6, 50]) {
        for (let startIndex = 1; startIndex <= 8; startIndex++) {
          const options: QueryOptions = { filter, count, startIndex, sortBy: 'userName' };
          const result = await h.store.query(org, 'User', options);
          assert.equal(result.totalResults, 5, JSON.stringify({ count, startIndex }));
          assert.deepEqual(
            result.resources.map((r) => r.document.userName),
            all.slice(startIndex - 1, startIndex - 1 + count),
            JSON.stringify({ count, startIndex }),
          );
        }
        let cursor: string | undefined = '';
        const seen: unknown[] = [];
        while (cursor !== undefined) {
          const result: Awaited<ReturnType<typeof h.store.query>> = await h.store.query(org, 'User', { filter, count, cursor, sortBy: 'userName' });
          assert.equal(result.totalResults, 5, `cursor paging, count ${count}`);
          seen.push(...result.resources.map((r) => r.document.userName));
          cursor = result.nextCursor;
        }
        assert.deepEqual(seen, all);
      }
      const none = parseFilter('title eq "nobody"');
      assert.deepEqual(await h.store.query(org, 'User', { filter: none, count: 10 }), { totalResults: 0, resources: [] });
      assert.deepEqual(await h.store.query(org, 'User', { filter: none, count: 10, startIndex: 3 }), { totalResults: 0, resources: [] });
    });

    it('a PATCH keeps the indexed columns in step with the document, whatever it changes', async () => {
      const org = (await h.store.createOrganization('columns')).id;
      const ann = await h.store.create(org, 'User', userDoc('ann', { externalId: 'e-ann' }));
      await h.store.create(org, 'User', userDoc('bob'));
      const byName = async (name: string) => (await h.store.query(org, 'User', { filter: parseFilter(`userName eq "${name}"`), count: 10 })).resources.map((r) => r.id);

      const renamed = await h.store.patch(org, 'User', ann.id, ops('User', [{ op: 'replace', path: 'userName', value: 'Anna' }]));
      assert.equal(renamed.version, ann.version + 1);
      assert.deepEqual(await byName('anna'), [ann.id]);
      assert.deepEqual(await byName('ann'), []);
      const [row] = await h.raw('SELECT user_name_folded, external_id, display FROM resources WHERE id = ?', [ann.id]);
      assert.deepEqual({ ...row }, { user_name_folded: 'anna', external_id: 'e-ann', display: 'Anna' });

      await h.store.patch(org, 'User', ann.id, ops('User', [{ op: 'add', path: 'displayName', value: 'Ann A.' }, { op: 'remove', path: 'externalId' }]));
      const [after] = await h.raw('SELECT user_name_folded, external_id, display FROM resources WHERE id = ?', [ann.id]);
      assert.deepEqual({ ...after }, { user_name_folded: 'anna', external_id: null, display: 'Ann A.' });
      assert.deepEqual((await h.store.query(org, 'User', { filter: parseFilter('externalId eq "e-ann"'), count: 10 })).totalResults, 0);

      // Only the columns that changed are written, and a unique one still refuses a taken value.
      await assert.rejects(
        h.store.patch(org, 'User', ann.id, ops('User', [{ op: 'replace', path: 'userName', value: 'BOB' }])),
        (err: unknown) => err instanceof ScimError && err.status === 409,
      );
      assert.deepEqual(await byName('anna'), [ann.id]);
    });

    it('a member-only PATCH bumps the version and lastModified and leaves the document as it was', async () => {
      const org = (await h.store.createOrganization('members')).id;
      const user = await h.store.create(org, 'User', userDoc('member'));
      const group = await h.store.create(org, 'Group', groupDoc('Team'));
      const [before] = await h.raw('SELECT doc, last_modified FROM resources WHERE id = ?', [group.id]);
      await new Promise((resolve) => setTimeout(resolve, 5));
      const patched = await h.store.patch(org, 'Group', group.id, ops('Group', [{ op: 'add', path: 'members', value: [{ value: user.id }] }]), { relations: true });
      assert.equal(patched.version, group.version + 1);
      assert.ok(patched.lastModified > group.lastModified, 'lastModified moves on');
      assert.deepEqual(patched.document.members, [{ value: user.id, display: 'member', type: 'User' }]);
      const [after] = await h.raw('SELECT doc, last_modified, version FROM resources WHERE id = ?', [group.id]);
      assert.deepEqual(typeof after.doc === 'string' ? JSON.parse(after.doc) : after.doc, typeof before.doc === 'string' ? JSON.parse(before.doc) : before.doc);
      assert.equal(after.last_modified, patched.lastModified);
      assert.equal(Number(after.version), patched.version);
      assert.deepEqual((await h.store.query(org, 'Group', { filter: parseFilter('displayName eq "team"'), count: 10 })).resources.map((r) => r.id), [group.id]);
    });

    it('authStamp moves when a token or organization changes, through this store or another connection', async (t) => {
      if (h.dialect === 'postgres') {
        assert.equal(h.store.authStamp?.() ?? null, null, 'PostgreSQL cannot tell cheaply, so nothing may be kept');
        return;
      }
      const stamp = () => h.store.authStamp?.();
      const org = await h.store.createOrganization('stamp');
      const { token } = await h.store.createToken(org.id, { scope: 'read' });
      const first = stamp();
      assert.equal(typeof first, 'string');
      await h.store.create(org.id, 'User', userDoc('unrelated'));
      await h.store.findToken('whatever');
      assert.equal(stamp(), first, 'reads and resource writes keep it');

      await h.store.revokeToken(token.id);
      const afterRevoke = stamp();
      assert.notEqual(afterRevoke, first, 'a revocation through this store moves it');
      await h.store.updateOrganization(org.id, { readLimit: 7 });
      const afterUpdate = stamp();
      assert.notEqual(afterUpdate, afterRevoke, 'a settings change through this store moves it');

      const other = await h.reopen();
      await other.updateOrganization(org.id, { readLimit: 8 });
      // Other connections' changes are read once per event-loop turn: from the next one on, the stamp has moved.
      await new Promise((resolve) => setImmediate(resolve));
      assert.notEqual(stamp(), afterUpdate, 'a change through another connection moves it');
      t.diagnostic('other processes are connections like any other; test/server/cli.test.ts revokes from one');
    });
  });
}

fastPaths('sqlite', sqliteHarness);
const postgresUrl = POSTGRES_URL;
if (postgresUrl) fastPaths('postgres', () => postgresHarness(postgresUrl));

describe('SQLite checkpoint worker', () => {
  it('keeps the WAL bounded under a steady stream of writes that never leaves the event loop', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'scimkit-wal-'));
    const file = join(dir, 'wal.db');
    // A restart threshold of 1,000 pages (4 MiB) instead of 16,384, so that a short test crosses it many times; and
    // SQLite's own backstop checkpoint switched off, so that only the worker can keep the WAL from growing.
    const store = new SqlStore(new SqliteDriver(file, { walRestartPages: 1000, backstopPages: 0 }));
    try {
      const org = (await store.createOrganization('wal')).id;
      const user = await store.create(org, 'User', userDoc('writer'));
      // Each write rewrites a ~20 KB document and appends its user.updated event (the new document and the previous
      // title, docs/events.md), so 6,000 writes make 380 MB of WAL when the worker never lets it start over (seen with
      // a restart threshold the WAL never reaches). No await yields to the event loop in between (only microtasks),
      // as in a bulk import. With the worker it was 49 MB on a machine at load average 10, whose worker thread gets
      // less CPU than on an idle one: the bound leaves room for that and is still far under 380 MB.
      const filler = 'x'.repeat(20_000);
      for (let i = 0; i < 6000; i++) {
        await store.patch(org, 'User', user.id, ops('User', [{ op: 'replace', path: 'title', value: `${i}${filler}` }]));
      }
      const walBytes = statSync(`${file}-wal`).size;
      assert.ok(walBytes < 200 * 1024 * 1024, `WAL is ${(walBytes / 1048576).toFixed(1)} MB`);
      t.diagnostic(`WAL ${(walBytes / 1048576).toFixed(1)} MB`);
      const stored = await store.get(org, 'User', user.id);
      assert.equal(stored?.version, 6001);
      assert.equal(String(stored?.document.title).slice(0, 4), '5999');
    } finally {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('closing a store stops its worker, and every write is there on reopen', async () => {
    const h = await sqliteHarness();
    try {
      const org = (await h.store.createOrganization('close')).id;
      // Past the hundredth write the worker is running.
      for (let i = 0; i < 150; i++) await h.store.create(org, 'User', userDoc(`c${i}`));
      await h.store.close();
      const again = await h.reopen();
      assert.equal((await again.query(org, 'User', { count: 0, filter: parseFilter('userName sw "c"') })).totalResults, 150);
      const [check] = await h.raw('PRAGMA integrity_check');
      assert.equal(check.integrity_check, 'ok');
    } finally {
      await h.close();
    }
  });
});
