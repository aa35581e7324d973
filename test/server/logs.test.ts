/**
 * Request logs and per-organization metrics (issue 11 item 12): each line says which client, which tenant, which
 * token and which resource, and for an error what went wrong (scimType, detail); 401 and 429 lines name the
 * organization of the path; probes are logged at debug only; secrets never reach a log line, however they are sent.
 */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { pino } from 'pino';
import { GROUP_SCHEMA, call, client, patchOp, startHarness, user } from './helpers.ts';
import type { Harness } from './helpers.ts';

function logSink(): { stream: Writable; text: () => string; lines: () => Record<string, unknown>[] } {
  let text = '';
  const stream = new Writable({
    write(chunk, _encoding, done) {
      text += String(chunk);
      done();
    },
  });
  return { stream, text: () => text, lines: () => text.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Record<string, unknown>) };
}

const requestLines = (sink: ReturnType<typeof logSink>) => sink.lines().filter((l) => l.msg === 'request completed');

describe('request log lines', () => {
  let h: Harness;
  const sink = logSink();
  let readOnly: { id: string; secret: string };
  before(async () => {
    h = await startHarness({ logger: pino({ level: 'info' }, sink.stream), settings: { readLimit: 100_000, writeLimit: 100_000 } });
    const made = await h.store.createToken(h.org.id, { scope: 'read' });
    readOnly = { id: made.token.id, secret: made.secret };
  });
  after(async () => h.close());

  test('a request line names the client, user agent, organization, token and resource', async () => {
    const created = await client(h)('POST', '/Users', { body: user('logged-1'), headers: { 'user-agent': 'Okta SCIM Client 1.0' } });
    await client(h)('GET', `/Users/${created.body.id}`, { headers: { 'user-agent': 'Okta SCIM Client 1.0' } });
    const line = requestLines(sink).find((l) => l.method === 'GET' && l.resourceId === created.body.id);
    assert.ok(line, JSON.stringify(requestLines(sink)));
    assert.equal(line.client, '127.0.0.1');
    assert.equal(line.userAgent, 'Okta SCIM Client 1.0');
    assert.equal(line.org, h.org.id);
    const tokenId = (await h.store.listTokens(h.org.id)).find((t) => t.scope === 'read-write')!.id;
    assert.equal(line.tokenId, tokenId);
    assert.equal(line.route, '/scim/v2/organizations/:orgId/Users/:id');
    assert.equal(line.status, 200);
    assert.equal(line.detail, undefined, 'a success carries no detail');
  });

  test('a request refused before routing (a malformed URL, an id past the path limit) has its line and its count', async () => {
    const malformed = await call(h.base, 'GET', '/Users/%E0%A4%A', { token: h.token });
    const tooLong = await call(h.base, 'GET', `/Users/${'a'.repeat(600)}`, { token: h.token });
    assert.deepEqual([malformed.status, tooLong.status], [400, 400]);
    for (const res of [malformed, tooLong]) {
      const line = requestLines(sink).find((l) => l.reqId === res.headers.get('x-request-id'));
      assert.ok(line, `no line for ${res.body.detail}`);
      assert.equal(line.status, 400);
      assert.equal(line.route, 'unmatched');
      assert.equal(line.scimType, 'invalidSyntax');
      assert.ok(!String(line.detail).includes('aaaa'), 'the detail repeats the raw path');
    }
    const metrics = (await call(h.origin, 'GET', '/metrics')).text;
    const counted = /^scimkit_http_requests_total\{method="GET",route="unmatched",status="400"\} (\d+)$/m.exec(metrics);
    assert.ok(counted && Number(counted[1]) >= 2, metrics.split('\n').filter((l) => l.includes('unmatched')).join('\n'));
  });

  test('a 4xx line says what went wrong: scimType and detail', async () => {
    await client(h)('POST', '/Users', { body: user('collides') });
    const conflict = await client(h)('POST', '/Users', { body: user('COLLIDES') });
    assert.equal(conflict.status, 409);
    const line = requestLines(sink).find((l) => l.status === 409);
    assert.ok(line);
    assert.equal(line.scimType, 'uniqueness');
    assert.equal(line.detail, conflict.body.detail);
    assert.match(String(line.detail), /userName/);
    await client(h)('GET', `/Users?filter=${encodeURIComponent('userName zz "x"')}`);
    const badFilter = requestLines(sink).find((l) => l.scimType === 'invalidFilter');
    assert.ok(badFilter && typeof badFilter.detail === 'string');
    await client(h)('GET', '/Users/no-such-user');
    const missing = requestLines(sink).find((l) => l.status === 404 && l.resourceId === 'no-such-user');
    assert.ok(missing && typeof missing.detail === 'string');
  });

  test('401 lines carry the organization of the path; a scope refusal the token', async () => {
    await call(h.base, 'GET', '/Users', { token: 'not-a-real-token' });
    const unauthorized = requestLines(sink).find((l) => l.status === 401);
    assert.ok(unauthorized);
    assert.equal(unauthorized.org, h.org.id);
    assert.equal(unauthorized.tokenId, undefined);
    assert.match(String(unauthorized.detail), /invalid or revoked/);
    await client(h, readOnly.secret)('DELETE', '/Users/anyone');
    const forbidden = requestLines(sink).find((l) => l.status === 403);
    assert.ok(forbidden);
    assert.equal(forbidden.org, h.org.id);
    assert.equal(forbidden.tokenId, readOnly.id);
    assert.match(String(forbidden.detail), /read-only/);
  });

  test('/healthz, /readyz and /metrics are not logged at info', async () => {
    const before = requestLines(sink).length;
    for (const path of ['/healthz', '/readyz', '/metrics']) assert.equal((await call(h.origin, 'GET', path)).status, 200);
    assert.equal(requestLines(sink).length, before);
  });
});

