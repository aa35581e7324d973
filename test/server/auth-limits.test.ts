/**
 * The failed-authentication limit never refuses a valid token (issue 11 item 2), keys on the real client address
 * behind a trusted proxy, and a scope refusal spends no rate-limit quota (item 3). In memory and in Redis.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { call, client, startHarness, testRedisUrl, user } from './helpers.ts';
import type { Harness, HarnessOptions } from './helpers.ts';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A second organization and a read-write token for it, on the harness's server. */
async function otherTenant(h: Harness): Promise<{ base: string; token: string }> {
  const org = await h.store.createOrganization('other-tenant', { readLimit: 100_000, writeLimit: 100_000 });
  const { secret } = await h.store.createToken(org.id, { scope: 'read-write' });
  return { base: `${h.origin}/scim/v2/organizations/${org.id}`, token: secret };
}

/**
 * An attacker sends 50 bad tokens per second (bursts of 10, five times a second) for two seconds from the loopback
 * address, while another tenant on the same address sends its own requests amid every burst: every one of the
 * tenant's requests must succeed.
 */
async function attackerAndTenant(options: HarnessOptions): Promise<void> {
  const h = await startHarness(options);
  try {
    const tenant = await otherTenant(h);
    const attacker: number[] = [];
    const tenantStatuses: number[] = [];
    for (let burst = 0; burst < 10; burst++) {
      const started = Date.now();
      const guesses = Array.from({ length: 10 }, (_, i) => call(h.base, 'GET', '/Users', { token: `guess-${burst}-${i}-${'x'.repeat(32)}` }));
      const work = (async () => {
        const created = await call(tenant.base, 'POST', '/Users', { token: tenant.token, body: user(`tenant-${burst}`) });
        const read = await call(tenant.base, 'GET', `/Users/${created.body?.id}`, { token: tenant.token });
        return [created.status, read.status];
      })();
      const [answers, own] = await Promise.all([Promise.all(guesses), work]);
      attacker.push(...answers.map((a) => a.status));
      tenantStatuses.push(...own);
      await sleep(Math.max(0, 200 - (Date.now() - started)));
    }
    assert.ok(attacker.includes(429), 'the attacker was limited');
    assert.deepEqual([...new Set(attacker)].sort(), [401, 429]);
    assert.deepEqual(tenantStatuses, Array.from({ length: 10 }, () => [201, 200]).flat(), 'every request of the other tenant succeeds');
  } finally {
    await h.close();
  }
}

describe('the failed-authentication limit never refuses a valid token', () => {
  test('an attacker at 50 bad tokens per second from the same address, another tenant unaffected (memory)', async () => {
    await attackerAndTenant({});
  });

  test('an attacker at 50 bad tokens per second from the same address, another tenant unaffected (Redis)', async (t) => {
    const redisUrl = testRedisUrl(t);
    if (!redisUrl) return;
    await attackerAndTenant({ redisUrl });
  });
});

describe('behind a trusted reverse proxy the limit counts by the forwarded client address', () => {
  const clock = { now: 3_000_000_000_000 };
  const guess = (h: Harness, client: string, i: number) =>
    call(h.base, 'GET', '/Users', { token: `guess-${client}-${i}`, headers: { 'x-forwarded-for': client } });

  test('with the proxy trusted, one client guessing does not block another behind the same proxy', async () => {
    const h = await startHarness({ limits: { authFailuresPerSecond: 3 }, clock, trustProxy: 'loopback' });
    try {
      const statuses = [];
      for (let i = 0; i < 5; i++) statuses.push((await guess(h, '198.51.100.1', i)).status);
      assert.deepEqual(statuses, [401, 401, 401, 429, 429]);
      assert.equal((await guess(h, '198.51.100.2', 0)).status, 401, 'another client address has its own count');
      const valid = await call(h.base, 'GET', '/Users', { token: h.token, headers: { 'x-forwarded-for': '198.51.100.1' } });
      assert.equal(valid.status, 200);
    } finally {
      await h.close();
    }
  });

  test('without it, X-Forwarded-For is ignored: a client cannot pick a fresh address per guess', async () => {
    const h = await startHarness({ limits: { authFailuresPerSecond: 3 }, clock });
    try {
      const statuses = [];
      for (let i = 0; i < 5; i++) statuses.push((await guess(h, `198.51.100.${i + 10}`, i)).status);
      assert.deepEqual(statuses, [401, 401, 401, 429, 429]);
    } finally {
      await h.close();
    }
  });
});

describe('a scope refusal spends no quota', () => {
  test("a read-only token's writes are refused before the write limit counts them (memory)", async () => {
    const clock = { now: 4_000_000_000_000 };
    const h = await startHarness({ settings: { readLimit: 100, writeLimit: 2 }, clock });
    try {
      const { secret } = await h.store.createToken(h.org.id, { scope: 'read' });
      const readOnly = client(h, secret);
      for (let i = 0; i < 10; i++) {
        const res = await readOnly('DELETE', `/Users/any-${i}`);
        assert.equal(res.status, 403);
        assert.equal(res.headers.get('x-ratelimit-remaining'), null, 'a scope refusal is not counted');
      }
      const writes = [];
      for (let i = 0; i < 3; i++) writes.push(await client(h)('POST', '/Users', { body: user(`rw-${i}`) }));
      assert.deepEqual(writes.map((w) => w.status), [201, 201, 429]);
      assert.deepEqual(writes.map((w) => w.headers.get('x-ratelimit-remaining')), ['1', '0', '0']);
    } finally {
      await h.close();
    }
  });

  test("a read-only token's writes leave no count in Redis", async (t) => {
    const redisUrl = testRedisUrl(t);
    if (!redisUrl) return;
    const h = await startHarness({ redisUrl });
    const admin = new Redis(redisUrl);
    try {
      const { secret } = await h.store.createToken(h.org.id, { scope: 'read' });
      for (let i = 0; i < 10; i++) assert.equal((await client(h, secret)('DELETE', `/Users/any-${i}`)).status, 403);
      assert.deepEqual(await admin.keys(`*org:${h.org.id}:write:*`), []);
      assert.equal((await client(h)('POST', '/Users', { body: user('rw') })).status, 201);
      assert.equal((await admin.keys(`*org:${h.org.id}:write:*`)).length, 1, 'a write of the read-write token is counted there');
    } finally {
      admin.disconnect();
      await h.close();
    }
  });
});
