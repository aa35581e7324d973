/**
 * Dependency outages (issue 11 items 6 and 11) with real servers stopped and started again: while PostgreSQL is
 * down every SCIM request, a bad token's included, is 503 with Retry-After and a SCIM error body, never a 500, and
 * /readyz is 503; while Redis is down the rate limits are counted in the process (with a warning and a metric) and
 * /readyz is 503. Both recover by themselves once the server is back.
 */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { startPostgres, startRedis } from '../../scripts/services.mjs';
import type { ThrowawayServer } from '../../scripts/services.mjs';
import { ERROR_SCHEMA, call, client, startHarness, user } from './helpers.ts';
import type { Harness, Reply } from './helpers.ts';

function required<T>(server: T | null, what: string, t: { skip(message: string): void }): T | null {
  if (server) return server;
  if (process.env.CI) throw new Error(`${what} is required under CI`);
  t.skip(`${what} not installed`);
  return null;
}

/** Log lines, parsed. */
function logSink(): { stream: Writable; lines: () => Record<string, unknown>[] } {
  let text = '';
  const stream = new Writable({
    write(chunk, _encoding, done) {
      text += String(chunk);
      done();
    },
  });
  return { stream, lines: () => text.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Record<string, unknown>) };
}

/** Retries `attempt` until `ok` holds for its result (a dependency coming back takes a moment), at most ~20 s. */
async function eventually<T>(attempt: () => Promise<T>, ok: (value: T) => boolean): Promise<T> {
  let last: T | undefined;
  for (let i = 0; i < 200; i++) {
    last = await attempt();
    if (ok(last)) return last;
    await new Promise((r) => setTimeout(r, 100));
  }
  return last as T;
}

function assertUnavailable(res: Reply, what: string): void {
  assert.equal(res.status, 503, `${what}: ${res.status} ${res.text}`);
  assert.ok(Number(res.headers.get('retry-after')) >= 1, `${what}: Retry-After`);
  assert.deepEqual(res.body.schemas, [ERROR_SCHEMA], what);
  assert.equal(res.body.status, '503', what);
  assert.match(res.body.detail, /database is unavailable/, what);
}

test('PostgreSQL stopped and started again: 503 with Retry-After while it is down, bad tokens included; /readyz follows', async (t) => {
  const postgres = required(await startPostgres(), 'PostgreSQL', t);
  if (!postgres) return;
  let h: Harness | undefined;
  try {
    const sink = logSink();
    h = await startHarness({ backend: 'postgres', postgresUrl: postgres.createDatabase('outage'), logger: pino({ level: 'info' }, sink.stream) });
    const api = client(h);
    const created = await api('POST', '/Users', { body: user('before-outage') });
    assert.equal(created.status, 201);
    const { secret: managementKey } = await h.store.createManagementKey({ orgId: h.org.id });
    const events = () => call(h!.origin, 'GET', `/api/v1/organizations/${h!.org.id}/events`, { token: managementKey });
    assert.equal((await events()).status, 200);
    assert.equal((await call(h.origin, 'GET', '/readyz')).status, 200);

    await postgres.halt();
    assertUnavailable(await api('GET', `/Users/${created.body.id}`), 'GET by id');
    assertUnavailable(await api('GET', '/Users'), 'list');
    assertUnavailable(await api('POST', '/Users', { body: user('during-outage') }), 'POST');
    assertUnavailable(await api('POST', '/Bulk', { body: { schemas: ['urn:ietf:params:scim:api:messages:2.0:BulkRequest'], Operations: [] } }), 'Bulk');
    assertUnavailable(await call(h.base, 'GET', '/Users', { token: 'not-a-token' }), 'a bad token');
    // The management API answers the outage the same way, in its own error format.
    const managed = await events();
    assert.equal(managed.status, 503, managed.text);
    assert.equal(managed.body.error.code, 'unavailable');
    assert.ok(Number(managed.headers.get('retry-after')) >= 1);
    const notReady = await call(h.origin, 'GET', '/readyz');
    assert.equal(notReady.status, 503);
    assert.deepEqual(notReady.body, { status: 'unavailable', checks: { store: 'unavailable' } });
    assert.equal((await call(h.origin, 'GET', '/healthz')).status, 200, 'liveness does not depend on the database');
    const metrics = (await call(h.origin, 'GET', '/metrics')).text;
    assert.match(metrics, /scimkit_ready 0\n/);
    assert.doesNotMatch(metrics, /status="500"/);

    await postgres.resume();
    const back = await eventually(() => api('GET', `/Users/${created.body.id}`), (r) => r.status === 200);
    assert.equal(back.status, 200, back.text);
    assert.equal(back.body.userName, 'before-outage');
    assert.equal((await api('POST', '/Users', { body: user('after-outage') })).status, 201);
    assert.equal((await call(h.origin, 'GET', '/readyz')).status, 200);

    const lines = sink.lines();
    assert.ok(lines.some((l) => l.msg === 'dependency unavailable' && l.level === 40), 'each 503 is logged with its cause');
    assert.ok(lines.some((l) => l.msg === 'not ready: a dependency cannot be reached'));
    assert.ok(lines.some((l) => l.msg === 'ready again'));
    assert.ok(!lines.some((l) => l.level === 50), 'no internal error was logged');
  } finally {
    await h?.close();
    await postgres.stop();
  }
});