test('429 lines carry the organization; probes are logged at debug', async () => {
  const sink = logSink();
  const clock = { now: 5_000_000_000_000 };
  const h = await startHarness({ logger: pino({ level: 'debug' }, sink.stream), settings: { readLimit: 1, writeLimit: 1 }, clock });
  try {
    const api = client(h);
    assert.deepEqual([(await api('GET', '/Users')).status, (await api('GET', '/Users')).status], [200, 429]);
    const limited = requestLines(sink).find((l) => l.status === 429);
    assert.ok(limited);
    assert.equal(limited.org, h.org.id);
    assert.ok(limited.tokenId);
    assert.match(String(limited.detail), /rate limit/);
    await call(h.origin, 'GET', '/healthz');
    const probe = requestLines(sink).find((l) => l.route === '/healthz');
    assert.ok(probe, 'at debug, probes are logged');
    assert.equal(probe.level, 20);
  } finally {
    await h.close();
  }
});

test('no secret reaches the logs: tokens, guesses, passwords, cookies, query credentials', async () => {
  const sink = logSink();
  const h = await startHarness({ logger: pino({ level: 'trace' }, sink.stream) });
  try {
    const api = client(h);
    const secrets = {
      password: 'Pw-Secret-4f1a9c-correct-horse',
      putPassword: 'Pw-Secret-77d2e0-battery-staple',
      patchPassword: 'Pw-Secret-31b8aa-patch-path',
      patchValuePassword: 'Pw-Secret-c0ffee-pathless-value',
      bulkPassword: 'Pw-Secret-bulk-0e9d11',
      filterPassword: 'Pw-Secret-filter-5c2b',
      badTypePassword: 'Pw-Secret-in-an-array-8a8a',
      longPassword: `Pw-Secret-long-${'x'.repeat(40_000)}`,
      guess: 'Guessed-Token-Secret-9b1e2d3c',
      basic: Buffer.from('admin:Basic-Secret-5e5e').toString('base64'),
      cookie: 'Cookie-Secret-a1b2c3',
      queryToken: 'Query-Token-Secret-d4e5f6',
      managementGuess: 'smk_Management-Guess-Secret-77',
    };
    const created = await api('POST', '/Users', { body: user('secretive', { password: secrets.password }) });
    assert.equal(created.status, 201);
    const id = created.body.id as string;
    await api('PUT', `/Users/${id}`, { body: user('secretive', { password: secrets.putPassword }) });
    await api('PATCH', `/Users/${id}`, { body: patchOp({ op: 'replace', path: 'password', value: secrets.patchPassword }) });
    await api('PATCH', `/Users/${id}`, { body: patchOp({ op: 'replace', value: { password: secrets.patchValuePassword } }) });
    await api('POST', '/Bulk', {
      body: {
        schemas: ['urn:ietf:params:scim:api:messages:2.0:BulkRequest'],
        Operations: [{ method: 'POST', path: '/Users', bulkId: 'b1', data: user('bulk-secretive', { password: secrets.bulkPassword }) }],
      },
    });
    await api('GET', `/Users?filter=${encodeURIComponent(`password eq "${secrets.filterPassword}"`)}`);
    await api('POST', '/Users', { body: user('bad-type', { password: [secrets.badTypePassword] }) });
    await api('POST', '/Users', { body: user('too-long', { password: secrets.longPassword }) });
    await api('POST', '/Groups', { body: { schemas: [GROUP_SCHEMA], displayName: 'g', password: secrets.password } });
    await call(h.base, 'GET', '/Users', { token: secrets.guess });
    await call(h.base, 'GET', '/Users', { headers: { authorization: `Basic ${secrets.basic}` } });
    await call(h.base, 'GET', `/Users?access_token=${secrets.queryToken}`, { token: h.token, headers: { cookie: `session=${secrets.cookie}` } });
    await call(h.origin, 'GET', `/api/v1/organizations/${h.org.id}/events`, { token: secrets.managementGuess });
    // Malformed JSON: the parser's own message quotes the text around the error, which here is the password.
    const malformed = [
      await api('POST', '/Users', { raw: '{"userName":"m","password":Unquoted9d7c-secret}' }),
      await api('POST', '/Users', { raw: 'BareBody7e5f-secret' }),
      await call(h.origin, 'POST', '/api/v1/session', { raw: '{"email":"a@example.com","password":Unquoted9d7c-secret}', headers: { 'content-type': 'application/json' } }),
    ];
    for (const res of malformed) {
      assert.equal(res.status, 400, res.text);
      assert.doesNotMatch(res.text, /Unquoted|BareBody/, 'the answer repeats the malformed body');
    }
    // The server logged the requests (so the check below looks at real lines).
    assert.ok(requestLines(sink).length >= 13, `${requestLines(sink).length} request lines`);
    const text = sink.text();
    for (const [name, secret] of Object.entries({ ...secrets, token: h.token })) {
      assert.ok(!text.includes(secret.slice(0, 30)), `${name} appears in the logs`);
    }
    assert.ok(!text.includes('admin:Basic-Secret'), 'decoded Basic credentials appear in the logs');
    assert.doesNotMatch(text, /Unquoted|BareBody/, 'a malformed body appears in the logs');
  } finally {
    await h.close();
  }
});

