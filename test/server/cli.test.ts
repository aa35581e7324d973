/** `scimkit serve`, `orgs` and `tokens` as real processes over a SQLite file. */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, existsSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { BIN, runCli } from './cli-run.ts';
import { call, user } from './helpers.ts';


const cli = runCli;

interface Served {
  readonly child: ChildProcess;
  readonly origin: string;
  readonly lines: string[];
  readonly exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Starts `scimkit serve` and waits for its "listening on" line. */
async function serve(args: string[]): Promise<Served> {
  const child = spawn(process.execPath, [BIN, 'serve', '--port', '0', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  let stderr = '';
  child.stderr!.on('data', (d) => { stderr += d; });
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  const origin = await new Promise<string>((resolve, reject) => {
    let buffer = '';
    child.stdout!.on('data', (d) => {
      buffer += d;
      let nl;
      while ((nl = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        lines.push(line);
        const m = /^listening on (http:\/\/\S+)$/.exec(line);
        if (m) resolve(m[1]);
      }
    });
    void exit.then(({ code }) => reject(new Error(`serve exited with ${code} before listening: ${stderr}`)));
  });
  return { child, origin, lines, exit };
}

describe('scimkit serve and admin commands', () => {
  let dir: string;
  let db: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'scimkit-cli-'));
    db = join(dir, 'nested', 'scimkit.db');
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('first start creates the default organization, prints its base URL and token once; SIGTERM exits 0', async () => {
    const server = await serve(['--db', db]);
    assert.ok(existsSync(db), 'the database folder is created');
    // Users' data and password hashes: readable by their owner only, however the umask would have it.
    const modes = [dirname(db), db, `${db}-wal`, `${db}-shm`].map((path) => `${path} ${(statSync(path).mode & 0o777).toString(8)}`);
    if (!modes.every((m) => /[0-7]00$/.test(m))) server.child.kill('SIGKILL');
    assert.deepEqual(modes.filter((m) => !/[0-7]00$/.test(m)), []);
    const baseLine = server.lines.find((l) => l.startsWith('SCIM base URL: '));
    const tokenLine = server.lines.find((l) => l.startsWith('Bearer token'));
    assert.ok(baseLine && tokenLine, server.lines.join('\n'));
    const base = baseLine.slice('SCIM base URL: '.length);
    assert.match(base, new RegExp(`^${server.origin}/scim/v2/organizations/[^/]+$`));
    const token = tokenLine.split(': ').pop()!;

    const created = await call(base, 'POST', '/Users', { token, body: user('cli-user') });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.equal(created.headers.get('location'), `${base}/Users/${created.body.id}`);
    const listed = await call(base, 'GET', '/Users', { token });
    assert.equal(listed.body.totalResults, 1);
    assert.equal((await call(server.origin, 'GET', '/healthz')).status, 200);

    server.child.kill('SIGTERM');
    assert.deepEqual(await server.exit, { code: 0, signal: null });

    // A second start finds the organization and prints no token.
    const again = await serve(['--db', db]);
    assert.ok(!again.lines.some((l) => l.startsWith('Bearer token')), again.lines.join('\n'));
    assert.equal((await call(base.replace(server.origin, again.origin), 'GET', `/Users/${created.body.id}`, { token })).status, 200);
    again.child.kill('SIGINT');
    assert.equal((await again.exit).code, 0);
  });

  test('orgs create --json, tokens create/revoke, orgs update and list, against a running server', async () => {
    const server = await serve(['--db', db]);
    try {
      const made = await cli('orgs', 'create', 'Initech', '--read-limit', '7', '--write-limit', '4', '--json', '--db', db);
      assert.equal(made.code, 0, made.stderr);
      const org = JSON.parse(made.stdout.trim());
      assert.equal(typeof org.id, 'string');
      assert.equal(typeof org.token, 'string');
      assert.equal(org.name, 'Initech');
      const base = `${server.origin}/scim/v2/organizations/${org.id}`;
      const res = await call(base, 'GET', '/Users', { token: org.token });
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('x-ratelimit-limit'), '7');

      const ro = await cli('tokens', 'create', org.id, '--scope', 'read', '--json', '--db', db);
      assert.equal(ro.code, 0, ro.stderr);
      const roToken = JSON.parse(ro.stdout.trim());
      assert.equal(roToken.scope, 'read');
      assert.equal((await call(base, 'GET', '/Users', { token: roToken.token })).status, 200);
      assert.equal((await call(base, 'POST', '/Users', { token: roToken.token, body: user('nope') })).status, 403);

      const revoked = await cli('tokens', 'revoke', roToken.id, '--db', db);
      assert.equal(revoked.code, 0, revoked.stderr);
      assert.equal((await call(base, 'GET', '/Users', { token: roToken.token })).status, 401);
      assert.notEqual((await cli('tokens', 'revoke', roToken.id, '--db', db)).code, 0, 'revoking twice reports an error');

      const updated = await cli('orgs', 'update', org.id, '--read-limit', '9', '--write-limit', '30', '--db', db);
      assert.equal(updated.code, 0, updated.stderr);
      const after = await call(base, 'GET', '/Users', { token: org.token });
      assert.equal(after.headers.get('x-ratelimit-limit'), '9');

      const listed = await cli('orgs', 'list', '--json', '--db', db);
      const orgs = JSON.parse(listed.stdout) as { id: string; name: string; settings: { readLimit: number; writeLimit: number } }[];
      assert.deepEqual(orgs.map((o) => o.name).sort(), ['Initech', 'default']);
      assert.deepEqual(orgs.find((o) => o.id === org.id)!.settings.writeLimit, 30);

      const plain = await cli('orgs', 'list', '--db', db);
      assert.match(plain.stdout, new RegExp(`${org.id}\\tInitech\\tread=9/s\\twrite=30/s`));

      // A compatibility switch turned off through the CLI changes how the running server reads requests.
      assert.equal((await call(base, 'POST', '/Users', { token: org.token, body: user('stringly', { active: 'True' }) })).status, 201);
      const compat = await cli('orgs', 'update', org.id, '--compat', 'boolean-strings=off', '--json', '--db', db);
      assert.equal(compat.code, 0, compat.stderr);
      assert.equal(JSON.parse(compat.stdout).settings.compat['boolean-strings'], false);
      const strict = await call(base, 'POST', '/Users', { token: org.token, body: user('stringly-2', { active: 'True' }) });
      assert.equal(strict.status, 400);

      const bad = await cli('orgs', 'update', org.id, '--read-limit', 'lots', '--db', db);
      assert.notEqual(bad.code, 0);
      assert.match(bad.stderr, /positive integer/);
      const unknownCompat = await cli('orgs', 'update', org.id, '--compat', 'no-such-normalizer=on', '--db', db);
      assert.notEqual(unknownCompat.code, 0);
      assert.match(unknownCompat.stderr, /unknown compatibility normalizer/);
      const missing = await cli('tokens', 'create', 'no-such-org', '--db', db);
      assert.notEqual(missing.code, 0);
      assert.match(missing.stderr, /not found/);
      // An error in what the command found is the message alone; an error in how it was called adds the help.
      assert.equal(missing.stderr.trim(), 'error: organization no-such-org not found');
      const missingOrg = await cli('orgs', 'update', 'no-such-org', '--read-limit', '5', '--db', db);
      assert.equal(missingOrg.code, 1);
      assert.equal(missingOrg.stderr.trim(), 'error: organization no-such-org not found');
      assert.match(unknownCompat.stderr, /Usage: scimkit orgs update/);
    } finally {
      server.child.kill('SIGTERM');
      await server.exit;
    }
  });

  test('tokens create --expires-in, tokens rotate --grace, orgs rename, and orgs delete (refused without --yes), against a running server', async () => {
    const server = await serve(['--db', db]);
    try {
      const org = JSON.parse((await cli('orgs', 'create', 'Doomed', '--json', '--db', db)).stdout.trim());
      const base = `${server.origin}/scim/v2/organizations/${org.id}`;
      const ok = async (token: string) => (await call(base, 'GET', '/Users', { token })).status;
      for (const name of ['d1', 'd2']) assert.equal((await call(base, 'POST', '/Users', { token: org.token, body: user(name) })).status, 201);
      assert.equal((await call(base, 'POST', '/Groups', { token: org.token, body: { schemas: ['urn:ietf:params:scim:schemas:core:2.0:Group'], displayName: 'dg' } })).status, 201);

      // Expiry.
      const before = Date.now();
      const expiring = await cli('tokens', 'create', org.id, '--expires-in', '2h', '--json', '--db', db);
      assert.equal(expiring.code, 0, expiring.stderr);
      const expiringToken = JSON.parse(expiring.stdout.trim());
      const expiresAt = Date.parse(expiringToken.expires);
      assert.ok(expiresAt >= before + 7_200_000 && expiresAt <= Date.now() + 7_200_000, expiringToken.expires);
      assert.equal(await ok(expiringToken.token), 200);
      for (const [option, value] of [['--expires-in', '0'], ['--expires-in', '3651d'], ['--expires-in', '2 hours'], ['--expires-in', '-1h']]) {
        const bad = await cli('tokens', 'create', org.id, option, value, '--db', db);
        assert.notEqual(bad.code, 0, `${option} ${value}`);
        assert.match(bad.stderr, /--expires-in/);
      }

      // Rotation: both secrets work during the grace period; a zero grace ends the old one at once.
      const rotated = await cli('tokens', 'rotate', org.tokenId, '--grace', '1h', '--json', '--db', db);
      assert.equal(rotated.code, 0, rotated.stderr);
      const next = JSON.parse(rotated.stdout.trim());
      assert.equal(next.replaced, org.tokenId);
      assert.equal(next.scope, 'read-write');
      assert.equal(await ok(next.token), 200);
      assert.equal(await ok(org.token), 200, 'the old token works during the grace period');
      const listed = await cli('tokens', 'list', org.id, '--db', db);
      assert.match(listed.stdout, new RegExp(`${org.tokenId}\tread-write\t-\tlive until ${next.replacedExpires.replace(/\./g, '\\.')}`));
      const immediate = await cli('tokens', 'rotate', next.id, '--grace', '0', '--json', '--db', db);
      assert.equal(immediate.code, 0, immediate.stderr);
      const newest = JSON.parse(immediate.stdout.trim());
      const refused = await call(base, 'GET', '/Users', { token: next.token });
      assert.equal(refused.status, 401);
      assert.match(refused.body.detail, /expired at/);
      assert.match(refused.headers.get('www-authenticate') ?? '', /error="invalid_token"/);
      assert.equal(await ok(newest.token), 200);
      assert.match((await cli('tokens', 'list', org.id, '--db', db)).stdout, new RegExp(`${next.id}\tread-write\t-\texpired `));
      assert.notEqual((await cli('tokens', 'rotate', next.id, '--grace', '1h', '--db', db)).code, 0, 'an expired token cannot be rotated');
      assert.notEqual((await cli('tokens', 'rotate', newest.id, '--db', db)).code, 0, '--grace is required');

      // Rename.
      const renamed = await cli('orgs', 'rename', org.id, 'Renamed Corp', '--db', db);
      assert.equal(renamed.code, 0, renamed.stderr);
      assert.ok(JSON.parse((await cli('orgs', 'list', '--json', '--db', db)).stdout).some((o: { id: string; name: string }) => o.id === org.id && o.name === 'Renamed Corp'));
      assert.notEqual((await cli('orgs', 'rename', org.id, ' ', '--db', db)).code, 0);

      // Delete: refused without --yes, saying what it would remove; then everything goes.
      const refusedDelete = await cli('orgs', 'delete', org.id, '--db', db);
      assert.notEqual(refusedDelete.code, 0);
      assert.match(refusedDelete.stderr, /refusing to delete organization "Renamed Corp" .* with 2 users, 1 groups and 4 tokens without --yes/);
      assert.equal(await ok(newest.token), 200, 'nothing was deleted');
      const deleted = await cli('orgs', 'delete', org.id, '--yes', '--json', '--db', db);
      assert.equal(deleted.code, 0, deleted.stderr);
      assert.deepEqual(JSON.parse(deleted.stdout.trim()), { id: org.id, name: 'Renamed Corp', users: 2, groups: 1, tokens: 4 });
      assert.equal(await ok(newest.token), 401, 'its tokens are gone, also for the running server');
      assert.ok(!JSON.parse((await cli('orgs', 'list', '--json', '--db', db)).stdout).some((o: { id: string }) => o.id === org.id));
      assert.notEqual((await cli('orgs', 'delete', org.id, '--yes', '--db', db)).code, 0, 'deleting twice reports an error');
    } finally {
      server.child.kill('SIGTERM');
      await server.exit;
    }
  });
});

test('serve --user-cache: the default it shows is the store\'s, and a bad value is refused', async () => {
  const { DEFAULT_USER_CACHE_ENTRIES } = await import('../../src/store/index.ts');
  const help = await cli('serve', '--help');
  assert.equal(help.code, 0);
  assert.match(help.stdout.replace(/\s+/g, ' '), new RegExp(`--user-cache <entries> .*\\(default: ${DEFAULT_USER_CACHE_ENTRIES}, env: [A-Z_]+\\)`));
  const bad = await cli('serve', '--user-cache', '-1');
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr, /--user-cache/);
});

