/**
 * `scimkit airbyte`: every message it prints is a valid Airbyte protocol message; the records, applied the way
 * Airbyte's deduplicating destinations apply them, equal the tables `scimkit sync` writes from the same source
 * (the same engine), full and incremental, deletes included; a read killed mid-way and resumed from its last STATE
 * ends where an uninterrupted one does; and failures are TRACE errors that tell a config error from the rest.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it, type TestContext } from 'node:test';
import { CONFIG_KEYS, parseConfig } from '../../../src/connector/config.ts';
import { PLATFORM_OMITTED_KEYS } from '../../../src/connector/platforms/settings.ts';
import { createRedactor } from '../../../src/connector/log.ts';
import { airbyteRead, parseConfiguredCatalog } from '../../../src/connector/platforms/airbyte.ts';
import { isLegacyHash, legacyHash, mapUser } from '../../../src/connector/mapping.ts';
import { GROUPS_TABLE, USERS_TABLE, type Cell, type TableName } from '../../../src/connector/tables.ts';
import { FakeProvider, type FakeOptions } from '../fake-provider.ts';
import { DestinationFactory, rawConfig, sync, TOKEN, withDestination } from '../helpers.ts';
import { AirbyteWarehouse, byType, configuredCatalog, liveRows, parseMessages, type Json } from './airbyte-harness.ts';

const ALL: TableName[] = ['users', 'groups', 'group_members'];
const factory = new DestinationFactory();
const dir = mkdtempSync(join(tmpdir(), 'scimkit-airbyte-'));
after(async () => {
  await factory.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

interface Setup {
  p: FakeProvider;
  /** The same source synced by `scimkit sync`, for comparison. */
  cli: () => Promise<void>;
  raw: Json;
  url: Awaited<ReturnType<DestinationFactory['create']>>;
}

async function setup(t: TestContext, opts: Partial<FakeOptions> = {}): Promise<Setup> {
  const p = await new FakeProvider({ token: TOKEN, staleGroups: true, ...opts }).start();
  t.after(() => p.stop());
  p.populate(36, 5, 9);
  const url = await factory.create('sqlite');
  const raw = rawConfig(p, url, { max_records_per_page: 10 });
  return { p, raw, url, cli: async () => void (await sync(parseConfig(raw))) };
}

/** One `read` in this process; returns its messages (every one validated). */
async function read(raw: Json, streams: TableName[], state?: unknown, mode: 'incremental' | 'full_refresh' = 'incremental'): Promise<{ messages: Json[]; failed: string | null }> {
  let out = '';
  const failed = await airbyteRead({
    config: parseConfig(raw),
    streams: parseConfiguredCatalog(configuredCatalog(streams, mode)),
    state,
    write: (s) => void (out += s),
    redact: createRedactor([TOKEN]),
  });
  return { messages: parseMessages(out, TOKEN), failed };
}

async function assertSameAsCli(w: AirbyteWarehouse, s: Setup, tables: TableName[] = ALL): Promise<void> {
  await withDestination(s.url, async (d) => {
    for (const table of tables) assert.deepEqual(w.rows(table), await liveRows(d, table), `${table} under Airbyte equals ${table} from scimkit sync`);
  });
}

const records = (messages: Json[], stream?: string): Json[] =>
  byType(messages, 'RECORD').map((m) => m.record as Json).filter((r) => !stream || r.stream === stream).map((r) => r.data as Json);

