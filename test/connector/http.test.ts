/**
 * The connector's HTTP layer: Retry-After parsing, error explanations, the pacer (on a virtual clock, so the
 * assertions are about decisions, not wall time), and the client's retry rules against a real loopback server.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { brotliCompressSync, deflateSync, gzipSync } from 'node:zlib';
import type { AddressInfo } from 'node:net';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { after, before, describe, it } from 'node:test';
import { explainErrorBody, HttpClient, HttpError, isRetryableStatus, parseRetryAfter } from '../../src/connector/http.ts';
import { createRedactor, silentLogger } from '../../src/connector/log.ts';
import { RatePacer, readRateLimit, type PacerClock } from '../../src/connector/pacer.ts';

function virtualClock(start = 1_700_000_000_000): PacerClock & { t: number; sleeps: number[] } {
  const c = {
    t: start,
    sleeps: [] as number[],
    now: () => c.t,
    sleep: async (ms: number) => {
      c.sleeps.push(ms);
      c.t += Math.max(0, ms);
    },
  };
  return c;
}

describe('Retry-After and error bodies', () => {
  it('reads delta-seconds and HTTP dates (against the server clock when known)', () => {
    assert.equal(parseRetryAfter('3', null, 0), 3000);
    assert.equal(parseRetryAfter(' 0 ', null, 0), 0);
    const serverNow = Date.parse('Wed, 21 Oct 2015 07:28:00 GMT');
    assert.equal(parseRetryAfter('Wed, 21 Oct 2015 07:28:05 GMT', serverNow, serverNow + 60_000), 5000, 'relative to the Date header, not our clock');
    assert.equal(parseRetryAfter('Wed, 21 Oct 2015 07:28:05 GMT', null, serverNow + 2000), 3000);
    assert.equal(parseRetryAfter('Wed, 21 Oct 2015 07:27:00 GMT', serverNow, serverNow), 0, 'a date in the past means now');
    assert.equal(parseRetryAfter('soon', null, 0), null);
    assert.equal(parseRetryAfter(null, null, 0), null);
  });

  it('explains SCIM, Contentstack, Contentful and plain-text errors', () => {
    assert.deepEqual(explainErrorBody({ detail: 'bad filter', scimType: 'invalidFilter', status: '400' }, ''), { detail: 'bad filter', scimType: 'invalidFilter' });
    assert.deepEqual(explainErrorBody({ error_message: 'Org not found', error_code: 104 }, ''), { detail: 'Org not found', scimType: null });
    assert.deepEqual(explainErrorBody({ sys: { type: 'Error', id: 'AccessTokenInvalid' }, message: 'The access token is invalid' }, ''), { detail: 'The access token is invalid', scimType: null });
    assert.deepEqual(explainErrorBody(null, '<html>\n<b>Bad gateway</b></html>'), { detail: '<html> <b>Bad gateway</b></html>', scimType: null });
  });

  it('retries exactly the transient statuses', () => {
    for (const s of [408, 425, 429, 500, 502, 503, 504]) assert.equal(isRetryableStatus(s), true, String(s));
    for (const s of [400, 401, 403, 404, 409, 413, 422]) assert.equal(isRetryableStatus(s), false, String(s));
  });
});

describe('pacer', () => {
  it('reads X-RateLimit-* and Contentful headers', () => {
    assert.deepEqual(readRateLimit(new Headers({ 'x-ratelimit-limit': '10', 'x-ratelimit-remaining': '3' }), 0), { limit: 10, remaining: 3, resetMs: null });
    assert.deepEqual(
      readRateLimit(new Headers({ 'x-contentful-ratelimit-second-limit': '7', 'x-contentful-ratelimit-second-remaining': '0', 'x-contentful-ratelimit-reset': '1' }), 0),
      { limit: 7, remaining: 0, resetMs: 1000 },
    );
    assert.deepEqual(readRateLimit(new Headers({ 'x-ratelimit-reset': '1700000002' }), 1_700_000_000_500), { limit: null, remaining: null, resetMs: 1500 });
    assert.deepEqual(readRateLimit(new Headers({ 'x-ratelimit-reset': '1700000002000' }), 1_700_000_000_500), { limit: null, remaining: null, resetMs: 1500 }, 'an epoch in milliseconds');
  });

  it('keeps every one-second window within the announced limit while using most of it', async () => {
    const clock = virtualClock();
    const pacer = new RatePacer(clock);
    const limit = 10;
    const starts: number[] = [];
    for (let i = 0; i < 200; i++) {
      await pacer.acquire();
      const started = clock.now();
      starts.push(started);
      clock.t += 4; // the request's latency
      const window = Math.floor(started / 1000);
      const inWindow = starts.filter((s) => Math.floor(s / 1000) === window).length;
      pacer.observe({ limit, remaining: limit - inWindow, resetMs: null }, started);
    }
    const perWindow = new Map<number, number>();
    for (const s of starts) perWindow.set(Math.floor(s / 1000), (perWindow.get(Math.floor(s / 1000)) ?? 0) + 1);
    assert.ok(Math.max(...perWindow.values()) <= limit, 'never more than the limit in a window');
    const seconds = (starts[starts.length - 1] - starts[0]) / 1000;
    assert.ok(starts.length / seconds >= 0.9 * limit, `uses at least 90% of the limit (${(starts.length / seconds).toFixed(2)}/s)`);
  });

  it('waits for the next window when the server says nothing remains (others share the budget)', async () => {
    const clock = virtualClock(5_000_200);
    const pacer = new RatePacer(clock);
    await pacer.acquire();
    pacer.observe({ limit: 100, remaining: 0, resetMs: null }, clock.now());
    await pacer.acquire();
    assert.ok(clock.now() >= 5_001_000, `held until the window turned (${clock.now()})`);
  });

  it('uses only its share of the limit, and leaves the rest of the window to other clients', async () => {
    const clock = virtualClock(7_000_000);
    const pacer = new RatePacer(clock, 0.5);
    const starts: number[] = [];
    for (let i = 0; i < 40; i++) {
      await pacer.acquire();
      starts.push(clock.now());
      pacer.observe({ limit: 10, remaining: 9, resetMs: null }, clock.now());
      clock.t += 3;
    }
    const perWindow = new Map<number, number>();
    for (const t of starts) perWindow.set(Math.floor(t / 1000), (perWindow.get(Math.floor(t / 1000)) ?? 0) + 1);
    assert.ok(Math.max(...perWindow.values()) <= 5, `at most 5 of 10 per window (${[...perWindow.values()]})`);
    // Another client used the window: the server says 5 remain, which is the others' half.
    const otherClock = virtualClock(9_000_100);
    const other = new RatePacer(otherClock, 0.5);
    await other.acquire();
    other.observe({ limit: 10, remaining: 5, resetMs: null }, otherClock.now());
    await other.acquire();
    assert.ok(otherClock.now() >= 9_001_000, `it waited for the next window (${otherClock.now()})`);
  });

  it('holds requests for at most 300 s when the server puts the window\'s reset further away', async () => {
    const clock = virtualClock(1_000_000);
    const pacer = new RatePacer(clock);
    await pacer.acquire();
    // Such as an epoch in milliseconds read as seconds: 55,000 years. A timer that long fires at once, for ever.
    pacer.observe({ limit: 10, remaining: 0, resetMs: 1.7e15 }, clock.now());
    await pacer.acquire();
    assert.ok(clock.now() - 1_000_000 <= 301_000, `held for ${clock.now() - 1_000_000} ms`);
  });

  it('holds every caller during a pause', async () => {
    const clock = virtualClock(0);
    const pacer = new RatePacer(clock);
    pacer.pause(2500);
    const startedAt = await Promise.all([pacer.acquire().then(() => clock.now()), pacer.acquire().then(() => clock.now())]);
    assert.ok(startedAt.every((t) => t >= 2500), `both started after the pause (${startedAt})`);
  });
});

describe('HTTP client retries', () => {
  let server: Server;
  let base = '';
  const script: { status: number; headers?: Record<string, string>; body?: string }[] = [];
  let hits = 0;
  let lastAuth = '';
  let lastContentType = '';
  before(async () => {
    server = createServer((req, res) => {
      hits += 1;
      lastAuth = String(req.headers.authorization);
      lastContentType = String(req.headers['content-type']);
      const next = script.shift() ?? { status: 200, body: '{"ok":true}' };
      res.writeHead(next.status, { 'content-type': 'application/json', ...next.headers });
      res.end(next.body ?? '');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => new Promise<void>((r) => server.close(() => r())));

  const client = (clock: PacerClock, retryAttempts = 3) =>
    new HttpClient({ baseUrl: base, token: 'secret-token-xyz', timeoutMs: 5000, retryAttempts, logger: silentLogger, redact: createRedactor(['secret-token-xyz']), clock });

  it('honours Retry-After before retrying a 429, and counts it', async () => {
    const clock = virtualClock();
    const http = client(clock);
    script.push({ status: 429, headers: { 'retry-after': '7' }, body: '{"detail":"slow down"}' });
    hits = 0;
    const res = await http.get('/Users');
    assert.deepEqual(res.body, { ok: true });
    assert.equal(hits, 2);
    assert.ok(clock.sleeps.some((s) => s >= 7000), 'waited the 7 seconds asked for');
    assert.deepEqual([http.stats.requests, http.stats.retries, http.stats.throttled], [2, 1, 1]);
    assert.equal(lastAuth, 'Bearer secret-token-xyz');
    // Contentful's SCIM API asks for it on every request, a GET included.
    assert.equal(lastContentType, 'application/scim+json');
    await http.close();
  });

  it('backs off with full jitter, never longer than the exponential bound', async () => {
    const clock = virtualClock();
    const http = new HttpClient({ baseUrl: base, token: 't', timeoutMs: 5000, retryAttempts: 3, logger: silentLogger, redact: (s) => s, clock, backoffBaseMs: 1000 });
    script.push({ status: 503 }, { status: 502 }, { status: 500 });
    const res = await http.get('/x');
    assert.equal(res.status, 200);
    assert.equal(clock.sleeps.length, 3);
    clock.sleeps.forEach((s, i) => assert.ok(s >= 0 && s <= 1000 * 2 ** i, `retry ${i + 1} waited ${s} ms`));
    await http.close();
  });

  it('gives up after retry_attempts retries with the last reason', async () => {
    const clock = virtualClock();
    const http = client(clock, 1);
    script.push({ status: 503, body: '{"detail":"maintenance"}' }, { status: 503, body: '{"detail":"maintenance"}' });
    hits = 0;
    await assert.rejects(http.get('/Users', { count: 5 }), (err: Error) => {
      assert.ok(err instanceof HttpError);
      assert.equal(err.message, 'GET /Users?count=5 failed after 2 attempts: 503 Service Unavailable: maintenance');
      assert.equal(err.status, 503);
      return true;
    });
    assert.equal(hits, 2);
    await http.close();
  });

  it('does not retry 404, and redacts a token the server echoes', async () => {
    const clock = virtualClock();
    const http = client(clock);
    script.push({ status: 404, body: '{"detail":"no such org for secret-token-xyz"}' });
    hits = 0;
    await assert.rejects(http.get('/Users'), /404 Not Found: no such org for \[redacted\]/);
    assert.equal(hits, 1);
    await http.close();
  });

  it('retries refused connections, then reports the network error', async () => {
    const clock = virtualClock();
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((r) => closed.close(() => r()));
    const http = new HttpClient({ baseUrl: `http://127.0.0.1:${port}`, token: 't', timeoutMs: 2000, retryAttempts: 2, logger: silentLogger, redact: (s) => s, clock });
    await assert.rejects(http.get('/Users'), /GET \/Users failed after 3 attempts: ECONNREFUSED/);
    assert.equal(http.stats.retries, 2);
    await http.close();
  });
});

describe('HTTP client bodies', () => {
  let server: Server;
  let base = '';
  const accepted: string[] = [];
  let onStall = (): void => {};
  const payload = { items: Array.from({ length: 500 }, (_, i) => ({ id: `user-${i}`, name: 'Ada Lovelace' })) };
  const encoders: Record<string, (b: Buffer) => Buffer> = { gzip: gzipSync, deflate: deflateSync, br: brotliCompressSync };
  before(async () => {
    server = createServer((req, res) => {
      accepted.push(String(req.headers['accept-encoding']));
      const encoding = req.url?.slice(1) ?? '';
      if (encoding === 'stall') onStall();
      if (encoding === 'signin') {
        // What a base_url pointing at a web application (not its API) answers.
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
        res.end('<!DOCTYPE html>\n<html><head><title>Sign in</title></head><body>Please sign in</body></html>');
        return;
      }
      if (encoding === 'stall') {
        // Half a body, then nothing: only the client's timeout ends it.
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': '1000' });
        res.write('{"items": [');
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': encoding });
      res.end(encoders[encoding](Buffer.from(JSON.stringify({ encoding, ...payload }))));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => {
    server.closeAllConnections();
    return new Promise<void>((r) => server.close(() => r()));
  });

  const client = (timeoutMs: number) =>
    new HttpClient({ baseUrl: base, token: 'secret-token-xyz', timeoutMs, retryAttempts: 0, logger: silentLogger, redact: createRedactor(['secret-token-xyz']) });

  it('asks for compressed bodies and reads gzip, deflate and br', async () => {
    const c = client(5000);
    try {
      for (const encoding of Object.keys(encoders)) {
        const res = await c.get(`/${encoding}`);
        assert.deepEqual(res.body, { encoding, ...payload });
      }
    } finally {
      await c.close();
    }
    assert.ok(accepted.every((a) => /gzip/.test(a) && /br/.test(a)), `asked for compression each time (${accepted.join('; ')})`);
  });

  it('quotes the start of a successful response that is not JSON, so a sign-in page shows for what it is', async () => {
    const c = client(5000);
    try {
      await assert.rejects(c.get('/signin'), /GET \/signin failed after 1 attempts: 200 with a body that is not valid JSON \(it begins: <!DOCTYPE html> <html><head><title>Sign in<\/title>/);
    } finally {
      await c.close();
    }
  });

  it('reports a body that stops arriving as a timeout', async () => {
    const c = client(300);
    try {
      await assert.rejects(c.get('/stall'), (err: Error) => {
        assert.ok(err instanceof HttpError);
        assert.match(err.message, /GET \/stall failed after 1 attempts: timed out after 0.3 s waiting for http:\/\/127\.0\.0\.1/);
        return true;
      });
    } finally {
      await c.close();
    }
  });

  // Node 20's AbortSignal.any holds its sources weakly: a timeout signal referenced by nothing else was collected,
  // and a source that stopped sending mid-body then held the sync for ever.
  it('times out a stalled body even when garbage is collected while it waits', { timeout: 30_000 }, async () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const stalled = new Promise<void>((resolve) => {
      onStall = resolve;
    });
    const c = client(1000);
    try {
      const request = c.get('/stall');
      await stalled;
      gc();
      await assert.rejects(request, /timed out after 1 s/);
    } finally {
      await c.close();
    }
  });
});
