/**
 * `scimkit airbyte` as the Airbyte platform runs it, against a real scimkit server on loopback: each command is its
 * own process, every line it prints on stdout is validated against the protocol's message schema, and the records
 * are applied the way a deduplicating destination applies them, with the states the platform keeps handed to the
 * next read. The warehouse must equal the server's data (and `scimkit sync`'s tables) after a first read and again
 * after changes and deletes, which the second read must send and nothing else.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CDC_DELETED_AT } from '../../../src/connector/platforms/airbyte.ts';
import { silentLogger } from '../../../src/connector/log.ts';
import { seed } from '../../../src/connector/seed.ts';
import type { TableName } from '../../../src/connector/tables.ts';
import { startHarness, type Harness } from '../../server/helpers.ts';
import { DestinationFactory } from '../helpers.ts';
import { AirbyteWarehouse, byType, configuredCatalog, parseMessages, rowKey, type Json } from './airbyte-harness.ts';
import { assertWarehouseEqualsServer, serverApi } from './server-check.ts';

const ALL: TableName[] = ['users', 'groups', 'group_members'];
const dir = mkdtempSync(join(tmpdir(), 'scimkit-airbyte-server-'));
const factory = new DestinationFactory();
let server: Harness;

before(async () => {
  server = await startHarness();
  await seed({ baseUrl: server.base, token: server.token, users: 40, groups: 4, membersPerGroup: 10, bigGroupMembers: 25, seed: 11, concurrency: 2, logger: silentLogger });
});
after(async () => {
  await server.close();
  await factory.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

/** Runs `scimkit airbyte ARGS` as a process; its stdout as validated messages (no line holds the token). */
function airbyte(args: string[]): Promise<{ status: number | null; messages: Json[]; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['bin/scimkit.mjs', 'airbyte', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (d: string) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('exit', (status) => {
      try {
        resolve({ status, messages: parseMessages(stdout, server.token), stderr });
      } catch (err) {
        reject(err);
      }
    });
  });
}

const PATCH = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';
const patch = (ops: Json[]) => ({ body: { schemas: [PATCH], Operations: ops } });

describe('scimkit airbyte against a real scimkit server', () => {
  it('spec, check, discover and read as processes: the warehouse equals the server, then only changes and deletes arrive', async (t) => {
    const configPath = join(dir, 'config.json');
    const catalogPath = join(dir, 'catalog.json');
    const statePath = join(dir, 'state.json');
    writeFileSync(configPath, JSON.stringify({ bearer_token: server.token, provider: 'scim', base_url: server.base, max_records_per_page: 7 }));
    writeFileSync(catalogPath, JSON.stringify(configuredCatalog(ALL)));

    const spec = await airbyte(['spec']);
    assert.equal(spec.status, 0, spec.stderr);
    assert.deepEqual(spec.messages.map((m) => m.type), ['SPEC']);
    const check = await airbyte(['check', '--config', configPath]);
    assert.equal(check.status, 0, check.stderr);
    assert.equal((byType(check.messages, 'CONNECTION_STATUS')[0].connectionStatus as Json).status, 'SUCCEEDED');
    const discover = await airbyte(['discover', '--config', configPath]);
    assert.deepEqual(((byType(discover.messages, 'CATALOG')[0].catalog as Json).streams as Json[]).map((s) => s.name), ALL);

    const w = new AirbyteWarehouse();
    /** One read with the state the platform kept, applied to the warehouse as a successful run. */
    const read = async () => {
      writeFileSync(statePath, JSON.stringify(w.stateFile()));
      const r = await airbyte(['read', '--config', configPath, '--catalog', catalogPath, '--state', statePath]);
      assert.equal(r.status, 0, r.stderr);
      assert.equal(byType(r.messages, 'TRACE').length, 0, 'no TRACE error');
      w.apply(r.messages, true);
      return byType(r.messages, 'RECORD').map((m) => m.record as Json);
    };

    const first = await read();
    assert.equal(first.filter((r) => r.stream === 'users').length, 40);
    assert.ok(first.every((r) => (r.data as Json)[CDC_DELETED_AT] === null), 'a first read deletes nothing');
    await assertWarehouseEqualsServer(server, factory, (table) => w.rows(table));

    // Changes at the source: a title, a rename, a deleted user, a removed member, a deleted group.
    const http = serverApi(server);
    t.after(() => http.close());
    const users = [...w.rows('users').values()].map((u) => String(u.id));
    const small = [...w.rows('groups').values()].filter((g) => Number(g.member_count) > 1 && Number(g.member_count) < 25).map((g) => String(g.id));
    const [g1, g2] = small;
    const members = [...w.rows('group_members').values()];
    const g1Member = String((members.find((m) => m.group_id === g1) as Json).member_id);
    const renamed = String((members.find((m) => m.group_id !== g1 && m.group_id !== g2 && m.member_id !== users[0]) as Json).member_id);
    const deleted = users.find((u) => u !== users[0] && u !== renamed && u !== g1Member) as string;
    await http.request('PATCH', `/Users/${users[0]}`, patch([{ op: 'replace', path: 'title', value: 'Director' }]));
    await http.request('PATCH', `/Users/${renamed}`, patch([{ op: 'replace', path: 'displayName', value: 'Renamed Person' }]));
    await http.request('DELETE', `/Users/${deleted}`);
    await http.request('PATCH', `/Groups/${g1}`, patch([{ op: 'remove', path: `members[value eq "${g1Member}"]` }]));
    await http.request('DELETE', `/Groups/${g2}`);

    const before = new Map(ALL.map((x) => [x, w.rows(x)]));
    const second = await read();
    const deletes = (stream: string) => second.filter((r) => r.stream === stream && (r.data as Json)[CDC_DELETED_AT] !== null);
    assert.deepEqual(deletes('users').map((r) => (r.data as Json).id), [deleted], 'the deleted user, as a record with _ab_cdc_deleted_at');
    assert.deepEqual(deletes('groups').map((r) => (r.data as Json).id), [g2], 'the deleted group');
    assert.ok(deletes('group_members').some((r) => (r.data as Json).group_id === g1 && (r.data as Json).member_id === g1Member), 'the removed member');
    const sentUsers = second.filter((r) => r.stream === 'users' && (r.data as Json)[CDC_DELETED_AT] === null).map((r) => String((r.data as Json).id));
    assert.ok(sentUsers.includes(users[0]) && sentUsers.includes(renamed), 'the changed users are sent');
    // No row is sent that did not change (the server also moves meta.version of users whose groups changed).
    for (const r of second.filter((x) => (x.data as Json)[CDC_DELETED_AT] === null)) {
      const table = String(r.stream) as TableName;
      const key = rowKey(table, r.data as Json);
      assert.notDeepEqual(w.rows(table).get(key), before.get(table)?.get(key), `an unchanged ${table} row was sent: ${key}`);
    }
    await assertWarehouseEqualsServer(server, factory, (table) => w.rows(table));
    const shown = [...w.rows('group_members').values()].filter((m) => m.member_id === renamed);
    assert.ok(shown.length > 0 && shown.every((m) => m.display === 'Renamed Person'), 'the renamed user\'s memberships show the new name');

    assert.equal((await read()).length, 0, 'an unchanged source sends no records');
  });
});
