import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GROUP, USER, isForbiddenKey, resolvePathString } from '../../src/scim/schema/index.ts';

test('attribute paths resolve case-insensitively, with and without schema URNs', () => {
  assert.equal(resolvePathString(USER, 'USERNAME').attribute.name, 'userName');
  const given = resolvePathString(USER, 'urn:ietf:params:scim:schemas:core:2.0:User:name.GivenName');
  assert.equal(given.attribute.name, 'name');
  assert.equal(given.subAttribute?.name, 'givenName');
  assert.equal(given.extension, null);
  const mgr = resolvePathString(USER, 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value');
  assert.equal(mgr.extension, 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User');
  assert.equal(mgr.subAttribute?.caseExact, true);
  assert.equal(resolvePathString(GROUP, 'meta.lastModified').subAttribute?.type, 'dateTime');
  assert.throws(() => resolvePathString(USER, 'nosuch'), /Unknown attribute/);
  assert.throws(() => resolvePathString(GROUP, 'userName'), /Unknown attribute/);
});

test('schema definitions carry the RFC 7643 characteristics', () => {
  const userName = resolvePathString(USER, 'userName').attribute;
  assert.deepEqual([userName.required, userName.caseExact, userName.uniqueness], [true, false, 'server']);
  const password = resolvePathString(USER, 'password').attribute;
  assert.deepEqual([password.mutability, password.returned], ['writeOnly', 'never']);
  assert.equal(resolvePathString(USER, 'id').attribute.returned, 'always');
  assert.equal(resolvePathString(USER, 'groups').attribute.mutability, 'readOnly');
  assert.equal(resolvePathString(GROUP, 'members.value').subAttribute?.mutability, 'immutable');
});

test('prototype keys are recognised in any case', () => {
  for (const k of ['__proto__', 'constructor', 'PROTOTYPE']) assert.equal(isForbiddenKey(k), true);
  assert.equal(isForbiddenKey('emails'), false);
});
