import { test } from 'node:test';
import assert from 'node:assert/strict';
import { client, startHarness } from './helpers.ts';
import { loadFixture, replay } from './idp-replay.ts';

const ENTERPRISE = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';

test('OneLogin: template users, PUT updates and rule-driven groups, replayed end to end with default compat settings', async () => {
  const h = await startHarness();
  try {
    const vars = await replay(h, loadFixture('onelogin.json'));
    const api = client(h);
    const u = await api('GET', `/Users/${vars.get('userId')}`);
    assert.equal(u.body.active, false);
    assert.equal(u.body.name.familyName, 'Leung-Park');
    assert.deepEqual(u.body[ENTERPRISE], { department: 'Engineering', organization: 'OneLogin Example' });
    const g = await api('GET', `/Groups/${vars.get('groupId')}`);
    // The second user was a member and has been deleted: the group is now empty.
    assert.deepEqual(g.body.members ?? [], []);
    const users = await api('GET', '/Users?count=100');
    assert.deepEqual(users.body.Resources.map((r: { id: string }) => r.id), [vars.get('userId')]);
  } finally {
    await h.close();
  }
});
