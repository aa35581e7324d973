import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { createRateLimiter, MemoryRateLimiter, RedisRateLimiter } from '../../src/server/ratelimit/index.ts';
import { createServer } from 'node:net';

/** A loopback port with nothing listening on it. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (addr && typeof addr === 'object' ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

function clock(start: number) {
  const state = { t: start };
  return { state, now: () => state.t };
}

test('memory: counts within one second, refuses past the limit, and reports the reset', async () => {
  const c = clock(5_000_250);
  const rl = new MemoryRateLimiter({ now: c.now });
  const seen = [];
  for (let i = 0; i < 4; i++) seen.push(await rl.hit('org:a:write', 3));
  assert.deepEqual(seen.map((d) => [d.allowed, d.remaining, d.limit]), [[true, 2, 3], [true, 1, 3], [true, 0, 3], [false, 0, 3]]);
  assert.equal(seen[0].resetMs, 750);
  c.state.t = 5_000_999;
  const last = await rl.hit('org:a:write', 3);
  assert.equal(last.allowed, false);
  assert.equal(last.resetMs, 1);
});

test('memory: the count resets at the start of the next second, not one second after the first hit', async () => {
  const c = clock(7_000_900);
  const rl = new MemoryRateLimiter({ now: c.now });
  assert.equal((await rl.hit('k', 1)).allowed, true);
  assert.equal((await rl.hit('k', 1)).allowed, false);
  c.state.t = 7_001_000; // 100 ms later, but a new window
  const d = await rl.hit('k', 1);
  assert.equal(d.allowed, true);
  assert.equal(d.resetMs, 1000);
});

test('memory: keys are independent and instances share nothing', async () => {
  const c = clock(1_000_000);
  const a = new MemoryRateLimiter({ now: c.now });
  const b = new MemoryRateLimiter({ now: c.now });
  assert.equal((await a.hit('org:1:read', 1)).allowed, true);
  assert.equal((await a.hit('org:1:read', 1)).allowed, false);
  assert.equal((await a.hit('org:1:write', 1)).allowed, true);
  assert.equal((await a.hit('org:2:read', 1)).allowed, true);
  assert.equal((await b.hit('org:1:read', 1)).allowed, true);
});

test('memory: old windows are dropped, so memory does not grow with the number of keys', async () => {
  const c = clock(2_000_000);
  const rl = new MemoryRateLimiter({ now: c.now });
  for (let i = 0; i < 10_000; i++) await rl.hit(`auth:10.0.${i >> 8}.${i & 255}`, 5);
  assert.equal(rl.size, 10_000);
  c.state.t += 1000;
  await rl.hit('org:x:read', 5);
  assert.equal(rl.size, 1);
});

test('memory: a clock stepping backwards does not hand out a fresh allowance', async () => {
  const c = clock(3_000_500);
  const rl = new MemoryRateLimiter({ now: c.now });
  assert.equal((await rl.hit('k', 1)).allowed, true);
  c.state.t = 2_999_900;
  assert.equal((await rl.hit('k', 1)).allowed, false);
});

test('createRateLimiter: connect() exists on both kinds, as docs/embedding.md tells embedders to call it', async () => {
  // Typed as well as present: an app calls it whether or not it configured Redis (REDIS_URL may be unset).
  const rl = createRateLimiter({ redisUrl: undefined });
  await rl.connect();
  // RateLimiter's optional members stay in the type (an app checks readiness through ping when there is one).
  await rl.ping?.();
  assert.equal(rl.degraded, undefined);
  assert.equal((await rl.hit('k', 1)).allowed, true, 'the limiter still counts after connect()');
  await rl.close();
});

test('memory: limit 0 refuses everything; invalid limits are rejected', async () => {
  const rl = createRateLimiter({ now: () => 0 });
  assert.ok(rl instanceof MemoryRateLimiter);
  assert.equal((await rl.hit('k', 0)).allowed, false);
  await assert.rejects(rl.hit('k', -1), RangeError);
  await assert.rejects(rl.hit('k', 1.5), RangeError);
  await assert.rejects(rl.hit('k', Number.NaN), RangeError);
});

// ---- Redis: the real server from scripts/run-tests.mjs. Under CI its absence is a failure, never a skip.
const REDIS_URL = process.env.SCIMKIT_TEST_REDIS_URL;
const needRedis = (t: { skip(msg: string): void }): string | null => {
  if (REDIS_URL) return REDIS_URL;
  if (process.env.CI) assert.fail('SCIMKIT_TEST_REDIS_URL is required under CI');
  t.skip('Redis not installed');
  return null;
};

/** Waits until the Redis server's clock is just past a second boundary, so a burst of hits lands in one window. */
async function redisSecond(admin: Redis): Promise<number> {
  const [s, us] = await admin.time();
  const ms = Number(s) * 1000 + Math.floor(Number(us) / 1000);
  const wait = 1000 - (ms % 1000) + 5;
  await new Promise((r) => setTimeout(r, wait));
  return Number(s) + 1;
}

