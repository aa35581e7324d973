/**
 * Declared schema extensions (parseSchemaDocument, buildSchemaSet) and the unknown-attribute policies, in the
 * protocol layer: validation, PATCH in every form, filters, projection.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ScimError } from '../../src/scim/errors.ts';
import { checkFilterAttributes, compileFilter, parseFilter } from '../../src/scim/filter/index.ts';
import { applyPatch, parsePatchRequest } from '../../src/scim/patch/index.ts';
import { Projection } from '../../src/scim/projection.ts';
import { ENTERPRISE_USER_SCHEMA, USER_SCHEMA } from '../../src/scim/schema/core.ts';
import { BUILT_IN_SCHEMA_SET, buildSchemaSet, checkNewDeclaration, parseSchemaDocument } from '../../src/scim/schema/declare.ts';
import type { SchemaExtensionDeclaration } from '../../src/scim/schema/declare.ts';
import { GROUP, USER } from '../../src/scim/schema/registry.ts';
import type { ResourceSchema, UnknownAttributePolicy } from '../../src/scim/schema/registry.ts';
import { validateResource } from '../../src/scim/validate.ts';
import { STRICT, assertScimError, body } from './patch-helpers.ts';

const ACME = 'urn:ietf:params:scim:schemas:extension:acme:2.0:User';

export const ACME_DOCUMENT = {
  id: ACME,
  name: 'AcmeUser',
  description: 'Acme custom attributes',
  attributes: [
    { name: 'costCode', type: 'string', multiValued: false, required: false, caseExact: false, mutability: 'readWrite', returned: 'default', uniqueness: 'none' },
    { name: 'badge', type: 'integer' },
    { name: 'hired', type: 'dateTime' },
    { name: 'remote', type: 'boolean' },
    { name: 'secret', type: 'string', mutability: 'writeOnly', returned: 'never' },
    { name: 'nickname', type: 'string', returned: 'request' },
    { name: 'skills', type: 'string', multiValued: true },
    { name: 'office', type: 'complex', subAttributes: [{ name: 'building', type: 'string' }, { name: 'floor', type: 'integer' }] },
    { name: 'badgeId', type: 'string', mutability: 'immutable', caseExact: true },
  ],
};

function declared(doc: unknown = ACME_DOCUMENT, required = false): SchemaExtensionDeclaration {
  return { resourceType: 'User', required, schema: parseSchemaDocument(doc) };
}

function userSchema(policy: UnknownAttributePolicy = 'reject', declarations = [declared()]): ResourceSchema {
  return buildSchemaSet(declarations, policy).user;
}

function invalidDocument(doc: unknown, detail: RegExp): void {
  assert.throws(
    () => parseSchemaDocument(doc),
    (err: unknown) => err instanceof ScimError && err.status === 400 && err.scimType === 'invalidValue' && detail.test(err.message),
  );
}

const attr = (overrides: Record<string, unknown>) => ({ id: ACME, attributes: [{ name: 'a', type: 'string', ...overrides }] });

test('a schema document is read with RFC 7643 defaults for what it leaves out', () => {
  const schema = parseSchemaDocument(ACME_DOCUMENT);
  assert.equal(schema.id, ACME);
  const badge = schema.attributes.find((a) => a.name === 'badge')!;
  assert.deepEqual(
    [badge.multiValued, badge.required, badge.caseExact, badge.mutability, badge.returned, badge.uniqueness],
    [false, false, false, 'readWrite', 'default', 'none'],
  );
  // Member names are case-insensitive, and what /Schemas serves (`schemas`, `meta`) may come along.
  const again = parseSchemaDocument({ ID: ACME, Attributes: [{ NAME: 'x', Type: 'reference' }], schemas: ['urn:ietf:params:scim:schemas:core:2.0:Schema'], meta: {} });
  assert.deepEqual(again.attributes[0].referenceTypes, ['external']);
  assert.equal(again.name, 'User', 'the name defaults to the last segment of the URN');
});

test('invalid schema documents are 400s that name the problem', () => {
  invalidDocument([], /JSON object/);
  invalidDocument({ attributes: [] }, /"id" must be the schema URN/);
  invalidDocument({ id: 'acme:custom', attributes: [{ name: 'a', type: 'string' }] }, /not a URN/);
  invalidDocument({ id: 'urn:a:b', attributes: [{ name: 'a', type: 'string' }] }, /invalid namespace identifier "a"/);
  invalidDocument({ id: 'urn:acme::User', attributes: [{ name: 'a', type: 'string' }] }, /empty segment/);
  invalidDocument({ id: 'urn:acme:bad space', attributes: [{ name: 'a', type: 'string' }] }, /invalid segment "bad space"/);
  invalidDocument({ id: USER_SCHEMA, attributes: [{ name: 'a', type: 'string' }] }, /RFC 7643 defines/);
  invalidDocument({ id: ENTERPRISE_USER_SCHEMA, attributes: [{ name: 'a', type: 'string' }] }, /RFC 7643 defines/);
  invalidDocument({ id: ACME, attributes: [] }, /non-empty "attributes"/);
  invalidDocument({ id: ACME, attributes: [{ name: 'a', type: 'string' }], extra: 1 }, /unknown member "extra"/);
  invalidDocument(attr({ name: '1abc' }), /"1abc" is not an attribute name/);
  invalidDocument(attr({ name: 'has space' }), /not an attribute name/);
  invalidDocument(attr({ name: 'constructor' }), /not allowed/);
  invalidDocument(attr({ name: 'schemas' }), /reserved/);
  invalidDocument(attr({ type: 'text' }), /"type" must be one of string, boolean/);
  invalidDocument({ id: ACME, attributes: [{ name: 'a' }] }, /needs a "type"/);
  invalidDocument(attr({ multiValued: 'yes' }), /"multiValued" must be true or false/);
  invalidDocument(attr({ mutability: 'sometimes' }), /"mutability" must be one of/);
  invalidDocument(attr({ mutability: 'readOnly' }), /readOnly, but scimkit computes no extension values/);
  invalidDocument(attr({ returned: 'maybe' }), /"returned" must be one of/);
  invalidDocument(attr({ uniqueness: 'unique' }), /"uniqueness" must be one of none, server, global/);
  invalidDocument(attr({ uniqueness: 'server' }), /does not enforce/);
  invalidDocument(attr({ canonicalValues: [1] }), /"canonicalValues" must be an array of non-empty strings/);
  invalidDocument(attr({ referenceTypes: ['User'] }), /only references have them/);
  invalidDocument(attr({ mutable: true }), /unknown member "mutable"/);
  invalidDocument(attr({ type: 'complex' }), /needs a non-empty "subAttributes"/);
  invalidDocument(attr({ subAttributes: [{ name: 'b', type: 'string' }] }), /only complex attributes have them/);
  invalidDocument(attr({ type: 'complex', subAttributes: [{ name: 'b', type: 'complex', subAttributes: [{ name: 'c', type: 'string' }] }] }), /sub-attributes must be simple/);
  invalidDocument(attr({ type: 'complex', subAttributes: [{ name: 'b', type: 'string' }, { name: 'B', type: 'string' }] }), /names "B" more than once/);
  invalidDocument({ id: ACME, attributes: [{ name: 'a', type: 'string' }, { name: 'A', type: 'integer' }] }, /names "A" more than once/);
  invalidDocument({ id: ACME, attributes: [{ name: 'a', type: 'string', Name: 'b' }] }, /gives "name" more than once/);
});

test('a declaration needs a URN of its own, within the limit', () => {
  const first = declared();
  assert.doesNotThrow(() => checkNewDeclaration([], first));
  assert.throws(() => checkNewDeclaration([first], declared()), (err: unknown) => err instanceof ScimError && err.status === 409);
  const lower = declared({ ...ACME_DOCUMENT, id: ACME.toLowerCase() });
  assert.throws(() => checkNewDeclaration([first], lower), /already declared/);
  const nested = declared({ ...ACME_DOCUMENT, id: `${ACME}:more` });
  assert.throws(() => checkNewDeclaration([first], nested), /overlaps the declared schema/);
  const overBuiltIn = declared({ ...ACME_DOCUMENT, id: `${ENTERPRISE_USER_SCHEMA}:x` });
  assert.throws(() => checkNewDeclaration([], overBuiltIn), /overlaps the built-in schema/);
  const many = Array.from({ length: 20 }, (_, i) => declared({ ...ACME_DOCUMENT, id: `urn:acme:ext${i}` }));
  assert.throws(() => checkNewDeclaration(many, declared({ ...ACME_DOCUMENT, id: 'urn:acme:one-more' })), /at most 20/);
});

test('the schema set lists declared extensions in /Schemas and in the resource type; without any it is the built-in one', () => {
  assert.equal(BUILT_IN_SCHEMA_SET.user, USER);
  assert.equal(BUILT_IN_SCHEMA_SET.group, GROUP);
  const set = buildSchemaSet([declared(), { resourceType: 'Group', required: true, schema: parseSchemaDocument({ id: 'urn:acme:group', attributes: [{ name: 'code', type: 'string' }] }) }]);
  assert.deepEqual(set.schemas.map((s) => s.id).slice(-2), [ACME, 'urn:acme:group']);
  assert.deepEqual(set.resourceTypes[0].schemaExtensions, [
    { schema: ENTERPRISE_USER_SCHEMA, required: false },
    { schema: ACME, required: false },
  ]);
  assert.deepEqual(set.resourceTypes[1].schemaExtensions, [{ schema: 'urn:acme:group', required: true }]);
  assert.deepEqual(set.user.extensions.map((e) => e.id), [ENTERPRISE_USER_SCHEMA, ACME]);
});

test('declared attributes are validated like core ones: names in any case, types, required, mutability', () => {
  const rs = userSchema();
  const doc = validateResource(
    rs,
    { schemas: [USER_SCHEMA, ACME.toUpperCase()], userName: 'a', [ACME.toLowerCase()]: { COSTCODE: 'X1', badge: 7, hired: '2020-01-02T03:04:05Z', office: { Building: 'B', floor: 3 }, skills: ['go'] } },
    { mode: 'create' },
  );
  assert.deepEqual(doc.schemas, [USER_SCHEMA, ACME]);
  assert.deepEqual(doc[ACME], { costCode: 'X1', badge: 7, hired: '2020-01-02T03:04:05Z', office: { building: 'B', floor: 3 }, skills: ['go'] });
  const bad = (ext: Record<string, unknown>, detail: RegExp) =>
    assertScimError(() => validateResource(rs, { userName: 'a', [ACME]: ext }, { mode: 'create' }), 'invalidValue', detail);
  bad({ badge: '7' }, new RegExp(`"${ACME}:badge" must be an integer`));
  bad({ remote: 'yes' }, /must be a boolean/);
  bad({ hired: 'yesterday' }, /xsd:dateTime/);
  bad({ skills: 'go' }, /multi-valued and must be an array/);
  bad({ office: { floor: 'three' } }, /office\.floor" must be an integer/);
  bad({ nosuch: 1 }, new RegExp(`Unknown attribute "${ACME}:nosuch"`));
  // Immutable once set.
  const existing = { schemas: [USER_SCHEMA, ACME], userName: 'a', [ACME]: { badgeId: 'B-1' } };
  assertScimError(() => validateResource(rs, { userName: 'a', [ACME]: { badgeId: 'B-2' } }, { mode: 'replace', existing }), 'mutability', /immutable/);
  // Required attributes of a required extension.
  const required = buildSchemaSet([declared({ id: ACME, attributes: [{ name: 'costCode', type: 'string', required: true }] }, true)]).user;
  assertScimError(() => validateResource(required, { userName: 'a' }, { mode: 'create' }), 'invalidValue', /Required schema extension/);
  assertScimError(() => validateResource(required, { userName: 'a', [ACME]: { costCode: '' } }, { mode: 'create' }), 'invalidValue', /Required attribute/);
});

test('returned characteristics of declared attributes apply to projection', () => {
  const rs = userSchema();
  const resource = { schemas: [USER_SCHEMA, ACME], id: '1', userName: 'a', [ACME]: { costCode: 'X', secret: 's', nickname: 'n' } };
  assert.deepEqual(new Projection(rs, {}).apply(resource)[ACME], { costCode: 'X' });
  assert.deepEqual(new Projection(rs, { attributes: [`${ACME}:nickname`] }).apply(resource)[ACME], { nickname: 'n' });
  assert.equal(new Projection(rs, { excludedAttributes: [ACME] }).apply(resource)[ACME], undefined);
});

test('filters compare declared attributes by their types, and refuse unknown ones', () => {
  const rs = userSchema();
  const user = { userName: 'a', [ACME]: { costCode: 'X1', badge: 7, hired: '2020-01-02T03:04:05Z', skills: ['Go', 'Rust'], office: { floor: 3 } } };
  const matches = (text: string) => compileFilter(parseFilter(text), rs)(user);
  assert.equal(matches(`${ACME}:costCode eq "x1"`), true);
  assert.equal(matches(`${ACME}:badge gt 5`), true);
  assert.equal(matches(`${ACME}:hired lt "2021-01-01T00:00:00Z"`), true);
  assert.equal(matches(`${ACME}:skills eq "rust"`), true);
  assert.equal(matches(`${ACME}:office.floor ge 4`), false);
  assert.throws(() => compileFilter(parseFilter(`${ACME}:badge eq "7"`), rs), /use a number/);
  assert.throws(() => compileFilter(parseFilter(`${ACME}:secret eq "s"`), rs), /cannot be used in a filter/);
});

test('PATCH reaches declared attributes in every form', () => {
  const rs = userSchema();
  const existing = { schemas: [USER_SCHEMA], userName: 'a' };
  const run = (...ops: unknown[]) => {
    const parsed = parsePatchRequest(body(...ops), rs, {});
    return validateResource(rs, applyPatch(rs, existing, parsed).document, { mode: 'patch', existing });
  };
  // A path with the URN, in any case.
  assert.deepEqual(run({ op: 'add', path: `${ACME.toLowerCase()}:COSTCODE`, value: 'X' })[ACME], { costCode: 'X' });
  // A sub-attribute path, and a whole-extension path.
  assert.deepEqual(run({ op: 'replace', path: `${ACME}:office.floor`, value: 2 })[ACME], { office: { floor: 2 } });
  assert.deepEqual(run({ op: 'replace', path: ACME, value: { badge: 3 } })[ACME], { badge: 3 });
  // A path-less value holding the extension.
  assert.deepEqual(run({ op: 'add', value: { [ACME]: { skills: ['go'] } } })[ACME], { skills: ['go'] });
  // Entra ID's dotted keys and string booleans (dotted-keys, boolean-strings).
  assert.deepEqual(run({ op: 'Replace', value: { [`${ACME}:remote`]: 'True', [`${ACME}:office.building`]: 'HQ' } })[ACME], { remote: true, office: { building: 'HQ' } });
  // Remove by path; the emptied extension leaves `schemas`.
  const withCode = { schemas: [USER_SCHEMA, ACME], userName: 'a', [ACME]: { costCode: 'X' } };
  const removed = applyPatch(rs, withCode, parsePatchRequest(body({ op: 'remove', path: `${ACME}:costCode` }), rs, {})).document;
  assert.deepEqual(removed.schemas, [USER_SCHEMA]);
  assert.equal(removed[ACME], undefined);
  // Types are checked once the patch is applied.
  assertScimError(() => run({ op: 'add', path: `${ACME}:badge`, value: 'seven' }), 'invalidValue', /must be an integer/);
  assertScimError(() => run({ op: 'add', path: `${ACME}:nosuch`, value: 1 }), 'invalidPath', /nosuch/);
});

test('unknown attributes: reject names them, ignore drops and records them, keep stores and returns them as sent', () => {
  const input = { userName: 'a', customField: 'foo', name: { givenName: 'A', nickish: 1 }, [ACME]: { costCode: 'X', extra: true }, 'urn:other:ext': { z: 1 }, schemas: [USER_SCHEMA, 'urn:other:ext'] };
  assertScimError(() => validateResource(userSchema('reject'), input, { mode: 'create' }), 'invalidValue', /Unknown attribute "urn:other:ext"/);
  assertScimError(() => validateResource(userSchema('reject'), { userName: 'a', customField: 'foo' }, { mode: 'create' }), 'invalidValue', /Unknown attribute "customField"/);

  const ignored: string[] = [];
  const dropped = validateResource(userSchema('ignore'), input, { mode: 'create', ignored });
  assert.deepEqual(dropped, { schemas: [USER_SCHEMA, ACME], userName: 'a', name: { givenName: 'A' }, [ACME]: { costCode: 'X' }, active: true });
  assert.deepEqual(ignored.sort(), [`${ACME}:extra`, 'customField', 'name.nickish', 'urn:other:ext'].sort());

  const rs = userSchema('keep');
  const kept = validateResource(rs, input, { mode: 'create' });
  assert.deepEqual(kept, {
    schemas: [USER_SCHEMA, ACME, 'urn:other:ext'],
    userName: 'a',
    customField: 'foo',
    name: { givenName: 'A', nickish: 1 },
    [ACME]: { costCode: 'X', extra: true },
    'urn:other:ext': { z: 1 },
    active: true,
  });
  // Returned as sent by the default view; an `attributes` list returns what it names.
  const shown = new Projection(rs, {}).apply({ ...kept, id: '1' });
  assert.equal(shown.customField, 'foo');
  assert.deepEqual(shown.name, { givenName: 'A', nickish: 1 });
  assert.deepEqual(shown[ACME], { costCode: 'X', extra: true });
  assert.deepEqual(shown['urn:other:ext'], { z: 1 });
  assert.deepEqual(Object.keys(new Projection(rs, { attributes: ['userName'] }).apply({ ...kept, id: '1' })).sort(), ['id', 'schemas', 'userName']);
  // Not filterable: they have no type to compare by.
  assertScimError(() => checkFilterAttributes(parseFilter('customField eq "foo"'), rs), 'invalidFilter', /unknown attribute "customField"/);
});

test('unknown attributes in PATCH follow the same policy', () => {
  const existing = { schemas: [USER_SCHEMA], userName: 'a' };
  const ops = [
    { op: 'add', value: { customField: 'foo', title: 'T' } },
    { op: 'replace', path: 'urn:ietf:params:scim:schemas:extension:other:2.0:User:level', value: 3 },
  ];
  assertScimError(() => parsePatchRequest(body(...ops), userSchema('reject'), STRICT), 'invalidValue', /customField/);

  const ignored: string[] = [];
  const rsIgnore = userSchema('ignore');
  const parsed = parsePatchRequest(body(...ops), rsIgnore, STRICT, ignored);
  assert.deepEqual(ignored, ['customField', 'urn:ietf:params:scim:schemas:extension:other:2.0:User:level']);
  assert.deepEqual(applyPatch(rsIgnore, existing, parsed).document, { schemas: [USER_SCHEMA], userName: 'a', title: 'T' });

  const rsKeep = userSchema('keep');
  const doc = applyPatch(rsKeep, existing, parsePatchRequest(body(...ops), rsKeep, STRICT)).document;
  const valid = validateResource(rsKeep, doc, { mode: 'patch', existing });
  assert.equal(valid.customField, 'foo');
  assert.deepEqual(valid['urn:ietf:params:scim:schemas:extension:other:2.0:User'], { level: 3 });
  const removed = applyPatch(rsKeep, valid, parsePatchRequest(body({ op: 'remove', path: 'customField' }), rsKeep, STRICT)).document;
  assert.equal(removed.customField, undefined);
});

test('data of an extension that is no longer declared is kept through writes, but neither validated nor returned', () => {
  const stored = { schemas: [USER_SCHEMA, ACME], userName: 'a', [ACME]: { costCode: 'X' } };
  for (const policy of ['reject', 'ignore'] as const) {
    const rs = buildSchemaSet([], policy).user; // the extension was removed
    const patched = applyPatch(rs, stored, parsePatchRequest(body({ op: 'replace', path: 'title', value: 'T' }), rs, {})).document;
    const doc = validateResource(rs, patched, { mode: 'patch', existing: stored });
    assert.deepEqual(doc[ACME], { costCode: 'X' }, policy);
    assert.equal(doc.title, 'T');
    // A PUT that does not know the extension keeps it too.
    assert.deepEqual(validateResource(rs, { userName: 'a' }, { mode: 'replace', existing: stored })[ACME], { costCode: 'X' });
    const shown = new Projection(rs, {}).apply({ ...doc, id: '1' });
    assert.equal(shown[ACME], undefined);
    assert.deepEqual(shown.schemas, [USER_SCHEMA]);
  }
  // Declared again, the data is back.
  const again = userSchema();
  assert.deepEqual(new Projection(again, {}).apply({ ...stored, id: '1' })[ACME], { costCode: 'X' });
});

test('in a patched document, unknown values it already stored stay whatever the policy now is', () => {
  // Kept while the organization had `keep`, then the policy changed.
  const stored = { schemas: [USER_SCHEMA], userName: 'a', customField: 'foo', name: { givenName: 'A', extra: 1 } };
  for (const policy of ['reject', 'ignore'] as const) {
    const rs = buildSchemaSet([], policy).user;
    const patched = applyPatch(rs, stored, parsePatchRequest(body({ op: 'replace', path: 'title', value: 'T' }), rs, {})).document;
    const doc = validateResource(rs, patched, { mode: 'patch', existing: stored });
    assert.equal(doc.customField, 'foo', policy);
    assert.deepEqual(doc.name, { givenName: 'A', extra: 1 }, policy);
  }
  // A new unknown value is still refused.
  const rs = buildSchemaSet([], 'reject').user;
  assertScimError(() => validateResource(rs, { ...stored, customField: 'bar' }, { mode: 'patch', existing: stored }), 'invalidValue', /customField/);
});
