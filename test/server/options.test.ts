/** Per-organization IdP compatibility switches, index-paging depth (tooMany), and the Prometheus endpoint. */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { GROUP_SCHEMA, SEARCH_SCHEMA, backends, call, client, freshPostgresUrl, patchOp, startHarness, user } from './helpers.ts';
import type { Harness } from './helpers.ts';

describe('per-organization compatibility switches', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness();
  });
  after(async () => h.close());

  test('boolean-strings and op-case follow org.settings.compat, per organization', async () => {
    const api = client(h);
    // Entra ID style: "True" as a string, "Replace" capitalised. The normalizers are on by default.
    const created = await api('POST', '/Users', { body: user('entra-style', { active: 'True' }) });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.equal(created.body.active, true);
    const patched = await api('PATCH', `/Users/${created.body.id}`, { body: patchOp({ op: 'Replace', path: 'active', value: 'False' }) });
    assert.equal(patched.status, 200, JSON.stringify(patched.body));
    assert.equal(patched.body.active, false);

    // Another organization switches them off: the same requests are refused there, and still accepted here.
    const strict = await h.store.createOrganization('strict', {
      readLimit: 100_000,
      writeLimit: 100_000,
      compat: { 'boolean-strings': false, 'op-case': false },
    });
    const strictToken = (await h.store.createToken(strict.id, { scope: 'read-write' })).secret;
    const strictBase = `${h.origin}/scim/v2/organizations/${strict.id}`;
    const refused = await call(strictBase, 'POST', '/Users', { token: strictToken, body: user('entra-style', { active: 'True' }) });
    assert.equal(refused.status, 400);
    assert.equal(refused.body.scimType, 'invalidValue');
    const ok = await call(strictBase, 'POST', '/Users', { token: strictToken, body: user('entra-style', { active: true }) });
    assert.equal(ok.status, 201);
    const badOp = await call(strictBase, 'PATCH', `/Users/${ok.body.id}`, { token: strictToken, body: patchOp({ op: 'Replace', path: 'active', value: false }) });
    assert.equal(badOp.status, 400);

    assert.equal((await api('POST', '/Users', { body: user('entra-style-2', { active: 'false' }) })).status, 201);
  });
});

describe('index paging depth', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness({ limits: { maxStartIndex: 5 } });
    for (let i = 0; i < 8; i++) await h.store.create(h.org.id, 'User', { schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'], userName: `deep-${i}` });
  });
  after(async () => h.close());

  test('startIndex past maxStartIndex within the results is 400 tooMany; past their end an empty page; cursors are unaffected', async () => {
    const api = client(h);
    assert.equal((await api('GET', '/Users?startIndex=5&count=2')).body.Resources.length, 2);
    const deep = await api('GET', '/Users?startIndex=6&count=2');
    assert.equal(deep.status, 400);
    assert.equal(deep.body.scimType, 'tooMany');
    assert.match(deep.body.detail, /cursor/);
    const rootDeep = await api('POST', '/.search', { body: { schemas: [SEARCH_SCHEMA], startIndex: 7 } });
    assert.equal(rootDeep.body.scimType, 'tooMany');
    const narrow = await api('GET', `/Users?startIndex=6&filter=${encodeURIComponent('userName eq "deep-1"')}`);
    assert.equal(narrow.status, 200);
    assert.equal(narrow.body.totalResults, 1);
    assert.deepEqual(narrow.body.Resources, []);
    let cursor = '';
    let seen = 0;
    for (let i = 0; i < 10; i++) {
      const page = await api('GET', `/Users?count=3&cursor=${encodeURIComponent(cursor)}`);
      seen += page.body.Resources.length;
      if (!page.body.nextCursor) break;
      cursor = page.body.nextCursor;
    }
    assert.equal(seen, 8);
  });
});