async function currentSecond(admin: Redis): Promise<number> {
  return Number((await admin.time())[0]);
}

test('redis: one limit holds across two limiters on two connections', async (t) => {
  const url = needRedis(t);
  if (!url) return;
  const keyPrefix = `test:${randomUUID()}:`;
  const a = new RedisRateLimiter({ url, keyPrefix });
  const b = new RedisRateLimiter({ url, keyPrefix });
  const admin = new Redis(url);
  try {
    await a.connect();
    await b.connect();
    // Retry when a burst straddles a second boundary on the Redis clock (then it legitimately spans two windows).
    for (let attempt = 0; ; attempt++) {
      const second = await redisSecond(admin);
      const key = `org:${attempt}:write`;
      const burst = await Promise.all(Array.from({ length: 24 }, (_, i) => (i % 2 ? a : b).hit(key, 5)));
      if ((await currentSecond(admin)) !== second) {
        assert.ok(attempt < 5, 'could not fit a burst into one second');
        continue;
      }
      const allowed = burst.filter((d) => d.allowed);
      assert.equal(allowed.length, 5);
      assert.deepEqual(allowed.map((d) => d.remaining).sort(), [0, 1, 2, 3, 4]);
      assert.ok(burst.filter((d) => !d.allowed).every((d) => d.remaining === 0 && d.limit === 5));
      assert.ok(burst.every((d) => d.resetMs > 0 && d.resetMs <= 1000));
      break;
    }
  } finally {
    await a.close();
    await b.close();
    admin.disconnect();
  }
});

test('redis: the window resets at the next second of the Redis clock, and counter keys expire', async (t) => {
  const url = needRedis(t);
  if (!url) return;
  const keyPrefix = `test:${randomUUID()}:`;
  const rl = createRateLimiter({ redisUrl: url, keyPrefix });
  assert.ok(rl instanceof RedisRateLimiter);
  const admin = new Redis(url);
  try {
    for (let attempt = 0; ; attempt++) {
      const second = await redisSecond(admin);
      const key = `org:${attempt}:read`;
      const first = [await rl.hit(key, 2), await rl.hit(key, 2), await rl.hit(key, 2)];
      if ((await currentSecond(admin)) !== second) {
        assert.ok(attempt < 5, 'could not fit three hits into one second');
        continue;
      }
      assert.deepEqual(first.map((d) => d.allowed), [true, true, false]);
      const keys = await admin.keys(`${keyPrefix}*`);
      assert.equal(keys.length, 1);
      assert.ok(keys[0].endsWith(`:${second}`), `window number in ${keys[0]}`);
      const pttl = await admin.pttl(keys[0]);
      assert.ok(pttl > 0 && pttl <= 2000, `counter expires (pttl ${pttl})`);
      await new Promise((r) => setTimeout(r, first[2].resetMs + 20));
      const next = await rl.hit(key, 2);
      assert.equal(next.allowed, true);
      assert.equal(next.remaining, 1);
      break;
    }
  } finally {
    await rl.close();
    admin.disconnect();
  }
});

test('redis: an unreachable Redis decides in the process, reports why without credentials, and connect() fails clearly', async () => {
  const port = await freePort();
  const rl = new RedisRateLimiter({ url: `redis://scim:hunter2@127.0.0.1:${port}`, connectTimeoutMs: 500 });
  const reasons: string[] = [];
  rl.observe({ fallback: (reason) => reasons.push(reason), recovered: () => reasons.push('recovered') });
  try {
    const decisions = [await rl.hit('k', 1), await rl.hit('k', 1)];
    assert.deepEqual(decisions.map((d) => d.allowed), [true, false], 'the limit still holds, counted in the process');
    assert.equal(rl.degraded, true);
    assert.equal(rl.fallbackDecisions, 2);
    assert.equal(reasons.length, 1, 'the outage is reported once');
    assert.match(reasons[0], /^Redis at redis:\/\/127\.0\.0\.1:\d+\/? failed/);
    assert.doesNotMatch(reasons[0], /hunter2/);
    await assert.rejects(rl.connect(), (err: Error) => {
      assert.match(err.message, /^rate limiter: Redis at redis:\/\/127\.0\.0\.1:\d+\/? failed/);
      assert.doesNotMatch(err.message, /hunter2/);
      return true;
    });
    await assert.rejects(rl.ping(), /rate limiter: Redis at/);
  } finally {
    await rl.close();
  }
  assert.throws(() => new RedisRateLimiter({ url: 'not a url' }), /invalid Redis URL/);
  // A URL of another scheme was dialled as Redis, and failed later with "Connection is closed".
  for (const url of ['http://127.0.0.1:6379', 'localhost:6379', 'tcp://u:hunter2@127.0.0.1:6379']) {
    assert.throws(() => createRateLimiter({ redisUrl: url }), (err: Error) => {
      assert.match(err.message, /^invalid Redis URL for the rate limiter: .* \(use redis:\/\/host:6379 or rediss:\/\/\)$/);
      assert.doesNotMatch(err.message, /hunter2/);
      return true;
    });
  }
});
