/** Authentication, tenant isolation, token scopes and per-organization rate limits over real HTTP. */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { SEARCH_SCHEMA, call, client, group, patchOp, startHarness, user } from './helpers.ts';
import type { Harness } from './helpers.ts';

describe('authentication', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness({ limits: { authFailuresPerSecond: 1000 } });
  });
  after(async () => h.close());

  test('a missing token is 401 with WWW-Authenticate: Bearer and a SCIM body', async () => {
    const res = await call(h.base, 'GET', '/Users');
    assert.equal(res.status, 401);
    assert.equal(res.headers.get('www-authenticate'), 'Bearer realm="scimkit"');
    assert.equal(res.body.status, '401');
    assert.deepEqual(res.body.schemas, ['urn:ietf:params:scim:api:messages:2.0:Error']);
  });

  test('a wrong or malformed token is 401 with error="invalid_token", and the token is not echoed', async () => {
    const guess = 'not-a-real-token-0123456789';
    const res = await call(h.base, 'GET', '/Users', { token: guess });
    assert.equal(res.status, 401);
    assert.match(res.headers.get('www-authenticate') ?? '', /^Bearer realm="scimkit", error="invalid_token"$/);
    assert.ok(!res.text.includes(guess));
    const basic = await call(h.base, 'GET', '/Users', { headers: { authorization: 'Basic dXNlcjpwYXNz' } });
    assert.equal(basic.status, 401);
  });

  test('discovery endpoints need a token too; /healthz and /metrics do not', async () => {
    assert.equal((await call(h.base, 'GET', '/ServiceProviderConfig')).status, 401);
    assert.equal((await call(h.base, 'GET', '/Schemas')).status, 401);
    const health = await call(h.origin, 'GET', '/healthz');
    assert.equal(health.status, 200);
    assert.deepEqual(health.body, { status: 'ok' });
    assert.equal((await call(h.origin, 'GET', '/metrics')).status, 200);
  });

  test('a revoked token is refused', async () => {
    const { token, secret } = await h.store.createToken(h.org.id, { scope: 'read-write' });
    assert.equal((await call(h.base, 'GET', '/Users', { token: secret })).status, 200);
    assert.equal(await h.store.revokeToken(token.id), true);
    assert.equal((await call(h.base, 'GET', '/Users', { token: secret })).status, 401);
  });

  test('a read-only token reads and searches but cannot write (403)', async () => {
    const { secret } = await h.store.createToken(h.org.id, { scope: 'read' });
    const ro = client(h, secret);
    assert.equal((await ro('GET', '/Users')).status, 200);
    assert.equal((await ro('POST', '/Users/.search', { body: { schemas: [SEARCH_SCHEMA] } })).status, 200);
    const created = await client(h)('POST', '/Users', { body: user('ro-target') });
    for (const [method, url, body] of [
      ['POST', '/Users', user('ro-new')],
      ['PUT', `/Users/${created.body.id}`, user('ro-target')],
      ['PATCH', `/Users/${created.body.id}`, patchOp({ op: 'replace', path: 'title', value: 'x' })],
      ['DELETE', `/Users/${created.body.id}`, undefined],
    ] as const) {
      const res = await ro(method, url, { body });
      assert.equal(res.status, 403, `${method} ${url}`);
      assert.equal(res.body.status, '403');
    }
    assert.equal((await client(h)('GET', `/Users/${created.body.id}`)).body.userName, 'ro-target');
  });

  test('a token bound to a User reaches only /Me; everything else is 403 and spends no quota', async () => {
    // Issue 11, item 10: such a token could list and create every user (200, 201).
    const admin = client(h);
    const me = await admin('POST', '/Users', { body: user('bound-me') });
    const other = await admin('POST', '/Users', { body: user('bound-other') });
    const g = await admin('POST', '/Groups', { body: group('bound-group') });
    const { secret } = await h.store.createToken(h.org.id, { scope: 'read-write', userId: me.body.id });
    const mine = client(h, secret);
    const refused: [string, string, unknown][] = [
      ['GET', '/Users', undefined],
      ['GET', `/Users?filter=${encodeURIComponent('userName eq "bound-other"')}`, undefined],
      ['POST', '/Users', user('bound-new')],
      ['GET', `/Users/${me.body.id}`, undefined],
      ['GET', `/Users/${other.body.id}`, undefined],
      ['PATCH', `/Users/${other.body.id}`, patchOp({ op: 'replace', path: 'active', value: false })],
      ['DELETE', `/Users/${other.body.id}`, undefined],
      ['GET', '/Groups', undefined],
      ['PATCH', `/Groups/${g.body.id}`, patchOp({ op: 'add', path: 'members', value: [{ value: me.body.id }] })],
      ['POST', '/.search', { schemas: [SEARCH_SCHEMA] }],
      ['POST', '/Users/.search', { schemas: [SEARCH_SCHEMA] }],
      ['POST', '/Bulk', { schemas: ['urn:ietf:params:scim:api:messages:2.0:BulkRequest'], Operations: [{ method: 'POST', path: '/Users', data: user('bulk-new') }] }],
      ['GET', '/ServiceProviderConfig', undefined],
      ['GET', '/Schemas', undefined],
    ];
    for (const [method, url, body] of refused) {
      const res = await mine(method, url, { body });
      assert.equal(res.status, 403, `${method} ${url}: ${res.text.slice(0, 200)}`);
      assert.match(res.body.detail, /bound to a User and reaches only \/Me/);
      // Rate-limit headers are set once a request is counted: none here, so the refusal cost no quota.
      assert.equal(res.headers.get('x-ratelimit-remaining'), null, 'refused before the rate limit counts');
    }
    assert.equal((await admin('GET', '/Users?filter=userName eq "bound-new"')).body.totalResults, 0, 'nothing was created');
    assert.equal((await admin('GET', `/Users/${other.body.id}`)).body.active, true, 'nothing was changed (absent active means true)');

    // Through /Me it reads and writes its own User (RFC 7644 section 3.11).
    const got = await mine('GET', '/Me');
    assert.equal(got.status, 200);
    assert.equal(got.body.id, me.body.id);
    const patched = await mine('PATCH', '/Me', { body: patchOp({ op: 'replace', path: 'title', value: 'Self' }) });
    assert.equal(patched.status, 200);
    assert.equal(patched.body.title, 'Self');

    // A read-only token bound to a User reads /Me and nothing else.
    const { secret: readOnly } = await h.store.createToken(h.org.id, { scope: 'read', userId: me.body.id });
    const ro = client(h, readOnly);
    assert.equal((await ro('GET', '/Me')).status, 200);
    assert.equal((await ro('PATCH', '/Me', { body: patchOp({ op: 'replace', path: 'title', value: 'x' }) })).status, 403);
    assert.equal((await ro('GET', '/Users')).status, 403);
  });

  test('deleting a User revokes the tokens bound to it: 401 from the next request, listed as revoked', async () => {
    const admin = client(h);
    for (const how of ['DELETE /Users/{id}', 'DELETE /Me', 'Bulk DELETE']) {
      const me = await admin('POST', '/Users', { body: user(`doomed-${how.replace(/\W+/g, '-')}`) });
      const bound = await h.store.createToken(h.org.id, { scope: 'read-write', userId: me.body.id });
      const other = await h.store.createToken(h.org.id, { scope: 'read', userId: me.body.id });
      const mine = client(h, bound.secret);
      assert.equal((await mine('GET', '/Me')).status, 200, 'the token works (and is now in the server\'s token cache)');
      if (how === 'DELETE /Me') assert.equal((await mine('DELETE', '/Me')).status, 204);
      else if (how === 'Bulk DELETE') {
        const bulk = await admin('POST', '/Bulk', { body: { schemas: ['urn:ietf:params:scim:api:messages:2.0:BulkRequest'], Operations: [{ method: 'DELETE', path: `/Users/${me.body.id}` }] } });
        assert.equal(bulk.body.Operations[0].status, '204');
      } else assert.equal((await admin('DELETE', `/Users/${me.body.id}`)).status, 204);
      for (const secret of [bound.secret, other.secret]) {
        const after = await client(h, secret)('GET', '/Me');
        assert.equal(after.status, 401, `${how}: ${after.text}`);
        assert.match(after.headers.get('www-authenticate') ?? '', /error="invalid_token"/);
      }
      const listed = (await h.store.listTokens(h.org.id)).filter((t) => t.id === bound.token.id || t.id === other.token.id);
      assert.equal(listed.length, 2);
      for (const t of listed) assert.notEqual(t.revoked, null, `${how}: listed as revoked`);
    }
    // Other tokens, bound to no User or to another one, stay live.
    assert.equal((await admin('GET', '/Users')).status, 200);
  });
});

