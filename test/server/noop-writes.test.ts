/**
 * A PUT, PATCH or Bulk write whose result equals the stored resource changes nothing (issue 11, item 9): the answer
 * is the one a real change gets (200 with the resource, 204 for a Group PATCH), with the same ETag and
 * meta.lastModified, so conditional GETs keep matching and incremental syncs see nothing new.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { backends, client, group, patchOp, startHarness, user } from './helpers.ts';
import type { Harness } from './helpers.ts';

const BULK_REQUEST = 'urn:ietf:params:scim:api:messages:2.0:BulkRequest';

for (const backend of backends()) {
  describe(`writes that change nothing (${backend})`, () => {
    let h: Harness;
    let api: ReturnType<typeof client>;
    before(async () => {
      h = await startHarness({ backend });
      api = client(h);
    });
    after(async () => h.close());

    test('PATCH replacing active true with true, and a PUT of the same User, keep the ETag and lastModified', async () => {
      const created = await api('POST', '/Users', { body: user('noop-user', { active: true, emails: [{ value: 'n@x.test', type: 'work' }] }) });
      assert.equal(created.status, 201);
      const tag = created.headers.get('etag');
      const id = created.body.id;
      await new Promise((resolve) => setTimeout(resolve, 5));

      const patched = await api('PATCH', `/Users/${id}`, { body: patchOp({ op: 'replace', path: 'active', value: true }) });
      assert.equal(patched.status, 200);
      assert.equal(patched.headers.get('etag'), tag);
      assert.equal(patched.body.meta.version, tag);
      assert.equal(patched.body.meta.lastModified, created.body.meta.lastModified);
      assert.equal(patched.body.active, true);

      const put = await api('PUT', `/Users/${id}`, { body: user('noop-user', { emails: [{ type: 'work', value: 'n@x.test' }], active: true }), headers: { 'if-match': tag! } });
      assert.equal(put.status, 200);
      assert.equal(put.headers.get('etag'), tag);
      assert.equal(put.body.meta.lastModified, created.body.meta.lastModified);

      const conditional = await api('GET', `/Users/${id}`, { headers: { 'if-none-match': tag! } });
      assert.equal(conditional.status, 304, 'a conditional GET still matches');

      const changed = await api('PATCH', `/Users/${id}`, { body: patchOp({ op: 'replace', path: 'active', value: false }) });
      assert.notEqual(changed.headers.get('etag'), tag, 'a real change moves the ETag');
      assert.ok(changed.body.meta.lastModified > created.body.meta.lastModified);
    });

    test('a Group PATCH adding a present member answers 204 with the same ETag', async () => {
      const u = await api('POST', '/Users', { body: user('noop-member') });
      const g = await api('POST', '/Groups', { body: group('noop-group', { members: [{ value: u.body.id }] }), headers: {} });
      const tag = (await api('GET', `/Groups/${g.body.id}?excludedAttributes=members`)).headers.get('etag');
      const patched = await api('PATCH', `/Groups/${g.body.id}`, { body: patchOp({ op: 'add', path: 'members', value: [{ value: u.body.id }] }) });
      assert.equal(patched.status, 204);
      assert.equal(patched.headers.get('etag'), tag);
      const read = await api('GET', `/Groups/${g.body.id}`);
      assert.equal(read.body.meta.lastModified, g.body.meta.lastModified);
      assert.deepEqual(read.body.members.map((m: { value: string }) => m.value), [u.body.id]);
    });

    test('a Bulk PATCH that changes nothing reports the same version', async () => {
      const created = await api('POST', '/Users', { body: user('noop-bulk', { title: 'T' }) });
      const bulk = await api('POST', '/Bulk', {
        body: {
          schemas: [BULK_REQUEST],
          Operations: [{ method: 'PATCH', path: `/Users/${created.body.id}`, data: patchOp({ op: 'replace', path: 'title', value: 'T' }) }],
        },
      });
      assert.equal(bulk.status, 200);
      assert.equal(bulk.body.Operations[0].status, '200');
      assert.equal(bulk.body.Operations[0].version, created.headers.get('etag'));
      const read = await api('GET', `/Users/${created.body.id}`);
      assert.equal(read.body.meta.lastModified, created.body.meta.lastModified);
    });
  });
}
