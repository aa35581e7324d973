/**
 * Groups read as a stream (source.ts, json-stream.ts, member-spool.ts), once per destination: a group of thousands
 * of members arriving over many reads and written in batches is copied exactly, with its members spooled to a file;
 * a response cut or broken in the middle of the members fails with a clear message and changes nothing; and the
 * streamed group's memberships are soft-deleted, added and revived correctly on the next sync.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, watch } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it, type TestContext } from 'node:test';
import type { DestinationUrl } from '../../src/connector/config.ts';
import { FakeProvider, type Json } from './fake-provider.ts';
import { assertTablesEqualSource, configFor, DestinationFactory, destinationKinds, sync, TOKEN, withDestination, type DestinationKind } from './helpers.ts';

// A temporary directory of this file's own (os.tmpdir() reads TMPDIR), so the spool files seen are this file's.
const spoolDir = mkdtempSync(join(tmpdir(), 'scimkit-streaming-test-'));
process.env.TMPDIR = spoolDir;
const spooled: string[] = [];
const watcher = watch(spoolDir, (_event, name) => {
  if (name?.startsWith('scimkit-members-')) spooled.push(name);
});

const { kinds, missing } = destinationKinds({ duckdb: true });
const factory = new DestinationFactory();
after(async () => {
  watcher.close();
  await factory.cleanup();
  rmSync(spoolDir, { recursive: true, force: true });
});

if (missing) it('runs against PostgreSQL under CI', () => assert.fail(missing));

/** Members of the big group: more than one write batch (5,000), in a response of about a megabyte. */
const BIG = 6_200;
/** Small enough that the big group's members go to a file, as a 100,000-member group's do by default. */
const SPOOL_BYTES = 64 * 1024;

async function setup(t: TestContext, kind: DestinationKind): Promise<{ p: FakeProvider; d: DestinationUrl; bigId: string }> {
  const p = await new FakeProvider({ token: TOKEN }).start();
  t.after(() => p.stop());
  p.populate(BIG, 3, 4);
  const bigId = String(p.addGroup('Everyone', [...p.users.keys()]).id);
  // Members before the id: the engine cannot know whose members they are until the resource ends.
  for (const [id, g] of p.groups) {
    const { members, ...rest } = g;
    p.groups.set(id, { members, ...rest });
  }
  return { p, d: await factory.create(kind), bigId };
}

/** The groups stream's committed progress, and the tables it writes. */
async function snapshot(d: DestinationUrl): Promise<unknown> {
  return withDestination(d, async (dest) => {
    const st = (await dest.loadState()).get('groups');
    return {
      cursor: st?.cursor, completed: st?.lastCompletedAt, pageRecords: st?.passRecords,
      groups: await dest.readRows('groups'),
      members: await dest.readRows('group_members'),
    };
  });
}

function spoolFiles(): string[] {
  return readdirSync(spoolDir).filter((f) => f.startsWith('scimkit-members-'));
}

