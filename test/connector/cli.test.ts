/**
 * The connector's commands as real processes against the fake provider: sync (summary, progress lines, --json,
 * --watch), check, state, reset, and the token kept out of every output, debug logging included.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { FakeProvider } from './fake-provider.ts';
import { assertTablesEqualSource, DestinationFactory, rawConfig, TOKEN, withDestination } from './helpers.ts';

const factory = new DestinationFactory();
const dir = mkdtempSync(join(tmpdir(), 'scimkit-cli-'));
after(async () => {
  await factory.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

/** Runs the CLI without blocking the event loop (the fake provider lives in this process). */
function cli(args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['bin/scimkit.mjs', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('exit', (status) => resolve({ status, stdout, stderr }));
  });
}

function writeConfig(name: string, config: Record<string, unknown>): string {
  const path = join(dir, `${name}.json`);
  writeFileSync(path, JSON.stringify(config));
  return path;
}

describe('connector CLI', () => {
  it('sync prints progress and a summary, state shows the cursors, reset forgets them; the token never shows', async (t) => {
    const p = await new FakeProvider({ token: TOKEN }).start();
    t.after(() => p.stop());
    p.populate(30, 3, 4);
    const d = await factory.create('sqlite');
    const config = writeConfig('main', rawConfig(p, d, { enable_debug_logging: true }));

    const synced = await cli(['sync', '--config', config]);
    assert.equal(synced.status, 0, synced.stderr);
    assert.match(synced.stdout, /sync finished in [\d.]+ s: 33 records, [\d,]+ records\/s \(users: incremental, groups: incremental\)/);
    assert.match(synced.stdout, /^users\s+30\s+0\s+0\s+0$/m);
    assert.match(synced.stdout, /^group_members\s+12\s+0\s+0\s+0$/m);
    assert.match(synced.stdout, /requests \d+, retries 0, 429s 0/);
    assert.match(synced.stderr, /users \(full\): 30\/30 100% records/, 'plain progress lines when not on a terminal');
    assert.match(synced.stderr, /debug GET \/Users\?excludedAttributes=groups&startIndex=1&count=10 -> 200/, 'debug logging shows requests');
    await assertTablesEqualSource(d, p);

    const state = await cli(['state', '--config', config]);
    assert.equal(state.status, 0, state.stderr);
    assert.match(state.stdout, /users: strategy incremental, cursor \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ, last completed /);
    assert.match(state.stdout, /group_members: 12 live rows, 0 soft-deleted/);

    const json = await cli(['sync', '--config', config, '--json']);
    const summary = JSON.parse(json.stdout.trim()) as { tables: { users: { unchanged: number } } };
    assert.equal(summary.tables.users.unchanged, 30);

    const reset = await cli(['reset', '--config', config]);
    assert.equal(reset.status, 0, reset.stderr);
    const states = await withDestination(d, (dest) => dest.loadState());
    assert.equal(states.size, 0, 'reset cleared the state');
    assert.equal((await withDestination(d, (dest) => dest.counts())).users.live, 30, 'reset keeps the data');

    for (const r of [synced, state, json, reset]) {
      assert.ok(!r.stdout.includes(TOKEN) && !r.stderr.includes(TOKEN), 'the token is never printed');
    }
  });

  it('check reports authentication, capabilities and strategies', async (t) => {
    const p = await new FakeProvider({ token: TOKEN, filter: 'invalidFilter', cursorPaging: true, rateLimit: 50 }).start();
    t.after(() => p.stop());
    p.populate(12, 2, 2);
    const d = await factory.create('sqlite');
    const r = await cli(['check', '--config', writeConfig('check', rawConfig(p, d))]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /authentication: ok/);
    assert.match(r.stdout, /paging: cursor, 10 per page/);
    assert.match(r.stdout, /rate limit: 50 requests\/s announced/);
    assert.match(r.stdout, /ServiceProviderConfig: filter yes \(maxResults 1000\), sort no, patch yes, bulk no, etag no, cursor paging yes/);
    assert.match(r.stdout, /users: 12 resources; full scan \(the meta.lastModified filter was refused \(400 Bad Request: Filtering on meta.lastModified is not supported \(scimType invalidFilter\)\)\)/);
  });

  it('a rejected token fails with exit 1, the server\'s explanation, and no token, even with debug logging', async (t) => {
    const p = await new FakeProvider({ token: 'the-right-one', echoCredentials: true }).start();
    t.after(() => p.stop());
    const d = await factory.create('sqlite');
    const config = writeConfig('denied', rawConfig(p, d, { enable_debug_logging: 'true' }));
    for (const command of ['sync', 'check']) {
      const r = await cli([command, '--config', config]);
      assert.equal(r.status, 1);
      assert.match(r.stderr, /401 Unauthorized: invalid credentials: Bearer \[redacted\]/);
      assert.ok(!r.stdout.includes(TOKEN) && !r.stderr.includes(TOKEN), `${command} never prints the token`);
    }
  });

  // 720 h, the largest sync_frequency_hours, is past setTimeout's 24.8 days: such a wait once overflowed to 1 ms.
  for (const hours of [1, 720]) it(`sync --watch runs, then stops cleanly on SIGTERM between runs (every ${hours} h)`, async (t) => {
    const p = await new FakeProvider({ token: TOKEN }).start();
    t.after(() => p.stop());
    p.populate(5, 1, 2);
    const d = await factory.create('sqlite');
    const child = spawn(process.execPath, ['bin/scimkit.mjs', 'sync', '--watch', '--config', writeConfig(`watch-${hours}`, rawConfig(p, d, { sync_frequency_hours: hours }))], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stderr.on('data', (x) => (stderr += x));
    await new Promise<void>((resolve) => child.stdout.on('data', (x) => {
      stdout += x;
      if (stdout.includes('requests ')) resolve();
    }));
    await new Promise<void>((resolve) => {
      const check = () => (stderr.includes(`next sync in ${hours} h`) ? resolve() : setTimeout(check, 20));
      check();
    });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    child.kill('SIGTERM');
    assert.equal(await exited, 0, stderr);
    assert.equal(stdout.match(/sync finished/g)?.length, 1);
    await assertTablesEqualSource(d, p);
  });
});

describe('seed arguments', () => {
  it('needs a token and a valid URL (exit 2)', () => {
    const env = { ...process.env, SCIMKIT_TOKEN: '' };
    const noToken = spawnSync(process.execPath, ['bin/scimkit.mjs', 'seed', '--url', 'http://127.0.0.1:1/scim'], { encoding: 'utf8', env });
    assert.equal(noToken.status, 2);
    assert.match(noToken.stderr, /seed needs --token or SCIMKIT_TOKEN/);
    const badUrl = spawnSync(process.execPath, ['bin/scimkit.mjs', 'seed', '--url', 'nope', '--token', 'x'], { encoding: 'utf8', env });
    assert.equal(badUrl.status, 2);
    assert.match(badUrl.stderr, /--url must be an absolute URL/);
  });
});
