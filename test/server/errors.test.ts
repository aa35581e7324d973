/** Error handling: 500s hide their cause behind a request id, oversized bodies are 413, logs never hold tokens. */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { pino } from 'pino';
import type { Store } from '../../src/store/types.ts';
import { call, client, startHarness, user } from './helpers.ts';
import type { Harness } from './helpers.ts';

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