test('serve --trust-proxy: behind a trusted proxy, failed authentications count per forwarded client address', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'scimkit-cli-proxy-'));
  const server = await serve(['--db', join(dir, 'scimkit.db'), '--trust-proxy', '127.0.0.1,::1', '--log-level', 'warn']);
  try {
    const base = server.lines.find((l) => l.startsWith('SCIM base URL: '))!.slice('SCIM base URL: '.length);
    const token = server.lines.find((l) => l.startsWith('Bearer token'))!.split(': ').pop()!;
    const from = (address: string, secret: string) => call(base, 'GET', '/Users', { token: secret, headers: { 'x-forwarded-for': address } });
    // Twelve guesses at once from one client: the default limit (5 per second) refuses some in any one or two windows.
    const guesses = await Promise.all(Array.from({ length: 12 }, (_, i) => from('203.0.113.9', `guess-${i}`)));
    assert.ok(guesses.some((g) => g.status === 429), guesses.map((g) => g.status).join(','));
    assert.equal((await from('203.0.113.10', 'guess-other')).status, 401, 'another client behind the proxy is not blocked');
    assert.equal((await from('203.0.113.9', token)).status, 200, 'a valid token is never refused by the failed-authentication limit');
  } finally {
    server.child.kill('SIGTERM');
    await server.exit;
    rmSync(dir, { recursive: true, force: true });
  }
  const bad = await cli('serve', '--trust-proxy', '10.0.0.0/33');
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr, /--trust-proxy/);
  const help = await cli('serve', '--help');
  assert.match(help.stdout.replace(/\s+/g, ' '), /--trust-proxy <proxies> .*\(default: none, env: [A-Z_]+\)/);
});

