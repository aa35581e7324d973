/**
 * End to end against a real `scimkit serve` process: seed it with `scimkit seed`, sync it with `scimkit sync`
 * (both real processes), change it over HTTP, sync again. The tables must equal what the server holds, with
 * deletes and membership removals arriving as soft deletes. Run once per destination.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { DestinationUrl } from '../../src/connector/config.ts';
import { HttpClient } from '../../src/connector/http.ts';
import { silentLogger } from '../../src/connector/log.ts';
import type { SyncSummary } from '../../src/connector/progress.ts';
import { DestinationFactory, destinationKinds, destinationString, withDestination } from './helpers.ts';

type Json = Record<string, unknown>;

const { kinds, missing } = destinationKinds();
const factory = new DestinationFactory();
const dir = mkdtempSync(join(tmpdir(), 'scimkit-e2e-'));
after(async () => {
  await factory.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

if (missing) it('runs against PostgreSQL under CI', () => assert.fail(missing));

const cli = (args: string[], env: NodeJS.ProcessEnv = {}) =>
  spawnSync(process.execPath, ['bin/scimkit.mjs', ...args], { encoding: 'utf8', timeout: 120_000, env: { ...process.env, ...env } });

interface Server {
  child: ChildProcess;
  base: string;
  token: string;
}

/** Creates an organization in a fresh server database and starts `scimkit serve` on a free port. */
async function startServer(name: string, readLimit: number): Promise<Server> {
  const db = join(dir, `${name}.db`);
  const created = cli(['orgs', 'create', name, '--json', '--db', db, '--read-limit', String(readLimit), '--write-limit', '1000']);
  assert.equal(created.status, 0, created.stderr);
  const org = JSON.parse(created.stdout.trim().split('\n').pop() as string) as { id: string; token: string };
  const child = spawn(process.execPath, ['bin/scimkit.mjs', 'serve', '--db', db, '--port', '0', '--log-level', 'warn'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const origin = await new Promise<string>((resolve, reject) => {
    child.stdout?.on('data', (d) => {
      output += d;
      const m = /listening on (http:\/\/\S+)/.exec(output);
      if (m) resolve(m[1]);
    });
    child.stderr?.on('data', (d) => (output += d));
    child.on('exit', (code) => reject(new Error(`scimkit serve exited with ${code}:\n${output}`)));
  });
  return { child, base: `${origin}/scim/v2/organizations/${org.id}`, token: org.token };
}

async function stopServer(s: Server): Promise<void> {
  if (s.child.exitCode !== null) return;
  const exited = new Promise((r) => s.child.once('exit', r));
  s.child.kill('SIGTERM');
  await exited;
}

function client(s: Server): HttpClient {
  return new HttpClient({ baseUrl: s.base, token: s.token, timeoutMs: 30_000, retryAttempts: 5, logger: silentLogger, redact: (x) => x });
}

/** Everything the server holds, read over HTTP page by page. */
async function serverData(s: Server): Promise<{ users: Map<string, Json>; groups: Map<string, Json> }> {
  const http = client(s);
  try {
    const read = async (endpoint: string) => {
      const out = new Map<string, Json>();
      for (let start = 1; ; start += 200) {
        const body = (await http.get(endpoint, { startIndex: start, count: 200 })).body as { Resources?: Json[] };
        const page = body.Resources ?? [];
        for (const r of page) out.set(String(r.id), r);
        if (page.length === 0) return out;
      }
    };
    return { users: await read('/Users'), groups: await read('/Groups') };
  } finally {
    await http.close();
  }
}

async function assertEqualsServer(d: DestinationUrl, s: Server): Promise<void> {
  const { users, groups } = await serverData(s);
  await withDestination(d, async (dest) => {
    const rows = await dest.readRows('users');
    const live = rows.filter((r) => r._deleted === false);
    assert.deepEqual(live.map((r) => r.id).sort(), [...users.keys()].sort(), 'live users equal the server');
    for (const r of live) {
      const src = users.get(String(r.id)) as Json;
      assert.equal(r.user_name, src.userName);
      assert.equal(r.title, src.title ?? null);
      assert.equal((r.raw as Json).groups, undefined, 'users.raw leaves out the groups relation (group_members holds it, current)');
      assert.equal(r.last_modified, new Date(String((src.meta as Json).lastModified)).toISOString());
    }
    const g = await dest.readRows('groups');
    assert.deepEqual(g.filter((r) => r._deleted === false).map((r) => r.id).sort(), [...groups.keys()].sort(), 'live groups equal the server');
    const memberRows = (await dest.readRows('group_members')).filter((m) => m._deleted === false);
    const members = memberRows.map((m) => `${m.group_id}/${m.member_id}/${m.display}`).sort();
    const expected = [...groups.values()].flatMap((grp) => ((grp.members as Json[]) ?? []).map((m) => `${grp.id}/${m.value}/${m.display}`)).sort();
    assert.deepEqual(members, expected, 'live memberships, with their display, equal the server');
    for (const row of g.filter((r) => r._deleted === false)) {
      assert.equal(row.member_count, ((groups.get(String(row.id))?.members as Json[]) ?? []).length, `member_count of ${row.display_name} equals the server`);
    }
  });
}

function writeConfig(name: string, s: Server, d: DestinationUrl, extra: Json = {}): string {
  const path = join(dir, `${name}.json`);
  writeFileSync(path, JSON.stringify({ bearer_token: s.token, provider: 'scim', base_url: s.base, destination: destinationString(d), max_records_per_page: 50, ...extra }));
  return path;
}

function syncCli(configPath: string): SyncSummary {
  const r = cli(['sync', '--config', configPath, '--json']);
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout.trim().split('\n').pop() as string) as SyncSummary;
}

for (const kind of kinds) {
  describe(`end to end against scimkit serve, into ${kind}`, () => {
    let server: Server;
    before(async () => {
      server = await startServer(`acme-${kind}`, 1000);
      const seeded = cli(['seed', '--url', server.base, '--users', '180', '--groups', '9', '--members-per-group', '12', '--big-group', '150', '--json'], { SCIMKIT_TOKEN: server.token });
      assert.equal(seeded.status, 0, seeded.stderr);
      assert.deepEqual(JSON.parse(seeded.stdout.trim()).users, 180);
    });
    after(() => stopServer(server));

    it('syncs in full, then incrementally with changes, deletes and membership removals as soft deletes', async () => {
      const d = await factory.create(kind);
      const configPath = writeConfig(`full-${kind}`, server, d);
      const first = syncCli(configPath);
      assert.equal(first.tables.users.inserted, 180);
      assert.equal(first.tables.groups.inserted, 10);
      assert.equal(first.tables.group_members.inserted, 9 * 12 + 150);
      await assertEqualsServer(d, server);

      const { users, groups } = await serverData(server);
      const userIds = [...users.keys()];
      const big = [...groups.values()].find((g) => g.displayName === 'Everyone') as Json;
      const small = [...groups.values()].find((g) => g.displayName !== 'Everyone') as Json;
      const removedMember = String(((big.members as Json[])[0]).value);
      const http = client(server);
      await http.request('PATCH', `/Users/${userIds[5]}`, { body: { schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'], Operations: [{ op: 'replace', path: 'title', value: 'Chief Synchronisation Officer' }] } });
      await http.request('DELETE', `/Users/${userIds[9]}`);
      // The server moves neither a group's lastModified for a member's rename nor for its deletion: a group that
      // nothing else touches must still show the new name and lose the member.
      const untouched = [...groups.values()].find((g) => g.displayName !== 'Everyone' && g.id !== small.id) as Json;
      const [renamed, deleted] = (untouched.members as Json[]).map((m) => String(m.value)).filter((id) => id !== userIds[9] && id !== userIds[5]);
      await http.request('PATCH', `/Users/${renamed}`, { body: { schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'], Operations: [{ op: 'replace', path: 'displayName', value: 'Renamed Member' }] } });
      await http.request('DELETE', `/Users/${deleted}`);
      await http.request('PATCH', `/Groups/${big.id}`, { body: { schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'], Operations: [{ op: 'remove', path: `members[value eq "${removedMember}"]` }] } });
      await http.request('DELETE', `/Groups/${small.id}`);
      await http.request('POST', '/Users', { body: { schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'], userName: 'late.joiner@example.com' } });
      await http.close();

      const second = syncCli(configPath);
      assert.deepEqual(second.strategies, { users: 'incremental', groups: 'incremental' });
      assert.equal(second.tables.users.inserted, 1);
      assert.ok(second.tables.users.updated >= 1);
      assert.equal(second.tables.users.softDeleted, 2);
      assert.equal(second.tables.groups.softDeleted, 1);
      assert.ok(second.tables.group_members.softDeleted >= 2, 'the removed membership and the deleted group\'s ones');
      await assertEqualsServer(d, server);
      await withDestination(d, async (dest) => {
        const u = (await dest.readRows('users')).find((r) => r.id === userIds[5]) as Json;
        assert.equal(u.title, 'Chief Synchronisation Officer');
        const gone = (await dest.readRows('users')).find((r) => r.id === userIds[9]) as Json;
        assert.equal(gone._deleted, true);
        const m = (await dest.readRows('group_members')).find((r) => r.group_id === big.id && r.member_id === removedMember) as Json;
        assert.equal(m._deleted, true);
      });

      const third = syncCli(configPath);
      assert.equal(third.tables.users.inserted + third.tables.users.updated + third.tables.users.softDeleted, 0, 'a quiet source changes nothing');
    });

    it('stays within a read limit of 5 requests per second and still copies everything', async () => {
      const limited = await startServer(`limited-${kind}`, 5);
      try {
        const seeded = cli(['seed', '--url', limited.base, '--users', '60', '--groups', '4', '--members-per-group', '5'], { SCIMKIT_TOKEN: limited.token });
        assert.equal(seeded.status, 0, seeded.stderr);
        const d = await factory.create(kind);
        const summary = syncCli(writeConfig(`limited-${kind}`, limited, d, { max_records_per_page: 10 }));
        assert.ok(summary.requests > 10);
        await assertEqualsServer(d, limited);
      } finally {
        await stopServer(limited);
      }
    });
  });
}