describe('scimkit airbyte read', () => {
  it('sends what scimkit sync writes, then only changes and deletes, with a STATE after every page', async (t) => {
    const s = await setup(t);
    const w = new AirbyteWarehouse();
    const first = await read(s.raw, ALL);
    assert.equal(first.failed, null, JSON.stringify(byType(first.messages, 'TRACE')));
    // Small state: one STATE per stream after every committed page (users: 4 pages of 10, groups: 1).
    const states = byType(first.messages, 'STATE');
    assert.ok(states.length >= 3 * 5, `${states.length} STATE messages`);
    const types = first.messages.map((m) => m.type).filter((x) => x !== 'LOG');
    assert.equal(types.at(-1), 'STATE', 'the read ends with its state');
    w.apply(first.messages, true);
    await s.cli();
    await assertSameAsCli(w, s);
    assert.equal(w.rows('users').size, 36);

    // Changes: a title, a rename (the stale-groups server leaves the groups' lastModified alone), a deleted user,
    // a removed member, a deleted group, a new user in a group.
    const [u1, u2, u3] = [...s.p.users.keys()];
    s.p.updateUser(u1, { title: 'Director' });
    s.p.updateUser(u2, { displayName: 'Renamed Person' });
    s.p.deleteUser(u3);
    const [g1, g2] = [...s.p.groups.keys()];
    const g1Members = ((s.p.groups.get(g1) as Json).members as Json[]).map((m) => String(m.value));
    s.p.setMembers(g1, g1Members.slice(1));
    s.p.deleteGroup(g2);
    const added = s.p.addUser();
    s.p.setMembers(g1, [...g1Members.slice(1), String(added.id)]);

    const second = await read(s.raw, ALL, w.stateFile());
    assert.equal(second.failed, null);
    const users = records(second.messages, 'users');
    assert.deepEqual(users.filter((r) => !r._ab_cdc_deleted_at).map((r) => r.id).sort(), [u1, u2, String(added.id)].sort(), 'only changed users are sent');
    assert.deepEqual(users.filter((r) => r._ab_cdc_deleted_at).map((r) => r.id), [u3], 'the deleted user is sent as a delete');
    assert.ok(records(second.messages, 'groups').some((r) => r.id === g2 && r._ab_cdc_deleted_at), 'the deleted group is sent as a delete');
    const renamed = records(second.messages, 'group_members').filter((r) => r.member_id === u2 && !r._ab_cdc_deleted_at);
    assert.ok(renamed.length > 0 && renamed.every((r) => r.display === 'Renamed Person'), 'memberships of the renamed user show the new name');
    w.apply(second.messages, true);
    await s.cli();
    await assertSameAsCli(w, s);

    const third = await read(s.raw, ALL, w.stateFile());
    assert.equal(third.failed, null);
    assert.equal(records(third.messages).length, 0, 'an unchanged source sends no records');

    // The users stream is reset in Airbyte: its rows are cleared and its state is null. The next read sends it again.
    w.reset('users');
    const afterReset = await read(s.raw, ALL, w.stateFile());
    assert.equal(afterReset.failed, null, JSON.stringify(byType(afterReset.messages, 'TRACE')));
    assert.equal(records(afterReset.messages, 'users').length, s.p.users.size, 'the reset stream is read again in full');
    w.apply(afterReset.messages, true);
    await assertSameAsCli(w, s);
  });

  it('a state whose known hashes an earlier mapping version wrote sends no records for unchanged rows', async (t) => {
    const s = await setup(t);
    // Full scans: every row is read and compared each time.
    const raw = { ...s.raw, enable_incremental_sync: false };
    const w = new AirbyteWarehouse();
    const first = await read(raw, ALL);
    assert.equal(first.failed, null);
    w.apply(first.messages, true);
    // The state as version 1 wrote it: the same rows, their hashes over the values.
    const legacy = w.stateFile().map((entry) => {
      const blob = (entry.stream as Json).stream_state as Json;
      if (!Object.hasOwn(blob, 'known')) return entry;
      const known = blob.known as { users: [string, string, string | null][]; groups: [string, string, Cell[]][] };
      known.users = known.users.map(([id, , display]) => [id, legacyHash(USERS_TABLE, mapUser(s.p.users.get(id) as Json).values), display]);
      known.groups = known.groups.map(([id, , values]) => [id, legacyHash(GROUPS_TABLE, values), values]);
      return entry;
    });
    const [changed] = [...s.p.users.keys()];
    s.p.updateUser(changed, { title: 'Director' });
    const second = await read(raw, ALL, legacy);
    assert.equal(second.failed, null);
    assert.deepEqual(records(second.messages).map((r) => r.id ?? r.member_id), [changed], 'only the changed user is sent');
    w.apply(second.messages, true);
    const hashes = (byType(second.messages, 'STATE').map((m) => (((m.state as Json).stream as Json).stream_state as Json)).filter((b) => Object.hasOwn(b, 'known')).at(-1) as Json).known as Json;
    assert.ok((hashes.users as [string, string][]).every(([, hash]) => !isLegacyHash(hash)), 'the state now holds current hashes');
    const third = await read(raw, ALL, w.stateFile());
    assert.equal(records(third.messages).length, 0);
  });

  it('full_refresh sends every row each time, and a subset of streams only those', async (t) => {
    const s = await setup(t);
    await s.cli();
    for (let run = 0; run < 2; run++) {
      const r = await read(s.raw, ALL, undefined, 'full_refresh');
      assert.equal(r.failed, null);
      const w = new AirbyteWarehouse();
      w.apply(r.messages, true);
      await assertSameAsCli(w, s);
      assert.equal(records(r.messages, 'users').length, 36);
    }
    const only = await read(s.raw, ['group_members']);
    assert.deepEqual(new Set(records(only.messages).map(() => 'group_members')), new Set(['group_members']));
    assert.deepEqual(new Set(byType(only.messages, 'RECORD').map((m) => (m.record as Json).stream)), new Set(['group_members']));
    const w = new AirbyteWarehouse();
    w.apply(only.messages, true);
    await assertSameAsCli(w, s, ['group_members']);
  });

  it('fails with TRACE errors that tell config errors from the rest, and never shows the token', async (t) => {
    const s = await setup(t, { echoCredentials: true });
    const refused = await read({ ...s.raw, bearer_token: `${TOKEN}-wrong` }, ALL);
    const trace = byType(refused.messages, 'TRACE')[0]?.trace as Json;
    assert.equal(refused.failed, 'config');
    assert.equal((trace.error as Json).failure_type, 'config_error', 'a refused token is a config error');

    s.p.inject({ kind: 'status', status: 503, times: 1000 });
    const down = await read({ ...s.raw, retry_attempts: 1 }, ALL);
    assert.equal(down.failed, 'transient');
    assert.equal(((byType(down.messages, 'TRACE')[0].trace as Json).error as Json).failure_type, 'transient_error');
    s.p.faults.length = 0;

    const damaged = await read(s.raw, ALL, [{ type: 'STREAM', stream: { stream_descriptor: { name: 'users' }, stream_state: { v: 1, seq: 3, known: { users: 'nope' } } } }]);
    assert.equal(damaged.failed, 'config', 'a damaged state is a config error (reset the connection)');
    assert.equal(records(damaged.messages).length, 0);
  });
});

