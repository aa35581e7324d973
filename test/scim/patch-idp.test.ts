/**
 * PATCH bodies as identity providers send them, shaped after the request examples in Microsoft's Entra ID SCIM
 * provisioning docs and Okta's SCIM 2.0 developer docs (ids shortened where the docs elide them), plus quirks seen from
 * these IdPs in the field. Each runs through the default compatibility settings, is applied, and must then pass
 * validateResource as the store would run it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applyPatch, parsePatchRequest, patchApplyOptions } from '../../src/scim/patch/index.ts';
import type { CompatSettings } from '../../src/scim/patch/index.ts';
import { ENTERPRISE_USER_SCHEMA, GROUP_SCHEMA, PATCH_OP_SCHEMA, USER_SCHEMA } from '../../src/scim/schema/core.ts';
import { GROUP, USER } from '../../src/scim/schema/registry.ts';
import type { ResourceSchema } from '../../src/scim/schema/registry.ts';
import { validateResource } from '../../src/scim/validate.ts';
import { STRICT, assertScimError, deepFreeze } from './patch-helpers.ts';

const DEFAULTS: CompatSettings = {};

const USER_DOC = deepFreeze({
  schemas: [USER_SCHEMA],
  userName: 'Test_User_ab6490ee-1e48-479e-a20b-2d77186b5dd1',
  externalId: '0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef',
  name: { formatted: 'Ryan Leenay', familyName: 'Leenay', givenName: 'Ryan' },
  emails: [{ primary: true, type: 'work', value: 'Test_User_fd0ea19b-0777-472c-9f96-4f70d2226f2e@testuser.com' }],
  active: true,
});

const GROUP_DOC = deepFreeze({
  schemas: [GROUP_SCHEMA],
  displayName: 'Test SCIMv2',
  members: [{ value: '23a35c27-23d3-4c03-b4c5-6443c09e7173', display: 'test.user@okta.local' }, { value: 'f648f8d5ea4e4cd38e9c' }],
});

/** The request as JSON text, so nothing in the fixture is a JavaScript-only shape. */
function request(json: string): unknown {
  return JSON.parse(json);
}

function run(rs: ResourceSchema, doc: Record<string, unknown>, raw: unknown, compat = DEFAULTS, membersAsChanges = false) {
  const ops = parsePatchRequest(raw, rs, compat);
  const result = applyPatch(rs, doc, ops, { ...patchApplyOptions(compat), membersAsChanges });
  const validated = validateResource(rs, result.document, { mode: 'patch', existing: doc });
  return { ...result, validated };
}

test('Entra ID: update a multi-valued and a single-valued attribute ("op": "Replace")', () => {
  const raw = request(`{"schemas":["${PATCH_OP_SCHEMA}"],"Operations":[
    {"op":"Replace","path":"emails[type eq \\"work\\"].value","value":"updatedEmail@microsoft.com"},
    {"op":"Replace","path":"name.familyName","value":"updatedFamilyName"}]}`);
  const { validated } = run(USER, USER_DOC, raw);
  assert.deepEqual(validated.emails, [{ primary: true, type: 'work', value: 'updatedEmail@microsoft.com' }]);
  assert.deepEqual(validated.name, { formatted: 'Ryan Leenay', familyName: 'updatedFamilyName', givenName: 'Ryan' });
  assertScimError(() => parsePatchRequest(raw, USER, STRICT), 'invalidSyntax');
});

test('Entra ID: disable a user with "value": "False" (string) and with false', () => {
  for (const value of ['"False"', 'false']) {
    const raw = request(`{"schemas":["${PATCH_OP_SCHEMA}"],"Operations":[{"op":"Replace","path":"active","value":${value}}]}`);
    assert.equal(run(USER, USER_DOC, raw).validated.active, false);
  }
});

test('Entra ID: path-less add with dotted and URN-qualified keys, and the manager sent as a plain id', () => {
  const raw = request(`{"schemas":["${PATCH_OP_SCHEMA}"],"Operations":[
    {"op":"Add","value":{"name.givenName":"Ryan","name.familyName":"Leenay-Smith","${ENTERPRISE_USER_SCHEMA}:department":"Engineering","${ENTERPRISE_USER_SCHEMA}:employeeNumber":"1234"}},
    {"op":"Add","path":"${ENTERPRISE_USER_SCHEMA}:manager","value":"0a21f0f2-8d2a-4f8e-bf98-000000000001"},
    {"op":"Add","path":"emails[type eq \\"other\\"].value","value":"ryan@home.example"}]}`);
  const { validated } = run(USER, USER_DOC, raw);
  assert.equal((validated.name as Record<string, unknown>).familyName, 'Leenay-Smith');
  assert.deepEqual(validated[ENTERPRISE_USER_SCHEMA], {
    department: 'Engineering',
    employeeNumber: '1234',
    manager: { value: '0a21f0f2-8d2a-4f8e-bf98-000000000001' },
  });
  assert.deepEqual(validated.schemas, [USER_SCHEMA, ENTERPRISE_USER_SCHEMA]);
  assert.deepEqual((validated.emails as unknown[])[1], { type: 'other', value: 'ryan@home.example' });
});