test('serve caps connections per address and times out slow requests, as its options say', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'scimkit-cli-conn-'));
  const server = await serve([
    '--db', join(dir, 'scimkit.db'), '--log-level', 'warn',
    '--max-connections-per-address', '2', '--headers-timeout', '0.3', '--request-timeout', '0.6',
  ]);
  const { connect } = await import('node:net');
  const url = new URL(server.origin);
  const open = (localAddress: string) =>
    new Promise<{ closed: Promise<string>; destroy: () => void }>((resolve, reject) => {
      const socket = connect({ host: url.hostname, port: Number(url.port), localAddress }, () => {
        socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n');
        resolve({ closed, destroy: () => socket.destroy() });
      });
      let received = '';
      socket.on('data', (d) => (received += d));
      socket.on('error', reject);
      const closed = new Promise<string>((done) => socket.once('close', () => done(received)));
    });
  try {
    const held = [await open('127.0.0.2'), await open('127.0.0.2')];
    assert.equal(await (await open('127.0.0.2')).closed, '', 'a third connection from one address is closed at once');
    assert.equal((await call(server.origin, 'GET', '/healthz')).status, 200, 'another address is served');
    for (const h of held) assert.match(await h.closed, /^HTTP\/1\.1 408 /, 'a request whose headers never finish times out');
  } finally {
    server.child.kill('SIGTERM');
    await server.exit;
    rmSync(dir, { recursive: true, force: true });
  }
  const help = (await cli('serve', '--help')).stdout.replace(/\s+/g, ' ');
  for (const pattern of [
    /--max-connections <n> .*\(default: (the open-file limit \(\d+\) minus 256, at most 10000: )?\d+, env: [A-Z_]+\)/,
    /--max-connections-per-address <n> .*\(default: 256, env: [A-Z_]+\)/,
    /--headers-timeout <seconds> .*\(default: 10, env: [A-Z_]+\)/,
    /--request-timeout <seconds> .*\(default: 30, env: [A-Z_]+\)/,
    /--keep-alive-timeout <seconds> .*\(default: 72, env: [A-Z_]+\)/,
  ]) assert.match(help, pattern);
  const bad = await cli('serve', '--headers-timeout', '0');
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr, /--headers-timeout/);
});

