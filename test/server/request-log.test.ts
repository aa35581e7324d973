/**
 * The SCIM request log and token last use (src/server/activity.ts), on SQLite and PostgreSQL: what a request leaves
 * behind (time, method, path, status, latency, scimType and detail of errors, the body without its secrets), the
 * bound per organization, and when a token was last used.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { loggedBody, neverReturnedNames, redactBody, REDACTED } from '../../src/server/activity.ts';
import { buildSchemaSet, parseSchemaDocument } from '../../src/scim/schema/declare.ts';
import type { RequestLogRecord } from '../../src/store/types.ts';
import { ACME, ACME_DOCUMENT, USER_SCHEMA, backends, client, eventually, patchOp, startHarness, user } from './helpers.ts';
import type { Harness } from './helpers.ts';

describe('redacting request bodies', () => {
  test('passwords and secrets are removed at any depth, PATCH values for the password path too', () => {
    const body = {
      userName: 'ada',
      password: 'hunter2',
      Operations: [
        { op: 'replace', path: 'password', value: 'p1' },
        { op: 'replace', path: 'urn:ietf:params:scim:schemas:core:2.0:User:password', value: 'p2' },
        { op: 'replace', value: { password: 'p3', displayName: 'Ada' } },
        { op: 'replace', path: 'displayName', value: 'kept' },
      ],
      nested: { client_secret: 'x', accessToken: 'y', list: [{ Password: 'z' }] },
    };
    const redacted = redactBody(body) as typeof body;
    assert.equal(redacted.userName, 'ada');
    assert.equal(redacted.password, REDACTED);
    assert.equal(redacted.Operations[0].value, REDACTED);
    assert.equal(redacted.Operations[1].value, REDACTED);
    assert.deepEqual(redacted.Operations[2].value, { password: REDACTED, displayName: 'Ada' });
    assert.equal(redacted.Operations[3].value, 'kept');
    assert.deepEqual(redacted.nested, { client_secret: REDACTED, accessToken: REDACTED, list: [{ Password: REDACTED }] });
    const text = JSON.stringify(redacted);
    for (const secret of ['hunter2', 'p1', 'p2', 'p3', '"x"', '"y"', '"z"']) assert.ok(!text.includes(secret), secret);
  });

  test("what an organization's extensions never return is removed like a password, in each form a body can name it", () => {
    const hidden = neverReturnedNames(buildSchemaSet([{ resourceType: 'User', required: false, schema: parseSchemaDocument(ACME_DOCUMENT) }]));
    const body = {
      schemas: [ACME],
      [ACME]: { pin: 'pin-1', badge: 'B1', door: { room: 'R1', code: 'code-1' } },
      Operations: [
        { op: 'replace', path: `${ACME}:pin`, value: 'pin-2' },
        { op: 'replace', path: `${ACME}:door.code`, value: 'code-2' },
        { op: 'replace', value: { [`${ACME}:pin`]: 'pin-3' } },
        { op: 'replace', path: `${ACME}:badge`, value: 'kept' },
      ],
    };
    const redacted = redactBody(body, hidden) as typeof body;
    assert.deepEqual(redacted[ACME], { pin: REDACTED, badge: 'B1', door: { room: 'R1', code: REDACTED } });
    assert.deepEqual(redacted.Operations.map((o) => o.value), [REDACTED, REDACTED, { [`${ACME}:pin`]: REDACTED }, 'kept']);
    assert.doesNotMatch(JSON.stringify(redacted), /pin-|code-/);
  });

  test('a large body is cut, and the cut keeps the secrets out', () => {
    const body = { password: 'hunter2', description: 'x'.repeat(40_000) };
    const text = loggedBody(body) as string;
    const parsed = JSON.parse(text) as { truncated: boolean; characters: number; start: string };
    assert.equal(parsed.truncated, true);
    assert.ok(parsed.characters > 40_000);
    assert.ok(!text.includes('hunter2'));
    assert.equal(loggedBody(undefined), null);
  });
});

for (const backend of backends()) {
  describe(`request log (${backend})`, () => {
    let h: Harness;
    let scim: ReturnType<typeof client>;
    before(async () => {
      h = await startHarness({ backend });
      scim = client(h);
    });
    after(() => h.close());

    const entries = (query: Partial<Parameters<Harness['store']['listRequestLog']>[1]> = {}) => h.store.listRequestLog(h.org.id, { limit: 100, ...query });
    const withRequestId = (id: string) => async () => (await entries()).find((e) => e.requestId === id);

    test('a write is logged with its method, path, status, token, and its body without the password', async () => {
      const res = await scim('POST', '/Users', { body: user('ada@example.com', { password: 'correct horse battery' }), headers: { 'user-agent': 'Okta SCIM Client 1.0.0' } });
      assert.equal(res.status, 201);
      const entry = (await eventually(withRequestId(res.headers.get('x-request-id') as string), Boolean, 'the POST in the log')) as RequestLogRecord;
      assert.equal(entry.method, 'POST');
      assert.equal(entry.path, `/scim/v2/organizations/${h.org.id}/Users`);
      assert.equal(entry.status, 201);
      assert.ok(entry.latencyMs >= 0);
      assert.equal(entry.scimType, null);
      assert.equal(entry.userAgent, 'Okta SCIM Client 1.0.0');
      const tokens = await h.store.listTokens(h.org.id);
      assert.equal(entry.tokenId, tokens[0].id);
      const body = JSON.parse(entry.requestBody as string) as Record<string, unknown>;
      assert.equal(body.userName, 'ada@example.com');
      assert.equal(body.password, REDACTED);
      assert.ok(!(entry.requestBody as string).includes('correct horse'));
    });

    test("a write's body is logged without what the organization's extensions never return", async () => {
      await h.store.addSchemaExtension(h.org.id, { resourceType: 'User', required: false, schema: parseSchemaDocument(ACME_DOCUMENT) });
      const res = await scim('POST', '/Users', { body: { schemas: [USER_SCHEMA, ACME], userName: 'pinned@example.com', [ACME]: { pin: 'pin-0042', badge: 'B1' } } });
      assert.equal(res.status, 201, res.text);
      const entry = (await eventually(withRequestId(res.headers.get('x-request-id') as string), Boolean, 'the POST in the log')) as RequestLogRecord;
      assert.deepEqual((JSON.parse(entry.requestBody as string) as Record<string, unknown>)[ACME], { pin: REDACTED, badge: 'B1' });
    });

    test('a failed request keeps its scimType and detail', async () => {
      const res = await scim('POST', '/Users', { body: user('ada@example.com') });
      assert.equal(res.status, 409);
      const entry = (await eventually(withRequestId(res.headers.get('x-request-id') as string), Boolean, 'the 409 in the log')) as RequestLogRecord;
      assert.equal(entry.status, 409);
      assert.equal(entry.scimType, 'uniqueness');
      assert.match(entry.detail ?? '', /userName/);

      const bad = await scim('PATCH', '/Users/nosuch', { body: patchOp({ op: 'replace', path: 'password', value: 's3cret-value' }) });
      assert.equal(bad.status, 404);
      const patched = (await eventually(withRequestId(bad.headers.get('x-request-id') as string), Boolean, 'the 404 in the log')) as RequestLogRecord;
      assert.ok(!(patched.requestBody as string).includes('s3cret-value'));
      assert.match(patched.detail ?? '', /not found/i);
    });

    test('an unauthenticated request on the organization path is logged without a token; another organization path is not logged', async () => {
      const res = await scim('GET', '/Users', { token: 'not-a-token' });
      assert.equal(res.status, 401);
      const entry = (await eventually(withRequestId(res.headers.get('x-request-id') as string), Boolean, 'the 401 in the log')) as RequestLogRecord;
      assert.equal(entry.tokenId, null);
      assert.match(entry.detail ?? '', /invalid|revoked/i);

      const elsewhere = await scim('GET', `${h.origin}/scim/v2/organizations/no-such-org/Users`, { token: 'not-a-token' });
      assert.equal(elsewhere.status, 401);
      // The next entry of this organization arrives after it; the other organization's request left nothing anywhere.
      const marker = await scim('GET', '/ServiceProviderConfig');
      await eventually(withRequestId(marker.headers.get('x-request-id') as string), Boolean, 'the marker request');
      assert.equal((await entries()).filter((e) => e.requestId === elsewhere.headers.get('x-request-id')).length, 0);
    });

    test('a secret in the query string is not kept in the logged path', async () => {
      const res = await scim('GET', '/Users?count=1&access_token=qs-secret-1&API_KEY=qs-secret-2&filter=userName%20pr&client%5Fsecret=qs-secret-3');
      assert.equal(res.status, 200);
      const entry = (await eventually(withRequestId(res.headers.get('x-request-id') as string), Boolean, 'the GET in the log')) as RequestLogRecord;
      assert.equal(entry.path, `/scim/v2/organizations/${h.org.id}/Users?count=1&access_token=${REDACTED}&API_KEY=${REDACTED}&filter=userName%20pr&client%5Fsecret=${REDACTED}`);
      assert.doesNotMatch(JSON.stringify(entry), /qs-secret/);
    });

    test('filters by status code and class, and pages back in time', async () => {
      const errors = await entries({ status: { kind: 'range', from: 400, to: 600 } });
      assert.ok(errors.length >= 3);
      assert.ok(errors.every((e) => e.status >= 400));
      const conflicts = await entries({ status: { kind: 'exact', code: 409 } });
      assert.ok(conflicts.length >= 1 && conflicts.every((e) => e.status === 409));
      const all = await entries();
      assert.deepEqual(
        all.map((e) => Number(e.id)),
        all.map((e) => Number(e.id)).sort((a, b) => b - a),
        'newest first',
      );
      const older = await entries({ before: Number(all[0].id), limit: 2 });
      assert.deepEqual(older.map((e) => e.id), all.slice(1, 3).map((e) => e.id));
    });

    test("the token's last use is recorded", async () => {
      const [token] = await h.store.listTokens(h.org.id);
      const used = await eventually(async () => (await h.store.listTokens(h.org.id))[0], (t) => t.lastUsed !== null, 'the last use');
      assert.equal(used.id, token.id);
      assert.ok(Date.parse(used.lastUsed as string) <= Date.now());
    });
  });

  describe(`unauthenticated requests in the request log (${backend})`, () => {
    let h: Harness;
    before(async () => {
      h = await startHarness({ backend, requestLogSize: 50, limits: { authFailuresPerSecond: 1000 } });
    });
    after(() => h.close());

    test("anonymous requests never push an organization's own requests out of its log", async () => {
      const scim = client(h);
      const own: string[] = [];
      for (let i = 0; i < 10; i++) own.push((await scim('GET', `/Users?count=${i}`)).headers.get('x-request-id') as string);
      // Anyone who knows the organization id: without a token, and with a wrong one.
      const anonymous = await Promise.all(
        Array.from({ length: 120 }, (_, i) => scim('GET', '/Users', i % 2 === 0 ? { token: '' } : { token: `wrong-${i}` })),
      );
      assert.ok(anonymous.every((r) => r.status === 401));
      const marker = (await scim('GET', '/ServiceProviderConfig')).headers.get('x-request-id') as string;
      const kept = await eventually(() => h.store.listRequestLog(h.org.id, { limit: 100 }), (list) => list.some((e) => e.requestId === marker), 'the marker request');
      for (const id of own) assert.ok(kept.some((e) => e.requestId === id), 'every authenticated request is still in the log');
      const unauthenticated = kept.filter((e) => e.tokenId === null);
      assert.ok(unauthenticated.length >= 1, 'some 401s are logged: an IdP with a wrong token shows up');
      assert.ok(unauthenticated.length <= 5, `at most a tenth of the log holds unauthenticated requests (${unauthenticated.length})`);
    });
  });

  describe(`request log bound (${backend})`, () => {
    let h: Harness;
    before(async () => {
      h = await startHarness({ backend, requestLogSize: 5 });
    });
    after(() => h.close());

    test('each organization keeps only its newest entries', async () => {
      const scim = client(h);
      let last = '';
      for (let i = 0; i < 12; i++) last = (await scim('GET', `/Users?count=${i}`)).headers.get('x-request-id') as string;
      const kept = await eventually(() => h.store.listRequestLog(h.org.id, { limit: 100 }), (list) => list.some((e) => e.requestId === last), 'the last request');
      assert.ok(kept.length <= 5, `kept ${kept.length}`);
      assert.equal(kept[0].requestId, last);
      assert.equal(kept[0].path, `/scim/v2/organizations/${h.org.id}/Users?count=11`);
    });
  });
}