describe('failed authentications are limited per client address', () => {
  let h: Harness;
  // The limiter's clock stands still, so every request below falls in one one-second window.
  const clock = { now: 1_000_000_000_000 };
  before(async () => {
    h = await startHarness({ limits: { authFailuresPerSecond: 3 }, clock });
  });
  after(async () => h.close());

  test('past the limit, guesses get 429 with Retry-After, while a valid token from that address is still served', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) statuses.push((await call(h.base, 'GET', '/Users', { token: `guess-${i}` })).status);
    assert.deepEqual(statuses, [401, 401, 401, 429, 429, 429]);
    const refused = await call(h.base, 'GET', '/Users', { token: 'guess-6' });
    assert.equal(refused.status, 429);
    assert.ok(Number(refused.headers.get('retry-after')) >= 1);
    assert.equal(refused.body.status, '429');
    assert.deepEqual(refused.body.schemas, ['urn:ietf:params:scim:api:messages:2.0:Error']);
    // Same address, same window: a valid token is never refused by the failed-authentication limit.
    assert.equal((await call(h.base, 'GET', '/Users', { token: h.token })).status, 200);
    // A request without any credential is told to authenticate, not slowed down.
    assert.equal((await call(h.base, 'GET', '/Users', { token: null })).status, 401);
    // The other base path shares the block.
    const otherPrefix = await call(`${h.origin}/scim/v2.0/organizations/${h.org.id}`, 'GET', '/Users', { token: 'guess-7' });
    assert.equal(otherPrefix.status, 429);
    const metrics = await call(h.origin, 'GET', '/metrics');
    assert.match(metrics.text, /scimkit_rate_limited_total\{class="auth"\} [1-9]/);
  });
});

