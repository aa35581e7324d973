/** `/api/v1/organizations/{org_id}/schemas` with a management key: declare, list, read, remove, and every error. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { call, client, startHarness, user } from './helpers.ts';
import type { Harness } from './helpers.ts';

const URN = 'urn:ietf:params:scim:schemas:extension:acme:2.0:User';
const DOCUMENT = { id: URN, name: 'AcmeUser', attributes: [{ name: 'costCenterCode', type: 'string' }, { name: 'seat', type: 'integer' }] };

function api(h: Harness, key: string | null) {
  return (method: string, path: string, body?: unknown) =>
    call(`${h.origin}/api/v1/organizations/${h.org.id}`, method, path, {
      token: key,
      ...(body !== undefined ? { body, headers: { 'content-type': 'application/json' } } : {}),
    });
}

test('schema extensions through the management API', async () => {
  const h = await startHarness();
  try {
    const key = (await h.store.createManagementKey({ orgId: h.org.id })).secret;
    const manage = api(h, key);
    const scim = client(h);

    const created = await manage('POST', '/schemas', { resource_type: 'User', required: false, schema: DOCUMENT });
    assert.equal(created.status, 201, created.text);
    assert.match(created.headers.get('content-type') ?? '', /^application\/json/);
    assert.equal(created.body.urn, URN);
    assert.equal(created.body.resource_type, 'User');
    assert.equal(created.body.schema.attributes[1].type, 'integer');
    // The SCIM side sees it at once.
    const types = await scim('GET', '/ResourceTypes/User');
    assert.ok(types.body.schemaExtensions.some((e: { schema: string }) => e.schema === URN));
    const made = await scim('POST', '/Users', { body: user('u', { [URN]: { seat: 3 } }) });
    assert.deepEqual(made.body[URN], { seat: 3 });

    const listed = await manage('GET', '/schemas');
    assert.deepEqual(listed.body.data.map((e: { urn: string }) => e.urn), [URN]);
    assert.equal(listed.body.next_cursor, null);
    assert.equal((await manage('GET', `/schemas/${encodeURIComponent(URN.toLowerCase())}`)).body.urn, URN);

    // Errors: a bad document names its problem, a taken URN conflicts, unknown fields and types are refused.
    const bad = await manage('POST', '/schemas', { schema: { id: 'urn:acme:x', attributes: [{ name: '9lives', type: 'string' }] } });
    assert.equal(bad.status, 400);
    assert.equal(bad.body.error.code, 'invalid_request');
    assert.match(bad.body.error.message, /"9lives" is not an attribute name/);
    const taken = await manage('POST', '/schemas', { schema: DOCUMENT });
    assert.equal(taken.status, 409);
    assert.equal(taken.body.error.code, 'conflict');
    assert.equal((await manage('POST', '/schemas', { schema: DOCUMENT, extra: 1 })).body.error.code, 'invalid_body');
    assert.equal((await manage('POST', '/schemas', { resource_type: 'Device', schema: DOCUMENT })).body.error.code, 'invalid_resource_type');
    assert.equal((await manage('POST', '/schemas', {})).body.error.code, 'invalid_schema');
    assert.equal((await manage('GET', '/schemas/urn:acme:none')).status, 404);

    // A key is needed, and one for another organization is refused; a SCIM token is not a key.
    assert.equal((await api(h, null)('GET', '/schemas')).status, 401);
    assert.equal((await api(h, h.token)('GET', '/schemas')).status, 401);
    const other = await h.store.createOrganization('other');
    const otherKey = (await h.store.createManagementKey({ orgId: other.id })).secret;
    assert.equal((await api(h, otherKey)('GET', '/schemas')).status, 403);

    // Removing keeps the data and says so.
    const removed = await manage('DELETE', `/schemas/${encodeURIComponent(URN)}`);
    assert.equal(removed.status, 200);
    assert.deepEqual(removed.body, { urn: URN, resource_type: 'User', resources_with_data: 1, data_kept: true });
    assert.equal((await scim('GET', `/Users/${made.body.id}`)).body[URN], undefined);
    assert.equal((await manage('DELETE', `/schemas/${encodeURIComponent(URN)}`)).status, 404);
    await manage('POST', '/schemas', { schema: DOCUMENT });
    assert.deepEqual((await scim('GET', `/Users/${made.body.id}`)).body[URN], { seat: 3 });
  } finally {
    await h.close();
  }
});
