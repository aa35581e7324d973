import { test } from 'node:test';
import assert from 'node:assert/strict';
import { client, startHarness } from './helpers.ts';
import { loadFixture, replay } from './idp-replay.ts';

test('Okta: user lifecycle and Group Push, replayed end to end with default compat settings', async () => {
  const h = await startHarness();
  try {
    const vars = await replay(h, loadFixture('okta.json'));
    const api = client(h);
    const u = await api('GET', `/Users/${vars.get('userId')}`);
    assert.equal(u.body.active, false, 'deprovisioned users are deactivated, not deleted');
    assert.deepEqual(u.body.name, { givenName: 'Another', familyName: 'User' });
    assert.equal(u.body.password, undefined);
    const g = await api('GET', `/Groups/${vars.get('groupId')}`);
    assert.equal(g.body.displayName, 'Test SCIMv2 (renamed)');
    assert.equal(g.body.id, vars.get('groupId'), 'the id inside the rename value did not change anything');
    assert.deepEqual(g.body.members.map((m: { value: string }) => m.value), [vars.get('userId')]);
    // The membership is visible from the user's side too.
    const withGroups = await api('GET', `/Users/${vars.get('userId')}?attributes=groups`);
    assert.deepEqual(withGroups.body.groups.map((x: { value: string }) => x.value), [vars.get('groupId')]);
    const all = await api('GET', '/Users?startIndex=1&count=100');
    assert.equal(all.body.totalResults, 2);
  } finally {
    await h.close();
  }
});
