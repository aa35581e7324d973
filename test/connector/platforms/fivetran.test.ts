/**
 * `scimkit fivetran` as Fivetran sees it: a gRPC client (built from the connector's .proto) calls the four RPCs of
 * a real `scimkit fivetran` process against a real scimkit server on loopback, and applies Update's records and
 * checkpoints into a SQLite file as a warehouse would. The warehouse must equal what `scimkit sync` writes from the
 * same server; a second Update must be incremental, with deletes; and a connector killed mid-Update must resume
 * from the last checkpoint Fivetran kept, with nothing lost.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it, type TestContext } from 'node:test';
import { silentLogger } from '../../../src/connector/log.ts';
import { seed } from '../../../src/connector/seed.ts';
import type { TableName } from '../../../src/connector/tables.ts';
import { startHarness, type Harness } from '../../server/helpers.ts';
import { rowKey } from './airbyte-harness.ts';
import { assertWarehouseEqualsServer, serverApi } from './server-check.ts';
import { connectorClient, FivetranWarehouse, PROTO_SOURCE, unary, type Json } from './fivetran-harness.ts';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { PROTO_OPTIONS, UPDATE_WINDOW } from '../../../src/connector/platforms/fivetran.ts';
import { encodeCheckpoint, encodeRecord } from '../../../src/connector/platforms/fivetran-wire.ts';
import { DestinationFactory } from '../helpers.ts';
import { FakeProvider } from '../fake-provider.ts';

const ALL: TableName[] = ['users', 'groups', 'group_members'];
const dir = mkdtempSync(join(tmpdir(), 'scimkit-fivetran-'));
const factory = new DestinationFactory();
let server: Harness;

before(async () => {
  server = await startHarness();
  await seed({ baseUrl: server.base, token: server.token, users: 45, groups: 4, membersPerGroup: 12, bigGroupMembers: 30, seed: 3, concurrency: 2, logger: silentLogger });
});
after(async () => {
  await server.close();
  await factory.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

interface Connector {
  child: ChildProcess;
  port: number;
  /** Everything it printed on stdout, line by line. */
  lines: string[];
}

/** Starts `scimkit fivetran --port 0` and waits for its listening line. */
async function startConnector(): Promise<Connector> {
  const child = spawn(process.execPath, ['bin/scimkit.mjs', 'fivetran', '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  let buffer = '';
  let stderr = '';
  child.stderr?.on('data', (d) => (stderr += d));
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout?.on('data', (d: Buffer) => {
      buffer += d.toString('utf8');
      let nl: number;
      while ((nl = buffer.indexOf('\n')) >= 0) {
        lines.push(buffer.slice(0, nl));
        buffer = buffer.slice(nl + 1);
        const m = /listening on \S+:(\d+)/.exec(lines.at(-1) as string);
        if (m) resolve(Number(m[1]));
      }
    });
    child.on('exit', (code) => reject(new Error(`scimkit fivetran exited with ${code}: ${stderr}`)));
  });
  return { child, port, lines };
}

async function stopConnector(c: Connector, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (c.child.exitCode !== null || c.child.signalCode !== null) return;
  const exited = new Promise((r) => c.child.once('exit', r));
  c.child.kill(signal);
  await exited;
}

/** An Update call to a started connector, reading 3,000 users at 100 a page from a fake provider; all stop with the test. */
async function updateOf3000Users(t: TestContext, token: string): Promise<{ p: FakeProvider; c: Connector; call: grpc.ClientReadableStream<Json> }> {
  const p = await new FakeProvider({ token }).start();
  t.after(() => p.stop());
  p.populate(3000, 0);
  const c = await startConnector();
  t.after(() => stopConnector(c));
  const client = connectorClient(c.port);
  t.after(() => client.close());
  const call = client.Update({ configuration: configuration({ bearer_token: token, base_url: p.baseUrl, max_records_per_page: '100' }) }) as grpc.ClientReadableStream<Json>;
  return { p, c, call };
}

