/** Error handling: 500s hide their cause behind a request id, oversized bodies are 413, logs never hold tokens. */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { pino } from 'pino';
import type { Store } from '../../src/store/types.ts';
import { call, client, startHarness, user } from './helpers.ts';
import type { Harness } from './helpers.ts';

const run = promisify(execFile);

/** Collects pino's JSON lines. */
function logSink(): { lines: () => Record<string, unknown>[]; stream: Writable; text: () => string } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, done) {
      chunks.push(String(chunk));
      done();
    },
  });
  const text = () => chunks.join('');
  return {
    stream,
    text,
    lines: () => text().split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}

describe('internal errors', () => {
  let h: Harness;
  const sink = logSink();
  const cause = 'disk on fire: /var/lib/secret-path';
  before(async () => {
    h = await startHarness({
      logger: pino({ level: 'info' }, sink.stream),
      // A store whose query method fails: a fault the client did not cause.
      wrapStore: (store) =>
        new Proxy(store, {
          get(target, prop, receiver) {
            if (prop === 'query') return async () => { throw new Error(cause); };
            const value = Reflect.get(target, prop, receiver) as unknown;
            return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
          },
        }) as Store,
    });
  });
  after(async () => h.close());

  test('a failing store method gives a 500 with a generic detail and the request id; the cause is only logged', async () => {
    const res = await client(h)('GET', '/Users');
    assert.equal(res.status, 500);
    assert.equal(res.body.status, '500');
    assert.deepEqual(res.body.schemas, ['urn:ietf:params:scim:api:messages:2.0:Error']);
    const requestId = res.headers.get('x-request-id');
    assert.ok(requestId);
    assert.ok(res.body.detail.includes(requestId), res.body.detail);
    assert.ok(!res.text.includes('disk on fire'));
    const logged = sink.lines().find((l) => l.reqId === requestId && l.level === 50);
    assert.ok(logged, 'the error is logged with the request id');
    assert.match(JSON.stringify(logged), /disk on fire/);
  });

  test('request logs carry request id, organization, route, status and duration, and never the token', async () => {
    await client(h)('POST', '/Users', { body: user('logged') });
    await call(h.base, 'GET', '/Users', { token: 'wrong-secret-value-xyz' });
    const completed = sink.lines().filter((l) => l.msg === 'request completed');
    const post = completed.find((l) => l.method === 'POST' && l.status === 201);
    assert.ok(post, JSON.stringify(completed));
    assert.equal(post.org, h.org.id);
    assert.equal(post.route, '/scim/v2/organizations/:orgId/Users');
    assert.equal(typeof post.durationMs, 'number');
    assert.equal(typeof post.reqId, 'string');
    assert.ok(!sink.text().includes(h.token), 'a valid token appears in the logs');
    assert.ok(!sink.text().includes('wrong-secret-value-xyz'), 'a guessed token appears in the logs');
  });
});