test('schemas add/list/remove and orgs update --unknown-attributes / --advertise-pagination, against a running server', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'scimkit-cli-schemas-'));
  const db = join(dir, 'scimkit.db');
  const server = await serve(['--db', db, '--log-level', 'warn']);
  try {
    const base = server.lines.find((l) => l.startsWith('SCIM base URL: '))!.slice('SCIM base URL: '.length);
    const token = server.lines.find((l) => l.startsWith('Bearer token'))!.split(': ').pop()!;
    const orgId = base.split('/').pop()!;
    const urn = 'urn:ietf:params:scim:schemas:extension:initech:2.0:User';
    const file = join(dir, 'initech.json');
    writeFileSync(file, JSON.stringify({ id: urn, name: 'Initech', attributes: [{ name: 'tpsCode', type: 'string' }, { name: 'floor', type: 'integer' }] }));

    const added = await cli('schemas', 'add', orgId, file, '--db', db);
    assert.equal(added.code, 0, added.stderr);
    assert.match(added.stdout, new RegExp(`Declared ${urn} \\(2 attributes\\) for Users`));
    const types = await call(base, 'GET', '/ResourceTypes/User', { token });
    assert.ok(types.body.schemaExtensions.some((e: { schema: string }) => e.schema === urn), 'the running server sees it');
    const created = await call(base, 'POST', '/Users', { token, body: user('peter', { [urn]: { tpsCode: 'TPS-1', floor: 4 } }) });
    assert.deepEqual(created.body[urn], { tpsCode: 'TPS-1', floor: 4 });

    const listed = await cli('schemas', 'list', orgId, '--json', '--db', db);
    assert.equal(listed.code, 0, listed.stderr);
    assert.deepEqual(JSON.parse(listed.stdout).map((e: { urn: string; resourceType: string }) => [e.urn, e.resourceType]), [[urn, 'User']]);
    assert.match((await cli('schemas', 'list', orgId, '--db', db)).stdout, new RegExp(`${urn}\\tUser\\ttpsCode,floor`));

    // An invalid document names its problem, and a URN already taken is refused.
    writeFileSync(join(dir, 'bad.json'), JSON.stringify({ id: 'urn:initech:bad', attributes: [{ name: 'x', type: 'text' }] }));
    const bad = await cli('schemas', 'add', orgId, join(dir, 'bad.json'), '--db', db);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /"type" must be one of string/);
    assert.match((await cli('schemas', 'add', orgId, file, '--db', db)).stderr, /already declared/);
    writeFileSync(join(dir, 'broken.json'), '{"id": ');
    assert.match((await cli('schemas', 'add', orgId, join(dir, 'broken.json'), '--db', db)).stderr, /is not JSON/);
    assert.match((await cli('schemas', 'add', orgId, join(dir, 'missing.json'), '--db', db)).stderr, /cannot read/);

    const removed = await cli('schemas', 'remove', orgId, urn, '--db', db);
    assert.equal(removed.code, 0, removed.stderr);
    assert.match(removed.stdout, /1 User\(s\) still hold data under it: it is kept/);
    assert.equal((await call(base, 'GET', `/Users/${created.body.id}`, { token })).body[urn], undefined);
    assert.match((await cli('schemas', 'remove', orgId, urn, '--db', db)).stderr, /No schema extension/);

    // The unknown-attribute policy and the pagination advertisement.
    const strict = await cli('orgs', 'update', orgId, '--unknown-attributes', 'reject', '--advertise-pagination', 'on', '--json', '--db', db);
    assert.equal(strict.code, 0, strict.stderr);
    assert.deepEqual([JSON.parse(strict.stdout).settings.unknownAttributes, JSON.parse(strict.stdout).settings.advertisePagination], ['reject', true]);
    assert.equal((await call(base, 'POST', '/Users', { token, body: user('x', { customField: 1 }) })).status, 400);
    assert.equal((await call(base, 'GET', '/ServiceProviderConfig', { token })).body.pagination.cursor, true);
    assert.notEqual((await cli('orgs', 'update', orgId, '--unknown-attributes', 'drop', '--db', db)).code, 0);
  } finally {
    server.child.kill('SIGTERM');
    await server.exit;
    rmSync(dir, { recursive: true, force: true });
  }
});

