import { test } from 'node:test';
import assert from 'node:assert/strict';
import { resourceTypeResource, schemaResource, serviceProviderConfig } from '../../src/scim/discovery.ts';
import type { ServiceProviderFeatures } from '../../src/scim/discovery.ts';
import {
  ENTERPRISE_USER_SCHEMA,
  RESOURCE_TYPES,
  RESOURCE_TYPE_SCHEMA,
  SCHEMAS,
  SCHEMA_SCHEMA,
  SERVICE_PROVIDER_CONFIG_SCHEMA,
  USER_RESOURCE_TYPE,
  USER_SCHEMA,
  USER_SCHEMA_DEFINITION,
} from '../../src/scim/schema/index.ts';
import type { AttributeDefinition } from '../../src/scim/schema/index.ts';

const CHARACTERISTICS = ['name', 'type', 'multiValued', 'description', 'required', 'caseExact', 'mutability', 'returned', 'uniqueness'] as const;

/** Checks one published attribute against its definition, recursively; returns how many attributes were checked. */
function checkAttribute(published: Record<string, unknown>, def: AttributeDefinition, path: string): number {
  for (const c of CHARACTERISTICS) assert.deepEqual(published[c], def[c], `${path}.${c}`);
  assert.deepEqual(published.canonicalValues, def.canonicalValues, `${path}.canonicalValues`);
  assert.deepEqual(published.referenceTypes, def.referenceTypes, `${path}.referenceTypes`);
  if (def.type === 'reference') assert.ok(Array.isArray(published.referenceTypes) && published.referenceTypes.length > 0, `${path} lists referenceTypes`);
  if (def.type !== 'complex') {
    assert.equal(published.subAttributes, undefined, `${path} has no subAttributes`);
    return 1;
  }
  const subs = published.subAttributes as Record<string, unknown>[];
  assert.equal(subs.length, def.subAttributes?.length, `${path} sub-attribute count`);
  let checked = 1;
  subs.forEach((sub, i) => (checked += checkAttribute(sub, def.subAttributes![i], `${path}.${def.subAttributes![i].name}`)));
  return checked;
}

test('every schema publishes every characteristic of every attribute and sub-attribute', () => {
  let checked = 0;
  for (const def of SCHEMAS) {
    const published = schemaResource(def, `https://example.com/scim/v2/Schemas/${def.id}`);
    assert.deepEqual(published.schemas, [SCHEMA_SCHEMA]);
    assert.equal(published.id, def.id);
    assert.equal(published.name, def.name);
    assert.equal(published.description, def.description);
    assert.deepEqual(published.meta, { resourceType: 'Schema', location: `https://example.com/scim/v2/Schemas/${def.id}` });
    const attrs = published.attributes as Record<string, unknown>[];
    assert.deepEqual(attrs.map((a) => a.name), def.attributes.map((a) => a.name));
    attrs.forEach((a, i) => (checked += checkAttribute(a, def.attributes[i], `${def.name}.${def.attributes[i].name}`)));
  }
  // User, Group and EnterpriseUser with their sub-attributes: far more than the top-level count.
  assert.ok(checked > 80, `checked ${checked} attributes`);
});

test('published schemas are JSON and independent of the definitions', () => {
  const published = schemaResource(USER_SCHEMA_DEFINITION);
  assert.deepEqual(JSON.parse(JSON.stringify(published)), published);
  assert.deepEqual(published.meta, { resourceType: 'Schema' });
  const emails = (published.attributes as Record<string, unknown>[]).find((a) => a.name === 'emails')!;
  const type = (emails.subAttributes as Record<string, unknown>[]).find((a) => a.name === 'type')!;
  assert.deepEqual(type.canonicalValues, ['work', 'home', 'other']);
  // Mutating a published copy must not change the schema data behind the next publication.
  (type.canonicalValues as string[]).push('mutated');
  const again = (schemaResource(USER_SCHEMA_DEFINITION).attributes as Record<string, unknown>[]).find((a) => a.name === 'emails')!;
  assert.deepEqual((again.subAttributes as Record<string, unknown>[]).find((a) => a.name === 'type')!.canonicalValues, ['work', 'home', 'other']);
  const password = (published.attributes as Record<string, unknown>[]).find((a) => a.name === 'password')!;
  assert.deepEqual([password.mutability, password.returned], ['writeOnly', 'never']);
});