describe('tenant isolation', () => {
  let h: Harness;
  let tokenB: string;
  let orgB: string;
  before(async () => {
    h = await startHarness();
    const b = await h.store.createOrganization('beta', { readLimit: 100_000, writeLimit: 100_000 });
    orgB = b.id;
    tokenB = (await h.store.createToken(b.id, { scope: 'read-write' })).secret;
  });
  after(async () => h.close());

  test("org A's token cannot read or change org B's resources, by id, list, search or filter", async () => {
    const baseB = `${h.origin}/scim/v2/organizations/${orgB}`;
    const apiB = (method: string, url: string, body?: unknown) => call(baseB, method, url, { token: tokenB, body });
    const secretUser = await apiB('POST', '/Users', user('secret-user@beta'));
    assert.equal(secretUser.status, 201);
    const secretGroup = await apiB('POST', '/Groups', group('beta-group'));
    const idB = secretUser.body.id;

    const a = client(h);
    // With A's token on A's path, B's ids do not exist.
    assert.equal((await a('GET', `/Users/${idB}`)).status, 404);
    assert.equal((await a('PUT', `/Users/${idB}`, { body: user('stolen') })).status, 404);
    assert.equal((await a('PATCH', `/Users/${idB}`, { body: patchOp({ op: 'replace', path: 'title', value: 'x' }) })).status, 404);
    assert.equal((await a('DELETE', `/Users/${idB}`)).status, 404);
    assert.equal((await a('GET', `/Groups/${secretGroup.body.id}`)).status, 404);
    const listed = await a('GET', `/Users?filter=${encodeURIComponent('userName eq "secret-user@beta"')}`);
    assert.equal(listed.body.totalResults, 0);
    const all = await a('GET', '/Users');
    assert.ok(!all.body.Resources.some((r: any) => r.id === idB));
    const searched = await a('POST', '/.search', { body: { schemas: [SEARCH_SCHEMA], filter: `id eq "${idB}"` } });
    assert.equal(searched.body.totalResults, 0);
    // A's user cannot be added to A's group by naming B's user as a member.
    const groupA = await a('POST', '/Groups', { body: group('alpha-group', { members: [{ value: idB }] }) });
    assert.notEqual(groupA.status, 201);
    assert.ok(groupA.status >= 400 && groupA.status < 500, String(groupA.status));

    // With A's token on B's path: 403, and the same for an organization that does not exist.
    const crossed = await call(baseB, 'GET', `/Users/${idB}`, { token: h.token });
    assert.equal(crossed.status, 403);
    assert.ok(!crossed.text.includes('secret-user'));
    assert.equal((await call(baseB, 'GET', '/Users', { token: h.token })).status, 403);
    assert.equal((await call(baseB, 'DELETE', `/Users/${idB}`, { token: h.token })).status, 403);
    const ghost = await call(`${h.origin}/scim/v2/organizations/no-such-org`, 'GET', '/Users', { token: h.token });
    assert.equal(ghost.status, 403);
    assert.equal(ghost.body.detail, crossed.body.detail);

    // Same userName in two organizations is fine: uniqueness is per organization.
    assert.equal((await a('POST', '/Users', { body: user('secret-user@beta') })).status, 201);
    assert.equal((await apiB('GET', `/Users/${idB}`)).body.userName, 'secret-user@beta');
  });
});

