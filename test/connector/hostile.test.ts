/**
 * Hostile and broken upstreams (issue 17, items 5-8): a token echoed in an error body at every offset around the
 * quoting cut, redirects to another origin, paging that never ends, responses past the size bound, and
 * Retry-After values that would mean hammering the server. After each failure nothing from the bad response is in
 * the tables and the stream's cursor has not advanced. Run once per destination where a destination is involved.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it, type TestContext } from 'node:test';
import type { DestinationUrl } from '../../src/connector/config.ts';
import { HttpClient, HttpError } from '../../src/connector/http.ts';
import { createRedactor, secretFragmentChars, silentLogger } from '../../src/connector/log.ts';
import type { PacerClock } from '../../src/connector/pacer.ts';
import { SyncError } from '../../src/connector/sync.ts';
import { FakeProvider, type FakeOptions, type Json } from './fake-provider.ts';
import { assertTablesEqualSource, configFor, DestinationFactory, destinationKinds, sync, TOKEN, withDestination, type DestinationKind } from './helpers.ts';

const { kinds, missing } = destinationKinds();
const factory = new DestinationFactory();
after(() => factory.cleanup());

if (missing) it('runs against PostgreSQL under CI', () => assert.fail(missing));

/** The longest run of the token's characters found in a text. */
function longestTokenFragment(text: string, token: string): number {
  let best = 0;
  for (let i = 0; i < token.length; i++) {
    for (let j = i + best + 1; j <= token.length; j++) {
      if (text.includes(token.slice(i, j))) best = j - i;
      else break;
    }
  }
  return best;
}

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