describe('scimkit airbyte (the command)', () => {
  /** Runs the command as a process (asynchronously: the fake provider answers from this process). */
  const run = (args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> => new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['bin/scimkit.mjs', 'airbyte', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('exit', (status) => resolve({ status, stdout, stderr }));
  });

  it('spec, discover and check print valid messages; secrets are marked; a bad config is a config error', async (t) => {
    const s = await setup(t);
    const configPath = join(dir, 'config.json');
    writeFileSync(configPath, JSON.stringify(s.raw));

    const spec = await run(['spec']);
    assert.equal(spec.status, 0, spec.stderr);
    const [specMsg] = parseMessages(spec.stdout);
    const props = ((specMsg.spec as Json).connectionSpecification as Json).properties as Record<string, Json>;
    assert.equal(props.bearer_token.airbyte_secret, true);
    assert.ok(Object.values(props).filter((p) => p.airbyte_secret).length === 1, 'only the token is secret');
    const omitted: readonly string[] = PLATFORM_OMITTED_KEYS;
    assert.deepEqual(Object.keys(props).sort(), CONFIG_KEYS.filter((k) => !omitted.includes(k)).sort(), 'every key of the config file but those the docs say the platform decides');

    const discover = await run(['discover', '--config', configPath]);
    assert.equal(discover.status, 0, discover.stderr);
    const streams = ((parseMessages(discover.stdout)[0].catalog as Json).streams as Json[]);
    assert.deepEqual(streams.map((x) => x.name), ALL);
    for (const x of streams) {
      assert.deepEqual(x.supported_sync_modes, ['full_refresh', 'incremental']);
      assert.equal(x.source_defined_cursor, true);
    }
    assert.deepEqual(streams[2].source_defined_primary_key, [['group_id'], ['member_id']]);

    const check = await run(['check', '--config', configPath]);
    assert.equal(check.status, 0, check.stderr);
    const status = byType(parseMessages(check.stdout, TOKEN), 'CONNECTION_STATUS')[0].connectionStatus as Json;
    assert.equal(status.status, 'SUCCEEDED');

    writeFileSync(configPath, JSON.stringify({ ...s.raw, bearer_token: `${TOKEN}-wrong` }));
    const refused = await run(['check', '--config', configPath]);
    const failed = byType(parseMessages(refused.stdout, TOKEN), 'CONNECTION_STATUS')[0].connectionStatus as Json;
    assert.equal(failed.status, 'FAILED');
    assert.match(String(failed.message), /401/);

    writeFileSync(configPath, JSON.stringify({ ...s.raw, max_records_per_page: 'lots' }));
    const bad = await run(['read', '--config', configPath, '--catalog', configPath]);
    assert.equal(bad.status, 2);
    const error = (byType(parseMessages(bad.stdout, TOKEN), 'TRACE')[0].trace as Json).error as Json;
    assert.equal(error.failure_type, 'config_error');
    assert.match(String(error.message), /max_records_per_page/);
  });

  it('a read killed mid-way resumes from its last STATE and ends where an uninterrupted read does', async (t) => {
    const s = await setup(t, { delayMs: 4 });
    s.p.populate(60, 6, 30);
    const configPath = join(dir, 'resume-config.json');
    const catalogPath = join(dir, 'resume-catalog.json');
    const statePath = join(dir, 'resume-state.json');
    writeFileSync(configPath, JSON.stringify(s.raw));
    writeFileSync(catalogPath, JSON.stringify(configuredCatalog(ALL)));

    const reference = new AirbyteWarehouse();
    reference.apply((await read(s.raw, ALL)).messages, true);

    /** Runs `read` as a process; kills it with SIGKILL right after its `killAt`-th STATE line, if it gets there. */
    const readProcess = (w: AirbyteWarehouse, killAt: number): Promise<'killed' | 'finished'> => new Promise((resolve, reject) => {
      writeFileSync(statePath, JSON.stringify(w.stateFile()));
      const child = spawn(process.execPath, ['bin/scimkit.mjs', 'airbyte', 'read', '--config', configPath, '--catalog', catalogPath, '--state', statePath], { stdio: ['ignore', 'pipe', 'pipe'] });
      let buffer = '';
      let taken = '';
      let states = 0;
      let killed = false;
      let stderr = '';
      child.stderr.on('data', (d) => (stderr += d));
      child.stdout.on('data', (d: Buffer) => {
        if (killed) return;
        buffer += d.toString('utf8');
        let nl: number;
        while (!killed && (nl = buffer.indexOf('\n')) >= 0) {
          const line = buffer.slice(0, nl + 1);
          buffer = buffer.slice(nl + 1);
          taken += line;
          if (line.startsWith('{"type":"STATE"') && ++states === killAt) {
            killed = true;
            child.kill('SIGKILL');
          }
        }
      });
      child.on('error', reject);
      child.on('exit', (code) => {
        try {
          // What was printed before the kill reaches the platform; what follows the last STATE is not committed.
          w.apply(parseMessages(taken, TOKEN), !killed);
          if (!killed) assert.equal(code, 0, stderr);
          resolve(killed ? 'killed' : 'finished');
        } catch (err) {
          reject(err);
        }
      });
    });

    const w = new AirbyteWarehouse();
    const outcomes: string[] = [];
    while (outcomes.filter((o) => o === 'killed').length < 6 && outcomes.length < 30) outcomes.push(await readProcess(w, 1 + Math.floor(Math.random() * 12)));
    assert.ok(outcomes.filter((o) => o === 'killed').length >= 6, outcomes.join(','));
    assert.equal(await readProcess(w, Infinity), 'finished');
    for (const table of ALL) assert.deepEqual(w.rows(table), reference.rows(table), `${table} after kills equals ${table} of an uninterrupted read`);
    await s.cli();
    await assertSameAsCli(w, s);
  });
});