test('serve --password-hashing-per-org bounds one organization\'s password hashing; --help shows both hashing options', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'scimkit-cli-hash-'));
  const server = await serve(['--db', join(dir, 'scimkit.db'), '--log-level', 'warn', '--password-hashing-concurrency', '1', '--password-hashing-per-org', '1']);
  try {
    const base = server.lines.find((l) => l.startsWith('SCIM base URL: '))!.slice('SCIM base URL: '.length);
    const token = server.lines.find((l) => l.startsWith('Bearer token'))!.split(': ').pop()!;
    const statuses = (
      await Promise.all(Array.from({ length: 4 }, (_, i) => call(base, 'POST', '/Users', { token, body: user(`hashed-${i}`, { password: `secret-${i}-long enough` }) })))
    ).map((r) => r.status);
    assert.ok(statuses.includes(201) && statuses.includes(429), statuses.join(','));
  } finally {
    server.child.kill('SIGTERM');
    await server.exit;
    rmSync(dir, { recursive: true, force: true });
  }
  const help = (await cli('serve', '--help')).stdout.replace(/\s+/g, ' ');
  assert.match(help, /--password-hashing-concurrency <n> .*\(default: one less than the cores, 1 to 3: [123], env: [A-Z_]+\)/);
  assert.match(help, /--password-hashing-per-org <n> .*\(default: 32, env: [A-Z_]+\)/);
  assert.match(help, /--metrics-max-orgs <n> .*\(default: 1000, env: [A-Z_]+\)/);
  const bad = await cli('serve', '--password-hashing-concurrency', '0');
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr, /--password-hashing-concurrency/);
});