describe('the token in error bodies', () => {
  const secret = 'tok-SECRET-abcdefghijklmnopqrstuvwxyz01234';
  const SECRET_FRAGMENT_CHARS = secretFragmentChars(secret);
  let server: Server;
  let base = '';
  let reply: { status: number; type: string; body: string } = { status: 400, type: 'text/plain', body: '' };
  before(async () => {
    server = createServer((_req, res) => {
      res.writeHead(reply.status, { 'content-type': reply.type });
      res.end(reply.body);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => new Promise<void>((r) => server.close(() => r())));

  const client = () =>
    new HttpClient({ baseUrl: base, token: secret, timeoutMs: 5000, retryAttempts: 1, logger: silentLogger, redact: createRedactor([secret]), clock: virtualClock() });

  it('never shows a fragment of the token, wherever the echo falls around the cut of the quoted body', async () => {
    const http = client();
    // The quoted body is cut at 200 characters: put the echoed header at every offset that straddles the cut.
    for (let pad = 200 - 'Bearer '.length - secret.length - 3; pad <= 203; pad++) {
      reply = { status: 400, type: 'text/plain', body: `${'p'.repeat(pad)}Bearer ${secret}` };
      const err = await http.get('/Users').then(() => null, (e: Error) => e);
      assert.ok(err instanceof HttpError, `offset ${pad}: the request failed`);
      assert.match(err.message, /400 Bad Request: p+/);
      const leaked = longestTokenFragment(err.message, secret);
      assert.ok(leaked < SECRET_FRAGMENT_CHARS, `offset ${pad}: ${leaked} characters of the token in ${JSON.stringify(err.message)}`);
    }
    await http.close();
  });

  it('masks a part of the token that a server echoes on its own (cut short, in a SCIM detail or a text body)', async () => {
    const http = client();
    const echoes = [
      { status: 401, type: 'application/scim+json', body: JSON.stringify({ detail: `unknown token ${secret.slice(0, 30)}`, status: '401' }) },
      { status: 403, type: 'text/plain', body: `denied for ...${secret.slice(12)}` },
      { status: 404, type: 'application/json', body: JSON.stringify({ message: `no org for ${secret.slice(5, 25)} here` }) },
    ];
    for (const echo of echoes) {
      reply = echo;
      const err = await http.get('/Users').then(() => null, (e: Error) => e);
      assert.ok(err instanceof HttpError);
      assert.match(err.message, /\[redacted\]/, err.message);
      assert.ok(longestTokenFragment(err.message, secret) < SECRET_FRAGMENT_CHARS, err.message);
    }
    await http.close();
  });

  it('the redactor masks fragments of the token but leaves other text alone', () => {
    const redact = createRedactor([secret]);
    assert.equal(redact(`a ${secret} b`), 'a [redacted] b');
    assert.equal(redact(`x${secret.slice(3, 20)}y`), 'x[redacted]y');
    assert.equal(redact('GET /Users?startIndex=1&count=100 failed: 500 Internal Server Error'), 'GET /Users?startIndex=1&count=100 failed: 500 Internal Server Error');
    assert.equal(redact(`short ${secret.slice(0, SECRET_FRAGMENT_CHARS - 1)}`), `short ${secret.slice(0, SECRET_FRAGMENT_CHARS - 1)}`, 'shorter runs are ordinary text');
  });
});

describe('Retry-After and 429s', () => {
  let server: Server;
  let base = '';
  const script: { status: number; headers?: Record<string, string>; body?: string }[] = [];
  let hits = 0;
  before(async () => {
    server = createServer((_req, res) => {
      hits += 1;
      const next = script.shift() ?? { status: 200, body: '{"ok":true}' };
      res.writeHead(next.status, { 'content-type': 'application/json', ...next.headers });
      res.end(next.body ?? '');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => new Promise<void>((r) => server.close(() => r())));

  const client = (clock: PacerClock, retryAttempts = 3) =>
    new HttpClient({ baseUrl: base, token: 't0ken-value-xyz', timeoutMs: 5000, retryAttempts, logger: silentLogger, redact: (s) => s, clock, backoffBaseMs: 200 });

  it('Retry-After: 0 or a date in the past falls back to the jittered backoff instead of retrying at once', async () => {
    for (const value of ['0', new Date(Date.now() - 60_000).toUTCString()]) {
      const clock = virtualClock();
      const http = client(clock);
      script.length = 0;
      script.push({ status: 429, headers: { 'retry-after': value } }, { status: 503, headers: { 'retry-after': value } }, { status: 429, headers: { 'retry-after': value } });
      hits = 0;
      const res = await http.get('/Users');
      assert.equal(res.status, 200);
      assert.equal(hits, 4);
      assert.equal(clock.sleeps.length, 3, `every retry waited (Retry-After: ${value}): ${clock.sleeps}`);
      assert.ok(clock.sleeps.every((ms) => ms > 0), `no retry went at once: ${clock.sleeps}`);
      await http.close();
    }
  });

  it('waits out 429s that say when to come back without using up retry_attempts, and counts them', async () => {
    const clock = virtualClock();
    const http = client(clock, 1);
    script.length = 0;
    for (let i = 0; i < 4; i++) script.push({ status: 429, headers: { 'retry-after': '2', 'x-ratelimit-limit': '10', 'x-ratelimit-remaining': '0' }, body: '{"detail":"slow down"}' });
    script.push({ status: 500, body: '{"detail":"hiccup"}' });
    hits = 0;
    const res = await http.get('/Users');
    assert.equal(res.status, 200);
    assert.equal(hits, 6, 'four 429s and one 500 retried with retry_attempts 1');
    assert.deepEqual([http.stats.throttled, http.stats.retries], [4, 5]);
    assert.ok(clock.sleeps.filter((ms) => ms >= 2000).length >= 4, 'each 429 waited its Retry-After');
    await http.close();
  });

  it('a 429 with rate-limit headers but no Retry-After waits too, and a bare 429 spends an attempt', async () => {
    const clock = virtualClock();
    const http = client(clock, 1);
    script.length = 0;
    script.push({ status: 429, headers: { 'x-ratelimit-limit': '10', 'x-ratelimit-remaining': '0' } }, { status: 429, headers: { 'x-ratelimit-limit': '10', 'x-ratelimit-remaining': '0' } });
    assert.equal((await http.get('/Users')).status, 200);
    script.push({ status: 429 }, { status: 429 });
    await assert.rejects(http.get('/Users'), /failed after 2 attempts: 429 Too Many Requests/);
    await http.close();
  });

  it('gives up once the waiting for one request passes the time budget, saying what to do', async () => {
    const clock = virtualClock();
    const http = client(clock, 1);
    script.length = 0;
    for (let i = 0; i < 10; i++) script.push({ status: 429, headers: { 'retry-after': '120' } });
    await assert.rejects(http.get('/Users'), /still throttled \(429\) after waiting 240 s; other clients are using the organization's rate limit: lower rate_limit_share/);
    assert.equal(hits >= 3, true);
    await http.close();
  });
});

async function setup(t: TestContext, kind: DestinationKind, opts: Partial<FakeOptions> = {}): Promise<{ p: FakeProvider; d: DestinationUrl }> {
  const p = await new FakeProvider({ token: TOKEN, ...opts }).start();
  t.after(() => p.stop());
  p.populate(25, 2, 4);
  return { p, d: await factory.create(kind) };
}

async function usersState(d: DestinationUrl): Promise<{ cursor: string | null; completed: string | null; rows: number }> {
  return withDestination(d, async (dest) => {
    const st = (await dest.loadState()).get('users');
    return { cursor: st?.cursor ?? null, completed: st?.lastCompletedAt ?? null, rows: (await dest.readRows('users')).length };
  });
}

for (const kind of kinds) {
  describe(`hostile upstreams into ${kind}`, () => {
    it('never follows a redirect to another origin, and names both origins', async (t) => {
      const other = createServer((_req, res) => {
        res.writeHead(200, { 'content-type': 'application/scim+json' });
        res.end(JSON.stringify({ totalResults: 1, Resources: [{ id: 'intruder', userName: 'intruder@evil.example', meta: { lastModified: new Date().toISOString() } }] }));
      });
      await new Promise<void>((r) => other.listen(0, '127.0.0.1', r));
      t.after(() => new Promise<void>((r) => other.close(() => r())));
      const otherOrigin = `http://127.0.0.1:${(other.address() as AddressInfo).port}`;
      const { p, d } = await setup(t, kind);
      p.inject({ kind: 'status', status: 307, times: 100, headers: { location: `${otherOrigin}/scim/v2/Users` }, match: ({ path, query }) => path === '/Users' && query.get('count') !== '1' });
      const err = await sync(configFor(p, d)).then(() => null, (e: Error) => e);
      assert.ok(err instanceof HttpError, String(err));
      assert.ok(err.message.includes(`redirect from ${new URL(p.baseUrl).origin} to another origin, ${otherOrigin}`), err.message);
      assert.match(err.message, /set base_url to its new address/);
      assert.deepEqual(await usersState(d), { cursor: null, completed: null, rows: 0 }, 'nothing from the other host, and no cursor');
    });

    it('follows a redirect within the source\'s own origin', async (t) => {
      const { p, d } = await setup(t, kind);
      p.inject({ kind: 'status', status: 308, times: 1, headers: { location: '/scim/v2/Users?startIndex=1&count=10' }, match: ({ path, query }) => path === '/Users' && query.get('startIndex') === '1' && query.get('count') === '10' });
      await sync(configFor(p, d));
      await assertTablesEqualSource(d, p);
    });

    it('stops a listing that runs far past the reported totalResults (an endless cursor), writing nothing more and keeping the cursor', { timeout: 30_000 }, async (t) => {
      const { p, d } = await setup(t, kind, { cursorPaging: true, endlessPaging: true });
      const err = await sync(configFor(p, d)).then(() => null, (e: Error) => e);
      assert.ok(err instanceof SyncError, String(err));
      assert.match(err.message, /users: paging would reach 1020 records while the server reports 5 in all; stopping/);
      const st = await usersState(d);
      assert.deepEqual([st.cursor, st.completed], [null, null], 'the cursor did not advance');
      assert.ok(st.rows <= 1000 + 10, `rows written stay bounded (${st.rows})`);
      // A second run keeps refusing rather than paging on.
      await assert.rejects(sync(configFor(p, d)), /paging would reach/);
      assert.ok((await usersState(d)).rows <= 1010);
    });

    for (const chunked of [false, true]) {
      it(`refuses a response larger than max_response_mb (${chunked ? 'chunked, no Content-Length' : 'with Content-Length'}) without buffering it`, { timeout: 30_000 }, async (t) => {
        const { p, d } = await setup(t, kind);
        const match = ({ path, query }: { path: string; query: URLSearchParams }) => path === '/Users' && query.get('startIndex') === '11';
        if (chunked) p.inject({ kind: 'huge', bytes: 64 * 1024 * 1024, times: 1, match });
        else p.inject({ kind: 'status', status: 200, times: 1, match, body: { totalResults: 1, Resources: [{ id: 'x', userName: 'x'.repeat(2 * 1024 * 1024) }] } });
        const before = process.memoryUsage().rss;
        const err = await sync(configFor(p, d, { max_response_mb: 1 })).then(() => null, (e: Error) => e);
        assert.ok(err instanceof HttpError, String(err));
        assert.match(err.message, /GET \/Users\?excludedAttributes=groups&startIndex=11&count=10 failed: the response is larger than max_response_mb \(1 MiB\); raise max_response_mb/);
        assert.ok(process.memoryUsage().rss - before < 48 * 1024 * 1024, 'the 64 MiB body was not buffered');
        assert.equal(p.requests.filter((r) => match(r)).length, 1, 'not retried');
        const st = await usersState(d);
        assert.deepEqual([st.cursor, st.completed, st.rows], [null, null, 10], 'only the page before it was written; no cursor');
      });
    }
  });
}
