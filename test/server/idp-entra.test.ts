import { test } from 'node:test';
import assert from 'node:assert/strict';
import { client, startHarness } from './helpers.ts';
import { loadFixture, replay } from './idp-replay.ts';

const ENTERPRISE = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';

test('Entra ID: users and groups, replayed end to end with default compat settings', async () => {
  const h = await startHarness();
  try {
    const vars = await replay(h, loadFixture('entra.json'));
    const api = client(h);
    const g = await api('GET', `/Groups/${vars.get('groupId')}`);
    assert.equal(g.body.displayName, '1879db59-3bdf-4490-ad68-ab880a269474updatedDisplayName');
    // The remove listed one member: only that one left, the others stayed.
    assert.deepEqual(g.body.members.map((m: { value: string }) => m.value).sort(), [vars.get('user2Id'), vars.get('managerId')].sort());
    const u2 = await api('GET', `/Users/${vars.get('user2Id')}`);
    assert.deepEqual(
      u2.body.emails.map((e: { type: string; value: string }) => [e.type, e.value]).sort(),
      [['home', 'home@example.org'], ['work', 'work@testuser.com']],
    );
    const m = await api('GET', `/Users/${vars.get('managerId')}`);
    assert.equal(m.status, 200);
    // The deleted user is gone from list results as well.
    const found = await api('GET', `/Users?filter=${encodeURIComponent('externalId eq "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef"')}`);
    assert.equal(found.body.totalResults, 0);
    const remaining = await api('GET', '/Users?count=100');
    assert.equal(remaining.body.totalResults, 2);
    assert.ok(remaining.body.Resources.every((r: Record<string, unknown>) => r[ENTERPRISE] === undefined || typeof r[ENTERPRISE] === 'object'));
  } finally {
    await h.close();
  }
});

test('Entra ID: a filtered Replace matching nothing is 400 noTarget; the Add Entra sends for a missing value creates it', async () => {
  // Issue 11, item 8: the Replace used to answer 200 and create the email. Microsoft documents Replace for a value
  // the user has (its tutorial's "Update User [Multi-valued properties]") and Add for one it lacks.
  const h = await startHarness();
  try {
    const api = client(h);
    const created = await api('POST', '/Users', { body: { schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'], userName: 'no-work-email', emails: [{ type: 'home', value: 'h@example.org' }] } });
    const id = created.body.id;
    const patchOp = (op: string) => ({ schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'], Operations: [{ op, path: 'emails[type eq "work"].value', value: 'w@example.org' }] });
    const replaced = await api('PATCH', `/Users/${id}`, { body: patchOp('Replace') });
    assert.equal(replaced.status, 400);
    assert.equal(replaced.body.scimType, 'noTarget');
    const unchanged = await api('GET', `/Users/${id}`);
    assert.deepEqual(unchanged.body.emails, [{ type: 'home', value: 'h@example.org' }]);
    assert.equal(unchanged.body.meta.version, created.body.meta.version);
    const added = await api('PATCH', `/Users/${id}`, { body: patchOp('Add') });
    assert.equal(added.status, 200);
    assert.deepEqual(added.body.emails, [{ type: 'home', value: 'h@example.org' }, { type: 'work', value: 'w@example.org' }]);
    // Now that it exists, Entra's Replace changes it.
    const again = await api('PATCH', `/Users/${id}`, { body: { ...patchOp('Replace'), Operations: [{ op: 'Replace', path: 'emails[type eq "work"].value', value: 'new@example.org' }] } });
    assert.equal(again.status, 200);
    assert.deepEqual(again.body.emails[1], { type: 'work', value: 'new@example.org' });
  } finally {
    await h.close();
  }
});