test('commands that read or change what exists refuse a SQLite --db with no database; only the ones that start a deployment create it', async () => {
  // `orgs list --db typo/x.db` created typo/x.db and printed nothing, as if the deployment had no organizations.
  const dir = mkdtempSync(join(tmpdir(), 'scimkit-cli-nodb-'));
  try {
    const missing = join(dir, 'typo', 'x.db');
    const org = '00000000-0000-0000-0000-000000000000';
    for (const args of [
      ['orgs', 'list'], ['orgs', 'update', org, '--read-limit', '5'], ['orgs', 'rename', org, 'Acme'], ['orgs', 'delete', org, '--yes'],
      ['tokens', 'create', org], ['tokens', 'list', org], ['tokens', 'revoke', 'tok'], ['tokens', 'rotate', 'tok', '--grace', '1h'],
      ['schemas', 'list', org], ['schemas', 'remove', org, 'urn:x'], ['roles', 'list', org], ['roles', 'define', org, 'admin'],
      ['keys', 'list'], ['keys', 'create', '--org', org], ['keys', 'revoke', 'key'], ['webhooks', 'list', org],
      ['admins', 'list'], ['admins', 'delete', 'ops@example.com'],
    ]) {
      const r = await cli(...args, '--db', missing);
      assert.equal(r.code, 1, `${args.join(' ')}: ${r.stdout}${r.stderr}`);
      assert.match(r.stderr, /^error: no database at .*typo\/x\.db: scimkit serve \(or openStore in your app\) creates it; give this command the same --db \(SCIMKIT_DB\)$/m, args.join(' '));
      assert.equal(existsSync(join(dir, 'typo')), false, `${args.join(' ')} created the folder`);
    }
    // What a new deployment starts from: an organization, or a key for every organization (which can create them).
    for (const [name, args] of [['org.db', ['orgs', 'create', 'Acme']], ['key.db', ['keys', 'create']]] as const) {
      const file = join(dir, 'new', name);
      const r = await cli(...args, '--db', file);
      assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
      assert.equal(existsSync(file), true, `${args.join(' ')} made no database`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a PostgreSQL that cannot be reached ends a command with the reason in one line, not a stack trace, without the password', async () => {
  const url = 'postgres://app:hunter2@127.0.0.1:1/scim';
  for (const args of [['orgs', 'list'], ['orgs', 'create', 'Acme'], ['events', '00000000-0000-0000-0000-000000000000'], ['deliver']]) {
    const r = await cli(...args, '--postgres', url);
    assert.equal(r.code, 1, `${args.join(' ')}: ${r.stdout}${r.stderr}`);
    assert.equal(r.stderr, 'error: The database is unavailable (PostgreSQL at postgres://***@127.0.0.1:1/scim: connect ECONNREFUSED 127.0.0.1:1); retry later\n', args.join(' '));
  }
});
