/** What real clients send (issue 18), over HTTP with each organization's settings. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { GENEROUS, client, patchOp, startHarness, user } from './helpers.ts';

const ENTERPRISE = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';

test('an extension value with its own "schemas" inside (scim2-client) is accepted; a wrong path-less key is invalidValue', async () => {
  const h = await startHarness();
  try {
    const api = client(h);
    const created = await api('POST', '/Users', { body: user('pat@example.com') });
    assert.equal(created.status, 201);
    const res = await api('PATCH', `/Users/${created.body.id}`, {
      body: patchOp({ op: 'add', path: ENTERPRISE, value: { schemas: [ENTERPRISE], employeeNumber: '1', department: 'Ops' } }),
    });
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.body[ENTERPRISE], { employeeNumber: '1', department: 'Ops' });
    // With the normalizer off (and unknown attributes refused) the path is still fine, so the error is about the value.
    await h.store.updateOrganization(h.org.id, { compat: { 'extension-schemas-member': false }, unknownAttributes: 'reject' });
    const strict = await api('PATCH', `/Users/${created.body.id}`, {
      body: patchOp({ op: 'add', path: ENTERPRISE, value: { schemas: [ENTERPRISE], employeeNumber: '2' } }),
    });
    assert.equal(strict.status, 400);
    assert.equal(strict.body.scimType, 'invalidValue');
  } finally {
    await h.close();
  }
});

test("unquoted filter values (Microsoft's test collection) are read as strings only where the organization turns it on", async () => {
  const h = await startHarness();
  try {
    const api = client(h);
    await api('POST', '/Users', { body: user('OEmployee@example.com', { name: { familyName: 'Employee' }, emails: [{ value: 'o@example.org' }] }) });
    const filters = [
      'userName sw O',
      'name.familyName eq Employee and (emails.value co example.com or emails.value co example.org)',
      'meta.created gt 2015-10-10T14:38:21.8617979-07:00',
    ];
    for (const filter of filters) {
      const res = await api('GET', `/Users?filter=${encodeURIComponent(filter)}`);
      assert.equal(res.status, 400, filter);
      assert.equal(res.body.scimType, 'invalidFilter');
    }
    await h.store.updateOrganization(h.org.id, { ...GENEROUS, compat: { 'unquoted-filter-values': true } });
    for (const filter of filters) {
      const res = await api('GET', `/Users?filter=${encodeURIComponent(filter)}`);
      assert.equal(res.status, 200, `${filter}: ${res.text}`);
      assert.equal(res.body.totalResults, 1, filter);
      const search = await api('POST', '/Users/.search', { body: { schemas: ['urn:ietf:params:scim:api:messages:2.0:SearchRequest'], filter } });
      assert.equal(search.body.totalResults, 1, filter);
    }
  } finally {
    await h.close();
  }
});

/** A pino logger whose lines land in `lines`, parsed. */
function capturingLogger(lines: Record<string, unknown>[]) {
  const sink = new Writable({
    write(chunk, _encoding, done) {
      for (const line of String(chunk).split('\n')) if (line.trim() !== '') lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return pino({ level: 'info' }, sink);
}

test('unknown attributes: ignored and logged by default, refused or kept where the organization says so', async () => {
  const lines: Record<string, unknown>[] = [];
  const h = await startHarness({ logger: capturingLogger(lines) });
  try {
    const api = client(h);
    // What Okta sends when an administrator maps an attribute the app never declared.
    const body = user('okta.user@example.com', { customField: 'foo', 'urn:okta:custom': { level: 3 }, schemas: ['urn:ietf:params:scim:schemas:core:2.0:User', 'urn:okta:custom'] });
    const created = await api('POST', '/Users', { body });
    assert.equal(created.status, 201, created.text);
    assert.equal(created.body.customField, undefined);
    assert.deepEqual(created.body.schemas, ['urn:ietf:params:scim:schemas:core:2.0:User']);
    const logged = lines.find((l) => l.msg === 'unknown attributes ignored');
    assert.deepEqual((logged?.ignoredAttributes as string[]).sort(), ['customField', 'urn:okta:custom']);
    assert.equal(logged?.org, h.org.id);
    // A PUT (what Entra's reference collection expects) and a PATCH are ignored the same way.
    const id = created.body.id;
    const put = await api('PUT', `/Users/${id}`, { body: user('okta.user@example.com', { title: 'T', nonsense: true }) });
    assert.equal(put.status, 200);
    assert.equal(put.body.title, 'T');
    const patched = await api('PATCH', `/Users/${id}`, { body: patchOp({ op: 'add', path: 'favouriteColour', value: 'red' }, { op: 'add', value: { nickName: 'O', shoeSize: 9 } }) });
    assert.equal(patched.status, 200, patched.text);
    assert.equal(patched.body.nickName, 'O');
    assert.ok(lines.some((l) => Array.isArray(l.ignoredAttributes) && (l.ignoredAttributes as string[]).includes('favouriteColour')));

    await h.store.updateOrganization(h.org.id, { unknownAttributes: 'reject' });
    const refused = await api('POST', '/Users', { body: user('r', { customField: 'foo' }) });
    assert.equal(refused.status, 400);
    assert.equal(refused.body.scimType, 'invalidValue');
    assert.match(refused.body.detail, /customField/);
    const refusedPath = await api('PATCH', `/Users/${id}`, { body: patchOp({ op: 'add', path: 'favouriteColour', value: 'red' }) });
    assert.equal(refusedPath.body.scimType, 'invalidPath');

    await h.store.updateOrganization(h.org.id, { unknownAttributes: 'keep' });
    const kept = await api('POST', '/Users', { body: user('k', { customField: 'foo', 'urn:okta:custom': { level: 3 } }) });
    assert.equal(kept.status, 201);
    assert.equal(kept.body.customField, 'foo');
    assert.deepEqual(kept.body['urn:okta:custom'], { level: 3 });
    const keptPatch = await api('PATCH', `/Users/${kept.body.id}`, { body: patchOp({ op: 'replace', path: 'urn:okta:custom:level', value: 4 }, { op: 'replace', path: 'customField', value: 'bar' }) });
    assert.deepEqual([keptPatch.body.customField, keptPatch.body['urn:okta:custom']], ['bar', { level: 4 }]);
    assert.equal((await api('GET', `/Users/${kept.body.id}`)).body.customField, 'bar');
    // Not validated, so not filterable.
    const filter = await api('GET', `/Users?filter=${encodeURIComponent('customField eq "bar"')}`);
    assert.equal(filter.status, 400);
    // Back to ignore: what was kept stays through unrelated writes.
    await h.store.updateOrganization(h.org.id, { unknownAttributes: 'ignore' });
    await api('PATCH', `/Users/${kept.body.id}`, { body: patchOp({ op: 'replace', path: 'title', value: 'X' }) });
    await h.store.updateOrganization(h.org.id, { unknownAttributes: 'keep' });
    assert.equal((await api('GET', `/Users/${kept.body.id}`)).body.customField, 'bar');
  } finally {
    await h.close();
  }
});

test('RFC 9865 pagination is advertised only where the organization asks; cursors work either way', async () => {
  const h = await startHarness();
  try {
    const api = client(h);
    for (const name of ['a', 'b', 'c']) await api('POST', '/Users', { body: user(name) });
    const plain = await api('GET', '/ServiceProviderConfig');
    // scim2-models (strict RFC 7643 models) refuses unknown members, so the default document has none.
    assert.deepEqual(Object.keys(plain.body).sort(), ['authenticationSchemes', 'bulk', 'changePassword', 'etag', 'filter', 'meta', 'patch', 'schemas', 'sort']);
    const first = await api('GET', '/Users?count=2&cursor=');
    assert.equal(first.body.Resources.length, 2);
    const second = await api('GET', `/Users?count=2&cursor=${first.body.nextCursor}`);
    assert.deepEqual(second.body.Resources.map((r: { userName: string }) => r.userName), ['c']);
    await h.store.updateOrganization(h.org.id, { advertisePagination: true });
    const advertised = await api('GET', '/ServiceProviderConfig');
    assert.deepEqual(advertised.body.pagination, { cursor: true, index: true, defaultPaginationMethod: 'index' });
  } finally {
    await h.close();
  }
});

test('attributes=emails[type eq "work"] (Microsoft\'s test collection) stays a 400 that says what to use instead', async () => {
  const h = await startHarness();
  try {
    const api = client(h);
    const created = await api('POST', '/Users', { body: user('v@example.com', { emails: [{ value: 'w@example.com', type: 'work' }, { value: 'h@example.com', type: 'home' }] }) });
    for (const url of [`/Users?attributes=${encodeURIComponent('emails[type eq "work"]')}`, `/Users/${created.body.id}?attributes=${encodeURIComponent('emails[type eq "work"].value')}`]) {
      const res = await api('GET', url);
      assert.equal(res.status, 400, url);
      assert.equal(res.body.scimType, 'invalidValue');
      assert.match(res.body.detail, /attribute names, RFC 7644 section 3\.9; select values with filter=/);
    }
    // What to send instead: the filter selects users, attributes the returned attribute.
    const res = await api('GET', `/Users?filter=${encodeURIComponent('emails[type eq "work"]')}&attributes=emails`);
    assert.equal(res.body.totalResults, 1);
    assert.equal(res.body.Resources[0].emails.length, 2);
  } finally {
    await h.close();
  }
});

test('a User created without active is active, everywhere it is read; a PUT without it keeps a suspension (OneLogin)', async () => {
  const h = await startHarness();
  try {
    const api = client(h);
    const created = await api('POST', '/Users', { body: user('no-active@example.com') });
    assert.equal(created.body.active, true);
    const found = await api('GET', `/Users?filter=${encodeURIComponent('active eq true')}`);
    assert.equal(found.body.totalResults, 1);
    const id = created.body.id;
    await api('PATCH', `/Users/${id}`, { body: patchOp({ op: 'replace', path: 'active', value: false }) });
    const put = await api('PUT', `/Users/${id}`, { body: user('no-active@example.com', { title: 'Renamed' }) });
    assert.equal(put.body.active, false, 'a profile update without active does not reactivate');
    const removed = await api('PATCH', `/Users/${id}`, { body: patchOp({ op: 'remove', path: 'active' }) });
    assert.equal(removed.body.active, true);
  } finally {
    await h.close();
  }
});