test('Entra ID: add and remove group members, in the document and as membership deltas', () => {
  const add = request(`{"schemas":["${PATCH_OP_SCHEMA}"],"Operations":[{"op":"Add","path":"members","value":[{"$ref":null,"value":"a1b2c3"}]}]}`);
  const remove = request(`{"schemas":["${PATCH_OP_SCHEMA}"],"Operations":[{"op":"Remove","path":"members","value":[{"$ref":null,"value":"f648f8d5ea4e4cd38e9c"}]}]}`);
  const added = run(GROUP, GROUP_DOC, add).validated;
  assert.deepEqual((added.members as { value: string }[]).map((m) => m.value), ['23a35c27-23d3-4c03-b4c5-6443c09e7173', 'f648f8d5ea4e4cd38e9c', 'a1b2c3']);
  const removed = run(GROUP, GROUP_DOC, remove).validated;
  assert.deepEqual((removed.members as { value: string }[]).map((m) => m.value), ['23a35c27-23d3-4c03-b4c5-6443c09e7173']);

  assert.deepEqual(run(GROUP, GROUP_DOC, add, DEFAULTS, true).memberChanges, [{ kind: 'add', members: [{ value: 'a1b2c3' }] }]);
  const delta = run(GROUP, GROUP_DOC, remove, DEFAULTS, true);
  assert.deepEqual(delta.memberChanges, [{ kind: 'remove', ids: ['f648f8d5ea4e4cd38e9c'] }]);
  assert.equal(Object.hasOwn(delta.document, 'members'), false);
});

test('Entra ID: rename a group', () => {
  const raw = request(`{"schemas":["${PATCH_OP_SCHEMA}"],"Operations":[{"op":"Replace","path":"displayName","value":"1879db59-3bdf-4490-ad68-ab880a269474updatedDisplayName"}]}`);
  assert.equal(run(GROUP, GROUP_DOC, raw).validated.displayName, '1879db59-3bdf-4490-ad68-ab880a269474updatedDisplayName');
});

test('Okta: deactivate a user with a path-less replace, with and without the id in the value', () => {
  const plain = request(`{"schemas":["${PATCH_OP_SCHEMA}"],"Operations":[{"op":"replace","value":{"active":false}}]}`);
  assert.equal(run(USER, USER_DOC, plain).validated.active, false);
  assert.equal(run(USER, USER_DOC, plain, STRICT).validated.active, false);
  const withId = request(`{"schemas":["${PATCH_OP_SCHEMA}"],"Operations":[{"op":"replace","value":{"id":"23a35c27-23d3-4c03-b4c5-6443c09e7173","active":false}}]}`);
  assert.equal(run(USER, USER_DOC, withId).validated.active, false);
  assertScimError(() => parsePatchRequest(withId, USER, STRICT), 'mutability');
});

test('Okta: rename a group (id in the value), add, remove and replace members', () => {
  const rename = request(`{"schemas":["${PATCH_OP_SCHEMA}"],"Operations":[{"op":"replace","value":{"id":"abf4dd94-a4c0-4f67-89c9-76b03340cb9b","displayName":"Test SCIMv2 renamed"}}]}`);
  assert.equal(run(GROUP, GROUP_DOC, rename).validated.displayName, 'Test SCIMv2 renamed');
  const add = request(`{"schemas":["${PATCH_OP_SCHEMA}"],"Operations":[{"op":"add","path":"members","value":[{"value":"89bb1940-b905-4575-9e7f-6f887cfb368e","display":"test.user2@okta.local"}]}]}`);
  assert.equal((run(GROUP, GROUP_DOC, add).validated.members as unknown[]).length, 3);
  const remove = request(`{"schemas":["${PATCH_OP_SCHEMA}"],"Operations":[{"op":"remove","path":"members[value eq \\"23a35c27-23d3-4c03-b4c5-6443c09e7173\\"]"}]}`);
  assert.deepEqual(run(GROUP, GROUP_DOC, remove).validated.members, [{ value: 'f648f8d5ea4e4cd38e9c' }]);
  assert.deepEqual(run(GROUP, GROUP_DOC, remove, STRICT, true).memberChanges, [{ kind: 'remove', ids: ['23a35c27-23d3-4c03-b4c5-6443c09e7173'] }]);
  const replace = request(`{"schemas":["${PATCH_OP_SCHEMA}"],"Operations":[{"op":"replace","path":"members","value":[{"value":"89bb1940-b905-4575-9e7f-6f887cfb368e","display":"test.user2@okta.local"}]}]}`);
  assert.deepEqual(run(GROUP, GROUP_DOC, replace).validated.members, [{ value: '89bb1940-b905-4575-9e7f-6f887cfb368e', display: 'test.user2@okta.local' }]);
  assert.deepEqual(run(GROUP, GROUP_DOC, replace, DEFAULTS, true).memberChanges, [
    { kind: 'removeAll' },
    { kind: 'add', members: [{ value: '89bb1940-b905-4575-9e7f-6f887cfb368e', display: 'test.user2@okta.local' }] },
  ]);
});

test('OneLogin-style: path-less replace with a boolean sent as a string, lower-case member type', () => {
  const userBody = request(`{"schemas":["${PATCH_OP_SCHEMA}"],"Operations":[{"op":"replace","value":{"active":"True","title":"Engineer","emails":[{"value":"r@x.example","type":"work","primary":"true"}]}}]}`);
  const { validated } = run(USER, USER_DOC, userBody);
  assert.equal(validated.active, true);
  assert.deepEqual(validated.emails, [{ value: 'r@x.example', type: 'work', primary: true }]);
  const groupBody = request(`{"schemas":["${PATCH_OP_SCHEMA}"],"Operations":[{"op":"add","path":"members","value":[{"value":"u-77","type":"user"}]}]}`);
  assert.deepEqual(run(GROUP, GROUP_DOC, groupBody, DEFAULTS, true).memberChanges, [{ kind: 'add', members: [{ value: 'u-77', type: 'User' }] }]);
});