for (const backend of backends()) {
  describe(`a page's byte budget (${backend})`, () => {
    let h: Harness;
    // 12 Users, every third one large (~20 KB), and 3 Groups; a budget of two large Users and some small ones.
    const large = new Set([0, 3, 6, 9]);
    before(async () => {
      h = await startHarness({ backend, postgresUrl: backend === 'postgres' ? await freshPostgresUrl() : undefined, limits: { maxPageBytes: 45_000 } });
      for (let i = 0; i < 12; i++) {
        const nickName = large.has(i) ? 'n'.repeat(20_000) : 'small';
        await h.store.create(h.org.id, 'User', { schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'], userName: `u${String(i).padStart(2, '0')}`, nickName });
      }
      for (let i = 0; i < 3; i++) await h.store.create(h.org.id, 'Group', { schemas: [GROUP_SCHEMA], displayName: `g${i}` });
    });
    after(async () => h.close());

    const names = (page: { Resources: { userName?: string; displayName?: string }[] }) => page.Resources.map((r) => String(r.userName ?? r.displayName));
    const largeOn = (page: { Resources: { nickName?: string }[] }) => page.Resources.filter((r) => (r.nickName?.length ?? 0) > 100).length;
    const expected = [...Array.from({ length: 12 }, (_, i) => `u${String(i).padStart(2, '0')}`), 'g0', 'g1', 'g2'];

    test('a page ends early past the budget; itemsPerPage and nextCursor lead through every resource once', async () => {
      const api = client(h);
      const queries = [
        { path: '/Users', query: 'sortBy=userName', want: expected.slice(0, 12) },
        { path: '/Users', query: 'sortBy=userName&sortOrder=descending', want: expected.slice(0, 12).reverse() },
        { path: '/Users', query: `sortBy=userName&filter=${encodeURIComponent('userName sw "u"')}`, want: expected.slice(0, 12) },
      ];
      for (const { path, query, want } of queries) {
        // Index paging, advancing by itemsPerPage as RFC 7644 section 3.4.2.4 has clients do.
        const byIndex: string[] = [];
        let shortPages = 0;
        for (let startIndex = 1, i = 0; i < 20; i++) {
          const page = (await api('GET', `${path}?${query}&count=10&startIndex=${startIndex}`)).body;
          assert.equal(page.totalResults, 12, query);
          assert.equal(page.itemsPerPage, page.Resources.length);
          assert.ok(page.itemsPerPage >= 1, 'a page holds at least one resource');
          assert.ok(largeOn(page) <= 2, `no page holds more than the budget (${query}: ${largeOn(page)} large)`);
          if (page.itemsPerPage < Math.min(10, 12 - startIndex + 1)) shortPages++;
          byIndex.push(...names(page));
          startIndex += page.itemsPerPage;
          if (startIndex > page.totalResults) break;
        }
        assert.deepEqual(byIndex, want, query);
        assert.ok(shortPages > 0, 'some page ended before count');
        const byCursor: string[] = [];
        let cursor = '';
        for (let i = 0; i < 20; i++) {
          const page = (await api('GET', `${path}?${query}&count=10&cursor=${encodeURIComponent(cursor)}`)).body;
          assert.equal(page.totalResults, 12);
          assert.ok(largeOn(page) <= 2);
          byCursor.push(...names(page));
          if (!page.nextCursor) break;
          cursor = page.nextCursor;
        }
        assert.deepEqual(byCursor, want, query);
      }
    });

    test('the root search shares one budget between Users and Groups, by index and by cursor', async () => {
      const api = client(h);
      const search = (extra: Record<string, unknown>) => api('POST', '/.search', { body: { schemas: [SEARCH_SCHEMA], sortBy: 'userName', count: 10, ...extra } });
      const byIndex: string[] = [];
      for (let startIndex = 1, i = 0; i < 20 && startIndex <= 15; i++) {
        const page = (await search({ startIndex })).body;
        assert.equal(page.totalResults, 15);
        assert.ok(page.itemsPerPage >= 1 && largeOn(page) <= 2);
        byIndex.push(...names(page));
        startIndex += page.itemsPerPage;
      }
      // Groups lack userName and list in their default order (created, then id: not the order of creation when they
      // share a millisecond).
      const inOrder = (seen: string[]) => [...seen.slice(0, 12), ...[...seen.slice(12)].sort()];
      assert.deepEqual(inOrder(byIndex), expected);
      const byCursor: string[] = [];
      let cursor = '';
      for (let i = 0; i < 20; i++) {
        const page = (await search({ cursor })).body;
        assert.ok(largeOn(page) <= 2);
        byCursor.push(...names(page));
        if (!page.nextCursor) break;
        cursor = page.nextCursor;
      }
      assert.deepEqual(inOrder(byCursor), expected);
    });
  });
}

for (const backend of backends()) {
  describe(`a page's byte budget counts members and groups (${backend})`, () => {
    let h: Harness;
    before(async () => {
      h = await startHarness({ backend, postgresUrl: backend === 'postgres' ? await freshPostgresUrl() : undefined, limits: { maxPageBytes: 45_000 } });
      const ids: string[] = [];
      for (let i = 0; i < 150; i++) ids.push((await h.store.create(h.org.id, 'User', { schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'], userName: `m${String(i).padStart(3, '0')}` })).id);
      // Two groups of 150 members (some 32 KB each as listed), two empty ones: one large group fits a page, two do not.
      for (const [name, members] of [['g0', ids], ['g1', ids], ['g2', []], ['g3', []]] as const) {
        await h.store.create(h.org.id, 'Group', { schemas: [GROUP_SCHEMA], displayName: name, members: members.map((value) => ({ value })) });
      }
    });
    after(async () => h.close());

    test("a Group's members and a User's groups count towards the budget; left out of the view, they do not", async () => {
      const api = client(h);
      const pages: string[][] = [];
      for (let startIndex = 1; startIndex <= 4; ) {
        const page = (await api('GET', `/Groups?sortBy=displayName&count=10&startIndex=${startIndex}`)).body;
        pages.push(page.Resources.map((g: { displayName: string; members?: unknown[] }) => `${g.displayName}:${g.members?.length ?? 0}`));
        startIndex += page.itemsPerPage;
      }
      assert.deepEqual(pages, [['g0:150'], ['g1:150', 'g2:0', 'g3:0']]);
      const withoutMembers = (await api('GET', '/Groups?sortBy=displayName&count=10&excludedAttributes=members')).body;
      assert.equal(withoutMembers.itemsPerPage, 4);
      // Each User lists two groups: 150 of them pass the budget with their groups, not without.
      const users = (await api('GET', '/Users?count=200')).body;
      assert.ok(users.itemsPerPage < 150, `itemsPerPage ${users.itemsPerPage}`);
      assert.equal(users.Resources[0].groups.length, 2);
      assert.equal((await api('GET', '/Users?count=200&excludedAttributes=groups')).body.itemsPerPage, 150);
    });
  });
}

describe('operations endpoints', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness();
  });
  after(async () => h.close());

  test('/metrics counts requests by route and status, with a latency histogram', async () => {
    const api = client(h);
    await api('GET', '/Users');
    await api('GET', '/Users');
    await api('GET', '/Users/missing');
    const res = await call(h.origin, 'GET', '/metrics');
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    const text = res.text;
    assert.match(text, /# TYPE scimkit_http_requests_total counter/);
    assert.match(text, /scimkit_http_requests_total\{method="GET",route="\/scim\/v2\/organizations\/:orgId\/Users",status="200"\} 2\n/);
    assert.match(text, /scimkit_http_requests_total\{method="GET",route="\/scim\/v2\/organizations\/:orgId\/Users\/:id",status="404"\} 1\n/);
    assert.match(text, /# TYPE scimkit_http_request_duration_seconds histogram/);
    const inf = /scimkit_http_request_duration_seconds_bucket\{route="\/scim\/v2\/organizations\/:orgId\/Users",le="\+Inf"\} (\d+)/.exec(text);
    assert.equal(inf?.[1], '2');
    assert.match(text, /scimkit_http_request_duration_seconds_count\{route="\/scim\/v2\/organizations\/:orgId\/Users"\} 2\n/);
    // Bucket counts never decrease as le grows.
    const buckets = [...text.matchAll(/_bucket\{route="\/scim\/v2\/organizations\/:orgId\/Users",le="[^"]+"\} (\d+)/g)].map((m) => Number(m[1]));
    assert.deepEqual([...buckets].sort((a, b) => a - b), buckets);
    assert.match(text, /# TYPE scimkit_rate_limited_total counter/);
  });

  test('every response carries an X-Request-Id', async () => {
    const a = await call(h.origin, 'GET', '/healthz');
    const b = await call(h.origin, 'GET', '/healthz');
    assert.match(a.headers.get('x-request-id') ?? '', /^[0-9a-f-]{36}$/);
    assert.notEqual(a.headers.get('x-request-id'), b.headers.get('x-request-id'));
  });
});