/** Every stdout line is a log entry in the SDK's format, and none holds the token. */
function assertLogs(c: Connector): void {
  for (const line of c.lines) {
    const entry = JSON.parse(line) as Json;
    assert.deepEqual(Object.keys(entry).sort(), ['level', 'message', 'message-origin']);
    assert.ok(['INFO', 'WARNING', 'SEVERE'].includes(String(entry.level)));
    assert.equal(entry['message-origin'], 'sdk_connector');
    assert.ok(!line.includes(server.token.slice(0, 8)), 'no log line holds the token');
  }
}

/** The configuration map Fivetran sends: every form field, strings, unset ones empty. */
function configuration(extra: Record<string, string> = {}): Record<string, string> {
  return {
    bearer_token: server.token, provider: 'scim', base_url: server.base, org_id: '', region: '', initial_sync_days: '',
    max_records_per_page: '6', request_timeout_seconds: '', retry_attempts: '3', enable_incremental_sync: 'true',
    enable_debug_logging: 'false', max_delete_share: '', rate_limit_share: '', max_response_mb: '', ...extra,
  };
}

/** The warehouse equals the source (read over HTTP now) and what `scimkit sync` writes from it. */
const assertEqualsCli = (w: FivetranWarehouse) => assertWarehouseEqualsServer(server, factory, (t) => w.rows(t));
const api = () => serverApi(server);

const PATCH = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';
const patch = (ops: Json[]) => ({ body: { schemas: [PATCH], Operations: ops } });

describe('Update messages written straight to bytes', () => {
  it('decode with the .proto to what they were made from, for every column type', () => {
    const definition = protoLoader.loadSync('connector_sdk.proto', { ...PROTO_OPTIONS, includeDirs: [PROTO_SOURCE] });
    const decode = (definition['fivetran_sdk.v2.SourceConnector'] as grpc.ServiceDefinition).Update.responseDeserialize as (b: Buffer) => Json;
    const columns = [
      { name: 'id', type: 'text' as const }, { name: 'n', type: 'integer' as const }, { name: 'neg', type: 'integer' as const },
      { name: 'b', type: 'boolean' as const }, { name: 'f', type: 'boolean' as const }, { name: 'at', type: 'timestamp' as const },
      { name: 'epoch', type: 'timestamp' as const }, { name: 'old', type: 'timestamp' as const }, { name: 'raw', type: 'json' as const }, { name: 'none', type: 'text' as const },
    ];
    const long = 'ü€𝄞'.repeat(3000);
    const values = [long, 300, -5, true, false, '2026-12-04T19:51:08.123Z', '1970-01-01T00:00:00.000Z', '1969-12-31T23:59:59.500Z', '{"a":[1,"ü"]}', null];
    const msg = decode(encodeRecord('users', 'UPSERT', columns, values));
    const record = msg.record as Json;
    assert.equal(record.table_name, 'users');
    assert.equal(record.type, 'UPSERT');
    const data = record.data as Record<string, Json>;
    assert.equal(data.id.string, long);
    assert.equal(data.n.long, '300');
    assert.equal(data.neg.long, '-5');
    assert.equal(data.b.bool, true);
    assert.equal(data.f.bool, false);
    assert.deepEqual(data.at.utc_datetime, { seconds: String(Date.parse('2026-12-04T19:51:08Z') / 1000), nanos: 123_000_000 });
    assert.deepEqual(data.epoch.utc_datetime, {});
    assert.deepEqual(data.old.utc_datetime, { seconds: '-1', nanos: 500_000_000 });
    assert.equal(data.raw.json, '{"a":[1,"ü"]}');
    assert.equal(data.none.null, true);
    assert.deepEqual(decode(encodeRecord('group_members', 'DELETE', columns.slice(0, 1), ['g'])).record, { table_name: 'group_members', type: 'DELETE', data: { id: { string: 'g', inner: 'string' } } });
    assert.deepEqual(decode(encodeRecord('groups', 'TRUNCATE', [], [])).record, { table_name: 'groups', type: 'TRUNCATE' });
    assert.deepEqual(decode(encodeCheckpoint(long)).checkpoint, { state_json: long });
  });
});

