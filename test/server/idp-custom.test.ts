/**
 * Custom attributes as Okta and Entra ID send them, replayed from their public documentation against an organization
 * that declared the matching schema extension (fixtures okta-custom.json and entra-custom.json).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseSchemaDocument } from '../../src/scim/schema/declare.ts';
import { GENEROUS, backends, client, startHarness } from './helpers.ts';
import { loadFixture, replay } from './idp-replay.ts';

for (const backend of backends()) {
  test(`${backend}: Okta provisions a user with a custom attribute in its own namespace`, async () => {
    const urn = 'urn:ietf:params:scim:schemas:extension:acmeokta:2.0:User';
    // Strict, so that only the declaration makes these requests pass.
    const h = await startHarness({ backend, settings: { ...GENEROUS, unknownAttributes: 'reject' } });
    try {
      const document = { id: urn, name: 'AcmeOkta', attributes: [{ name: 'costCenterCode', type: 'string' }, { name: 'seat', type: 'integer' }] };
      await h.store.addSchemaExtension(h.org.id, { resourceType: 'User', required: false, schema: parseSchemaDocument(document) });
      const vars = await replay(h, loadFixture('okta-custom.json'));
      const api = client(h);
      const found = await api('GET', `/Users?filter=${encodeURIComponent(`${urn}:seat ge 14`)}`);
      assert.deepEqual(found.body.Resources.map((r: { id: string }) => r.id), [vars.get('userId')]);
    } finally {
      await h.close();
    }
  });

  test(`${backend}: Entra ID provisions a user with urn:ietf:params:scim:schemas:extension:<name>:2.0:User:<attribute>`, async () => {
    const urn = 'urn:ietf:params:scim:schemas:extension:CustomExtensionName:2.0:User';
    const h = await startHarness({ backend, settings: { ...GENEROUS, unknownAttributes: 'reject' } });
    try {
      // Entra ID custom attributes are single-valued and simple (Microsoft Learn: no multi-valued or complex ones).
      const document = { id: urn, name: 'CustomExtensionName', attributes: [{ name: 'CustomAttribute', type: 'string', caseExact: true }] };
      await h.store.addSchemaExtension(h.org.id, { resourceType: 'User', required: false, schema: parseSchemaDocument(document) });
      await replay(h, loadFixture('entra-custom.json'));
    } finally {
      await h.close();
    }
  });
}

test('without the declaration, the default policy provisions the users and drops (and logs) the custom attribute', async () => {
  const h = await startHarness();
  try {
    const res = await client(h)('POST', '/Users', {
      body: loadFixture('entra-custom.json').steps[1].body as Record<string, unknown>,
    });
    assert.equal(res.status, 201);
    assert.equal(res.body['urn:ietf:params:scim:schemas:extension:CustomExtensionName:2.0:User'], undefined);
    assert.equal(res.body['urn:ietf:params:scim:schemas:extension:enterprise:2.0:User'].employeeNumber, '701984');
  } finally {
    await h.close();
  }
});
