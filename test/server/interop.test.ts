/** What real clients send (issue 18), over HTTP with each organization's settings. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
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
    // With the normalizer off the path is still fine, so the error is about the value.
    await h.store.updateOrganization(h.org.id, { compat: { 'extension-schemas-member': false } });
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
