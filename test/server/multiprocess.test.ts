/**
 * Two real `scimkit serve` processes on one PostgreSQL database and one Redis: the organization's write limit
 * holds across both, and both serve the same data. Under CI a missing PostgreSQL or Redis fails the suite.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFile } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { freshPostgresUrl, USER_SCHEMA, ERROR_SCHEMA } from './helpers.ts';

const BIN = fileURLToPath(new URL('../../bin/scimkit.mjs', import.meta.url));
const run = promisify(execFile);

function services(t: { skip(msg: string): void }): { redisUrl: string } | null {
  const redisUrl = process.env.SCIMKIT_TEST_REDIS_URL;
  const pgUrl = process.env.SCIMKIT_TEST_POSTGRES_URL;
  if (redisUrl && pgUrl) return { redisUrl };
  if (process.env.CI) assert.fail('SCIMKIT_TEST_POSTGRES_URL and SCIMKIT_TEST_REDIS_URL are required under CI');
  t.skip('PostgreSQL or Redis not installed');
  return null;
}

interface Served {
  readonly child: ChildProcess;
  readonly origin: string;
  stderr(): string;
}

/** Starts `scimkit serve` and waits for its "listening on <url>" line. */
async function serve(postgresUrl: string, redisUrl: string): Promise<Served> {
  const child = spawn(process.execPath, [BIN, 'serve', '--port', '0', '--postgres', postgresUrl, '--redis', redisUrl, '--log-level', 'warn'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stderr?.on('data', (d) => (err += d));
  const origin = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`serve did not start within 30 s: ${err}`)), 30_000);
    child.stdout?.on('data', (d) => {
      out += d;
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`serve exited with ${code}: ${err}`));
    });
  });
  return { child, origin, stderr: () => err };
}

async function stop(served: Served): Promise<number | null> {
  if (served.child.exitCode !== null) return served.child.exitCode;
  const exited = new Promise<number | null>((resolve) => served.child.once('exit', (code) => resolve(code)));
  served.child.kill('SIGTERM');
  return exited;
}

/** Waits until the Redis clock (which both servers' limiter uses) has just entered a new second. */
async function nextRedisSecond(redis: Redis): Promise<number> {
  const [s, us] = await redis.time();
  await new Promise((r) => setTimeout(r, 1000 - Math.floor(Number(us) / 1000) + 5));
  return Number(s) + 1;
}

test('two serve processes on one PostgreSQL and one Redis share the write limit and the data', async (t) => {
  const env = services(t);
  if (!env) return;
  const postgresUrl = await freshPostgresUrl();
  const created = await run(process.execPath, [BIN, 'orgs', 'create', 'multi', '--write-limit', '5', '--read-limit', '1000', '--json', '--postgres', postgresUrl]);
  const org = JSON.parse(created.stdout) as { id: string; token: string };
  assert.equal(typeof org.id, 'string');
  assert.equal(typeof org.token, 'string');

  const a = await serve(postgresUrl, env.redisUrl);
  let b: Served | undefined;
  const redis = new Redis(env.redisUrl);
  try {
    b = await serve(postgresUrl, env.redisUrl);
    assert.notEqual(a.origin, b.origin);
    const servers = [a.origin, b.origin];
    const base = (origin: string) => `${origin}/scim/v2/organizations/${org.id}`;
    const headers = { authorization: `Bearer ${org.token}`, 'content-type': 'application/scim+json' };
    const post = (origin: string, userName: string) =>
      fetch(`${base(origin)}/Users`, { method: 'POST', headers, body: JSON.stringify({ schemas: [USER_SCHEMA], userName }), signal: AbortSignal.timeout(15_000) });

    let created201: string[] = [];
    // A burst that straddles a second boundary of the Redis clock legitimately spans two windows: try again.
    for (let attempt = 0; ; attempt++) {
      const second = await nextRedisSecond(redis);
      const responses = await Promise.all(Array.from({ length: 20 }, (_, i) => post(servers[i % 2], `burst-${attempt}-${i}`)));
      const bodies = await Promise.all(responses.map(async (r) => ({ status: r.status, headers: r.headers, body: await r.json() as any })));
      if (Number((await redis.time())[0]) !== second) {
        assert.ok(attempt < 5, 'could not fit a burst into one second');
        continue;
      }
      const allowed = bodies.filter((r) => r.status === 201);
      const refused = bodies.filter((r) => r.status === 429);
      assert.equal(allowed.length, 5, `statuses: ${bodies.map((r) => r.status).join(',')}`);
      assert.equal(refused.length, 15);
      for (const r of refused) {
        assert.deepEqual(r.body.schemas, [ERROR_SCHEMA]);
        assert.equal(r.body.status, '429');
        assert.ok(Number(r.headers.get('retry-after')) >= 1);
        assert.equal(r.headers.get('x-ratelimit-limit'), '5');
        assert.equal(r.headers.get('x-ratelimit-remaining'), '0');
      }
      assert.deepEqual(allowed.map((r) => r.headers.get('x-ratelimit-remaining')).sort(), ['0', '1', '2', '3', '4']);
      created201 = allowed.map((r) => r.body.id as string).sort();
      break;
    }

    // Both processes read the same database: each sees every user the burst created, whichever process wrote it.
    for (const origin of servers) {
      const list = await fetch(`${base(origin)}/Users?count=100`, { headers, signal: AbortSignal.timeout(15_000) });
      assert.equal(list.status, 200);
      const body = (await list.json()) as { totalResults: number; Resources: { id: string }[] };
      const ids = body.Resources.map((r) => r.id).sort();
      for (const id of created201) assert.ok(ids.includes(id), `${origin} sees ${id}`);
    }
    // A write on one process is read back, with the same version, on the other.
    await nextRedisSecond(redis);
    const made = await post(a.origin, 'cross-process');
    assert.equal(made.status, 201);
    const madeBody = (await made.json()) as { id: string; meta: { version: string } };
    const seen = await fetch(`${base(b.origin)}/Users/${madeBody.id}`, { headers, signal: AbortSignal.timeout(15_000) });
    assert.equal(seen.status, 200);
    assert.equal(seen.headers.get('etag'), madeBody.meta.version);
  } finally {
    redis.disconnect();
    const codes = [await stop(a), b ? await stop(b) : 0];
    assert.deepEqual(codes, [0, 0], `graceful shutdown (stderr: ${a.stderr()} ${b?.stderr() ?? ''})`);
  }
});