for (const kind of kinds) {
  describe(`groups read as a stream into ${kind}`, () => {
    it('copies a group of thousands of members exactly, its members spooled to a file and written in batches', async (t) => {
      const { p, d, bigId } = await setup(t, kind);
      // Larger pages than the default of the tests, so the big group shares its page with others.
      const cfg = configFor(p, d, { max_records_per_page: 1000 });
      const before = new Set(spoolFiles());
      const seen = spooled.length;
      const first = await sync(cfg, { spoolMemoryBytes: SPOOL_BYTES });
      assert.ok(spooled.length > seen, 'the big group went through a spool file');
      assert.equal(first.tables.group_members.inserted, BIG + 3 * 4);
      assert.equal(first.tables.groups.inserted, 4);
      await assertTablesEqualSource(d, p);
      const big = (await withDestination(d, (dest) => dest.readRows('group_members'))).filter((m) => m.group_id === bigId);
      assert.equal(big.length, BIG);
      const sample = big.find((m) => m.member_id === 'u-000042') as Json;
      assert.deepEqual(sample.raw, ((p.groups.get(bigId) as Json).members as Json[]).find((m) => m.value === 'u-000042'));
      assert.deepEqual(spoolFiles().filter((f) => !before.has(f)), [], 'the spool files are gone');

      const again = await sync(cfg, { spoolMemoryBytes: SPOOL_BYTES });
      assert.equal(again.tables.group_members.unchanged, BIG + 3 * 4);
      assert.equal(again.tables.group_members.inserted + again.tables.group_members.updated + again.tables.group_members.softDeleted, 0);
    });

    it('soft-deletes, adds and revives memberships of the streamed group on the next sync', async (t) => {
      const { p, d, bigId } = await setup(t, kind);
      const cfg = configFor(p, d, { max_records_per_page: 1000 });
      await sync(cfg, { spoolMemoryBytes: SPOOL_BYTES });
      const all = [...p.users.keys()];
      const removed = all.filter((_, i) => i % 500 === 7);
      // A new user joins the group too; groups keep their place so the key order stays members-first.
      const joined = String(p.addUser({ userName: 'late@example.com' }).id);
      const keep = all.filter((id) => !removed.includes(id));
      p.setMembers(bigId, [...keep, joined]);
      const second = await sync(cfg, { spoolMemoryBytes: SPOOL_BYTES });
      assert.equal(second.tables.group_members.softDeleted, removed.length);
      assert.equal(second.tables.group_members.inserted, 1);
      await assertTablesEqualSource(d, p);

      // Back in the group: the soft-deleted rows are live again.
      p.setMembers(bigId, [...all, joined]);
      const third = await sync(cfg, { spoolMemoryBytes: SPOOL_BYTES });
      assert.equal(third.tables.group_members.updated, removed.length);
      assert.equal(third.tables.group_members.softDeleted, 0);
      await assertTablesEqualSource(d, p);
    });

    it('writes a member listed twice once, as its last listing says, even when the listings are batches apart', async (t) => {
      const { p, d, bigId } = await setup(t, kind);
      const g = p.groups.get(bigId) as Json;
      const members = g.members as Json[];
      // u-000001 again at the end (after the first batch of 5,000 was written), u-000003 twice within one batch.
      members.push({ ...members[0], display: 'Listed again' }, { ...members[2], display: 'Twice in a batch' });
      members.splice(3, 0, { ...members[2], display: 'Twice, first' });
      const first = await sync(configFor(p, d, { max_records_per_page: 1000 }), { spoolMemoryBytes: SPOOL_BYTES });
      assert.equal(first.tables.group_members.inserted, BIG + 3 * 4, 'each membership counted once');
      const rows = (await withDestination(d, (dest) => dest.readRows('group_members'))).filter((m) => m.group_id === bigId);
      assert.equal(rows.length, BIG);
      assert.equal(((rows.find((m) => m.member_id === members[0].value) as Json).raw as Json).display, 'Listed again');
      assert.equal(((rows.find((m) => m.member_id === members[2].value) as Json).raw as Json).display, 'Twice in a batch');
      const groups = await withDestination(d, (dest) => dest.readRows('groups'));
      assert.equal((groups.find((r) => r.id === bigId) as Json).member_count, BIG);
    });

    for (const [label, kindOf, expected] of [
      ['cut off in the middle of the members', 'truncated', /GET \/Groups\?.* failed after 2 attempts: .*\(from http:\/\/127\.0\.0\.1:\d+\)/],
      ['broken JSON in the middle of the members', 'garbled', /GET \/Groups\?.* failed after 2 attempts: 200 with a body that is not valid JSON \(invalid JSON value .* at character \d+\)/],
    ] as const) {
      it(`fails on a response ${label} with a clear message, and leaves state and tables unchanged`, async (t) => {
        const { p, d, bigId } = await setup(t, kind);
        const cfg = configFor(p, d, { max_records_per_page: 1000, retry_attempts: 1 });
        await sync(cfg, { spoolMemoryBytes: SPOOL_BYTES });
        const all = [...p.users.keys()];
        (p.groups.get(bigId) as Json).displayName = 'Everyone, renamed';
        p.setMembers(bigId, all.slice(100));
        const before = await snapshot(d);
        const spools = new Set(spoolFiles());
        p.faults.push({ kind: kindOf, at: 0.6, times: 2, match: (r) => r.path === '/Groups' && r.query.get('attributes') === null && r.query.get('filter') !== null });
        await assert.rejects(sync(cfg, { spoolMemoryBytes: SPOOL_BYTES }), (err: Error) => {
          assert.match(err.message, expected);
          assert.ok(!err.message.includes(TOKEN));
          return true;
        });
        assert.equal(p.faults[0].times, 0, 'both attempts met the fault');
        assert.deepEqual(await snapshot(d), before, 'state and tables are unchanged');
        assert.deepEqual(spoolFiles().filter((f) => !spools.has(f)), [], 'the spool files are gone');
        // The next run, with the source healthy, takes the change in.
        await sync(cfg, { spoolMemoryBytes: SPOOL_BYTES });
        await assertTablesEqualSource(d, p);
      });
    }
  });
}
