/**
 * Sharing an organization's rate budget (issue 17, item 4): two syncs of one organization and a third client polling
 * it, all at once, against a real `scimkit serve` with a read limit of 10 requests per second (fixed one-second
 * windows). All three finish, each sync's 429s are counted in its summary, and both copies equal the server.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { parseConfig } from '../../src/connector/config.ts';
import { HttpClient } from '../../src/connector/http.ts';
import { createRedactor, silentLogger } from '../../src/connector/log.ts';
import { runSync } from '../../src/connector/sync.ts';
import { DestinationFactory, destinationKinds, destinationString, withDestination } from './helpers.ts';

type Json = Record<string, unknown>;

const { kinds, missing } = destinationKinds();
const factory = new DestinationFactory();
const dir = mkdtempSync(join(tmpdir(), 'scimkit-budget-'));
after(async () => {
  await factory.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

if (missing) it('runs against PostgreSQL under CI', () => assert.fail(missing));

const cli = (args: string[], env: NodeJS.ProcessEnv = {}) =>
  spawnSync(process.execPath, ['bin/scimkit.mjs', ...args], { encoding: 'utf8', timeout: 120_000, env: { ...process.env, ...env } });

async function startServer(db: string): Promise<{ child: ChildProcess; origin: string }> {
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
  return { child, origin };
}

describe('two syncs and a third client sharing one organization\'s read limit of 10 per second', () => {
  it('all finish, with few 429s, each reported; both copies equal the server', { timeout: 120_000 }, async (t) => {
    const db = join(dir, 'server.db');
    // Seeding needs a generous limit; the server reads limits at start, so it is lowered and the server restarted.
    const created = cli(['orgs', 'create', 'shared', '--json', '--db', db, '--read-limit', '1000', '--write-limit', '1000']);
    assert.equal(created.status, 0, created.stderr);
    const org = JSON.parse(created.stdout.trim().split('\n').pop() as string) as { id: string; token: string };
    let server = await startServer(db);
    const seeded = cli(['seed', '--url', `${server.origin}/scim/v2/organizations/${org.id}`, '--users', '400', '--groups', '6', '--members-per-group', '8'], { SCIMKIT_TOKEN: org.token });
    assert.equal(seeded.status, 0, seeded.stderr);
    server.child.kill('SIGTERM');
    await new Promise((r) => server.child.once('exit', r));
    assert.equal(cli(['orgs', 'update', org.id, '--read-limit', '10', '--db', db]).status, 0);
    server = await startServer(db);
    t.after(() => server.child.kill('SIGTERM'));
    const base = `${server.origin}/scim/v2/organizations/${org.id}`;

    // One sync into each destination kind (both into SQLite when PostgreSQL is absent); default settings otherwise.
    const destinations = [await factory.create(kinds[0]), await factory.create(kinds[kinds.length - 1])];
    const configs = destinations.map((d) => parseConfig({ bearer_token: org.token, provider: 'scim', base_url: base, destination: destinationString(d), max_records_per_page: 10 }));

    // The third client: an admin tool reading one user every 150 ms (more than the share the syncs leave it),
    // retrying 429s like any careful client.
    const poller = new HttpClient({ baseUrl: base, token: org.token, timeoutMs: 10_000, retryAttempts: 3, logger: silentLogger, redact: createRedactor([org.token]) });
    let polling = true;
    let polls = 0;
    const polled = (async () => {
      while (polling) {
        await poller.get('/Users', { count: 1 });
        polls += 1;
        await new Promise((r) => setTimeout(r, 150));
      }
    })();
    let summaries;
    try {
      summaries = await Promise.all(configs.map((config) => runSync({ config, logger: silentLogger })));
    } finally {
      polling = false;
      const pollFailure = await polled.then(() => null, (err: Error) => err);
      await poller.close();
      assert.equal(pollFailure, null, 'the third client never failed');
    }

    assert.ok(polls >= 5, `the third client kept being served (${polls} polls, ${poller.stats.throttled} 429s)`);
    for (const [i, s] of summaries.entries()) {
      assert.equal(typeof s.throttled, 'number', 'the summary reports 429s');
      assert.ok(s.requests >= 25, `sync ${i + 1} made ${s.requests} requests`);
      // Fixed windows and three clients racing for the last slots of a window: a few 429s, not a storm.
      assert.ok(s.throttled <= Math.ceil(s.requests * 0.15), `sync ${i + 1}: ${s.throttled} 429s in ${s.requests} requests`);
      t.diagnostic(`sync ${i + 1} into ${destinations[i].kind}: ${s.requests} requests in ${(s.wallMs / 1000).toFixed(1)} s, ${s.throttled} 429s`);
    }
    t.diagnostic(`poller: ${polls} polls, ${poller.stats.throttled} 429s`);

    // Both copies hold what the server holds.
    const reader = new HttpClient({ baseUrl: base, token: org.token, timeoutMs: 10_000, retryAttempts: 3, logger: silentLogger, redact: (s) => s });
    const users = new Set<string>();
    for (let start = 1; ; start += 100) {
      const page = ((await reader.get('/Users', { startIndex: start, count: 100, attributes: 'id' })).body as { Resources?: Json[] }).Resources ?? [];
      for (const u of page) users.add(String(u.id));
      if (page.length === 0) break;
    }
    await reader.close();
    assert.equal(users.size, 400);
    for (const d of destinations) {
      await withDestination(d, async (dest) => {
        const rows = (await dest.readRows('users')).filter((r) => r._deleted === false).map((r) => String(r.id)).sort();
        assert.deepEqual(rows, [...users].sort());
        assert.equal((await dest.counts()).groups.live, 6);
      });
    }
  });
});