test('resource types are published with their extensions', () => {
  assert.deepEqual(resourceTypeResource(USER_RESOURCE_TYPE, 'https://example.com/scim/v2/ResourceTypes/User'), {
    schemas: [RESOURCE_TYPE_SCHEMA],
    id: 'User',
    name: 'User',
    endpoint: '/Users',
    description: 'User Account',
    schema: USER_SCHEMA,
    schemaExtensions: [{ schema: ENTERPRISE_USER_SCHEMA, required: false }],
    meta: { resourceType: 'ResourceType', location: 'https://example.com/scim/v2/ResourceTypes/User' },
  });
  for (const rt of RESOURCE_TYPES) {
    const published = resourceTypeResource(rt);
    assert.equal(published.endpoint, rt.endpoint);
    // Every schema a resource type names is itself published.
    for (const urn of [rt.schema, ...rt.schemaExtensions.map((e) => e.schema)]) assert.ok(SCHEMAS.some((s) => s.id === urn), urn);
  }
});

const features: ServiceProviderFeatures = {
  patch: true,
  bulk: { supported: true, maxOperations: 1000, maxPayloadSize: 1048576 },
  filter: { supported: true, maxResults: 500 },
  changePassword: false,
  sort: true,
  etag: true,
};

test('ServiceProviderConfig reflects the features given', () => {
  const config = serviceProviderConfig({ ...features, documentationUri: 'https://example.com/docs', location: 'https://example.com/scim/v2/ServiceProviderConfig' });
  assert.deepEqual(config, {
    schemas: [SERVICE_PROVIDER_CONFIG_SCHEMA],
    documentationUri: 'https://example.com/docs',
    patch: { supported: true },
    bulk: { supported: true, maxOperations: 1000, maxPayloadSize: 1048576 },
    filter: { supported: true, maxResults: 500 },
    changePassword: { supported: false },
    sort: { supported: true },
    etag: { supported: true },
    authenticationSchemes: config.authenticationSchemes,
    meta: { resourceType: 'ServiceProviderConfig', location: 'https://example.com/scim/v2/ServiceProviderConfig' },
  });
  const schemes = config.authenticationSchemes as Record<string, unknown>[];
  assert.equal(schemes.length, 1);
  assert.equal(schemes[0].type, 'oauthbearertoken');
  assert.equal(schemes[0].primary, true);
  assert.equal(typeof schemes[0].name, 'string');
  assert.equal(typeof schemes[0].description, 'string');
  assert.equal('pagination' in config, false);

  const off = serviceProviderConfig({ ...features, patch: false, sort: false, etag: false, bulk: { supported: false, maxOperations: 0, maxPayloadSize: 0 } });
  assert.deepEqual([off.patch, off.sort, off.etag, off.bulk], [{ supported: false }, { supported: false }, { supported: false }, { supported: false, maxOperations: 0, maxPayloadSize: 0 }]);
  assert.equal('documentationUri' in off, false);
  assert.deepEqual(off.meta, { resourceType: 'ServiceProviderConfig' });
});

test('ServiceProviderConfig advertises RFC 9865 pagination when cursor paging is on', () => {
  const config = serviceProviderConfig({ ...features, cursorPaging: true, pagination: { defaultPageSize: 100, maxPageSize: 500, cursorTimeout: 3600 } });
  assert.deepEqual(config.pagination, { cursor: true, index: true, defaultPaginationMethod: 'index', defaultPageSize: 100, maxPageSize: 500, cursorTimeout: 3600 });
  assert.deepEqual(serviceProviderConfig({ ...features, cursorPaging: true }).pagination, { cursor: true, index: true, defaultPaginationMethod: 'index' });
  assert.equal('pagination' in serviceProviderConfig({ ...features, cursorPaging: false, pagination: { defaultPageSize: 1, maxPageSize: 1, cursorTimeout: 1 } }), false);
});
