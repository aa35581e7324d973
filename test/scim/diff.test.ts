import assert from 'node:assert/strict';
import { test } from 'node:test';
import { changedAttributes } from '../../src/scim/diff.ts';

const ENTERPRISE = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';

test('equal documents have no changed attributes, whatever their key order', () => {
  const before = { userName: 'a', name: { givenName: 'A', familyName: 'B' }, emails: [{ value: 'a@x', type: 'work' }], [ENTERPRISE]: { department: 'D' } };
  const after = { [ENTERPRISE]: { department: 'D' }, emails: [{ type: 'work', value: 'a@x' }], name: { familyName: 'B', givenName: 'A' }, userName: 'a' };
  assert.deepEqual(changedAttributes(before, after), []);
  assert.deepEqual(changedAttributes({}, {}), []);
});

test('names each changed attribute once: set, changed, removed; extension attributes by full path', () => {
  const before = { userName: 'a', title: 'T', active: true, emails: [{ value: 'a@x' }, { value: 'b@x' }], [ENTERPRISE]: { department: 'D', costCenter: 'C' } };
  const after = { userName: 'a', active: false, nickName: 'N', emails: [{ value: 'b@x' }, { value: 'a@x' }], [ENTERPRISE]: { department: 'E', costCenter: 'C', division: 'V' } };
  assert.deepEqual(changedAttributes(before, after), ['active', 'nickName', 'emails', `${ENTERPRISE}:department`, `${ENTERPRISE}:division`, 'title']);
  assert.deepEqual(changedAttributes({ [ENTERPRISE]: { manager: { value: 'm' } } }, {}), [`${ENTERPRISE}:manager`]);
  assert.deepEqual(changedAttributes({ active: true }, { active: 'true' }), ['active'], 'types count');
});
