/**
 * The CLI as a data engineer meets it (issue 17, items 9-11): Ctrl-C says what happened and the next run resumes,
 * `state` tells a running pass from an interrupted one, an unreachable source is named by host, argument errors
 * exit with 2, `reset --drop-tables` asks first, the progress line has an ETA and a rate from this run's records,
 * and initial_sync_days says why it does not apply. Real processes against the fake provider.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, describe, it } from 'node:test';
import type { Logger } from '../../src/connector/log.ts';
import { createProgress, fmt } from '../../src/connector/progress.ts';
import { FakeProvider } from './fake-provider.ts';
import { assertTablesEqualSource, configFor, DestinationFactory, destinationKinds, rawConfig, sync, TOKEN, withDestination } from './helpers.ts';

const { kinds, missing } = destinationKinds({ duckdb: true });
const factory = new DestinationFactory();
const dir = mkdtempSync(join(tmpdir(), 'scimkit-cli-run-'));
after(async () => {
  await factory.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

if (missing) it('runs against PostgreSQL under CI', () => assert.fail(missing));

function writeConfig(name: string, config: Record<string, unknown>): string {
  const path = join(dir, `${name}.json`);
  writeFileSync(path, JSON.stringify(config));
  return path;
}

interface Run {
  child: ChildProcess;
  out: () => string;
  err: () => string;
  exited: Promise<number | null>;
}

function start(args: string[]): Run {
  const child = spawn(process.execPath, ['bin/scimkit.mjs', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d) => (stdout += d));
  child.stderr?.on('data', (d) => (stderr += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, out: () => stdout, err: () => stderr, exited };
}

async function finished(args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  const r = start(args);
  const status = await r.exited;
  return { status, stdout: r.out(), stderr: r.err() };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(what: string, test: () => boolean, timeoutMs = 20_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!test()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

for (const kind of kinds) {
  describe(`sync interrupted and watched, into ${kind}`, () => {
    it('Ctrl-C says the run was interrupted and that the next run resumes; state says running, then interrupted', async (t) => {
      const p = await new FakeProvider({ token: TOKEN }).start();
      t.after(() => p.stop());
      p.populate(120, 2, 3);
      const d = await factory.create(kind);
      const config = writeConfig(`interrupt-${kind}`, rawConfig(p, d));
      // The fifth page of users stalls, so the run is certainly in the middle of the users pass.
      const fifth = ({ path, query }: { path: string; query: URLSearchParams }) => path === '/Users' && query.get('startIndex') === '41';
      p.inject({ kind: 'slow', ms: 10_000, times: 1, match: fifth });
      const run = start(['sync', '--config', config]);
      await until('the fifth page', () => p.requests.some(fifth));

      const during = await finished(['state', '--config', config]);
      assert.equal(during.status, 0, during.stderr);
      if (kind === 'duckdb') {
        // The running sync has the file: DuckDB opens it in one process at a time.
        assert.match(during.stdout, /the file is open in PID \d+: a sync running now, or another program such as the duckdb shell \(DuckDB lets one process open the file at a time/);
      } else {
        assert.match(during.stdout, /a sync is running: pid \d+ on \S+, since /);
        assert.match(during.stdout, /users: strategy incremental, cursor none, last completed never, full pass running at record 41/);
      }

      run.child.kill('SIGINT');
      assert.equal(await run.exited, 130);
      assert.match(run.err(), /scimkit: sync interrupted \(SIGINT\) in the full pass of users\. Pages already written are kept, and the next `scimkit sync` resumes where this one stopped\./);
      assert.ok(!run.err().includes(TOKEN) && !run.out().includes(TOKEN));

      const afterwards = await finished(['state', '--config', config]);
      assert.doesNotMatch(afterwards.stdout, /a sync is running/);
      assert.match(afterwards.stdout, /users: .*full pass interrupted at record 41/);

      p.requests.length = 0;
      const resumed = await finished(['sync', '--config', config]);
      assert.equal(resumed.status, 0, resumed.stderr);
      const firstPage = p.listRequests().find((r) => r.path === '/Users' && r.query.get('count') === '10');
      assert.equal(firstPage?.query.get('startIndex'), '41', 'the next run resumed where the last one stopped');
      await assertTablesEqualSource(d, p);
    });
  });
}

describe('sync --watch --full-refresh', () => {
  it('the full refresh is made by the first run that reads, not dropped after a run that failed before it', async (t) => {
    const p = await new FakeProvider({ token: TOKEN }).start();
    t.after(() => p.stop());
    p.populate(20, 2, 3);
    const d = await factory.create('sqlite');
    await sync(configFor(p, d));
    // The first watched run fails at its first request, before it could clear anything.
    p.inject({ kind: 'status', status: 503, times: 2, match: ({ path }) => path === '/ServiceProviderConfig' });
    // 0.01 h (36 s) is the shortest interval the config allows.
    const config = writeConfig('watch-refresh', rawConfig(p, d, { sync_frequency_hours: 0.01, retry_attempts: 1 }));
    const run = start(['sync', '--watch', '--full-refresh', '--config', config]);
    t.after(() => run.child.kill('SIGKILL'));
    const waits = () => run.err().match(/next sync in 0\.01 h/g)?.length ?? 0;
    await until('the second run to end', () => waits() >= 2, 120_000).catch((err: Error) => assert.fail(`${err.message}; stderr: ${run.err()}`));
    run.child.kill('SIGTERM');
    assert.equal(await run.exited, 0);
    assert.match(run.err(), /503/);
    assert.match(run.err(), /full refresh: cursors and positions cleared/);
  });
});

describe('connector CLI messages and exit codes', () => {
  it('names the host of a source that cannot be reached', async () => {
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as { port: number }).port;
    await new Promise<void>((r) => closed.close(() => r()));
    const d = await factory.create('sqlite');
    const config = writeConfig('unreachable', {
      bearer_token: TOKEN, provider: 'scim', base_url: `http://127.0.0.1:${port}/scim/v2`, destination: `sqlite:${d.kind === 'sqlite' ? d.path : ''}`, retry_attempts: 1,
    });
    const r = await finished(['sync', '--config', config]);
    assert.equal(r.status, 1);
    assert.match(r.stderr, new RegExp(`GET /ServiceProviderConfig failed after 2 attempts: ECONNREFUSED \\(nothing accepted a connection at 127\\.0\\.0\\.1:${port}: is the server running, and is base_url right\\?\\)`));
  });

  it('says to check base_url when the source has no /Users there (a base URL one level too deep)', async (t) => {
    const p = await new FakeProvider({ token: TOKEN }).start();
    t.after(() => p.stop());
    p.populate(3, 1, 1);
    const d = await factory.create('sqlite');
    await assert.rejects(sync(configFor(p, d, { base_url: `${p.baseUrl}/Users` })), (err: Error) => {
      assert.match(err.message, /^GET \/Users\?count=1 failed: 404 Not Found: .*; is base_url right\? It must be the SCIM base URL, the one \/Users and \/Groups are under/);
      return true;
    });
  });

  it('says the source has no groups, not to check base_url, when /Users lists there and /Groups answers 404', async (t) => {
    const p = await new FakeProvider({ token: TOKEN }).start();
    t.after(() => p.stop());
    p.populate(3, 1, 1);
    // An API that provisions users only, as RFC 7643 allows; its 404 may well come back before the users probe.
    p.inject({ kind: 'status', status: 404, times: 1000, body: { detail: 'Groups are not supported' }, match: (req) => req.path.endsWith('/Groups') });
    const d = await factory.create('sqlite');
    await assert.rejects(sync(configFor(p, d)), (err: Error) => {
      assert.match(err.message, /^GET \/Groups\?count=1 failed: 404 Not Found: Groups are not supported; the source lists \/Users at this base_url but has no \/Groups/);
      assert.doesNotMatch(err.message, /is base_url right/);
      return true;
    });
  });

  it('state and reset name a SQLite or DuckDB file that does not exist, and do not create it', async () => {
    for (const kind of ['sqlite', 'duckdb']) {
      const path = join(dir, `typo-${kind}`, `warehouse.${kind === 'sqlite' ? 'db' : 'duckdb'}`);
      const config = writeConfig(`typo-${kind}`, { bearer_token: TOKEN, provider: 'scim', base_url: 'http://127.0.0.1:9/scim/v2', destination: `${kind}:${path}` });
      const state = await finished(['state', '--config', config]);
      assert.equal(state.status, 0, state.stderr);
      assert.equal(state.stdout.trim(), `destination: ${kind}:${path} does not exist: nothing has been synced there yet (is "destination" in the config right?)`);
      const json = await finished(['state', '--config', config, '--json']);
      assert.deepEqual(JSON.parse(json.stdout), { destination: `${kind}:${path}`, namespace: null, source: null, running: null, streams: {}, tables: {} });
      const reset = await finished(['reset', '--config', config]);
      assert.equal(reset.status, 1);
      assert.match(reset.stderr, /does not exist, so there is nothing to reset/);
      assert.equal(existsSync(path), false);
      assert.equal(existsSync(dirname(path)), false);
    }
  });

  it('state says whether sync would refuse another source: not when the recorded one left nothing (a first sync that failed)', async (t) => {
    const p = await new FakeProvider({ token: TOKEN }).start();
    t.after(() => p.stop());
    p.populate(3, 1, 1);
    const path = join(dir, 'claimed', 'w.db');
    const typo = writeConfig('claimed-typo', { bearer_token: TOKEN, provider: 'scim', base_url: `${p.baseUrl}/typo`, destination: `sqlite:${path}` });
    const good = writeConfig('claimed-good', { bearer_token: TOKEN, provider: 'scim', base_url: p.baseUrl, destination: `sqlite:${path}` });
    assert.equal((await finished(['sync', '--config', typo])).status, 1, 'the mistyped base_url fails at the probe, its source recorded');
    const before = await finished(['state', '--config', good]);
    assert.match(before.stdout, /so sync would take the namespace over \(nothing from the recorded source is in it\)/);
    assert.equal((await finished(['sync', '--config', good])).status, 0, 'and sync does');
    const after = await finished(['state', '--config', typo]);
    assert.match(after.stdout, /so sync would refuse/);
  });

  it('state does not call a program that holds a DuckDB file (the duckdb shell, here this test) a running sync', async () => {
    const path = join(dir, 'held.duckdb');
    const { DuckDBInstance } = await import('@duckdb/node-api');
    const held = await DuckDBInstance.create(path);
    try {
      const config = writeConfig('held', { bearer_token: TOKEN, provider: 'scim', base_url: 'http://127.0.0.1:9/scim/v2', destination: `duckdb:${path}` });
      const state = await finished(['state', '--config', config]);
      assert.equal(state.status, 0, state.stderr);
      assert.doesNotMatch(state.stdout, /a sync is running/);
      assert.match(state.stdout, new RegExp(`the file is open in PID ${process.pid}: a sync running now, or another program such as the duckdb shell`));
    } finally {
      held.closeSync();
    }
  });

  it('a destination that cannot be opened is named in the message (a directory, a file that is not a database)', () => {
    const notADatabase = join(dir, 'notes.db');
    writeFileSync(notADatabase, 'these are notes, not a database\n'.repeat(200));
    for (const [destination, reason] of [[`sqlite:${dir}`, 'unable to open database file'], [`sqlite:${notADatabase}`, 'file is not a database'], [`duckdb:${notADatabase}`, 'not a valid DuckDB database file']]) {
      const config = writeConfig('unopenable', { bearer_token: TOKEN, provider: 'scim', base_url: 'http://127.0.0.1:9/scim/v2', destination });
      const r = spawnSync(process.execPath, ['bin/scimkit.mjs', 'state', '--config', config], { encoding: 'utf8' });
      assert.equal(r.status, 1, r.stderr);
      assert.ok(r.stderr.startsWith(`scimkit: cannot open ${destination}: `) && r.stderr.includes(reason), r.stderr);
    }
  });

  it('ends quietly when the reader of its output goes away (scimkit state | head)', async () => {
    const d = await factory.create('sqlite');
    const config = writeConfig('piped', { bearer_token: TOKEN, provider: 'scim', base_url: 'http://127.0.0.1:9/scim/v2', destination: `sqlite:${d.kind === 'sqlite' ? d.path : ''}` });
    const r = start(['state', '--config', config]);
    // The pipe's only reader is gone before the command writes its first line.
    r.child.stdout?.destroy();
    assert.equal(await r.exited, 0, r.err());
    assert.equal(r.err(), '');
  });

  it('invalid arguments exit with 2, as documented, for every connector command', () => {
    for (const args of [['sync'], ['check'], ['state'], ['reset'], ['sync', '--config', 'x.json', '--no-such-flag'], ['seed', '--url', 'http://x', '--users', 'many']]) {
      const r = spawnSync(process.execPath, ['bin/scimkit.mjs', ...args], { encoding: 'utf8', env: { ...process.env, SCIMKIT_TOKEN: 't' } });
      assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, /error: /);
    }
    const help = spawnSync(process.execPath, ['bin/scimkit.mjs', 'sync', '--help'], { encoding: 'utf8' });
    assert.equal(help.status, 0);
    assert.match(help.stdout, /--config <file>/);
  });

  it('reset --drop-tables asks first: without a terminal it needs --yes, and drops nothing without it', async (t) => {
    const p = await new FakeProvider({ token: TOKEN }).start();
    t.after(() => p.stop());
    p.populate(5, 1, 2);
    const d = await factory.create('sqlite');
    const config = writeConfig('drop', rawConfig(p, d));
    assert.equal((await finished(['sync', '--config', config])).status, 0);
    const refused = await finished(['reset', '--config', config, '--drop-tables']);
    assert.equal(refused.status, 2);
    assert.match(refused.stderr, /reset --drop-tables deletes the tables users, groups, group_members and the sync state in sqlite:.*; re-run with --yes to confirm/);
    assert.equal((await withDestination(d, (dest) => dest.counts())).users.live, 5, 'nothing was dropped');
    const dropped = await finished(['reset', '--config', config, '--drop-tables', '--yes']);
    assert.equal(dropped.status, 0, dropped.stderr);
    assert.equal((await withDestination(d, (dest) => dest.counts())).users.live, 0);
  });

  it('says why initial_sync_days does not apply when enable_incremental_sync is false', async (t) => {
    const p = await new FakeProvider({ token: TOKEN }).start();
    t.after(() => p.stop());
    p.populate(5, 0);
    const d = await factory.create('sqlite');
    const lines: string[] = [];
    const logger: Logger = { debugEnabled: false, info: (m) => lines.push(m), warn: (m) => lines.push(m), debug: () => {} };
    await sync(configFor(p, d, { enable_incremental_sync: false, initial_sync_days: 3 }), { logger });
    const said = lines.find((l) => l.includes('initial_sync_days'));
    assert.equal(said, 'users: initial_sync_days does not apply (enable_incremental_sync is false), so the first sync reads everything');
    assert.ok(!lines.some((l) => l.includes('the server cannot filter')), 'the server is not blamed');
  });
});

describe('progress line', () => {
  it('shows an ETA, and a resumed run counts only its own records in the rate', () => {
    let now = 1_000_000;
    const written: string[] = [];
    const progress = createProgress({ tty: false, write: (s) => written.push(s), intervalMs: 1000, now: () => now });
    progress.phase('users', 'full', 1000, 400); // 400 were committed by an interrupted run
    now += 2000;
    progress.update('users', 500);
    assert.equal(written.at(-1), 'users (full): 500/1,000 50% records, 50/s, ETA 10s\n');
    now += 8000;
    progress.update('users', 900);
    assert.equal(written.at(-1), 'users (full): 900/1,000 90% records, 50/s, ETA 2s\n');
    progress.finish('users');
    assert.equal(written.at(-1), 'users (full): 900/1,000 90% records, 50/s, ETA 2s\n');
    progress.phase('groups', 'changes', null);
    now += 3000;
    progress.update('groups', 30);
    assert.equal(written.at(-1), 'groups (changes): 30 records, 10/s\n', 'no ETA without a total');
  });

  it('groups digits by thousands as en-US does, without the locale data', () => {
    for (const n of [0, 7, 999, 1000, 20_201, 999_999.6, 1_234_567, 100_000_000, -1500, 12.4]) {
      assert.equal(fmt(n), Math.round(n).toLocaleString('en-US'), String(n));
    }
  });
});