describe('scimkit fivetran', () => {
  it('ConfigurationForm, Test and Schema', async (t) => {
    const c = await startConnector();
    t.after(() => stopConnector(c));
    const client = connectorClient(c.port);
    t.after(() => client.close());

    const form = await unary(client, 'ConfigurationForm', {});
    const fields = form.fields as Json[];
    const token = fields.find((f) => f.name === 'bearer_token') as Json;
    assert.equal(token.text_field, 'Password', 'the token is a secret field');
    assert.equal(token.required, true);
    assert.deepEqual(fields.filter((f) => f.text_field === 'Password').map((f) => f.name), ['bearer_token']);
    assert.deepEqual((fields.find((f) => f.name === 'provider') as Json).dropdown_field, { dropdown_field: ['contentful', 'contentstack', 'scim'] });
    assert.equal((fields.find((f) => f.name === 'enable_incremental_sync') as Json).type, 'toggle_field');
    assert.deepEqual(form.tests, [{ name: 'connection', label: 'Connecting to the SCIM API' }]);

    assert.deepEqual(await unary(client, 'Test', { name: 'connection', configuration: configuration() }), { success: true, response: 'success' });
    const refused = await unary(client, 'Test', { name: 'connection', configuration: configuration({ bearer_token: `${server.token}x` }) });
    assert.match(String(refused.failure), /401/);
    assert.ok(!String(refused.failure).includes(server.token.slice(0, 8)));
    const invalid = await unary(client, 'Test', { name: 'connection', configuration: configuration({ max_records_per_page: 'many' }) });
    assert.match(String(invalid.failure), /max_records_per_page must be an integer/);

    const schema = await unary(client, 'Schema', { configuration: configuration() });
    // A first Update whose probe fails sends nothing: no TRUNCATE (Fivetran may apply one before any checkpoint,
    // marking the warehouse's rows deleted), no checkpoint, only the error.
    const w = new FivetranWarehouse(join(dir, 'refused.db'), schema);
    t.after(() => w.close());
    const failed = await w.update(client, { configuration: configuration({ bearer_token: `${server.token}x` }) });
    assert.equal(failed.outcome, 'failed');
    assert.equal(failed.error?.code, grpc.status.INVALID_ARGUMENT);
    assert.deepEqual(failed.records, [], 'no record before the probe');
    assert.equal(failed.checkpoints, 0);

    const tables = (schema.without_schema as { tables: { name: string; columns: Json[] }[] }).tables;
    assert.deepEqual(tables.map((x) => x.name), ALL);
    assert.deepEqual(tables[2].columns.filter((col) => col.primary_key).map((col) => col.name), ['group_id', 'member_id']);
    assert.equal(tables[0].columns.find((col) => col.name === 'last_modified')?.type, 'UTC_DATETIME');
    assert.equal(tables[0].columns.find((col) => col.name === 'raw')?.type, 'JSON');
    assert.equal(schema.selection_not_supported, false);
    await stopConnector(c);
    assertLogs(c);
  });

  it('Update equals the source, then sends only changes and deletes; a selection sends only what it names', async (t) => {
    const c = await startConnector();
    t.after(() => stopConnector(c));
    const client = connectorClient(c.port);
    t.after(() => client.close());
    const w = new FivetranWarehouse(join(dir, 'incremental.db'), await unary(client, 'Schema', { configuration: configuration() }));
    t.after(() => w.close());

    const first = await w.update(client, { configuration: configuration() });
    assert.equal(first.outcome, 'finished', first.error?.details);
    assert.deepEqual(first.records.slice(0, 3).map((r) => [r.type, r.table_name]), ALL.map((x) => ['TRUNCATE', x]), 'a first sync starts with TRUNCATE');
    assert.ok(first.checkpoints >= 9, `a checkpoint after each page (${first.checkpoints})`);
    await assertEqualsCli(w);
    assert.equal(w.rows('users').size, 45);

    // Changes at the source: a title, a rename, a deleted user, a removed member, a deleted group, a new user.
    const http = api();
    t.after(() => http.close());
    const users = [...w.rows('users').values()].map((u) => String(u.id));
    const groups = [...w.rows('groups').values()].filter((g) => Number(g.member_count) > 1 && Number(g.member_count) < 30);
    const [g1, g2] = groups.map((g) => String(g.id));
    const g1Member = [...w.rows('group_members').values()].find((m) => m.group_id === g1) as Json;
    const renamed = [...w.rows('group_members').values()].find((m) => m.group_id !== g1 && m.group_id !== g2 && m.member_id !== users[0]) as Json;
    await http.request('PATCH', `/Users/${users[0]}`, patch([{ op: 'replace', path: 'title', value: 'Director' }]));
    await http.request('PATCH', `/Users/${String(renamed.member_id)}`, patch([{ op: 'replace', path: 'displayName', value: 'Renamed Person' }]));
    const deleted = users.find((u) => u !== users[0] && u !== renamed.member_id && u !== g1Member.member_id) as string;
    await http.request('DELETE', `/Users/${deleted}`);
    await http.request('PATCH', `/Groups/${g1}`, patch([{ op: 'remove', path: `members[value eq "${String(g1Member.member_id)}"]` }]));
    await http.request('DELETE', `/Groups/${g2}`);

    const before = new Map(ALL.map((x) => [x, w.rows(x)]));
    const second = await w.update(client, { configuration: configuration() });
    assert.equal(second.outcome, 'finished', second.error?.details);
    assert.ok(!second.records.some((r) => r.type === 'TRUNCATE'), 'no TRUNCATE once the state vouches for the tables');
    const deletes = (table: string) => second.records.filter((r) => r.type === 'DELETE' && r.table_name === table);
    const sentUsers = second.records.filter((r) => r.type === 'UPSERT' && r.table_name === 'users').map((r) => r.data as Record<string, Json>);
    const ids = sentUsers.map((u) => String(u.id.string));
    assert.ok(ids.includes(users[0]) && ids.includes(String(renamed.member_id)), 'the changed users are sent');
    assert.ok(sentUsers.length < 45 / 2, `${sentUsers.length} users sent`);
    // No row is sent that did not change (the server also moves meta.version of users whose groups changed).
    for (const r of second.records.filter((x) => x.type === 'UPSERT')) {
      const table = String(r.table_name) as TableName;
      const data = r.data as Record<string, Json>;
      const key = rowKey(table, Object.fromEntries(Object.keys(data).map((k) => [k, data[k].string])));
      assert.notDeepEqual(w.rows(table).get(key), before.get(table)?.get(key), `an unchanged ${table} row was sent: ${key}`);
    }
    assert.equal(deletes('users').length, 1, 'the deleted user');
    assert.equal(deletes('groups').length, 1, 'the deleted group');
    assert.ok(deletes('group_members').length >= 2, 'the removed member and the deleted group\'s members');
    await assertEqualsCli(w);
    const shown = [...w.rows('group_members').values()].filter((m) => m.member_id === renamed.member_id);
    assert.ok(shown.length > 0 && shown.every((m) => m.display === 'Renamed Person'), 'the renamed user\'s memberships show the new name');

    const third = await w.update(client, { configuration: configuration() });
    assert.equal(third.records.length, 0, 'an unchanged source sends no records');

    // Only users, without the title column: Fivetran gets those and nothing else (the key is always sent).
    const only = new FivetranWarehouse(join(dir, 'selection.db'), await unary(client, 'Schema', { configuration: configuration() }));
    t.after(() => only.close());
    const selection = { without_schema: { include_new_tables: false, tables: [{ table_name: 'users', included: true, include_new_columns: true, columns: { title: false, id: false } }, { table_name: 'groups', included: false }] } };
    const selected = await only.update(client, { configuration: configuration(), selection });
    assert.equal(selected.outcome, 'finished', selected.error?.details);
    assert.deepEqual(new Set(selected.records.map((r) => r.table_name)), new Set(['users']));
    const sent = selected.records.find((r) => r.type === 'UPSERT')?.data as Json;
    assert.ok(sent.id && !sent.title && sent.user_name, 'title is left out, the key is kept');
    await stopConnector(c);
    assertLogs(c);
  });

  it('an Update that Fivetran cancels stops the run and is logged as a warning, not a failure', { timeout: 60_000 }, async (t) => {
    const { c, call } = await updateOf3000Users(t, 'tok-7Hq2xP9vLwZ4');
    call.on('error', () => {});
    await once(call, 'data');
    call.cancel();
    const deadline = Date.now() + 30_000;
    while (!c.lines.some((l) => l.includes('cancelled')) && Date.now() < deadline) await sleep(50);
    const entry = JSON.parse(c.lines.find((l) => l.includes('cancelled')) ?? 'null') as Json | null;
    assert.ok(entry, `no log line about the cancel: ${c.lines.join('')}`);
    assert.equal(entry.level, 'WARNING');
    assert.match(String(entry.message), /update stopped: Fivetran cancelled the Update call; the next Update resumes/);
    assert.ok(!c.lines.some((l) => JSON.parse(l).level === 'SEVERE'), 'a cancel is not logged as a failure');
    assertLogs(c);
  });

  // Without the bound, this test does not finish: hence the timeout.
  it('a client that stops reading holds Update back, and the run completes once it reads again', { timeout: 60_000 }, async (t) => {
    const { p, call } = await updateOf3000Users(t, 'slow-reader-token');
    const finished = new Promise<void>((resolve, reject) => {
      call.on('end', resolve);
      call.on('error', reject);
    });
    let users = 0;
    call.on('data', (m: Json) => {
      const record = m.record as Json | undefined;
      if (record?.table_name === 'users' && record.type === 'UPSERT') users += 1;
    });
    await once(call, 'data');
    call.pause();
    // Unheld, the connector reads all 30 pages in well under this; held, it stops once its window and gRPC's and
    // HTTP/2's buffers are full (UPDATE_WINDOW records, about three pages), a page being written and one read ahead.
    await sleep(2000);
    const pages = p.listRequests().filter((r) => r.path === '/Users' && r.query.get('count') === '100').length;
    assert.ok(pages <= 3 + Math.ceil(UPDATE_WINDOW / 100) + 2, `${pages} pages of users read while the client read nothing`);
    call.resume();
    await finished;
    assert.equal(users, 3000);
  });

  it('a connector killed mid-Update resumes from the last checkpoint with nothing lost', async () => {
    const w = new FivetranWarehouse(join(dir, 'killed.db'), await (async () => {
      const c = await startConnector();
      const client = connectorClient(c.port);
      try {
        return await unary(client, 'Schema', { configuration: configuration() });
      } finally {
        client.close();
        await stopConnector(c);
      }
    })());
    try {
      let kills = 0;
      let attempts = 0;
      for (;;) {
        const c = await startConnector();
        const client = connectorClient(c.port);
        // Kill right after a checkpoint (a random one of the first few), before anything after it is committed.
        const killAt = kills < 5 ? 1 + Math.floor(Math.random() * 4) : Infinity;
        const result = await w.update(client, { configuration: configuration({ max_records_per_page: '2' }) }, (n) => {
          if (n === killAt) c.child.kill('SIGKILL');
        });
        client.close();
        await stopConnector(c);
        attempts += 1;
        if (result.outcome === 'finished') {
          if (killAt === Infinity) break;
        } else {
          assert.equal(c.child.signalCode, 'SIGKILL', `the call failed only because the connector was killed: ${result.error?.details}`);
          kills += 1;
        }
        assert.ok(attempts < 30, 'the kills end');
      }
      assert.ok(kills >= 5, `${kills} kills`);
      await assertEqualsCli(w);
    } finally {
      w.close();
    }
  });
});