describe('per-organization rate limits', () => {
  let h: Harness;
  // The limiter's clock moves only when a test moves it, so windows are exact.
  const clock = { now: 2_000_000_000_000 };
  before(async () => {
    h = await startHarness({ settings: { readLimit: 3, writeLimit: 2 }, clock });
  });
  after(async () => h.close());

  test('X-RateLimit headers on every response; 429 with Retry-After past the limit; reads and writes counted apart', async () => {
    const api = client(h);
    const reads = [];
    for (let i = 0; i < 5; i++) reads.push(await api('GET', '/Users'));
    assert.deepEqual(reads.map((r) => r.status), [200, 200, 200, 429, 429]);
    assert.deepEqual(reads.map((r) => r.headers.get('x-ratelimit-remaining')), ['2', '1', '0', '0', '0']);
    for (const r of reads) assert.equal(r.headers.get('x-ratelimit-limit'), '3');
    const refused = reads.filter((r) => r.status === 429);
    for (const r of refused) {
      assert.equal(r.headers.get('x-ratelimit-remaining'), '0');
      assert.ok(Number(r.headers.get('retry-after')) >= 1);
      assert.equal(r.body.status, '429');
      assert.deepEqual(r.body.schemas, ['urn:ietf:params:scim:api:messages:2.0:Error']);
    }

    // POST .search is a read: refused too while reads are exhausted.
    assert.equal((await api('POST', '/Users/.search', { body: {} })).status, 429);

    const writes = [];
    for (let i = 0; i < 3; i++) writes.push(await api('POST', '/Users', { body: user(`rl-${i}`) }));
    assert.deepEqual(writes.map((w) => w.status), [201, 201, 429], 'the write limit is separate from the exhausted read limit');
    for (const w of writes) assert.equal(w.headers.get('x-ratelimit-limit'), '2');

    // The next one-second window starts over; 4xx after authentication carry the headers too.
    clock.now += 1000;
    const notFound = await api('GET', '/Users/none');
    assert.equal(notFound.status, 404);
    assert.equal(notFound.headers.get('x-ratelimit-limit'), '3');
    assert.equal(notFound.headers.get('x-ratelimit-remaining'), '2');

    const metrics = await call(h.origin, 'GET', '/metrics');
    assert.match(metrics.text, /scimkit_rate_limited_total\{class="read"\} [1-9]/);
    assert.match(metrics.text, /scimkit_rate_limited_total\{class="write"\} [1-9]/);
  });

  test('updated organization limits apply to the next request', async () => {
    await h.store.updateOrganization(h.org.id, { readLimit: 50 });
    clock.now += 1000;
    const res = await client(h)('GET', '/Users');
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('x-ratelimit-limit'), '50');
  });
});
