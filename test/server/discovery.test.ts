/** ServiceProviderConfig, Schemas and ResourceTypes say what the server does and match the schema data. */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { RESOURCE_TYPES, SCHEMAS } from '../../src/scim/schema/core.ts';
import type { AttributeDefinition } from '../../src/scim/schema/types.ts';
import { client, startHarness } from './helpers.ts';
import type { Harness } from './helpers.ts';

describe('discovery endpoints', () => {
  let h: Harness;
  let api: ReturnType<typeof client>;
  before(async () => {
    h = await startHarness({ limits: { maxBulkOperations: 77, maxPayloadBytes: 300_000, maxResults: 250 } });
    api = client(h);
  });
  after(async () => h.close());

  test('ServiceProviderConfig is truthful about the configured limits and features', async () => {
    const res = await api('GET', '/ServiceProviderConfig');
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^application\/scim\+json/);
    const spc = res.body;
    assert.deepEqual(spc.schemas, ['urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig']);
    assert.deepEqual(spc.patch, { supported: true });
    assert.deepEqual(spc.bulk, { supported: true, maxOperations: 77, maxPayloadSize: 300_000 });
    assert.deepEqual(spc.filter, { supported: true, maxResults: 250 });
    assert.deepEqual(spc.changePassword, { supported: true }, 'PATCH, PUT and POST set a password (stored hashed)');
    assert.deepEqual(spc.sort, { supported: true });
    assert.deepEqual(spc.etag, { supported: true });
    // RFC 9865 pagination is advertised only where the organization asks for it (interop.test.ts).
    assert.equal(spc.pagination, undefined);
    assert.equal(spc.authenticationSchemes[0].type, 'oauthbearertoken');
    assert.equal(spc.meta.location, `${h.base}/ServiceProviderConfig`);
  });

  test('a filter on a discovery endpoint is 403 (RFC 7644 section 4), never a silently unfiltered list', async () => {
    for (const path of ['/ServiceProviderConfig', '/Schemas', '/Schemas/urn:ietf:params:scim:schemas:core:2.0:User', '/ResourceTypes', '/ResourceTypes/User']) {
      const res = await api('GET', `${path}?FILTER=${encodeURIComponent('id eq "x"')}`);
      assert.equal(res.status, 403, path);
      assert.deepEqual(res.body.schemas, ['urn:ietf:params:scim:api:messages:2.0:Error']);
      assert.equal((await api('GET', path)).status, 200, path);
    }
  });

  test('Group displayName is advertised as unique, as the server enforces it', async () => {
    const group = (await api('GET', '/Schemas/urn:ietf:params:scim:schemas:core:2.0:Group')).body;
    assert.equal(group.attributes.find((a: { name: string }) => a.name === 'displayName').uniqueness, 'server');
    const body = { schemas: ['urn:ietf:params:scim:schemas:core:2.0:Group'], displayName: 'Unique Group' };
    assert.equal((await api('POST', '/Groups', { body })).status, 201);
    const again = await api('POST', '/Groups', { body: { ...body, displayName: 'UNIQUE group' } });
    assert.equal(again.status, 409);
    assert.equal(again.body.scimType, 'uniqueness');
  });

  test('filter.maxResults is enforced: a larger count is capped to it', async () => {
    for (let i = 0; i < 260; i++) {
      await h.store.create(h.org.id, 'User', { schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'], userName: `bulk-${i}` });
    }
    const res = await api('GET', '/Users?count=100000');
    assert.equal(res.status, 200);
    assert.equal(res.body.totalResults, 260);
    assert.equal(res.body.itemsPerPage, 250);
    assert.equal(res.body.Resources.length, 250);
  });

  test('Schemas lists every schema with every attribute and characteristic from the schema data', async () => {
    const res = await api('GET', '/Schemas');
    assert.equal(res.status, 200);
    assert.equal(res.body.totalResults, SCHEMAS.length);
    for (const def of SCHEMAS) {
      const served = res.body.Resources.find((s: any) => s.id === def.id);
      assert.ok(served, def.id);
      assert.equal(served.name, def.name);
      assert.equal(served.meta.location, `${h.base}/Schemas/${def.id}`);
      assert.equal(served.attributes.length, def.attributes.length);
      const check = (defs: readonly AttributeDefinition[], out: any[]) => {
        for (const a of defs) {
          const o = out.find((x: any) => x.name === a.name);
          assert.ok(o, `${def.id}:${a.name}`);
          for (const key of ['type', 'multiValued', 'required', 'caseExact', 'mutability', 'returned', 'uniqueness'] as const) {
            assert.equal(o[key], a[key], `${def.id}:${a.name}.${key}`);
          }
          if (a.subAttributes) check(a.subAttributes, o.subAttributes);
        }
      };
      check(def.attributes, served.attributes);
      const one = await api('GET', `/Schemas/${def.id}`);
      assert.equal(one.status, 200);
      assert.deepEqual(one.body, served);
    }
    assert.equal((await api('GET', '/Schemas/urn:nope')).status, 404);
  });

  test('ResourceTypes match the resource type definitions', async () => {
    const res = await api('GET', '/ResourceTypes');
    assert.equal(res.status, 200);
    assert.equal(res.body.totalResults, RESOURCE_TYPES.length);
    for (const rt of RESOURCE_TYPES) {
      const served = res.body.Resources.find((r: any) => r.id === rt.id);
      assert.equal(served.endpoint, rt.endpoint);
      assert.equal(served.schema, rt.schema);
      assert.deepEqual(served.schemaExtensions, rt.schemaExtensions.map((e) => ({ schema: e.schema, required: e.required })));
      assert.equal(served.meta.location, `${h.base}/ResourceTypes/${rt.id}`);
      const one = await api('GET', `/ResourceTypes/${rt.name}`);
      assert.deepEqual(one.body, served);
    }
    assert.equal((await api('GET', '/ResourceTypes/Widget')).status, 404);
  });
});