test('PostgreSQL hung (SIGSTOP): requests on pooled connections get 503 with Retry-After within the statement bound, not a hang; it serves again once continued', { timeout: 120_000 }, async (t) => {
  const postgres = required(await startPostgres(), 'PostgreSQL', t);
  if (!postgres) return;
  let h: Harness | undefined;
  let frozen = false;
  try {
    // The store's default bound (10 s): the pool's 10 connections are all in use by the hung requests at once.
    h = await startHarness({ backend: 'postgres', postgresUrl: postgres.createDatabase('hung') });
    const api = client(h);
    const created = await api('POST', '/Users', { body: user('before-hang') });
    assert.equal(created.status, 201);
    // Fill the pool with open connections, so the requests below get connections whose queries the server never
    // answers (a request that must open a connection fails on the connect timeout, which already held).
    const warm = await Promise.all(Array.from({ length: 12 }, () => api('GET', `/Users/${created.body.id}`)));
    assert.ok(warm.every((r) => r.status === 200));

    postgres.freeze();
    frozen = true;
    const replies = await Promise.all([
      ...Array.from({ length: 14 }, () => api('GET', `/Users/${created.body.id}`)),
      call(h.origin, 'GET', '/readyz'),
    ]);
    for (const [i, res] of replies.slice(0, 14).entries()) assertUnavailable(res, `GET ${i}`);
    assert.equal(replies[14]!.status, 503);

    await postgres.thaw();
    frozen = false;
    const back = await eventually(() => api('GET', `/Users/${created.body.id}`), (r) => r.status === 200);
    assert.equal(back.status, 200, back.text);
    assert.equal((await api('POST', '/Users', { body: user('after-hang') })).status, 201);
    const ready = await eventually(() => call(h!.origin, 'GET', '/readyz'), (r) => r.status === 200);
    assert.equal(ready.status, 200);
  } finally {
    if (frozen) await postgres.thaw();
    await h?.close();
    await postgres.stop();
  }
});

test('Redis stopped and started again: limits counted in the process meanwhile, with a warning and a metric; /readyz follows', async (t) => {
  const redis = required(await startRedis(), 'Redis', t);
  if (!redis) return;
  let h: Harness | undefined;
  const admin = new Redis(redis.url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => 200 });
  admin.on('error', () => {});
  try {
    const sink = logSink();
    h = await startHarness({ redisUrl: redis.url, settings: { readLimit: 1000, writeLimit: 3 }, logger: pino({ level: 'info' }, sink.stream) });
    const api = client(h);
    assert.equal((await api('GET', '/Users')).status, 200);
    await admin.connect();
    assert.equal((await admin.keys(`*org:${h.org.id}:read:*`)).length, 1, 'counted in Redis');
    assert.equal((await call(h.origin, 'GET', '/readyz')).body.checks.redis, 'ok');

    await redis.halt();
    const read = await api('GET', '/Users');
    assert.equal(read.status, 200, read.text);
    assert.equal(read.headers.get('x-ratelimit-limit'), '1000');
    assert.equal((await call(h.base, 'GET', '/Users', { token: 'not-a-token' })).status, 401);
    // The write limit still holds, counted in this process: eight writes at once cannot all pass a limit of 3.
    const writes = await Promise.all(Array.from({ length: 8 }, (_, i) => api('POST', '/Users', { body: user(`w-${i}`) })));
    assert.ok(writes.every((w) => w.status === 201 || w.status === 429), writes.map((w) => w.status).join(','));
    assert.ok(writes.some((w) => w.status === 429), 'the limit is enforced during the outage');
    const notReady = await call(h.origin, 'GET', '/readyz');
    assert.equal(notReady.status, 503);
    assert.deepEqual(notReady.body, { status: 'unavailable', checks: { store: 'ok', redis: 'unavailable' } });
    let metrics = (await call(h.origin, 'GET', '/metrics')).text;
    assert.match(metrics, /scimkit_rate_limiter_degraded 1\n/);
    assert.match(metrics, /scimkit_rate_limiter_fallback_total [1-9]\d*\n/);
    assert.doesNotMatch(metrics, /route="\/scim[^"]*",status="5\d\d"/, "no SCIM request failed");

    await redis.resume();
    const ready = await eventually(() => call(h!.origin, 'GET', '/readyz'), (r) => r.status === 200);
    assert.equal(ready.status, 200);
    // The next decisions go to Redis again (a second after the last failed try at most).
    await eventually(
      async () => {
        await api('GET', '/Users');
        return admin.keys(`*org:${h!.org.id}:read:*`).catch(() => []);
      },
      (keys) => keys.length > 0,
    );
    metrics = (await call(h.origin, 'GET', '/metrics')).text;
    assert.match(metrics, /scimkit_rate_limiter_degraded 0\n/);

    const lines = sink.lines();
    const warning = lines.find((l) => typeof l.msg === 'string' && l.msg.startsWith('rate limiter: Redis cannot be reached'));
    assert.ok(warning && warning.level === 40, 'the fallback is logged as a warning');
    assert.ok(lines.some((l) => l.msg === 'rate limiter: Redis answers again; counting there'));
  } finally {
    admin.disconnect();
    await h?.close();
    await (redis as ThrowawayServer).stop();
  }
});