test('per-organization request, 4xx and 429 counts, with the label set bounded', async () => {
  const clock = { now: 6_000_000_000_000 };
  const h = await startHarness({ settings: { readLimit: 2, writeLimit: 100 }, clock, metricsMaxOrganizations: 2 });
  try {
    const others = [];
    for (const name of ['second', 'third', 'fourth']) {
      const org = await h.store.createOrganization(name, { readLimit: 100, writeLimit: 100 });
      others.push({ org, token: (await h.store.createToken(org.id, { scope: 'read-write' })).secret });
    }
    const api = client(h);
    await api('GET', '/Users');
    await api('GET', '/Users/missing');
    await api('GET', '/Users'); // the third read in one window: 429
    for (const { org, token } of others) await call(`${h.origin}/scim/v2/organizations/${org.id}`, 'GET', '/Users', { token });
    // Anonymous and guessing clients add no label, whatever organization their path names.
    await call(`${h.origin}/scim/v2/organizations/made-up-org`, 'GET', '/Users', { token: 'guess' });
    const text = (await call(h.origin, 'GET', '/metrics')).text;
    const series = (name: string) => [...text.matchAll(new RegExp(`^${name}\\{org="([^"]+)"\\} (\\d+)$`, 'gm'))].map((m) => [m[1], Number(m[2])]);
    assert.deepEqual(series('scimkit_organization_requests_total'), [
      [h.org.id, 3],
      [others[0].org.id, 1],
      ['_other', 2],
    ]);
    assert.deepEqual(series('scimkit_organization_client_errors_total'), [
      [h.org.id, 2],
      [others[0].org.id, 0],
      ['_other', 0],
    ]);
    assert.deepEqual(series('scimkit_organization_rate_limited_total'), [
      [h.org.id, 1],
      [others[0].org.id, 0],
      ['_other', 0],
    ]);
  } finally {
    await h.close();
  }
});