describe('request size and shape', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness({ limits: { maxPayloadBytes: 4096 } });
  });
  after(async () => h.close());

  test('a body past maxPayloadBytes is 413 with a SCIM body', async () => {
    const res = await client(h)('POST', '/Users', { body: user('big', { displayName: 'x'.repeat(10_000) }) });
    assert.equal(res.status, 413);
    assert.equal(res.body.status, '413');
    assert.deepEqual(res.body.schemas, ['urn:ietf:params:scim:api:messages:2.0:Error']);
  });

  test('20 POSTs of 20 MB in a row: every one is answered 413 with its SCIM body, none reset', async () => {
    const headers = { authorization: `Bearer ${h.token}` };
    const results = [
      ...(await rawPosts(`${h.base}/Users`, { megabytes: 20, count: 10, headers, chunked: false })),
      ...(await rawPosts(`${h.base}/Users`, { megabytes: 20, count: 10, headers, chunked: true })),
    ];
    assert.deepEqual(results.map((r) => r.status ?? r.error), Array(20).fill(413));
    for (const r of results) assert.equal(JSON.parse(r.text!).status, '413');
    // /Bulk has its own 413 body (it names maxPayloadSize), and the same care.
    const bulk = await rawPosts(`${h.base}/Bulk`, { megabytes: 20, count: 4, headers, chunked: false });
    assert.deepEqual(bulk.map((r) => r.status ?? r.error), [413, 413, 413, 413]);
    assert.equal((await client(h)('GET', '/Users')).status, 200);
  });

  test('an answer given before the body is read (401) also reaches a client still sending', async () => {
    for (const chunked of [false, true]) {
      const [missing] = await rawPosts(`${h.base}/Users`, { megabytes: 8, count: 1, headers: {}, chunked });
      assert.equal(missing.status ?? missing.error, 401);
      const [guessed] = await rawPosts(`${h.base}/Users`, { megabytes: 8, count: 1, headers: { authorization: 'Bearer not-a-token' }, chunked });
      assert.equal(guessed.status ?? guessed.error, 401);
      assert.equal(JSON.parse(guessed.text!).status, '401');
    }
  });

  test('ServiceProviderConfig advertises the enforced limits', async () => {
    const res = await client(h)('GET', '/ServiceProviderConfig');
    assert.equal(res.body.bulk.maxPayloadSize, 4096);
  });

  test('a malformed URL is 400 invalidSyntax, not a crash', async () => {
    const res = await call(h.base, 'GET', '/Users/%E0%A4%A', { token: h.token });
    assert.equal(res.status, 400);
    assert.equal(res.body.scimType, 'invalidSyntax');
    assert.deepEqual(res.body.schemas, ['urn:ietf:params:scim:api:messages:2.0:Error']);
  });

  test('deeply nested JSON is refused with 400', async () => {
    const deep = '['.repeat(200) + ']'.repeat(200);
    const res = await client(h)('POST', '/Users', { raw: deep });
    assert.equal(res.status, 400);
    assert.equal(res.body.scimType, 'invalidSyntax');
  });
});

/**
 * POSTs of `megabytes` MB of body over node:http from a separate process (a client in the server's own process shares
 * its event loop and hides the race), each written whole, with a Content-Length or chunked: each answer's status
 * and body, or the socket error the client saw.
 */
async function rawPosts(
  url: string,
  options: { megabytes: number; count: number; headers: Record<string, string>; chunked: boolean },
): Promise<{ status?: number; text?: string; error?: string }[]> {
  const script = `
    const { request } = require('node:http');
    const { url, megabytes, count, headers, chunked } = JSON.parse(process.argv[1]);
    const body = Buffer.alloc(megabytes * 1024 * 1024, 'a');
    const post = () => new Promise((resolve) => {
      const req = request(url, { method: 'POST', headers: { 'content-type': 'application/scim+json', ...headers, ...(chunked ? {} : { 'content-length': body.length }) } }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode, text }));
      });
      req.on('error', (err) => resolve({ error: err.code || err.message }));
      // A write still under way when the server closes after answering fails on the socket alone, once the
      // request has its response: that error is expected here, and unhandled it ended this client process.
      req.on('socket', (socket) => socket.on('error', () => {}));
      if (chunked) {
        for (let at = 0; at < body.length; at += 1024 * 1024) req.write(body.subarray(at, at + 1024 * 1024));
        req.end();
      } else req.end(body);
    });
    (async () => {
      const results = [];
      for (let i = 0; i < count; i++) results.push(await post());
      process.stdout.write(JSON.stringify(results));
    })();
  `;
  const { stdout } = await run(process.execPath, ['-e', script, JSON.stringify({ url, ...options })], { maxBuffer: 1 << 20 });
  return JSON.parse(stdout) as { status?: number; text?: string; error?: string }[];
}

describe('an upload past the discard bound', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness({ limits: { maxPayloadBytes: 4096, maxDiscardedBodyBytes: 256 * 1024 } });
  });
  after(async () => h.close());

  test('is cut off: the server closes the connection instead of reading it all', async () => {
    const [result] = await rawPosts(`${h.base}/Users`, { megabytes: 256, count: 1, headers: { authorization: `Bearer ${h.token}` }, chunked: true });
    assert.ok(result.error === 'ECONNRESET' || result.error === 'EPIPE' || result.status === 413, JSON.stringify(result));
    assert.equal((await client(h)('GET', '/Users')).status, 200);
  });
});
