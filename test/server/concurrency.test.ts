/** Races over real HTTP: uniqueness and If-Match hold when many requests arrive at once. */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { backends, client, patchOp, startHarness, user } from './helpers.ts';
import type { Harness } from './helpers.ts';

for (const backend of backends()) {
  describe(`concurrent writes on ${backend}`, () => {
    let h: Harness;
    before(async () => {
      h = await startHarness({ backend });
    });
    after(async () => h.close());

    test('50 concurrent POSTs of one userName: one 201 and 49 409s', async () => {
      const api = client(h);
      const results = await Promise.all(Array.from({ length: 50 }, () => api('POST', '/Users', { body: user('racer@example.com') })));
      const statuses = results.map((r) => r.status).sort();
      assert.equal(statuses.filter((s) => s === 201).length, 1, statuses.join(','));
      assert.equal(statuses.filter((s) => s === 409).length, 49, statuses.join(','));
      for (const r of results.filter((x) => x.status === 409)) assert.equal(r.body.scimType, 'uniqueness');
      const listed = await api('GET', `/Users?filter=${encodeURIComponent('userName eq "racer@example.com"')}`);
      assert.equal(listed.body.totalResults, 1);
    });

    test('concurrent writes with the same If-Match: exactly one succeeds, the rest get 412', async () => {
      const api = client(h);
      const created = await api('POST', '/Users', { body: user('contended', { title: 't0' }) });
      const etag = created.headers.get('etag')!;
      const id = created.body.id;
      const writes = Array.from({ length: 20 }, (_, i) =>
        i % 2 === 0
          ? api('PATCH', `/Users/${id}`, { body: patchOp({ op: 'replace', path: 'title', value: `patch-${i}` }), headers: { 'if-match': etag } })
          : api('PUT', `/Users/${id}`, { body: user('contended', { title: `put-${i}` }), headers: { 'if-match': etag } }),
      );
      const results = await Promise.all(writes);
      const ok = results.filter((r) => r.status === 200);
      const failed = results.filter((r) => r.status === 412);
      assert.equal(ok.length, 1, results.map((r) => r.status).join(','));
      assert.equal(failed.length, 19);
      const final = await api('GET', `/Users/${id}`);
      assert.equal(final.body.title, ok[0].body.title, 'the stored resource is the one write that succeeded');
      assert.equal(final.headers.get('etag'), ok[0].headers.get('etag'));
    });

    test('concurrent writes without If-Match all succeed and the version counts every one', async () => {
      const api = client(h);
      const created = await api('POST', '/Users', { body: user('unconditional') });
      const id = created.body.id;
      const start = Number(/"(\d+)"/.exec(created.headers.get('etag')!)![1]);
      const results = await Promise.all(
        Array.from({ length: 10 }, (_, i) => api('PUT', `/Users/${id}`, { body: user('unconditional', { title: `v${i}` }) })),
      );
      assert.deepEqual(results.map((r) => r.status), Array(10).fill(200));
      const final = await api('GET', `/Users/${id}`);
      assert.equal(final.headers.get('etag'), `W/"${start + 10}"`);
    });
  });
}
